"""Text budgets and escaping: UTF-16 lengths, HTML escaping, summary shortening, CJK spacing."""

from __future__ import annotations

import functools
import re
from itertools import islice

from digestbot.models import Language

__all__ = [
    "ELLIPSIS",
    "count_units",
    "escape_html",
    "normalize_spacing_zh",
    "normalize_whitespace",
    "paragraphs",
    "prefix_utf16",
    "safe_cut",
    "shorten",
    "truncate_utf16",
    "utf16_len",
]

ELLIPSIS = "…"

# Letters that make up "Latin" words (Latin, Greek, Cyrillic), plus digits.
_L = "0-9A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff"
# Characters that glue onto the character before them (combining marks, variation
# selectors, emoji skin tones, tag characters) and ZWJ sequences.
_EXT = (
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f"
    "\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
)
# Punctuation and control characters: they cost nothing in a budget.
_P = (
    "\x00-\x1f\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u00a1-\u00bf\u00d7\u00f7"
    "\u2000-\u206f\u3000-\u303f\ufe10-\ufe1f\ufe30-\ufe4f"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)
_UNIT_RE = re.compile(
    rf"[{_L}][{_L}\u0300-\u036f]*(?:['’\-.+_/&][{_L}][{_L}\u0300-\u036f]*)*"  # a Latin word
    rf"|[^\s{_P}{_L}](?:[{_EXT}]|\u200d[^\s{_P}])*"  # one Han char, kana, emoji...
)
_CLOSERS = "\"'”’)\\]）」』】》"
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_SENTENCE_END_RE = re.compile(
    rf"(?:[。！？；]|[!?;](?=[{_CLOSERS}]*(?:\s|$|[{_CJK}]))"
    rf"|\.(?=[{_CLOSERS}]*(?:\s|$|[{_CJK}])))[{_CLOSERS}]*"
)
_ABBREV_RE = re.compile(
    r"(?:(?<![A-Za-z])(?:e\.g|i\.e|w\.r\.t|vs|al|cf|figs?|eqs?|secs?|approx|resp|incl|no|nos"
    r"|viz|ca|dr|mr|mrs|ms|prof|st)|(?:^|(?<=\s))[A-Z])$",
    re.IGNORECASE,
)
_COMMA_RE = re.compile(r"[，、：]|[,:](?!\d)")
_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_SPACE_RE = re.compile(rf"(?<=[{_CJK}\u3000-\u303f]) (?=[{_CJK}\u3000-\u303f])")
_BLANK_LINE_RE = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units: what Telegram counts. Astral chars count 2."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def escape_html(s: str, *, quote: bool = True) -> str:
    """Escape ``&``, ``<``, ``>`` and, unless ``quote`` is false, ``"`` (for attributes)."""
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        s = s.replace('"', "&quot;")
    return s


def normalize_whitespace(s: str) -> str:
    """Collapse runs of whitespace to one space; drop spaces between two CJK characters.

    Folded YAML puts a space where an editor broke a Chinese line; Chinese has none.
    """
    s = " ".join(s.split())
    if " " in s and _HAN_RE.search(s):
        s = _CJK_SPACE_RE.sub("", s)
    return s


def paragraphs(s: str) -> tuple[str, ...]:
    """Split text at blank lines into whitespace-normalised paragraphs."""
    parts = (normalize_whitespace(p) for p in _BLANK_LINE_RE.split(s.strip()))
    return tuple(p for p in parts if p)


def count_units(s: str) -> int:
    """Budget units in ``s``: each Latin word 1, each other non-punctuation character 1.

    A Han character, kana, hangul or emoji (with its modifiers and ZWJ sequence) is one
    unit; a Latin word (letters and digits, joined by ``' - . + _ / &``, so ``e.g``,
    ``GPT-4`` and ``1.5`` are one word each) is one unit; spaces and punctuation are free.
    """
    return sum(1 for _ in _UNIT_RE.finditer(s))


@functools.lru_cache(maxsize=4096)
def shorten(text: str, lang: Language, *, zh_chars: int = 120, en_words: int = 60) -> str:
    """Shorten a summary to a budget, cutting at a sentence end when one is close.

    Units (see :func:`count_units`) are the same in both languages: one per Han
    character and one per Latin word, so mixed text such as
    "我们提出 TransformerFAM，一种新的 Transformer 架构。" costs 4+1+4+1+2 = 12 units.
    The budget is ``zh_chars`` for :attr:`Language.ZH` and ``en_words`` for
    :attr:`Language.EN`; for :attr:`Language.BOTH` it is ``zh_chars`` when the text
    holds a Han character, else ``en_words``.

    The text is whitespace-normalised first; if it fits, it is returned as is.
    Otherwise it is cut, within the budget, at:

    1. the last sentence end (``。！？；`` or ``. ! ? ;`` followed by a space, the end or
       CJK text; closing quotes and brackets stay attached). A ``.`` that ends an
       abbreviation (``e.g.``, ``i.e.``, ``et al.``, ``Fig.``, an initial) or sits
       inside a number or version (``1.5``, ``v2.0.1``) is not a sentence end.
       A trailing ``；``/``;`` becomes ``。``/``.``. No ellipsis is added;
    2. if no sentence end lies after the first third of the budget: the last comma
       (``，、：`` or ``, :``) after that third, dropped, then ``…``;
    3. otherwise a hard cut after the last whole word or character that fits, then ``…``.
    """
    s = normalize_whitespace(text)
    if not s:
        return s
    if lang is Language.BOTH:
        lang = Language.ZH if _HAN_RE.search(s) else Language.EN
    budget = zh_chars if lang is Language.ZH else en_words
    return _shorten_units(s, budget)


