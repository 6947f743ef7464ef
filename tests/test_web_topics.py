"""Topic pages over a real service: `/topics`, `/topics/<slug>` (paged), its Atom feed, and the
tag chips of paper and issue pages that link there."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import feedparser
import html5lib
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from conftest import write
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.web import topics as topic_routes
from digestbot.web.app import create_app
from digestbot.wiring import build_service

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

LATER = """---
arxiv_id: '2404.15001'
title_en: 'Ring Attention at a Million Tokens'
title_zh: '百万 Token 的环形注意力'
date: 2024-04-23
status: ready
tags: [long-context]
summary_en: 'Long context by passing key-value blocks around a ring of devices.'
---
"""


@pytest.fixture
def client(env: Path) -> Iterator[tuple[TestClient, Service]]:
    """The sample week 2024-W16 published, then a later week 2024-W17 with one paper."""
    write(env / "content/papers/2024/2404.15001.md", LATER)
    service = build_service(load_settings())
    app = create_app(service, manage_lifespan=True)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        assert client.portal is not None
        for week in ("2024-W16", "2024-W17"):
            report = client.portal.call(service.publish, week)
            assert report.complete, report.lines()
        yield client, service


def strict(page: str) -> None:
    html5lib.HTMLParser(strict=True).parse(page)


def test_topic_index_counts_published_papers_in_the_readers_language(
    client: tuple[TestClient, Service],
) -> None:
    http, service = client
    r = http.get("/topics?lang=en")
    assert r.status_code == 200
    strict(r.text)
    for topic in service.topics():
        assert f'href="/topics/{topic.slug}?lang=en">{topic.name_en}</a>' in r.text
    # TransformerFAM and Megalodon (2024-W16) and the ring-attention paper (2024-W17)
    assert '>Long context</a> <span class="muted count">3 papers</span>' in r.text
    assert '>Mixture of Experts</a> <span class="muted count">0 papers</span>' in r.text
    http.cookies.clear()  # a new reader (the first visit's language is remembered)
    zh = http.get("/topics", headers={"accept-language": "zh-CN"}).text
    assert (
        'href="/topics/long-context?lang=zh">长上下文</a> <span class="muted count">3 篇论文' in zh
    )
    assert "Long context" not in zh.split("<main")[1]


def test_topic_page_lists_newest_first_and_pages(
    client: tuple[TestClient, Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _ = client
    r = http.get("/topics/long-context?lang=en")
    assert r.status_code == 200
    strict(r.text)
    order = [r.text.index(t) for t in ("Ring Attention", "TransformerFAM", "Megalodon")]
    assert "3 papers" in r.text
    assert order[0] < min(order[1:])  # the later issue's paper first
    assert 'href="/topics/long-context/feed.xml?lang=en"' in r.text

    monkeypatch.setattr(topic_routes, "TOPIC_PAGE", 2)
    first = http.get("/topics/long-context?lang=en").text
    assert (
        "Ring Attention" in first
        and 'rel="next" href="/topics/long-context?offset=2&amp;lang=en"' in first
    )
    second = http.get("/topics/long-context?offset=2&lang=en").text
    assert "Ring Attention" not in second and 'rel="prev"' in second and 'rel="next"' not in second
    assert second.count('class="paper"') == 1

    missing = http.get("/topics/no-such-topic?lang=en")
    assert missing.status_code == 404 and "There is no topic no-such-topic." in missing.text


def test_topic_feed_has_one_entry_per_paper(client: tuple[TestClient, Service]) -> None:
    http, _ = client
    r = http.get("/topics/long-context/feed.xml?lang=en")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Long context · 每周AI论文速递 / Weekly AI Papers"
    links = [e.link for e in parsed.entries]
    assert links[0] == "http://127.0.0.1:8000/papers/2404.15001"
    assert set(links[1:]) == {
        "http://127.0.0.1:8000/papers/2404.08801",
        "http://127.0.0.1:8000/papers/2404.09173",
    }
    assert len(parsed.entries) == 3 and len(set(links)) == 3
    assert parsed.entries[0].title == "Ring Attention at a Million Tokens"
    assert "key-value blocks" in parsed.entries[0].content[0].value
    assert http.get("/topics/nope/feed.xml").status_code == 404


def test_tag_chips_link_to_topic_pages(client: tuple[TestClient, Service]) -> None:
    http, _ = client
    paper = http.get("/papers/2404.08801?lang=en").text
    strict(paper)
    assert '<a class="chip" href="/topics/long-context?lang=en">Long context</a>' in paper
    assert "<li>language-models</li>" in paper  # an editor's tag that is no topic: plain text
    http.cookies.clear()  # a new reader (the first visit's language is remembered)
    issue = http.get("/issues/2024-W16", headers={"accept-language": "zh"}).text
    assert '<a class="chip" href="/topics/long-context?lang=zh">长上下文</a>' in issue
