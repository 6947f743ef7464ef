"""The summarizer: draft missing Chinese titles and bilingual summaries with an LLM.

For each chosen paper missing ``title_zh``, ``summary_zh`` or ``summary_en``, it asks an
OpenAI-compatible ``POST {base_url}/chat/completions`` (JSON mode) for exactly the missing
fields, with the glossary in the system prompt, then post-processes the answer:

- Chinese text: glossary terms left in English are translated, full-width ``（）`` become
  half-width ``()`` with a space outside them, and a space separates Chinese from Latin
  letters and digits;
- both summaries are cut to their budgets (``summary_zh_chars`` units, ``summary_en_words``
  words) by :func:`digestbot.render.text.shorten`.

Ready papers that have a summary in one language only are translated instead (see
``summarize/translate.py``) when a week or ``--all`` is asked for.

Only empty fields are filled (the file is re-read just before writing, so an editor's edit
made meanwhile wins: a rerun after an interruption skips what is done); ``status`` is never
touched, so drafts stay ``draft`` until an editor marks them ready. Without an LLM,
``summary_en`` can still be filled from the abstract's first sentences.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digestbot.content import frontmatter
from digestbot.content.schema import normalize_arxiv_id
from digestbot.content.store import ContentStore, Snapshot
from digestbot.errors import ImportFailed
from digestbot.models import Language, Paper, Status
from digestbot.render.polish import polish_zh
from digestbot.render.text import normalize_whitespace, shorten
from digestbot.settings import Settings
from digestbot.sources.http import SourceUnreachable
from digestbot.summarize.glossary import glossary_prompt
from digestbot.summarize.llm import LlmAnswer, LlmClient, open_llm
from digestbot.summarize.translate import (
    english_with_glossary,
    holds_chinese,
    translation_fields,
    translation_prompts,
)
from digestbot.weeks import Week

__all__ = [
    "FIELDS",
    "LlmAnswer",
    "LlmClient",
    "SummarizeReport",
    "Task",
    "choose_tasks",
    "fallback_summary_en",
    "fill_empty",
    "missing_fields",
    "polish",
    "polish_zh",
    "summarize",
]

FIELDS = ("title_zh", "summary_zh", "summary_en")


# -- pure parts ------------------------------------------------------------------------------


def missing_fields(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Which of title_zh / summary_zh / summary_en are empty in ``meta``."""
    return tuple(f for f in FIELDS if not str(meta.get(f) or "").strip())


def polish(
    field_name: str, text: str, glossary: Mapping[str, str], *, zh_chars: int, en_words: int
) -> str:
    """Post-process one generated field: clean it up and enforce its length budget."""
    if field_name == "summary_en":
        return shorten(normalize_whitespace(text), Language.EN, en_words=en_words)
    cleaned = polish_zh(text, glossary)
    if field_name == "summary_zh":
        return shorten(cleaned, Language.ZH, zh_chars=zh_chars)
    return normalize_whitespace(cleaned)


