"""The Atom feeds: ``/feed.xml`` (one entry per published issue) and
``/topics/<slug>/feed.xml`` (one entry per paper of the topic); every text escaped."""

from __future__ import annotations

import datetime as dt
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from digestbot.models import Issue, Language, Paper
from digestbot.render.context import issue_titles, paper_path, paper_view
from digestbot.render.text import normalize_whitespace

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"

# characters XML 1.0 cannot carry at all, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One published issue and when it went out."""

    issue: Issue
    published_at: dt.datetime | None


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _clean(text)
    return el


FEED_LINKS = frozenset({"arxiv", "code", "project"})
"""The links a feed entry keeps for each paper (its web page has every link)."""


def issue_html(
    issue: Issue,
    lang: Language,
    public_url: str,
    *,
    zh_chars: int | None = None,
    en_words: int | None = None,
) -> str:
    """The entry content: every paper with its titles and summaries (shortened to the
    budgets; None: whole), as escaped HTML."""
    parts: list[str] = []
    for number, paper in enumerate(issue.papers, 1):
        view = paper_view(paper, lang, number=number, zh_chars=zh_chars, en_words=en_words)
        url = html.escape(public_url + paper_path(paper.arxiv_id), quote=True)
        parts.append(f'<h3><a href="{url}">{number}. {html.escape(view.title_en)}</a></h3>')
        if view.title_zh:
            parts.append(f'<p lang="zh-CN"><strong>{html.escape(view.title_zh)}</strong></p>')
        for summary in view.summaries:
            code = "zh-CN" if summary.lang == "zh" else "en"
            for para in summary.paragraphs:
                parts.append(f'<p lang="{code}">{html.escape(para)}</p>')
        links = " · ".join(  # the paper's page has the PDF and HF links too
            f'<a href="{html.escape(link.url, quote=True)}">{html.escape(link.label)}</a>'
            for link in view.links
            if link.key in FEED_LINKS
        )
        if links:
            parts.append(f"<p>{links}</p>")
    return "\n".join(parts)


def render_atom(
    items: Sequence[FeedItem],
    lang: Language,
    *,
    public_url: str,
    site_title: str,
    now: dt.datetime | None = None,
    zh_chars: int | None = None,
    en_words: int | None = None,
) -> bytes:
    """The Atom document for ``items`` (newest first), as UTF-8 bytes; summaries shortened
    to ``zh_chars`` / ``en_words`` (the short budgets of Telegram and email)."""
    base = public_url.rstrip("/")
    feed = ET.Element("feed", {"xmlns": ATOM, XML_LANG: "en" if lang is Language.EN else "zh-CN"})
    _sub(feed, "id", f"{base}/feed.xml")
    _sub(feed, "title", site_title)
    stamps = [i.published_at for i in items if i.published_at is not None]
    updated = max(stamps, key=lambda d: _stamp(d)) if stamps else now or dt.datetime.now(dt.UTC)
    _sub(feed, "updated", _stamp(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/feed.xml")
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/")
    author = _sub(feed, "author")
    _sub(author, "name", site_title)
    _sub(author, "uri", f"{base}/")
    _sub(feed, "generator", "digestbot")
    for item in items:
        issue = item.issue
        url = f"{base}/issues/{quote(issue.week)}"
        entry = _sub(feed, "entry")
        _sub(entry, "id", url)
        _sub(entry, "title", " / ".join(issue_titles(issue, lang)), type="text")
        when = _stamp(item.published_at or updated)
        _sub(entry, "updated", when)
        _sub(entry, "published", when)
        _sub(entry, "link", rel="alternate", type="text/html", href=url)
        entry_author = _sub(entry, "author")
        _sub(entry_author, "name", site_title)
        _sub(entry, "summary", f"{issue.week}: {len(issue.papers)} papers.", type="text")
        content = issue_html(issue, lang, base, zh_chars=zh_chars, en_words=en_words)
        _sub(entry, "content", content, type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


@dataclass(frozen=True, slots=True)
class PaperItem:
    """One paper of a topic feed, the issue that carried it and when that went out."""

    paper: Paper
    week: str
    published_at: dt.datetime | None


def render_topic_atom(
    items: Sequence[PaperItem],
    lang: Language,
    *,
    slug: str,
    title: str,
    public_url: str,
    site_title: str,
    now: dt.datetime | None = None,
) -> bytes:
    """The Atom document of one topic: one entry per paper (newest first), as UTF-8 bytes."""
    base = public_url.rstrip("/")
    self_url = f"{base}/topics/{quote(slug)}/feed.xml"
    feed = ET.Element("feed", {"xmlns": ATOM, XML_LANG: "en" if lang is Language.EN else "zh-CN"})
    _sub(feed, "id", self_url)
    _sub(feed, "title", f"{title} · {site_title}")
    stamps = [i.published_at for i in items if i.published_at is not None]
    updated = max(stamps, key=lambda d: _stamp(d)) if stamps else now or dt.datetime.now(dt.UTC)
    _sub(feed, "updated", _stamp(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/topics/{quote(slug)}")
    author = _sub(feed, "author")
    _sub(author, "name", site_title)
    _sub(feed, "generator", "digestbot")
    for item in items:
        paper = item.paper
        url = base + paper_path(paper.arxiv_id)
        entry = _sub(feed, "entry")
        _sub(entry, "id", url)
        view = paper_view(paper, lang)
        title_text = view.title_en + (f" / {view.title_zh}" if view.title_zh else "")
        _sub(entry, "title", normalize_whitespace(title_text), type="text")
        when = _stamp(item.published_at or updated)
        _sub(entry, "updated", when)
        _sub(entry, "published", when)
        _sub(entry, "link", rel="alternate", type="text/html", href=url)
        _sub(entry, "link", rel="related", type="text/html", href=f"{base}/issues/{item.week}")
        for name in paper.authors:
            _sub(_sub(entry, "author"), "name", name)
        if not paper.authors:
            _sub(_sub(entry, "author"), "name", site_title)
        parts: list[str] = []
        for summary in view.summaries:
            code = "zh-CN" if summary.lang == "zh" else "en"
            parts.extend(f'<p lang="{code}">{html.escape(p)}</p>' for p in summary.paragraphs)
        _sub(entry, "content", "\n".join(parts), type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
