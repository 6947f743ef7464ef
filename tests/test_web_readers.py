"""The site for readers, served: the home page, issue neighbours, search results."""

from __future__ import annotations

import functools
import re

import pytest

from conftest import write
from digestbot.models import Channel, Destination, Language
from digestbot.subscribers import ACTIVE
from digestbot.web import reading
from test_web import HOSTILE_ID, Site, site, strict  # noqa: F401  (the app over a real service)
from test_web_browser import W17_PAPER


def publish_w17(app: Site) -> None:
    for n in (2, 3):
        write(
            app.root / "content" / "papers" / "2024" / f"2404.1700{n}.md",
            W17_PAPER.format(id=f"2404.1700{n}", title=f"Week seventeen paper {n}", n=n),
        )
    app.service.snapshot(reload=True)
    report = app.call(app.service.publish, "2024-W17")
    assert report.complete, report.lines()


def test_home_shows_the_latest_issue_then_the_archive(site: Site) -> None:  # noqa: F811
    publish_w17(site)
    page = site.client.get("/?lang=en").text
    strict(page)
    main = page.split("<main", 1)[1]
    latest, archive = main.split('id="archive-title"', 1)
    assert "Latest issue" in latest and 'href="/issues/2024-W17?lang=en"' in latest
    assert latest.count('<li class="paper"') == 2 and "Week seventeen paper 3" in latest
    assert "▲ 3" in latest  # the score
    assert re.search(
        r'<h3 class="year" id="y2024">2024 <span class="muted">· 2 issues · 12 papers', archive
    )
    w16 = archive.split('href="/issues/2024-W16?lang=en"', 1)[1].split("</li>", 1)[0]
    assert "10 papers" in w16
    teaser = re.search(r'<p class="teaser" lang="en">([^<]+)</p>', w16)
    assert teaser is not None and teaser.group(1).count(" · ") == 2


def test_issue_pages_link_previous_and_next(site: Site) -> None:  # noqa: F811
    publish_w17(site)
    w16 = site.client.get("/issues/2024-W16?lang=en").text
    assert '<a rel="next" class="next" href="/issues/2024-W17?lang=en">' in w16
    assert 'rel="prev"' not in w16
    w17 = site.client.get("/issues/2024-W17?lang=zh").text
    assert '<a rel="prev" href="/issues/2024-W16?lang=zh">' in w17 and "上一期" in w17
    assert 'rel="next"' not in w17
    strict(w17)


def test_search_results_show_date_issue_score_and_the_match(site: Site) -> None:  # noqa: F811
    r = site.client.get("/search", params={"q": "clip", "lang": "en"})
    strict(r.text)
    card = r.text.split('<li class="paper"', 1)[1].split("</li>", 1)[0]
    assert "Scaling (Down) <mark>CLIP</mark>" in card
    assert '<time datetime="2024-04-1' in card
    assert '<a href="/issues/2024-W16?lang=en">Issue 2024-W16</a>' in card
    assert "▲ " in card
    # a hostile query is escaped, inside and outside the marks
    hostile = site.client.get("/search", params={"q": "<script>alert(1)</script>", "lang": "en"})
    assert "<script>alert" not in hostile.text
    assert HOSTILE_ID in hostile.text and "<mark>alert</mark>" in hostile.text
    strict(hostile.text)


def test_search_pages_have_previous_and_next(
    site: Site,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reading, "SEARCH_PAGE", 2)
    first = site.client.get("/search", params={"q": "model", "lang": "en"})
    assert first.text.count('<li class="paper"') == 2
    after = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert after is not None and 'rel="prev"' not in first.text
    assert after.group(1) == "/search?q=model&amp;offset=2&amp;lang=en"
    second = site.client.get(after.group(1).replace("&amp;", "&"))
    assert '<a rel="prev" href="/search?q=model&amp;lang=en">' in second.text
    assert 'id="paper-3"' in second.text


