"""Web pages: an issue, a paper, the home page with the archive, and any page built on
``web/base.html.j2``; with the helpers templates call (``href`` keeping the language,
``mark`` highlighting search terms)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from digestbot.models import Issue, Language, Paper
from digestbot.render.context import base_context, issue_context, paper_view
from digestbot.render.templates import Templates, default_templates
from digestbot.render.text import normalize_whitespace, shorten
from digestbot.weeks import TITLE_EN, TITLE_ZH

__all__ = [
    "ArchiveEntry",
    "highlighter",
    "lang_href",
    "render_web_archive",
    "render_web_issue",
    "render_web_page",
    "render_web_paper",
    "teasers",
]


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One published issue as the archive lists it."""

    week: str
    title_zh: str
    title_en: str
    paper_count: int
    published_at: dt.datetime | None = None
    teaser_en: str = ""
    """One line: the English titles of the issue's first papers."""
    teaser_zh: str = ""
    """The same line with Chinese titles where there are some."""

    @classmethod
    def of(cls, issue: Issue, published_at: dt.datetime | None = None) -> ArchiveEntry:
        en, zh = teasers(issue.papers)
        return cls(
            issue.week, issue.title_zh, issue.title_en, len(issue.papers), published_at, en, zh
        )

    @property
    def year(self) -> int:
        return int(self.week[:4])

    def short_titles(self, lang: Language) -> tuple[str, ...]:
        """:meth:`titles` without the series' name where they are the default ones, as the
        days they cover: ``4月15日 – 4月19日``, ``Apr 15 – Apr 19, 2024``."""
        return tuple(short_title(t) for t in self.titles(lang))

    def teaser(self, lang: Language) -> str:
        """The one-line teaser in ``lang`` (Chinese titles for ``zh``, else English)."""
        if lang is Language.ZH:
            return self.teaser_zh or self.teaser_en
        return self.teaser_en or self.teaser_zh

    def titles(self, lang: Language) -> tuple[str, ...]:
        zh, en = normalize_whitespace(self.title_zh), normalize_whitespace(self.title_en)
        if lang is Language.ZH:
            return (zh or en,)
        if lang is Language.EN:
            return (en or zh,)
        return tuple(t for t in (zh, en) if t)


_DEFAULT_ZH = re.compile(re.escape(TITLE_ZH) + r"\((\d\d)(\d\d)(\d\d)-(\d\d)(\d\d)(\d\d)\)")
_DEFAULT_EN = re.compile(re.escape(TITLE_EN) + r" \((.+)\)")


def short_title(title: str) -> str:
    """A default issue title as the days it covers; any other title as it is."""
    if found := _DEFAULT_ZH.fullmatch(title):
        _y1, m1, d1, _y2, m2, d2 = (int(g) for g in found.groups())
        return f"{m1}月{d1}日 – {m2}月{d2}日"
    if found := _DEFAULT_EN.fullmatch(title):
        return found.group(1)
    return title


TEASER_PAPERS = 3
TEASER_CHARS = 140


