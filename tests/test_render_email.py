"""Issue emails: both parts, inlined CSS, headers, per-recipient links, header injection."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from dataclasses import replace
from email.message import EmailMessage

import html5lib
import pytest

from digestbot.models import Language
from digestbot.render.confirm import render_confirmation
from digestbot.render.email import (
    UNSUBSCRIBE_PLACEHOLDER,
    RenderedEmail,
    build_message,
    render_email,
    render_email_message,
)
from render_samples import HOSTILE_TITLES, hostile_issue, make_issue, make_paper

UNSUB = "https://digest.example.com/unsubscribe/tok.en?a=1&b=2"


def roundtrip(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def build(rendered: RenderedEmail, **kw: object) -> EmailMessage:
    args: dict[str, object] = {
        "sender": "Weekly AI Papers <digest@example.com>",
        "to": "reader@example.org",
        "unsubscribe_url": UNSUB,
        "list_id": "weekly-ai-papers",
        "message_id_domain": "example.com",
        "date": dt.datetime(2024, 4, 20, 1, 0, tzinfo=dt.UTC),
    }
    args.update(kw)
    return build_message(rendered, **args)  # type: ignore[arg-type]


def test_rendered_email_holds_placeholders() -> None:
    rendered = render_email(make_issue(count=2), Language.BOTH)
    assert rendered.subject == make_issue().title(Language.BOTH)
    assert rendered.week == "2024-W16" and rendered.lang is Language.BOTH
    assert UNSUBSCRIBE_PLACEHOLDER in rendered.text
    assert UNSUBSCRIBE_PLACEHOLDER in rendered.html


def test_message_is_multipart_alternative_with_list_headers() -> None:
    issue = make_issue(count=3)
    msg = roundtrip(build(render_email(issue, Language.ZH)))
    assert msg.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in msg.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert msg["Subject"] == issue.title_zh
    assert msg["From"] == "Weekly AI Papers <digest@example.com>"
    assert msg["To"] == "reader@example.org"
    assert msg["Date"].datetime == dt.datetime(2024, 4, 20, 1, 0, tzinfo=dt.UTC)
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.com>")
    assert msg["List-Id"] == "Weekly AI Papers <weekly-ai-papers.example.com>"
    assert msg["List-Unsubscribe"] == f"<{UNSUB}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for part in msg.iter_parts():
        assert part.get_content_charset() == "utf-8"


def test_unsubscribe_link_replaces_placeholder_in_both_parts() -> None:
    text, html = parts(roundtrip(build(render_email(make_issue(count=1), Language.EN))))
    assert UNSUBSCRIBE_PLACEHOLDER not in text and UNSUBSCRIBE_PLACEHOLDER not in html
    assert UNSUB in text
    assert UNSUB.replace("&", "&amp;") in html
    assert UNSUB not in html  # the raw "&" is escaped in the HTML part


def test_messages_are_7bit_with_short_lines() -> None:
    raw = build(render_email(make_issue(), Language.BOTH)).as_bytes()
    raw.decode("ascii")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_list_unsubscribe_post_can_be_turned_off() -> None:
    msg = build(render_email(make_issue(count=1), Language.EN), list_unsubscribe_post=False)
    assert msg["List-Unsubscribe-Post"] is None
    assert msg["List-Unsubscribe"] == f"<{UNSUB}>"


@pytest.mark.parametrize(
    "field", ["to", "sender", "unsubscribe_url", "list_id", "message_id_domain"]
)
@pytest.mark.parametrize("evil", ["\r\nBcc: victim@example.com", "\nX: y", "a\rb"])
def test_cr_or_lf_in_headers_is_refused(field: str, evil: str) -> None:
    rendered = render_email(make_issue(count=1), Language.EN)
    with pytest.raises(ValueError, match="CR or LF"):
        build(rendered, **{field: f"reader@example.org{evil}"})


def test_title_with_newline_cannot_inject_a_header() -> None:
    issue = replace(make_issue(count=1), title_en="A\r\nBcc: x@y")
    msg = roundtrip(build(render_email(issue, Language.EN)))
    assert msg["Bcc"] is None
    assert msg["Subject"] == "A Bcc: x@y"


def test_css_is_inlined_and_there_are_no_external_assets() -> None:
    _, html = parts(roundtrip(build(render_email(make_issue(), Language.BOTH))))
    assert "<style" not in html
    assert html.count('style="') > 20
    assert "<link" not in html and "<script" not in html and "<img" not in html
    assert "max-width: 600px" in html
    html5lib.HTMLParser(strict=True).parse(html)


@pytest.mark.parametrize("lang", list(Language))
def test_hostile_titles_are_escaped_in_both_parts(lang: Language) -> None:
    text, html = parts(roundtrip(build(render_email(hostile_issue(), lang))))
    for title in HOSTILE_TITLES:
        assert title in text  # plain text: no escaping
    assert "&amp;" not in text.replace("&amp; ", "")  # only the summary's literal "&amp;"
    assert "<script>" not in html
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    assert list(doc.iter("script")) == []
    shown = "".join(doc.itertext())
    for title in HOSTILE_TITLES:
        assert title in shown
    html5lib.HTMLParser(strict=True).parse(html)


def test_languages_pick_summaries() -> None:
    issue = make_issue(count=1)
    zh_text, _ = parts(build(render_email(issue, Language.ZH)))
    en_text, _ = parts(build(render_email(issue, Language.EN)))
    assert "我们提出" in zh_text and "TransformerFAM adds" not in zh_text
    assert "TransformerFAM adds" in en_text and "我们提出" not in en_text


def test_ten_papers_with_long_summaries_stay_under_gmail_clipping() -> None:
    papers = [
        make_paper(
            i,
            summary_zh="这是一段很长的中文摘要，包含很多内容。" * 100,
            summary_en="This is a long English summary with many words. " * 40,
            project="https://example.com/project",
        )
        for i in range(1, 11)
    ]
    rendered = render_email(make_issue(papers), Language.BOTH)
    assert len(rendered.html.encode()) < 100_000
    _, html = parts(roundtrip(build(rendered)))
    assert len(html.encode()) < 100_000
    assert html.count('class="paper"') == 10


def test_render_email_message_preview() -> None:
    msg = roundtrip(render_email_message(make_issue(count=2), Language.BOTH))
    assert msg["List-Unsubscribe"] == "<http://127.0.0.1:8000/unsubscribe/preview>"
    assert msg["Message-ID"].endswith("@127.0.0.1>")
    text, html = parts(msg)
    assert "http://127.0.0.1:8000/unsubscribe/preview" in text
    assert "http://127.0.0.1:8000/issues/2024-W16" in html


def test_confirmation_email() -> None:
    url = "https://digest.example.com/confirm/abc?x=1&y=2"
    msg = roundtrip(
        render_confirmation(
            "reader@example.org",
            Language.BOTH,
            url,
            sender="digest@example.com",
            domain="example.com",
        )
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"] == "reader@example.org"
    text, html = parts(msg)
    assert url in text and "确认" in text and "confirm" in text
    assert url.replace("&", "&amp;") in html and "<style" not in html
    with pytest.raises(ValueError):
        render_confirmation("a@b.c\r\nBcc: x@y", Language.EN, url, sender="d@e.f", domain="e.f")
