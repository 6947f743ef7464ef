"""The preferences page of an email subscriber, and the email footer that links to it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from digestbot.models import Channel, Language
from test_web import (  # noqa: F401  (the app over a real service)
    ONE_CLICK,
    Site,
    activate,
    read_eml,
    site,
    strict,
    text_part,
)

READER = "prefs@example.com"


@pytest.fixture
def bot_username(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__BOT_USERNAME", "@weekly_papers_bot")
    return "weekly_papers_bot"


def welcome_mail(app: Site, address: str) -> tuple[str, str]:
    """The welcome issue's text and HTML parts (sent when ``address`` confirmed)."""
    msg = read_eml(app.mail / f"2024-W16-{address}.eml")
    html = msg.get_body(("html",))
    assert html is not None
    return text_part(msg), str(html.get_content())


def test_email_footer_links_preferences_and_the_bot(bot_username: str, site: Site) -> None:  # noqa: F811
    activate(site, READER, "en")
    text, html = welcome_mail(site, READER)
    # the link holds the same signed token as the unsubscribe link (signed at send time)
    unsubscribe = re.search(r"Unsubscribe: (http://\S+/unsubscribe/(\S+))", text)
    assert unsubscribe is not None
    prefs = unsubscribe.group(1).replace("/unsubscribe/", "/preferences/")
    assert f"Preferences: {prefs}" in text
    assert f"Telegram bot: https://t.me/{bot_username}" in text
    assert f'href="{prefs}"' in html and f'href="https://t.me/{bot_username}"' in html
    page = site.client.get(urlsplit(prefs).path)
    assert page.status_code == 200 and f"https://t.me/{bot_username}" in page.text


def test_without_a_bot_username_no_bot_link(site: Site) -> None:  # noqa: F811
    activate(site, READER, "zh")
    text, html = welcome_mail(site, READER)
    assert "订阅设置: http" in text and "/preferences/" in html
    assert "t.me" not in text and "t.me" not in html


def test_preferences_page_shows_and_saves_the_language(site: Site) -> None:  # noqa: F811
    activate(site, READER, "en")
    path = urlsplit(site.service.unsubscribe_url(Channel.EMAIL, READER)).path
    path = path.replace("/unsubscribe/", "/preferences/")
    shown = site.client.get(path)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert "Your subscription" in shown.text and READER in shown.text
    assert '<input type="radio" name="lang" value="en" checked>' in shown.text
    assert "/unsubscribe/" in shown.text  # the way out
    strict(shown.text)

    saved = site.client.post(path, data={"lang": "zh"})
    assert saved.status_code == 200
    assert "已保存。" in saved.text and '<html lang="zh-CN">' in saved.text
    assert '<input type="radio" name="lang" value="zh" checked>' in saved.text
    sub = site.subscriber(READER)
    assert sub is not None and sub.lang is Language.ZH

    bad = site.client.post(path, data={"lang": "fr"})
    assert bad.status_code == 400 and "请选择中文、英文或中英双语。" in bad.text
    cross = {"sec-fetch-site": "cross-site"}
    elsewhere = site.client.post(path, data={"lang": "en"}, headers=cross)
    assert elsewhere.status_code == 403
    sub = site.subscriber(READER)
    assert sub is not None and sub.lang is Language.ZH
    forged = site.client.get(path[:-3] + "xyz")
    assert forged.status_code == 400

    # after unsubscribing, the page says so and offers to subscribe again
    unsub = path.replace("/preferences/", "/unsubscribe/")
    assert site.client.post(unsub, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    after = site.client.get(path)
    assert "目前没有订阅" in after.text and 'href="/subscribe?lang=zh"' in after.text


def test_preferences_page_keeps_the_topics_an_email_reader_follows(site: Site) -> None:  # noqa: F811
    activate(site, READER, "en")
    path = urlsplit(site.service.unsubscribe_url(Channel.EMAIL, READER)).path
    path = path.replace("/unsubscribe/", "/preferences/")
    shown = site.client.get(path)
    assert "Topics you follow" in shown.text
    assert '<input type="checkbox" name="topic" value="long-context">' in shown.text
    strict(shown.text)

    form = {"lang": "en", "topic": ["long-context", "agents", "no-such-topic"], "only_mine": "on"}
    saved = site.client.post(path, data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    assert '<input type="checkbox" name="topic" value="long-context" checked>' in saved.text
    assert '<input type="checkbox" name="topic" value="agents" checked>' in saved.text
    assert '<input type="checkbox" name="only_mine" checked>' in saved.text
    followed, only_mine = site.call(site.service.email_topics, READER)
    assert followed == {"long-context", "agents"} and only_mine

    # unticking keeps the rest; "only mine" without any topic means the whole issue
    site.client.post(path, data={"lang": "en", "topic": ["agents"]})
    assert site.call(site.service.email_topics, READER) == (frozenset({"agents"}), False)
    site.client.post(path, data={"lang": "en", "only_mine": "on"})
    assert site.call(site.service.email_topics, READER) == (frozenset(), False)
