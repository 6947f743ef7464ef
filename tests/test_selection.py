"""Choosing a week's papers: readiness, the week window, history, order, cap and overrides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from digestbot.models import IssueOverride, Paper, Status
from digestbot.selection import latest_week, make_issue, select_papers
from digestbot.weeks import Week, listing_day


def paper(pid: str, day: str, score: int = 0, status: Status = Status.READY) -> Paper:
    return Paper(pid, f"Title {pid}", dt.date.fromisoformat(day), score=score, status=status)


def by_id(*papers: Paper) -> dict[str, Paper]:
    return {p.arxiv_id: p for p in papers}


W16 = Week(2024, 16)


def test_orders_by_score_then_date() -> None:
    store = by_id(
        paper("2404.00001", "2024-04-16", 5),
        paper("2404.00002", "2024-04-15", 5),
        paper("2404.00003", "2024-04-17", 9),
        paper("2404.00004", "2024-04-19", 1),
    )
    chosen = [p.arxiv_id for p in select_papers(store, W16)]
    assert chosen == ["2404.00003", "2404.00002", "2404.00001", "2404.00004"]


def test_drafts_other_weeks_and_published_are_left_out() -> None:
    store = by_id(
        paper("2404.00001", "2024-04-15", 3),
        paper("2404.00002", "2024-04-16", 9, Status.DRAFT),
        paper("2404.00003", "2024-04-22", 9),
        paper("2404.00004", "2024-04-14", 9),
        paper("2404.00005", "2024-04-21", 1),
    )
    chosen = select_papers(store, W16, published={"2404.00005"})
    assert [p.arxiv_id for p in chosen] == ["2404.00001"]


def test_cap() -> None:
    store = by_id(*(paper(f"2404.{i:05d}", "2024-04-16", i) for i in range(25)))
    chosen = select_papers(store, W16, cap=10)
    assert len(chosen) == 10
    assert chosen[0].arxiv_id == "2404.00024"
    assert chosen[-1].arxiv_id == "2404.00015"


def test_override_list_wins_in_its_order() -> None:
    store = by_id(
        paper("2404.00001", "2024-04-15", 1),
        paper("2404.00002", "2024-04-16", 9),
        paper("2403.00009", "2024-03-01", 9),
    )
    override = IssueOverride(
        papers=("2403.00009", "2404.00001"), title_zh="特别版", intro_en="Two picks."
    )
    chosen = select_papers(store, W16, override=override)
    assert [p.arxiv_id for p in chosen] == ["2403.00009", "2404.00001"]
    issue = make_issue(W16, chosen, override)
    assert issue.title_zh == "特别版"
    assert issue.title_en.startswith("Weekly AI Papers")
    assert issue.intro_en == "Two picks."


def test_latest_unpublished_week() -> None:
    papers = [
        paper("2404.00001", "2024-04-15"),
        paper("2404.00002", "2024-04-23"),
        paper("2404.00003", "2024-05-01", status=Status.DRAFT),
    ]
    assert latest_week(papers) == Week(2024, 17)
    assert latest_week(papers, {Week(2024, 17)}) == Week(2024, 16)
    assert latest_week(papers, {Week(2024, 17), Week(2024, 16)}) is None


def test_saturday_and_sunday_listings_belong_to_their_week() -> None:
    store = by_id(
        paper("2404.00001", "2024-04-14", 9),  # Sunday of W15
        paper("2404.00002", "2024-04-15", 1),  # Monday
        paper("2404.00003", "2024-04-20", 2),  # Saturday
        paper("2404.00004", "2024-04-21", 3),  # Sunday
        paper("2404.00005", "2024-04-22", 9),  # Monday of W17
    )
    chosen = select_papers(store, W16)
    assert [p.arxiv_id for p in chosen] == ["2404.00004", "2404.00003", "2404.00002"]
    issue = make_issue(W16, chosen)
    assert issue.title_zh == "每周AI论文速递(240415-240421)"
    assert issue.title_en == "Weekly AI Papers (Apr 15 – Apr 21, 2024)"
    assert [p.arxiv_id for p in select_papers(store, Week(2024, 17))] == ["2404.00005"]
    assert [p.arxiv_id for p in select_papers(store, Week(2024, 15))] == ["2404.00001"]


def test_a_week_crossing_the_new_year_keeps_both_years_and_its_sunday() -> None:
    week = Week(2026, 1)  # Monday 2025-12-29 to Sunday 2026-01-04
    store = by_id(
        paper("2512.00001", "2025-12-28", 9),  # Sunday of 2025-W52
        paper("2512.00002", "2025-12-31", 2),
        paper("2601.00003", "2026-01-03", 3),  # Saturday
        paper("2601.00004", "2026-01-04", 4),  # Sunday
        paper("2601.00005", "2026-01-05", 9),  # Monday of 2026-W02
    )
    chosen = select_papers(store, week)
    assert [p.arxiv_id for p in chosen] == ["2601.00004", "2601.00003", "2512.00002"]
    assert make_issue(week, chosen).title_zh == "每周AI论文速递(251229-260104)"
    assert latest_week(store.values()) == Week(2026, 2)


def test_the_listing_day_in_the_configured_timezone_picks_the_week() -> None:
    # Sunday 23:30 in Shanghai is still Sunday 15:30 UTC; Monday 00:30 there is Sunday in UTC
    tz = ZoneInfo("Asia/Shanghai")
    late_sunday = dt.datetime(2024, 4, 21, 15, 30, tzinfo=dt.UTC)
    early_monday = dt.datetime(2024, 4, 21, 16, 30, tzinfo=dt.UTC)
    store = by_id(
        paper("2404.00001", listing_day(late_sunday, tz).isoformat(), 1),
        paper("2404.00002", listing_day(early_monday, tz).isoformat(), 2),
    )
    assert [p.arxiv_id for p in select_papers(store, W16)] == ["2404.00001"]
    assert [p.arxiv_id for p in select_papers(store, Week(2024, 17))] == ["2404.00002"]
