"""Every edition whole in its own language: no summary in the other language passed off as
the edition's text (issue 11); on the web, the other language's summary is a labelled block."""

from __future__ import annotations

import re

import pytest

from digestbot.models import Issue, Language
from digestbot.render import (
    render_email,
    render_email_message,
    render_telegram,
    render_text,
    render_web_issue,
    render_web_paper,
)
from digestbot.render.telegram import visible_text
from render_samples import SUMMARY_EN, SUMMARY_ZH, make_issue, make_paper

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
URL = "https://digest.example.com"


def chinese_only_issue() -> Issue:
    """An archive week: Chinese titles and summaries, no English summary."""
    papers = [make_paper(i, summary_en="") for i in range(1, 4)]
    return make_issue(papers, intro_zh="本周导语。")


def english_only_issue() -> Issue:
    papers = [make_paper(i, summary_zh="", title_zh="") for i in range(1, 4)]
    return make_issue(papers, intro_en="This week.")


def han(text: str) -> list[str]:
    return HAN.findall(text)


def test_english_telegram_has_no_chinese_text() -> None:
    issue = chinese_only_issue()
    messages = render_telegram(issue, Language.EN, public_url=URL)
    shown = "\n".join(visible_text(m) for m in messages)
    assert han("".join(messages)) == []
    for paper in issue.papers:  # the paper is still there: English title and links
        assert paper.title_en in shown
        assert paper.abs_url in "".join(messages)


def test_english_email_and_text_have_no_chinese_text() -> None:
    issue = chinese_only_issue()
    mail = render_email(issue, Language.EN, public_url=URL)
    assert han(mail.subject) == [] and han(mail.text) == [] and han(mail.html) == []
    message = render_email_message(
        issue,
        Language.EN,
        public_url=URL,
        sender="digest <d@example.com>",
        to="reader@example.com",
        unsubscribe_url=f"{URL}/unsubscribe/t",
    )
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert han(part.get_content()) == [], part.get_content_type()
    text = render_text(issue, Language.EN, public_url=URL)
    assert han(text) == []
    for paper in issue.papers:
        assert paper.title_en in text and paper.abs_url in text and paper.title_en in mail.html


def test_chinese_edition_shows_no_english_summary() -> None:
    issue = english_only_issue()
    words = "TransformerFAM adds a feedback loop"
    assert words in SUMMARY_EN
    messages = render_telegram(issue, Language.ZH, public_url=URL)
    mail = render_email(issue, Language.ZH, public_url=URL)
    text = render_text(issue, Language.ZH, public_url=URL)
    for out in ("".join(messages), mail.text, mail.html, text):
        assert words not in out
        assert issue.papers[0].title_en in out and issue.papers[0].abs_url in out


def test_both_shows_what_there_is() -> None:
    issue = chinese_only_issue()
    text = render_text(issue, Language.BOTH, public_url=URL)
    assert SUMMARY_ZH[:10] in text


def test_web_issue_labels_the_chinese_summary_of_an_english_page() -> None:
    issue = make_issue([make_paper(1, summary_en=""), make_paper(2)])
    page = render_web_issue(issue, Language.EN, public_url=URL)
    blocks = re.findall(r'<div class="summary summary-other" lang="(\w+)">(.*?)</div>', page, re.S)
    assert len(blocks) == 1  # only the paper without an English summary
    lang, block = blocks[0]
    assert lang == "zh"
    assert "中文摘要" in block and SUMMARY_ZH[:12] in block
    # the English summary of the other paper is the page's own text, unlabelled
    assert page.count('class="summary" lang="en"') == 1


def test_web_paper_page_labels_the_other_language_both_ways() -> None:
    zh_only = make_paper(1, summary_en="")
    page = render_web_paper(zh_only, Language.EN, public_url=URL)
    assert re.search(
        r'<div class="summary summary-other" lang="zh">\s*<p class="summary-label">'
        r"<strong>中文摘要</strong>",
        page,
    )
    en_only = make_paper(2, summary_zh="")
    page = render_web_paper(en_only, Language.ZH, public_url=URL)
    assert re.search(
        r'<div class="summary summary-other" lang="en">\s*<p class="summary-label">'
        r"<strong>English summary</strong>",
        page,
    )
    assert SUMMARY_EN[:20] in page
    # a paper with both summaries has no labelled block
    assert "summary-other" not in render_web_paper(make_paper(3), Language.EN, public_url=URL)


@pytest.mark.parametrize("lang", [Language.EN, Language.ZH])
def test_paper_summary_for_a_card_is_in_the_asked_language_only(lang: Language) -> None:
    """What the bot's /paper card shows as the summary."""
    zh_only = make_paper(1, summary_en="")
    en_only = make_paper(2, summary_zh="")
    if lang is Language.EN:
        assert zh_only.summary(lang) == "" and en_only.summary(lang) == SUMMARY_EN
    else:
        assert en_only.summary(lang) == "" and zh_only.summary(lang) == SUMMARY_ZH
