"""How the bot answers: one message per reply, fitted, 429s sat out, threaded in groups.

`Replies` is what every handler shares: the reader's language, who is an admin, sending a
new message, editing the one whose button was pressed, refusing admin commands politely.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, RetryAfter
from telegram.ext import ContextTypes

from digestbot.bot.texts import t
from digestbot.bot.views import Keyboard, Reply, fit
from digestbot.delivery.telegram import retry_after_seconds
from digestbot.models import Language
from digestbot.service import Service

__all__ = ["MAX_RETRY_WAIT", "NO_PREVIEW", "Context", "Replies", "markup", "retrying"]

log = logging.getLogger("digestbot.bot")

Context = ContextTypes.DEFAULT_TYPE
T = TypeVar("T")

MAX_RETRY_WAIT = 30.0
"""A reply sits out a 429 at most this long before giving up."""
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Run one Bot API call, sitting out short 429 answers (Telegram's flood control)."""
    for attempt in range(3):
        try:
            return await call()
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            if attempt == 2 or wait > MAX_RETRY_WAIT:
                raise
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """python-telegram-bot's inline keyboard for a view's button rows."""
    if keyboard is None:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in keyboard]
    )


def _is_unmodified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


class Replies:
    """Sending and editing the bot's messages for the handlers of one bot."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.admins = frozenset(service.settings.telegram.admins)

    async def lang_of(self, user: User | None) -> Language:
        """The language ``user`` reads: their /lang choice, else their Telegram language."""
        if user is None:
            return Language.ZH
        return await self.service.user_lang(str(user.id), user.language_code)

    def is_admin(self, user: User | None) -> bool:
        return user is not None and user.id in self.admins

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        reply: str | Reply,
        *,
        reply_to: int | None = None,
    ) -> Message:
        """A new message in ``chat_id`` (as a reply to ``reply_to`` if given)."""
        view = reply if isinstance(reply, Reply) else Reply(reply)
        text = fit(view.html)
        parameters = (
            ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        return await retrying(
            lambda: bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(view.keyboard),
                link_preview_options=NO_PREVIEW,
                reply_parameters=parameters,
            )
        )

    async def reply(self, update: Update, context: Context, reply: str | Reply) -> Message | None:
        """Answer in the update's chat; in groups as a reply to the command."""
        chat = update.effective_chat
        if chat is None:
            return None
        reply_to = None
        if update.message is not None and chat.type != ChatType.PRIVATE:
            reply_to = update.message.message_id
        return await self.send(context.bot, chat.id, reply, reply_to=reply_to)

    async def edit(self, update: Update, reply: str | Reply) -> None:
        """Replace the text (and keyboard) of the message whose button was pressed."""
        query = update.callback_query
        if query is None:
            return
        view = reply if isinstance(reply, Reply) else Reply(reply)
        try:
            await retrying(
                lambda: query.edit_message_text(
                    fit(view.html),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup(view.keyboard),
                    link_preview_options=NO_PREVIEW,
                )
            )
        except BadRequest as exc:
            if not _is_unmodified(exc):
                raise

    async def refuse(self, update: Update, context: Context, command: str) -> None:
        """An admin command from someone else: logged, and a polite no."""
        user = update.effective_user
        log.warning(
            "bot: /%s refused: user %s is not an admin",
            command,
            user.id if user else "unknown",
        )
        query = update.callback_query
        lang = await self.lang_of(user)
        if query is not None:
            await query.answer(t(lang, "admin_only_button"), show_alert=True)
        else:
            await self.reply(update, context, t(lang, "admin_only", command=command))
