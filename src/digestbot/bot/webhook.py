"""Webhook mode: where Telegram posts the bot's updates, the secret it sends back, the feed.

With DIGESTBOT_TELEGRAM__WEBHOOK_URL set, `digestbot run` mounts a POST route at that
URL's path in the web app (`digestbot.web` checks the secret header) and hands each update
to the bot's queue here, instead of polling.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import Update

from digestbot.errors import SettingsError
from digestbot.service import Service

if TYPE_CHECKING:
    from digestbot.bot.application import BotApplication

__all__ = ["WEBHOOK_PREFIX", "set_webhook", "webhook_feed", "webhook_path", "webhook_secret"]

WEBHOOK_PREFIX = "/telegram/"


def webhook_path(service: Service) -> str:
    """The web app's path for Telegram's POSTs: the path of DIGESTBOT_TELEGRAM__WEBHOOK_URL."""
    url = service.settings.telegram.webhook_url or ""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise SettingsError(
            f"DIGESTBOT_TELEGRAM__WEBHOOK_URL={url!r}: Telegram posts only to https:// URLs; "
            "use e.g. https://digest.example.org/telegram/webhook (or unset it to poll)"
        )
    if not parts.path.startswith(WEBHOOK_PREFIX) or parts.path == WEBHOOK_PREFIX:
        raise SettingsError(
            f"DIGESTBOT_TELEGRAM__WEBHOOK_URL={url!r}: its path must start with "
            f"{WEBHOOK_PREFIX}, e.g. https://digest.example.org/telegram/webhook"
        )
    return parts.path


def webhook_secret(service: Service) -> str:
    """The secret Telegram sends back with every update (derived from the secret key)."""
    key = service.settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"digestbot telegram webhook", hashlib.sha256).hexdigest()


def webhook_feed(
    application: BotApplication,
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """Hands one posted update to the bot's queue, as polling would."""

    async def feed(data: dict[str, Any]) -> None:
        update = Update.de_json(data, application.bot)
        if update is not None:
            await application.update_queue.put(update)

    return feed


async def set_webhook(application: BotApplication, service: Service) -> None:
    """Tell Telegram where to post updates (replaces polling until deleted)."""
    await application.bot.set_webhook(
        url=service.settings.telegram.webhook_url or "",
        secret_token=webhook_secret(service),
        allowed_updates=Update.ALL_TYPES,
    )
