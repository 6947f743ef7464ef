"""Chinese text polishing shared by the summarizer and the archive importer (pure).

:func:`polish_zh` is what every Chinese title and summary goes through before it is stored,
whether an LLM drafted it or an archive post held it: English glossary terms left in the
text become their Chinese form, full-width ``（）`` become half-width ``()`` with a space
outside them, and a space separates Chinese from Latin letters and digits. It is idempotent:
polishing polished text changes nothing, so a re-import of an exported post is a no-op.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from digestbot.render.text import normalize_spacing_zh, normalize_whitespace

__all__ = ["apply_glossary", "polish_zh"]

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PAREN_SPACES = (
    (re.compile(rf"(?<=[{_HAN}])\("), " ("),
    (re.compile(rf"(?<=[A-Za-z0-9])\((?=[{_HAN}])"), " ("),
    (re.compile(rf"\)(?=[{_HAN}])"), ") "),
    (re.compile(rf"(?<=[{_HAN}])\)(?=[A-Za-z0-9])"), ") "),
)
_PARENS = re.compile(r"[(（][^()（）]*[)）]")


@functools.lru_cache(maxsize=16)
def _terms(items: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One alternation of every term (longest first) and the Chinese of each, by lower case."""
    chinese = {en.lower(): zh for en, zh in items if en and zh and en.lower() != zh.lower()}
    if not chinese:
        return None, chinese
    alternation = "|".join(re.escape(en) for en in sorted(chinese, key=lambda t: (-len(t), t)))
    pattern = re.compile(
        rf"(?<![A-Za-z0-9_\-/.])(?:{alternation})(?![A-Za-z0-9_\-/])", re.IGNORECASE
    )
    return pattern, chinese


def apply_glossary(text: str, glossary: Mapping[str, str]) -> str:
    """Replace English glossary terms left in Chinese text by their Chinese form.

    Longer terms go first (``AI Agent`` before ``agent``); matches are whole words, so
    ``MLLM`` is not touched by ``LLM``. Terms that translate to themselves are skipped, and
    so is anything in parentheses: ``大语言模型 (LLMs)`` glosses the English on purpose.
    """
    pattern, chinese = _terms(tuple(sorted(glossary.items())))
    if pattern is None:
        return text

    def replace(chunk: str) -> str:
        return pattern.sub(lambda m: chinese[m.group(0).lower()], chunk)

    out: list[str] = []
    pos = 0
    for m in _PARENS.finditer(text):
        out.append(replace(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(replace(text[pos:]))
    return "".join(out)


def polish_zh(text: str, glossary: Mapping[str, str]) -> str:
    """Glossary, half-width parentheses, spacing between Chinese and Latin text.

    Paragraphs (split at blank lines) are polished one by one and joined by a blank line.
    """
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        p = normalize_whitespace(apply_glossary(para, glossary))
        p = normalize_spacing_zh(p)
        for pattern, spaced in _PAREN_SPACES:
            p = pattern.sub(spaced, p)
        if p:
            out.append(p)
    return "\n\n".join(out)
