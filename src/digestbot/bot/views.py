"""The bot's replies as data: pure functions from models and service results to Telegram HTML.

Nothing here talks to Telegram or the service. Every string that comes from content or a
user is escaped once: by `digestbot.render.text.escape_html` (directly or through `t`) or by
the autoescaping Telegram templates of `digestbot.render` (the /paper card is
``telegram/card.html.j2``); every reply fits in one message (`fit`). Keyboards are plain
`Button` rows that the handlers turn into python-telegram-bot markup.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from digestbot.bot.texts import Html, count, note, t, term, ui_lang
from digestbot.errors import DigestbotError, IssueRefused, NothingToPublish, WeekError
from digestbot.models import Language, Paper, PaperHead
from digestbot.render.telegram import MESSAGE_LIMIT, visible_len, visible_text
from digestbot.render.templates import Templates, default_templates
from digestbot.render.text import ELLIPSIS, escape_html, shorten, truncate_utf16

if TYPE_CHECKING:
    from digestbot.reports import PublishReport, StatusReport

__all__ = [
    "BUTTON_UNITS",
    "ECHO_UNITS",
    "GIVE_UP_LINES",
    "PAGE_SIZE",
    "SUMMARY_UNITS",
    "TITLE_UNITS",
    "Button",
    "CardLink",
    "Keyboard",
    "Reply",
    "SummaryBudget",
    "delivery_report",
    "fit",
    "give_up_notice",
    "help_text",
    "lang_picker",
    "link",
    "paper_card",
    "publish_error",
    "publish_preview",
    "search_echo",
    "search_results",
    "status_text",
    "subscribe_in_private",
    "top_list",
    "unknown_paper",
]

PAGE_SIZE = 5
"""Search hits per page."""
TITLE_UNITS = 300
SUMMARY_UNITS = 1500
BUTTON_UNITS = 48
ECHO_UNITS = 60


@dataclass(frozen=True, slots=True)
class Button:
    """One inline button: what it says and the callback data it sends back."""

    label: str
    data: str


Keyboard = tuple[tuple[Button, ...], ...]
"""Rows of inline buttons."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One message: Telegram HTML and, optionally, an inline keyboard under it."""

    html: str
    keyboard: Keyboard | None = None


@dataclass(frozen=True, slots=True)
class SummaryBudget:
    """How long a card's summary may be (the settings' ``summary_zh_chars``/``en_words``)."""

    zh_chars: int
    en_words: int


@dataclass(frozen=True, slots=True)
class CardLink:
    """One link under a paper card."""

    url: str
    label: str


class SearchHit(Protocol):
    """What a results page shows of one paper found."""

    @property
    def arxiv_id(self) -> str: ...
    @property
    def title_en(self) -> str: ...
    @property
    def title_zh(self) -> str: ...
    @property
    def date(self) -> dt.date: ...


class SearchPage(Protocol):
    """One page of hits, and how many papers match in all (a lower bound if not exact)."""

    @property
    def hits(self) -> Sequence[SearchHit]: ...
    @property
    def total(self) -> int: ...
    @property
    def total_exact(self) -> bool: ...


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


def link(url: str, label: str) -> str:
    """An ``<a>`` element with ``url`` and ``label`` escaped."""
    return f'<a href="{escape_html(url)}">{escape_html(label)}</a>'


def help_text(lang: Language, *, admin: bool) -> str:
    """/start and /help: the commands, plus the admin ones for admins."""
    text = t(lang, "help")
    if admin:
        text += t(lang, "help_admin")
    return text


def subscribe_in_private(lang: Language, bot_username: str | None) -> str:
    """/subscribe in a group: subscriptions happen in a private chat with the bot."""
    return t(lang, "group_only_private", url=f"https://t.me/{bot_username}", bot=bot_username)


def lang_picker(lang: Language) -> Reply:
    """/lang without an argument: the question and one button per language."""
    buttons = (Button("中文", "l:zh"), Button("English", "l:en"))
    return Reply(t(lang, "lang_pick"), (buttons,))


# -- /paper ---------------------------------------------------------------------------------


def unknown_paper(arxiv_id: str, lang: Language) -> str:
    """An arXiv id the digest does not hold: a link to arXiv and a hint to search."""
    return t(
        lang, "paper_unknown_id", arxiv_id=arxiv_id, abs_url=f"https://arxiv.org/abs/{arxiv_id}"
    )


