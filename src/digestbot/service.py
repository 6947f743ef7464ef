"""The one service: check, preview, publish, subscribers, archive; every shell calls into it.

Import, summarize and review come from ``digestbot.editorial`` (``EditorialDesk``), topics
and follows from ``digestbot.topicdesk``, subscribers from ``digestbot.subscriptiondesk``;
what the commands report is in ``digestbot.reports``."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.audience import Audience
from digestbot.content.store import ContentStore, Snapshot, trim_heap
from digestbot.db.engine import answers, at_head, upgrade, upgrade_in_child
from digestbot.db.mail_limits import ConfirmationMailLimits
from digestbot.db.repositories import BotUsers, ChatMigrations, SchedulerRuns
from digestbot.delivery.issuebook import IssueRecord
from digestbot.delivery.ledger import Delivery, Ledger
from digestbot.delivery.mailer import Mailer
from digestbot.delivery.publisher import DrainStats, Publisher
from digestbot.delivery.ratelimit import RateLimiter
from digestbot.delivery.senders import Content, RenderOptions, Sender
from digestbot.editorial import EditorialDesk
from digestbot.errors import IssueRefused, NothingToPublish, NotPublished
from digestbot.metrics import record_delivery, time_publish
from digestbot.models import Channel, Destination, Issue, Language, Paper, PaperHead, Status
from digestbot.render.templates import Templates
from digestbot.reports import (
    ChannelReport,
    CheckReport,
    ExportReport,
    PublishReport,
    StatusReport,
)
from digestbot.search import index_child
from digestbot.search.index import SearchIndex, SearchResult
from digestbot.search.query import Query, parse_query
from digestbot.selection import latest_week, make_issue, select_papers
from digestbot.settings import Settings
from digestbot.subscribers import (
    ACTIVE,
    BLOCKED,
    Subscribers,
    Tokens,
)
from digestbot.subscriptiondesk import SubscriptionDesk
from digestbot.summarize.coverage import language_gaps
from digestbot.topicdesk import FollowDesk
from digestbot.weeks import Week

log = logging.getLogger("digestbot")

Format = Literal["telegram", "email", "text", "web"]
GiveUpNotice = Callable[[str, list[tuple[str, str, str]]], Awaitable[None]]
"""Told a week and the (channel, address, reason) of each delivery a drain gave up."""
PREVIEW_LANGS = (Language.ZH, Language.EN, Language.BOTH)


class Service(EditorialDesk, FollowDesk, SubscriptionDesk):
    """Owns the content store, the database, the ledger and the publisher."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: AsyncEngine,
        store: ContentStore,
        templates: Templates,
        senders: dict[str, Sender],
        telegram_transport: str,
        email_transport: str,
        mailer: Mailer,
        index: SearchIndex | None = None,
        telegram_limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.templates = templates
        self.senders = senders
        self.telegram_transport = telegram_transport
        self.email_transport = email_transport
        self.mailer = mailer
        self.ledger = Ledger(engine)
        self.subscribers = Subscribers(engine)
        self.mail_limits = ConfirmationMailLimits(engine, settings.confirm_mails_per_hour)
        self.bot_users = BotUsers(engine)
        self.chat_migrations = ChatMigrations(engine)
        self.scheduler_runs = SchedulerRuns(engine)
        self.tokens = Tokens(
            settings.secret_key.get_secret_value(), settings.confirm_token_hours * 3600
        )
        self._snapshot: Snapshot | None = None
        self.publisher = Publisher(
            self.ledger,
            senders,
            retry_window=settings.delivery.retry_window,
            database_wait=settings.delivery.database_wait_seconds,
            on_migrated=self._on_migrated,
            on_deactivate=self._on_deactivate,
            on_bounce=self._on_bounce,
        )
        self._publish_lock = asyncio.Lock()
        self.next_run: Callable[[], dt.datetime | None] | None = None
        self.on_give_up: GiveUpNotice | None = None
        """Told (week, [(channel, address, reason)]) of the rows each drain gave up: the
        bot messages the admins (``digestbot run`` sets it when the bot runs)."""
        self.index = (
            index
            if index is not None
            else SearchIndex(zh_chars=settings.summary_zh_chars, en_words=settings.summary_en_words)
        )
        self._loaded_at = float("-inf")
        self._reload_lock = threading.Lock()
        self.telegram_limiter = telegram_limiter
        """Telegram's limits for this bot token, shared by the sender and the bot shell."""
        self._synced = False  # the index holds the current snapshot's ready papers

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, migrate_in_child: bool = False) -> None:
        """Migrate the database, start the senders. ``migrate_in_child``: a pending
        migration runs in a child process (a long-running process then never imports
        Alembic)."""
        if migrate_in_child and not await at_head(self.engine):
            await asyncio.to_thread(upgrade_in_child, self.settings.database_url)
        await upgrade(self.engine)
        for sender in self.senders.values():
            await sender.start()

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()
        if self.telegram_limiter is not None:
            await self.telegram_limiter.close()
        self.index.close()
        await self.engine.dispose()

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- content --------------------------------------------------------------------------

    def snapshot(self, *, reload: bool = False) -> Snapshot:
        if self._snapshot is None or reload:
            self._snapshot = self.store.load()
        return self._snapshot

    def check(self) -> CheckReport:
        self.build_index()
        snap = self.snapshot()
        return CheckReport(
            files=snap.files,
            papers=len(snap.papers),
            ready=sum(1 for p in snap.papers.values() if p.status is Status.READY),
            overrides=len(snap.overrides),
            problems=snap.problems,
            language_gaps=language_gaps(snap.papers.values()),
        )

    def build_index(self) -> int:
        """Reload the store and bring the search index up to date (ready papers only).

        Returns how many papers the index added, changed or dropped. Cheap when little
        changed: unchanged files come from the paper cache.
        """
        with self._reload_lock:
            return self._build_index()

    def _build_index(self) -> int:
        if self._synced and self.store.unchanged_since_load():
            # nothing to do; a reload would allocate a second set of maps and path strings
            self._loaded_at = time.monotonic()
            return 0
        self._synced = False  # until the index holds this load (a failed sync retries)
        snap = self.snapshot(reload=True)
        self._loaded_at = time.monotonic()
        ready = snap.ready()
        path = self.index.path
        if path is not None and len(ready) >= index_child.MIN_PAPERS and len(self.index) == 0:
            index_child.build_in_child(
                path,
                self.store.root,
                self.store.limits,
                card_budgets=(self.index.zh_chars, self.index.en_words),
            )
            self.index.reopen()
        changed = self.index.sync(ready, snap.reader)
        self._synced = True
        del ready
        trim_heap()
        return changed

    def _added_since_load(self, arxiv_ids: Iterable[str]) -> bool:
        """Whether a file for one of these ids exists now: only then is a reload worth it
        (a reload of 100,000 papers takes a second; an unknown id costs a few stats)."""
        return any(self.store.find_path(pid) is not None for pid in arxiv_ids)

    def refresh_if_stale(self, min_interval: float = 10.0) -> bool:
        """Reload content another process may have changed, at most every ``min_interval``.

        Safe from a worker thread (``digestbot run`` reloads off its event loop); a reload
        already running elsewhere makes this one a no-op."""
        if time.monotonic() - self._loaded_at < min_interval:
            return False
        if not self._reload_lock.acquire(blocking=False):
            return False
        try:
            self._build_index()
        finally:
            self._reload_lock.release()
        return True

    def parse_query(self, text: str) -> Query:
        return parse_query(text)

    def find_papers(self, query: str, *, limit: int = 5, offset: int = 0) -> SearchResult:
        """Search by arXiv id, arXiv/HF URL, or keywords in either language."""
        return self.index.search(query, limit=limit, offset=offset)

    def render_options(self) -> RenderOptions:
        s = self.settings
        return RenderOptions(
            templates=self.templates,
            zh_chars=s.summary_zh_chars,
            en_words=s.summary_en_words,
            public_url=s.public_url,
            sender=s.smtp.sender,
            list_id=s.list_id,
            bot_url=s.telegram.bot_url,
        )

    def unsubscribe_url(self, channel: Channel, address: str) -> str:
        token = self.tokens.unsubscribe_token(channel, address)
        return f"{self.settings.public_url}/unsubscribe/{token}"

    def content_for(self, issue: Issue) -> Content:
        return Content(issue, self.render_options(), self.unsubscribe_url)

    async def resolve_week(self, week: str | Week | None) -> Week:
        """The week asked for, or the latest one with ready papers not yet published."""
        if isinstance(week, Week):
            return week
        if week:
            return Week.parse(week)
        snap = self.snapshot()
        published = {Week.parse(r.week) for r in await self.ledger.list_issues()}
        found = latest_week(snap.papers.values(), published)
        if found is None:
            found = latest_week(snap.papers.values())
        if found is None:
            raise NothingToPublish(
                f"no ready papers in {self.store.root}: import some "
                "(`digestbot import hf --week W`) and set status: ready"
            )
        return found

    async def build_issue(self, week: Week, record: IssueRecord | None = None) -> Issue:
        """The issue for ``week``: frozen to its recorded papers once it has been planned."""
        snap = self.snapshot()
        override = snap.overrides.get(week)
        if record is not None:
            problems = snap.problems_for(record.paper_ids)
            if problems:
                raise IssueRefused(f"{week} cannot be sent: " + "; ".join(problems))
            papers = self._wholes(record.paper_ids)
        else:
            if override is not None and override.papers:
                problems = snap.problems_for(override.papers)
                if problems:
                    raise IssueRefused(
                        f"{week}: the override file lists papers that cannot be published: "
                        + "; ".join(problems)
                    )
            published = await self.ledger.published_paper_ids(before_week=str(week))
            chosen = select_papers(
                snap.papers,
                week,
                published=published,
                override=override,
                cap=self.settings.papers_per_issue,
            )
            papers = self._wholes([p.arxiv_id for p in chosen])
        return make_issue(week, papers, override)

    def _wholes(self, arxiv_ids: Sequence[str]) -> list[Paper]:
        """These papers whole, for an issue (never one with its summaries missing): a paper
        whose file changed since the load is read after a reload; IssueRefused if not."""
        papers = self.snapshot().wholes(arxiv_ids)
        if len(papers) < len(arxiv_ids):
            self.build_index()
            papers = self.snapshot().wholes(arxiv_ids)
        if len(papers) < len(arxiv_ids):
            lost = sorted(set(arxiv_ids) - {p.arxiv_id for p in papers})
            raise IssueRefused(f"cannot read {', '.join(lost)} from the content store")
        return papers

    def whole(self, paper: PaperHead) -> Paper | None:
        """``paper`` with its summaries (held, or read again from its file): what every
        page, reply or message that shows a summary renders."""
        return self.snapshot().whole(paper.arxiv_id)

    async def issue_for(self, week: str | Week | None) -> Issue:
        w = await self.resolve_week(week)
        record = await self.ledger.get_issue(str(w))
        return await self.build_issue(w, record)

    async def preview(self, week: str | Week | None, fmt: Format, lang: Language) -> str:
        issue = await self.issue_for(week)
        if not issue.papers:
            raise NothingToPublish(f"{issue.week} has no ready papers to show")
        content = self.content_for(issue)
        if fmt == "telegram":
            parts = content.telegram(lang)
            button = content.telegram_button(lang)
            shown = "\n\n".join(
                f"<!-- message {i + 1}/{len(parts)} -->\n{p}" for i, p in enumerate(parts)
            )
            if button is not None:
                shown += (
                    f"\n<!-- button under message {len(parts)}: {button.label} → {button.url} -->"
                )
            return shown
        if fmt == "email":
            msg = content.email_message("preview@outbox.invalid", lang)
            return readable_email(msg)
        if fmt == "text":
            from digestbot.render.plain import render_text

            return render_text(
                issue,
                lang,
                templates=self.templates,
                zh_chars=self.settings.summary_zh_chars,
                en_words=self.settings.summary_en_words,
                public_url=self.settings.public_url,
            )
        from digestbot.render.web import render_web_issue

        return render_web_issue(
            issue, lang, templates=self.templates, public_url=self.settings.public_url
        )

    # -- publishing -----------------------------------------------------------------------

    async def destinations(self, channels: frozenset[str]) -> tuple[Audience, list[str]]:
        """Who gets a copy, over which transport; preview slots when nobody is configured.

        Subscribers are not read here: the :class:`Audience` streams them from the database
        when the plan (or a dry run) iterates it."""
        notes: list[str] = []
        audience = Audience()
        tg, mail = self.telegram_transport, self.email_transport
        counts = await self.subscribers.counts()
        configured = bool(
            self.settings.telegram.channels
            or counts.get((Channel.TELEGRAM.value, ACTIVE))
            or counts.get((Channel.EMAIL.value, ACTIVE))
        )
        if "telegram" in channels:
            moved = await self.chat_migrations.all()
            for ch in self.settings.telegram.channels:
                chat = moved.get(str(ch.chat_id), str(ch.chat_id))
                audience.fixed.append((Destination(Channel.TELEGRAM, chat, ch.lang), tg))
            audience.streams.append((self._active(Channel.TELEGRAM), tg))
        if "email" in channels:
            audience.streams.append((self._active(Channel.EMAIL), mail))
        outbox = self.settings.outbox_dir
        if not configured:
            notes.append(
                "No channel or subscriber is configured yet: one preview copy per language "
                f"went to {outbox}/."
            )
            for lang in PREVIEW_LANGS:
                if "telegram" in channels:
                    audience.tail.append(
                        (Destination(Channel.TELEGRAM, f"preview-{lang}", lang), "outbox")
                    )
                if "email" in channels:
                    audience.tail.append(
                        (
                            Destination(Channel.EMAIL, f"preview-{lang}@outbox.invalid", lang),
                            "outbox",
                        )
                    )
        archive = self.settings.archive.dir
        if Channel.ARCHIVE.value in channels and archive is not None:
            audience.tail.append(
                (Destination(Channel.ARCHIVE, str(archive.resolve()), Language.ZH), "archive")
            )
        if "telegram" in channels and tg == "outbox":
            notes.append(
                "No Telegram token (DIGESTBOT_TELEGRAM__TOKEN): Telegram messages were written "
                f"to {outbox / 'telegram'}/ instead of being sent."
            )
        if "email" in channels and mail == "outbox":
            notes.append(
                "No SMTP host (DIGESTBOT_SMTP__HOST): emails were written to "
                f"{outbox / 'mail'}/ as .eml files instead of being sent."
            )
        return audience, notes

    def _active(self, channel: Channel) -> Callable[[], AsyncIterator[Destination]]:
        return lambda: self.subscribers.stream_active(channel)

    async def publish(
        self,
        week: str | Week | None = None,
        *,
        dry_run: bool | Literal["count"] = False,
        only: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        stop: asyncio.Event | None = None,
        retry_failed: bool = False,
    ) -> PublishReport:
        """Plan the week's deliveries in the ledger, then drain them. Safe to run again.

        ``dry_run``: plan and send nothing, list the destinations (``"count"``: only count
        them, which reads the list without holding it). ``retry_failed``: queue the week's
        failed rows again (default week: the latest
        with failed rows) and drain them."""
        started = time.monotonic()
        wanted = frozenset({only}) if only else frozenset({"telegram", "email"})
        if not only and self.settings.archive.dir is not None:
            wanted |= {Channel.ARCHIVE.value}
        async with self._publish_lock:
            if retry_failed and not week:
                week = await self._week_with_failures()
            w = await self.resolve_week(week)
            record = await self.ledger.get_issue(str(w))
            requeued: list[str] = []
            if retry_failed:
                requeued = await self._requeue(w, record)
                if record is not None and not only:
                    wanted = record.channels  # retry what was planned; plan nothing new
            if (
                record is not None
                and record.status == "published"
                and wanted <= record.channels
                and not await self._unfinished(record.id)
            ):
                report = PublishReport(
                    str(w), record.title_zh, len(record.paper_ids), already_published=True
                )
                await self._fill_report(report, record.id, DrainStats())
                return report
            if record is not None and record.source != "digestbot":
                return PublishReport(
                    str(w), record.title_zh, len(record.paper_ids), already_published=True
                )
            issue = await self.build_issue(w, record)
            if not issue.papers:
                raise NothingToPublish(
                    f"{w} has no ready papers that were not already published: "
                    "import or mark papers ready first"
                )
            missing = wanted - (record.channels if record else frozenset())
            audience, notes = await self.destinations(missing)
            await self.add_followers(audience, issue, missing)
            report = PublishReport(str(w), issue.title_zh, len(issue.papers), dry_run=bool(dry_run))
            report.notes = requeued + notes
            if dry_run:
                if dry_run == "count":
                    async for _destination in audience:
                        pass
                else:
                    report.destinations = await audience.collect()
                report.planned = audience.count
                return report
            if missing or record is None:
                record = await self.ledger.plan(issue, audience, missing, picks=audience.picks)
                report.planned = audience.count
            assert record is not None
            content = self.content_for(issue)
            for (channel, address), ids in (await self.ledger.personal_picks(record.id)).items():
                kept = content.picks if channel == Channel.TOPICS.value else content.email_picks
                kept[address] = ids
            total = sum(
                n
                for (_c, status), n in (await self.ledger.counts(record.id)).items()
                if status in ("pending", "sending")
            )
            done = 0

            def tick(n: int) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(done, total)

            with time_publish():
                stats = await self.publisher.drain(record.id, content, progress=tick, stop=stop)
            for result, counter in (
                ("sent", stats.sent),
                ("retried", stats.retried),
                ("failed", stats.failed),
                ("skipped", stats.skipped),
            ):
                for channel, n in counter.items():
                    record_delivery(channel, result, n)
            report.complete = await self.ledger.finish_if_done(record.id)
            await self._fill_report(report, record.id, stats)
            report.seconds = time.monotonic() - started
            if report.complete:
                log.info("published %s (%d destinations planned now)", w, report.planned)
            if stats.gave_up and self.on_give_up is not None:
                await self.on_give_up(str(w), stats.gave_up)
            return report

    async def _week_with_failures(self) -> str:
        """The latest week whose ledger holds failed rows (``publish --retry-failed``)."""
        _total, newest = await self.ledger.recent_failures(limit=1)
        if not newest:
            raise NothingToPublish("no delivery has failed: there is nothing to retry")
        return max(week for week, *_rest in newest)

    async def _requeue(self, week: Week, record: IssueRecord | None) -> list[str]:
        """Queue a week's failed rows again; the notes say how many."""
        if record is None:
            raise NotPublished(
                f"{week} has not been published, so no delivery of it failed: "
                f"`digestbot publish --week {week}` publishes it"
            )
        queued, skipped = await self.ledger.requeue_failed(record.id)
        notes = [f"{week}: {queued} failed deliveries queued again."]
        if skipped:
            notes.append(
                f"{week}: {skipped} failed deliveries skipped: their subscribers are no "
                "longer active (blocked the bot, unsubscribed or bounced)."
            )
        return notes

    async def _unfinished(self, issue_id: int) -> int:
        counts = await self.ledger.counts(issue_id)
        return sum(n for (_c, status), n in counts.items() if status in ("pending", "sending"))

    async def resume_unfinished(self, stop: asyncio.Event | None = None) -> list[PublishReport]:
        """Drain every issue whose ledger still has rows (after a crash or a retry wait)."""
        reports = []
        for record in await self.ledger.unfinished_issues():
            if record.status == "published":  # rows added since: welcome copies
                issue = await self.published_issue(record.week)
                if issue is not None:
                    await self.publisher.drain(record.id, self.content_for(issue), stop=stop)
                continue
            reports.append(await self.publish(record.week, stop=stop))
        return reports

    async def _fill_report(self, report: PublishReport, issue_id: int, stats: DrainStats) -> None:
        counts = await self.ledger.counts(issue_id)
        for (channel, status), n in counts.items():
            c = report.channels.setdefault(channel, ChannelReport())
            if status == "sent":
                c.sent += n
            elif status == "failed":
                c.failed += n
            elif status == "skipped":
                c.skipped += n
            else:
                c.pending += n
        for channel, n in stats.retried.items():
            report.channels.setdefault(channel, ChannelReport()).retried += n
        report.failures = await self.ledger.failures(issue_id)
        report.waiting = await self.ledger.failures(issue_id, status="pending")

    # -- delivery hooks -------------------------------------------------------------------

    async def _on_migrated(self, row: Delivery, new_address: str) -> None:
        await self.chat_migrations.record(row.address, new_address)
        await self.subscribers.change_address(Channel.TELEGRAM, row.address, new_address)

    async def _on_deactivate(self, row: Delivery, reason: str) -> None:
        await self.subscribers.set_status(row.channel, row.address, BLOCKED, reason)

    async def _on_bounce(self, row: Delivery, reason: str) -> None:
        await self.subscribers.record_bounce(row.address, reason)

    # -- archive and readers --------------------------------------------------------------

    async def published_issues(self) -> list[IssueRecord]:
        return await self.ledger.list_issues()

    def paper(self, arxiv_id: str, *, drafts: bool = False) -> Paper | None:
        """A ready paper by id (drafts only when asked); an unknown id reloads the store
        (throttled) in case another process just added it."""
        found = self.snapshot().whole(arxiv_id)
        if found is None and self._added_since_load([arxiv_id]) and self.refresh_if_stale():
            found = self.snapshot().whole(arxiv_id)
        if found is not None and found.status is not Status.READY and not drafts:
            return None
        return found

    def ready_among(self, arxiv_ids: Iterable[str]) -> set[str]:
        """Which of these ids are ready papers of the loaded store (no reload): a search
        hit is shown only then, as a paper that just became a draft may still be in the
        index until the next sync."""
        papers = self.snapshot().papers
        return {
            pid
            for pid in arxiv_ids
            if (found := papers.get(pid)) is not None and found.status is Status.READY
        }

    async def published_issue(self, week: str | Week) -> Issue | None:
        """A published issue as its subscribers received it; None if not published."""
        w = week if isinstance(week, Week) else Week.parse(week)
        record = await self.ledger.get_issue(str(w))
        if record is None or record.status != "published":
            return None
        snap = self.snapshot()
        missing = [pid for pid in record.paper_ids if pid not in snap.papers]
        if missing and self._added_since_load(missing) and self.refresh_if_stale():
            snap = self.snapshot()
        papers = snap.wholes(record.paper_ids)
        issue = make_issue(w, papers, snap.overrides.get(w))
        return replace(issue, title_zh=record.title_zh, title_en=record.title_en)

    async def export_markdown(
        self, week: str | Week | None, out: Path, *, every: bool = False
    ) -> ExportReport:
        """Write published issues as the series' posts, ``out/<year>/<MMDD-MMDD>.md``.

        ``every``: all published issues; else ``week``, or the latest published one. Files
        that already hold the same post are left untouched.
        """
        from digestbot.delivery.archive import write_post

        records = await self.ledger.list_issues()
        if week is not None and not every:
            w = week if isinstance(week, Week) else Week.parse(week)
            records = [r for r in records if r.week == str(w)]
            if not records:
                raise NotPublished(
                    f"{w} has not been published: publish it first (digestbot publish --week "
                    f"{w}), or import the archive that holds it (digestbot import markdown PATH)"
                )
        elif not every:
            records = records[:1]
        if not records:
            raise NotPublished(
                "no issue has been published yet: publish one (digestbot publish) or import "
                "an archive of posts (digestbot import markdown PATH)"
            )
        report = ExportReport(out)
        for record in sorted(records, key=lambda r: r.week):
            issue = await self.published_issue(record.week)
            assert issue is not None
            lost = [pid for pid in record.paper_ids if pid not in issue.paper_ids]
            if lost:
                report.notes.append(
                    f"{record.week}: {', '.join(lost)} not in {self.store.root}; "
                    "the post leaves them out"
                )
            path, changed = await asyncio.to_thread(write_post, out, issue)
            report.posts.append((record.week, path, len(issue.papers), changed))
        return report

    async def latest_issue(self) -> Issue | None:
        records = await self.ledger.list_issues()
        return await self.published_issue(records[0].week) if records else None

    async def issues_of_paper(self, arxiv_id: str) -> list[str]:
        return [r.week for r in await self.ledger.list_issues() if arxiv_id in r.paper_ids]

    # -- new subscribers and readers' lists ---------------------------------------------------

    async def welcome(self, destination: Destination) -> str | None:
        """A new subscriber's first copy: the latest published issue at once, through the
        ledger (one more row of that issue, drained now), once per destination. Returns the
        issue's week, or None when nothing is published yet or it already has its copy; a
        copy whose send fails stays in the ledger for the next drain (``resume_unfinished``)."""
        records = await self.ledger.list_issues()
        if not records:
            return None
        record = records[0]
        issue = await self.published_issue(record.week)
        if issue is None or not issue.papers:
            return None
        transport = (
            self.telegram_transport
            if destination.channel is Channel.TELEGRAM
            else self.email_transport
        )
        if not await self.ledger.plan_welcome(record.id, destination, transport):
            return None
        await self.publisher.drain(record.id, self.content_for(issue))
        log.info("welcome: %s %s got %s", destination.channel, destination.address, record.week)
        return record.week

    async def top_papers(
        self, since: dt.date | None = None, limit: int = 10
    ) -> list[tuple[PaperHead, str]]:
        """The highest-scored papers of published issues (listed on ``since`` or later),
        each with the week of the issue that carried it; ties go to the newer paper."""
        snap = self.snapshot()
        found: dict[str, tuple[PaperHead, str]] = {}
        for record in await self.ledger.list_issues():
            for pid in record.paper_ids:
                paper = snap.papers.get(pid)
                if paper is None or pid in found or (since is not None and paper.date < since):
                    continue
                found[pid] = (paper, record.week)
        ranked = sorted(found.values(), key=lambda pw: (-pw[0].score, -pw[0].date.toordinal()))
        return ranked[:limit]

    # -- scheduler --------------------------------------------------------------------------

    async def claim_fire(self, job: str, key: str, owner: str) -> bool:
        """Record one scheduled fire; False if another process already claimed it."""
        return await self.scheduler_runs.claim(job, key, owner)

    # -- status -----------------------------------------------------------------------------

    async def status(self) -> StatusReport:
        records = await self.ledger.list_issues()
        failed, failures = await self.ledger.recent_failures()
        return StatusReport(
            last_issue=records[0] if records else None,
            subscribers=await self.subscribers.counts(),
            backlog=await self.ledger.backlog(),
            papers=len(self.snapshot().papers),
            next_run=self.next_run() if self.next_run is not None else None,
            failed=failed,
            failures=failures,
        )

    # -- web support ------------------------------------------------------------------------

    async def healthy(self) -> bool:
        """A cheap database round trip for ``/healthz``; False (and a warning) if it fails."""
        return await answers(self.engine)


def readable_email(msg: EmailMessage) -> str:
    """Headers, then each part decoded: what `preview --format email` prints."""
    lines = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        assert isinstance(part, EmailMessage)
        lines += ["", f"----- {part.get_content_type()} -----", str(part.get_content()).rstrip()]
    return "\n".join(lines) + "\n"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
