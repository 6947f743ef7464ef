"""What templates see: paper and issue views, interface strings per language, safe links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from digestbot.models import Issue, Language, Links, Paper, abs_url, hf_url, pdf_url
from digestbot.render.text import normalize_whitespace, paragraphs, shorten

__all__ = [
    "CardView",
    "IntroView",
    "LinkView",
    "PaperCard",
    "PaperView",
    "SummaryView",
    "base_context",
    "card_view",
    "html_lang",
    "issue_context",
    "issue_intros",
    "issue_titles",
    "paper_path",
    "paper_view",
    "safe_url",
    "ui_strings",
]

_UI_ZH: dict[str, str] = {
    "arxiv": "arXiv",
    "pdf": "PDF",
    "code": "代码",
    "project": "项目主页",
    "hf": "HF",
    "read_online": "在线阅读本期",
    "unsubscribe": "退订",
    "unsubscribe_note": "你收到这封邮件，是因为你订阅了每周AI论文速递。",
    "home": "首页",
    "archive": "往期",
    "search": "搜索",
    "subscribe": "订阅",
    "feed": "Atom 订阅源",
    "papers": "篇论文",
    "published": "发布于",
    "authors": "作者",
    "tags": "标签",
    "abstract": "摘要",
    "issue": "本期",
    "back_to_issue": "返回本期",
    "no_issues": "还没有发布过任何一期。",
    "site": "每周AI论文速递",
    "preferences": "订阅设置",
    "telegram_bot": "Telegram 机器人",
    "upvotes": "点赞",
    "issues": "期",
    "latest_issue": "最新一期",
    "read_issue": "阅读这一期",
    "previous_issue": "上一期",
    "next_issue": "下一期",
    "in_issue": "收录于",
    "summary_zh": "中文摘要",
    "summary_en": "English summary",
}
_UI_EN: dict[str, str] = {
    "arxiv": "arXiv",
    "pdf": "PDF",
    "code": "Code",
    "project": "Project",
    "hf": "HF",
    "read_online": "Read this issue online",
    "unsubscribe": "Unsubscribe",
    "unsubscribe_note": "You receive this email because you subscribed to Weekly AI Papers.",
    "home": "Home",
    "archive": "Archive",
    "search": "Search",
    "subscribe": "Subscribe",
    "feed": "Atom feed",
    "papers": "papers",
    "published": "Published",
    "authors": "Authors",
    "tags": "Tags",
    "abstract": "Abstract",
    "issue": "Issue",
    "back_to_issue": "Back to the issue",
    "no_issues": "No issue has been published yet.",
    "site": "Weekly AI Papers",
    "preferences": "Preferences",
    "telegram_bot": "Telegram bot",
    "upvotes": "upvotes",
    "issues": "issues",
    "latest_issue": "Latest issue",
    "read_issue": "Read the issue",
    "previous_issue": "Previous issue",
    "next_issue": "Next issue",
    "in_issue": "Issue",
    "summary_zh": "中文摘要",
    "summary_en": "English summary",
}
_BOTH_KEEP_EN = {"arxiv", "pdf", "code", "project", "hf", "summary_zh", "summary_en"}
_UI_BOTH: dict[str, str] = {
    k: (v if k in _BOTH_KEEP_EN else f"{v} / {_UI_EN[k]}") for k, v in _UI_ZH.items()
}
_UI_BOTH["unsubscribe_note"] = f"{_UI_ZH['unsubscribe_note']} {_UI_EN['unsubscribe_note']}"
_UI_BOTH["papers"] = "篇论文 / papers"

_UI: dict[Language, Mapping[str, str]] = {
    Language.ZH: MappingProxyType(_UI_ZH),
    Language.EN: MappingProxyType(_UI_EN),
    Language.BOTH: MappingProxyType(_UI_BOTH),
}


def ui_strings(lang: Language) -> Mapping[str, str]:
    """Interface strings (link labels, navigation, footers) in ``lang``."""
    return _UI[lang]


def html_lang(lang: Language) -> str:
    """The ``lang`` attribute of a page or part in ``lang``."""
    return "en" if lang is Language.EN else "zh-CN"


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL without whitespace or controls, else None."""
    if not url:
        return None
    url = url.strip()
    if any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def paper_path(arxiv_id: str) -> str:
    """The web path of a paper's page: ``/papers/<arxiv id>``."""
    return "/papers/" + quote(arxiv_id, safe="/.")


@dataclass(frozen=True, slots=True)
class SummaryView:
    """One summary in one language; ``paragraphs`` for pages, ``text`` as one line.

    ``label`` names the language ("中文摘要") on a summary shown in a page of the other
    language for want of one in the page's own (see :attr:`PaperView.other_summary`)."""

    lang: str
    text: str
    paragraphs: tuple[str, ...]
    label: str = ""


