"""Published pages and the feed: cached, compressed once, ETag and 304, fresh after a publish
or a content change; other text responses gzipped when the client accepts it."""

from __future__ import annotations

import asyncio
import gzip
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from conftest import write
from digestbot.cli import main
from digestbot.delivery.issuebook import IssueRecord
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.web.app import create_app
from digestbot.web.cache import PageCache
from digestbot.wiring import build_service

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}
W17_PAPER = """---
arxiv_id: '{id}'
title_en: {title}
title_zh: 第十七周论文 {n}
date: 2024-04-23
status: ready
score: {n}
summary_en: A paper of the week after the sample, number {n}.
summary_zh: 样例之后一周的论文，第 {n} 篇。
---
"""


@dataclass
class Site:
    client: TestClient
    service: Service
    root: Path


@pytest.fixture
def site(env: Path) -> Iterator[Site]:
    """2024-W16 published by another process, then the app over the same SQLite file."""
    assert main(["publish", "--week", "2024-W16"]) == 0
    service = build_service(load_settings())
    app = create_app(service, manage_lifespan=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(client, service, env)


def count_calls(site: Site) -> list[int]:
    calls: list[int] = []
    real = site.service.published_issues

    async def counted() -> list[IssueRecord]:
        calls.append(1)
        return await real()

    site.service.published_issues = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("path", ["/", "/issues/2024-W16", "/papers/2404.09173", "/feed.xml"])
def test_cached_pages_are_gzipped_once_and_revalidated(site: Site, path: str) -> None:
    plain = site.client.get(path, headers=IDENTITY)
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) == len(plain.content)
    packed = site.client.get(path, headers=GZIP)
    assert packed.headers["content-encoding"] == "gzip"
    wire = int(packed.headers["content-length"])
    assert wire < len(plain.content) / 2  # bytes on the wire
    assert packed.content == plain.content  # the same page once unpacked
    assert "Accept-Encoding" in packed.headers["vary"]
    feed = path == "/feed.xml"
    assert feed or "Accept-Language" in packed.headers["vary"]
    etag = plain.headers["etag"]
    assert etag.startswith('W/"') and packed.headers["etag"] == etag
    control = plain.headers["cache-control"]
    assert control.startswith("public")
    assert control == (
        "public, max-age=300" if path == "/feed.xml" else "public, max-age=0, must-revalidate"
    )
    assert plain.headers["x-content-type-options"] == "nosniff"  # the guard still applies

    again = site.client.get(path, headers={"if-none-match": etag, **GZIP})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = site.client.get(path, headers={"if-none-match": 'W/"other"'})
    assert other.status_code == 200


def test_a_page_is_rendered_once_for_many_readers(site: Site) -> None:
    calls = count_calls(site)
    bodies = {site.client.get("/", headers=GZIP).text for _ in range(20)}
    assert len(bodies) == 1 and "2024-W16" in bodies.pop()
    assert calls == [1]
    # another language (or Accept-Language) is another page
    en = site.client.get("/?lang=en")
    assert 'lang="en"' in en.text and calls == [1, 1]


def test_a_publish_by_another_process_shows_at_once(site: Site) -> None:
    for n in (2, 3):
        write(
            site.root / "content" / "papers" / "2024" / f"2404.1700{n}.md",
            W17_PAPER.format(id=f"2404.1700{n}", title=f"Week seventeen paper {n}", n=n),
        )
    site.service.refresh_if_stale(0)  # what run's 30 s refresh does: the papers are loaded
    first = site.client.get("/")
    assert "2024-W17" not in first.text
    assert main(["publish", "--week", "2024-W17"]) == 0  # only the ledger changes now
    after = site.client.get("/", headers={"if-none-match": first.headers["etag"]})
    assert after.status_code == 200 and "2024-W17" in after.text
    assert after.headers["etag"] != first.headers["etag"]
    assert site.client.get("/issues/2024-W17").status_code == 200


def test_a_content_change_shows_after_the_store_reloads(site: Site) -> None:
    path = site.root / "content" / "papers" / "2024" / "2404.09173.md"
    before = site.client.get("/papers/2404.09173?lang=en")
    assert "TransformerFAM" in before.text
    path.write_text(path.read_text().replace("TransformerFAM", "RenamedFAM"))
    site.service.snapshot(reload=True)
    after = site.client.get("/papers/2404.09173?lang=en")
    assert "RenamedFAM" in after.text and "TransformerFAM:" not in after.text


