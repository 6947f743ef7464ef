"""The editorial desk of the Service: import papers, draft summaries, review and mark ready.

``Service`` inherits these methods (``svc.import_hf``, ``svc.summarize``, ``svc.mark_ready``
…) so every command goes through the one service; the CLI parses arguments, makes one call
and prints the report. The importers and the summarizer only read sources and write paper
files; recording archive issues in the delivery ledger happens here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.content import frontmatter
from digestbot.content.schema import normalize_arxiv_id
from digestbot.content.store import ContentStore
from digestbot.db.engine import upgrade
from digestbot.delivery.ledger import Ledger
from digestbot.errors import DigestbotError, NoArchivePosts, NoTopics
from digestbot.models import Paper, Status
from digestbot.settings import Settings
from digestbot.weeks import Week

if TYPE_CHECKING:  # the importers and the summarizer (httpx) load only when a command runs
    from digestbot.content.tagging import TagReport
    from digestbot.sources.importer import ImportReport
    from digestbot.summarize.summarizer import SummarizeReport

__all__ = ["Draft", "EditorialDesk", "ReadyReport"]

Step = Callable[[str], None]
Begin = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Draft:
    """A paper still waiting for review, and the file to edit."""

    paper: Paper
    path: Path


@dataclass(slots=True)
class ReadyReport:
    """What ``review --ready`` did, one line per id named."""

    lines: list[str] = field(default_factory=list)
    marked: int = 0
    failed: int = 0


def readiness(meta: dict[str, Any]) -> list[str]:
    """What is missing before a paper may be marked ready."""
    missing = []
    if not str(meta.get("title_en") or "").strip():
        missing.append("title_en")
    if not (str(meta.get("summary_zh") or "").strip() or str(meta.get("summary_en") or "").strip()):
        missing.append("a summary (summary_zh or summary_en)")
    return missing


class EditorialDesk:
    """Import, summarize and review: the content commands, as methods of ``Service``."""

    settings: Settings
    store: ContentStore
    engine: AsyncEngine
    ledger: Ledger

    async def import_hf(
        self,
        days: Sequence[dt.date],
        *,
        min_upvotes: int,
        top: int | None,
        report: ImportReport,
        step: Step | None = None,
        begin: Begin | None = None,
    ) -> ImportReport:
        """The papers Hugging Face listed on ``days``, as drafts (existing files refreshed)."""
        from digestbot.sources.hf import import_hf

        if top is not None and top < 1:
            raise DigestbotError("--top must be at least 1")
        await import_hf(
            self.store,
            self.settings,
            days,
            min_upvotes=min_upvotes,
            top=top,
            dry_run=report.dry_run,
            report=report,
            step=step,
            begin=begin,
        )
        return report

    async def import_arxiv(
        self,
        ids: Sequence[str],
        *,
        report: ImportReport,
        step: Step | None = None,
        begin: Begin | None = None,
    ) -> ImportReport:
        """Papers by arXiv id or URL, as drafts."""
        from digestbot.sources.arxiv import import_arxiv

        await import_arxiv(
            self.store,
            self.settings,
            ids,
            dry_run=report.dry_run,
            report=report,
            step=step,
            begin=begin,
        )
        return report

    async def import_markdown(
        self,
        paths: Sequence[Path],
        *,
        report: ImportReport,
        step: Step | None = None,
        begin: Begin | None = None,
    ) -> ImportReport:
        """An archive of weekly posts: its papers as ready files, each post a published issue.

        Raises NoArchivePosts when not one post could be read (``report.problems`` says why).
        """
        from digestbot.errors import ImportFailed
        from digestbot.sources.arxiv_titles import find_by_titles
        from digestbot.sources.importer import plural
        from digestbot.sources.markdown import (
            archive_issues,
            import_archive,
            title_key,
            unlinked_titles,
        )
        from digestbot.summarize.glossary import load_glossary

        glossary = load_glossary(self.settings.content_dir)
        found_ids: dict[str, str] | None = {}
        titles = unlinked_titles(paths)
        if titles:
            try:
                found_ids = await find_by_titles(self.settings, titles, title_key)
            except ImportFailed as exc:
                found_ids = None
                report.notes.append(
                    f"could not look up {plural(len(titles), 'title')} on arXiv ({exc}); "
                    "reported above as not an arXiv link"
                )
        posts = import_archive(
            self.store,
            paths,
            dry_run=report.dry_run,
            report=report,
            step=step,
            begin=begin,
            found=found_ids,
            glossary=glossary,
            today=dt.datetime.now(self.settings.tz).date(),
        )
        if not posts and report.problems:
            raise NoArchivePosts(
                "no weekly post could be read: give files named <year>/MMDD-MMDD.md or their folder"
            )
        found = archive_issues(posts, tz=self.settings.tz, report=report)
        papers = len(dict.fromkeys(r.arxiv_id for post in posts for r in post.records))
        totals = [plural(report.files, "file"), plural(papers, "paper")]
        if report.dry_run:
            for item in found:
                report.actions.append(
                    f"would record issue {item.issue.week} {item.issue.title_zh} "
                    f"({plural(item.papers, 'paper')}) unless that week is already recorded"
                )
            issues = (
                f"{plural(len(found), 'issue')} (would be recorded unless already in the archive)"
            )
            report.totals = [*totals, issues]
            return report
        await upgrade(self.engine)
        new = known = 0
        for item in found:
            if await self.ledger.record_published_issue(
                item.issue, item.published_at, source="archive"
            ):
                new += 1
            else:
                known += 1
        issues = f"{plural(new + known, 'issue')} ({new} recorded, {known} already in the archive)"
        report.totals = [*totals, issues]
        return report

    async def summarize(
        self,
        *,
        week: Week | None,
        ids: Sequence[str] | None,
        report: SummarizeReport,
        all_weeks: bool = False,
        begin: Begin | None = None,
        step: Step | None = None,
    ) -> SummarizeReport:
        """Draft the missing titles and summaries of ``ids`` (else the drafts of ``week``);
        for a ``week`` or ``all_weeks``, also translate the ready papers with a summary in
        one language only into the other. Each paper is written as soon as it is done, so
        an interrupted run resumes where it stopped.

        ``begin`` is called with the number of papers chosen before any is summarized.
        """
        from digestbot.summarize.glossary import load_glossary
        from digestbot.summarize.summarizer import choose_tasks, summarize

        glossary = load_glossary(self.settings.content_dir)
        snap = self.store.load()
        tasks = choose_tasks(snap, week=week, ids=ids, report=report, all_weeks=all_weeks)
        if begin is not None:
            begin(len(tasks))
        await summarize(
            self.store,
            self.settings,
            tasks,
            glossary,
            dry_run=report.dry_run,
            report=report,
            step=step,
        )
        return report

    async def tag(self, *, week: Week | None, every: bool, report: TagReport) -> TagReport:
        """Set the tags of the papers of ``week`` (``every``: all papers; neither: the papers
        without tags) from ``topics.yaml``; an editor's tags stay.

        Raises NoTopics when the store has no valid topic list.
        """
        from digestbot.content.tagging import tag_papers
        from digestbot.topics import TopicMatcher

        snap = self.store.load()
        if not snap.topics:
            raise NoTopics(
                f"no topics in {self.store.topics_path}: write one '- slug: …' entry per topic "
                "(see the shipped content/topics.yaml) and run digestbot check"
            )
        heads = sorted(snap.papers.values(), key=lambda p: (p.date, p.arxiv_id))
        if week is not None:
            heads = [p for p in heads if p.date in week]
        elif not every:
            heads = [p for p in heads if not p.tags]
        # the matcher reads the summaries: papers held as heads are read whole
        papers = snap.wholes(p.arxiv_id for p in heads)
        del heads
        matcher = TopicMatcher(snap.topics)
        picked: dict[str, tuple[str, ...]] = {}
        unmatched = [p for p in papers if not p.tags and not matcher.tags_for(p)]
        if unmatched and self.settings.llm.enabled and not report.dry_run:
            from digestbot.summarize.topic_picker import pick_topics

            picked = await pick_topics(self.settings, snap.topics, unmatched)
        elif unmatched and self.settings.llm.enabled:
            report.notes.append(
                f"dry run: the LLM was not asked about the {len(unmatched)} untagged papers"
            )
        return tag_papers(
            self.store,
            snap.paths,
            papers,
            matcher,
            dry_run=report.dry_run,
            report=report,
            picked=picked,
        )

    def drafts(self, week: Week | None) -> list[Draft]:
        """The drafts (of ``week``), oldest first."""
        snap = self.store.load()
        heads = sorted(snap.papers.values(), key=lambda p: (p.date, p.arxiv_id))
        return [
            Draft(p, snap.paths[p.arxiv_id])
            for p in snap.wholes(
                h.arxiv_id
                for h in heads
                if h.status is Status.DRAFT and (week is None or h.date in week)
            )
        ]

    def mark_ready(self, raw_ids: Sequence[str]) -> ReadyReport:
        """Mark reviewed papers ready; a paper missing a title or a summary is refused."""
        out = ReadyReport()
        for raw in raw_ids:
            try:
                pid = normalize_arxiv_id(raw)
            except ValueError as exc:
                out.lines.append(f"{raw}: {exc}")
                out.failed += 1
                continue
            path = self.store.find_path(pid)
            if path is None:
                out.lines.append(f"{pid}: no such paper in the content store")
                out.failed += 1
                continue
            try:
                meta, body = self.store.read_meta(path)
            except (OSError, UnicodeDecodeError, frontmatter.FrontMatterError) as exc:
                line = exc.line if isinstance(exc, frontmatter.FrontMatterError) else 1
                out.lines.append(f"{path}:{line}: cannot read: {exc}")
                out.failed += 1
                continue
            missing = readiness(meta)
            if missing:
                out.lines.append(
                    f"{pid}: not marked ready: missing {' and '.join(missing)} (edit {path})"
                )
                out.failed += 1
                continue
            if meta.get("status") == Status.READY.value:
                out.lines.append(f"{pid}: already ready")
                continue
            meta["status"] = Status.READY.value
            self.store.write_meta(path, meta, body)
            out.marked += 1
            out.lines.append(f"{pid}: marked ready")
        out.lines.append(f"marked {out.marked} ready, {out.failed} not")
        return out
