"""Words of the web pages the render layer does not have: forms, messages, error pages."""

from __future__ import annotations

from dataclasses import dataclass

from digestbot.models import Language

#: key → (中文, English). Placeholders are filled with ``str.format`` after escaping by Jinja.
STRINGS: dict[str, tuple[str, str]] = {
    "language": ("语言", "Language"),
    "lang_zh": ("中文", "Chinese"),
    "lang_en": ("英文", "English"),
    "lang_both": ("中英双语", "Chinese and English"),
    "search_title": ("搜索论文", "Search papers"),
    "search_label": ("关键词、作者或 arXiv 编号", "Keywords, an author or an arXiv id"),
    "search_button": ("搜索", "Search"),
    "search_prompt": (
        "输入关键词、作者或 arXiv 编号，搜索往期介绍过的论文。",
        "Type keywords, an author or an arXiv id to search every paper we covered.",
    ),
    "search_total": ("找到 {total} 篇论文", "{total} papers found"),
    "search_range": ("第 {first}–{last} 篇", "showing {first}–{last}"),
    "search_none": ("没有找到相关论文，换个关键词试试。", "No paper matches: try other words."),
    "search_too_long": (
        "搜索词太长了，请缩短后再试。",
        "The search is too long: shorten it and try again.",
    ),
    "topics_title": ("主题", "Topics"),
    "topic_empty": ("这个主题还没有已发布的论文。", "No published paper on this topic yet."),
    "topic_not_found": ("没有名为 {slug} 的主题。", "There is no topic {slug}."),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "subscribe_title": ("邮件订阅", "Subscribe by email"),
    "subscribe_intro": (
        "每周一封邮件：本周值得读的 AI 论文和简短的中英文介绍。随时可以一键退订。",
        "One email a week: the AI papers worth reading, with short summaries. "
        "Unsubscribe in one click at any time.",
    ),
    "email_label": ("邮箱地址", "Email address"),
    "lang_label": ("邮件语言", "Language of the emails"),
    "subscribe_button": ("订阅", "Subscribe"),
    "email_invalid": (
        "这不是有效的邮箱地址，请检查后重试。",
        "That is not a valid email address: check it and try again.",
    ),
    "lang_invalid": ("请选择中文、英文或中英双语。", "Choose Chinese, English or both."),
    "check_inbox_title": ("请查收确认邮件", "Check your inbox"),
    "check_inbox": (
        "如果这个地址可以订阅，我们已经给它发了一封确认邮件。打开邮件里的链接，即可完成订阅。",
        "If this address can be subscribed, we have sent it a confirmation email. "
        "Open the link in it to finish.",
    ),
    "confirm_title": ("确认订阅", "Confirm your subscription"),
    "confirm_text": (
        "点击下面的按钮，确认用 {address} 订阅每周AI论文速递。",
        "Press the button to subscribe {address} to Weekly AI Papers.",
    ),
    "confirm_button": ("确认订阅", "Confirm subscription"),
    "confirming": ("正在确认……", "Confirming…"),
    "confirmed_title": ("订阅成功", "You are subscribed"),
    "confirmed_text": (
        "{address} 从下一期开始每周会收到一封邮件。",
        "{address} will get one email a week, starting with the next issue.",
    ),
    "confirmed_welcome": (
        "最新一期已经发往 {address}，之后每周一封。",
        "The latest issue is on its way to {address}; then one email a week.",
    ),
    "already_confirmed_title": ("已经确认过了", "Already confirmed"),
    "already_confirmed": (
        "{address} 的订阅已经确认过了，不需要再做什么。",
        "The subscription of {address} is already confirmed: nothing more to do.",
    ),
    "unsubscribe_title": ("退订", "Unsubscribe"),
    "unsubscribe_text": (
        "点击下面的按钮，不再向 {address} 发送每周AI论文速递。",
        "Press the button to stop sending Weekly AI Papers to {address}.",
    ),
    "unsubscribe_button": ("退订", "Unsubscribe"),
    "unsubscribed_title": ("已退订", "You are unsubscribed"),
    "unsubscribed_text": (
        "{address} 不会再收到每周AI论文速递。想回来的话，随时可以重新订阅。",
        "{address} will get no more issues of Weekly AI Papers. You can subscribe again "
        "at any time.",
    ),
    "preferences_title": ("订阅设置", "Your subscription"),
    "preferences_text": (
        "{address} 的订阅设置：选择邮件的语言和关注的主题，或者退订。",
        "The subscription of {address}: choose the language of its emails and the topics you "
        "follow, or unsubscribe.",
    ),
    "preferences_saved": ("已保存。", "Saved."),
    "topics_label": ("关注的主题", "Topics you follow"),
    "topics_hint": (
        "勾选的主题的论文排在邮件前面；也可以只接收这些论文。",
        "Papers of the topics you tick come first in each email; or get only those papers.",
    ),
    "only_mine_label": (
        "只接收我关注的主题的论文（某一期没有相关论文时不发邮件）",
        "Only the papers of my topics (no email in a week that has none)",
    ),
    "save_button": ("保存", "Save"),
    "not_subscribed": (
        "{address} 目前没有订阅。可以重新订阅。",
        "{address} is not subscribed at the moment. You can subscribe again.",
    ),
    "leave_text": (
        "不想再收到每周AI论文速递了？一键退订，随时可以回来。",
        "Rather not get Weekly AI Papers any more? Unsubscribe in one click; come back any time.",
    ),
    "on_telegram": ("也可以在 Telegram 上阅读：", "Also on Telegram:"),
    "telegram_chat": ("Telegram 会话 {address}", "the Telegram chat {address}"),
    "bad_token_title": ("链接无效", "This link does not work"),
    "bad_token": (
        "这个链接无效：它被修改过或不完整。请从邮件里完整复制链接。",
        "This link is not valid: it was changed or cut short. Copy the whole link from the email.",
    ),
    "expired_token": (
        "这个确认链接已过期，请重新订阅，我们会发一封新的确认邮件。",
        "This confirmation link has expired: subscribe again and we will send a new one.",
    ),
    "not_found_title": ("找不到这个页面", "Page not found"),
    "not_found": (
        "这个地址没有内容。可以看看往期，或者搜索论文。",
        "Nothing lives at this address. Try the archive or search for a paper.",
    ),
    "issue_not_found": ("{week} 这一期还没有发布。", "The issue {week} has not been published."),
    "week_invalid": (
        "“{week}” 不是一个周：请用 2024-W16 或 2024-04-17 这样的写法。",
        "“{week}” is not a week: write it like 2024-W16 or 2024-04-17.",
    ),
    "paper_not_found": ("没有编号为 {id} 的论文。", "No paper has the id {id}."),
    "method_title": ("不支持这种请求", "Method not allowed"),
    "method": (
        "这个地址不接受这种请求方式。",
        "This address does not take that kind of request.",
    ),
    "too_many_title": ("请求太频繁", "Too many requests"),
    "too_many": ("请在 {seconds} 秒后再试。", "Try again in {seconds} seconds."),
    "forbidden_title": ("请求被拒绝", "Request refused"),
    "cross_site": (
        "这个表单只能从本站提交。请打开本站页面后再试。",
        "This form can only be sent from this site: open the page here and try again.",
    ),
    "too_large_title": ("请求太大", "Request too large"),
    "too_large": ("请求内容太大，无法处理。", "The request is too large to handle."),
    "bad_request_title": ("请求无效", "Bad request"),
    "bad_request": ("无法处理这个请求。", "This request cannot be handled."),
    "server_error_title": ("出错了", "Something went wrong"),
    "server_error": (
        "服务器出了点问题，已经记录下来。请稍后再试。",
        "The server hit a problem and logged it. Please try again later.",
    ),
    "unavailable_title": ("暂时不可用", "Temporarily unavailable"),
    "unavailable": ("服务暂时不可用，请稍后再试。", "The service is unavailable: try again later."),
    "back_home": ("返回首页", "Back to the home page"),
    "subscribe_again": ("重新订阅", "Subscribe again"),
}


@dataclass(frozen=True, slots=True)
class Para:
    """One paragraph of a message in one language (``lang`` is an HTML lang attribute)."""

    lang: str
    text: str


def label(key: str, lang: Language, **fmt: object) -> str:
    """A short label: Chinese, English, or ``中文 / English``."""
    zh, en = (s.format(**fmt) if fmt else s for s in STRINGS[key])
    if lang is Language.ZH:
        return zh
    if lang is Language.EN:
        return en
    return f"{zh} / {en}"


def paras(key: str, lang: Language, **fmt: object) -> list[Para]:
    """A message as paragraphs: one per language shown, Chinese first."""
    zh, en = (s.format(**fmt) if fmt else s for s in STRINGS[key])
    out: list[Para] = []
    if lang.shows_zh:
        out.append(Para("zh-CN", zh))
    if lang.shows_en:
        out.append(Para("en", en))
    return out


def labels(lang: Language) -> dict[str, str]:
    """Every string as a label in ``lang`` (placeholders left as they are)."""
    return {key: label(key, lang) for key in STRINGS}
