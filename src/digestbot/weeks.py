"""ISO weeks: parsing ``2024-W16`` or a date inside it, date ranges and issue titles."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from digestbot.errors import WeekError

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")

TITLE_ZH = "每周AI论文速递"
TITLE_EN = "Weekly AI Papers"


@dataclass(frozen=True, order=True, slots=True)
class Week:
    """One ISO week, Monday to Sunday."""

    year: int
    number: int

    def __post_init__(self) -> None:
        last = dt.date(self.year, 12, 28).isocalendar().week
        if not 1 <= self.number <= last:
            raise WeekError(f"{self.year} has ISO weeks 1..{last}, not {self.number}")

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @classmethod
    def of(cls, day: dt.date) -> Week:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @classmethod
    def parse(cls, text: str) -> Week:
        """``2024-W16``, ``2024W16`` or any date inside the week (``2024-04-17``)."""
        m = _WEEK_RE.match(text)
        if m:
            return cls(int(m.group(1)), int(m.group(2)))
        m = _DATE_RE.match(text)
        if m:
            try:
                day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError as exc:
                raise WeekError(f"{text.strip()!r} is not a real date: {exc}") from None
            return cls.of(day)
        raise WeekError(
            f"{text.strip()!r} is not a week: give an ISO week like 2024-W16 "
            "or a date inside it like 2024-04-17"
        )

    @classmethod
    def current(cls, now: dt.datetime, tz: ZoneInfo) -> Week:
        return cls.of(now.astimezone(tz).date())

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    @property
    def friday(self) -> dt.date:
        return self.monday + dt.timedelta(days=4)

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.monday <= day <= self.sunday

    def previous(self) -> Week:
        return Week.of(self.monday - dt.timedelta(days=7))

    def next(self) -> Week:
        return Week.of(self.monday + dt.timedelta(days=7))


def listing_day(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The calendar day a timestamp falls on in the configured timezone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).date()


def covered_range(week: Week, days: Iterable[dt.date]) -> tuple[dt.date, dt.date]:
    """The working week (Monday to Friday), widened to any listed day outside it."""
    inside = [d for d in days if d in week]
    start = min([week.monday, *inside])
    end = max([week.friday, *inside])
    return start, end


def issue_titles(start: dt.date, end: dt.date) -> tuple[str, str]:
    """``每周AI论文速递(240415-240419)`` and its English counterpart."""
    zh = f"{TITLE_ZH}({start:%y%m%d}-{end:%y%m%d})"
    if start.year == end.year:
        en = f"{TITLE_EN} ({start:%b} {start.day} – {end:%b} {end.day}, {end.year})"
    else:
        en = f"{TITLE_EN} ({start:%b} {start.day}, {start.year} – {end:%b} {end.day}, {end.year})"
    return zh, en