def _shorten_units(s: str, budget: int) -> str:
    if budget <= 0:
        return ""
    units = list(islice(_UNIT_RE.finditer(s), budget + 1))
    if len(units) <= budget:
        return s
    hard_end = units[budget - 1].end()
    allowed_end = units[budget].start()
    min_pos = units[max(1, -(-budget // 3)) - 1].end()

    cut: int | None = None
    for m in _SENTENCE_END_RE.finditer(s):
        if m.end() > allowed_end:
            break
        if m.start() < min_pos:
            continue
        if s[m.start()] == "." and _ABBREV_RE.search(s[max(0, m.start() - 12) : m.start()]):
            continue
        cut = m.end()
    if cut is not None:
        out = s[:cut].rstrip()
        if out.endswith("；"):
            out = out[:-1] + "。"
        elif out.endswith(";"):
            out = out[:-1] + "."
        return out

    for m in _COMMA_RE.finditer(s, min_pos, allowed_end):
        cut = m.start()
    if cut is not None:
        return s[:cut].rstrip() + ELLIPSIS
    return s[:hard_end].rstrip() + ELLIPSIS


def _is_ext(ch: str) -> bool:
    o = ord(ch)
    return (
        0x300 <= o <= 0x36F
        or 0x1AB0 <= o <= 0x1AFF
        or 0x1DC0 <= o <= 0x1DFF
        or 0x20D0 <= o <= 0x20FF
        or 0xFE00 <= o <= 0xFE0F
        or 0xFE20 <= o <= 0xFE2F
        or 0x1F3FB <= o <= 0x1F3FF
        or 0xE0020 <= o <= 0xE007F
        or o == 0x200D
    )


def _is_ri(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def safe_cut(s: str, i: int) -> int:
    """The largest index ``<= i`` that does not split a grapheme (emoji ZWJ sequence,
    combining mark, skin tone, flag pair)."""
    i = max(0, min(i, len(s)))
    while 0 < i < len(s) and (_is_ext(s[i]) or s[i - 1] == "\u200d"):
        i -= 1
    if 0 < i < len(s) and _is_ri(s[i]) and _is_ri(s[i - 1]):
        run = 0
        j = i - 1
        while j >= 0 and _is_ri(s[j]):
            run += 1
            j -= 1
        if run % 2:
            i -= 1
    return i


def prefix_utf16(s: str, max_units: int) -> str:
    """The longest prefix of ``s`` within ``max_units`` UTF-16 units that ends on a
    grapheme boundary."""
    if max_units <= 0:
        return ""
    if len(s) <= max_units // 2 or utf16_len(s) <= max_units:
        return s
    used = 0
    end = len(s)
    for idx, ch in enumerate(s):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > max_units:
            end = idx
            break
    return s[: safe_cut(s, end)]


def truncate_utf16(s: str, max_units: int, ellipsis: str = ELLIPSIS) -> str:
    """``s`` if it fits in ``max_units`` UTF-16 units, else a prefix plus ``ellipsis``
    that does (cut at a grapheme boundary, trailing spaces dropped)."""
    if utf16_len(s) <= max_units:
        return s
    room = max_units - utf16_len(ellipsis)
    if room <= 0:
        return ""
    return prefix_utf16(s, room).rstrip() + ellipsis


_FW_PAREN = str.maketrans({"（": "(", "）": ")"})
_HAN_THEN_LATIN_RE = re.compile("([\u3400-\u4dbf\u4e00-\u9fff])([A-Za-z0-9])")
_LATIN_THEN_HAN_RE = re.compile("([A-Za-z0-9])([\u3400-\u4dbf\u4e00-\u9fff])")


def normalize_spacing_zh(s: str) -> str:
    """Chinese typography clean-up: full-width ``（）`` become half-width ``()``, and a
    space goes between a Han character and an adjacent Latin letter or digit
    ("使用GPT4模型" → "使用 GPT4 模型")."""
    s = s.translate(_FW_PAREN)
    s = _HAN_THEN_LATIN_RE.sub(r"\1 \2", s)
    return _LATIN_THEN_HAN_RE.sub(r"\1 \2", s)
