"""The topics desk of the Service: topics, their papers in published issues, and follows.

``Service`` inherits these methods (``svc.topics()``, ``svc.topic_papers(slug)`` …) as it
inherits the editorial desk, so the web and the bot ask the one service.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.audience import Audience, EmailPicks
from digestbot.db.follows import KEYWORDS, MODE, ONLY_MY_TOPICS, TOPIC, Follow, Follows
from digestbot.db.tables import bot_users
from digestbot.delivery.ledger import Ledger
from digestbot.errors import FollowError
from digestbot.models import Channel, Destination, Issue, Language, PaperHead, Status
from digestbot.topics import Topic, TopicMatcher, matching_papers, normalize

if TYPE_CHECKING:
    from digestbot.content.store import Snapshot

__all__ = ["FollowDesk", "Followed", "TopicCount", "TopicDesk", "TopicPaper"]

MAX_FOLLOW_CHARS = 100


@dataclass(frozen=True, slots=True)
class TopicCount:
    """A topic and how many papers of published issues carry it."""

    topic: Topic
    papers: int


@dataclass(frozen=True, slots=True)
class TopicPaper:
    """A paper of a topic and the newest published issue that carried it: its head (a page
    or feed that shows the summaries asks ``Service.whole`` for the whole paper)."""

    paper: PaperHead
    week: str


class TopicDesk:
    """Topics as readers see them: only papers of published issues count."""

    ledger: Ledger

    if TYPE_CHECKING:

        def snapshot(self, *, reload: bool = False) -> Snapshot: ...

    def topics(self) -> tuple[Topic, ...]:
        """The topic list of ``topics.yaml``, in its order."""
        return self.snapshot().topics

    def topic(self, slug: str) -> Topic | None:
        return next((t for t in self.topics() if t.slug == slug), None)

    def find_topic(self, name: str) -> Topic | None:
        """A topic by slug, Chinese or English name (any case)."""
        return TopicMatcher(self.topics()).find(name)

    async def published_papers(self) -> list[TopicPaper]:
        """Every ready paper of a published issue, newest issue first, in issue order."""
        snap = self.snapshot()
        seen: set[str] = set()
        out: list[TopicPaper] = []
        for record in await self.ledger.list_issues():  # newest week first
            for pid in record.paper_ids:
                paper = snap.papers.get(pid)
                if paper is None or paper.status is not Status.READY or pid in seen:
                    continue
                seen.add(pid)
                out.append(TopicPaper(paper, record.week))
        return out

    async def topic_counts(self) -> list[TopicCount]:
        """Every topic with the number of papers of published issues tagged with it."""
        counts: dict[str, int] = {}
        for item in await self.published_papers():
            for tag in item.paper.tags:
                counts[tag] = counts.get(tag, 0) + 1
        return [TopicCount(t, counts.get(t.slug, 0)) for t in self.topics()]

    async def topic_papers(self, slug: str) -> list[TopicPaper]:
        """The papers of published issues tagged ``slug``, newest first."""
        return [item for item in await self.published_papers() if slug in item.paper.tags]


@dataclass(frozen=True, slots=True)
class Followed:
    """What a follow request became: a topic, or a saved keyword search."""

    kind: str
    value: str
    topic: Topic | None
    added: bool


class FollowDesk(TopicDesk):
    """Following topics and keyword searches, and who gets which papers of an issue."""

    engine: AsyncEngine
    telegram_transport: str

    @property
    def follows(self) -> Follows:
        return Follows(self.engine)

    async def follow(
        self, channel: Channel, address: str, text: str, lang: Language = Language.ZH
    ) -> Followed:
        """Follow the topic named ``text`` (slug, Chinese or English name), else save
        ``text`` as a keyword search. ``lang``: what the reader reads (their personal
        messages' language unless they chose one with /lang). Raises FollowError for empty or
        too long input."""
        topic, keywords = self._follow_target(text)
        if topic is not None:
            added = await self.follows.add(channel.value, address, TOPIC, topic.slug, lang.value)
            return Followed(TOPIC, topic.slug, topic, added)
        added = await self.follows.add(channel.value, address, KEYWORDS, keywords, lang.value)
        return Followed(KEYWORDS, keywords, None, added)

    async def unfollow(self, channel: Channel, address: str, text: str) -> int:
        """Stop following the topic or keywords ``text`` (``all``: everything)."""
        if text.strip().lower() in ("all", "全部"):
            return await self.follows.remove(channel.value, address)
        topic, keywords = self._follow_target(text)
        if topic is not None:
            return await self.follows.remove(channel.value, address, TOPIC, topic.slug)
        return await self.follows.remove(channel.value, address, KEYWORDS, keywords)

    async def following(self, channel: Channel, address: str) -> list[Follow]:
        return await self.follows.of(channel.value, address)

    def _follow_target(self, text: str) -> tuple[Topic | None, str]:
        clean = " ".join(text.split())
        if not clean:
            raise FollowError("name a topic (see /topics) or give keywords")
        if len(clean) > MAX_FOLLOW_CHARS:
            raise FollowError(f"keep it under {MAX_FOLLOW_CHARS} characters")
        topic = self.find_topic(clean)
        if topic is not None:
            return topic, ""
        if not normalize(clean):
            raise FollowError("name a topic (see /topics) or give keywords")
        return None, normalize(clean)

    async def personal_picks(
        self, issue: Issue, channel: Channel
    ) -> dict[str, tuple[tuple[str, ...], str]]:
        """Each follower on ``channel`` whose follows match one of ``issue``'s papers → the
        ids of those papers (in issue order) and the language they followed in. Followers
        nothing matches are left out."""
        by_reader: dict[str, tuple[list[str], list[str], list[str]]] = {}
        for f in await self.follows.every(channel.value):
            topics, keywords, langs = by_reader.setdefault(f.address, ([], [], []))
            if f.kind in (TOPIC, KEYWORDS):
                (topics if f.kind == TOPIC else keywords).append(f.value)
            langs.append(f.lang)
        out: dict[str, tuple[tuple[str, ...], str]] = {}
        for address, (topics, keywords, langs) in by_reader.items():
            found = matching_papers(topics, keywords, issue.papers)
            if found:
                out[address] = (tuple(p.arxiv_id for p in found), langs[-1])
        return out

    async def add_followers(
        self, audience: Audience, issue: Issue, channels: frozenset[str]
    ) -> None:
        """Followers' personal copies of ``issue``, planned with it.

        Telegram (when planned): one personal (topics) destination per follower whose
        follows match a paper, in the follower's language, added to ``audience``.
        Email (when planned): an "only my topics" subscriber's copy carries just their
        papers, and one nothing matches gets no mail; another subscriber who follows
        topics gets the whole issue with the papers of their topics first. The audience
        applies this to each email subscriber as the list streams by.
        """
        if Channel.TELEGRAM.value in channels:
            found = await self.personal_picks(issue, Channel.TELEGRAM)
            chosen = await self._chosen_langs(list(found))
            for address, (ids, followed_in) in found.items():
                # a /lang choice comes first, else the language they followed in
                lang = chosen.get(address) or (Language.EN if followed_in == "en" else Language.ZH)
                audience.tail.append(
                    (Destination(Channel.TOPICS, address, lang), self.telegram_transport)
                )
                audience.picks[(Channel.TOPICS.value, address)] = ids
        if Channel.EMAIL.value in channels:
            only_mine = frozenset(
                f.address
                for f in await self.follows.every(Channel.EMAIL.value)
                if (f.kind, f.value) == (MODE, ONLY_MY_TOPICS)
            )
            found = await self.personal_picks(issue, Channel.EMAIL)
            audience.email = EmailPicks(
                {address: ids for address, (ids, _lang) in found.items()},
                only_mine,
                tuple(p.arxiv_id for p in issue.papers),
            )

    async def email_topics(self, address: str) -> tuple[frozenset[str], bool]:
        """What an email subscriber chose on the preferences page: the topics they follow
        (slugs) and whether they get only those papers."""
        mine = await self.follows.of(Channel.EMAIL.value, address)
        slugs = frozenset(f.value for f in mine if f.kind == TOPIC)
        return slugs, any((f.kind, f.value) == (MODE, ONLY_MY_TOPICS) for f in mine)

    async def save_email_topics(
        self, address: str, slugs: frozenset[str], only_mine: bool, lang: Language
    ) -> None:
        """Make an email subscriber's topics exactly ``slugs`` (unknown slugs are ignored)
        and set "only my topics"; keyword follows are left as they are."""
        known = {t.slug for t in self.topics()}
        wanted = slugs & known
        current, _only = await self.email_topics(address)
        for slug in sorted(wanted - current):
            await self.follows.add(Channel.EMAIL.value, address, TOPIC, slug, lang.value)
        for slug in sorted(current - wanted):
            await self.follows.remove(Channel.EMAIL.value, address, TOPIC, slug)
        await self.set_only_my_topics(address, only_mine and bool(wanted))

    async def set_only_my_topics(self, address: str, on: bool) -> None:
        """An email subscriber's choice: only the papers of their topics (``on``), or the
        whole issue."""
        if on:
            await self.follows.add(Channel.EMAIL.value, address, MODE, ONLY_MY_TOPICS)
        else:
            await self.follows.remove(Channel.EMAIL.value, address, MODE, ONLY_MY_TOPICS)

    async def _chosen_langs(self, user_ids: list[str]) -> dict[str, Language]:
        """The /lang choice of each of ``user_ids`` that made one (one query per 500)."""
        out: dict[str, Language] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(user_ids), 500):
                chunk = user_ids[start : start + 500]
                q = select(bot_users.c.user_id, bot_users.c.lang).where(
                    bot_users.c.user_id.in_(chunk)
                )
                out.update({r.user_id: Language(r.lang) for r in await conn.execute(q)})
        return out

    async def export_follows_csv(self) -> str:
        """Every follow as CSV: ``channel,address,kind,value,lang`` (``subscribers export
        --follows``)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["channel", "address", "kind", "value", "lang"])
        for f in await self.follows.every():
            writer.writerow([f.channel, f.address, f.kind, f.value, f.lang])
        return out.getvalue()
