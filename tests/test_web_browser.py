"""A real browser (Debian's chromium via Playwright) against the app served by uvicorn."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import uvicorn

from conftest import write
from digestbot.cli import main
from digestbot.settings import load_settings
from digestbot.web.app import create_app
from digestbot.wiring import build_service

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READER = "reader@example.com"
SECOND = "second@example.com"

W17_PAPER = """---
arxiv_id: '{id}'
title_en: '{title}'
title_zh: 第十七周的论文 {n}
date: 2024-04-2{n}
status: ready
score: {n}
authors: [Ada Lovelace]
summary_en: A paper published in the week after the sample, number {n}.
summary_zh: 样例之后一周的第 {n} 篇论文。
---
"""


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing but CI must run the browser tests (apt-get chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium) and CI is not set")


@dataclass
class Served:
    url: str
    root: Path

    @property
    def mail(self) -> Path:
        return self.root / "outbox" / "mail"

    def status(self, address: str) -> str | None:
        """The subscriber's status, read straight from the SQLite file."""
        with sqlite3.connect(self.root / "digestbot.db") as db:
            row = db.execute(
                "SELECT status FROM subscribers WHERE channel = 'email' AND address = ?",
                (address,),
            ).fetchone()
        return None if row is None else str(row[0])

    def language(self, address: str) -> str | None:
        """The subscriber's language, read straight from the SQLite file."""
        with sqlite3.connect(self.root / "digestbot.db") as db:
            row = db.execute(
                "SELECT lang FROM subscribers WHERE channel = 'email' AND address = ?",
                (address,),
            ).fetchone()
        return None if row is None else str(row[0])

    def deliveries(self, address: str) -> list[tuple[str, str]]:
        """(week, status) of every ledger row for ``address``, read from the SQLite file."""
        with sqlite3.connect(self.root / "digestbot.db") as db:
            rows = db.execute(
                "SELECT issues.week, deliveries.status FROM deliveries"
                " JOIN issues ON issues.id = deliveries.issue_id"
                " WHERE deliveries.address = ? ORDER BY deliveries.id",
                (address,),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]


@pytest.fixture
def served(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """uvicorn on a free 127.0.0.1 port in a thread with its own loop; the service is
    started in that loop by the app's lifespan. 2024-W16 is published beforehand."""
    require_chromium()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("DIGESTBOT_PUBLIC_URL", url)
    assert main(["publish", "--week", "2024-W16"]) == 0
    app = create_app(build_service(load_settings()), manage_lifespan=True)
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield Served(url, env)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive()


def wait_for(pattern: str, folder: Path, timeout: float = 10.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern)) if folder.exists() else []
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {pattern} in {folder} after {timeout}s")


def cli(*args: str) -> int:
    """``digestbot ARGS`` on a thread of its own: Playwright's sync API keeps a loop running
    on this one, and the command builds its own service and loop on the same SQLite file."""
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(main(list(args))))
    worker.start()
    worker.join(timeout=60)
    assert codes, f"digestbot {' '.join(args)} did not finish"
    return codes[0]


def read_eml(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_reader_journey_in_a_real_browser(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="en-US")
            page = context.new_page()

            # the archive, then an issue
            page.goto(served.url + "/")
            expect(page.locator("h2.section")).to_have_text("Archive")
            page.click("a.issue-link[href^='/issues/2024-W16']")
            expect(page).to_have_url(served.url + "/issues/2024-W16?lang=en")
            assert page.locator("li.paper").count() == 9
            expect(page.locator("li.paper h2").first).to_be_visible()

            # search, then open the paper
            page.click("nav >> text=Search")
            page.fill("#q", "CLIP")
            page.press("#q", "Enter")
            page.wait_for_url(re.compile(r"/search\?q=CLIP"))
            page.click("a[href^='/papers/2404.08197']")
            expect(page.locator("h1")).to_contain_text("Scaling (Down) CLIP")

            # subscribe through the form, in Chinese
            page.goto(served.url + "/subscribe")
            page.fill("#email", READER)
            page.check("input[name='lang'][value='zh']")
            page.click("form.stack button[type='submit']")
            expect(page.locator("h1")).to_have_text("Check your inbox")
            confirmation = read_eml(wait_for(f"confirm-{READER}-*.eml", served.mail))
            body = confirmation.get_body(("plain",))
            assert isinstance(body, EmailMessage)
            link = re.search(r"http://\S+/confirm/\S+", str(body.get_content()))
            assert link is not None and link.group(0).startswith(served.url)

            # the link confirms in one click (tests/test_web_browser_readers.py for more)
            assert served.status(READER) == "pending"
            page.goto(link.group(0))
            expect(page.locator("h1")).to_have_text("订阅成功")
            assert served.status(READER) == "active"

            # the next issue, published by another process, reaches the new subscriber
            assert cli("subscribers", "add", SECOND, "--lang", "en") == 0
            for n in (2, 3):
                write(
                    served.root / "content" / "papers" / "2024" / f"2404.1700{n}.md",
                    W17_PAPER.format(id=f"2404.1700{n}", title=f"Week seventeen paper {n}", n=n),
                )
            assert cli("publish", "--week", "2024-W17") == 0
            issue_mail = read_eml(wait_for(f"2024-W17-{READER}.eml", served.mail, timeout=1))
            assert issue_mail["To"] == READER
            assert issue_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            unsubscribe = issue_mail["List-Unsubscribe"].strip("<>")
            assert unsubscribe.startswith(served.url + "/unsubscribe/")
            page.goto(served.url + "/")
            expect(page.locator("a[href^='/issues/2024-W17']").first).to_be_visible()

            # unsubscribe through the page: GET changes nothing, the button does
            page.goto(unsubscribe)
            expect(page.locator("main")).to_contain_text(READER)
            assert served.status(READER) == "active"
            page.click("form button[type='submit']")
            expect(page.locator("h1")).to_have_text("You are unsubscribed")
            assert served.status(READER) == "unsubscribed"

            # and the mail provider's RFC 8058 one-click POST, twice
            second = read_eml(wait_for(f"2024-W17-{SECOND}.eml", served.mail, timeout=1))
            one_click = second["List-Unsubscribe"].strip("<>")
            for _ in range(2):
                r = httpx.post(
                    one_click,
                    content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    timeout=10,
                )
                assert r.status_code == 200
                assert "set-cookie" not in r.headers
                assert served.status(SECOND) == "unsubscribed"

            # a phone: one column, no horizontal scroll
            phone = browser.new_context(
                viewport={"width": 360, "height": 740},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                locale="zh-CN",
            )
            small = phone.new_page()
            for path, shot in (("/issues/2024-W16", "issue"), ("/subscribe", "subscribe")):
                small.goto(served.url + path)
                expect(small.locator("html")).to_have_attribute("lang", "zh-CN")
                small.screenshot(path=str(tmp_path / f"{shot}-phone.png"), full_page=True)
                # against the phone's width: a phone zooms out to fit a page too wide
                width = small.evaluate("document.documentElement.scrollWidth")
                assert width <= 360, (path, width)
            assert (tmp_path / "issue-phone.png").stat().st_size > 1000
            phone.close()
            context.close()
        finally:
            browser.close()
