"""The bot shell's replies counted against the same Telegram limits as the sender's messages.

``digestbot run`` has one :class:`~digestbot.delivery.ratelimit.RateLimiter` for the bot
token. The sender takes a token for every issue message; :class:`SharedLimiter` makes
python-telegram-bot take one for every reply the bot sends (any Bot API call that names a
chat), ahead of queued broadcast messages, and keep each chat's own limit for new messages.
Together they keep ~30 messages a second, so a publish running while users talk to the bot
meets no 429s, and replies stay prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from digestbot.delivery.ratelimit import RateLimiter
from digestbot.delivery.telegram import retry_after_seconds

log = logging.getLogger("digestbot.bot")

JSONDict = dict[str, Any]


PACED_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "copyMessage",
        "forwardMessage",
    }
)
"""Calls that put a new message into a chat: they keep that chat's limit."""

MAX_RETRY_WAIT = 30.0
"""A reply waits out a 429 at most this long (through its chat's paused scope)."""


class SharedLimiter(BaseRateLimiter[None]):
    """A python-telegram-bot rate limiter over digestbot's :class:`RateLimiter`.

    A new message waits for its chat's bucket (with the reply headroom) and a global
    token; other calls that name a chat (edits, answers) take a global token only. The
    wait happens here, before the request, so a reply never meets the 429 it would
    otherwise have to sleep out. A 429 that gets through anyway (another process on the
    same token) pauses that scope in the shared limiter and the message waits for it,
    up to ``max_retries`` times and :data:`MAX_RETRY_WAIT` seconds; other calls give up.
    """

    def __init__(self, limiter: RateLimiter, max_retries: int = 2, *, owned: bool = False) -> None:
        self.limiter = limiter
        self.max_retries = max_retries
        self.owned = owned

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        if self.owned:  # else the limiter belongs to the service, which closes it
            await self.limiter.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id = data.get("chat_id")
        paced = chat_id is not None and endpoint in PACED_ENDPOINTS
        attempt = 0
        while True:
            try:
                if chat_id is None:
                    return await callback(*args, **kwargs)
                # counted from its grant until Telegram answered (see RateLimiter.replying);
                # a new message also keeps its chat's window
                async with self.limiter.replying(chat_id if paced else None):
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if chat_id is None:
                    raise
                wait = retry_after_seconds(exc)
                scope = self.limiter.retry_after(chat_id, wait)  # honoured by every sender
                if not paced or attempt >= self.max_retries or wait > MAX_RETRY_WAIT:
                    raise
                attempt += 1
                log.info(
                    "telegram 429 on %s (%s): waiting %.1f s for that scope", endpoint, scope, wait
                )
