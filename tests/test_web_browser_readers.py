"""A reader in a real browser (Debian's chromium): the language kept across clicks, the
one-click confirm link and the welcome issue, the preferences page, phones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from test_web_browser import (  # noqa: F401  (the served app and its helpers)
    CHROMIUM,
    CHROMIUM_ARGS,
    Served,
    read_eml,
    served,
    wait_for,
)

pytestmark = pytest.mark.browser

READER = "welcome@example.com"


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def confirm_link(app: Served, address: str) -> str:
    mail = read_eml(wait_for(f"confirm-{address}-*.eml", app.mail))
    body = mail.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(r"http://\S+/confirm/\S+", str(body.get_content()))
    assert found is not None
    return found.group(0)


def test_language_is_kept_across_three_clicks(served: Served, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN")  # the browser asks for Chinese
    page = context.new_page()
    page.goto(served.url + "/?lang=en")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "en")
    page.click("main a[href*='/issues/2024-W16']")  # 1: the issue
    expect(page.locator("h1").first).to_contain_text("Weekly AI Papers")
    expect(html).to_have_attribute("lang", "en")
    page.click("li.paper h2 a >> nth=0")  # 2: a paper
    expect(page.locator("main")).to_contain_text("Authors")
    expect(html).to_have_attribute("lang", "en")
    page.click("nav >> text=Search")  # 3: search, then a search
    expect(html).to_have_attribute("lang", "en")
    page.fill("#q", "CLIP")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"/search\?q=CLIP"))
    expect(html).to_have_attribute("lang", "en")
    # a typed address, without ?lang: the cookie remembers the reader's choice
    page.goto(served.url + "/subscribe")
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Subscribe by email")
    context.close()


def test_one_click_confirm_and_welcome_issue(served: Served, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    r = httpx.post(served.url + "/subscribe", data={"email": READER, "lang": "en"}, timeout=10)
    assert r.status_code == 200
    link = confirm_link(served, READER)

    # a link scanner fetches the page without running its script: nothing is confirmed
    scanned = httpx.get(link, timeout=10)
    assert scanned.status_code == 200
    assert "<noscript><button" in scanned.text
    assert served.status(READER) == "pending"
    assert not list(served.mail.glob(f"2024-W16-{READER}.eml"))

    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(link)  # one click in the mail client
    expect(page.locator("h1")).to_have_text("You are subscribed")
    expect(page.locator("main")).to_contain_text("The latest issue is on its way")
    assert served.status(READER) == "active"

    # the latest published issue arrives at once, through the ledger
    welcome = read_eml(wait_for(f"2024-W16-{READER}.eml", served.mail))
    assert welcome["To"] == READER
    assert welcome["List-Unsubscribe"].startswith("<" + served.url + "/unsubscribe/")

    # the link again: already confirmed, and no second copy
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Already confirmed")
    again = httpx.post(link, timeout=10)
    assert again.status_code == 200 and "Already confirmed" in again.text
    assert len(list(served.mail.glob(f"2024-W16-{READER}*.eml"))) == 1
    sent = served.deliveries(READER)
    assert sent == [("2024-W16", "sent")], sent
    context.close()


def test_confirm_page_without_scripts_keeps_a_button(served: Served, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    httpx.post(served.url + "/subscribe", data={"email": READER, "lang": "zh"}, timeout=10)
    link = confirm_link(served, READER)
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    page.goto(link)
    expect(page.locator("h1")).to_have_text("确认订阅")
    assert served.status(READER) == "pending"
    page.click("form button[type='submit']")
    expect(page.locator("h1")).to_have_text("订阅成功")
    assert served.status(READER) == "active"
    context.close()


def test_preferences_page_from_the_email_footer(served: Served, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    httpx.post(served.url + "/subscribe", data={"email": READER, "lang": "en"}, timeout=10)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(confirm_link(served, READER))
    expect(page.locator("h1")).to_have_text("You are subscribed")
    welcome = read_eml(wait_for(f"2024-W16-{READER}.eml", served.mail))
    body = welcome.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(r"Preferences: (http://\S+/preferences/\S+)", str(body.get_content()))
    assert found is not None

    page.goto(found.group(1))
    expect(page.locator("h1")).to_have_text("Your subscription")
    expect(page.locator("input[name='lang'][value='en']")).to_be_checked()
    page.check("input[name='lang'][value='zh']")
    page.click("#preferences button[type='submit']")
    expect(page.locator("p.saved")).to_have_text("已保存。")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("input[name='lang'][value='zh']")).to_be_checked()
    assert served.language(READER) == "zh"

    page.click("form.unsubscribe button")
    expect(page.locator("h1")).to_have_text("已退订")
    assert served.status(READER) == "unsubscribed"
    context.close()


def test_home_and_search_fit_a_phone(served: Served, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    for lang, query in (("zh", "注意力"), ("en", "attention")):
        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN" if lang == "zh" else "en-US",
        )
        page = phone.new_page()
        for path in (f"/?lang={lang}", f"/search?q={query}&lang={lang}"):
            page.goto(served.url + path)
            expect(page.locator("li.paper").first).to_be_visible()
            if path.startswith("/search"):  # cards from the index: the match, the issue
                expect(page.locator("li.paper mark").first).to_have_text(query)
                issue = page.locator("li.paper .meta a[href^='/issues/2024-W16']").first
                expect(issue).to_be_visible()
            # against the phone's width: a phone zooms out to fit a page that is too wide,
            # so window.innerWidth would grow with it
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        phone.close()
