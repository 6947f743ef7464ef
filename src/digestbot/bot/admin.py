"""The admin commands: /publish (a preview, then publish or cancel by button) and /status.

Only user ids in DIGESTBOT_TELEGRAM__ADMINS may use them; everyone else, and every button
pressed by someone else, gets a polite refusal. Publishing goes through the service's one
code path, as the CLI and the scheduler do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from telegram import Bot, Update
from telegram.error import TelegramError

from digestbot.bot import views
from digestbot.bot.handlers import command_argument
from digestbot.bot.replies import Context, Replies
from digestbot.bot.texts import t, ui_lang
from digestbot.errors import DigestbotError
from digestbot.models import Language

__all__ = ["CALLBACK_CANCEL", "CALLBACK_PUBLISH", "AdminHandlers"]

log = logging.getLogger("digestbot.bot")

CALLBACK_PUBLISH = re.compile(r"^pub:(\S{1,40})$")
CALLBACK_CANCEL = re.compile(r"^cancel:(\S{1,40})$")


def english(lang: Language) -> bool:
    """Whether ``lang`` reads English titles (a report carries the Chinese one)."""
    return ui_lang(lang) is Language.EN


class AdminHandlers:
    """/publish with its confirm and cancel buttons, and /status."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.service = replies.service

    async def publish(self, update: Update, context: Context) -> None:
        """A dry run of the week: the preview, with publish and cancel buttons."""
        user = update.effective_user
        if not self.replies.is_admin(user):
            await self.replies.refuse(update, context, "publish")
            return
        lang = await self.replies.lang_of(user)
        arg = command_argument(update.effective_message)
        try:
            report = await self.service.publish(arg or None, dry_run="count")
        except DigestbotError as exc:
            await self.replies.reply(update, context, views.publish_error(exc, arg, lang))
            return
        if report.already_published:
            text = t(lang, "publish_already", week=report.week)
            await self.replies.reply(update, context, text)
            return
        issue = await self.service.issue_for(report.week)
        preview = views.publish_preview(report, lang, issue.title_en if english(lang) else None)
        await self.replies.reply(update, context, preview)

    async def confirm_publish(self, update: Update, context: Context) -> None:
        """The preview's first button: publish through the service's one code path."""
        query = update.callback_query
        chat = update.effective_chat
        user = update.effective_user
        if query is None or chat is None or query.data is None:
            return
        if not self.replies.is_admin(user):
            await self.replies.refuse(update, context, "publish")
            return
        week = query.data.removeprefix("pub:")
        lang = await self.replies.lang_of(user)
        await query.answer()
        await self.replies.edit(update, t(lang, "publishing", week=week))
        try:
            report = await self.service.publish(week)
        except DigestbotError as exc:
            await self.replies.edit(update, views.publish_error(exc, week, lang))
            return
        title = (await self.service.issue_for(week)).title_en if english(lang) else None
        await self.replies.send(context.bot, chat.id, views.delivery_report(report, lang, title))
        await self.replies.edit(update, t(lang, "published", week=week))

    async def cancel_publish(self, update: Update, context: Context) -> None:
        """The preview's second button: nothing is published."""
        query = update.callback_query
        user = update.effective_user
        if query is None or query.data is None:
            return
        if not self.replies.is_admin(user):
            await self.replies.refuse(update, context, "publish")
            return
        lang = await self.replies.lang_of(user)
        await query.answer()
        week = query.data.removeprefix("cancel:")
        await self.replies.edit(update, t(lang, "cancelled", week=week))

    async def status(self, update: Update, context: Context) -> None:
        user = update.effective_user
        if not self.replies.is_admin(user):
            await self.replies.refuse(update, context, "status")
            return
        lang = await self.replies.lang_of(user)
        report = await self.service.status()
        await self.replies.reply(update, context, views.status_text(report, lang))

    async def report_give_ups(
        self, bot: Bot, week: str, gave_up: Sequence[tuple[str, str, str]]
    ) -> None:
        """Tell every admin which deliveries a drain gave up, and why (each in their
        language). An admin the bot cannot reach is logged and skipped."""
        for admin in sorted(self.replies.admins):
            lang = await self.service.user_lang(str(admin))
            try:
                await self.replies.send(bot, admin, views.give_up_notice(week, gave_up, lang))
            except TelegramError as exc:
                log.warning("bot: could not tell admin %s about failed deliveries: %s", admin, exc)
