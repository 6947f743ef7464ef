"""The series' own Markdown post of an issue (pure): what ``export markdown`` writes.

One post per week, ``<first day's year>/<MMDD>-<MMDD>.md`` (the issue's first and last day),
in the format readers know from the series' archive and that ``import markdown`` reads
back, papers in issue order::

    ## English Title
    [中文标题](https://arxiv.org/abs/2404.08634)

    中文摘要，一段或几段。

A paper without a Chinese title gets the bare arXiv URL as its link line; without a Chinese
summary, its English one. Markdown that would change the structure (a ``]`` in the Chinese
title, a summary line that reads as a heading) is escaped with full-width forms, which the
importer keeps as text.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from digestbot.models import Issue, Paper
from digestbot.render.text import paragraphs

__all__ = ["post_name", "render_post"]

_HEADING_LIKE = re.compile(r"^(\s{0,3})#")


def post_name(issue: Issue) -> PurePosixPath:
    """``2024/0415-0419.md``: the year of the first day, then first and last day."""
    return PurePosixPath(f"{issue.start.year}") / f"{issue.start:%m%d}-{issue.end:%m%d}.md"


def _paper(paper: Paper) -> str:
    title_en = " ".join(paper.title_en.split())
    title_zh = " ".join(paper.title_zh.split()).replace("[", "［").replace("]", "］")
    link = f"[{title_zh}]({paper.abs_url})" if title_zh else paper.abs_url
    summary = paper.summary_zh.strip() or paper.summary_en.strip()
    body = [_HEADING_LIKE.sub(r"\1＃", p) for p in paragraphs(summary)]
    return "\n\n".join([f"## {title_en}\n{link}", *body])


def render_post(issue: Issue) -> str:
    """The post's text: each paper of ``issue`` in order, blank line between, final newline."""
    return "".join(_paper(p) + "\n\n" for p in issue.papers).rstrip("\n") + "\n"
