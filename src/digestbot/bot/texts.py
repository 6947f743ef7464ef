"""The bot's reply strings in Chinese and English, and `t` to fill them in safely.

Every template is Telegram HTML: literal ``<``, ``>`` and ``&`` are written as entities.
`t` escapes every value it inserts unless the value is marked `Html` (already escaped).
"""

from __future__ import annotations

from typing import Final

from digestbot.models import Language
from digestbot.render.text import escape_html

__all__ = ["ADMIN_COMMANDS", "COMMANDS", "TEXTS", "Html", "count", "lang_name", "t", "ui_lang"]


class Html(str):
    """A string that is already valid Telegram HTML: `t` inserts it as it is."""

    __slots__ = ()


def ui_lang(lang: Language) -> Language:
    """The language the bot speaks to someone: English or Chinese (``both`` reads Chinese)."""
    return Language.EN if lang is Language.EN else Language.ZH


_HELP_EN = (
    "<b>Weekly AI Papers</b> · 每周AI论文速递\n"
    "Every week the most discussed AI papers, with short summaries in Chinese and English.\n"
    "\n"
    "/paper &lt;arXiv id | arXiv URL | keywords&gt; — find a paper, e.g. "
    "/paper 2404.08634 or /paper feedback attention\n"
    "/latest — the latest issue\n"
    "/week &lt;week&gt; — one issue, e.g. /week 2024-W16 or /week 2024-04-17\n"
    "/subscribe [zh|en|both] — get every issue here\n"
    "/unsubscribe — stop getting issues\n"
    "/lang [zh|en] — the language I reply in\n"
    "/help — this message"
)
_HELP_ZH = (
    "<b>每周AI论文速递</b> · Weekly AI Papers\n"
    "每周精选最受关注的 AI 论文，附中英文简短摘要。\n"
    "\n"
    "/paper &lt;arXiv 编号 | arXiv 链接 | 关键词&gt; — 查找论文，例如 "
    "/paper 2404.08634 或 /paper 反馈注意力\n"
    "/latest — 最新一期\n"
    "/week &lt;周&gt; — 指定一期，例如 /week 2024-W16 或 /week 2024-04-17\n"
    "/subscribe [zh|en|both] — 在这里接收每一期\n"
    "/unsubscribe — 取消订阅\n"
    "/lang [zh|en] — 切换回复语言\n"
    "/help — 显示本帮助"
)

