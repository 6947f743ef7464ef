"""The web pages for readers: the home page by year, issue neighbours, search highlights."""

from __future__ import annotations

import datetime as dt
import re

import html5lib
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from digestbot.models import Language
from digestbot.render.web import (
    ArchiveEntry,
    highlighter,
    render_web_archive,
    render_web_issue,
    teasers,
)
from render_samples import make_issue


def strict(page: str) -> None:
    html5lib.HTMLParser(strict=True).parse(page)


def entry(week: str, count: int, teaser: str = "") -> ArchiveEntry:
    return ArchiveEntry(week, f"周报 {week}", f"Weekly {week}", count, None, teaser, "")


def test_home_shows_the_latest_issue_then_the_archive_by_year() -> None:
    issue = make_issue(count=5)
    entries = [
        ArchiveEntry.of(issue),
        entry("2024-W02", 4, "Old paper A · Old paper B"),
        entry("2023-W52", 7),
        entry("2023-W40", 5),
    ]
    page = render_web_archive(entries, Language.EN, latest=issue, zh_chars=40, en_words=12)
    strict(page)
    main = page.split("<main", 1)[1]
    # the latest issue first, its papers with short summaries and scores
    latest = main.split('id="archive-title"')[0]
    assert latest.count('<li class="paper"') == len(issue.papers)
    first = issue.papers[0]
    assert first.title_en in latest and f"▲ {first.score}" in latest
    assert "Read the issue →" in latest
    # then the years, newest first, with their issue and paper counts, a teaser per issue
    years = re.findall(r'<h3 class="year" id="y(\d+)">\d+ <span class="muted">([^<]+)</span>', main)
    assert years == [
        ("2024", f"· 2 issues · {len(issue.papers) + 4} papers"),
        ("2023", "· 2 issues · 12 papers"),
    ]
    assert '<p class="teaser" lang="en">Old paper A · Old paper B</p>' in main
    assert ArchiveEntry.of(issue).teaser_en.startswith(first.title_en)


def test_teasers_are_one_short_line_in_each_language() -> None:
    issue = make_issue(count=5)
    en, zh = teasers(issue.papers)
    assert "\n" not in en and en.count(" · ") <= 2
    assert issue.papers[0].title_zh in zh or zh.startswith(issue.papers[0].title_zh[:10])
    assert len(zh) <= 90


def test_issue_page_links_its_neighbours() -> None:
    issue = make_issue(count=5)
    page = render_web_issue(
        issue,
        Language.ZH,
        previous=entry("2024-W15", 3),
        following=entry("2024-W17", 2),
    )
    strict(page)
    assert '<a rel="prev" href="/issues/2024-W15">' in page and "上一期" in page
    assert '<a rel="next" class="next" href="/issues/2024-W17">' in page and "下一期" in page
    alone = render_web_issue(issue, Language.EN)
    assert 'rel="prev"' not in alone and 'rel="next"' not in alone


def test_highlight_marks_terms_and_escapes_the_rest() -> None:
    mark = highlighter(["clip", "模型"])
    assert str(mark("Scaling <CLIP> & clip 模型")) == (
        "Scaling &lt;<mark>CLIP</mark>&gt; &amp; <mark>clip</mark> <mark>模型</mark>"
    )
    assert str(highlighter([])("<b>")) == "&lt;b&gt;"
    # a term that looks like markup is escaped too, inside the mark
    assert str(highlighter(["<b>"])("a <b> c")) == "a <mark>&lt;b&gt;</mark> c"
    # terms are found in the escaped text: never inside an entity the escaping made
    assert str(highlighter(["amp", "34"])('amp & "34"')) == (
        "<mark>amp</mark> &amp; &#34;<mark>34</mark>&#34;"
    )
    assert str(highlighter(["&"])("R&D")) == "R<mark>&amp;</mark>D"


@given(st.text(max_size=80), st.lists(st.text(min_size=1, max_size=5), max_size=3))
def test_highlight_never_lets_markup_through(text: str, terms: list[str]) -> None:
    out = str(highlighter(terms)(text))
    plain = out.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in plain and ">" not in plain
    assert (
        plain.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", '"')
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        == text
    )


def test_dates_of_entries_do_not_matter_for_years() -> None:
    e = ArchiveEntry("2025-W01", "a", "b", 1, dt.datetime(2024, 12, 30, tzinfo=dt.UTC))
    assert e.year == 2025


def test_archive_and_pager_name_default_issues_by_their_days() -> None:
    issue = make_issue(count=2)  # default titles, 2024-04-15 to 2024-04-19
    e = ArchiveEntry.of(issue)
    assert e.short_titles(Language.ZH) == ("4月15日 – 4月19日",)
    assert e.short_titles(Language.EN) == ("Apr 15 – Apr 19, 2024",)
    assert e.short_titles(Language.BOTH) == ("4月15日 – 4月19日", "Apr 15 – Apr 19, 2024")
    custom = ArchiveEntry("2024-W20", "长上下文特辑", "Long-context special", 2)
    assert custom.short_titles(Language.EN) == ("Long-context special",)
    page = render_web_archive([e, custom], Language.ZH)
    assert ">4月15日 – 4月19日</a>" in page and ">长上下文特辑</a>" in page


def reference_mark(terms: list[str], text: str) -> str:
    """The highlighter without its shortcut: every text through the case-blind pattern."""
    words = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return str(escape(text))
    pattern = re.compile(
        "|".join(re.escape(str(escape(w))) for w in words) + "|(&#?[0-9a-z]+;)", re.IGNORECASE
    )
    return pattern.sub(
        lambda m: m.group() if m.group(1) else f"<mark>{m.group()}</mark>", str(escape(text))
    )


SHORT_ALPHABET = st.sampled_from(list("aAbBmMpPsSſßK &<>\"';#3字模型İ"))


@given(
    st.text(SHORT_ALPHABET, max_size=40),
    st.lists(st.text(SHORT_ALPHABET, min_size=1, max_size=4), max_size=3),
)
def test_the_shortcut_for_text_without_terms_marks_what_the_pattern_marks(
    text: str, terms: list[str]
) -> None:
    # texts holding no term are only escaped (most of a result page); the outcome is the
    # same as running every text through the pattern
    assert str(highlighter(terms)(text)) == reference_mark(terms, text)
