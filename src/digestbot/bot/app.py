"""The names `digestbot.bot.app` exported before the bot shell was split, kept importable.

The bot now lives in `application` (the PTB Application), `handlers` and `admin` (the
commands), `views` (the replies) and `webhook`. `digestbot run` still imports this module;
new code imports from the modules above.
"""

from __future__ import annotations

from digestbot.bot.application import BotApplication, DigestBot, build_bot
from digestbot.bot.webhook import (
    WEBHOOK_PREFIX,
    set_webhook,
    webhook_feed,
    webhook_path,
    webhook_secret,
)

__all__ = [
    "WEBHOOK_PREFIX",
    "BotApplication",
    "DigestBot",
    "build_bot",
    "set_webhook",
    "webhook_feed",
    "webhook_path",
    "webhook_secret",
]