TEXTS: Final[dict[Language, dict[str, str]]] = {
    Language.EN: {
        "help": _HELP_EN,
        "help_admin": (
            "\n\n<b>Admins</b>\n"
            "/publish [week] — preview an issue, then publish it\n"
            "/status — last issue, subscribers, backlog, next run"
        ),
        "unknown_command": "I don't know that command. Send /help to see what I can do.",
        "plain_text": (
            "To find a paper, send /paper followed by an arXiv id or keywords, "
            "e.g. /paper 2404.08634. /help lists everything I can do."
        ),
        "error": "Sorry, something went wrong. Please try again in a moment.",
        "group_only_private": (
            "Subscriptions are private: send /subscribe to me in a private chat: "
            '<a href="{url}">@{bot}</a>'
        ),
        # /paper
        "paper_usage": (
            "Send /paper followed by an arXiv id, an arXiv link or keywords, e.g. "
            "/paper 2404.08634, /paper https://arxiv.org/abs/2404.09173 or "
            "/paper feedback attention."
        ),
        "paper_too_long": (
            "That query is too long ({length} characters). Send a few keywords or an "
            "arXiv id instead, e.g. /paper 2404.08634 or /paper feedback attention."
        ),
        "paper_unknown_id": (
            "arXiv {arxiv_id} is not in the digest yet. "
            '<a href="{abs_url}">Open it on arXiv</a>, or search by keywords: '
            "/paper feedback attention"
        ),
        "no_results": (
            "Nothing in the digest matches “{query}”. Try other keywords or an arXiv id, "
            "e.g. /paper 2404.08634 or /paper 反馈注意力."
        ),
        "results_head": "🔎 <b>“{query}”</b>: papers {span} of {total}",
        "results_hint": "Press a button to open a paper.",
        "prev": "◀ Previous",
        "next": "Next ▶",
        "search_expired": "This search has expired: send /paper again.",
        "links": "Links",
        "code": "Code",
        "project": "Project",
        "in_issues": "In the digest: {issues}",
        "not_in_issue": "Not in a published issue yet.",
        # issues
        "latest_none": "No issue has been published yet. Come back on Saturday!",
        "week_usage": (
            "Send /week followed by a week, e.g. /week 2024-W16 or a date inside it, "
            "/week 2024-04-17."
        ),
        "week_bad": "{error}",
        "week_unpublished": "Issue {week} has not been published. Send /latest for the newest.",
        # subscriptions and language
        "subscribe_usage": "Send /subscribe zh, /subscribe en or /subscribe both.",
        "subscribed": (
            "✅ Subscribed ({language}). Each new issue will arrive in this chat. "
            "Send /unsubscribe to stop."
        ),
        "unsubscribed": "You are unsubscribed. Send /subscribe to get issues again.",
        "not_subscribed": "You were not subscribed. Send /subscribe to get every issue here.",
        "lang_pick": "Which language should I reply in?",
        "lang_set": "OK, I will reply in English.",
        "lang_usage": "Send /lang zh or /lang en.",
        # admin
        "admin_only": (
            "Sorry, /{command} is only for the digest's admins. Send /help to see what you can do."
        ),
        "admin_only_button": "Sorry, only the digest's admins can do this.",
        "publish_already": "{week} is already published: nothing new to send.",
        "publish_preview": "<b>Publish {week}?</b>\n{title}\n{papers} → {destinations}",
        "papers_1": "1 paper",
        "papers_n": "{n} papers",
        "destinations_1": "1 destination",
        "destinations_n": "{n} destinations",
        "publish_button": "✅ Publish",
        "cancel_button": "✖ Cancel",
        "publishing": "⏳ Publishing {week}…",
        "published": "✅ {week}: done, see the report below.",
        "publish_failed": "⚠️ {week} could not be published: {error}",
        "cancelled": "Cancelled: {week} was not published.",
        "report_head": "<b>Delivery report</b>",
        "status_head": "<b>Status</b>",
        "status_last": "Last issue: {week} {title} ({papers} papers, {state})",
        "status_no_issue": "Last issue: none published yet",
        "status_subscribers": "Subscribers: {counts}",
        "status_no_subscribers": "Subscribers: none",
        "status_backlog": "Ledger backlog: {backlog} deliveries waiting",
        "status_papers": "Papers in the content store: {papers}",
        "status_next": "Next scheduled run: {next_run}",
        "status_no_next": "Next scheduled run: the scheduler is not running",
        "status_failed": "Failed deliveries: {n} (retry with "
        "<code>digestbot publish --retry-failed --week W</code>)",
        "status_failure": "• {week} {channel} {address}: {reason}",
        "gave_up_head": "⚠️ <b>{week}: {n} deliveries given up</b>",
        "gave_up_more": "… and {n} more",
        "gave_up_hint": "Retry them with "
        "<code>digestbot publish --retry-failed --week {week}</code>.",
        "published_at": "published {when}",
    },
    Language.ZH: {
        "help": _HELP_ZH,
        "help_admin": (
            "\n\n<b>管理员</b>\n/publish [周] — 预览并发布一期\n"
            "/status — 最新一期、订阅数、待发队列、下次运行"
        ),
        "unknown_command": "我不认识这个命令。发送 /help 查看我能做什么。",
        "plain_text": (
            "查找论文请发送 /paper 加 arXiv 编号或关键词，例如 /paper 2404.08634。"
            "发送 /help 查看全部命令。"
        ),
        "error": "抱歉，出了点问题，请稍后再试。",
        "group_only_private": (
            '订阅只在私聊中进行：请在与我的私聊里发送 /subscribe：<a href="{url}">@{bot}</a>'
        ),
        "paper_usage": (
            "请发送 /paper 加 arXiv 编号、arXiv 链接或关键词，例如 /paper 2404.08634、"
            "/paper https://arxiv.org/abs/2404.09173 或 /paper 反馈注意力。"
        ),
        "paper_too_long": (
            "查询太长了（{length} 个字符）。请发送几个关键词或一个 arXiv 编号，"
            "例如 /paper 2404.08634 或 /paper 反馈注意力。"
        ),
        "paper_unknown_id": (
            "速递中还没有 arXiv {arxiv_id}。"
            '<a href="{abs_url}">在 arXiv 上查看</a>，或用关键词搜索：/paper 反馈注意力'
        ),
        "no_results": (
            "速递中没有找到与“{query}”相关的论文。换个关键词或 arXiv 编号试试，"
            "例如 /paper 2404.08634 或 /paper 反馈注意力。"
        ),
        "results_head": "🔎 <b>“{query}”</b>：第 {span} 篇，共 {total} 篇",
        "results_hint": "点按钮查看论文详情。",
        "prev": "◀ 上一页",
        "next": "下一页 ▶",
        "search_expired": "这次搜索已过期，请重新发送 /paper。",
        "links": "链接",
        "code": "代码",
        "project": "项目主页",
        "in_issues": "收录于：{issues}",
        "not_in_issue": "尚未收录于已发布的期刊。",
        "latest_none": "还没有发布过任何一期，周六再来看看吧！",
        "week_usage": (
            "请发送 /week 加一周，例如 /week 2024-W16，或这一周内的日期 /week 2024-04-17。"
        ),
        "week_bad": "{error}",
        "week_unpublished": "{week} 这一期尚未发布。发送 /latest 查看最新一期。",
        "subscribe_usage": "请发送 /subscribe zh、/subscribe en 或 /subscribe both。",
        "subscribed": (
            "✅ 已订阅（{language}）。每期新内容都会发到这个聊天。发送 /unsubscribe 可随时取消。"
        ),
        "unsubscribed": "已取消订阅。发送 /subscribe 可重新订阅。",
        "not_subscribed": "你还没有订阅。发送 /subscribe 即可在这里接收每一期。",
        "lang_pick": "你希望我用哪种语言回复？",
        "lang_set": "好的，我会用中文回复。",
        "lang_usage": "请发送 /lang zh 或 /lang en。",
        "admin_only": "抱歉，/{command} 仅限速递管理员使用。发送 /help 查看你可以使用的命令。",
        "admin_only_button": "抱歉，只有速递管理员可以这样做。",
        "publish_already": "{week} 已经发布过了，没有新的内容要发送。",
        "publish_preview": "<b>发布 {week}？</b>\n{title}\n{papers} → {destinations}",
        "papers_1": "1 篇论文",
        "papers_n": "{n} 篇论文",
        "destinations_1": "1 个目的地",
        "destinations_n": "{n} 个目的地",
        "publish_button": "✅ 发布",
        "cancel_button": "✖ 取消",
        "publishing": "⏳ 正在发布 {week}…",
        "published": "✅ {week}：已完成，报告见下方。",
        "publish_failed": "⚠️ {week} 无法发布：{error}",
        "cancelled": "已取消：{week} 没有发布。",
        "report_head": "<b>发送报告</b>",
        "status_head": "<b>状态</b>",
        "status_last": "最新一期：{week} {title}（{papers} 篇，{state}）",
        "status_no_issue": "最新一期：尚未发布",
        "status_subscribers": "订阅者：{counts}",
        "status_no_subscribers": "订阅者：无",
        "status_backlog": "待发送队列：{backlog} 条",
        "status_papers": "内容库论文数：{papers}",
        "status_next": "下次定时运行：{next_run}",
        "status_no_next": "下次定时运行：调度器未运行",
        "status_failed": "发送失败：{n} 条"
        "（用 <code>digestbot publish --retry-failed --week W</code> 重试）",
        "status_failure": "• {week} {channel} {address}：{reason}",
        "gave_up_head": "⚠️ <b>{week}：{n} 条发送已放弃</b>",
        "gave_up_more": "……另有 {n} 条",
        "gave_up_hint": "用 <code>digestbot publish --retry-failed --week {week}</code> 重试。",
        "published_at": "发布于 {when}",
    },
}

