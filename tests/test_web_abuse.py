"""Abuse limits on /subscribe: confirmation mails per address and in all, and whose address
a per-client limit counts (forwarded headers only from trusted proxies)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request

from digestbot.db.mail_limits import ConfirmationMailLimits, Verdict
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.web.app import create_app
from digestbot.web.clientaddr import client_address
from digestbot.wiring import build_service

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

VICTIM = "victim@example.com"


@dataclass
class Site:
    client: TestClient
    service: Service
    root: Path

    def confirmations(self, address: str = VICTIM) -> list[Path]:
        return sorted((self.root / "outbox" / "mail").glob(f"confirm-{address}-*.eml"))

    def subscribe(self, address: str = VICTIM, **headers: str) -> int:
        r = self.client.post("/subscribe", data={"email": address, "lang": "en"}, headers=headers)
        return r.status_code


def _site(root: Path, peer: str) -> Iterator[Site]:
    service = build_service(load_settings())
    app = create_app(service, manage_lifespan=True)
    with TestClient(app, raise_server_exceptions=False, client=(peer, 50000)) as client:
        yield Site(client, service, root)


@pytest.fixture
def site(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The app on the embedded default (outbox mail), the form limit out of the way."""
    monkeypatch.setenv("DIGESTBOT_SUBSCRIBE_RATE_PER_MINUTE", "1000")
    yield from _site(env, "203.0.113.7")


def test_sixty_requests_for_one_address_send_one_mail(site: Site) -> None:
    answers = {site.subscribe() for _ in range(60)}
    assert answers == {200}  # every request is answered as if a mail went out
    assert len(site.confirmations()) == 1
    # another address is not held back by the victim's limit
    assert site.subscribe("other@example.com") == 200
    assert len(site.confirmations("other@example.com")) == 1


def test_the_same_answer_whether_or_not_a_mail_went_out(site: Site) -> None:
    first = site.client.post("/subscribe?lang=en", data={"email": VICTIM})
    again = site.client.post("/subscribe?lang=en", data={"email": VICTIM})
    assert first.status_code == again.status_code == 200
    assert first.text == again.text
    assert len(site.confirmations()) == 1