def teasers(papers: Sequence[Paper]) -> tuple[str, str]:
    """A one-line teaser of an issue in English and in Chinese: its first papers' titles."""
    first = papers[:TEASER_PAPERS]
    en = " · ".join(normalize_whitespace(p.title_en) for p in first)
    zh = " · ".join(normalize_whitespace(p.title_zh or p.title_en) for p in first)
    return (
        shorten(en, Language.EN, zh_chars=TEASER_CHARS, en_words=TEASER_CHARS // 6),
        shorten(zh, Language.ZH, zh_chars=TEASER_CHARS // 2, en_words=TEASER_CHARS // 6),
    )


def highlighter(terms: Sequence[str]) -> Callable[[str], Markup]:
    """``mark(text)`` for templates: ``text`` escaped, each search term in it (any case)
    wrapped in ``<mark>``. Without terms it only escapes.

    The text is escaped once and the terms are found in the escaped text, as escaped
    themselves; an entity the escaping made (``&amp;``) is passed over whole, so a term
    never matches inside one. A page of results calls this ~80 times, mostly on text
    that holds no term: that is found by ``in`` on the case-folded text (~1 µs, where the
    case-blind pattern scans at ~20 ns a character) and only escaped."""
    words = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return escape
    folded = [w.casefold() for w in words]
    pattern = re.compile(
        "|".join(re.escape(str(escape(w))) for w in words) + "|(&#?[0-9a-z]+;)", re.IGNORECASE
    )

    def wrap(found: re.Match[str]) -> str:
        return found.group() if found.group(1) else f"<mark>{found.group()}</mark>"

    def mark(text: str) -> Markup:
        low = text.casefold()
        if len(low) == len(text) and not any(w in low for w in folded):
            return escape(text)  # (a folding that changes lengths: the pattern decides)
        return Markup(pattern.sub(wrap, str(escape(text))))

    return mark


def archive_years(entries: Sequence[ArchiveEntry]) -> list[dict[str, Any]]:
    """``entries`` (newest first) grouped by year: year, entries, issue and paper counts."""
    years: dict[int, list[ArchiveEntry]] = {}
    for e in entries:
        years.setdefault(e.year, []).append(e)
    return [
        {
            "year": year,
            "entries": group,
            "issues": len(group),
            "papers": sum(e.paper_count for e in group),
        }
        for year, group in years.items()
    ]


def lang_href(base_url: str, lang_code: str = "") -> Callable[[str], str]:
    """``href(path)`` for templates: ``base_url + path``, with ``lang=<lang_code>`` added to
    its query (before any ``#fragment``) so a link keeps the reader's language."""
    base = base_url.rstrip("/")

    def href(path: str) -> str:
        if not lang_code:
            return base + path
        path, hash_, fragment = path.partition("#")
        sep = "&" if "?" in path else "?"
        return f"{base}{path}{sep}lang={lang_code}{hash_}{fragment}"

    return href


def _with_defaults(ctx: dict[str, Any], public_url: str) -> dict[str, Any]:
    """``ctx`` with a plain ``href`` (no language kept) and a ``mark`` that only escapes,
    unless the caller gave them."""
    ctx.setdefault("href", lang_href(public_url))
    ctx.setdefault("mark", highlighter(()))
    return ctx


def render_web_page(
    name: str,
    lang: Language,
    *,
    templates: Templates | None = None,
    public_url: str = "",
    **ctx: Any,
) -> str:
    """Render any page template that extends ``web/base.html.j2`` (search, subscribe...):
    the base context (``lang``, ``ui``, ``html_lang``, ``base_url``) plus ``ctx``."""
    tpl = templates if templates is not None else default_templates()
    ctx = {**base_context(lang, public_url), **ctx}
    return tpl.render(name, **_with_defaults(ctx, public_url))


def render_web_issue(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    public_url: str = "",
    zh_chars: int | None = None,
    en_words: int | None = None,
    extra: Mapping[str, Any] | None = None,
    previous: ArchiveEntry | None = None,
    following: ArchiveEntry | None = None,
) -> str:
    """The issue page ``/issues/<week>``; summaries whole unless budgets are given; links
    to the ``previous`` and ``following`` published issues when given. ``extra`` adds
    context the base layout may use (``lang_links``, ``href``)."""
    tpl = templates if templates is not None else default_templates()
    ctx = issue_context(issue, lang, zh_chars=zh_chars, en_words=en_words, public_url=public_url)
    ctx.update(
        previous=_neighbour(previous, lang),
        following=_neighbour(following, lang),
    )
    return tpl.render("web/issue.html.j2", **_with_defaults({**(extra or {}), **ctx}, public_url))


def _neighbour(entry: ArchiveEntry | None, lang: Language) -> dict[str, str] | None:
    if entry is None:
        return None
    return {"week": entry.week, "title": " / ".join(entry.short_titles(lang))}


def render_web_paper(
    paper: Paper,
    lang: Language,
    *,
    issue_week: str | None = None,
    templates: Templates | None = None,
    public_url: str = "",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The paper page ``/papers/<arxiv id>``: titles, authors, whole summaries, links,
    tags, and a link back to ``issue_week`` when given. The file's Markdown body (the
    abstract, an editor's notes) is not shown: it is not published anywhere."""
    tpl = templates if templates is not None else default_templates()
    ctx = {**(extra or {}), **base_context(lang, public_url)}
    ctx.update(
        p=paper_view(paper, lang),
        issue_week=issue_week,
    )
    return tpl.render("web/paper.html.j2", **_with_defaults(ctx, public_url))


def render_web_archive(
    entries: Sequence[ArchiveEntry],
    lang: Language,
    *,
    templates: Templates | None = None,
    public_url: str = "",
    extra: Mapping[str, Any] | None = None,
    latest: Issue | None = None,
    zh_chars: int | None = None,
    en_words: int | None = None,
) -> str:
    """The home page ``/``: the ``latest`` issue's papers (summaries cut to the budgets),
    then the archive by year, newest first, each issue with its paper count and a teaser."""
    tpl = templates if templates is not None else default_templates()
    ctx = {**(extra or {}), **base_context(lang, public_url)}
    ctx["latest"] = (
        issue_context(latest, lang, zh_chars=zh_chars, en_words=en_words, public_url=public_url)
        if latest is not None
        else None
    )
    ctx["years"] = archive_years(entries)
    ctx["entries"] = [
        {
            "week": e.week,
            "titles": e.titles(lang),
            "paper_count": e.paper_count,
            "published": e.published_at.date().isoformat() if e.published_at else None,
            "entry": e,
        }
        for e in entries
    ]
    return tpl.render("web/archive.html.j2", **_with_defaults(ctx, public_url))
