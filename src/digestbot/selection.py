"""Pick one week's papers and make the Issue: pure, with the week and the history as arguments."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from digestbot.models import Issue, IssueOverride, Paper, PaperHead, Status
from digestbot.weeks import Week, covered_range, issue_titles

#: Selection reads no summaries: it works on heads (or whole papers) alike.
P = TypeVar("P", bound=PaperHead)


def candidates(papers: Iterable[P], week: Week, published: Collection[str] = ()) -> list[P]:
    """Ready papers listed in ``week`` that no earlier published issue carried."""
    return [
        p
        for p in papers
        if p.status is Status.READY and p.date in week and p.arxiv_id not in published
    ]


def rank(papers: Iterable[P]) -> list[P]:
    """Most upvoted first; ties by listing day, then id, so the order is stable."""
    return sorted(papers, key=lambda p: (-p.score, p.date, p.arxiv_id))


def select_papers(
    papers: Mapping[str, P],
    week: Week,
    *,
    published: Collection[str] = (),
    override: IssueOverride | None = None,
    cap: int = 10,
) -> list[P]:
    """The papers of ``week``'s issue, in order. An override's explicit list wins as given.

    Papers named by an override but missing from ``papers`` are skipped here; the service
    refuses such an issue before publishing (see ``Snapshot.problems_for``).
    """
    if override is not None and override.papers:
        return [papers[pid] for pid in override.papers if pid in papers]
    return rank(candidates(papers.values(), week, published))[:cap]


def make_issue(week: Week, papers: Iterable[Paper], override: IssueOverride | None = None) -> Issue:
    """Wrap the selected papers with titles from the dates actually covered."""
    chosen = tuple(papers)
    start, end = covered_range(week, (p.date for p in chosen))
    title_zh, title_en = issue_titles(start, end)
    ov = override or IssueOverride()
    return Issue(
        week=str(week),
        title_zh=ov.title_zh or title_zh,
        title_en=ov.title_en or title_en,
        start=start,
        end=end,
        papers=chosen,
        intro_zh=ov.intro_zh,
        intro_en=ov.intro_en,
    )


def latest_week(papers: Iterable[PaperHead], published_weeks: Collection[Week] = ()) -> Week | None:
    """The latest week holding ready papers that has not been published."""
    weeks = {Week.of(p.date) for p in papers if p.status is Status.READY}
    open_weeks = sorted(w for w in weeks if w not in published_weeks)
    return open_weeks[-1] if open_weeks else None