def test_the_limit_holds_across_processes_and_restarts(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_SUBSCRIBE_RATE_PER_MINUTE", "1000")
    for _ in range(2):  # a second process, started after the first one stopped
        for site in _site(env, "203.0.113.7"):
            for _ in range(5):
                assert site.subscribe() == 200
    assert len(sorted((env / "outbox" / "mail").glob(f"confirm-{VICTIM}-*.eml"))) == 1


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


async def _limits(url: str, per_hour: int, clock: Clock) -> ConfirmationMailLimits:
    from digestbot.db.engine import make_engine, upgrade

    engine = make_engine(url)
    await upgrade(engine)
    return ConfirmationMailLimits(engine, per_hour, clock=clock)


async def _per_address_rules(url: str) -> None:
    clock = Clock()
    limits = await _limits(url, 100, clock)
    try:
        assert await limits.admit(VICTIM) is Verdict.SEND
        clock.advance(minutes=9)
        assert await limits.admit(VICTIM) is Verdict.TOO_SOON
        assert await limits.admit("VICTIM@example.com ") is Verdict.TOO_SOON  # same address
        clock.advance(minutes=2)
        assert await limits.admit(VICTIM) is Verdict.SEND  # 11 min after the first
        clock.advance(minutes=11)
        assert await limits.admit(VICTIM) is Verdict.SEND
        clock.advance(minutes=11)
        assert await limits.admit(VICTIM) is Verdict.DAILY_LIMIT  # 3 a day
        clock.advance(hours=23, minutes=30)
        assert await limits.admit(VICTIM) is Verdict.SEND  # the first is a day old
    finally:
        await limits.engine.dispose()


async def _hourly_cap(url: str) -> None:
    clock = Clock()
    limits = await _limits(url, 3, clock)
    try:
        for n in range(3):
            assert await limits.admit(f"r{n}@example.com") is Verdict.SEND
        assert await limits.admit("r3@example.com") is Verdict.HOURLY_CAP
        clock.advance(minutes=61)
        assert await limits.admit("r3@example.com") is Verdict.SEND
    finally:
        await limits.engine.dispose()


def test_per_address_limits_sqlite(tmp_path: Path) -> None:
    import asyncio

    asyncio.run(_per_address_rules(f"sqlite:///{tmp_path / 'limits.db'}"))


def test_per_address_limits_postgres(postgres_url: str) -> None:
    import asyncio

    asyncio.run(_per_address_rules(postgres_url))


def test_hourly_cap_over_all_addresses(tmp_path: Path) -> None:
    import asyncio

    asyncio.run(_hourly_cap(f"sqlite:///{tmp_path / 'limits.db'}"))


def test_concurrent_requests_on_postgres_send_once(postgres_url: str) -> None:
    """Two processes' engines asked for one address at the same moment: one mail."""
    import asyncio

    async def race() -> list[Verdict]:
        clock = Clock()
        a = await _limits(postgres_url, 100, clock)
        b = await _limits(postgres_url, 100, clock)
        try:
            return list(
                await asyncio.gather(*(lim.admit(VICTIM) for lim in (a, b) for _ in range(5)))
            )
        finally:
            await a.engine.dispose()
            await b.engine.dispose()

    verdicts = asyncio.run(race())
    assert verdicts.count(Verdict.SEND) == 1, verdicts


# -- whose address the form limit counts -----------------------------------------------------


def test_spoofed_forwarded_headers_from_an_untrusted_peer_are_ignored(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_SUBSCRIBE_RATE_PER_MINUTE", "5")
    for site in _site(env, "203.0.113.7"):
        codes = [
            site.subscribe(
                f"r{n}@example.com",
                **{"X-Forwarded-For": f"198.51.100.{n}", "Forwarded": f"for=198.51.100.{n}"},
            )
            for n in range(8)
        ]
        assert codes == [200] * 5 + [429] * 3


def test_a_trusted_proxy_forwards_each_client_address(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_SUBSCRIBE_RATE_PER_MINUTE", "5")
    monkeypatch.setenv("DIGESTBOT_HTTP__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    for site in _site(env, "10.1.2.3"):
        codes = [
            site.subscribe(f"r{n}@example.com", **{"X-Forwarded-For": f"198.51.100.{n}"})
            for n in range(8)
        ]
        assert codes == [200] * 8  # eight clients, one request each
        same = [
            site.subscribe(f"s{n}@example.com", **{"X-Forwarded-For": "198.51.100.99"})
            for n in range(6)
        ]
        assert same == [200] * 5 + [429]


def _request(peer: str, headers: list[tuple[str, str]]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    return Request({"type": "http", "client": (peer, 1), "headers": raw, "method": "GET"})


def test_client_address_walks_the_chain_from_the_right() -> None:
    settings = load_settings(http={"trusted_proxies": ["10.0.0.0/8", "::1"]})
    proxies = settings.http.trusted_networks
    spoof = [("X-Forwarded-For", "1.2.3.4, 198.51.100.9, 10.0.0.2")]
    # the client may write anything left of what the proxies appended
    assert client_address(_request("10.0.0.1", spoof), proxies) == "198.51.100.9"
    assert client_address(_request("203.0.113.7", spoof), proxies) == "203.0.113.7"
    assert client_address(_request("203.0.113.7", spoof), ()) == "203.0.113.7"
    fwd = [("Forwarded", 'for="[2001:db8::7]:4711";proto=https, for=10.0.0.3')]
    assert client_address(_request("::1", fwd), proxies) == "2001:db8::7"
    assert client_address(_request("10.0.0.1", [("X-Forwarded-For", "unknown")]), proxies) == (
        "10.0.0.1"
    )
    assert client_address(_request("10.0.0.1", []), proxies) == "10.0.0.1"


def test_trusted_proxies_setting_is_checked() -> None:
    from digestbot.errors import SettingsError

    with pytest.raises(SettingsError, match="DIGESTBOT_HTTP__TRUSTED_PROXIES"):
        load_settings(http={"trusted_proxies": ["not-an-ip"]})


# -- signed tokens with a payload of the wrong shape ----------------------------------------


@pytest.mark.parametrize(
    "payload",
    [["victim@example.com", "xx"], [["victim@example.com"], "en"], "junk", [1], {"a": 1}, None],
)
def test_a_validly_signed_token_with_a_bad_payload_is_400(site: Site, payload: object) -> None:
    from itsdangerous import URLSafeTimedSerializer

    key = site.service.settings.secret_key.get_secret_value()
    confirm = URLSafeTimedSerializer(key, salt="digestbot.confirm").dumps(payload)
    unsub = URLSafeTimedSerializer(key, salt="digestbot.unsubscribe").dumps(
        ["fax", "x"] if payload is None else payload
    )
    for path in (f"/confirm/{confirm}", f"/unsubscribe/{unsub}"):
        for method in ("GET", "POST"):
            r = site.client.request(method, path)
            assert r.status_code == 400, (method, path, r.status_code)
            assert "not valid" in r.text or "无效" in r.text


def test_trusted_proxies_not_written_as_json_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    from digestbot.errors import SettingsError

    monkeypatch.setenv("DIGESTBOT_HTTP__TRUSTED_PROXIES", "10.0.0.1")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "DIGESTBOT_HTTP__TRUSTED_PROXIES: not valid JSON" in str(caught.value)
    assert '["127.0.0.1", "10.0.0.0/8"]' in str(caught.value)


def test_digestbot_run_ignores_forwarded_headers_from_loopback(env: Path) -> None:
    """The real server: uvicorn must not rewrite the peer from X-Forwarded-For either."""
    import os

    import httpx

    from test_run import free_port, start_run, stop_run

    port = free_port()
    environ = {
        **os.environ,
        "DIGESTBOT_HTTP__PORT": str(port),
        "DIGESTBOT_SUBSCRIBE_RATE_PER_MINUTE": "5",
    }
    proc, lines = start_run(environ, env)
    try:
        codes = [
            httpx.post(
                f"http://127.0.0.1:{port}/subscribe",
                data={"email": f"r{n}@example.com", "lang": "en"},
                headers={"X-Forwarded-For": f"198.51.100.{n}", "Forwarded": f"for=198.51.100.{n}"},
                timeout=10,
            ).status_code
            for n in range(7)
        ]
    finally:
        code = stop_run(proc, lines)
    assert codes == [200] * 5 + [429] * 2
    assert code == 0, "\n".join(lines)
