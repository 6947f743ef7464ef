"""The bot's reply strings in Chinese and English, and `t` to fill them in safely.

Every template is Telegram HTML: literal ``<``, ``>`` and ``&`` are written as entities.
`t` escapes every value it inserts unless the value is marked `Html` (already escaped).
"""

from __future__ import annotations

from typing import Final

from digestbot.models import Language
from digestbot.render.text import escape_html

__all__ = [
    "ADMIN_COMMANDS",
    "COMMANDS",
    "TEXTS",
    "Html",
    "count",
    "lang_name",
    "note",
    "t",
    "term",
    "ui_lang",
]


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
    "/top [month|year] — the highest-scored papers of published issues\n"
    "/subscribe [zh|en|both] — get every issue here\n"
    "/unsubscribe — stop getting issues\n"
    "/lang [zh|en] — the language I reply in\n"
    "/topics — topics to follow; /follow &lt;topic | keywords&gt; — get just those papers; "
    "/following, /unfollow\n"
    "/help — this message\n"
    "\n"
    "Or just write a few keywords: I search the digest for them."
)
_HELP_ZH = (
    "<b>每周AI论文速递</b> · Weekly AI Papers\n"
    "每周精选最受关注的 AI 论文，附中英文简短摘要。\n"
    "\n"
    "/paper &lt;arXiv 编号 | arXiv 链接 | 关键词&gt; — 查找论文，例如 "
    "/paper 2404.08634 或 /paper 反馈注意力\n"
    "/latest — 最新一期\n"
    "/week &lt;周&gt; — 指定一期，例如 /week 2024-W16 或 /week 2024-04-17\n"
    "/top [month|year] — 已发布各期中得分最高的论文\n"
    "/subscribe [zh|en|both] — 在这里接收每一期\n"
    "/unsubscribe — 取消订阅\n"
    "/lang [zh|en] — 切换回复语言\n"
    "/topics — 可关注的主题；/follow &lt;主题 | 关键词&gt; — 只接收相关论文；"
    "/following、/unfollow\n"
    "/help — 显示本帮助\n"
    "\n"
    "也可以直接发几个关键词，我会在速递中搜索。"
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
        "error": "Sorry, something went wrong. Please try again in a moment.",
        "slow_down": (
            "You are sending commands faster than I can answer, so I skipped the last ones. "
            "Wait a few seconds, then send one again."
        ),
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
        "not_in_issue": "Coming in the next issue.",
        "draft": "📝 Draft: not published, only admins see it.",
        "top_head": "🏆 <b>Top papers {period}</b>",
        "top_all": "of all published issues",
        "top_month": "of the last 30 days",
        "top_year": "of the last 12 months",
        "top_line": "{n}. <b>{title}</b>\n▲ {score} · {week}",
        "top_none": "No issue has been published yet. Come back on Saturday!",
        "top_none_period": "No paper of a published issue {period}. Send /top for all of them.",
        "top_usage": "Send /top, /top month or /top year.",
        # issues
        "latest_none": "No issue has been published yet. Come back on Saturday!",
        "week_usage": (
            "Send /week followed by a week, e.g. /week 2024-W16 or a date inside it, "
            "/week 2024-04-17."
        ),
        "week_bad": (
            "“{arg}” is not a week. Send an ISO week like /week 2024-W16, or a date inside "
            "it like /week 2024-04-17."
        ),
        "week_unpublished": "Issue {week} has not been published. Send /latest for the newest.",
        # subscriptions and language
        "subscribe_usage": "Send /subscribe zh, /subscribe en or /subscribe both.",
        "subscribed": (
            "✅ Subscribed ({language}). Each new issue will arrive in this chat. "
            "Send /unsubscribe to stop."
        ),
        "already_subscribed": (
            "You are already subscribed ({language}): each new issue arrives in this chat. "
            "Send /unsubscribe to stop."
        ),
        "subscription_changed": "✅ Your subscription is now in {language}.",
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
        "publish_bad_week": (
            "“{arg}” is not a week. Send /publish 2024-W16, or a date inside the week like "
            "/publish 2024-04-17, or /publish alone for the next unpublished week."
        ),
        "publish_nothing": (
            "Nothing to publish: no week has ready papers that were not published yet. "
            "Import papers and set them ready first."
        ),
        "publish_refused": (
            "⚠️ {week} cannot be published: it holds invalid or draft papers. Fix them in "
            "the content store (<code>digestbot check</code> lists them):\n{details}"
        ),
        "report_title": "{week} {title}: {papers}",
        "report_channel": (
            "{channel}: {sent} sent, {retried} retried, {failed} failed, {skipped} skipped"
        ),
        "report_waiting": ", {n} waiting to retry",
        "report_failure": "  failed {channel} {address}: {error}",
        "report_done": "{week} published in {seconds} s.",
        "report_unfinished": (
            "{week} is not finished: the remaining deliveries are retried from the ledger "
            "(by <code>digestbot run</code>, or send /publish {week} again)."
        ),
        "note_preview": (
            "No channel or subscriber is configured yet: one preview copy per language "
            "went to the outbox folder (DIGESTBOT_OUTBOX_DIR)."
        ),
        "note_no_token": (
            "No Telegram token (DIGESTBOT_TELEGRAM__TOKEN): Telegram messages were written "
            "to the outbox folder instead of being sent."
        ),
        "note_no_smtp": (
            "No SMTP host (DIGESTBOT_SMTP__HOST): emails were written to the outbox folder "
            "as .eml files instead of being sent."
        ),
        "note_failures": (
            "Failures are recorded in the deliveries table (status failed, last_error)."
        ),
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
        "error": "抱歉，出了点问题，请稍后再试。",
        "slow_down": "你发得太快了，我跳过了刚才的几条。请等几秒钟再发。",
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
        "not_in_issue": "下一期将收录。",
        "draft": "📝 草稿：尚未发布，仅管理员可见。",
        "top_head": "🏆 <b>{period}得分最高的论文</b>",
        "top_all": "所有已发布各期中",
        "top_month": "近 30 天",
        "top_year": "近 12 个月",
        "top_line": "{n}. <b>{title}</b>\n▲ {score} · {week}",
        "top_none": "还没有发布过任何一期，周六再来看看吧！",
        "top_none_period": "{period}没有已发布的论文。发送 /top 查看全部。",
        "top_usage": "请发送 /top、/top month 或 /top year。",
        "latest_none": "还没有发布过任何一期，周六再来看看吧！",
        "week_usage": (
            "请发送 /week 加一周，例如 /week 2024-W16，或这一周内的日期 /week 2024-04-17。"
        ),
        "week_bad": (
            "“{arg}”不是一个有效的周。请发送 ISO 周，例如 /week 2024-W16，"
            "或这一周内的日期，例如 /week 2024-04-17。"
        ),
        "week_unpublished": "{week} 这一期尚未发布。发送 /latest 查看最新一期。",
        "subscribe_usage": "请发送 /subscribe zh、/subscribe en 或 /subscribe both。",
        "subscribed": (
            "✅ 已订阅（{language}）。每期新内容都会发到这个聊天。发送 /unsubscribe 可随时取消。"
        ),
        "already_subscribed": (
            "你已经订阅了（{language}），每期新内容都会发到这个聊天。发送 /unsubscribe 可取消。"
        ),
        "subscription_changed": "✅ 订阅语言已改为{language}。",
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
        "publish_bad_week": (
            "“{arg}”不是一个有效的周。请发送 /publish 2024-W16，或这一周内的日期，"
            "例如 /publish 2024-04-17；只发 /publish 则发布下一个尚未发布的周。"
        ),
        "publish_nothing": (
            "没有可发布的内容：没有哪一周有尚未发布的就绪论文。请先导入论文并标记为 ready。"
        ),
        "publish_refused": (
            "⚠️ {week} 无法发布：其中有无效或草稿状态的论文。请在内容库中修正"
            "（<code>digestbot check</code> 会列出它们）：\n{details}"
        ),
        "report_title": "{week} {title}：{papers}",
        "report_channel": (
            "{channel}：已发送 {sent}，重试 {retried}，失败 {failed}，跳过 {skipped}"
        ),
        "report_waiting": "，{n} 条等待重试",
        "report_failure": "  失败 {channel} {address}：{error}",
        "report_done": "{week} 已发布，用时 {seconds} 秒。",
        "report_unfinished": (
            "{week} 尚未发完：剩余的发送会从发送记录中继续重试"
            "（由 <code>digestbot run</code> 负责，或再次发送 /publish {week}）。"
        ),
        "note_preview": (
            "还没有配置任何频道或订阅者：每种语言的一份预览已写入发件箱目录"
            "（DIGESTBOT_OUTBOX_DIR）。"
        ),
        "note_no_token": (
            "没有 Telegram 令牌（DIGESTBOT_TELEGRAM__TOKEN）："
            "Telegram 消息写入了发件箱目录，没有发送。"
        ),
        "note_no_smtp": (
            "没有 SMTP 服务器（DIGESTBOT_SMTP__HOST）：邮件以 .eml 文件写入了发件箱目录，没有发送。"
        ),
        "note_failures": "失败记录在 deliveries 表中（status 为 failed，原因见 last_error）。",
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
        ("top", "Top papers: all, month or year"),
        ("subscribe", "Get every issue here (zh, en or both)"),
        ("unsubscribe", "Stop getting issues"),
        ("lang", "Reply language: zh or en"),
        ("topics", "Topics you can follow"),
        ("follow", "Follow a topic or keywords"),
        ("following", "What you follow"),
        ("unfollow", "Stop following a topic or keywords"),
        ("help", "What this bot does"),
    ),
    Language.ZH: (
        ("paper", "按 arXiv 编号、链接或关键词查找论文"),
        ("latest", "最新一期"),
        ("week", "指定一期，例如 /week 2024-W16"),
        ("top", "得分最高的论文：全部、month 或 year"),
        ("subscribe", "在这里接收每一期（zh、en 或 both）"),
        ("unsubscribe", "取消订阅"),
        ("lang", "回复语言：zh 或 en"),
        ("topics", "可关注的主题"),
        ("follow", "关注主题或关键词"),
        ("following", "我关注的"),
        ("unfollow", "取消关注"),
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


_TERMS: Final[dict[Language, dict[str, str]]] = {
    Language.EN: {},  # English shows the names as they are stored
    Language.ZH: {
        "telegram": "Telegram",
        "email": "邮件",
        "archive": "归档",
        "active": "已订阅",
        "pending": "待确认",
        "unsubscribed": "已退订",
        "bounced": "退信",
        "blocked": "已屏蔽",
        "sending": "发送中",
        "published": "已发布",
    },
}

_NOTES: Final[tuple[tuple[str, str], ...]] = (
    ("No channel or subscriber is configured yet", "note_preview"),
    ("No Telegram token", "note_no_token"),
    ("No SMTP host", "note_no_smtp"),
    ("Failures are recorded", "note_failures"),
)
"""The service's report notes (English, for the CLI) by how they start, and their texts."""


def term(lang: Language, name: str) -> str:
    """A stored name (channel, subscriber or issue status) as the user reads it."""
    return _TERMS[ui_lang(lang)].get(name, name)


def note(lang: Language, text: str) -> str:
    """A publish report's note in ``lang`` (HTML); an unknown note is shown as it is."""
    for start, key in _NOTES:
        if text.startswith(start):
            return t(lang, key)
    return escape_html(text)


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
