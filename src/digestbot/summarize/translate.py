"""Translating a ready paper's summary into the language it lacks, through the LLM.

An archive imported from Markdown posts has Chinese summaries only; ``summarize --week`` and
``--all`` ask the LLM to translate ``summary_zh`` into ``summary_en`` (the glossary in
reverse: ``大语言模型`` → ``LLM``), or ``summary_en`` into ``summary_zh`` (and ``title_zh``)
with the glossary as is. An English answer still holding Chinese text is refused, so an
English edition never shows Chinese as its text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from digestbot.models import Paper
from digestbot.summarize.glossary import (
    apply_reverse_glossary,
    glossary_prompt,
    reverse_glossary_prompt,
)

__all__ = [
    "SYSTEM_MARK",
    "english_with_glossary",
    "holds_chinese",
    "translation_fields",
    "translation_prompts",
]

SYSTEM_MARK = "You translate"
"""How a translation's system prompt begins (the recorded-response stub keys on it)."""

_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e]")


def translation_fields(paper: Paper) -> tuple[str, ...]:
    """What translation can fill on ``paper``: ``summary_en`` from its Chinese summary, or
    ``summary_zh`` (and an empty ``title_zh``) from its English one; nothing when it has
    both summaries or neither."""
    zh, en = paper.summary_zh.strip(), paper.summary_en.strip()
    if zh and not en:
        return ("summary_en",)
    if en and not zh:
        return ("title_zh", "summary_zh") if not paper.title_zh.strip() else ("summary_zh",)
    return ()


def translation_prompts(
    paper: Paper,
    wanted: Sequence[str],
    glossary: Mapping[str, str],
    *,
    zh_chars: int,
    en_words: int,
) -> tuple[str, str]:
    """The (system, user) prompts that ask for ``wanted`` by translating ``paper``'s summary."""
    if wanted == ("summary_en",):
        system = (
            f"{SYSTEM_MARK} the Chinese summaries of a weekly digest of AI papers, "
            "每周AI论文速递, into English for readers who know machine learning. Answer with "
            'one JSON object and nothing else, with the key "summary_en": a faithful, natural '
            f"English translation of at most {en_words} words, in English only. Keep model and "
            "dataset names, numbers and units as they are, and add nothing the Chinese does "
            "not say.\nTranslate these terms exactly as given (Chinese → English):\n"
            + reverse_glossary_prompt(glossary)
        )
        source = ("summary_zh", paper.summary_zh)
    else:
        system = (
            f"{SYSTEM_MARK} the English summaries of a weekly digest of AI papers, "
            "每周AI论文速递, into Chinese for readers who know machine learning. Answer with "
            "one JSON object and nothing else, holding only the keys you are asked for:\n"
            '- "title_zh": a faithful, natural Chinese title;\n'
            f'- "summary_zh": a faithful Chinese translation of at most {zh_chars} characters.\n'
            "Use half-width parentheses () in Chinese, put a space between Chinese and Latin "
            "letters or digits, keep model and dataset names in their original form.\n"
            "Translate these terms exactly as given (English → Chinese):\n"
            + glossary_prompt(glossary)
        )
        source = ("summary_en", paper.summary_en)
    user = "\n\n".join(
        [
            f"Keys to write: {', '.join(wanted)}",
            f"arXiv: {paper.arxiv_id}",
            f"Title: {paper.title_en}",
            f"{source[0]} to translate:\n{source[1].strip()}",
        ]
    )
    return system, user


def english_with_glossary(text: str, glossary: Mapping[str, str]) -> str:
    """An English answer with the glossary applied in reverse (Chinese terms the model left
    become English)."""
    return apply_reverse_glossary(text, glossary)


def holds_chinese(text: str) -> bool:
    """Whether an English text still holds Chinese (Han characters or CJK punctuation)."""
    return _HAN.search(text) is not None
