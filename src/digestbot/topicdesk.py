"""The topics desk of the Service: the topic list and each topic's papers in published issues.

``Service`` inherits these methods (``svc.topics()``, ``svc.topic_papers(slug)`` …) as it
inherits the editorial desk, so the web and the bot ask the one service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from digestbot.delivery.ledger import Ledger
from digestbot.models import Paper, Status
from digestbot.topics import Topic, TopicMatcher

if TYPE_CHECKING:
    from digestbot.content.store import Snapshot

__all__ = ["TopicCount", "TopicDesk", "TopicPaper"]


@dataclass(frozen=True, slots=True)
class TopicCount:
    """A topic and how many papers of published issues carry it."""

    topic: Topic
    papers: int


@dataclass(frozen=True, slots=True)
class TopicPaper:
    """A paper of a topic and the (first) published issue that carried it."""

    paper: Paper
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