def paper_card(
    paper: Paper,
    weeks: Sequence[str],
    lang: Language,
    *,
    public_url: str,
    budget: SummaryBudget,
    templates: Templates | None = None,
    draft: bool = False,
) -> str:
    """One paper: both titles, id and date, the summary in ``lang``, links, its issues
    (or "coming in the next issue"; a ``draft``, which only admins see, says so).

    Rendered with ``telegram/card.html.j2`` (autoescaped; overridable like the issue
    templates).
    """
    ui = ui_lang(lang)
    first = paper.title(ui)
    second = paper.title_en if ui is Language.ZH else paper.title_zh
    summary = shorten(paper.summary(ui), ui, zh_chars=budget.zh_chars, en_words=budget.en_words)
    links = [CardLink(paper.abs_url, "arXiv"), CardLink(paper.pdf_url, "PDF")]
    if paper.links.code:
        links.append(CardLink(paper.links.code, t(ui, "code")))
    if paper.links.project:
        links.append(CardLink(paper.links.project, t(ui, "project")))
    links.append(CardLink(paper.hf_url, "HF"))
    if draft:
        footer = t(ui, "draft")
    elif weeks:
        issues = ", ".join(link(f"{public_url}/issues/{w}", w) for w in weeks)
        footer = t(ui, "in_issues", issues=Html(issues))
    else:
        footer = t(ui, "not_in_issue")
    return (templates or default_templates()).render(
        "telegram/card.html.j2",
        first=truncate_utf16(first, TITLE_UNITS),
        second=truncate_utf16(second, TITLE_UNITS) if second and second != first else "",
        arxiv_id=paper.arxiv_id,
        date=paper.date.isoformat(),
        summary=truncate_utf16(summary, SUMMARY_UNITS),
        links=links,
        footer=footer,  # already HTML: `t` escaped its values
    )


def search_echo(text: str) -> str:
    """The query as the reply repeats it: whitespace collapsed, cut short."""
    return truncate_utf16(" ".join(text.split()), ECHO_UNITS)


def search_results(found: SearchPage, text: str, page: int, key: str, lang: Language) -> Reply:
    """One page of hits for ``text``: a numbered list, a button per paper, paging buttons.

    ``key`` names the search in the paging buttons' callback data (``q:<key>:<page>``).
    """
    ui = ui_lang(lang)
    echo = search_echo(text)
    if not found.hits:
        return Reply(t(ui, "no_results", query=echo))
    offset = page * PAGE_SIZE
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
    rows: list[tuple[Button, ...]] = []
    for number, hit in enumerate(found.hits, start=offset + 1):
        title = hit.title_zh if ui is Language.ZH and hit.title_zh else hit.title_en
        lines.append(f"{number}. <b>{escape_html(truncate_utf16(title, TITLE_UNITS))}</b>")
        lines.append(f"arXiv {escape_html(hit.arxiv_id)} · {hit.date.isoformat()}")
        label = truncate_utf16(f"{number}. {title}", BUTTON_UNITS)
        rows.append((Button(label, f"p:{hit.arxiv_id}"),))
    lines += ["", t(ui, "results_hint")]
    nav: list[Button] = []
    if page > 0:
        nav.append(Button(t(ui, "prev"), f"q:{key}:{page - 1}"))
    if last < found.total:
        nav.append(Button(t(ui, "next"), f"q:{key}:{page + 1}"))
    if nav:
        rows.append(tuple(nav))
    return Reply("\n".join(lines), tuple(rows))


def top_list(entries: Sequence[tuple[PaperHead, str]], period: str, lang: Language) -> Reply:
    """/top: the highest-scored papers of published issues, with score and issue, and a
    button per paper. ``period`` is ``all``, ``month`` or ``year``."""
    ui = ui_lang(lang)
    span = t(ui, f"top_{period}")
    if not entries:
        if period == "all":
            return Reply(t(ui, "top_none"))
        return Reply(t(ui, "top_none_period", period=Html(span)))
    lines = [t(ui, "top_head", period=Html(span)), ""]
    rows: list[tuple[Button, ...]] = []
    for number, (paper, week) in enumerate(entries, start=1):
        title = paper.title_zh if ui is Language.ZH and paper.title_zh else paper.title_en
        short = truncate_utf16(title, TITLE_UNITS)
        lines.append(t(ui, "top_line", n=number, title=short, score=paper.score, week=week))
        label = truncate_utf16(f"{number}. {title}", BUTTON_UNITS)
        rows.append((Button(label, f"p:{paper.arxiv_id}"),))
    return Reply("\n".join(lines), tuple(rows))


# -- admins ---------------------------------------------------------------------------------


