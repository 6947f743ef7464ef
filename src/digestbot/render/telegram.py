"""Telegram HTML messages of an issue: a readable post laid out within Telegram's limits.

The reader-facing pieces of a post (lead, folded rest, hashtags, part markers, the button)
are in ``render/telegram_post.py``; Telegram's HTML rules (checking, visible length,
cutting, packing) in ``render/telegram_html.py``, re-exported here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from digestbot.models import Issue, Language, Paper
from digestbot.render.context import (
    PaperView,
    base_context,
    issue_intros,
    issue_titles,
    paper_view,
)
from digestbot.render.telegram_html import (
    MAX_ENTITIES,
    MESSAGE_LIMIT,
    SEPARATOR,
    check_telegram_html,
    count_entities,
    pack_blocks,
    pack_groups,
    truncate_html,
    visible_len,
    visible_text,
)
from digestbot.render.telegram_post import (
    IssueButton,
    hashtags,
    issue_button,
    part_marker,
    split_lead,
)
from digestbot.render.templates import Templates, default_templates
from digestbot.render.text import truncate_utf16

__all__ = [
    "MAX_ENTITIES",
    "MESSAGE_LIMIT",
    "SEPARATOR",
    "TelegramPost",
    "check_telegram_html",
    "count_entities",
    "pack_blocks",
    "render_telegram",
    "render_telegram_post",
    "truncate_html",
    "visible_len",
    "visible_text",
]

# Budgets tried, as fractions of the configured ones, before a paper's summary is cut.
_FACTORS = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.08)


def _render(templates: Templates, name: str, ctx: dict[str, Any]) -> str:
    return templates.render(name, **ctx).strip()


def _fit_header(templates: Templates, ctx: dict[str, Any], limit: int) -> str:
    html = _render(templates, "telegram/header.html.j2", ctx)
    if visible_len(html) <= limit:
        return html
    intros = ctx["intros"]
    bare = _render(templates, "telegram/header.html.j2", {**ctx, "intros": ()})
    room = limit - visible_len(bare) - 2 * len(intros)
    if intros and room > 8:
        share = room // len(intros)
        cut = tuple(
            replace(i, paragraphs=(truncate_utf16(" ".join(i.paragraphs), share),)) for i in intros
        )
        html = _render(templates, "telegram/header.html.j2", {**ctx, "intros": cut})
        if visible_len(html) <= limit:
            return html
    return truncate_html(bare, limit)


def _paper_ctx(ctx: dict[str, Any], view: PaperView) -> dict[str, Any]:
    """What ``telegram/paper.html.j2`` gets: the view, its first line, the folded rest,
    its links (no PDF: the arXiv page links it) and its hashtags."""
    texts = [s.text for s in view.summaries if s.text]
    lead, rest = split_lead(texts[0]) if texts else ("", "")
    return {
        **ctx,
        "p": view,
        "lead": lead,
        "rest": "\n\n".join(t for t in (rest, *texts[1:]) if t),
        "links": tuple(link for link in view.links if link.key != "pdf"),
        "hashtags": hashtags(view.paper.tags),
    }


def _fit_paper(
    templates: Templates,
    ctx: dict[str, Any],
    paper: Paper,
    number: int,
    lang: Language,
    zh_chars: int,
    en_words: int,
    limit: int,
) -> str:
    name = "telegram/paper.html.j2"
    view = paper_view(paper, lang, number=number, zh_chars=zh_chars, en_words=en_words)
    for factor in _FACTORS:
        if factor != 1.0:
            view = paper_view(
                paper,
                lang,
                number=number,
                zh_chars=max(1, int(zh_chars * factor)),
                en_words=max(1, int(en_words * factor)),
            )
        html = _render(templates, name, _paper_ctx(ctx, view))
        if visible_len(html) <= limit:
            return html
    # Last resorts: cut the summaries on visible text, then drop them, then cut titles.
    bare_view = replace(view, summaries=())
    bare = _render(templates, name, _paper_ctx(ctx, bare_view))
    n = len(view.summaries)
    room = limit - visible_len(bare) - 3 * n
    if n and room >= 8 * n:
        share = room // n
        cut = tuple(replace(s, text=truncate_utf16(s.text, share)) for s in view.summaries)
        html = _render(templates, name, _paper_ctx(ctx, replace(view, summaries=cut)))
        if visible_len(html) <= limit:
            return html
    if visible_len(bare) <= limit:
        return bare
    untitled = replace(bare_view, title_en="", title_zh="")
    fixed = visible_len(_render(templates, name, _paper_ctx(ctx, untitled)))
    room = limit - fixed - (1 if bare_view.title_zh else 0)
    if room >= 2:
        if bare_view.title_zh:
            en_room = room // 2
            titled = replace(
                bare_view,
                title_en=truncate_utf16(bare_view.title_en, en_room),
                title_zh=truncate_utf16(bare_view.title_zh, room - en_room),
            )
        else:
            titled = replace(bare_view, title_en=truncate_utf16(bare_view.title_en, room))
        html = _render(templates, name, _paper_ctx(ctx, titled))
        if visible_len(html) <= limit:
            return html
    return truncate_html(bare, limit)


@dataclass(frozen=True, slots=True)
class TelegramPost:
    """An issue as Telegram messages, and the button the last one carries (if any)."""

    messages: tuple[str, ...]
    button: IssueButton | None


def render_telegram(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    zh_chars: int = 120,
    en_words: int = 60,
    public_url: str | None = None,
    limit: int = MESSAGE_LIMIT,
    max_entities: int = MAX_ENTITIES,
) -> list[str]:
    """The messages of :func:`render_telegram_post` (without the button)."""
    post = render_telegram_post(
        issue,
        lang,
        templates=templates,
        zh_chars=zh_chars,
        en_words=en_words,
        public_url=public_url,
        limit=limit,
        max_entities=max_entities,
    )
    return list(post.messages)


def render_telegram_post(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    zh_chars: int = 120,
    en_words: int = 60,
    public_url: str | None = None,
    limit: int = MESSAGE_LIMIT,
    max_entities: int = MAX_ENTITIES,
) -> TelegramPost:
    """The issue as Telegram ``parse_mode=HTML`` messages, each at most ``limit`` UTF-16
    units after entity parsing and ``max_entities`` entities, and the button to the web
    issue the last one carries (None when the public URL is not one Telegram takes in a
    button: the last message then ends with the link instead).

    Each paper shows its title and its summary's first sentence; the rest of the summary
    is folded in an expandable quote; its tags follow as hashtags. Blocks (header, one per
    paper, footer) are packed whole into messages; when there are several, each carries
    its part marker (``1/3`` by the title, then ``2/3``… on a first line repeating the
    title). A paper too long alone is re-rendered with smaller summary budgets, then its
    summaries are cut on visible text or dropped, then its titles are cut; the HTML stays
    balanced.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    tpl = templates if templates is not None else default_templates()
    ctx = base_context(lang, public_url or "")
    base = ctx["base_url"]
    titles = issue_titles(issue, lang)
    header_ctx = {**ctx, "issue": issue, "titles": titles, "intros": issue_intros(issue, lang)}
    button = issue_button(base, issue.week, ctx["ui"]["read_online"])
    footer_ctx = {
        **ctx,
        "issue": issue,
        "issue_url": f"{base}/issues/{issue.week}" if base and button is None else None,
    }
    footer = _render(tpl, "telegram/footer.html.j2", footer_ctx)

    paper_ctx = {**ctx, "issue": issue}
    papers = [
        _fit_paper(tpl, paper_ctx, paper, number, lang, zh_chars, en_words, limit)
        for number, paper in enumerate(issue.papers, 1)
    ]

    def blocks_within(room: int, part: str) -> list[str]:
        blocks = [_fit_header(tpl, {**header_ctx, "part": part}, room)]
        for number, (paper, block) in enumerate(zip(issue.papers, papers, strict=True), 1):
            if visible_len(block) > room:  # only what no longer fits is fitted again
                block = _fit_paper(tpl, paper_ctx, paper, number, lang, zh_chars, en_words, room)
            blocks.append(block)
        if footer:
            blocks.append(footer if visible_len(footer) <= room else truncate_html(footer, room))
        return [b for b in blocks if b]

    blocks = blocks_within(limit, "")
    groups = pack_groups(blocks, limit, max_entities=max_entities, separator=SEPARATOR)
    if len(groups) <= 1:
        return TelegramPost(tuple(SEPARATOR.join(blocks[i] for i in g) for g in groups), button)

    # Several messages: make room for the part markers, pack again, then mark each part.
    widest = part_marker(len(blocks) + 1, len(blocks) + 1)
    title = titles[0] if titles else ""
    reserve = visible_len(_continued(tpl, ctx, title, widest)) + visible_len(SEPARATOR)
    if reserve > limit // 3:  # a small limit: the marker alone, without the title
        title = ""
        reserve = visible_len(_continued(tpl, ctx, title, widest)) + visible_len(SEPARATOR)
    room = max(1, limit - reserve)
    blocks = blocks_within(room, widest)
    groups = pack_groups(blocks, room, max_entities=max_entities - 2, separator=SEPARATOR)
    total = len(groups)
    messages: list[str] = []
    for k, group in enumerate(groups, 1):
        part = part_marker(k, total)
        parts = [blocks[i] for i in group]
        if k == 1:
            parts[0] = _fit_header(tpl, {**header_ctx, "part": part}, room)
        else:
            parts.insert(0, _continued(tpl, ctx, title, part))
        messages.append(SEPARATOR.join(p for p in parts if p))
    return TelegramPost(tuple(messages), button)


def _continued(templates: Templates, ctx: dict[str, Any], title: str, part: str) -> str:
    return _render(templates, "telegram/continued.html.j2", {**ctx, "title": title, "part": part})