_LANG_NAMES: Final[dict[Language, dict[Language, str]]] = {
    Language.EN: {
        Language.ZH: "Chinese",
        Language.EN: "English",
        Language.BOTH: "Chinese + English",
    },
    Language.ZH: {Language.ZH: "中文", Language.EN: "英文", Language.BOTH: "中英双语"},
}

COMMANDS: Final[dict[Language, tuple[tuple[str, str], ...]]] = {
    Language.EN: (
        ("paper", "Find a paper by arXiv id, link or keywords"),
        ("latest", "The latest issue"),
        ("week", "One issue, e.g. /week 2024-W16"),
        ("subscribe", "Get every issue here (zh, en or both)"),
        ("unsubscribe", "Stop getting issues"),
        ("lang", "Reply language: zh or en"),
        ("help", "What this bot does"),
    ),
    Language.ZH: (
        ("paper", "按 arXiv 编号、链接或关键词查找论文"),
        ("latest", "最新一期"),
        ("week", "指定一期，例如 /week 2024-W16"),
        ("subscribe", "在这里接收每一期（zh、en 或 both）"),
        ("unsubscribe", "取消订阅"),
        ("lang", "回复语言：zh 或 en"),
        ("help", "使用帮助"),
    ),
}
"""What setMyCommands registers: English as the default, Chinese for ``language_code=zh``."""

ADMIN_COMMANDS: Final[dict[Language, tuple[tuple[str, str], ...]]] = {
    Language.EN: (
        ("publish", "Admins: preview and publish an issue"),
        ("status", "Admins: last issue, subscribers, backlog"),
    ),
    Language.ZH: (
        ("publish", "管理员：预览并发布一期"),
        ("status", "管理员：最新一期、订阅数、待发队列"),
    ),
}


def lang_name(lang: Language, shown_in: Language) -> str:
    """The name of ``lang`` written in the user's language ``shown_in``."""
    return _LANG_NAMES[ui_lang(shown_in)][lang]


def count(lang: Language, key: str, n: int) -> Html:
    """``n`` things, singular or plural: ``key`` names the ``<key>_1``/``<key>_n`` texts."""
    return Html(t(lang, f"{key}_1" if n == 1 else f"{key}_n", n=n))


def t(lang: Language, key: str, /, **values: object) -> str:
    """The ``key`` text in ``lang`` with ``values`` filled in, each escaped unless `Html`."""
    template = TEXTS[ui_lang(lang)][key]
    if not values:
        return template
    return template.format(
        **{k: v if isinstance(v, Html) else escape_html(str(v)) for k, v in values.items()}
    )
