"""Asking the LLM to pick topics from the list for papers no topic term matched.

One chat completion per paper (JSON mode, through the summarizer's client): the system
prompt lists every topic as ``slug: English name / 中文名``; the answer is
``{"topics": "slug, slug"}``. Slugs not in the list are dropped; at most three are kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from digestbot.models import Paper
from digestbot.settings import Settings
from digestbot.summarize.llm import open_llm
from digestbot.topics import Topic

__all__ = ["MAX_PICKS", "pick_topics"]

MAX_PICKS = 3


def _system_prompt(topics: Sequence[Topic]) -> str:
    lines = "\n".join(f"- {t.slug}: {t.name_en} / {t.name_zh}" for t in topics)
    return (
        "You file AI research papers under topics. Choose the one to three topics below that "
        "fit the paper best; choose none only if nothing fits. Answer with a JSON object "
        '{"topics": "slug, slug"} using only these slugs:\n' + lines
    )


def _user_prompt(paper: Paper) -> str:
    parts = [f"arXiv: {paper.arxiv_id}", f"Title: {paper.title_en}"]
    if paper.title_zh:
        parts.append(f"标题: {paper.title_zh}")
    summary = paper.summary_en or paper.summary_zh or paper.abstract
    if summary:
        parts.append(f"Summary:\n{summary}")
    return "\n".join(parts)


async def pick_topics(
    settings: Settings, topics: Sequence[Topic], papers: Sequence[Paper]
) -> dict[str, tuple[str, ...]]:
    """The topics the LLM picked for each of ``papers`` (paper id → slugs in list order)."""
    known = [t.slug for t in topics]
    system = _system_prompt(topics)
    limit = asyncio.Semaphore(settings.llm.concurrency)
    out: dict[str, tuple[str, ...]] = {}
    async with open_llm(settings) as client:

        async def one(paper: Paper) -> None:
            async with limit:
                answer = await client.complete(system, _user_prompt(paper))
            said = {s.strip().lower() for s in answer.values.get("topics", "").split(",")}
            out[paper.arxiv_id] = tuple(s for s in known if s in said)[:MAX_PICKS]

        await asyncio.gather(*(one(p) for p in papers))
    return out
