"""The ``import``, ``summarize`` and ``review`` commands: parse, one service call, print.

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
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from digestbot.errors import DigestbotError, NoArchivePosts
from digestbot.service import Service
from digestbot.settings import Settings
from digestbot.weeks import Week

__all__ = ["Progress", "cmd_import", "cmd_review", "cmd_summarize", "cmd_tag"]

T = TypeVar("T")

NO_LLM = (
    "no LLM configured: set DIGESTBOT_LLM__BASE_URL (an OpenAI-compatible endpoint, "
    "e.g. https://api.openai.com/v1), DIGESTBOT_LLM__API_KEY and "
    "DIGESTBOT_LLM__MODEL to draft Chinese titles and summaries; "
    "filling summary_en from abstracts only"
)


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


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


def _with_content_service(settings: Settings, work: Callable[[Service], Awaitable[T]]) -> T:
    from digestbot.wiring import build_content_service

    async def main() -> T:
        svc = build_content_service(settings)
        try:
            return await work(svc)
        finally:
            await svc.close()

    return asyncio.run(main())


# -- import ----------------------------------------------------------------------------------


def _hf_days(args: argparse.Namespace) -> list[dt.date]:
    if args.date:
        try:
            return [dt.date.fromisoformat(args.date.strip())]
        except ValueError:
            raise DigestbotError(f"--date {args.date!r}: give a day as YYYY-MM-DD") from None
    week = Week.parse(args.week)
    return [week.monday + dt.timedelta(days=i) for i in range(7)]


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot import hf|arxiv|markdown``."""
    from digestbot.sources.importer import ImportReport

    report = ImportReport(dry_run=bool(args.dry_run))

    async def work(svc: Service) -> None:
        if args.source == "hf":
            if args.top is not None and args.top < 1:
                raise DigestbotError("--top must be at least 1")
            days = _hf_days(args)
            with Progress("Hugging Face") as bar:
                await svc.import_hf(
                    days,
                    min_upvotes=args.min_upvotes,
                    top=args.top,
                    report=report,
                    step=bar.step,
                    begin=bar.begin,
                )
        elif args.source == "arxiv":
            with Progress("arXiv") as bar:
                await svc.import_arxiv(args.ids, report=report, step=bar.step, begin=bar.begin)
        elif args.source == "markdown":
            paths = [Path(p) for p in args.paths]
            try:
                with Progress("archive") as bar:
                    await svc.import_markdown(paths, report=report, step=bar.step, begin=bar.begin)
            except NoArchivePosts:
                for problem in report.problems:
                    _out(str(problem))
                raise
        else:  # pragma: no cover - argparse restricts the choices
            raise DigestbotError(f"unknown source {args.source!r}: use hf, arxiv or markdown")

    _with_content_service(settings, work)
    for line in report.lines():
        _out(line)
    return 1 if report.failed_ids else 0


# -- summarize -------------------------------------------------------------------------------


def cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot summarize [--week W | --ids ID… | --all] [--dry-run]``."""
    from digestbot.summarize.summarizer import SummarizeReport

    report = SummarizeReport(dry_run=bool(args.dry_run), llm=settings.llm.enabled)
    week = Week.parse(args.week) if args.week else None
    bar = Progress("summarizing")

    def begin(total: int) -> None:
        if not settings.llm.enabled:
            _out(NO_LLM)
        bar.__enter__()
        bar.begin(total)

    async def work(svc: Service) -> None:
        try:
            await svc.summarize(
                week=week,
                ids=args.ids,
                all_weeks=bool(args.all_weeks),
                report=report,
                begin=begin,
                step=bar.step if bar.tty else None,
            )
        finally:
            bar.__exit__(None, None, None)

    _with_content_service(settings, work)
    for line in report.lines(settings.llm.model if settings.llm.enabled else ""):
        _out(line)
    return 1 if args.ids and report.problems else 0


# -- tag -------------------------------------------------------------------------------------


def cmd_tag(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot tag [--week W | --all] [--dry-run]``: prints the untagged and the coverage."""
    from digestbot.content.tagging import TagReport

    report = TagReport(dry_run=bool(args.dry_run))
    week = Week.parse(args.week) if args.week else None

    async def work(svc: Service) -> None:
        await svc.tag(week=week, every=bool(args.all), report=report)

    _with_content_service(settings, work)
    for line in report.lines():
        _out(line)
    return 1 if report.problems else 0


# -- review ----------------------------------------------------------------------------------


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot review [--week W]`` lists drafts; ``--ready ID…`` marks papers ready."""
    week = Week.parse(args.week) if args.week else None

    async def work(svc: Service) -> int:
        if args.ready:
            ready = svc.mark_ready(args.ready)
            for line in ready.lines:
                _out(line)
            return 1 if ready.failed else 0
        drafts = svc.drafts(week)
        for d in drafts:
            p = d.paper
            have = " ".join(
                f"{name}{'✓' if getattr(p, name).strip() else '✗'}"
                for name in ("title_zh", "summary_zh", "summary_en")
            )
            _out(f"{p.arxiv_id}  {p.date}  {p.title_en[:70]}  [{have}]  {d.path}")
        where = f" in {week}" if week else ""
        _out(
            f"{len(drafts)} draft{'s' if len(drafts) != 1 else ''}{where}; mark reviewed ones "
            "ready with: digestbot review --ready ID..."
        )
        return 0

    return _with_content_service(settings, work)
