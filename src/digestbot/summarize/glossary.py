"""The translation glossary: English term → the Chinese the digest uses for it.

Editors keep it in ``<content>/glossary.yaml`` (a mapping, ``LLM: 大语言模型``). Without that
file the built-in :data:`DEFAULT_GLOSSARY` applies. The summarizer puts the glossary in its
prompt and, after generation, replaces any glossary term the model left in English inside
Chinese text (``zero-shot`` → ``零样本``); terms that map to themselves (``Transformer``,
``Token``) stay as they are. Translating into English uses it in reverse (``大语言模型`` →
``LLM``, the first English term listed for it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from digestbot.errors import ContentError
from digestbot.render.polish import apply_glossary

__all__ = [
    "DEFAULT_GLOSSARY",
    "GLOSSARY_FILE",
    "apply_glossary",
    "apply_reverse_glossary",
    "glossary_prompt",
    "load_glossary",
    "reverse_glossary",
    "reverse_glossary_prompt",
]

GLOSSARY_FILE = "glossary.yaml"

DEFAULT_GLOSSARY: Mapping[str, str] = {
    "Transformer": "Transformer",
    "Token": "Token",
    "LLM": "大语言模型",
    "LLMs": "大语言模型",
    "large language model": "大语言模型",
    "zero-shot": "零样本",
    "few-shot": "少样本",
    "AI Agent": "AI 智能体",
    "agent": "智能体",
    "fine-tuning": "微调",
    "reinforcement learning": "强化学习",
    "diffusion model": "扩散模型",
    "Mixture of Experts": "混合专家",
    "chain-of-thought": "思维链",
    "retrieval-augmented generation": "检索增强生成",
    "hallucination": "幻觉",
    "benchmark": "基准",
    "multimodal": "多模态",
}


def load_glossary(content_dir: Path) -> dict[str, str]:
    """The store's glossary file, or the defaults when there is none.

    Raises ContentError (``path:line: …``) when the file is not a mapping of strings.
    """
    path = content_dir / GLOSSARY_FILE
    if not path.is_file():
        return dict(DEFAULT_GLOSSARY)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{path}:1: cannot read the glossary: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ContentError(
            f"{path}:{line}: the glossary is not valid YAML; write one 'English: 中文' per line"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ContentError(
            f"{path}:1: the glossary must be a mapping, one 'English: 中文' per line"
        )
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float):
            raise ContentError(f"{path}: {key!r}: write each entry as 'English: 中文'")
        out[key.strip()] = str(value).strip()
    return out


def glossary_prompt(glossary: Mapping[str, str]) -> str:
    """The glossary as prompt lines: ``- LLM → 大语言模型``."""
    return "\n".join(f"- {en} → {zh}" for en, zh in sorted(glossary.items(), key=_order))


def _order(item: tuple[str, str]) -> tuple[str, str]:
    return (item[0].lower(), item[0])


def reverse_glossary(glossary: Mapping[str, str]) -> dict[str, str]:
    """Chinese term → English: the first English term listed for each Chinese one (so
    ``大语言模型`` → ``LLM``, not ``LLMs``); terms that map to themselves are left out."""
    out: dict[str, str] = {}
    for en, zh in glossary.items():
        if en and zh and en.lower() != zh.lower():
            out.setdefault(zh, en)
    return out


def reverse_glossary_prompt(glossary: Mapping[str, str]) -> str:
    """The reversed glossary as prompt lines: ``- 大语言模型 → LLM``."""
    return "\n".join(f"- {zh} → {en}" for zh, en in sorted(reverse_glossary(glossary).items()))


def apply_reverse_glossary(text: str, glossary: Mapping[str, str]) -> str:
    """Replace Chinese glossary terms left in English text by their English form (longer
    terms first, ``AI 智能体`` before ``智能体``), spaced from the words around them."""
    for zh, en in sorted(reverse_glossary(glossary).items(), key=lambda kv: -len(kv[0])):
        out: list[str] = []
        pos = 0
        for m in re.finditer(re.escape(zh), text):
            before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
            out.append(text[pos : m.start()])
            out.append((" " if _LATIN.match(before) else "") + en)
            out.append(" " if _LATIN.match(after) else "")
            pos = m.end()
        text = "".join(out) + text[pos:]
    return text


_LATIN = re.compile(r"[A-Za-z0-9]")
