"""Plain-text issue previews (``digestbot preview --format text``)."""

from __future__ import annotations

from digestbot.models import Issue, Language
from digestbot.render.context import issue_context
from digestbot.render.templates import Templates, default_templates

__all__ = ["render_text"]


def render_text(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    zh_chars: int | None = 120,
    en_words: int | None = 60,
    public_url: str | None = None,
) -> str:
    """The issue as plain text from ``text/issue.txt.j2``; budgets of None keep summaries
    whole. Ends with one newline."""
    tpl = templates if templates is not None else default_templates()
    ctx = issue_context(
        issue, lang, zh_chars=zh_chars, en_words=en_words, public_url=public_url or ""
    )
    return tpl.render("text/issue.txt.j2", **ctx).strip() + "\n"