def fill_empty(
    meta: Mapping[str, Any], values: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """``meta`` with each empty field in FIELDS set from ``values``; other fields untouched."""
    out = dict(meta)
    filled = []
    for name in FIELDS:
        value = values.get(name, "").strip()
        if value and not str(meta.get(name) or "").strip():
            out[name] = value
            filled.append(name)
    return out, filled


def fallback_summary_en(abstract: str, en_words: int) -> str:
    """The abstract's first sentences within the English budget (no LLM needed)."""
    return shorten(abstract, Language.EN, en_words=en_words) if abstract.strip() else ""


def _system_prompt(glossary: Mapping[str, str], zh_chars: int, en_words: int) -> str:
    return (
        "You write entries for a weekly digest of AI papers, 每周AI论文速递, for readers "
        "who know machine learning. Answer with one JSON object and nothing else, holding "
        "only the keys you are asked for:\n"
        '- "title_zh": a faithful, natural Chinese title;\n'
        f'- "summary_zh": a Chinese summary of at most {zh_chars} characters: the problem, '
        "the idea, the main result with its numbers;\n"
        f'- "summary_en": an English summary of at most {en_words} words, same content.\n'
        "Use half-width parentheses () in Chinese, put a space between Chinese and Latin "
        "letters or digits, keep model and dataset names in their original form, and do "
        "not invent results that the input does not state.\n"
        "Translate these terms exactly as given (English → Chinese):\n" + glossary_prompt(glossary)
    )


def _user_prompt(paper: Paper, meta: Mapping[str, Any], wanted: Sequence[str]) -> str:
    parts = [
        f"Keys to write: {', '.join(wanted)}",
        f"arXiv: {paper.arxiv_id}",
        f"Title: {paper.title_en}",
    ]
    if paper.abstract:
        parts.append(f"Abstract:\n{paper.abstract}")
    for name in FIELDS:
        value = str(meta.get(name) or "").strip()
        if value:
            parts.append(f"Existing {name} (keep consistent with it):\n{value}")
    return "\n\n".join(parts)


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    """One paper to summarize, the file holding it, and what is missing."""

    paper: Paper
    path: Path
    wanted: tuple[str, ...]
    translate: bool = False
    """Fill ``wanted`` by translating the paper's summary in the other language."""


@dataclass(slots=True)
class SummarizeReport:
    dry_run: bool = False
    llm: bool = True
    done: dict[str, list[str]] = field(default_factory=dict)
    translated: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def fields_filled(self) -> int:
        return sum(len(v) for v in self.done.values())

    def lines(self, model: str = "") -> list[str]:
        out = list(self.problems)
        out.extend(self.notes)
        for pid, fields in self.done.items():
            if pid in self.translated:
                verb = "would translate" if self.dry_run else "translated"
            else:
                verb = "would fill" if self.dry_run else "filled"
            out.append(f"{pid}: {verb} {', '.join(fields)}")
        papers = len(self.done)
        verb = "would summarize" if self.dry_run else "summarized"
        line = f"{verb} {papers} paper{'s' if papers != 1 else ''}"
        line += f" ({self.fields_filled} fields)"
        translated = len(self.translated & self.done.keys())
        if translated:
            line += f", {translated} of them by translation"
        if self.problems:
            n = len(self.problems)
            line += f", {n} problem{'s' if n != 1 else ''}"
        if papers > translated and not self.dry_run:
            who = "the drafts" if translated else "they"
            line += f"; {who} stay draft until an editor marks them ready (digestbot review)"
        out.append(line)
        if self.llm and not self.dry_run:
            total = self.prompt_tokens + self.completion_tokens
            out.append(
                f"tokens used: {self.prompt_tokens} prompt + {self.completion_tokens} completion"
                f" = {total} in {self.requests} request{'s' if self.requests != 1 else ''}"
                + (f" ({model})" if model else "")
            )
        return out


def _write_filled(store: ContentStore, path: Path, values: Mapping[str, str]) -> list[str]:
    """Re-read the file and fill only fields still empty; return the fields written."""
    meta, body = store.read_meta(path)
    merged, filled = fill_empty(meta, values)
    if filled:
        store.write_meta(path, merged, body)
    return filled


async def summarize(
    store: ContentStore,
    settings: Settings,
    tasks: Sequence[Task],
    glossary: Mapping[str, str],
    *,
    dry_run: bool,
    report: SummarizeReport,
    step: Callable[[str], None] | None = None,
) -> None:
    """Fill the missing fields of ``tasks``: with the LLM if configured, else summary_en only."""
    zh, en = settings.summary_zh_chars, settings.summary_en_words
    if not settings.llm.enabled:
        report.llm = False
        for task in tasks:
            values: dict[str, str] = {}
            if "summary_en" in task.wanted:
                values["summary_en"] = fallback_summary_en(task.paper.abstract, en)
            wanted = [f for f in task.wanted if values.get(f)]
            if wanted and not dry_run:
                wanted = _write_filled(store, task.path, values)
            if wanted:
                report.done[task.paper.arxiv_id] = wanted
            if step is not None:
                step(task.paper.arxiv_id)
        return
    if dry_run:
        for task in tasks:
            report.done[task.paper.arxiv_id] = list(task.wanted)
            if task.translate:
                report.translated.add(task.paper.arxiv_id)
        return

    system = _system_prompt(glossary, zh, en)
    limit = asyncio.Semaphore(settings.llm.concurrency)
    async with open_llm(settings) as client:

        async def one(task: Task) -> None:
            if task.translate:
                prompts = translation_prompts(
                    task.paper, task.wanted, glossary, zh_chars=zh, en_words=en
                )
            else:
                meta, _body = store.read_meta(task.path)
                prompts = (system, _user_prompt(task.paper, meta, task.wanted))
            async with limit:
                answer = await client.complete(*prompts)
            report.prompt_tokens += answer.prompt_tokens
            report.completion_tokens += answer.completion_tokens
            values = {
                name: polish(name, answer.values.get(name, ""), glossary, zh_chars=zh, en_words=en)
                for name in task.wanted
            }
            refused = ""
            if values.get("summary_en"):
                values["summary_en"] = english_with_glossary(values["summary_en"], glossary)
                if holds_chinese(values["summary_en"]):
                    values["summary_en"], refused = "", "summary_en"
                    report.problems.append(
                        f"{task.path}: the model's summary_en holds Chinese text, not written; "
                        "run summarize again"
                    )
            lacking = [n for n in task.wanted if not values[n] and n != refused]
            if lacking:
                report.problems.append(
                    f"{task.path}: the model gave no {', '.join(lacking)}; run summarize again"
                )
            written = _write_filled(store, task.path, values)
            if written:
                report.done[task.paper.arxiv_id] = written
                if task.translate:
                    report.translated.add(task.paper.arxiv_id)
            if step is not None:
                step(task.paper.arxiv_id)

        try:
            results = await asyncio.gather(*(one(t) for t in tasks), return_exceptions=True)
        finally:
            report.requests = client.http.requests
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, ImportFailed | OSError | frontmatter.FrontMatterError):
            raise failure
    fatal = next((f for f in failures if isinstance(f, SourceUnreachable)), None)
    if fatal is not None:
        raise fatal  # offline or misconfigured: say it once, not once per paper
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, BaseException):
            report.problems.append(f"{task.path}: {result}")


