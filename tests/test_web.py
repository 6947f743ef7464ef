"""The web app over a real service: every route, escaping, the feed, subscriptions, security."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import feedparser
import html5lib
import itsdangerous.timed
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from conftest import write
from digestbot.content.store import Snapshot
from digestbot.db.engine import make_engine
from digestbot.delivery.issuebook import IssueRecord
from digestbot.models import Channel, Language
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.subscribers import ACTIVE, PENDING, UNSUBSCRIBED, Subscriber
from digestbot.web.app import create_app
from digestbot.web.formlimit import FormRateLimiter
from digestbot.web.pages import negotiate_lang
from digestbot.wiring import build_service

with warnings.catch_warnings():
    # Starlette 1.x would rather run its test client on httpx2; httpx works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

T = TypeVar("T")
SMTP_PASSWORD = "smtp-password-9f8e7d"
HOSTILE = "<script>alert(1)</script> & <b"
HOSTILE_ID = "2404.10001"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}

HOSTILE_PAPER = f"""---
arxiv_id: '{HOSTILE_ID}'
title_en: '{HOSTILE}'
title_zh: '{HOSTILE} 中文'
date: 2024-04-16
status: ready
score: 1
authors: ['<i>Mallory</i> & co']
links: {{code: 'https://example.com/code?a=1&b=2'}}
tags: ['<b>tag</b>']
summary_en: 'Summary with <img src=x onerror=alert(1)> and "quotes" & ampersands.'
summary_zh: '摘要 <script>alert(2)</script> 和 & 符号。'
---
Abstract <em>not markup</em> & more.
"""


@dataclass
class Site:
    client: TestClient
    service: Service
    root: Path

    @property
    def mail(self) -> Path:
        return self.root / "outbox" / "mail"

    def call(self, func: Callable[..., Awaitable[T]], *args: object) -> T:
        """Run ``func`` on the app's loop, where the service and its engine live."""
        assert self.client.portal is not None
        return self.client.portal.call(func, *args)

    def subscriber(self, address: str) -> Subscriber | None:
        return self.call(self.service.subscribers.get, Channel.EMAIL, address)

    def confirmations(self, address: str) -> list[Path]:
        return sorted(self.mail.glob(f"confirm-{address}-*.eml"))


