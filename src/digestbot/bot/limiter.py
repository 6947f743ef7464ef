"""The bot shell's replies counted against the same Telegram limits as the sender's messages.

``digestbot run`` has one :class:`~digestbot.delivery.ratelimit.RateLimiter` for the bot
token. The sender takes a token for every issue message; :class:`SharedLimiter` makes
python-telegram-bot take one for every reply the bot sends (any Bot API call that names a
chat), ahead of queued broadcast messages. Together they keep ~30 messages a second, so a
publish running while users talk to the bot meets no 429s, and replies stay prompt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from digestbot.delivery.ratelimit import RateLimiter
from digestbot.delivery.telegram import retry_after_seconds

log = logging.getLogger("digestbot.bot")

JSONDict = dict[str, Any]


class SharedLimiter(BaseRateLimiter[None]):
    """A python-telegram-bot rate limiter over digestbot's :class:`RateLimiter`.

    A 429 that gets through anyway (another process on the same token) pauses that scope
    in the shared limiter and the call is tried again, up to ``max_retries`` times.
    """

    def __init__(self, limiter: RateLimiter, max_retries: int = 2) -> None:
        self.limiter = limiter
        self.max_retries = max_retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None  # the limiter belongs to the service, which closes it

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
        attempt = 0
        while True:
            try:
                if chat_id is None:
                    return await callback(*args, **kwargs)
                # counted from its grant until Telegram answered (see RateLimiter.replying)
                async with self.limiter.replying():
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if chat_id is None or attempt >= self.max_retries:
                    raise
                attempt += 1
                wait = retry_after_seconds(exc)
                scope = self.limiter.retry_after(chat_id, wait)
                log.info("telegram 429 on %s (%s): retrying in %.1f s", endpoint, scope, wait)
                await asyncio.sleep(wait)
