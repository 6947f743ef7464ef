"""ISO weeks, their edges, and issue titles."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from digestbot.errors import WeekError
from digestbot.weeks import Week, covered_range, issue_titles, listing_day


def test_parse_iso_week_and_date_agree() -> None:
    assert Week.parse("2024-W16") == Week(2024, 16)
    assert Week.parse("2024w16") == Week(2024, 16)
    assert Week.parse("2024-04-17") == Week(2024, 16)
    assert str(Week(2024, 16)) == "2024-W16"
    assert Week(2024, 16).monday == dt.date(2024, 4, 15)
    assert Week(2024, 16).sunday == dt.date(2024, 4, 21)


def test_year_boundary_week_belongs_to_next_iso_year() -> None:
    week = Week.parse("2025-12-31")
    assert week == Week(2026, 1)
    assert week.monday == dt.date(2025, 12, 29)
    assert week.friday == dt.date(2026, 1, 2)
    assert Week.parse("2026-01-02") == week
    assert week.previous() == Week(2025, 52)
    assert Week(2025, 52).next() == week


def test_year_boundary_title_spans_both_years() -> None:
    week = Week(2026, 1)
    start, end = covered_range(week, [dt.date(2025, 12, 30), dt.date(2026, 1, 2)])
    zh, en = issue_titles(start, end)
    assert zh == "每周AI论文速递(251229-260102)"
    assert "2025" in en and "2026" in en


def test_seed_week_title() -> None:
    week = Week.parse("2024-W16")
    zh, en = issue_titles(*covered_range(week, [dt.date(2024, 4, 15), dt.date(2024, 4, 19)]))
    assert zh == "每周AI论文速递(240415-240419)"
    assert en == "Weekly AI Papers (Apr 15 – Apr 19, 2024)"


def test_weekend_listing_widens_the_range() -> None:
    week = Week(2024, 16)
    start, end = covered_range(week, [dt.date(2024, 4, 20)])
    assert (start, end) == (dt.date(2024, 4, 15), dt.date(2024, 4, 20))


@pytest.mark.parametrize(
    "bad", ["2024-W54", "2024-W00", "last week", "2024-02-30", "", "W16", "2023-W53"]
)
def test_bad_weeks_say_what_to_give(bad: str) -> None:
    with pytest.raises(WeekError) as info:
        Week.parse(bad)
    assert "week" in str(info.value).lower() or "date" in str(info.value).lower()


def test_53_week_year() -> None:
    assert Week.parse("2020-W53").sunday == dt.date(2021, 1, 3)


def test_timezone_moves_the_listing_day() -> None:
    # 2024-04-21 17:30 UTC is already Monday 01:30 in Shanghai: next week's first day.
    moment = dt.datetime(2024, 4, 21, 17, 30, tzinfo=dt.UTC)
    shanghai = listing_day(moment, ZoneInfo("Asia/Shanghai"))
    utc = listing_day(moment, ZoneInfo("UTC"))
    assert shanghai == dt.date(2024, 4, 22)
    assert Week.of(shanghai) == Week(2024, 17)
    assert Week.of(utc) == Week(2024, 16)
    la = listing_day(dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.UTC), ZoneInfo("America/Los_Angeles"))
    assert Week.of(la) == Week(2026, 1) and la == dt.date(2025, 12, 31)