@dataclass(frozen=True, slots=True)
class LinkView:
    key: str
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class PaperView:
    """A paper as a template shows it: number, titles, summaries, links.

    ``summaries`` hold only text in the view's language(s): an edition never passes a
    summary in the other language off as its own. ``other_summary`` is the other
    language's summary of a paper that has none in a single-language view's language,
    labelled; only web pages show it, as a separate block marked with its ``lang``.
    """

    number: int
    arxiv_id: str
    title_en: str
    title_zh: str
    summaries: tuple[SummaryView, ...]
    links: tuple[LinkView, ...]
    path: str
    paper: Paper
    other_summary: SummaryView | None = None

    @property
    def date(self) -> dt.date:
        return self.paper.date

    @property
    def score(self) -> int:
        return self.paper.score

    @property
    def tags(self) -> tuple[str, ...]:
        return self.paper.tags


@dataclass(frozen=True, slots=True)
class PaperCard:
    """A paper as a result card shows it, in display form, without the rest of the paper.

    What the search index keeps beside each paper so that a page of results needs no full
    paper: titles whitespace-normalised, summaries already shortened to the budgets
    (empty when the paper has none in that language), tags, and the links that are safe
    to show as (key, URL) pairs (``safe_url`` is too slow to run per request).
    :func:`card_view` turns it into what ``paper_card`` shows, exactly as
    :func:`paper_view` with the same budgets would.
    """

    arxiv_id: str
    title_en: str
    title_zh: str
    date: dt.date
    score: int = 0
    summary_en: str = ""
    summary_zh: str = ""
    tags: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, paper: Paper, *, zh_chars: int, en_words: int) -> PaperCard:
        """The card of ``paper``, its summaries shortened as :func:`paper_view` does."""
        zh, en = paper.summary_zh.strip(), paper.summary_en.strip()
        return cls(
            arxiv_id=paper.arxiv_id,
            title_en=normalize_whitespace(paper.title_en),
            title_zh=normalize_whitespace(paper.title_zh),
            date=paper.date,
            score=paper.score,
            summary_en=_summary(en, Language.EN, zh_chars, en_words).text,
            summary_zh=_summary(zh, Language.ZH, zh_chars, en_words).text,
            tags=paper.tags,
            links=_safe_links(paper.arxiv_id, paper.links),
        )


@dataclass(frozen=True, slots=True)
class CardView:
    """A :class:`PaperCard` as a template shows it: what :class:`PaperView` offers a
    result card (number, titles, summaries, links, path, date, score, tags), built
    without the paper."""

    number: int
    arxiv_id: str
    title_en: str
    title_zh: str
    summaries: tuple[SummaryView, ...]
    links: tuple[LinkView, ...]
    path: str
    date: dt.date
    score: int
    tags: tuple[str, ...]
    other_summary: SummaryView | None = None


@dataclass(frozen=True, slots=True)
class IntroView:
    lang: str
    paragraphs: tuple[str, ...]


def _summary(text: str, lang: Language, zh_chars: int | None, en_words: int | None) -> SummaryView:
    budget = zh_chars if lang is Language.ZH else en_words
    if budget is None:
        paras = paragraphs(text)
        return SummaryView(lang.value, " ".join(paras), paras)
    short = shorten(text, lang, zh_chars=budget, en_words=budget)
    return SummaryView(lang.value, short, (short,) if short else ())


def paper_view(
    paper: Paper,
    lang: Language,
    *,
    number: int = 0,
    zh_chars: int | None = None,
    en_words: int | None = None,
) -> PaperView:
    """The view of ``paper`` in ``lang``; summaries shortened to the budgets (None: full).

    ZH shows the Chinese summary, EN the English one, BOTH Chinese then English. A
    missing summary is never replaced by the other language's: the paper then shows
    its titles and links, and ``other_summary`` holds the other language's summary,
    labelled, for the web pages. The English title always comes first; the Chinese
    title follows when ``lang`` shows Chinese.
    """
    zh, en = paper.summary_zh.strip(), paper.summary_en.strip()
    texts = {Language.ZH: zh, Language.EN: en}
    shown, other = _summary_langs(texts, lang)
    summaries = tuple(
        s for s in (_summary(texts[lg], lg, zh_chars, en_words) for lg in shown) if s.text
    )
    other_summary = None
    if other is not None:
        view = _summary(texts[other], other, zh_chars, en_words)
        other_summary = replace(view, label=_UI[other][f"summary_{other.value}"])

    title_en, title_zh = _titles(paper.title_en, paper.title_zh, lang)
    return PaperView(
        number=number,
        arxiv_id=paper.arxiv_id,
        title_en=title_en,
        title_zh=title_zh,
        summaries=summaries,
        links=_link_views(_safe_links(paper.arxiv_id, paper.links), lang),
        path=paper_path(paper.arxiv_id),
        paper=paper,
        other_summary=other_summary,
    )


