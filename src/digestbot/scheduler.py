"""The weekly schedule: APScheduler publishes the latest complete week, once across processes."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from digestbot.errors import DigestbotError
from digestbot.reports import PublishReport
from digestbot.service import Service
from digestbot.weeks import Week

log = logging.getLogger("digestbot.scheduler")

JOB = "weekly-publish"
_DOW = {
    "0": "sun",
    "1": "mon",
    "2": "tue",
    "3": "wed",
    "4": "thu",
    "5": "fri",
    "6": "sat",
    "7": "sun",
}


def crontab_trigger(expr: str, tz: ZoneInfo) -> CronTrigger:
    """A CronTrigger that reads the weekday field as crontab does (0 and 7 are Sunday).

    APScheduler numbers weekdays from Monday = 0; without this, ``0 9 * * 6`` would fire on
    Sundays instead of Saturdays.
    """
    minute, hour, day, month, dow = expr.split()
    if "/" not in dow:
        dow = re.sub(r"\d+", lambda m: _DOW.get(m.group(0), m.group(0)), dow)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=tz)


def week_to_publish(fire_time: dt.datetime, tz: ZoneInfo) -> Week:
    """The latest complete week at ``fire_time``: this week from Saturday on, else the last."""
    local = fire_time.astimezone(tz)
    this = Week.of(local.date())
    return this if local.weekday() >= 5 else this.previous()


class WeeklySchedule:
    """When the job fires, in the configured timezone (DST handled by the trigger)."""

    def __init__(self, expr: str, tz: ZoneInfo) -> None:
        self.tz = tz
        self.trigger = crontab_trigger(expr, tz)

    def next_fire(self, after: dt.datetime) -> dt.datetime | None:
        fire: dt.datetime | None = self.trigger.get_next_fire_time(None, after)
        return fire

    def previous_fire(self, now: dt.datetime) -> dt.datetime | None:
        """The last fire time at or before ``now`` within the past five weeks."""
        probe = now - dt.timedelta(days=35)
        last = None
        while True:
            fire = self.trigger.get_next_fire_time(last, probe)
            if fire is None or fire > now:
                return last
            last, probe = fire, fire + dt.timedelta(seconds=1)


class Scheduler:
    """Runs the weekly publish; catches up one missed run at start; one process wins a fire."""

    def __init__(
        self,
        service: Service,
        *,
        owner: str,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        s = service.settings
        self.service = service
        self.owner = owner
        self.clock = clock
        self.schedule = WeeklySchedule(s.schedule, s.tz)
        self.grace = dt.timedelta(hours=s.schedule_grace_hours)
        self._aps: AsyncIOScheduler | None = None
        self.reports: list[PublishReport] = []

    def next_run(self) -> dt.datetime | None:
        return self.schedule.next_fire(self.clock())

    async def fire(self, fire_time: dt.datetime) -> PublishReport | None:
        key = fire_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        if not await self.service.claim_fire(JOB, key, self.owner):
            log.info("fire %s already handled by another process", fire_time.isoformat())
            return None
        week = week_to_publish(fire_time, self.schedule.tz)
        log.info("scheduled publish of %s (fire time %s)", week, fire_time.isoformat())
        try:
            report = await self.service.publish(week)
        except DigestbotError as exc:
            log.warning("scheduled publish of %s did nothing: %s", week, exc)
            return None
        for line in report.lines():
            log.info("%s", line)
        self.reports.append(report)
        return report

    async def catch_up(self) -> PublishReport | None:
        """Run the most recent missed fire once, if it is within the grace period."""
        now = self.clock()
        last = self.schedule.previous_fire(now)
        if last is None or now - last > self.grace:
            return None
        return await self.fire(last)

    async def _job(self) -> None:
        fire_time = self.schedule.previous_fire(self.clock()) or self.clock()
        await self.fire(fire_time)

    def start(self) -> None:
        aps = AsyncIOScheduler(timezone=self.schedule.tz)
        aps.add_job(
            self._job,
            self.schedule.trigger,
            id=JOB,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(self.grace.total_seconds()),
            replace_existing=True,
        )
        aps.start()
        self._aps = aps

    def shutdown(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
