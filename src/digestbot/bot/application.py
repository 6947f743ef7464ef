"""The bot's python-telegram-bot Application: handlers registered, command menus, limiter.

`build_bot(service)` returns the Application that `digestbot run` initializes, starts and
polls (or feeds from the webhook): updates handled concurrently, in order per user, with a
flood guard (`digestbot.bot.updates`); replies paced per chat (`digestbot.bot.limiter`).
`DigestBot` puts the reader handlers (`digestbot.bot.handlers`) and the admin ones
(`digestbot.bot.admin`) on it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from digestbot.bot.admin import CALLBACK_CANCEL, CALLBACK_PUBLISH, AdminHandlers
from digestbot.bot.handlers import CALLBACK_LANG, CALLBACK_PAGE, CALLBACK_PAPER, ReaderHandlers
from digestbot.bot.limiter import SharedLimiter
from digestbot.bot.replies import Context, Replies
from digestbot.bot.texts import ADMIN_COMMANDS, COMMANDS
from digestbot.bot.topic_handlers import CALLBACK_TOPIC, TopicHandlers
from digestbot.bot.updates import ReaderUpdateProcessor
from digestbot.delivery.ratelimit import RateLimiter
from digestbot.delivery.telegram import answering_request
from digestbot.errors import SettingsError
from digestbot.models import Language
from digestbot.service import Service

__all__ = ["BotApplication", "DigestBot", "DigestbotApplication", "build_bot"]

log = logging.getLogger("digestbot.bot")

BotApplication = Application[
    ExtBot[None],
    CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]],
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    None,
]

_NEW_MESSAGES = filters.UpdateType.MESSAGE  # not edits, not channel posts


class DigestBot:
    """The bot's handlers for ``service``, and the command menus it registers."""

    def __init__(self, service: Service) -> None:
        self.replies = Replies(service)
        self.readers = ReaderHandlers(self.replies)
        self.admin = AdminHandlers(self.replies)
        self.topics = TopicHandlers(self.replies)

    def install(self, application: BotApplication) -> None:
        """Register every handler and the error handler on ``application``."""
        readers, admin, topics = self.readers, self.admin, self.topics
        application.add_handler(TypeHandler(Update, readers.drop_bots), group=-1)
        commands: Sequence[tuple[str | tuple[str, ...], Callable[[Update, Context], Any]]] = (
            (("start", "help"), readers.help),
            ("paper", readers.paper),
            ("latest", readers.latest),
            ("week", readers.week),
            ("top", readers.top),
            ("subscribe", readers.subscribe),
            ("unsubscribe", readers.unsubscribe),
            ("lang", readers.lang),
            ("topics", topics.topics),
            ("follow", topics.follow),
            ("unfollow", topics.unfollow),
            ("following", topics.following),
            ("publish", admin.publish),
            ("status", admin.status),
        )
        for names, callback in commands:
            application.add_handler(CommandHandler(names, callback, filters=_NEW_MESSAGES))
        private = _NEW_MESSAGES & filters.ChatType.PRIVATE
        application.add_handler(MessageHandler(private & filters.COMMAND, readers.unknown_command))
        application.add_handler(MessageHandler(private & filters.TEXT, readers.plain_text))
        for callback, pattern in (
            (readers.open_paper, CALLBACK_PAPER),
            (readers.turn_page, CALLBACK_PAGE),
            (readers.choose_lang, CALLBACK_LANG),
            (topics.toggle, CALLBACK_TOPIC),
        ):
            application.add_handler(CallbackQueryHandler(callback, pattern=pattern))
        application.add_handler(
            CallbackQueryHandler(admin.confirm_publish, pattern=CALLBACK_PUBLISH, block=False)
        )
        application.add_handler(CallbackQueryHandler(admin.cancel_publish, pattern=CALLBACK_CANCEL))
        application.add_handler(CallbackQueryHandler(readers.stale_button))
        application.add_error_handler(readers.on_error)

    async def register_commands(self, bot: Bot) -> None:
        """setMyCommands: English by default, Chinese for ``zh`` users, admin extras."""
        try:
            await bot.set_my_commands(_commands(COMMANDS[Language.EN]))
            await bot.set_my_commands(_commands(COMMANDS[Language.ZH]), language_code="zh")
        except TelegramError as exc:
            log.warning("bot: could not register commands: %s", exc)
            return
        for admin in sorted(self.replies.admins):
            for lang, code in ((Language.EN, None), (Language.ZH, "zh")):
                try:
                    await bot.set_my_commands(
                        _commands(COMMANDS[lang] + ADMIN_COMMANDS[lang]),
                        scope=BotCommandScopeChat(admin),
                        language_code=code,
                    )
                except TelegramError as exc:  # the admin never opened a chat with the bot
                    log.info("bot: no admin command menu for user %s: %s", admin, exc)
                    break


def _commands(pairs: Sequence[tuple[str, str]]) -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in pairs]


class DigestbotApplication(BotApplication):
    """PTB's Application that registers the bot's command menus when initialized.

    `digestbot run` calls ``initialize()``/``start()`` itself, and PTB only runs
    ``post_init`` from ``run_polling``/``run_webhook``, so the setMyCommands calls hang
    off ``initialize()`` instead, once.
    """

    def __init__(self, *, on_initialize: Callable[[Bot], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_initialize = on_initialize
        self._menus_registered = False

    async def initialize(self) -> None:
        await super().initialize()
        if not self._menus_registered:
            self._menus_registered = True
            await self._on_initialize(self.bot)


def build_bot(service: Service) -> BotApplication:
    """The bot for ``service``: handlers installed, polling left to the caller."""
    settings = service.settings.telegram
    token = settings.token.get_secret_value() if settings.token is not None else ""
    if not token:
        raise SettingsError("DIGESTBOT_TELEGRAM__TOKEN is empty: set the token from @BotFather")
    shell = DigestBot(service)
    builder = (
        ApplicationBuilder()
        .application_class(DigestbotApplication, kwargs={"on_initialize": shell.register_commands})
        .token(token)
        .base_url(settings.api_url)
        # a reply's place in the rate windows ends when Telegram's answer arrives
        .request(answering_request(connection_pool_size=256))
        .job_queue(None)
    )
    if service.telegram_limiter is not None:  # shared with the sender: one budget per token
        builder = builder.rate_limiter(SharedLimiter(service.telegram_limiter))
    else:
        own = RateLimiter.from_settings(settings)
        builder = builder.rate_limiter(SharedLimiter(own, owned=True))
    builder = builder.concurrent_updates(ReaderUpdateProcessor(shell.readers.slow_down))
    application = builder.build()
    shell.install(application)
    service.on_give_up = functools.partial(shell.admin.report_give_ups, application.bot)
    return application
