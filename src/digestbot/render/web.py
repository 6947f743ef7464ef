"""Web pages: an issue, a paper, the archive, and any page built on ``web/base.html.j2``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from digestbot.models import Issue, Language, Paper
from digestbot.render.context import base_context, issue_context, paper_view
from digestbot.render.templates import Templates, default_templates
from digestbot.render.text import normalize_whitespace

__all__ = [
    "ArchiveEntry",
    "render_web_archive",
    "render_web_issue",
    "render_web_page",
    "render_web_paper",
]


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One published issue as the archive lists it."""

    week: str
    title_zh: str
    title_en: str
    paper_count: int
    published_at: dt.datetime | None = None

    @classmethod
    def of(cls, issue: Issue, published_at: dt.datetime | None = None) -> ArchiveEntry:
        return cls(issue.week, issue.title_zh, issue.title_en, len(issue.papers), published_at)

    def titles(self, lang: Language) -> tuple[str, ...]:
        zh, en = normalize_whitespace(self.title_zh), normalize_whitespace(self.title_en)
        if lang is Language.ZH:
            return (zh or en,)
        if lang is Language.EN:
            return (en or zh,)
        return tuple(t for t in (zh, en) if t)


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
    return tpl.render(name, **{**base_context(lang, public_url), **ctx})


def render_web_issue(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    public_url: str = "",
    zh_chars: int | None = None,
    en_words: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The issue page ``/issues/<week>``; summaries whole unless budgets are given.
    ``extra`` adds context the base layout may use (``lang_links``)."""
    tpl = templates if templates is not None else default_templates()
    ctx = issue_context(issue, lang, zh_chars=zh_chars, en_words=en_words, public_url=public_url)
    return tpl.render("web/issue.html.j2", **{**(extra or {}), **ctx})


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
    return tpl.render("web/paper.html.j2", **ctx)


def render_web_archive(
    entries: Sequence[ArchiveEntry],
    lang: Language,
    *,
    templates: Templates | None = None,
    public_url: str = "",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The archive page ``/``: one line per issue, in the order given."""
    tpl = templates if templates is not None else default_templates()
    ctx = {**(extra or {}), **base_context(lang, public_url)}
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
    return tpl.render("web/archive.html.j2", **ctx)
