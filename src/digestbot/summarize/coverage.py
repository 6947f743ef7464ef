"""Language coverage: per week, the ready papers without a summary in each language.

``digestbot check`` warns with it (an edition then shows those papers' titles and links
only), and ``summarize --week``/``--all`` fills the gaps by translation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from digestbot.models import PaperHead, Status
from digestbot.weeks import Week

__all__ = ["WeekCoverage", "language_gaps"]


@dataclass(frozen=True, slots=True)
class WeekCoverage:
    """One week's ready papers, and how many lack an English or a Chinese summary."""

    week: Week
    ready: int
    no_en: int
    no_zh: int

    def line(self) -> str:
        """The warning ``digestbot check`` prints for this week."""
        return (
            f"{self.week}: {self.no_en} of {self.ready} ready papers have no summary_en, "
            f"{self.no_zh} no summary_zh; editions in that language show only their titles "
            f"and links: digestbot summarize --week {self.week} translates them"
        )


def language_gaps(papers: Iterable[PaperHead]) -> list[WeekCoverage]:
    """The weeks (by listing date) whose ready papers lack a summary in a language, in
    week order; weeks where every ready paper has both summaries are left out."""
    counts: dict[Week, list[int]] = {}
    for paper in papers:
        if paper.status is not Status.READY:
            continue
        c = counts.setdefault(Week.of(paper.date), [0, 0, 0])
        c[0] += 1
        c[1] += not paper.has_summary_en
        c[2] += not paper.has_summary_zh
    return [
        WeekCoverage(week, ready, no_en, no_zh)
        for week, (ready, no_en, no_zh) in sorted(counts.items())
        if no_en or no_zh
    ]
