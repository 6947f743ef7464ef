"""Text budgets and escaping: utf16_len, escape_html, shorten, CJK spacing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from digestbot.models import Language
from digestbot.render.text import (
    count_units,
    escape_html,
    normalize_spacing_zh,
    normalize_whitespace,
    prefix_utf16,
    shorten,
    truncate_utf16,
    utf16_len,
)

ZH, EN, BOTH = Language.ZH, Language.EN, Language.BOTH


def test_utf16_len_counts_astral_chars_twice() -> None:
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("中文") == 2
    assert utf16_len("a😀") == 3
    assert utf16_len("𝕏") == 2
    assert utf16_len("👨‍👩‍👧") == 8  # three astral emoji and two ZWJ


def test_escape_html() -> None:
    assert escape_html('<b a="1">A & B</b>') == "&lt;b a=&quot;1&quot;&gt;A &amp; B&lt;/b&gt;"
    assert escape_html('"x"', quote=False) == '"x"'
    assert escape_html("&amp;") == "&amp;amp;"


def test_count_units_mixed_text() -> None:
    assert count_units("我们提出 TransformerFAM，一种新的 Transformer 架构。") == 12
    assert count_units("We use e.g. GPT-4 with 1.5x speed.") == 7
    assert count_units("，。！ ... ") == 0
    assert count_units("😀👨‍👩‍👧") == 2


def test_short_text_is_returned_whitespace_normalised() -> None:
    assert shorten("  a   b\n c ", EN) == "a b c"
    assert shorten("第一句。\n  第二句。", ZH) == "第一句。第二句。"
    assert shorten("", ZH) == ""


def test_zh_cuts_at_last_sentence_end_within_budget() -> None:
    text = "第一句话在这里。第二句话也在这里。第三句话还在这里。"
    assert shorten(text, ZH, zh_chars=14) == "第一句话在这里。"
    assert shorten(text, ZH, zh_chars=16) == "第一句话在这里。第二句话也在这里。"
    assert shorten(text, ZH, zh_chars=100) == text


def test_zh_falls_back_to_comma_then_hard_cut() -> None:
    text = "这是一个没有句号的很长的句子，后面还有更多的内容没有结束"
    assert shorten(text, ZH, zh_chars=16) == "这是一个没有句号的很长的句子…"
    assert shorten("一二三四五六七八九十", ZH, zh_chars=5) == "一二三四五…"


def test_sentence_end_in_first_third_of_budget_is_ignored() -> None:
    text = "短句。然后是一个很长很长的没有句号的从句，接着还有另外一个很长的从句没有结束"
    assert shorten(text, ZH, zh_chars=24) == "短句。然后是一个很长很长的没有句号的从句…"


def test_zh_semicolon_becomes_full_stop() -> None:
    assert shorten("前半句话；后半句话还有很多很多很多很多内容", ZH, zh_chars=10) == "前半句话。"


def test_mixed_chinese_and_latin() -> None:
    text = (
        "我们提出 TransformerFAM，一种新的 Transformer 架构。它利用反馈循环让网络关注"
        "自身的潜在表示，从而处理无限长的输入。"
    )
    assert shorten(text, ZH, zh_chars=20) == "我们提出 TransformerFAM，一种新的 Transformer 架构。"
    assert shorten(text, BOTH, zh_chars=20, en_words=500) == shorten(text, ZH, zh_chars=20)


def test_en_cuts_at_sentence_end() -> None:
    text = "First sentence here. Second sentence is here. Third one."
    assert shorten(text, EN, en_words=6) == "First sentence here."
    assert shorten(text, EN, en_words=7) == "First sentence here. Second sentence is here."
    assert shorten(text, BOTH, en_words=6) == "First sentence here."


def test_en_eg_is_not_a_cut_point() -> None:
    text = "We use tricks, e.g. dropout and more things to make it work well. Next."
    out = shorten(text, EN, en_words=9)
    assert out == "We use tricks…"
    assert not out.endswith("e.g.")
    text = "Methods such as e.g. dropout, i.e. noise, and Fig. 3 help a lot here."
    assert "e.g." not in shorten(text, EN, en_words=6)[-5:]


def test_en_decimals_and_versions_are_not_cut_points() -> None:
    text = "Accuracy improves by 1.5 points with v2.0.1 weights and beyond it all"
    assert shorten(text, EN, en_words=5) == "Accuracy improves by 1.5 points…"
    assert shorten(text, EN, en_words=7) == "Accuracy improves by 1.5 points with v2.0.1…"


def test_en_hard_cut_at_word_boundary() -> None:
    assert shorten("one two three four five six", EN, en_words=3) == "one two three…"
    assert shorten("one two three", EN, en_words=0) == ""


def test_emoji_sequences_are_not_split() -> None:
    family = "👨‍👩‍👧"
    assert shorten(family * 10, ZH, zh_chars=3) == family * 3 + "…"
    assert truncate_utf16("ab" + family + "cd", 5) == "ab…"
    assert truncate_utf16("ab" + family + "cd", 12) == "ab" + family + "cd"
    assert prefix_utf16("ab🇨🇳🇺🇸", 5) == "ab"  # a flag is two astral chars: 4 units
    assert prefix_utf16("ab🇨🇳🇺🇸", 8) == "ab🇨🇳"
    assert prefix_utf16("e\u0301e\u0301", 1) == ""  # no accent torn from its letter
    assert prefix_utf16("e\u0301e\u0301", 3) == "e\u0301"


def test_normalize_spacing_zh() -> None:
    assert normalize_spacing_zh("使用GPT4模型（大模型）") == "使用 GPT4 模型(大模型)"
    assert normalize_spacing_zh("已经 spaced 了") == "已经 spaced 了"


def test_normalize_whitespace_joins_folded_chinese_lines() -> None:
    assert normalize_whitespace("加入数据增强的\n  CLIP 只用一半\n 数据") == (
        "加入数据增强的 CLIP 只用一半数据"
    )


_pieces = st.one_of(
    st.sampled_from([*"ab xy.,;!?。，；：、中文字", "e.g.", "1.5", "😀", "👨\u200d👩\u200d👧"]),
    st.characters(codec="utf-8"),
)


def _texts(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(_pieces, max_size=max_size).map("".join)


@settings(max_examples=100, deadline=None)
@given(text=_texts(300), budget=st.integers(1, 80))
def test_shorten_stays_within_budget_and_is_a_prefix(text: str, budget: int) -> None:
    for lang in (ZH, EN):
        out = shorten(text, lang, zh_chars=budget, en_words=budget)
        assert count_units(out) <= budget
        full = normalize_whitespace(text)
        if out == full:
            continue
        stem = out[:-1]
        assert full.startswith(stem), (full, out)


@settings(max_examples=100, deadline=None)
@given(text=_texts(200), units=st.integers(0, 100))
def test_truncate_utf16_fits(text: str, units: int) -> None:
    out = truncate_utf16(text, units)
    assert utf16_len(out) <= units
    if utf16_len(text) <= units:
        assert out == text
