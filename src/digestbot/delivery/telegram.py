"""The Telegram sender: an issue's messages to one chat, in order, inside Telegram's limits.

Errors from python-telegram-bot map onto the delivery error family:

========================================  =============================================
``RetryAfter`` (429)                      the limiter pauses that chat (or everyone);
                                          short waits are sat out in place, long ones
                                          become ``TransientDeliveryError(retry_after)``
``ChatMigrated``                          ``job.on_migrated(new id)``, resend the part there
``Forbidden`` (blocked, kicked, deleted)  ``PermanentDeliveryError(deactivate=True)``
``BadRequest`` "chat not found"           ``PermanentDeliveryError(deactivate=True)``
other ``BadRequest`` (bad HTML, too long) ``PermanentDeliveryError(deactivate=False)``
``TimedOut``/``NetworkError``/5xx         retried in place with backoff, then transient
========================================  =============================================

A ``TimedOut`` part may have reached the chat; resending it is the accepted "in flight"
repeat of the delivery guarantees.

The HTTP client (:func:`answering_request`) tells the rate limiter the moment each answer's
headers are read, so a message's place in Telegram's windows is held until Telegram
answered, not until this task got the CPU back and PTB decoded the reply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from digestbot.delivery.ratelimit import GLOBAL, RateLimiter, answered, chat_kind
from digestbot.delivery.senders import Content, Job, LeaseLost
from digestbot.errors import PermanentDeliveryError, SettingsError, TransientDeliveryError
from digestbot.settings import TelegramSettings

__all__ = ["TelegramSender", "TelegramStats", "answering_request"]

log = logging.getLogger("digestbot.delivery.telegram")

# PTB_TIMEDELTA is set in digestbot/__init__.py, before telegram is first imported.

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

# BadRequest descriptions that mean the chat is gone for good, not that the text was bad.
_CHAT_GONE = (
    "chat not found",
    "user not found",
    "peer_id_invalid",
    "group chat was deactivated",
    "chat was deleted",
)
_MAX_MIGRATIONS = 3


@dataclass(slots=True)
class TelegramStats:
    """Counters for reports and /metrics."""

    sent: int = 0
    """Messages Telegram accepted."""
    retry_after: int = 0
    """429 Too Many Requests answers seen."""
    retried: int = 0
    """Parts resent in place after a network error, a timeout or a 5xx."""
    timed_out: int = 0
    """Sends that timed out (each may have been delivered: "in flight")."""
    migrated: int = 0
    """Chat migrations followed."""
    forbidden: int = 0
    """Chats that refused us (blocked, kicked, deactivated, not found)."""
    rejected: int = 0
    """Parts Telegram refused as malformed (a rendering bug)."""


def retry_after_seconds(exc: RetryAfter) -> float:
    """``exc.retry_after`` in seconds, without PTB's int-or-timedelta deprecation warning."""
    value = getattr(exc, "_retry_after", None)
    if not isinstance(value, dt.timedelta):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


async def _on_response(_response: httpx.Response) -> None:
    """httpx calls this as soon as a response's status line and headers are read."""
    answered()


def answering_request(**kwargs: Any) -> HTTPXRequest:
    """PTB's ``HTTPXRequest(**kwargs)`` whose answers end the sending permit at once
    (:func:`digestbot.delivery.ratelimit.answered`): the window runs from the moment the
    response arrived, before the body is decoded and the awaiting task resumes."""
    return HTTPXRequest(httpx_kwargs={"event_hooks": {"response": [_on_response]}}, **kwargs)


def _chat_arg(chat: str) -> int | str:
    """What PTB sends as ``chat_id``: the number for numeric ids, else ``@username``."""
    try:
        return int(chat)
    except ValueError:
        return chat