def test_search_cards_come_from_the_index_not_from_papers(
    site: Site,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a page of results loads no paper (the store will not hold old papers' summaries)
    # and reads the published issues once, not on every search
    service = site.service
    loaded: list[str] = []
    issue_reads: list[int] = []
    real_paper, real_issues = service.paper, service.published_issues

    def paper(arxiv_id: str, *, drafts: bool = False) -> object:
        loaded.append(arxiv_id)
        return real_paper(arxiv_id, drafts=drafts)

    async def published_issues() -> object:
        issue_reads.append(1)
        return await real_issues()

    monkeypatch.setattr(service, "paper", paper)
    monkeypatch.setattr(service, "published_issues", published_issues)
    for query in ("model", "注意力", "clip"):
        r = site.client.get("/search", params={"q": query, "lang": "both"})
        assert r.status_code == 200 and '<li class="paper"' in r.text
    card = r.text.split('<li class="paper"', 1)[1].split("</li>", 1)[0]
    assert "Scaling (Down) <mark>CLIP</mark>" in card and "把 <mark>CLIP</mark> 做小" in card
    assert '<a href="/issues/2024-W16?lang=both">' in card
    assert loaded == []
    assert len(issue_reads) == 1
    # a new issue is a new map: its papers' cards link it
    publish_w17(site)
    service.index.sync(service.snapshot().ready())
    r = site.client.get("/search", params={"q": "Week seventeen paper 3", "lang": "en"})
    assert '<a href="/issues/2024-W17?lang=en">Issue 2024-W17</a>' in r.text
    assert len(issue_reads) == 2


def test_a_welcome_copy_left_unsent_is_sent_by_the_next_drain(site: Site) -> None:  # noqa: F811
    # a subscriber confirmed, the welcome row was planned, then the process died
    service = site.service
    add = functools.partial(service.subscribers.upsert, confirmed=True)
    sub = site.call(add, Channel.EMAIL, "late@example.com", Language.EN, ACTIVE)
    record = site.call(service.ledger.get_issue, "2024-W16")
    assert record is not None
    destination = Destination(Channel.EMAIL, sub.address, sub.lang, sub.id)
    assert site.call(service.ledger.plan_welcome, record.id, destination, service.email_transport)
    assert not (site.mail / "2024-W16-late@example.com.eml").exists()
    # the issue stays published and listed while its new row waits
    assert 'href="/issues/2024-W16' in site.client.get("/").text
    site.call(service.resume_unfinished)  # what `digestbot run` does every few seconds
    assert (site.mail / "2024-W16-late@example.com.eml").exists()
    assert site.call(service.ledger.backlog) == 0
    again = site.call(service.ledger.get_issue, "2024-W16")
    assert again is not None and again.status == "published"
    # and once only: planning it again adds nothing
    assert not site.call(service.ledger.plan_welcome, record.id, destination, "outbox")


def test_paper_page_shows_its_score(site: Site) -> None:  # noqa: F811
    page = site.client.get("/papers/2404.08197?lang=zh").text
    assert '<span class="score" title="点赞">▲ 40<span class="visually-hidden"> 点赞</span>' in page


def test_the_feed_holds_the_latest_20_issues_by_publication_and_stays_small(
    site: Site,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over the whole imported back catalogue (44 archive issues) and a week published now:
    20 entries, newest publication first, well under 200 KB (it was 530 KB)."""
    import feedparser

    from conftest import CORPUS, require_corpus
    from digestbot.cli import main

    monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_URL", "http://127.0.0.1:9/")  # offline
    publish_w17(site)  # goes out now, after every archive post
    assert main(["import", "markdown", str(require_corpus(CORPUS))]) == 0
    site.service.snapshot(reload=True)
    body = site.client.get("/feed.xml", headers={"accept-encoding": "identity"}).content
    assert len(body) < 200_000, len(body)
    parsed = feedparser.parse(body)
    assert len(parsed.entries) == 20
    stamps = [e.published_parsed for e in parsed.entries]
    assert stamps == sorted(stamps, reverse=True)
    # 2024-W17 went out today, after every archive post: it comes first, though the
    # archive holds later weeks (up to 2025-W01)
    assert parsed.entries[0].link.endswith("/issues/2024-W17")
    assert any("2025-W01" in e.link for e in parsed.entries[1:])
