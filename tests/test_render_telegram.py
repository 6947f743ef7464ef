"""Telegram HTML: escaping, structure, visible length, splitting at paper boundaries."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digestbot.models import Issue, Language
from digestbot.render.telegram import (
    check_telegram_html,
    count_entities,
    pack_blocks,
    render_telegram,
    render_telegram_post,
    truncate_html,
    visible_len,
    visible_text,
)
from digestbot.render.telegram_post import IssueButton
from digestbot.render.text import utf16_len
from render_samples import HOSTILE_TITLES, hostile_issue, make_issue, make_paper

TELEGRAM_TEXT_LIMIT = 4096
"""Telegram's limit (UTF-16 units after HTML parsing), not the renderer's constant."""


def assert_valid(messages: list[str], issue: Issue, limit: int = TELEGRAM_TEXT_LIMIT) -> None:
    """Every message fits and parses; every paper is in exactly one message, in order."""
    assert messages
    for m in messages:
        assert visible_len(m) <= limit
        check_telegram_html(m)
        assert count_entities(m) <= 100
    where: list[tuple[int, int]] = []
    for paper in issue.papers:
        href = f'href="{paper.abs_url}"'
        hits = [(i, m.find(href)) for i, m in enumerate(messages) if href in m]
        assert len(hits) == 1, (paper.arxiv_id, hits)
        assert messages[hits[0][0]].count(href) == 1
        where.append(hits[0])
    assert where == sorted(where)


def test_visible_len_counts_parsed_text_in_utf16() -> None:
    assert visible_len("<b>a&amp;b</b> 😀") == 6
    assert visible_len('<a href="https://x.y/?a=1&amp;b=2">link</a>') == 4
    assert visible_len("&lt;&gt;&quot;&#39;&#x1F600;") == 6
    assert visible_text("<i>A &amp; B</i>") == "A & B"


@pytest.mark.parametrize(
    "bad",
    [
        "<script>alert(1)</script>",
        "<b>unclosed",
        "<b><i>crossed</b></i>",
        "</b>",
        "a & b",
        "a < b",
        "a > b",
        "&nbsp;",
        "&#xD800;",
        "<a>no href</a>",
        '<a href="https://x" onclick="evil()">x</a>',
        "line<br/>break",
        "<pre><b>x</b></pre>",
        "<code><i>x</i></code>",
        '<a href="https://x"><a href="https://y">x</a></a>',
        '<span class="other">x</span>',
        '<a href="https://x?a=1&b=2">x</a>',
        "<b",
    ],
)
def test_check_telegram_html_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        check_telegram_html(bad)


@pytest.mark.parametrize(
    "good",
    [
        "plain text",
        "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins>",
        "<s>s</s> <strike>s</strike> <del>d</del> <tg-spoiler>x</tg-spoiler>",
        '<a href="https://x.y/?a=1&amp;b=2">x</a>',
        '<pre><code class="language-python">x = 1 &lt; 2</code></pre>',
        '<span class="tg-spoiler">s</span> <blockquote expandable>q</blockquote>',
        "&lt;&gt;&amp;&quot;&#39;&#128512;&#x1F600;",
        "<b>nested <i>tags</i> fine</b>",
    ],
)
def test_check_telegram_html_accepts(good: str) -> None:
    check_telegram_html(good)


@pytest.mark.parametrize("lang", list(Language))
def test_hostile_titles_are_escaped(lang: Language) -> None:
    issue = hostile_issue()
    messages = render_telegram(issue, lang, public_url="https://digest.example.com")
    assert_valid(messages, issue)
    raw = "".join(messages)
    shown = "\n".join(visible_text(m) for m in messages)
    assert "<script>" not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    for title in HOSTILE_TITLES:
        assert title in shown
    assert "<i>tags</i>" in shown or "<i>标签</i>" in shown
    assert "&amp;" in shown  # the literal "&amp;" from a summary survives as text


def test_structure_both_languages() -> None:
    issue = make_issue(count=2, intro_zh="本周导语。", intro_en="This week.")
    [message] = render_telegram(issue, Language.BOTH, public_url="https://d.example.com/")
    text = visible_text(message)
    assert text.startswith(f"{issue.title_zh}\n{issue.title_en}\n\n本周导语。\n\nThis week.")
    paper = issue.papers[0]
    assert f"<b>1. {paper.title_en}</b>\n<b>{paper.title_zh}</b>" in message
    assert text.index("我们提出") < text.index("TransformerFAM adds")
    for url in (paper.abs_url, paper.hf_url, paper.links.code):
        assert f'href="{url}"' in message
    assert paper.pdf_url not in message  # the arXiv page links the PDF
    # the link to the web issue is the button under the message, not text
    assert "/issues/" not in message and message.endswith("#llm #memory")
    post = render_telegram_post(issue, Language.BOTH, public_url="https://d.example.com/")
    assert post.button == IssueButton(
        "在线阅读本期 / Read this issue online", "https://d.example.com/issues/2024-W16"
    )


def test_single_language_shows_one_summary_and_title() -> None:
    issue = make_issue(count=1)
    [en] = render_telegram(issue, Language.EN)
    [zh] = render_telegram(issue, Language.ZH)
    assert issue.papers[0].title_zh not in en and "我们提出" not in en
    assert issue.title_en in en and issue.title_zh not in en
    assert issue.papers[0].title_zh in zh and "TransformerFAM adds" not in zh
    assert "/issues/" not in zh  # no public URL, no footer link


def test_summaries_are_shortened_to_budgets() -> None:
    issue = make_issue(count=1)
    [zh] = render_telegram(issue, Language.ZH, zh_chars=20)
    assert "架构。\n" in visible_text(zh)
    assert "它利用" not in zh
    [en] = render_telegram(issue, Language.EN, en_words=40)
    assert "without new weights." in en and "On Flan-PaLM" not in en


def test_small_limit_forces_several_messages() -> None:
    issue = make_issue(count=6)
    messages = render_telegram(issue, Language.BOTH, limit=600, public_url="https://x.example")
    assert len(messages) >= 3
    assert_valid(messages, issue, 600)


def test_total_exactly_at_limit_is_one_message() -> None:
    issue = make_issue(count=4, intro_en="Intro 😀 & more")
    [whole] = render_telegram(issue, Language.BOTH, limit=100_000, public_url="https://x.example")
    total = visible_len(whole)
    assert render_telegram(issue, Language.BOTH, limit=total, public_url="https://x.example") == [
        whole
    ]
    split = render_telegram(issue, Language.BOTH, limit=total - 1, public_url="https://x.example")
    assert len(split) == 2
    assert_valid(split, issue, total - 1)
    # Splitting only moves whole blocks, and marks the parts: without the markers,
    # joining the messages gives the same text back.
    first = f"<b>{issue.title_zh}</b>"
    assert split[0].startswith(f"{first} <i>1/2</i>\n")
    assert split[1].startswith(f"{first} <i>2/2</i>\n\n")
    unmarked = [split[0].replace(" <i>1/2</i>", "", 1), split[1].split("\n\n", 1)[1]]
    assert "\n\n".join(unmarked) == whole


def test_pack_blocks_respects_limit_exactly() -> None:
    blocks = ["<b>aaaa</b>", "bbbb", "&amp;&amp;"]
    assert pack_blocks(blocks, 4 + 2 + 4) == ["<b>aaaa</b>\n\nbbbb", "&amp;&amp;"]
    assert pack_blocks(blocks, 4 + 2 + 4 + 2 + 2) == ["<b>aaaa</b>\n\nbbbb\n\n&amp;&amp;"]
    assert pack_blocks(blocks, 4) == ["<b>aaaa</b>", "bbbb", "&amp;&amp;"]
    with pytest.raises(ValueError):
        pack_blocks(blocks, 3)
    assert pack_blocks(["<b>a</b>"] * 3, 100, max_entities=2) == [
        "<b>a</b>\n\n<b>a</b>",
        "<b>a</b>",
    ]


def test_a_paper_longer_than_the_limit_alone_is_shortened() -> None:
    long_zh = "这是一个很长的句子，里面有很多字。" * 120
    long_en = "This is a long sentence with many words in it. " * 120
    paper = make_paper(1, summary_zh=long_zh, summary_en=long_en)
    issue = make_issue([paper, make_paper(2)])
    messages = render_telegram(issue, Language.BOTH, zh_chars=100_000, en_words=100_000, limit=1000)
    assert_valid(messages, issue, 1000)
    first = next(m for m in messages if paper.abs_url in m)
    shown = visible_text(first)
    assert paper.title_en in shown and paper.title_zh in shown
    assert "这是一个很长的句子" in shown and "This is a long sentence" in shown
    assert visible_len(first) <= 1000


def test_huge_titles_are_cut_but_links_kept() -> None:
    paper = make_paper(1, title_en="Long 😀 & <title> " * 400, title_zh="很长的标题" * 500)
    issue = make_issue([paper])
    messages = render_telegram(issue, Language.BOTH, limit=600)
    assert_valid(messages, issue, 600)
    assert "…" in visible_text(messages[-1])


def test_huge_intro_is_cut() -> None:
    issue = make_issue(count=2, intro_zh="导语很长。" * 2000)
    messages = render_telegram(issue, Language.ZH)
    assert_valid(messages, issue)
    assert visible_text(messages[0]).startswith(issue.title_zh)


def test_truncate_html_keeps_tags_balanced() -> None:
    html = '<b>bold &amp; 😀 text</b> <a href="https://x.y/?a&amp;b">link text</a>'
    for n in range(visible_len(html) + 2):
        out = truncate_html(html, n)
        assert visible_len(out) <= n
        check_telegram_html(out)
    assert truncate_html(html, 1000) == html
    assert truncate_html(html, 7) == "<b>bold &amp;…</b>"


_SPECIAL: tuple[str, ...] = (
    "中",
    "文",
    "论文",
    "。",
    "，",
    "😀",
    "👨\u200d👩\u200d👧",
    "🇨🇳",
    "𝕏",
    "&",
    "<",
    ">",
)
_SPECIAL += ('"', "'", "&amp;", "<b>", "e.g.", "a", "Transformer", ".")
_pieces = st.one_of(
    st.sampled_from([*_SPECIAL, " ", "\n"]),
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
)


def _texts(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(_pieces, max_size=max_size).map("".join)


@st.composite
def _issues(draw: st.DrawFn) -> Issue:
    n = draw(st.integers(0, 7))
    papers = [
        make_paper(
            i,
            title_en=draw(_texts(120)) or "t",
            title_zh=draw(_texts(120)),
            summary_en=draw(_texts(600)),
            summary_zh=draw(_texts(600)),
            code=draw(st.sampled_from([None, "https://github.com/a/b?x=1&y=<2>"])),
        )
        for i in range(1, n + 1)
    ]
    return make_issue(papers, intro_zh=draw(_texts(200)), intro_en=draw(_texts(50)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    issue=_issues(),
    lang=st.sampled_from(list(Language)),
    limit=st.one_of(st.integers(200, 4096), st.sampled_from([300, 600, 4096])),
    budget=st.integers(5, 400),
)
def test_split_property(issue: Issue, lang: Language, limit: int, budget: int) -> None:
    messages = render_telegram(
        issue,
        lang,
        zh_chars=budget,
        en_words=budget,
        limit=limit,
        public_url="https://digest.example.com",
    )
    assert_valid(messages, issue, limit)
    for m in messages:
        assert utf16_len(visible_text(m)) == visible_len(m)


def test_a_maximal_issue_fills_messages_up_to_telegrams_limit_and_no_further() -> None:
    long_en = " ".join(f"word{i}😀" for i in range(900))
    papers = [
        make_paper(n, summary_en=long_en[: 600 * n], summary_zh="注意力😀" * 300 * n)
        for n in range(1, 13)
    ]
    issue = make_issue(papers)
    messages = render_telegram(issue, Language.BOTH, zh_chars=100_000, en_words=100_000)
    assert_valid(messages, issue)
    lengths = [utf16_len(visible_text(m)) for m in messages]
    assert TELEGRAM_TEXT_LIMIT - 100 < max(lengths) <= TELEGRAM_TEXT_LIMIT