def _summary_langs(
    texts: Mapping[Language, str], lang: Language
) -> tuple[tuple[Language, ...], Language | None]:
    """The languages whose summaries a view in ``lang`` shows, and the other language
    whose summary stands in, labelled, when ``lang``'s own is missing (else None)."""
    shown = (Language.ZH, Language.EN) if lang is Language.BOTH else (lang,)
    if lang is Language.BOTH or texts[lang]:
        return shown, None
    other = Language.EN if lang is Language.ZH else Language.ZH
    return shown, (other if texts[other] else None)


def _titles(title_en: str, title_zh: str, lang: Language) -> tuple[str, str]:
    """The English title, and the Chinese one when ``lang`` shows Chinese and it differs."""
    en = normalize_whitespace(title_en)
    zh = normalize_whitespace(title_zh) if lang.shows_zh else ""
    return en, ("" if zh == en else zh)


def _safe_links(arxiv_id: str, links: Links) -> tuple[tuple[str, str], ...]:
    """arXiv, PDF, code, project and Hugging Face links, those that are safe to show."""
    candidates = (
        ("arxiv", abs_url(arxiv_id)),
        ("pdf", pdf_url(arxiv_id)),
        ("code", links.code),
        ("project", links.project),
        ("hf", hf_url(arxiv_id, links)),
    )
    return tuple((key, url) for key, raw in candidates if (url := safe_url(raw)) is not None)


def _link_views(safe: tuple[tuple[str, str], ...], lang: Language) -> tuple[LinkView, ...]:
    ui = _UI[lang]
    return tuple(LinkView(key, ui[key], url) for key, url in safe)


def card_view(card: PaperCard, lang: Language, *, number: int = 0) -> CardView:
    """The view of a result card in ``lang``: what :func:`paper_view` of its paper, with
    the budgets the card was shortened to, shows in a ``paper_card``."""
    texts = {Language.ZH: card.summary_zh, Language.EN: card.summary_en}
    shown, other = _summary_langs(texts, lang)
    summaries = tuple(SummaryView(lg.value, texts[lg], (texts[lg],)) for lg in shown if texts[lg])
    other_summary = None
    if other is not None:
        label = _UI[other][f"summary_{other.value}"]
        other_summary = SummaryView(other.value, texts[other], (texts[other],), label)
    title_en, title_zh = _titles(card.title_en, card.title_zh, lang)
    return CardView(
        number=number,
        arxiv_id=card.arxiv_id,
        title_en=title_en,
        title_zh=title_zh,
        summaries=summaries,
        links=_link_views(card.links, lang),
        path=paper_path(card.arxiv_id),
        date=card.date,
        score=card.score,
        tags=card.tags,
        other_summary=other_summary,
    )


def issue_titles(issue: Issue, lang: Language) -> tuple[str, ...]:
    """The issue's title lines: Chinese, English, or both (Chinese first)."""
    zh, en = normalize_whitespace(issue.title_zh), normalize_whitespace(issue.title_en)
    if lang is Language.ZH:
        return (zh or en,)
    if lang is Language.EN:
        return (en or zh,)
    return tuple(t for t in (zh, en) if t)


def issue_intros(issue: Issue, lang: Language) -> tuple[IntroView, ...]:
    """The editor's intro in ``lang`` (both, Chinese first, for BOTH)."""
    out: list[IntroView] = []
    if lang.shows_zh and issue.intro_zh.strip():
        out.append(IntroView("zh", paragraphs(issue.intro_zh)))
    if lang.shows_en and issue.intro_en.strip():
        out.append(IntroView("en", paragraphs(issue.intro_en)))
    return tuple(out)


def base_context(lang: Language, public_url: str = "") -> dict[str, Any]:
    """Context every template gets: ``lang``, ``ui``, ``html_lang``, ``base_url``."""
    return {
        "lang": lang,
        "ui": _UI[lang],
        "html_lang": html_lang(lang),
        "base_url": public_url.rstrip("/"),
    }


def issue_context(
    issue: Issue,
    lang: Language,
    *,
    zh_chars: int | None,
    en_words: int | None,
    public_url: str = "",
) -> dict[str, Any]:
    """Context of a whole-issue template: base context plus ``issue``, ``titles``,
    ``intros``, ``papers`` (views) and ``issue_url`` (None without a public URL)."""
    ctx = base_context(lang, public_url)
    base = ctx["base_url"]
    ctx.update(
        issue=issue,
        titles=issue_titles(issue, lang),
        intros=issue_intros(issue, lang),
        papers=tuple(
            paper_view(p, lang, number=i, zh_chars=zh_chars, en_words=en_words)
            for i, p in enumerate(issue.papers, 1)
        ),
        issue_url=f"{base}/issues/{quote(issue.week)}" if base else None,
    )
    return ctx
