"""The importers' HTTP client against a real local server: retries, backoff, clear errors."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from digestbot.errors import ImportFailed
from digestbot.sources.http import USER_AGENT, HttpClient, SourceUnreachable, retry_after_seconds
from fixtures.stub_server import StubServer, closed_port_url


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def test_retry_after_forms() -> None:
    now = dt.datetime(2024, 4, 15, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Mon, 15 Apr 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Mon, 15 Apr 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


async def test_backoff_on_5xx_without_retry_after(stub: StubServer) -> None:
    stub.fail_next("/api/daily_papers", 502)
    stub.fail_next("/api/daily_papers", 503)
    start = time.monotonic()
    async with HttpClient(setting="X", retries=2, backoff=0.05) as client:
        response = await client.get(f"{stub.url}/api/daily_papers", params={"date": "2024-04-15"})
    assert response.status_code == 200 and len(response.json()) == 3
    assert time.monotonic() - start >= 0.05 + 0.1  # exponential: 0.05, then 0.1
    assert client.requests == 3
    assert stub.requests_to("/api/daily_papers")[0].headers["user-agent"] == USER_AGENT


async def test_retry_after_is_honoured(stub: StubServer) -> None:
    stub.fail_next("/api/daily_papers", 429, retry_after="0.3")
    start = time.monotonic()
    async with HttpClient(setting="X", retries=1, backoff=0.0) as client:
        await client.get(f"{stub.url}/api/daily_papers")
    assert time.monotonic() - start >= 0.3


async def test_too_long_retry_after_fails_at_once(stub: StubServer) -> None:
    stub.fail_next("/api/daily_papers", 429, retry_after="3600")
    async with HttpClient(setting="X", retries=3) as client:
        with pytest.raises(SourceUnreachable, match="asks to wait 3600 s"):
            await client.get(f"{stub.url}/api/daily_papers")
    assert len(stub.requests_to("/api/daily_papers")) == 1


async def test_4xx_is_not_retried(stub: StubServer) -> None:
    async with HttpClient(setting="DIGESTBOT_SOURCES__HF_URL", retries=3) as client:
        with pytest.raises(
            ImportFailed, match=r"no such endpoint .* check DIGESTBOT_SOURCES__HF_URL"
        ):
            await client.get(f"{stub.url}/nope")
    assert len(stub.requests_to("/nope")) == 1


async def test_offline_message_names_the_setting() -> None:
    url = closed_port_url()
    async with HttpClient(setting="DIGESTBOT_SOURCES__ARXIV_URL", retries=1, backoff=0.01) as c:
        with pytest.raises(SourceUnreachable) as info:
            await c.get(url)
    assert str(info.value).startswith(
        f"cannot reach {url.removeprefix('http://')}: check your network or "
        "DIGESTBOT_SOURCES__ARXIV_URL"
    )
    assert c.requests == 2
