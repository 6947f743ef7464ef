"""Who gets a copy of an issue, as a stream: the memory of a publish does not grow with the list.

An :class:`Audience` is a few fixed destinations (Telegram channels, preview copies, the
archive, followers' personal messages) and the active subscribers of each channel, read
from the database in batches while :meth:`Ledger.plan <digestbot.delivery.ledger.Ledger.plan>`
writes them. What followers' email copies carry is decided as each subscriber streams by
(:class:`EmailPicks`); those maps are as large as the list of followers, not of subscribers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from digestbot.delivery.senders import MINE_FIRST
from digestbot.models import Channel, Destination

__all__ = ["Audience", "EmailPicks"]

Stream = Callable[[], AsyncIterator[Destination]]


@dataclass(slots=True)
class EmailPicks:
    """What an email subscriber who follows topics gets: ``found`` maps a follower to the
    issue's papers of their topics; an "only my topics" subscriber (``only_mine``) gets
    just those, or no mail at all when none matches; another follower gets the whole
    issue (``everything``) with their papers first."""

    found: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    only_mine: frozenset[str] = frozenset()
    everything: tuple[str, ...] = ()

    def pick(self, address: str) -> tuple[bool, tuple[str, ...] | None]:
        """(whether ``address`` gets a mail, the papers it carries; None: the whole issue)."""
        mine = self.found.get(address)
        if address in self.only_mine:
            return (mine is not None), mine
        if mine is None:
            return True, None
        rest = tuple(i for i in self.everything if i not in mine)
        return True, ((*mine, MINE_FIRST, *rest) if rest else None)


@dataclass(slots=True)
class Audience:
    """The destinations of one publish, each with its transport.

    Iterating yields ``fixed`` first, then each subscriber stream; email subscribers pass
    through ``email`` (followers' picks are recorded in :attr:`picks` as they stream by,
    and an "only my topics" follower whom nothing matches is left out). ``picks`` is
    complete once the iteration ends, which is when the ledger stores it, in the plan's
    own transaction. :attr:`count` is how many destinations the last iteration yielded.
    """

    fixed: list[tuple[Destination, str]] = field(default_factory=list)
    streams: list[tuple[Stream, str]] = field(default_factory=list)
    tail: list[tuple[Destination, str]] = field(default_factory=list)
    email: EmailPicks = field(default_factory=EmailPicks)
    picks: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    count: int = 0

    async def __aiter__(self) -> AsyncIterator[tuple[Destination, str]]:
        self.count = 0
        for item in self.fixed:
            self.count += 1
            yield item
        for stream, transport in self.streams:
            async for dest in stream():
                if dest.channel is Channel.EMAIL:
                    wanted, ids = self.email.pick(dest.address)
                    if not wanted:
                        continue
                    if ids is not None:
                        self.picks[(Channel.EMAIL.value, dest.address)] = ids
                self.count += 1
                yield dest, transport
        for item in self.tail:
            self.count += 1
            yield item

    async def collect(self) -> list[tuple[Destination, str]]:
        """Every destination in a list: for a dry run, which prints them all."""
        return [item async for item in self]
