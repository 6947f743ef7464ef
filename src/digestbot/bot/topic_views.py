"""The bot's topic replies as data: /topics with buttons, /follow, /unfollow, /following.

Pure like `digestbot.bot.views`: Telegram HTML and `Button` rows, every reader-given or
content string escaped once (by `say`, which escapes each value it fills in).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from digestbot.bot.views import Button, Reply
from digestbot.models import Language
from digestbot.render.text import escape_html
from digestbot.topics import Topic

__all__ = [
    "CALLBACK_PREFIX",
    "followed",
    "following",
    "say",
    "topic_list",
    "unfollowed",
]

CALLBACK_PREFIX = "tf:"
"""Callback data of a topic button: ``tf:<slug>`` follows or unfollows it."""

TOPIC_TEXTS: Final[dict[Language, dict[str, str]]] = {
    Language.EN: {
        "topics": (
            "<b>Topics</b>\nTap one to follow it: when an issue has papers on it, I send you "
            "just those. ✓ marks what you follow. Also: /follow &lt;keywords&gt;."
        ),
        "topics_none": "No topics yet: the editors have not written the topic list.",
        "follow_usage": (
            "Send /follow &lt;topic or keywords&gt;, e.g. /follow long-context, "
            "/follow 智能体 or /follow speculative decoding. /topics lists the topics."
        ),
        "follow_topic": "You follow <b>{name}</b>: I will send you its papers of each issue.",
        "follow_topic_again": "You already follow <b>{name}</b>.",
        "follow_keywords": (
            "You follow the search “{keywords}”: papers of each issue whose titles or "
            "summaries hold all these words come to you."
        ),
        "follow_keywords_again": "You already follow the search “{keywords}”.",
        "follow_private": "Follow topics in a private chat with me.",
        "unfollow_usage": "Send /unfollow &lt;topic or keywords&gt;, or /unfollow all.",
        "unfollowed": "Done: you no longer follow {what}.",
        "unfollowed_all": "Done: you follow nothing now.",
        "unfollow_none": "You did not follow {what}. /following lists what you follow.",
        "following": "<b>You follow</b>\n{items}\n\n/unfollow &lt;topic or keywords&gt; to stop.",
        "following_none": "You follow nothing yet. /topics lists the topics.",
        "follow_error": "That cannot be followed: {error}. /topics lists the topics.",
        "button_followed": "Following {name}",
        "button_unfollowed": "No longer following {name}",
    },
    Language.ZH: {
        "topics": (
            "<b>主题</b>\n点一个即可关注：每期有相关论文时，我会单独发给你。✓ 表示已关注。"
            "也可以 /follow &lt;关键词&gt;。"
        ),
        "topics_none": "还没有主题：编辑尚未编写主题列表。",
        "follow_usage": (
            "发送 /follow &lt;主题或关键词&gt;，例如 /follow long-context、/follow 智能体 "
            "或 /follow speculative decoding。/topics 列出所有主题。"
        ),
        "follow_topic": "已关注<b>{name}</b>：每期相关论文会发给你。",
        "follow_topic_again": "你已经关注了<b>{name}</b>。",
        "follow_keywords": "已关注搜索“{keywords}”：每期标题或摘要包含这些词的论文会发给你。",
        "follow_keywords_again": "你已经关注了搜索“{keywords}”。",
        "follow_private": "请在与我的私聊中关注主题。",
        "unfollow_usage": "发送 /unfollow &lt;主题或关键词&gt;，或 /unfollow all。",
        "unfollowed": "好的，已取消关注{what}。",
        "unfollowed_all": "好的，已取消全部关注。",
        "unfollow_none": "你没有关注{what}。/following 列出你关注的内容。",
        "following": "<b>你关注的</b>\n{items}\n\n用 /unfollow &lt;主题或关键词&gt; 取消。",
        "following_none": "你还没有关注任何内容。/topics 列出所有主题。",
        "follow_error": "无法关注：{error}。/topics 列出所有主题。",
        "button_followed": "已关注{name}",
        "button_unfollowed": "已取消关注{name}",
    },
}


def say(lang: Language, key: str, /, **values: str) -> str:
    """The ``key`` text in ``lang`` (Chinese for ``both``), each value escaped."""
    table = TOPIC_TEXTS[Language.EN if lang is Language.EN else Language.ZH]
    return table[key].format(**{k: escape_html(v) for k, v in values.items()})


def topic_list(topics: Sequence[Topic], followed_slugs: set[str], lang: Language) -> Reply:
    """/topics: the explanation and one button per topic, two a row, ✓ on followed ones."""
    if not topics:
        return Reply(say(lang, "topics_none"))
    shown = Language.EN if lang is Language.EN else Language.ZH
    buttons = [
        Button(("✓ " if t.slug in followed_slugs else "") + t.name(shown), CALLBACK_PREFIX + t.slug)
        for t in topics
    ]
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return Reply(say(lang, "topics"), rows)


def followed(kind: str, value: str, topic: Topic | None, added: bool, lang: Language) -> str:
    """The answer to /follow."""
    shown = Language.EN if lang is Language.EN else Language.ZH
    if topic is not None:
        return say(lang, "follow_topic" if added else "follow_topic_again", name=topic.name(shown))
    return say(lang, "follow_keywords" if added else "follow_keywords_again", keywords=value)


def unfollowed(what: str, removed: int, lang: Language, *, everything: bool = False) -> str:
    if everything:
        return say(lang, "unfollowed_all")
    return say(lang, "unfollowed" if removed else "unfollow_none", what=what)


def following(items: Sequence[tuple[str, str]], topics: Sequence[Topic], lang: Language) -> str:
    """/following: each (kind, value) as a line: topics by name, searches in quotes."""
    if not items:
        return say(lang, "following_none")
    shown = Language.EN if lang is Language.EN else Language.ZH
    names = {t.slug: t.name(shown) for t in topics}
    lines = [
        "• " + escape_html(names.get(value, value) if kind == "topic" else f"“{value}”")
        for kind, value in items
    ]
    table = TOPIC_TEXTS[shown]
    return table["following"].format(items="\n".join(lines))