def choose_tasks(
    snap: Snapshot,
    *,
    week: Week | None,
    ids: Sequence[str] | None,
    report: SummarizeReport,
    all_weeks: bool = False,
) -> list[Task]:
    """The papers to summarize: the named ``ids`` (ready or not), else the drafts (of
    ``week``) and, for a ``week`` or ``all_weeks``, the ready papers with a summary in one
    language only, to translate.

    Ready papers are otherwise only summarized when named: their text was already reviewed.
    """
    tasks: list[Task] = []
    if ids:
        for raw in ids:
            try:
                pid = normalize_arxiv_id(raw)
            except ValueError as exc:
                report.problems.append(f"{raw}: {exc}")
                continue
            if pid in snap.invalid_ids:
                report.problems.append(
                    f"{snap.invalid_ids[pid]}: {pid} does not validate; run digestbot check "
                    "and fix it first"
                )
                continue
            paper = snap.whole(pid)
            if paper is None:
                report.problems.append(
                    f"{pid}: no such paper in the content store; import it first "
                    f"(digestbot import arxiv {pid})"
                )
                continue
            wanted = _paper_missing(paper)
            if wanted:
                tasks.append(Task(paper, snap.paths[pid], wanted))
        return tasks
    ready_skipped = translatable = 0
    translate = week is not None or all_weeks
    for pid in sorted(snap.papers):
        if week is not None and snap.papers[pid].date not in week:
            continue
        paper = snap.whole(pid)
        if paper is None:
            continue
        wanted = _paper_missing(paper)
        if not wanted:
            continue
        if paper.status is Status.DRAFT:
            tasks.append(Task(paper, snap.paths[pid], wanted))
            continue
        one_language = translation_fields(paper)
        if one_language and translate:
            tasks.append(Task(paper, snap.paths[pid], one_language, translate=True))
        elif one_language:
            translatable += 1
        else:
            ready_skipped += 1
    if translatable:
        report.notes.append(
            f"{translatable} ready paper{'s' if translatable != 1 else ''} have a summary in "
            "one language only: digestbot summarize --all (or --week W) translates them"
        )
    if ready_skipped:
        report.notes.append(
            f"left {ready_skipped} ready paper{'s' if ready_skipped != 1 else ''} with empty "
            "fields alone: name them with --ids to fill those fields too"
        )
    return tasks


def _paper_missing(paper: Paper) -> tuple[str, ...]:
    return tuple(f for f in FIELDS if not getattr(paper, f).strip())