def test_other_text_responses_are_gzipped_when_accepted(site: Site) -> None:
    r = site.client.get("/search", params={"q": "attention"}, headers=GZIP)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "etag" not in r.headers  # search results are not cached
    plain = site.client.get("/search", params={"q": "attention"}, headers=IDENTITY)
    assert "content-encoding" not in plain.headers and plain.text == r.text
    missing = site.client.get("/issues/2030-W01", headers=GZIP)
    assert missing.status_code == 404 and "etag" not in missing.headers
    form = site.client.get("/subscribe", headers=GZIP)
    assert form.headers["cache-control"] == "no-store" and "etag" not in form.headers


# -- the middleware on its own ---------------------------------------------------------------


def _tiny_app(rendered: list[str]) -> Starlette:
    async def page(request: Request) -> Response:
        rendered.append(request.url.path)
        await asyncio.sleep(0.05)
        response = HTMLResponse("<p>" + "page " * 400 + "</p>")
        if request.query_params.get("cookie"):
            response.set_cookie("lang", "en")
        if request.query_params.get("private"):
            response.headers["cache-control"] = "no-store"
        return response

    version = {"n": 0}

    async def generation() -> int:
        return version["n"]

    app = Starlette(routes=[Route("/issues/{w}", page)])
    return PageCache(app, generation=generation, ttl=0.0)  # type: ignore[return-value]


def test_concurrent_misses_render_once_and_uncacheable_answers_pass_through() -> None:
    import httpx

    rendered: list[str] = []
    app = _tiny_app(rendered)

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*(client.get("/issues/a") for _ in range(30)))
            assert {r.status_code for r in answers} == {200}
            assert len({r.text for r in answers}) == 1
            assert rendered == ["/issues/a"]
            for _ in range(3):
                r = await client.get("/issues/b?cookie=1")
                assert r.headers["set-cookie"].startswith("lang=en")
                assert "etag" not in r.headers
                r = await client.get("/issues/c?private=1")
                assert r.headers["cache-control"] == "no-store" and "etag" not in r.headers
            assert rendered.count("/issues/b") == 3 and rendered.count("/issues/c") == 3

    asyncio.run(run())


def test_gzip_is_made_once_and_decodes(tmp_path: Path) -> None:
    from digestbot.web.cache import _page

    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/html")],
    }
    page = _page(start, b"<p>" + "很好 ".encode() * 1000 + b"</p>")
    assert gzip.decompress(page.gzipped) == page.body
    assert page.etag == _page(start, page.body).etag  # a stable ETag for the same page


def test_on_postgres_the_archive_is_asked_again_after_the_ttl(postgres_url: str) -> None:
    import datetime as dt

    from digestbot.db.archive_version import ArchiveWatch
    from digestbot.db.engine import make_engine, upgrade
    from digestbot.db.tables import issues

    now = [0.0]

    async def run() -> None:
        engine = make_engine(postgres_url)
        await upgrade(engine)
        watch = ArchiveWatch(engine, ttl=1.0, clock=lambda: now[0])
        try:
            before = await watch.current()
            async with engine.begin() as conn:
                stamp = dt.datetime(2024, 4, 20, tzinfo=dt.UTC)
                await conn.execute(
                    issues.insert().values(
                        week="2024-W16",
                        title_zh="周刊",
                        title_en="Weekly",
                        paper_ids="[]",
                        status="published",
                        created_at=stamp,
                        published_at=stamp,
                    )
                )
            now[0] = 0.5
            assert await watch.current() == before  # within the ttl: not asked
            now[0] = 1.2
            assert await watch.current() != before  # asked again: the publish shows
        finally:
            watch.close()
            await engine.dispose()

    asyncio.run(run())


def test_a_first_visit_answered_from_the_cache_still_remembers_the_language(
    site: Site,
) -> None:
    calls = count_calls(site)
    english = {"accept-language": "en-US,en;q=0.9"}
    assert "lang=en" in site.client.get("/", headers=english).headers["set-cookie"]
    site.client.cookies.clear()  # a new reader, English browser: the same cached page
    again = site.client.get("/", headers={"accept-language": "en-US,en;q=0.9"})
    assert 'lang="en"' in again.text and calls == [1]
    assert "lang=en" in again.headers["set-cookie"]  # remembered for the next visit
    site.client.cookies.clear()
    zh = site.client.get("/", headers={"accept-language": "zh-CN"})
    assert 'lang="zh' in zh.text and "lang=zh" in zh.headers["set-cookie"]
