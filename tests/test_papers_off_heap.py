"""Papers off the heap: an old paper is held without its summaries, yet every page, reply and
issue that shows it shows them, and a warm start does not rewrite the search index."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from conftest import write
from digestbot.content.cache import PaperCache
from digestbot.content.store import RECENT_WEEKS, ContentStore
from digestbot.models import Language, Paper, PaperHead
from digestbot.search.tables import fingerprint
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.web.app import create_app
from digestbot.wiring import build_service
from test_bot import BOB, Running, running

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["running"]  # the bot fixture, shared with test_bot.py

OLD_ID = "2303.04001"
OLD_WEEK = "2023-W10"
OLD_EN = "Sparse routers that forget nothing: experts keep a ledger of tokens they skipped."
OLD_ZH = "不遗忘的稀疏路由：每个专家记下它跳过的词元。"
OLD = f"""---
arxiv_id: '{OLD_ID}'
title_en: 'Ledgered Mixture of Experts'
title_zh: '记账式混合专家'
date: 2023-03-07
status: ready
tags: [long-context]
summary_en: '{OLD_EN}'
summary_zh: '{OLD_ZH}'
---
"""


@pytest.fixture
def old_paper(content_dir: Path) -> Path:
    """A paper a year older than the sample week (2024-W16): outside the recent weeks.
    Written a minute ago (the parse cache leaves out files changed in the last seconds)."""
    path = write(content_dir / f"papers/2023/{OLD_ID}.md", OLD)
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def held(service: Service, arxiv_id: str) -> PaperHead:
    return service.snapshot().papers[arxiv_id]


def test_an_old_paper_is_held_without_its_summaries(
    old_paper: Path, content_dir: Path, env: Path
) -> None:
    assert RECENT_WEEKS < 52
    service = build_service(load_settings())
    service.build_index()
    head = held(service, OLD_ID)
    assert not isinstance(head, Paper)
    assert not hasattr(head, "summary_en")
    assert isinstance(held(service, "2404.08634"), Paper)  # the sample week is recent
    # nor does the parse cache: it keeps no paper between loads, and its file gives an
    # old row without the long text
    assert service.store.cache is not None
    cached, _ = service.store.cache.lookup(str(old_paper))
    assert cached is not None and not isinstance(cached.paper, Paper)
    service.store.cache.close()
    # the cache file holds them, but a reader decodes only the recent rows' long text
    fresh = PaperCache.beside(content_dir)
    fresh.variant, fresh.recent_days = service.store.cache.variant, 7 * RECENT_WEEKS
    cached, _ = fresh.lookup(str(old_paper))
    assert cached is not None and not isinstance(cached.paper, Paper)
    recent, _ = fresh.lookup(str(content_dir / "papers/2024/2404.08634.md"))
    assert recent is not None and isinstance(recent.paper, Paper)
    fresh.close()
    # a fresh process reads the cache file and leaves them there too
    again = build_service(load_settings())
    assert not isinstance(held(again, OLD_ID), Paper)
    whole = again.paper(OLD_ID)
    assert whole is not None and whole.summary_en == OLD_EN and whole.summary_zh == OLD_ZH


def test_every_store_gives_the_whole_paper_when_asked(old_paper: Path, content_dir: Path) -> None:
    store = ContentStore(content_dir, cache=PaperCache.beside(content_dir), recent_weeks=2)
    snap = store.load()
    assert not isinstance(snap.papers[OLD_ID], Paper)
    whole = snap.whole(OLD_ID)
    assert whole is not None and whole.summary_en == OLD_EN
    assert fingerprint(whole) == fingerprint(snap.papers[OLD_ID])
    assert snap.whole("2401.99999") is None
    # an editor fixes the title of an old paper: its page shows the file as it is now
    old_paper.write_text(OLD.replace("Ledgered Mixture", "Ledger-Keeping Mixture"), "utf-8")
    fixed = snap.whole(OLD_ID)
    assert fixed is not None and fixed.title_en == "Ledger-Keeping Mixture of Experts"
    # the store every paper is whole in (editors' commands) holds it whole
    everything = ContentStore(content_dir, cache=PaperCache.beside(content_dir)).load()
    assert isinstance(everything.papers[OLD_ID], Paper)


@pytest.fixture
def client(old_paper: Path, env: Path) -> Iterator[tuple[TestClient, Service]]:
    """The old week and the sample week published."""
    service = build_service(load_settings())
    app = create_app(service, manage_lifespan=True)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        assert client.portal is not None
        for week in (OLD_WEEK, "2024-W16"):
            report = client.portal.call(service.publish, week)
            assert report.complete, report.lines()
        yield client, service


def test_web_pages_show_an_old_papers_summaries(client: tuple[TestClient, Service]) -> None:
    http, service = client
    assert not isinstance(held(service, OLD_ID), Paper)
    page = http.get(f"/papers/{OLD_ID}?lang=en")
    assert page.status_code == 200
    assert OLD_EN in page.text
    assert OLD_ZH in http.get(f"/papers/{OLD_ID}?lang=zh").text
    issue = http.get(f"/issues/{OLD_WEEK}?lang=en")
    assert issue.status_code == 200 and OLD_EN in issue.text
    topic = http.get("/topics/long-context?lang=en")
    assert topic.status_code == 200 and OLD_EN in topic.text
    feed = http.get("/topics/long-context/feed.xml?lang=en")
    assert "Ledgered Mixture of Experts" in feed.text and "experts keep a ledger" in feed.text
    # still held as a head after all that: reading it did not put it back on the heap
    assert not isinstance(held(service, OLD_ID), Paper)


async def test_the_outbox_issue_of_an_old_week_has_its_summaries(
    old_paper: Path, env: Path
) -> None:
    service = build_service(load_settings())
    async with service:
        text = await service.preview(OLD_WEEK, "text", Language.EN)
        assert "Ledgered Mixture of Experts" in text and "experts keep a ledger" in text
        report = await service.publish(OLD_WEEK)
        assert report.complete
    posts = "\n".join(p.read_text("utf-8") for p in (env / "outbox").rglob("*") if p.is_file())
    assert "experts keep a ledger" in posts


async def test_paper_in_the_bot_shows_an_old_papers_summary(
    old_paper: Path, running: Running
) -> None:
    assert not isinstance(held(running.service, OLD_ID), Paper)
    [card] = await running.say(BOB, f"/paper {OLD_ID}")
    text = running.text(card)
    assert "Ledgered Mixture of Experts" in text
    assert "experts keep a ledger" in text


def test_a_warm_start_does_not_rewrite_the_index(old_paper: Path, env: Path) -> None:
    first = build_service(load_settings())
    assert first.build_index() == 10  # the sample week and the old paper
    first.index.close()
    again = build_service(load_settings())
    assert not isinstance(held(again, OLD_ID), Paper)
    assert again.build_index() == 0
    [hit] = again.find_papers("tokens they skipped").hits
    assert hit.arxiv_id == OLD_ID
    # an edit of an old paper's summary still reaches the index
    old_paper.write_text(OLD.replace("they skipped", "they dropped"), "utf-8")
    assert again.build_index() == 1
    assert [h.arxiv_id for h in again.find_papers("tokens they dropped").hits] == [OLD_ID]
    assert again.find_papers("tokens they skipped").hits == []
    again.index.close()
