"""The ``import``, ``summarize`` and ``review`` commands: parse arguments, call, print a report.

Exit codes: 0 when the run did its work (problems with single items of a Markdown archive or
a Hugging Face listing are reported and the rest is imported); 1 on a fatal error (source
unreachable, bad arguments) or when an id named on the command line could not be imported
or marked ready. Fatal errors go to stderr as ``error: …``; everything else to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from digestbot.content import frontmatter
from digestbot.content.importer import ImportReport, plural
from digestbot.content.schema import normalize_arxiv_id
from digestbot.content.store import ContentStore
from digestbot.errors import DigestbotError, ImportFailed
from digestbot.models import Status
from digestbot.settings import Settings
from digestbot.weeks import Week

__all__ = ["Progress", "run_import", "run_review", "run_summarize"]


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


class Progress:
    """A rich progress bar when stdout is a terminal; plain lines otherwise."""

    def __init__(self, label: str, *, enabled: bool | None = None) -> None:
        self.label = label
        self.tty = sys.stdout.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def begin(self, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def step(self, message: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"{self.label}: {message}")
        else:
            _out(message)


@contextmanager
def _fatal() -> Iterator[list[int]]:
    """Turn a DigestbotError into ``error: …`` on stderr and exit code 1."""
    code = [0]
    try:
        yield code
    except DigestbotError as exc:
        _err(f"error: {exc}")
        code[0] = 1


# -- import ----------------------------------------------------------------------------------


def _hf_days(args: argparse.Namespace) -> list[dt.date]:
    if args.date:
        try:
            return [dt.date.fromisoformat(args.date.strip())]
        except ValueError:
            raise DigestbotError(f"--date {args.date!r}: give a day as YYYY-MM-DD") from None
    week = Week.parse(args.week)
    return [week.monday + dt.timedelta(days=i) for i in range(7)]


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot import hf|arxiv|markdown``."""
    store = ContentStore(settings.content_dir)
    report = ImportReport(dry_run=bool(args.dry_run))
    with _fatal() as code:
        if args.source == "hf":
            from digestbot.content.hf import import_hf

            if args.top is not None and args.top < 1:
                raise DigestbotError("--top must be at least 1")
            days = _hf_days(args)
            with Progress("Hugging Face") as bar:
                asyncio.run(
                    import_hf(
                        store,
                        settings,
                        days,
                        min_upvotes=args.min_upvotes,
                        top=args.top,
                        dry_run=report.dry_run,
                        report=report,
                        step=bar.step,
                        begin=bar.begin,
                    )
                )
        elif args.source == "arxiv":
            from digestbot.content.arxiv import import_arxiv

            with Progress("arXiv") as bar:
                asyncio.run(
                    import_arxiv(
                        store,
                        settings,
                        args.ids,
                        dry_run=report.dry_run,
                        report=report,
                        step=bar.step,
                        begin=bar.begin,
                    )
                )
        elif args.source == "markdown":
            asyncio.run(_import_markdown(store, settings, args.paths, report))
        else:  # pragma: no cover - argparse restricts the choices
            raise DigestbotError(f"unknown source {args.source!r}: use hf, arxiv or markdown")
        for line in report.lines():
            _out(line)
        if report.failed_ids:
            code[0] = 1
    return code[0]


async def _import_markdown(
    store: ContentStore, settings: Settings, raw_paths: list[str], report: ImportReport
) -> None:
    from digestbot.content.arxiv_titles import find_by_titles
    from digestbot.content.glossary import load_glossary
    from digestbot.content.markdown import import_archive, record_issues, title_key, unlinked_titles

    paths = [Path(p) for p in raw_paths]
    glossary = load_glossary(settings.content_dir)
    found: dict[str, str] | None = {}
    titles = unlinked_titles(paths)
    if titles:
        try:
            found = await find_by_titles(settings, titles, title_key)
        except ImportFailed as exc:
            found = None
            report.notes.append(
                f"could not look up {plural(len(titles), 'title')} on arXiv ({exc}); "
                "reported above as not an arXiv link"
            )
    with Progress("archive") as bar:
        posts = import_archive(
            store,
            paths,
            dry_run=report.dry_run,
            report=report,
            step=bar.step,
            begin=bar.begin,
            found=found,
            glossary=glossary,
            today=dt.datetime.now(settings.tz).date(),
        )
    if not posts and report.problems:
        for problem in report.problems:
            _out(str(problem))
        raise DigestbotError(
            "no weekly post could be read: give files named <year>/MMDD-MMDD.md or their folder"
        )
    if report.dry_run:
        new, known = await record_issues(None, posts, tz=settings.tz, report=report, dry_run=True)
        issues = f"{plural(new, 'issue')} (would be recorded unless already in the archive)"
    else:
        from digestbot.db.engine import make_engine, upgrade

        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine)
            new, known = await record_issues(
                engine, posts, tz=settings.tz, report=report, dry_run=False
            )
        finally:
            await engine.dispose()
        issues = f"{plural(new + known, 'issue')} ({new} recorded, {known} already in the archive)"
    papers = len(dict.fromkeys(r.arxiv_id for post in posts for r in post.records))
    report.totals = [plural(report.files, "file"), plural(papers, "paper"), issues]


