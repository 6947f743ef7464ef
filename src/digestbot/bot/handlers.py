"""The reader commands: /start /help /paper /latest /week /subscribe /unsubscribe /lang.

Each handler parses its update, makes one service call, renders the reply with
`digestbot.bot.views` and sends it through `Replies`. Plus the fallbacks every chat meets:
unknown commands, plain text, stale buttons, other bots, and the error handler.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from digestbot.bot import views
from digestbot.bot.replies import NO_PREVIEW, Context, Replies, retrying
from digestbot.bot.texts import lang_name, t, ui_lang
from digestbot.errors import WeekError
from digestbot.metrics import record_bot_command
from digestbot.models import Issue, Language
from digestbot.weeks import Week

__all__ = [
    "CALLBACK_LANG",
    "CALLBACK_PAGE",
    "CALLBACK_PAPER",
    "QUERY_MEMORY",
    "ReaderHandlers",
    "command_argument",
    "query_key",
]

log = logging.getLogger("digestbot.bot")

QUERY_MEMORY = 1024
"""Searches remembered for paging buttons (callback data holds only a short key)."""

CALLBACK_PAPER = re.compile(r"^p:(\S{1,60})$")
CALLBACK_PAGE = re.compile(r"^q:([0-9a-f]{12}):(\d{1,4})$")
CALLBACK_LANG = re.compile(r"^l:(zh|en)$")


def command_argument(message: Message | None) -> str:
    """What follows ``/command`` (or ``/command@bot``) in ``message``, stripped."""
    if message is None or not message.text:
        return ""
    parts = message.text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def query_key(text: str) -> str:
    """A short, stable key for a search, small enough for callback data."""
    return hashlib.blake2s(text.encode("utf-8"), digest_size=6).hexdigest()


class ReaderHandlers:
    """What anyone can ask the bot."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.service = replies.service
        self._queries: dict[str, str] = {}

    # -- filters and fallbacks --------------------------------------------------------------

    async def drop_bots(self, update: Update, context: Context) -> None:
        """Other bots never get an answer (nor do we answer ourselves); commands are counted."""
        user = update.effective_user
        if user is not None and user.is_bot:
            raise ApplicationHandlerStop
        message = update.effective_message
        if message is not None and message.text and message.text.startswith("/"):
            record_bot_command(message.text.split(maxsplit=1)[0])

    async def help(self, update: Update, context: Context) -> None:
        user = update.effective_user
        lang = await self.replies.lang_of(user)
        text = views.help_text(lang, admin=self.replies.is_admin(user))
        await self.replies.reply(update, context, text)

    async def unknown_command(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        await self.replies.reply(update, context, t(lang, "unknown_command"))

    async def plain_text(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        await self.replies.reply(update, context, t(lang, "plain_text"))

    async def stale_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is not None:
            lang = await self.replies.lang_of(update.effective_user)
            await query.answer(t(lang, "search_expired"))

    async def on_error(self, update: object, context: Context) -> None:
        """Log the failure; tell the user, if there is one, to try again."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("bot: update %s failed: %r", update_id, context.error, exc_info=context.error)
        if not isinstance(update, Update):
            return
        user = update.effective_user
        code = user.language_code if user is not None else None
        lang = Language.EN if code and not code.lower().startswith("zh") else Language.ZH
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(t(lang, "error"), show_alert=True)
            elif update.effective_chat is not None and update.message is not None:
                await self.replies.reply(update, context, t(lang, "error"))
        except TelegramError as exc:
            log.warning("bot: could not report the failure of update %s: %s", update_id, exc)

    # -- /paper -----------------------------------------------------------------------------

    async def paper(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        raw = command_argument(update.effective_message)
        query = self.service.parse_query(raw)
        if query.kind == "empty":
            await self.replies.reply(update, context, t(lang, "paper_usage"))
        elif query.kind == "too_long":
            await self.replies.reply(update, context, t(lang, "paper_too_long", length=len(raw)))
        elif query.kind == "id":
            await self.replies.reply(update, context, await self.paper_card(query.arxiv_id, lang))
        else:
            await self.replies.reply(update, context, self.results(query.text, 0, lang))

    async def open_paper(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None or query.data is None:
            return
        match = CALLBACK_PAPER.match(query.data)
        assert match is not None
        await query.answer()
        lang = await self.replies.lang_of(update.effective_user)
        card = await self.paper_card(match.group(1), lang)
        await self.replies.send(context.bot, chat.id, card)

    async def turn_page(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        match = CALLBACK_PAGE.match(query.data)
        assert match is not None
        lang = await self.replies.lang_of(update.effective_user)
        text = self._queries.get(match.group(1))
        if text is None:
            await query.answer(t(lang, "search_expired"), show_alert=True)
            return
        await query.answer()
        await self.replies.edit(update, self.results(text, int(match.group(2)), lang))

    async def paper_card(self, arxiv_id: str, lang: Language) -> str:
        """The card of ``arxiv_id``, or where to find it if the digest does not hold it."""
        paper = self.service.paper(arxiv_id)
        if paper is None:
            return views.unknown_paper(arxiv_id, lang)
        weeks = await self.service.issues_of_paper(paper.arxiv_id)
        settings = self.service.settings
        budget = views.SummaryBudget(settings.summary_zh_chars, settings.summary_en_words)
        return views.paper_card(
            paper,
            weeks,
            lang,
            public_url=settings.public_url,
            budget=budget,
            templates=self.service.templates,
        )

    def results(self, text: str, page: int, lang: Language) -> views.Reply:
        """One page of search hits for ``text`` and its buttons (open one, page on)."""
        offset = page * views.PAGE_SIZE
        found = self.service.find_papers(text, limit=views.PAGE_SIZE, offset=offset)
        key = self.remember(text) if found.hits else ""
        return views.search_results(found, text, page, key, lang)

    def remember(self, text: str) -> str:
        key = query_key(text)
        self._queries.pop(key, None)
        self._queries[key] = text
        while len(self._queries) > QUERY_MEMORY:
            del self._queries[next(iter(self._queries))]
        return key

    # -- issues -----------------------------------------------------------------------------

    async def latest(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        issue = await self.service.latest_issue()
        if issue is None:
            await self.replies.reply(update, context, t(lang, "latest_none"))
            return
        await self.send_issue(update, context, issue, lang)

    async def week(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        arg = command_argument(update.effective_message)
        if not arg:
            await self.replies.reply(update, context, t(lang, "week_usage"))
            return
        try:
            week = Week.parse(arg)
        except WeekError as exc:
            await self.replies.reply(update, context, t(lang, "week_bad", error=exc))
            return
        issue = await self.service.published_issue(week)
        if issue is None:
            await self.replies.reply(update, context, t(lang, "week_unpublished", week=week))
            return
        await self.send_issue(update, context, issue, lang)

    async def send_issue(
        self, update: Update, context: Context, issue: Issue, lang: Language
    ) -> None:
        """The issue's messages exactly as subscribers in ``lang`` receive them."""
        chat = update.effective_chat
        if chat is None:
            return
        for part in self.service.content_for(issue).telegram(lang):
            send = functools.partial(
                context.bot.send_message,
                chat.id,
                part,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
            await retrying(send)

    # -- subscriptions and language ---------------------------------------------------------

    async def subscribe(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        lang = await self.replies.lang_of(update.effective_user)
        if chat is None:
            return
        if chat.type != ChatType.PRIVATE:
            text = views.subscribe_in_private(lang, context.bot.username)
            await self.replies.reply(update, context, text)
            return
        arg = command_argument(update.effective_message)
        try:
            wanted = Language.parse(arg) if arg else ui_lang(lang)
        except ValueError:
            await self.replies.reply(update, context, t(lang, "subscribe_usage"))
            return
        await self.service.subscribe_telegram(str(chat.id), wanted)
        text = t(lang, "subscribed", language=lang_name(wanted, lang))
        await self.replies.reply(update, context, text)

    async def unsubscribe(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        lang = await self.replies.lang_of(update.effective_user)
        if chat is None:
            return
        done = await self.service.unsubscribe_telegram(str(chat.id))
        text = t(lang, "unsubscribed" if done else "not_subscribed")
        await self.replies.reply(update, context, text)

    async def lang(self, update: Update, context: Context) -> None:
        user = update.effective_user
        lang = await self.replies.lang_of(user)
        if user is None:
            return
        arg = command_argument(update.effective_message)
        if not arg:
            await self.replies.reply(update, context, views.lang_picker(lang))
            return
        try:
            wanted = Language.parse(arg)
        except ValueError:
            wanted = Language.BOTH
        if wanted is Language.BOTH:
            await self.replies.reply(update, context, t(lang, "lang_usage"))
            return
        await self.service.set_user_lang(str(user.id), wanted)
        await self.replies.reply(update, context, t(wanted, "lang_set"))

    async def choose_lang(self, update: Update, context: Context) -> None:
        query = update.callback_query
        user = update.effective_user
        if query is None or user is None or query.data is None:
            return
        wanted = Language(query.data.removeprefix("l:"))
        await self.service.set_user_lang(str(user.id), wanted)
        await query.answer()
        await self.replies.edit(update, t(wanted, "lang_set"))
