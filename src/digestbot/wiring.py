"""The only place that builds concrete classes from settings."""

from __future__ import annotations

from pathlib import Path

from digestbot.content.cache import PaperCache, default_cache_dir
from digestbot.content.files import ContentLimits
from digestbot.content.store import RECENT_WEEKS, ContentStore
from digestbot.db.engine import make_engine
from digestbot.delivery.mailer import Mailer, OutboxMailer, SmtpMailer
from digestbot.delivery.ratelimit import RateLimiter
from digestbot.delivery.senders import OutboxSender, Sender
from digestbot.render.templates import Templates
from digestbot.search.index import SearchIndex, SearchIndexError
from digestbot.secretkey import with_secret_key
from digestbot.service import Service
from digestbot.settings import Settings


def build_senders(
    settings: Settings, limiter: RateLimiter | None = None
) -> tuple[dict[str, Sender], str, str]:
    """The senders this configuration has, and the transport Telegram and email rows use.

    ``limiter``: the Telegram limits shared with the bot shell (one budget per token)."""
    senders: dict[str, Sender] = {"outbox": OutboxSender(settings.outbox_dir)}
    telegram_transport = "outbox"
    email_transport = "outbox"
    if settings.telegram.enabled:
        from digestbot.delivery.telegram import TelegramSender

        senders["telegram"] = TelegramSender(settings.telegram, limiter=limiter)
        telegram_transport = "telegram"
    if settings.smtp.enabled:
        from digestbot.delivery.smtp import SmtpSender

        senders["smtp"] = SmtpSender(settings.smtp)
        email_transport = "smtp"
    if settings.archive.enabled:
        from digestbot.delivery.archive import ArchiveSender

        senders["archive"] = ArchiveSender(git_commit=settings.archive.git_commit)
    return senders, telegram_transport, email_transport


def build_index(settings: Settings) -> SearchIndex:
    """The search index file beside the store's cache, or in memory if that is not writable."""
    folder = default_cache_dir(settings.content_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return card_index(settings, folder / "search.sqlite3")
    except (OSError, SearchIndexError):
        return card_index(settings, None)


def card_index(settings: Settings, path: Path | None) -> SearchIndex:
    """A search index whose result cards are shortened to the settings' budgets (the
    summaries the web's search page shows)."""
    return SearchIndex(path, zh_chars=settings.summary_zh_chars, en_words=settings.summary_en_words)


def content_limits(settings: Settings) -> ContentLimits:
    """The store's size caps from ``DIGESTBOT_CONTENT__*``."""
    return ContentLimits(settings.content.max_file_bytes, settings.content.max_summary_chars)


def build_store(settings: Settings) -> ContentStore:
    """The store of every command but import/summarize/review: recent papers whole."""
    return ContentStore(
        settings.content_dir,
        cache=PaperCache.beside(settings.content_dir),
        limits=content_limits(settings),
        bodies=False,  # no command built on it reads the Markdown body
        recent_weeks=RECENT_WEEKS,  # older papers' summaries are read from their files
    )


def build_service(settings: Settings) -> Service:
    settings = with_secret_key(settings)
    limiter = RateLimiter.from_settings(settings.telegram) if settings.telegram.enabled else None
    senders, tg, mail = build_senders(settings, limiter)
    mailer: Mailer = (
        SmtpMailer(settings.smtp) if settings.smtp.enabled else OutboxMailer(settings.outbox_dir)
    )
    return Service(
        settings,
        engine=make_engine(settings.database_url),
        store=build_store(settings),
        templates=Templates(settings.templates_dir),
        senders=senders,
        telegram_transport=tg,
        email_transport=mail,
        mailer=mailer,
        index=build_index(settings),
        telegram_limiter=limiter,
    )


def build_content_service(settings: Settings) -> Service:
    """A service for ``import``, ``summarize`` and ``review``: no senders, no index file.

    The store is read without its parse cache (these commands read each file once) and the
    database is only touched by ``import markdown``, which records archive issues."""
    return Service(
        settings,
        engine=make_engine(settings.database_url),
        store=ContentStore(settings.content_dir, limits=content_limits(settings)),
        templates=Templates(settings.templates_dir),
        senders={},
        telegram_transport="outbox",
        email_transport="outbox",
        mailer=OutboxMailer(settings.outbox_dir),
        index=card_index(settings, None),
    )