# -- summarize -------------------------------------------------------------------------------


def run_summarize(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot summarize [--week W] [--ids ID…] [--dry-run]``."""
    from digestbot.content.glossary import load_glossary
    from digestbot.content.summarizer import SummarizeReport, choose_tasks, summarize

    store = ContentStore(settings.content_dir)
    report = SummarizeReport(dry_run=bool(args.dry_run), llm=settings.llm.enabled)
    with _fatal() as code:
        week = Week.parse(args.week) if args.week else None
        glossary = load_glossary(settings.content_dir)
        snap = store.load()
        tasks = choose_tasks(snap, week=week, ids=args.ids, report=report)
        if not settings.llm.enabled:
            _out(
                "no LLM configured: set DIGESTBOT_LLM__BASE_URL (an OpenAI-compatible endpoint, "
                "e.g. https://api.openai.com/v1), DIGESTBOT_LLM__API_KEY and "
                "DIGESTBOT_LLM__MODEL to draft Chinese titles and summaries; "
                "filling summary_en from abstracts only"
            )
        with Progress("summarizing") as bar:
            bar.begin(len(tasks))
            asyncio.run(
                summarize(
                    store,
                    settings,
                    tasks,
                    glossary,
                    dry_run=report.dry_run,
                    report=report,
                    step=bar.step if bar.tty else None,
                )
            )
        for line in report.lines(settings.llm.model if settings.llm.enabled else ""):
            _out(line)
        if args.ids and report.problems:
            code[0] = 1
    return code[0]


# -- review ----------------------------------------------------------------------------------


def _readiness(meta: dict[str, Any]) -> list[str]:
    """What is missing before a paper may be marked ready."""
    missing = []
    if not str(meta.get("title_en") or "").strip():
        missing.append("title_en")
    if not (str(meta.get("summary_zh") or "").strip() or str(meta.get("summary_en") or "").strip()):
        missing.append("a summary (summary_zh or summary_en)")
    return missing


def run_review(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot review [--week W]`` lists drafts; ``--ready ID…`` marks papers ready."""
    store = ContentStore(settings.content_dir)
    with _fatal() as code:
        week = Week.parse(args.week) if args.week else None
        if args.ready:
            code[0] = _mark_ready(store, args.ready)
            return code[0]
        snap = store.load()
        drafts = [
            p
            for p in sorted(snap.papers.values(), key=lambda p: (p.date, p.arxiv_id))
            if p.status is Status.DRAFT and (week is None or p.date in week)
        ]
        for p in drafts:
            have = " ".join(
                f"{name}{'✓' if getattr(p, name).strip() else '✗'}"
                for name in ("title_zh", "summary_zh", "summary_en")
            )
            _out(f"{p.arxiv_id}  {p.date}  {p.title_en[:70]}  [{have}]  {snap.paths[p.arxiv_id]}")
        where = f" in {week}" if week else ""
        _out(
            f"{len(drafts)} draft{'s' if len(drafts) != 1 else ''}{where}; mark reviewed ones "
            "ready with: digestbot review --ready ID..."
        )
    return code[0]


def _mark_ready(store: ContentStore, raw_ids: list[str]) -> int:
    failed = 0
    marked = 0
    for raw in raw_ids:
        try:
            pid = normalize_arxiv_id(raw)
        except ValueError as exc:
            _out(f"{raw}: {exc}")
            failed += 1
            continue
        path = store.find_path(pid)
        if path is None:
            _out(f"{pid}: no such paper in the content store")
            failed += 1
            continue
        try:
            meta, body = store.read_meta(path)
        except (OSError, UnicodeDecodeError, frontmatter.FrontMatterError) as exc:
            line = exc.line if isinstance(exc, frontmatter.FrontMatterError) else 1
            _out(f"{path}:{line}: cannot read: {exc}")
            failed += 1
            continue
        missing = _readiness(meta)
        if missing:
            _out(f"{pid}: not marked ready: missing {' and '.join(missing)} (edit {path})")
            failed += 1
            continue
        if meta.get("status") == Status.READY.value:
            _out(f"{pid}: already ready")
            continue
        meta["status"] = Status.READY.value
        store.write_meta(path, meta, body)
        marked += 1
        _out(f"{pid}: marked ready")
    _out(f"marked {marked} ready, {failed} not")
    return 1 if failed else 0
