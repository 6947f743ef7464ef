"""The channel post a reader sees (issue 11): title and one line visible, the rest folded
in an expandable quote, hashtags, part markers, the button to the web issue; every
message accepted by the Bot API stand-in's HTML parser and within 4096 UTF-16 units."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digestbot.cli import main
from digestbot.models import Issue, Language
from digestbot.render.telegram import (
    MESSAGE_LIMIT,
    check_telegram_html,
    render_telegram_post,
    visible_text,
)
from digestbot.render.telegram_post import (
    LEAD_WIDTH,
    hashtag,
    hashtags,
    issue_button,
    split_lead,
)
from digestbot.render.text import utf16_len
from fake_telegram import parse_html
from render_samples import SUMMARY_EN, SUMMARY_ZH, make_issue, make_paper

URL = "https://digest.example.com"
QUOTE = re.compile(r"<blockquote expandable>(.*?)</blockquote>", re.S)


def test_title_and_first_sentence_visible_rest_folded() -> None:
    issue = make_issue(count=1)
    post = render_telegram_post(issue, Language.EN, public_url=URL)
    [message] = post.messages
    paper = issue.papers[0]
    text, entities = parse_html(message)
    lines = text.split("\n")
    title = lines.index(f"1. {paper.title_en}")
    first = "TransformerFAM adds a feedback loop so that a Transformer attends to its own"
    # one line right under the title: the first sentence, too long here, cut at a clause
    assert lines[title + 1] == f"{first} latent representations, e.g. a working memory…"
    [folded] = QUOTE.findall(message)
    assert folded.startswith("which lets it process indefinitely long inputs")
    assert folded.endswith("works with existing checkpoints.") and first not in folded
    quotes = [e for e in entities if e["type"] == "expandable_blockquote"]
    assert len(quotes) == 1  # the stand-in sees Telegram's expandable quote
    assert text[quotes[0]["offset"] :].startswith("which lets it")
    assert lines[-1] == "#llm #memory"


def test_bilingual_paper_folds_the_english_summary_after_the_chinese_rest() -> None:
    [message] = render_telegram_post(make_issue(count=1), Language.BOTH, public_url=URL).messages
    shown = visible_text(message)
    lead = SUMMARY_ZH[: SUMMARY_ZH.index("。") + 1]
    assert f"\n{lead}\n" in shown
    [folded] = QUOTE.findall(message)
    assert folded.startswith("它利用反馈循环") and "TransformerFAM adds a feedback loop" in folded


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("long-context", "#long_context"),
        ("long_context", "#long_context"),
        ("Mixture of Experts", "#Mixture_of_Experts"),
        ("3d", "#3d"),
        ("C++", "#C"),
        ("多模态", "#多模态"),
        ("  -rl- ", "#rl"),
        ("2024", None),
        ("++", None),
        ("", None),
    ],
)
def test_tags_become_valid_hashtags(tag: str, expected: str | None) -> None:
    assert hashtag(tag) == expected


def test_hashtags_once_each_in_order() -> None:
    assert hashtags(("LLM", "long-context", "llm", "2024", "long context")) == (
        "#LLM",
        "#long_context",
    )


def test_split_lead_cuts_a_long_first_sentence_at_a_clause() -> None:
    long = (
        "We study "
        + "very " * 40
        + "long inputs, and we find that it works. Rest here is long enough to fold."
    )
    lead, rest = split_lead(long)
    assert lead.endswith("…") and len(lead) <= LEAD_WIDTH
    assert rest.startswith(long[len(lead) - 1 :].lstrip()[:10])
    assert split_lead("Short. Tiny.") == ("Short. Tiny.", "")  # a few words are not folded
    assert split_lead("如 e.g. 某法。其余内容足够长，需要折叠起来，放进可以展开的引用块里面才好。")[
        0
    ] == ("如 e.g. 某法。")


def test_a_long_issue_carries_part_markers() -> None:
    long_en = SUMMARY_EN * 6
    papers = [make_paper(i, summary_en=long_en) for i in range(1, 21)]
    issue = make_issue(papers)
    post = render_telegram_post(issue, Language.EN, en_words=400, public_url=URL)
    n = len(post.messages)
    assert n >= 3
    for k, message in enumerate(post.messages, 1):
        shown = visible_text(message)
        assert shown.split("\n", 1)[0] == f"{issue.title_en} {k}/{n}"
        assert utf16_len(parse_html(message)[0]) <= MESSAGE_LIMIT
    numbers = [int(m) for msg in post.messages for m in re.findall(r"<b>(\d+)\. ", msg)]
    assert numbers == list(range(1, 21))  # every paper once, in order


@pytest.mark.parametrize(
    "public_url",
    ["", "http://127.0.0.1:8000", "http://localhost:8000", "http://192.168.1.5", "ftp://x.org"],
)
def test_no_button_for_a_url_telegram_would_refuse(public_url: str) -> None:
    issue = make_issue(count=1)
    post = render_telegram_post(issue, Language.ZH, public_url=public_url)
    assert post.button is None
    if public_url.startswith("http"):  # the link stays in the text instead
        assert post.messages[-1].endswith(
            f'<a href="{public_url}/issues/2024-W16">在线阅读本期</a>'
        )


def test_button_to_the_web_issue() -> None:
    button = issue_button("https://digest.example.com/", "2024-W16", "Read this issue online")
    assert button is not None
    assert button.markup() == {
        "inline_keyboard": [
            [
                {
                    "text": "Read this issue online",
                    "url": "https://digest.example.com/issues/2024-W16",
                }
            ]
        ]
    }


# -- property: long CJK, emoji, surrogate pairs -------------------------------------------

_HARD = (
    "中文摘要很长",
    "论文。",
    "，",
    "😀",
    "👨\u200d👩\u200d👧",
    "🇨🇳",
    "𝕏𝔸",  # astral letters: one character, two UTF-16 units
    "𠀀𠮷",  # CJK extension B: surrogate pairs
    "e.g.",
    "&",
    "<b>",
    ". ",
    "。",
)
_piece = st.one_of(
    st.sampled_from([*_HARD, " ", "\n"]),
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
)


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(_piece, max_size=max_size).map("".join)


@st.composite
def _long_issues(draw: st.DrawFn) -> Issue:
    n = draw(st.integers(1, 12))
    papers = []
    for i in range(1, n + 1):
        paper = make_paper(
            i,
            title_en=draw(_text(60)) or "t",
            title_zh=draw(_text(60)),
            summary_en=draw(_text(900)),
            summary_zh=draw(_text(900)),
        )
        tags = tuple(draw(st.lists(_text(12), max_size=4)))
        papers.append(dataclasses.replace(paper, tags=tags))
    return make_issue(papers, intro_zh=draw(_text(300)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(issue=_long_issues(), lang=st.sampled_from(list(Language)))
def test_every_message_passes_the_stand_in(issue: Issue, lang: Language) -> None:
    post = render_telegram_post(issue, lang, zh_chars=2000, en_words=2000, public_url=URL)
    n = len(post.messages)
    for k, message in enumerate(post.messages, 1):
        check_telegram_html(message)
        text, _entities = parse_html(message)  # the stand-in's parser: raises if refused
        assert 0 < utf16_len(text) <= 4096
        if n > 1:
            assert f"{k}/{n}" in text.split("\n", 1)[0]


def test_preview_shows_the_button_under_the_last_message(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["preview", "--week", "2024-W16", "--format", "telegram", "--lang", "en"]
    assert main(args) == 0  # the embedded default URL is local: the link stays in the text
    out = capsys.readouterr().out
    assert "button" not in out
    assert out.rstrip().endswith(
        '<a href="http://127.0.0.1:8000/issues/2024-W16">Read this issue online</a>'
    )
    monkeypatch.setenv("DIGESTBOT_PUBLIC_URL", "https://digest.example.com")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(
        "<!-- button under message 1: Read this issue online → "
        "https://digest.example.com/issues/2024-W16 -->"
    )
    assert '/issues/2024-W16">' not in out
