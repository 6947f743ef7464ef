"""The ``digestbot`` command: parse arguments, make one service call, print the result.

The content commands (``import``, ``summarize``, ``review``) live in ``digestbot.cli.content``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from digestbot import __version__, logs
from digestbot.cli.content import cmd_import, cmd_review, cmd_summarize, cmd_tag
from digestbot.errors import DigestbotError
from digestbot.models import Channel, Language
from digestbot.secretkey import with_secret_key
from digestbot.service import Service
from digestbot.settings import Settings, load_settings, redact_url
from digestbot.subscribers import describe, normalize_email, parse_lang

T = TypeVar("T")
Handler = Callable[[argparse.Namespace, Settings], int]


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _with_service(settings: Settings, work: Callable[[Service], Awaitable[T]]) -> T:
    from digestbot.wiring import build_service

    async def main() -> T:
        async with build_service(settings) as svc:
            return await work(svc)

    return asyncio.run(main())


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM / SIGINT set ``stop`` instead of killing the process mid-send.

    Only the main thread can take signals: a command run on another thread (a caller
    embedding the CLI) keeps the default behaviour."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


# -- commands -------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from digestbot.wiring import build_service

    svc = build_service(settings)
    try:
        report = svc.check()
    finally:
        svc.index.close()
        asyncio.run(svc.engine.dispose())
    for problem in report.problems:
        _out(f"{problem}" if problem.severity == "error" else f"{problem} (warning)")
    for gap in report.language_gaps:
        _out(f"{gap.line()} (warning)")
    _out(report.summary())
    return 0 if report.ok else 1


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    lang = Language.parse(args.lang)
    text = _with_service(settings, lambda svc: svc.preview(args.week, args.format, lang))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    async def work(svc: Service) -> int:
        # SIGTERM / SIGINT: sends in flight finish and are recorded, nothing new starts,
        # the rest stays in the ledger for the next run
        stop = asyncio.Event()
        with _stop_on_signals(stop):
            options = {
                "dry_run": args.dry_run,
                "only": args.only,
                "stop": stop,
                "retry_failed": args.retry_failed,
            }
            if sys.stdout.isatty() and not args.dry_run:
                from rich.progress import Progress

                with Progress(transient=True) as bar:
                    task = bar.add_task("sending", total=None)

                    def progress(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)

                    report = await svc.publish(args.week, progress=progress, **options)
            else:
                report = await svc.publish(args.week, **options)
        if stop.is_set():
            _err("publish: interrupted; what was in flight was recorded")
        for line in report.lines():
            _out(line)
        return report.exit_code

    return _with_service(settings, work)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from digestbot.run import run_forever

    return asyncio.run(
        run_forever(
            settings, web=not args.no_web, bot=not args.no_bot, scheduler=not args.no_scheduler
        )
    )


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    _with_service(settings, lambda svc: asyncio.sleep(0))
    _out(f"database is up to date: {redact_url(settings.database_url)}")
    return 0


def cmd_subscribers(args: argparse.Namespace, settings: Settings) -> int:
    action = args.action

    async def work(svc: Service) -> int:
        subs = svc.subscribers
        if action == "add":
            address = normalize_email(args.email)
            lang = parse_lang(args.lang)
            sub = await subs.upsert(Channel.EMAIL, address, lang, "active", confirmed=True)
            _out(f"added {sub.address} ({sub.lang.value}), active")
            return 0
        if action == "remove":
            address = normalize_email(args.email)
            if await subs.remove(Channel.EMAIL, address):
                _out(f"removed {address}: it gets no more issues")
                return 0
            _err(f"error: {address} is not a subscriber")
            return 1
        if action == "list":
            channel = Channel(args.channel) if args.channel else None
            rows = await subs.list(channel)
            for line in describe(rows):
                _out(line)
            _out(f"{len(rows)} subscribers")
            return 0
        if action == "export":
            if args.follows:
                sys.stdout.write(await svc.export_follows_csv())
                return 0
            sys.stdout.write(await subs.export_csv())
            return 0
        if action == "import":
            path = Path(args.file)
            try:
                text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
            except OSError as exc:
                _err(f"error: cannot read {path}: {exc.strerror}")
                return 1
            rep = await subs.import_csv(text, default_lang=parse_lang(args.lang))
            for lineno, raw, why in rep.rejected:
                _out(f"{path}:{lineno}: rejected {raw!r}: {why}")
            _out(
                f"imported {path}: {rep.added} added, {rep.updated} updated, "
                f"{rep.unchanged} unchanged, {len(rep.rejected)} rejected"
            )
            return 0
        raise AssertionError(action)

    return _with_service(settings, work)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """``export markdown [--week W | --all] --out DIR``."""
    report = _with_service(
        settings, lambda svc: svc.export_markdown(args.week, Path(args.out), every=args.all)
    )
    for line in report.lines():
        _out(line)
    return 0


# -- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="digestbot",
        description=(
            "Publish the weekly AI-paper digest (每周AI论文速递) to Telegram, email and the web."
        ),
    )
    p.add_argument("--version", action="version", version=f"digestbot {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("check", help="validate settings and every content file")
    s.set_defaults(handler=cmd_check)

    week_help = "ISO week (2024-W16) or a date inside it (2024-04-17); default: latest unpublished"
    s = sub.add_parser("preview", help="print an issue in one format and language")
    s.add_argument("--week", help=week_help)
    s.add_argument("--format", choices=["telegram", "email", "text", "web"], default="text")
    s.add_argument("--lang", choices=["zh", "en", "both"], default="both")
    s.set_defaults(handler=cmd_preview)

    s = sub.add_parser("publish", help="send a week's issue (resumes; never sends twice)")
    s.add_argument("--week", help=week_help)
    s.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    s.add_argument("--only", choices=["telegram", "email"], help="publish to one channel only")
    s.add_argument(
        "--retry-failed",
        action="store_true",
        help="queue the week's failed deliveries again and send them "
        "(default week: the latest with failed deliveries)",
    )
    s.set_defaults(handler=cmd_publish)

    s = sub.add_parser("run", help="bot + scheduler + web in one process until SIGTERM")
    s.add_argument("--no-web", action="store_true")
    s.add_argument("--no-bot", action="store_true")
    s.add_argument("--no-scheduler", action="store_true")
    s.set_defaults(handler=cmd_run)

    s = sub.add_parser("subscribers", help="manage email subscribers")
    ssub = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = ssub.add_parser("add", help="add a confirmed subscriber (operator import)")
    a.add_argument("email")
    a.add_argument("--lang", choices=["zh", "en", "both"], default="both")
    a = ssub.add_parser("import", help="bulk add from a CSV with header email,lang")
    a.add_argument("file")
    a.add_argument(
        "--lang", choices=["zh", "en", "both"], default="both", help="language for rows without one"
    )
    a = ssub.add_parser("export", help="print active subscribers as CSV (email,lang)")
    a.add_argument(
        "--follows",
        action="store_true",
        help="print every follow instead (channel,address,kind,value,lang)",
    )
    a = ssub.add_parser("list", help="list subscribers and their status")
    a.add_argument("--channel", choices=["telegram", "email"])
    a = ssub.add_parser("remove", help="unsubscribe an address")
    a.add_argument("email")
    s.set_defaults(handler=cmd_subscribers)

    s = sub.add_parser("import", help="fill the content store from a source")
    isub = s.add_subparsers(dest="source", metavar="SOURCE", required=True)
    a = isub.add_parser("hf", help="Hugging Face Daily Papers for a week or a day")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--week", help="ISO week or a date inside it")
    g.add_argument("--date", help="one day, YYYY-MM-DD")
    a.add_argument("--min-upvotes", type=int, default=0)
    a.add_argument("--top", type=int, help="keep only the N most upvoted")
    a.add_argument("--dry-run", action="store_true")
    a = isub.add_parser("arxiv", help="papers by arXiv id")
    a.add_argument("ids", nargs="+", metavar="ID")
    a.add_argument("--dry-run", action="store_true")
    a = isub.add_parser("markdown", help="an archive of weekly digest posts (files or folders)")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--dry-run", action="store_true")
    s.set_defaults(handler=cmd_import)

    s = sub.add_parser("export", help="write published issues out of digestbot")
    esub = s.add_subparsers(dest="format", metavar="FORMAT", required=True)
    a = esub.add_parser("markdown", help="the series' posts, DIR/<year>/<MMDD-MMDD>.md")
    g = a.add_mutually_exclusive_group()
    g.add_argument("--week", help="ISO week or a date inside it; default: the latest published")
    g.add_argument("--all", action="store_true", help="every published issue")
    a.add_argument("--out", required=True, metavar="DIR", help="the archive folder")
    s.set_defaults(handler=cmd_export)

    s = sub.add_parser(
        "summarize",
        help="draft missing titles and summaries with an LLM; translate ready papers' "
        "summaries into the language they lack (--week, --all)",
    )
    which = s.add_mutually_exclusive_group()
    which.add_argument("--week", help="ISO week or a date inside it")
    which.add_argument("--ids", nargs="+", metavar="ID")
    which.add_argument(
        "--all",
        action="store_true",
        dest="all_weeks",
        help="every week: drafts, and ready papers with a summary in one language only",
    )
    s.add_argument("--dry-run", action="store_true")
    s.set_defaults(handler=cmd_summarize)

    s = sub.add_parser("review", help="list drafts of a week, or mark papers ready")
    s.add_argument("--week", help="ISO week or a date inside it")
    s.add_argument("--ready", nargs="+", metavar="ID", help="mark these papers ready")
    s.set_defaults(handler=cmd_review)

    s = sub.add_parser("tag", help="set papers' tags from content/topics.yaml")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--week", help="ISO week or a date inside it")
    g.add_argument("--all", action="store_true", help="every paper (default: untagged ones)")
    s.add_argument("--dry-run", action="store_true")
    s.set_defaults(handler=cmd_tag)

    s = sub.add_parser("db", help="database maintenance")
    dsub = s.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    dsub.add_parser("upgrade", help="apply migrations")
    s.set_defaults(handler=cmd_db_upgrade)
    return p


def _secrets(settings: Settings) -> list[str]:
    values = [
        settings.secret_key,
        settings.telegram.token,
        settings.smtp.password,
        settings.llm.api_key,
    ]
    return [v.get_secret_value() for v in values if v is not None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        level = logging.INFO if args.verbose or args.command == "run" else logging.WARNING
        logs.configure(level, secrets=_secrets(settings))
        settings = with_secret_key(settings)  # may make one, and say so once
        logs.configure(level, secrets=_secrets(settings))
        handler: Handler = args.handler
        return handler(args, settings)
    except DigestbotError as exc:
        _err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("interrupted: run the same command again to resume")
        return 130