def publish_preview(report: PublishReport, lang: Language, title: str | None = None) -> Reply:
    """/publish: what would go out, with a publish button first and a cancel button second.
    ``title``: the issue's title in ``lang`` (the report carries the Chinese one)."""
    head = t(
        lang,
        "publish_preview",
        week=report.week,
        title=title or report.title,
        papers=count(lang, "papers", report.papers),
        destinations=count(lang, "destinations", report.planned),
    )
    html = "\n".join([head, *(note(lang, text) for text in report.notes)])
    buttons = (
        Button(t(lang, "publish_button"), f"pub:{report.week}"),
        Button(t(lang, "cancel_button"), f"cancel:{report.week}"),
    )
    return Reply(html, (buttons,))


_REFUSED_HEAD = re.compile(r"^(\d{4}-W\d{2})\b.*?cannot be (?:sent|published): ")


def publish_error(error: DigestbotError, week: str, lang: Language) -> str:
    """Why /publish ``week`` (or its button) did not go ahead, in ``lang``.

    Problems with content files stay as the store reports them (``path:line: field:
    message``): that is what the editor searches for."""
    if isinstance(error, WeekError):
        return t(lang, "publish_bad_week", arg=week)
    if isinstance(error, NothingToPublish):
        return t(lang, "publish_nothing")
    if isinstance(error, IssueRefused):
        text = str(error)
        head = _REFUSED_HEAD.match(text)
        details = "\n".join(f"• {p}" for p in text[head.end() if head else 0 :].split("; "))
        shown = week or (head.group(1) if head else "")
        return t(lang, "publish_refused", week=shown, details=details)
    return t(lang, "publish_failed", week=week, error=error)


def delivery_report(report: PublishReport, lang: Language, title: str | None = None) -> str:
    """After a confirmed publish: per channel what was sent, failures, notes, the outcome.
    ``title``: the issue's title in ``lang`` (the report carries the Chinese one)."""
    lines = [
        t(lang, "report_head"),
        t(
            lang,
            "report_title",
            week=report.week,
            title=title or report.title,
            papers=count(lang, "papers", report.papers),
        ),
    ]
    for name, c in sorted(report.channels.items()):
        line = t(
            lang,
            "report_channel",
            channel=term(lang, name),
            sent=c.sent,
            retried=c.retried,
            failed=c.failed,
            skipped=c.skipped,
        )
        if c.pending:
            line += t(lang, "report_waiting", n=c.pending)
        lines.append(line)
    for channel, address, error in report.failures:
        lines.append(
            t(lang, "report_failure", channel=term(lang, channel), address=address, error=error)
        )
    lines.extend(note(lang, text) for text in report.notes)
    if report.complete:
        lines.append(t(lang, "report_done", week=report.week, seconds=f"{report.seconds:.1f}"))
    else:
        lines.append(t(lang, "report_unfinished", week=report.week))
    return "\n".join(lines)


def status_text(report: StatusReport, lang: Language) -> str:
    """/status: the last issue, subscriber counts, the ledger backlog, the next run."""
    lines = [t(lang, "status_head")]
    issue = report.last_issue
    if issue is None:
        lines.append(t(lang, "status_no_issue"))
    else:
        state = escape_html(term(lang, issue.status))
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
            f"{term(lang, channel)} {term(lang, status)} {n}"
            for (channel, status), n in sorted(report.subscribers.items())
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
    if report.failed:
        lines.append(t(lang, "status_failed", n=report.failed))
        lines.extend(
            t(lang, "status_failure", week=w, channel=c, address=a, reason=_clip(r))
            for w, c, a, r in report.failures
        )
    return "\n".join(lines)


GIVE_UP_LINES = 10
"""Rows named one by one in the admins' give-up message."""
REASON_CHARS = 300


def _clip(reason: str) -> str:
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + ELLIPSIS


def give_up_notice(week: str, gave_up: Sequence[tuple[str, str, str]], lang: Language) -> str:
    """The message admins get when a drain gave deliveries up: which, and why."""
    lines = [t(lang, "gave_up_head", week=week, n=len(gave_up))]
    lines.extend(
        t(lang, "status_failure", week=week, channel=c, address=a, reason=_clip(r))
        for c, a, r in gave_up[:GIVE_UP_LINES]
    )
    if len(gave_up) > GIVE_UP_LINES:
        lines.append(t(lang, "gave_up_more", n=len(gave_up) - GIVE_UP_LINES))
    lines.append(t(lang, "gave_up_hint", week=week))
    return "\n".join(lines)