class TelegramSender:
    """Sends issue messages through the Bot API with python-telegram-bot.

    ``bot`` may be injected (tests, or sharing the bot shell's instance); otherwise
    :meth:`start` builds one on ``settings.api_url`` with a connection pool sized for
    ``concurrency``. One :class:`RateLimiter` per bot keeps Telegram's limits; pass the
    bot shell's limiter as ``limiter`` to make its replies count too.
    """

    transport: str = "telegram"

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        bot: Bot | None = None,
        limiter: RateLimiter | None = None,
        concurrency: int = 64,
        max_inline_wait: float = 30.0,
        network_retries: int = 3,
        retry_backoff: float = 0.5,
        read_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self.limiter = limiter or RateLimiter.from_settings(settings)
        self._owns_limiter = limiter is None
        self.max_inline_wait = max_inline_wait
        self.network_retries = network_retries
        self.retry_backoff = retry_backoff
        self.read_timeout = read_timeout
        self.stats = TelegramStats()
        self._bot = bot
        self._owns_bot = bot is None
        self._requests: list[HTTPXRequest] = []

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("TelegramSender.start() was not awaited")
        return self._bot

    async def start(self) -> None:
        if self._bot is None:
            token = self.settings.token.get_secret_value() if self.settings.token else ""
            if not token:
                raise SettingsError(
                    "DIGESTBOT_TELEGRAM__TOKEN is empty: set the bot token from @BotFather"
                )
            request = answering_request(
                connection_pool_size=self.concurrency + 8,
                read_timeout=self.read_timeout,
                write_timeout=self.read_timeout,
                connect_timeout=5.0,
                pool_timeout=self.read_timeout,
            )
            updates = HTTPXRequest(connection_pool_size=1)  # never polled by this bot
            self._requests = [request, updates]
            self._bot = Bot(
                token,
                base_url=self.settings.api_url,
                request=request,
                get_updates_request=updates,
            )
            self._owns_bot = True
        try:
            await self._bot.initialize()
        except InvalidToken as exc:
            await self.close()
            raise SettingsError(
                f"Telegram refused the bot token ({exc}): check DIGESTBOT_TELEGRAM__TOKEN"
            ) from exc
        except NetworkError as exc:
            # Not fatal: the bot may come back; each delivery will retry.
            log.warning("telegram: could not reach %s yet: %s", self.settings.api_url, exc)

    async def close(self) -> None:
        if self._owns_limiter:
            await self.limiter.close()
        if self._bot is not None and self._owns_bot:
            await self._bot.shutdown()
            # Bot.shutdown() skips a bot whose initialize() failed half-way
            for request in self._requests:
                await request.shutdown()
            self._bot, self._requests = None, []

    # -- metrics --------------------------------------------------------------------------

    @property
    def sent_messages(self) -> int:
        return self.stats.sent

    @property
    def count_429(self) -> int:
        return self.stats.retry_after

    # -- sending --------------------------------------------------------------------------

    async def deliver(self, job: Job, content: Content) -> int:
        """Send the parts not yet sent, in order; returns how many parts the issue has."""
        bot = self.bot
        parts = content.telegram_parts(job.delivery)
        button = content.telegram_button(job.delivery.lang)
        markup = (
            InlineKeyboardMarkup([[InlineKeyboardButton(button.label, url=button.url)]])
            if button is not None
            else None
        )
        chat = job.delivery.address
        for n in range(max(job.parts_sent, job.delivery.parts_sent), len(parts)):
            last = n + 1 == len(parts)
            chat = await self._send_part(bot, job, chat, n, parts[n], markup if last else None)
            job.parts_sent = n + 1
            # record it now: the next part may wait a second or more for this chat's turn
            if n + 1 < len(parts) and job.on_sent is not None and not await job.on_sent(n + 1):
                raise LeaseLost(job.delivery.id)
        return len(parts)

    async def _send_part(
        self,
        bot: Bot,
        job: Job,
        chat: str,
        n: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> str:
        """Send part ``n`` to ``chat`` (with ``markup``: the last part's button to the web
        issue); returns the chat it went to (after migrations)."""
        failures = 0
        migrations = 0
        while True:
            paused = max(self.limiter.paused_for(chat), self.limiter.paused_for(GLOBAL))
            if paused > self.max_inline_wait:  # don't hold a sending slot for minutes
                raise TransientDeliveryError(
                    f"telegram {chat}: flood control, paused for {paused:.0f}s more",
                    retry_after=paused,
                )
            try:
                # the limiter counts this message from its grant until the answer came
                # (the request's response hook marks it; see answering_request)
                async with self.limiter.sending(chat, chat_kind(chat)):
                    if not await job.checkpoint(n):
                        raise LeaseLost(job.delivery.id)
                    await bot.send_message(
                        chat_id=_chat_arg(chat),
                        text=text,
                        parse_mode=ParseMode.HTML,
                        link_preview_options=_NO_PREVIEW,
                        reply_markup=markup,
                    )
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                self.stats.retry_after += 1
                scope = self.limiter.retry_after(chat, seconds)
                log.info("telegram %s: 429, %s paused %.0fs", chat, scope, seconds)
                if seconds > self.max_inline_wait:
                    raise TransientDeliveryError(
                        f"telegram {chat}: flood control, retry after {seconds:g}s",
                        retry_after=seconds,
                    ) from exc
                continue
            except ChatMigrated as exc:
                migrations += 1
                new_chat = str(exc.new_chat_id)
                if migrations > _MAX_MIGRATIONS or new_chat == chat:
                    raise TransientDeliveryError(
                        f"telegram {chat}: migration loop (to {new_chat})"
                    ) from exc
                self.stats.migrated += 1
                log.info("telegram %s: migrated to %s", chat, new_chat)
                if job.on_migrated is not None:
                    await job.on_migrated(new_chat)
                chat = new_chat
                continue
            except Forbidden as exc:
                self.stats.forbidden += 1
                raise PermanentDeliveryError(
                    f"telegram {chat}: {exc.message}", deactivate=True
                ) from exc
            except BadRequest as exc:
                gone = any(marker in exc.message.lower() for marker in _CHAT_GONE)
                if gone:
                    self.stats.forbidden += 1
                else:
                    self.stats.rejected += 1
                raise PermanentDeliveryError(
                    f"telegram {chat}: part {n + 1}: {exc.message}", deactivate=gone
                ) from exc
            except InvalidToken as exc:
                raise TransientDeliveryError(
                    f"telegram refused the bot token ({exc.message}): "
                    "check DIGESTBOT_TELEGRAM__TOKEN"
                ) from exc
            except NetworkError as exc:  # TimedOut, connection errors, 5xx answers
                if isinstance(exc, TimedOut):
                    self.stats.timed_out += 1
                failures += 1
                if failures > self.network_retries:
                    raise TransientDeliveryError(
                        f"telegram {chat}: {type(exc).__name__}: {exc.message} ({failures} tries)"
                    ) from exc
                self.stats.retried += 1
                await asyncio.sleep(self.retry_backoff * 2 ** (failures - 1))
                continue
            except TelegramError as exc:  # Conflict, EndPointNotFound: not ours to fix here
                raise TransientDeliveryError(
                    f"telegram {chat}: {type(exc).__name__}: {exc.message}"
                ) from exc
            self.stats.sent += 1
            return chat