@pytest.fixture
def site(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The app over a real service (SQLite, outbox) with the sample week and a hostile
    paper published as 2024-W16; the service lives on the test client's loop."""
    monkeypatch.setenv("DIGESTBOT_SMTP__PASSWORD", SMTP_PASSWORD)
    write(env / "content" / "papers" / "2024" / f"{HOSTILE_ID}.md", HOSTILE_PAPER)
    service = build_service(load_settings())
    app = create_app(service, manage_lifespan=True)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        site = Site(client, service, env)
        report = site.call(service.publish, "2024-W16")
        assert report.complete, report.lines()
        yield site


def strict(page: str) -> None:
    html5lib.HTMLParser(strict=True).parse(page)


def read_eml(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_part(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def confirm_path(site: Site, address: str) -> str:
    files = site.confirmations(address)
    assert len(files) == 1, files
    urls = re.findall(r"https?://\S+/confirm/\S+", text_part(read_eml(files[0])))
    assert urls
    return str(urlsplit(urls[0]).path)


def subscribe(site: Site, address: str, lang: str = "en") -> str:
    r = site.client.post("/subscribe", data={"email": address, "lang": lang})
    assert r.status_code == 200, r.text
    return str(r.text)


def activate(site: Site, address: str, lang: str = "en") -> None:
    subscribe(site, address, lang)
    assert site.client.post(confirm_path(site, address)).status_code == 200
    sub = site.subscriber(address)
    assert sub is not None and sub.status == ACTIVE


def unsubscribe_path(site: Site, address: str) -> str:
    return str(urlsplit(site.service.unsubscribe_url(Channel.EMAIL, address)).path)


# -- reading --------------------------------------------------------------------------------


def test_archive_lists_the_published_issue(site: Site) -> None:
    r = site.client.get("/", headers={"accept-language": "en-US,en;q=0.9"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'lang="en"' in r.text and "Archive" in r.text
    assert 'href="/issues/2024-W16?lang=en"' in r.text
    assert "2024-W16" in r.text and "每周AI论文速递" not in r.text.split("<main")[1]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in r.text
    strict(r.text)
    assert site.client.head("/").status_code == 200


def test_issue_page_and_week_spellings(site: Site) -> None:
    r = site.client.get("/issues/2024-W16?lang=en")
    assert r.status_code == 200
    assert "Scaling (Down) CLIP" in r.text
    assert 'href="/papers/2404.08197?lang=en"' in r.text
    strict(r.text)
    moved = site.client.get("/issues/2024-04-17?lang=zh")
    assert moved.status_code == 301
    assert moved.headers["location"] == "/issues/2024-W16?lang=zh"
    for path in ("/issues/2024-W15", "/issues/2099-W01", "/issues/not-a-week"):
        missing = site.client.get(path)
        assert missing.status_code == 404, path
        assert "Traceback" not in missing.text
        strict(missing.text)
    assert "2024-W15" in site.client.get("/issues/2024-W15?lang=en").text


def test_paper_page_links_its_issue(site: Site) -> None:
    r = site.client.get("/papers/2404.08197?lang=both")
    assert r.status_code == 200
    assert "把 CLIP 做小" in r.text and "Scaling (Down) CLIP" in r.text
    assert 'href="/issues/2024-W16?lang=both"' in r.text
    strict(r.text)
    moved = site.client.get("/papers/2404.08197v3")
    assert moved.status_code == 301 and moved.headers["location"] == "/papers/2404.08197"
    missing = site.client.get("/papers/9999.99999?lang=en")
    assert missing.status_code == 404 and "9999.99999" in missing.text
    strict(missing.text)


def test_a_paper_added_by_another_process_gets_a_page(site: Site) -> None:
    # an unknown id reloads the store only when a file for it exists (a reload of a large
    # store takes a while); then the new paper has its page without a restart
    service = site.service
    service._loaded_at -= 60  # the reload throttle has passed
    loads = service.store.load
    calls: list[int] = []

    def counted() -> Snapshot:
        calls.append(1)
        return loads()

    service.store.load = counted  # type: ignore[method-assign]
    assert site.client.get("/papers/2404.30001").status_code == 404
    assert calls == [], "an id with no file must not reload the store"
    write(
        site.root / "content" / "papers" / "2024" / "2404.30001.md",
        "---\narxiv_id: '2404.30001'\ntitle_en: Arrived later\ndate: 2024-04-18\n"
        "status: ready\n---\n",
    )
    r = site.client.get("/papers/2404.30001?lang=en")
    assert r.status_code == 200 and "Arrived later" in r.text
    assert calls == [1]


def test_drafts_have_no_page(site: Site) -> None:
    write(
        site.root / "content" / "papers" / "2024" / "2404.20000.md",
        "---\narxiv_id: '2404.20000'\ntitle_en: Secret draft\ndate: 2024-04-22\n"
        "status: draft\n---\n",
    )
    site.service.build_index()
    assert site.service.paper("2404.20000") is None
    assert site.service.paper("2404.20000", drafts=True) is not None
    assert site.client.get("/papers/2404.20000").status_code == 404
    found = site.client.get("/search", params={"q": "Secret draft"})
    assert found.status_code == 200 and "/papers/2404.20000" not in found.text
    assert site.client.get("/search", params={"q": "2404.20000"}).status_code == 200


def test_language_from_query_then_accept_language_then_both(site: Site) -> None:
    zh = site.client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert 'lang="zh-CN"' in zh.text and "往期" in zh.text and "Archive" not in zh.text
    en = site.client.get("/?lang=en", headers={"accept-language": "zh-CN"})
    assert 'lang="en"' in en.text and "Archive" in en.text and "往期" not in en.text
    site.client.cookies.clear()  # the reader's choice is remembered (tests/test_web_language)
    both = site.client.get("/")
    assert "往期 / Archive" in both.text
    assert {v.strip() for v in both.headers["vary"].split(",")} >= {"Accept-Language", "Cookie"}
    assert negotiate_lang(None, "fr-FR, en;q=0.5, zh;q=0.7") is Language.ZH
    assert negotiate_lang(None, "fr, de") is Language.BOTH
    assert negotiate_lang("bogus", "en") is Language.EN
    assert negotiate_lang(None, "en;q=0, zh;q=abc") is Language.BOTH


def test_search_finds_words_and_redirects_ids(site: Site) -> None:
    found = site.client.get("/search", params={"q": "CLIP", "lang": "en"})
    assert found.status_code == 200
    assert 'href="/papers/2404.08197?lang=en"' in found.text
    strict(found.text)
    by_id = site.client.get("/search", params={"q": "2404.08197", "lang": "en"})
    assert by_id.status_code == 303
    assert by_id.headers["location"] == "/papers/2404.08197?lang=en"
    empty = site.client.get("/search")
    assert empty.status_code == 200 and 'name="q"' in empty.text
    strict(empty.text)
    none = site.client.get("/search", params={"q": "zzqqxxnothing", "lang": "en"})
    assert none.status_code == 200 and "No paper matches" in none.text
    strict(none.text)
    hostile = site.client.get("/search", params={"q": '"><script>x</script>', "offset": "-5"})
    assert hostile.status_code == 200 and "<script>x" not in hostile.text
    strict(hostile.text)


def test_feed_is_valid_atom_with_one_entry_per_issue(site: Site) -> None:
    r = site.client.get("/feed.xml")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    assert b"<script>" not in r.content
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    records = site.call(site.service.published_issues)
    assert len(parsed.entries) == len(records) == 1
    entry, record = parsed.entries[0], records[0]
    assert entry.title == f"{record.title_zh} / {record.title_en}"
    assert entry.link == "http://127.0.0.1:8000/issues/2024-W16"
    assert entry.id == entry.link
    assert entry.updated and entry.author
    assert "Scaling (Down) CLIP" in entry.content[0].value
    assert parsed.feed.title == "每周AI论文速递 / Weekly AI Papers"
    en = feedparser.parse(site.client.get("/feed.xml?lang=en").content)
    assert en.entries[0].title == record.title_en


def test_hostile_content_is_escaped_everywhere(site: Site) -> None:
    pages = [
        "/",
        "/issues/2024-W16",
        f"/papers/{HOSTILE_ID}",
        "/search?q=alert",
        "/search?q=%3Cscript%3E",
    ]
    for lang in ("zh", "en", "both"):
        for path in pages:
            sep = "&" if "?" in path else "?"
            r = site.client.get(f"{path}{sep}lang={lang}")
            assert r.status_code == 200, path
            strict(r.text)
            doc = html5lib.parse(r.text, namespaceHTMLElements=False)
            assert list(doc.iter("script")) == [], path
            assert list(doc.iter("img")) == [], path
            assert "<script>alert" not in r.text and HOSTILE not in r.text
            assert "javascript:" not in r.text
    issue = site.client.get("/issues/2024-W16?lang=en").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b" in issue
    paper = site.client.get(f"/papers/{HOSTILE_ID}?lang=both").text
    assert "&lt;i&gt;Mallory&lt;/i&gt; &amp; co" in paper
    assert 'href="https://example.com/code?a=1&amp;b=2"' in paper
    feed = site.client.get("/feed.xml").content
    assert b"<script>" not in feed and b"javascript:" not in feed
    parsed = feedparser.parse(feed)
    assert not parsed.bozo
    content = parsed.entries[0].content[0].value
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b" in content


def test_no_external_assets_and_security_headers(site: Site) -> None:
    for path in ("/", "/issues/2024-W16", "/subscribe", "/search", "/nope", "/feed.xml"):
        r = site.client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "http" not in csp and "default-src 'none'" in csp
        if r.headers["content-type"].startswith("text/html"):
            doc = html5lib.parse(r.text, namespaceHTMLElements=False)
            assert list(doc.iter("script")) == []
            for link in doc.iter("link"):
                assert "stylesheet" not in (link.get("rel") or "")
            for tag in doc.iter():
                src = tag.get("src") if isinstance(tag.tag, str) else None
                assert not src, (path, tag.tag, src)


# -- subscriptions --------------------------------------------------------------------------


def test_subscribe_confirm_flow(site: Site) -> None:
    form = site.client.get("/subscribe?lang=en")
    assert form.status_code == 200
    assert 'type="email"' in form.text and 'value="both"' in form.text
    assert form.headers["cache-control"] == "no-store"
    strict(form.text)
    done = subscribe(site, "Reader@Example.COM", "zh")
    assert "请查收确认邮件" in done or "Check your inbox" in done
    strict(done)
    address = "Reader@example.com"
    sub = site.subscriber(address)
    assert sub is not None and sub.status == PENDING and sub.lang is Language.ZH

    msg = read_eml(site.confirmations(address)[0])
    assert msg["To"] == address
    path = confirm_path(site, address)
    page = site.client.get(path)
    assert page.status_code == 200
    assert "<button" in page.text and 'method="post"' in page.text
    assert 'lang="zh-CN"' in page.text  # the language the reader chose
    strict(page.text)
    again = site.subscriber(address)
    assert again is not None and again.status == PENDING  # GET changed nothing

    confirmed = site.client.post(path)
    assert confirmed.status_code == 200
    assert "订阅成功" in confirmed.text
    strict(confirmed.text)
    active = site.subscriber(address)
    assert active is not None and active.status == ACTIVE
    assert site.client.post(path).status_code == 200  # a second press is harmless


def test_subscribe_answers_the_same_for_known_addresses(site: Site) -> None:
    activate(site, "known@example.com")
    known = subscribe(site, "known@example.com")
    fresh = subscribe(site, "fresh@example.com")
    assert known == fresh
    assert len(site.confirmations("known@example.com")) == 1  # no second mail
    assert len(site.confirmations("fresh@example.com")) == 1


def test_invalid_address_shows_the_form_again(site: Site) -> None:
    r = site.client.post("/subscribe?lang=en", data={"email": 'not-an-address"><b>', "lang": "en"})
    assert r.status_code == 400
    assert "not a valid email address" in r.text
    assert 'value="not-an-address&#34;&gt;&lt;b&gt;"' in r.text
    assert 'aria-invalid="true"' in r.text
    strict(r.text)
    bad_lang = site.client.post("/subscribe?lang=en", data={"email": "a@example.com", "lang": "x"})
    assert bad_lang.status_code == 400 and "Choose Chinese, English or both" in bad_lang.text
    assert not site.mail.exists() or not list(site.mail.glob("confirm-*"))


def test_forged_and_tampered_tokens_change_nothing(site: Site) -> None:
    subscribe(site, "victim@example.com")
    path = confirm_path(site, "victim@example.com")
    token = path.rsplit("/", 1)[1]
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for bad in ("forged", tampered, token + "x", "a" * 300):
        for method in ("GET", "POST"):
            r = site.client.request(method, f"/confirm/{bad}?lang=en")
            assert r.status_code == 400, (bad, method)
            assert "not valid" in r.text
            strict(r.text)
    sub = site.subscriber("victim@example.com")
    assert sub is not None and sub.status == PENDING

    activate(site, "member@example.com")
    unsub = unsubscribe_path(site, "member@example.com")
    utoken = unsub.rsplit("/", 1)[1]
    forged_unsub = utoken[:-3] + ("xyz" if not utoken.endswith("xyz") else "abc")
    for method in ("GET", "POST"):
        r = site.client.request(
            method,
            f"/unsubscribe/{forged_unsub}",
            content=b"List-Unsubscribe=One-Click",
            headers=ONE_CLICK,
        )
        assert r.status_code == 400
    member = site.subscriber("member@example.com")
    assert member is not None and member.status == ACTIVE


class ShiftedClock:
    """``time`` as itsdangerous sees it, moved forward: links age without waiting."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead


def test_expired_confirmation_link(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    subscribe(site, "late@example.com")
    path = confirm_path(site, "late@example.com")  # the link as mailed
    window = site.service.settings.confirm_token_hours * 3600
    monkeypatch.setattr(itsdangerous.timed, "time", ShiftedClock(window - 60))
    assert site.client.get(f"{path}?lang=en").status_code == 200  # still valid
    monkeypatch.setattr(itsdangerous.timed, "time", ShiftedClock(window + 60))
    page = site.client.get(f"{path}?lang=en")
    assert page.status_code == 400 and "expired" in page.text
    assert site.client.post(f"{path}?lang=en").status_code == 400
    late = site.subscriber("late@example.com")
    assert late is not None and late.status == PENDING
    strict(page.text)


def test_one_click_unsubscribe(site: Site) -> None:
    activate(site, "leaver@example.com")
    path = unsubscribe_path(site, "leaver@example.com")
    page = site.client.get(path + "?lang=en")
    assert page.status_code == 200 and "leaver@example.com" in page.text
    assert "<button" in page.text
    strict(page.text)
    kept = site.subscriber("leaver@example.com")
    assert kept is not None and kept.status == ACTIVE  # GET changed nothing

    site.client.cookies.clear()
    # a mail provider's POST: no cookies, no form token, maybe no browser headers at all
    r = site.client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={**ONE_CLICK, "sec-fetch-site": "cross-site"},
    )
    assert r.status_code == 200
    assert "set-cookie" not in r.headers
    gone = site.subscriber("leaver@example.com")
    assert gone is not None and gone.status == UNSUBSCRIBED
    repeat = site.client.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert repeat.status_code == 200
    multipart = site.client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200
    strict(repeat.text)


def test_unsubscribe_button_posts_back(site: Site) -> None:
    activate(site, "button@example.com")
    path = unsubscribe_path(site, "button@example.com")
    page = site.client.get(path)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    r = site.client.post(action.group(1).replace("&amp;", "&"))
    assert r.status_code == 200
    sub = site.subscriber("button@example.com")
    assert sub is not None and sub.status == UNSUBSCRIBED


def test_cross_site_form_posts_are_refused(site: Site) -> None:
    subscribe(site, "target@example.com")
    path = confirm_path(site, "target@example.com")
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        assert site.client.post(path, headers=headers).status_code == 403
        r = site.client.post("/subscribe", data={"email": "x@example.com"}, headers=headers)
        assert r.status_code == 403
    sub = site.subscriber("target@example.com")
    assert sub is not None and sub.status == PENDING
    same = site.client.post(path, headers={"origin": "http://testserver"})
    assert same.status_code == 200


def test_subscribe_posts_are_rate_limited(site: Site) -> None:
    limit = site.service.settings.subscribe_rate_per_minute
    for n in range(limit):
        r = site.client.post("/subscribe", data={"email": f"r{n}@example.com", "lang": "en"})
        assert r.status_code == 200
    r = site.client.post("/subscribe?lang=en", data={"email": "more@example.com"})
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 60
    assert "Too many requests" in r.text
    strict(r.text)
    assert site.confirmations("more@example.com") == []
    assert site.client.get("/subscribe").status_code == 200  # reading is not limited


def test_form_rate_limiter_window() -> None:
    now = [0.0]
    limiter = FormRateLimiter(2, 60.0, max_keys=3, clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") == 60
    now[0] = 30.0
    assert limiter.hit("a") == 30 and limiter.hit("b") == 0
    now[0] = 60.5
    assert limiter.hit("a") == 0
    for key in ("c", "d", "e", "f"):
        limiter.hit(key)
    assert len(limiter._hits) <= 3


# -- operations and errors ------------------------------------------------------------------


def test_healthz_and_metrics(site: Site) -> None:
    r = site.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    site.client.get("/issues/2024-W16")
    # /metrics: only with a token or on its own port (tests/test_operations.py)
    assert site.client.get("/metrics").status_code == 404


def test_healthz_reports_a_dead_database(site: Site) -> None:
    working = site.service.engine
    site.service.engine = make_engine("postgresql://digest:pw-4f3e@127.0.0.1:9/nothing")
    try:
        r = site.client.get("/healthz")
    finally:
        site.call(site.service.engine.dispose)
        site.service.engine = working
    assert r.status_code == 503 and r.json() == {"status": "error"}
    assert "pw-4f3e" not in r.text and "127.0.0.1" not in r.text
    assert site.client.get("/healthz").status_code == 200


def test_error_pages_and_secrets(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    secret_key = site.service.settings.secret_key.get_secret_value()
    assert secret_key  # the one the settings hold, whatever the fixture chose

    async def broken() -> list[IssueRecord]:
        raise RuntimeError(f"database at sqlite:///x failed with {secret_key} {SMTP_PASSWORD}")

    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for path in ("/", "/issues/2024-W16", "/subscribe", "/search?q=CLIP", "/nope", "/feed.xml"):
        r = site.client.get(path)
        seen.append(r.text + str(r.headers))
    not_allowed = site.client.put("/subscribe?lang=en")
    assert not_allowed.status_code == 405 and "Method not allowed" in not_allowed.text
    assert "GET" in not_allowed.headers["allow"]
    strict(not_allowed.text)
    too_large = site.client.post(
        "/subscribe",
        content=b"email=" + b"a" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert too_large.status_code == 413
    strict(too_large.text)
    seen += [not_allowed.text, too_large.text, site.client.get("/confirm/bad").text]

    site.service.published_issues = broken  # type: ignore[method-assign]
    crash = site.client.get("/?lang=en")
    assert crash.status_code == 500
    assert "Something went wrong" in crash.text and "Traceback" not in crash.text
    assert "RuntimeError" not in crash.text
    assert crash.headers["x-content-type-options"] == "nosniff"
    strict(crash.text)
    seen.append(crash.text + str(crash.headers))
    for text in [*seen, caplog.text]:
        assert secret_key not in text and SMTP_PASSWORD not in text
    assert "RuntimeError" in caplog.text  # the operator still learns what failed, and where
