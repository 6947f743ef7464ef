"""Sliding windows of send permits: at most N messages in any W seconds, each message
counted from its grant until W (and a margin) after its send completed.

The rate limiter (:mod:`digestbot.delivery.ratelimit`) keeps one window for the bot and
one per chat; see there for why a message counts until after its send completed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

__all__ = ["ASSUME_DONE_AFTER", "MARGIN", "Permit", "SlidingWindow", "window_of"]

MARGIN = 0.005
"""Seconds added to every window: our clock and the server's read times a little apart."""
ASSUME_DONE_AFTER = 60.0
"""A permit never reported done (a caller that forgot) counts as done this long after its
grant, so it can't hold its place forever; sends time out well before that."""
_CANCELLED = -math.inf


def window_of(rate: float, per: float = 1.0) -> tuple[int, float]:
    """``rate`` messages per ``per`` seconds as (limit, window): whole messages only."""
    if rate <= 0:
        raise ValueError("rate limits must be positive")
    if rate >= 1:
        return math.floor(rate), per
    return 1, per / rate


class Permit:
    """One message's place in its scopes' windows, from its grant until it is done."""

    __slots__ = ("_on_done", "finished", "granted")

    def __init__(self, granted: float, on_done: Callable[[Permit], None]) -> None:
        self.granted = granted
        self.finished: float | None = None
        self._on_done = on_done

    def done(self) -> None:
        """The send completed (answered, failed or timed out): its window runs from now."""
        if self.finished is None:
            self._on_done(self)

    def cancel(self) -> None:
        """Nothing was sent after all: give the place back at once."""
        if self.finished is None:
            self.finished = _CANCELLED
            self._on_done(self)

    def ended(self, now: float) -> float | None:
        """When the send completed, as far as the windows are concerned; None: in flight."""
        if self.finished is not None:
            return self.finished
        if now >= self.granted + ASSUME_DONE_AFTER:
            return self.granted + ASSUME_DONE_AFTER
        return None


class SlidingWindow:
    """At most ``limit`` messages the server may count within any ``window`` seconds.

    :meth:`wait` says how long a new message must wait: permits in flight count, and a
    done one counts until ``window + margin`` after it was done. ``spacing`` also paces
    grants that far apart on average, ``catch_up`` of them sooner after a late one (so
    one slow answer doesn't delay every later message); the window alone is the limit.
    """

    __slots__ = (
        "catch_up",
        "limit",
        "margin",
        "next_grant",
        "paused_until",
        "permits",
        "spacing",
        "window",
    )

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        spacing: float = 0.0,
        catch_up: int = 2,
        margin: float = MARGIN,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.spacing = spacing
        self.margin = margin
        self.permits: deque[Permit] = deque()
        self.paused_until = -math.inf
        self.catch_up = catch_up
        self.next_grant = -math.inf
        """When the pace next allows a grant without catching up."""

    def _prune(self, now: float) -> None:
        horizon = now - self.window - self.margin
        if any((end := p.ended(now)) is not None and end <= horizon for p in self.permits):
            self.permits = deque(
                p for p in self.permits if (end := p.ended(now)) is None or end > horizon
            )

    def wait(self, now: float) -> tuple[float, bool]:
        """(seconds before a message may go, whether a send completing may free it sooner).

        ``(0.0, False)``: it may go now.
        """
        self._prune(now)
        paced = self.next_grant - self.catch_up * self.spacing
        floor = max(self.paused_until - now, paced - now, 0.0)
        if len(self.permits) < self.limit:
            return floor, False
        # full: the first permit whose window ends frees a place
        span = self.window + self.margin
        ends = [end for p in self.permits if (end := p.ended(now)) is not None]
        in_flight = len(ends) < len(self.permits)
        if ends:
            free_at = min(ends) + span
        else:
            free_at = min(p.granted for p in self.permits) + ASSUME_DONE_AFTER + span
        return max(free_at - now, floor), in_flight

    def add(self, permit: Permit) -> None:
        self.permits.append(permit)
        if self.spacing:
            self.next_grant = max(self.next_grant, permit.granted) + self.spacing

    def pause(self, now: float, seconds: float) -> None:
        """Nothing goes before ``now + seconds``."""
        self.paused_until = max(self.paused_until, now + max(seconds, 0.0))

    def paused(self, now: float) -> bool:
        return self.paused_until > now

    def idle(self, now: float) -> bool:
        """Nothing counts and no pause: forgetting this window changes nothing."""
        self._prune(now)
        return not self.permits and not self.paused(now)
