"""The weekly schedule with a fake clock: local fire times (with and without DST) and catch-up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from digestbot.scheduler import Scheduler, WeeklySchedule, week_to_publish
from digestbot.settings import load_settings
from digestbot.weeks import Week
from digestbot.wiring import build_service

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def test_fires_saturday_nine_in_shanghai() -> None:
    sched = WeeklySchedule("0 9 * * sat", SHANGHAI)
    fire = sched.next_fire(dt.datetime(2024, 4, 15, tzinfo=dt.UTC))
    assert fire is not None
    assert fire.astimezone(SHANGHAI).replace(tzinfo=None) == dt.datetime(2024, 4, 20, 9, 0)
    assert fire.astimezone(dt.UTC).replace(tzinfo=None) == dt.datetime(2024, 4, 20, 1, 0)


def test_numeric_weekday_is_read_as_crontab_does() -> None:
    sched = WeeklySchedule("0 9 * * 6", SHANGHAI)
    fire = sched.next_fire(dt.datetime(2024, 4, 15, tzinfo=dt.UTC))
    assert fire is not None and fire.strftime("%a") == "Sat"
    sunday = WeeklySchedule("0 9 * * 0", SHANGHAI).next_fire(
        dt.datetime(2024, 4, 15, tzinfo=dt.UTC)
    )
    assert sunday is not None and sunday.strftime("%a") == "Sun"


def test_dst_zone_keeps_local_time_across_the_switch() -> None:
    # New York switches to daylight time on Sunday 2024-03-10.
    sched = WeeklySchedule("0 9 * * sat", NEW_YORK)
    before = sched.next_fire(dt.datetime(2024, 3, 4, tzinfo=dt.UTC))
    assert before is not None
    after = sched.next_fire(before + dt.timedelta(minutes=1))
    assert after is not None
    assert before.astimezone(NEW_YORK).hour == 9 and after.astimezone(NEW_YORK).hour == 9
    assert before.astimezone(dt.UTC).hour == 14  # EST, UTC-5
    assert after.astimezone(dt.UTC).hour == 13  # EDT, UTC-4
    assert after.astimezone(dt.UTC) - before.astimezone(dt.UTC) == dt.timedelta(days=7, hours=-1)


def test_previous_fire() -> None:
    sched = WeeklySchedule("0 9 * * sat", SHANGHAI)
    now = dt.datetime(2024, 4, 22, 12, 0, tzinfo=SHANGHAI)
    prev = sched.previous_fire(now)
    assert prev is not None and prev.astimezone(SHANGHAI).date() == dt.date(2024, 4, 20)


def test_week_to_publish_is_the_latest_complete_week() -> None:
    saturday = dt.datetime(2024, 4, 20, 9, tzinfo=SHANGHAI)
    assert week_to_publish(saturday, SHANGHAI) == Week(2024, 16)
    wednesday = dt.datetime(2024, 4, 24, 9, tzinfo=SHANGHAI)
    assert week_to_publish(wednesday, SHANGHAI) == Week(2024, 16)
    # Friday 23:30 UTC is already Saturday in Shanghai
    assert week_to_publish(dt.datetime(2024, 4, 19, 23, 30, tzinfo=dt.UTC), SHANGHAI) == Week(
        2024, 16
    )


class FakeClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def test_catch_up_runs_a_missed_fire_once(env: Path) -> None:
    settings = load_settings()
    # down at Saturday 09:00; back at 15:00 the same day, within the grace period
    clock = FakeClock(dt.datetime(2024, 4, 20, 15, 0, tzinfo=SHANGHAI))
    async with build_service(settings) as service:
        first = Scheduler(service, owner="a", clock=clock)
        report = await first.catch_up()
        assert report is not None and report.week == "2024-W16" and report.complete
        # a second process starting now finds the fire claimed; so does a restart
        assert await Scheduler(service, owner="b", clock=clock).catch_up() is None
        assert await first.catch_up() is None
    assert (env / "outbox" / "telegram" / "preview-zh" / "2024-W16-1.html").exists()


async def test_no_catch_up_outside_the_grace_period(env: Path) -> None:
    settings = load_settings(schedule_grace_hours=12)
    clock = FakeClock(dt.datetime(2024, 4, 22, 12, 0, tzinfo=SHANGHAI))
    async with build_service(settings) as service:
        assert await Scheduler(service, owner="a", clock=clock).catch_up() is None
    assert not (env / "outbox").exists()
