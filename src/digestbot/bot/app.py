"""The Telegram bot: PTB handlers that parse a command, make one service call and reply.

`build_bot(service)` returns a python-telegram-bot `Application` that `digestbot run`
initializes, starts and polls. Commands: ``/start`` ``/help`` ``/paper`` ``/latest``
``/week`` ``/subscribe`` ``/unsubscribe`` ``/lang``; admins only: ``/publish`` and
``/status``. Replies are Telegram HTML with every user or content string escaped, in the
user's language (``/lang``, else their Telegram language), and fit in one message.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from digestbot.bot.limiter import SharedLimiter
from digestbot.bot.texts import ADMIN_COMMANDS, COMMANDS, Html, count, lang_name, t, ui_lang
from digestbot.delivery.telegram import retry_after_seconds
from digestbot.errors import DigestbotError, SettingsError, WeekError
from digestbot.metrics import record_bot_command
from digestbot.models import Issue, Language, Paper
from digestbot.render.telegram import MESSAGE_LIMIT, visible_len, visible_text
from digestbot.render.text import ELLIPSIS, escape_html, shorten, truncate_utf16
from digestbot.service import PublishReport, Service, StatusReport
from digestbot.weeks import Week

__all__ = ["BotApplication", "DigestBot", "build_bot"]

log = logging.getLogger("digestbot.bot")

Context = ContextTypes.DEFAULT_TYPE
BotApplication = Application[
    ExtBot[None],
    CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]],
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    None,
]
T = TypeVar("T")

PAGE_SIZE = 5
"""Search hits per page."""
MAX_RETRY_WAIT = 30.0
"""A reply sits out a 429 at most this long before giving up."""
QUERY_MEMORY = 1024
"""Searches remembered for paging buttons (callback data holds only a short key)."""
TITLE_UNITS = 300
SUMMARY_UNITS = 1500
BUTTON_UNITS = 48
ECHO_UNITS = 60
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

_CALLBACK_PAPER = re.compile(r"^p:(\S{1,60})$")
_CALLBACK_PAGE = re.compile(r"^q:([0-9a-f]{12}):(\d{1,4})$")
_CALLBACK_LANG = re.compile(r"^l:(zh|en)$")
_CALLBACK_PUBLISH = re.compile(r"^pub:(\S{1,40})$")
_CALLBACK_CANCEL = re.compile(r"^cancel:(\S{1,40})$")
_NEW_MESSAGES = filters.UpdateType.MESSAGE  # not edits, not channel posts


# -- message helpers ----------------------------------------------------------------------


def fit(html: str, limit: int = MESSAGE_LIMIT) -> str:
    """``html`` cut at line boundaries to ``limit`` UTF-16 units of visible text.

    Every line of a reply built here is balanced HTML on its own, so dropping whole
    lines keeps the markup valid; a single overlong line falls back to plain text.
    """
    if visible_len(html) <= limit:
        return html
    lines = html.split("\n")
    while len(lines) > 1:
        lines.pop()
        candidate = "\n".join([*lines, ELLIPSIS])
        if visible_len(candidate) <= limit:
            return candidate
    return escape_html(truncate_utf16(visible_text(html), limit))


def command_argument(message: Message | None) -> str:
    """What follows ``/command`` (or ``/command@bot``) in ``message``, stripped."""
    if message is None or not message.text:
        return ""
    parts = message.text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def link(url: str, label: str) -> str:
    return f'<a href="{escape_html(url)}">{escape_html(label)}</a>'


def query_key(text: str) -> str:
    """A short, stable key for a search, small enough for callback data."""
    return hashlib.blake2s(text.encode("utf-8"), digest_size=6).hexdigest()


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


def _is_unmodified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


# -- the bot ------------------------------------------------------------------------------


class DigestBot:
    """The handlers. Each one parses its update, makes one service call and replies."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.admins = frozenset(service.settings.telegram.admins)
        self.public_url = service.settings.public_url
        self._queries: dict[str, str] = {}

    def install(self, application: BotApplication) -> None:
        """Register every handler and the error handler on ``application``."""
        application.add_handler(TypeHandler(Update, self.drop_bots), group=-1)
        commands: Sequence[tuple[str | tuple[str, ...], Callable[[Update, Context], Any]]] = (
            (("start", "help"), self.help),
            ("paper", self.paper),
            ("latest", self.latest),
            ("week", self.week),
            ("subscribe", self.subscribe),
            ("unsubscribe", self.unsubscribe),
            ("lang", self.lang),
            ("publish", self.publish),
            ("status", self.status),
        )
        for names, callback in commands:
            application.add_handler(CommandHandler(names, callback, filters=_NEW_MESSAGES))
        private = _NEW_MESSAGES & filters.ChatType.PRIVATE
        application.add_handler(MessageHandler(private & filters.COMMAND, self.unknown_command))
        application.add_handler(MessageHandler(private & filters.TEXT, self.plain_text))
        application.add_handler(CallbackQueryHandler(self.open_paper, pattern=_CALLBACK_PAPER))
        application.add_handler(CallbackQueryHandler(self.turn_page, pattern=_CALLBACK_PAGE))
        application.add_handler(CallbackQueryHandler(self.choose_lang, pattern=_CALLBACK_LANG))
        application.add_handler(
            CallbackQueryHandler(self.confirm_publish, pattern=_CALLBACK_PUBLISH, block=False)
        )
        application.add_handler(CallbackQueryHandler(self.cancel_publish, pattern=_CALLBACK_CANCEL))
        application.add_handler(CallbackQueryHandler(self.stale_button))
        application.add_error_handler(self.on_error)

    async def register_commands(self, bot: Bot) -> None:
        """setMyCommands: English by default, Chinese for ``zh`` users, admin extras."""
        try:
            await bot.set_my_commands(_commands(COMMANDS[Language.EN]))
            await bot.set_my_commands(_commands(COMMANDS[Language.ZH]), language_code="zh")
        except TelegramError as exc:
            log.warning("bot: could not register commands: %s", exc)
            return
        for admin in sorted(self.admins):
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

    # -- plumbing ---------------------------------------------------------------------------

    async def lang_of(self, user: User | None) -> Language:
        if user is None:
            return Language.ZH
        return await self.service.user_lang(str(user.id), user.language_code)

    def is_admin(self, user: User | None) -> bool:
        return user is not None and user.id in self.admins

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        html: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
    ) -> Message:
        text = fit(html)
        reply = (
            ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        return await retrying(
            lambda: bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
                reply_parameters=reply,
            )
        )

    async def reply(
        self,
        update: Update,
        context: Context,
        html: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message | None:
        """Answer in the update's chat; in groups as a reply to the command."""
        chat = update.effective_chat
        if chat is None:
            return None
        reply_to = None
        if update.message is not None and chat.type != ChatType.PRIVATE:
            reply_to = update.message.message_id
        return await self.send(context.bot, chat.id, html, markup=markup, reply_to=reply_to)

    async def edit(
        self, update: Update, html: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Replace the text (and keyboard) of the message whose button was pressed."""
        query = update.callback_query
        if query is None:
            return
        try:
            await retrying(
                lambda: query.edit_message_text(
                    fit(html),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=NO_PREVIEW,
                )
            )
        except BadRequest as exc:
            if not _is_unmodified(exc):
                raise

    async def refuse(self, update: Update, context: Context, command: str) -> None:
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
        lang = await self.lang_of(user)
        text = t(lang, "help")
        if self.is_admin(user):
            text += t(lang, "help_admin")
        await self.reply(update, context, text)

    async def unknown_command(self, update: Update, context: Context) -> None:
        lang = await self.lang_of(update.effective_user)
        await self.reply(update, context, t(lang, "unknown_command"))

    async def plain_text(self, update: Update, context: Context) -> None:
        lang = await self.lang_of(update.effective_user)
        await self.reply(update, context, t(lang, "plain_text"))

    async def stale_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is not None:
            lang = await self.lang_of(update.effective_user)
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
                await self.reply(update, context, t(lang, "error"))
        except TelegramError as exc:
            log.warning("bot: could not report the failure of update %s: %s", update_id, exc)

    # -- /paper -----------------------------------------------------------------------------

    async def paper(self, update: Update, context: Context) -> None:
        lang = await self.lang_of(update.effective_user)
        raw = command_argument(update.effective_message)
        query = self.service.parse_query(raw)
        if query.kind == "empty":
            await self.reply(update, context, t(lang, "paper_usage"))
        elif query.kind == "too_long":
            await self.reply(update, context, t(lang, "paper_too_long", length=len(raw)))
        elif query.kind == "id":
            await self.reply(update, context, await self.paper_card(query.arxiv_id, lang))
        else:
            html, markup = self.results(query.text, 0, lang)
            await self.reply(update, context, html, markup)

    async def open_paper(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None or query.data is None:
            return
        match = _CALLBACK_PAPER.match(query.data)
        assert match is not None
        await query.answer()
        lang = await self.lang_of(update.effective_user)
        await self.send(context.bot, chat.id, await self.paper_card(match.group(1), lang))

    async def turn_page(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        match = _CALLBACK_PAGE.match(query.data)
        assert match is not None
        lang = await self.lang_of(update.effective_user)
        text = self._queries.get(match.group(1))
        if text is None:
            await query.answer(t(lang, "search_expired"), show_alert=True)
            return
        await query.answer()
        html, markup = self.results(text, int(match.group(2)), lang)
        await self.edit(update, html, markup)

    async def paper_card(self, arxiv_id: str, lang: Language) -> str:
        paper = self.service.paper(arxiv_id)
        if paper is None:
            return t(
                lang,
                "paper_unknown_id",
                arxiv_id=arxiv_id,
                abs_url=f"https://arxiv.org/abs/{arxiv_id}",
            )
        weeks = await self.service.issues_of_paper(paper.arxiv_id)
        return self.render_card(paper, weeks, lang)

    def render_card(self, paper: Paper, weeks: Sequence[str], lang: Language) -> str:
        ui = ui_lang(lang)
        first = paper.title(ui)
        second = paper.title_en if ui is Language.ZH else paper.title_zh
        lines = [f"<b>{escape_html(truncate_utf16(first, TITLE_UNITS))}</b>"]
        if second and second != first:
            lines.append(f"<i>{escape_html(truncate_utf16(second, TITLE_UNITS))}</i>")
        lines.append(f"arXiv {escape_html(paper.arxiv_id)} · {paper.date.isoformat()}")
        settings = self.service.settings
        summary = shorten(
            paper.summary(ui),
            ui,
            zh_chars=settings.summary_zh_chars,
            en_words=settings.summary_en_words,
        )
        if summary:
            lines += ["", escape_html(truncate_utf16(summary, SUMMARY_UNITS))]
        links = [link(paper.abs_url, "arXiv"), link(paper.pdf_url, "PDF")]
        if paper.links.code:
            links.append(link(paper.links.code, t(ui, "code")))
        if paper.links.project:
            links.append(link(paper.links.project, t(ui, "project")))
        links.append(link(paper.hf_url, "HF"))
        lines += ["", " · ".join(links)]
        if weeks:
            issues = ", ".join(link(f"{self.public_url}/issues/{w}", w) for w in weeks)
            lines.append(t(ui, "in_issues", issues=Html(issues)))
        else:
            lines.append(t(ui, "not_in_issue"))
        return "\n".join(lines)

    def results(
        self, text: str, page: int, lang: Language
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """One page of search hits for ``text`` and its buttons (open one, page on)."""
        ui = ui_lang(lang)
        offset = page * PAGE_SIZE
        found = self.service.find_papers(text, limit=PAGE_SIZE, offset=offset)
        echo = truncate_utf16(" ".join(text.split()), ECHO_UNITS)
        if not found.hits:
            return t(ui, "no_results", query=echo), None
        key = self.remember(text)
        last = offset + len(found.hits)
        lines = [
            t(
                ui,
                "results_head",
                query=echo,
                span=f"{offset + 1}–{last}" if last > offset + 1 else last,
                total=found.total if found.total_exact else f"{found.total}+",
            ),
            "",
        ]
        rows: list[list[InlineKeyboardButton]] = []
        for number, hit in enumerate(found.hits, start=offset + 1):
            title = hit.title_zh if ui is Language.ZH and hit.title_zh else hit.title_en
            lines.append(f"{number}. <b>{escape_html(truncate_utf16(title, TITLE_UNITS))}</b>")
            lines.append(f"arXiv {escape_html(hit.arxiv_id)} · {hit.date.isoformat()}")
            label = truncate_utf16(f"{number}. {title}", BUTTON_UNITS)
            rows.append([InlineKeyboardButton(label, callback_data=f"p:{hit.arxiv_id}")])
        lines += ["", t(ui, "results_hint")]
        nav: list[InlineKeyboardButton] = []
        if page > 0:
            nav.append(InlineKeyboardButton(t(ui, "prev"), callback_data=f"q:{key}:{page - 1}"))
        if last < found.total:
            nav.append(InlineKeyboardButton(t(ui, "next"), callback_data=f"q:{key}:{page + 1}"))
        if nav:
            rows.append(nav)
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    def remember(self, text: str) -> str:
        key = query_key(text)
        self._queries.pop(key, None)
        self._queries[key] = text
        while len(self._queries) > QUERY_MEMORY:
            del self._queries[next(iter(self._queries))]
        return key

    # -- issues -----------------------------------------------------------------------------

    async def latest(self, update: Update, context: Context) -> None:
        lang = await self.lang_of(update.effective_user)
        issue = await self.service.latest_issue()
        if issue is None:
            await self.reply(update, context, t(lang, "latest_none"))
            return
        await self.send_issue(update, context, issue, lang)

    async def week(self, update: Update, context: Context) -> None:
        lang = await self.lang_of(update.effective_user)
        arg = command_argument(update.effective_message)
        if not arg:
            await self.reply(update, context, t(lang, "week_usage"))
            return
        try:
            week = Week.parse(arg)
        except WeekError as exc:
            await self.reply(update, context, t(lang, "week_bad", error=exc))
            return
        issue = await self.service.published_issue(week)
        if issue is None:
            await self.reply(update, context, t(lang, "week_unpublished", week=week))
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
        lang = await self.lang_of(update.effective_user)
        if chat is None:
            return
        if chat.type != ChatType.PRIVATE:
            bot = context.bot.username
            await self.reply(
                update, context, t(lang, "group_only_private", url=f"https://t.me/{bot}", bot=bot)
            )
            return
        arg = command_argument(update.effective_message)
        try:
            wanted = Language.parse(arg) if arg else ui_lang(lang)
        except ValueError:
            await self.reply(update, context, t(lang, "subscribe_usage"))
            return
        await self.service.subscribe_telegram(str(chat.id), wanted)
        await self.reply(update, context, t(lang, "subscribed", language=lang_name(wanted, lang)))

    async def unsubscribe(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        lang = await self.lang_of(update.effective_user)
        if chat is None:
            return
        done = await self.service.unsubscribe_telegram(str(chat.id))
        await self.reply(update, context, t(lang, "unsubscribed" if done else "not_subscribed"))

    async def lang(self, update: Update, context: Context) -> None:
        user = update.effective_user
        lang = await self.lang_of(user)
        if user is None:
            return
        arg = command_argument(update.effective_message)
        if not arg:
            buttons = [
                InlineKeyboardButton("中文", callback_data="l:zh"),
                InlineKeyboardButton("English", callback_data="l:en"),
            ]
            await self.reply(update, context, t(lang, "lang_pick"), InlineKeyboardMarkup([buttons]))
            return
        try:
            wanted = Language.parse(arg)
        except ValueError:
            wanted = Language.BOTH
        if wanted is Language.BOTH:
            await self.reply(update, context, t(lang, "lang_usage"))
            return
        await self.service.set_user_lang(str(user.id), wanted)
        await self.reply(update, context, t(wanted, "lang_set"))

    async def choose_lang(self, update: Update, context: Context) -> None:
        query = update.callback_query
        user = update.effective_user
        if query is None or user is None or query.data is None:
            return
        wanted = Language(query.data.removeprefix("l:"))
        await self.service.set_user_lang(str(user.id), wanted)
        await query.answer()
        await self.edit(update, t(wanted, "lang_set"))

    # -- admins -----------------------------------------------------------------------------

    async def publish(self, update: Update, context: Context) -> None:
        user = update.effective_user
        if not self.is_admin(user):
            await self.refuse(update, context, "publish")
            return
        lang = await self.lang_of(user)
        arg = command_argument(update.effective_message)
        try:
            report = await self.service.publish(arg or None, dry_run=True)
        except DigestbotError as exc:
            await self.reply(update, context, t(lang, "publish_failed", week=arg, error=exc))
            return
        if report.already_published:
            await self.reply(update, context, t(lang, "publish_already", week=report.week))
            return
        buttons = [
            InlineKeyboardButton(t(lang, "publish_button"), callback_data=f"pub:{report.week}"),
            InlineKeyboardButton(t(lang, "cancel_button"), callback_data=f"cancel:{report.week}"),
        ]
        await self.reply(
            update, context, self.render_preview(report, lang), InlineKeyboardMarkup([buttons])
        )

    def render_preview(self, report: PublishReport, lang: Language) -> str:
        head = t(
            lang,
            "publish_preview",
            week=report.week,
            title=report.title,
            papers=count(lang, "papers", report.papers),
            destinations=count(lang, "destinations", len(report.destinations)),
        )
        return "\n".join([head, *(escape_html(note) for note in report.notes)])

    async def confirm_publish(self, update: Update, context: Context) -> None:
        """The preview's first button: publish through the service's one code path."""
        query = update.callback_query
        chat = update.effective_chat
        user = update.effective_user
        if query is None or chat is None or query.data is None:
            return
        if not self.is_admin(user):
            await self.refuse(update, context, "publish")
            return
        week = query.data.removeprefix("pub:")
        lang = await self.lang_of(user)
        await query.answer()
        await self.edit(update, t(lang, "publishing", week=week))
        try:
            report = await self.service.publish(week)
        except DigestbotError as exc:
            await self.edit(update, t(lang, "publish_failed", week=week, error=exc))
            return
        lines = [t(lang, "report_head"), *(escape_html(line) for line in report.lines())]
        await self.send(context.bot, chat.id, "\n".join(lines))
        await self.edit(update, t(lang, "published", week=week))

    async def cancel_publish(self, update: Update, context: Context) -> None:
        query = update.callback_query
        user = update.effective_user
        if query is None or query.data is None:
            return
        if not self.is_admin(user):
            await self.refuse(update, context, "publish")
            return
        lang = await self.lang_of(user)
        await query.answer()
        await self.edit(update, t(lang, "cancelled", week=query.data.removeprefix("cancel:")))

    async def status(self, update: Update, context: Context) -> None:
        user = update.effective_user
        if not self.is_admin(user):
            await self.refuse(update, context, "status")
            return
        lang = await self.lang_of(user)
        await self.reply(update, context, render_status(await self.service.status(), lang))


def render_status(report: StatusReport, lang: Language) -> str:
    lines = [t(lang, "status_head")]
    issue = report.last_issue
    if issue is None:
        lines.append(t(lang, "status_no_issue"))
    else:
        state = issue.status
        if issue.published_at is not None:
            state = t(lang, "published_at", when=issue.published_at.strftime("%Y-%m-%d %H:%M UTC"))
        title = issue.title_zh if ui_lang(lang) is Language.ZH else issue.title_en
        lines.append(
            t(
                lang,
                "status_last",
                week=issue.week,
                title=title,
                papers=len(issue.paper_ids),
                state=Html(state),
            )
        )
    if report.subscribers:
        counts = ", ".join(
            f"{channel} {status} {n}" for (channel, status), n in sorted(report.subscribers.items())
        )
        lines.append(t(lang, "status_subscribers", counts=counts))
    else:
        lines.append(t(lang, "status_no_subscribers"))
    lines.append(t(lang, "status_backlog", backlog=report.backlog))
    lines.append(t(lang, "status_papers", papers=report.papers))
    if report.next_run is not None:
        lines.append(t(lang, "status_next", next_run=report.next_run.isoformat(timespec="minutes")))
    else:
        lines.append(t(lang, "status_no_next"))
    return "\n".join(lines)


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
        .job_queue(None)
    )
    if service.telegram_limiter is not None:  # shared with the sender: one budget per token
        builder = builder.rate_limiter(SharedLimiter(service.telegram_limiter))
    application = builder.build()
    shell.install(application)
    return application


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
