"""Web pages and plain text: valid HTML5, escaped data, the shared layout, templates."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import html5lib
import jinja2
import pytest

from digestbot.models import Language
from digestbot.render import (
    ArchiveEntry,
    Templates,
    render_telegram,
    render_text,
    render_web_archive,
    render_web_issue,
    render_web_page,
    render_web_paper,
)
from digestbot.render.templates import default_template_dir
from render_samples import HOSTILE_TITLES, hostile_issue, make_issue, make_paper


def strict_parse(page: str) -> object:
    return html5lib.HTMLParser(strict=True).parse(page)


def shown_text(page: str) -> str:
    doc = html5lib.parse(page, namespaceHTMLElements=False)
    assert list(doc.iter("script")) == []
    return "".join(doc.find("body").itertext())


def all_pages(lang: Language) -> list[str]:
    issue = hostile_issue()
    paper = make_paper(1, title_en="<script>alert(1)</script>", abstract="Abs <x> & y.\n\nTwo")
    entries = [
        ArchiveEntry.of(issue, dt.datetime(2024, 4, 20, 9, tzinfo=dt.UTC)),
        ArchiveEntry("2024-W15", "<b>标题", 'A & "B"', 0, None),
    ]
    return [
        render_web_issue(issue, lang),
        render_web_issue(
            make_issue(count=3, intro_zh="导语\n\n第二段"), lang, public_url="https://x.y"
        ),
        render_web_paper(paper, lang, issue_week="2024-W16"),
        render_web_paper(make_paper(2, summary_zh="", summary_en=""), lang),
        render_web_archive(entries, lang),
        render_web_archive([], lang),
    ]


@pytest.mark.parametrize("lang", list(Language))
def test_pages_are_valid_html5(lang: Language) -> None:
    for page in all_pages(lang):
        strict_parse(page)
        assert page.startswith("<!doctype html>")
        assert re.search(r'<html lang="(zh-CN|en)">', page)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert '<link rel="alternate" type="application/atom+xml"' in page
        assert 'href="/feed.xml"' in page or 'href="https://x.y/feed.xml"' in page
        assert "<style>" in page
        assert 'rel="stylesheet"' not in page and "<script" not in page
        assert not re.search(r'\ssrc="', page)


@pytest.mark.parametrize("lang", list(Language))
def test_hostile_data_is_escaped(lang: Language) -> None:
    issue_page, _, paper_page, _, archive, _ = all_pages(lang)
    text = shown_text(issue_page)
    for title in HOSTILE_TITLES:
        assert title in text
    assert "<script>alert(1)</script>" in shown_text(paper_page)
    assert "Abs <x>" not in paper_page and "Abs &lt;x&gt;" not in paper_page  # not published
    archive_text = shown_text(archive)
    assert 'A & "B"' in archive_text or "<b>标题" in archive_text


def test_navigation_is_bilingual_per_language() -> None:
    both = render_web_archive([], Language.BOTH)
    for label in ("首页", "Home", "搜索", "Search", "订阅", "Subscribe"):
        assert label in both
    zh = render_web_archive([], Language.ZH)
    assert "首页" in zh and "Search" not in zh and 'lang="zh-CN"' in zh
    en = render_web_archive([], Language.EN)
    assert "Search" in en and "搜索" not in en and '<html lang="en">' in en


def test_issue_page_links_papers_and_shows_full_summaries() -> None:
    issue = make_issue(count=2)
    page = render_web_issue(issue, Language.BOTH, public_url="https://digest.example.com/")
    assert 'href="https://digest.example.com/papers/2404.10001"' in page
    assert issue.papers[0].summary_zh in page
    assert "existing checkpoints." in page
    short = render_web_issue(issue, Language.EN, zh_chars=10, en_words=10)
    assert "existing checkpoints." not in short


def test_paper_page() -> None:
    paper = make_paper(7, abstract="An editor's note, never published.")
    page = render_web_paper(paper, Language.ZH, issue_week="2024-W16")
    assert paper.title_en in page and paper.title_zh in page
    assert paper.summary_zh in page and paper.summary_en not in page
    assert 'href="/issues/2024-W16"' in page
    # the file's Markdown body is not published (README: "The content store")
    assert "never published" not in page and "摘要" not in page
    for url in (paper.abs_url, paper.pdf_url, paper.hf_url):
        assert f'href="{url}"' in page


def test_unsafe_link_schemes_are_dropped() -> None:
    paper = make_paper(1, code="javascript:alert(1)", project="https://ok.example/p")
    page = render_web_paper(paper, Language.EN)
    assert "javascript:" not in page and 'href="https://ok.example/p"' in page
    [msg] = render_telegram(make_issue([paper]), Language.EN)
    assert "javascript:" not in msg


def test_archive_lists_entries() -> None:
    entries = [ArchiveEntry("2024-W16", "周报", "Weekly", 10, dt.datetime(2024, 4, 20, 9))]
    page = render_web_archive(entries, Language.EN)
    assert 'href="/issues/2024-W16"' in page and "Weekly" in page and "周报" not in page
    assert '<h3 class="year" id="y2024">2024' in page and "10 papers" in page


def test_base_layout_is_extensible(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "search.html.j2").write_text(
        '{% extends "web/base.html.j2" %}\n'
        "{% block title %}{{ ui.search }} · {{ q }}{% endblock %}\n"
        "{% block content %}<h1>{{ q }}</h1>{% endblock %}\n",
        encoding="utf-8",
    )
    page = render_web_page(
        "web/search.html.j2", Language.EN, templates=Templates(tmp_path), q="<x> & y"
    )
    strict_parse(page)
    assert "<title>Search · &lt;x&gt; &amp; y</title>" in page
    assert "<h1>&lt;x&gt; &amp; y</h1>" in page


def test_override_dir_shadows_packaged_templates(tmp_path: Path) -> None:
    (tmp_path / "telegram").mkdir()
    (tmp_path / "telegram" / "footer.html.j2").write_text(
        "<i>{{ issue.week }} – custom</i>", encoding="utf-8"
    )
    messages = render_telegram(make_issue(count=1), Language.EN, templates=Templates(tmp_path))
    assert messages[-1].endswith("<i>2024-W16 – custom</i>")


def test_templates_environment() -> None:
    assert (default_template_dir() / "telegram" / "paper.html.j2").is_file()
    tpl = Templates()
    assert tpl.env.from_string("{{ x }}").render(x="<&>") == "&lt;&amp;&gt;"
    text = tpl.render("text/issue.txt.j2", **_text_ctx())
    assert "<script>alert(1)</script>" in text and "&lt;" not in text  # .txt.j2: no escaping
    with pytest.raises(jinja2.UndefinedError):
        tpl.render("telegram/footer.html.j2")


def _text_ctx() -> dict[str, object]:
    from digestbot.render.context import issue_context

    return issue_context(hostile_issue(), Language.EN, zh_chars=None, en_words=None)


@pytest.mark.parametrize("lang", list(Language))
def test_plain_text_preview(lang: Language) -> None:
    text = render_text(hostile_issue(), lang, public_url="https://d.example.com")
    for title in HOSTILE_TITLES:
        assert title in text
    assert "&lt;" not in text
    assert text.endswith("https://d.example.com/issues/2024-W16\n")
    full = render_text(make_issue(count=1), lang, zh_chars=None, en_words=None)
    assert ("existing checkpoints." in full) == lang.shows_en
