"""The publisher's decisions (retry, give up, stop), against an in-memory ledger: no SQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import pytest
from prometheus_client import REGISTRY

from digestbot.delivery.ledger import Delivery
from digestbot.delivery.publisher import RETRY_CAP, DeliveryLedger, Publisher
from digestbot.delivery.senders import Content, MemorySender, RenderOptions
from digestbot.errors import LedgerUnavailable, PermanentDeliveryError, TransientDeliveryError
from digestbot.models import Channel, Issue, Language, Paper, Status
from digestbot.render.templates import Templates

ISSUE = Issue(
    week="2024-W16",
    title_zh="每周AI论文速递(240415-240419)",
    title_en="Weekly AI Papers",
    start=dt.date(2024, 4, 15),
    end=dt.date(2024, 4, 19),
    papers=(
        Paper(
            "2404.09173",
            "TransformerFAM",
            dt.date(2024, 4, 16),
            title_zh="反馈注意力",
            summary_en="Attention with feedback.",
            summary_zh="带反馈的注意力。",
            status=Status.READY,
        ),
    ),
)


def content() -> Content:
    return Content(ISSUE, RenderOptions(templates=Templates()), lambda c, a: f"http://x/u/{a}")


EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class VirtualClock:
    """Time that moves only when a test says so: hours of retries without waiting."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 4, 20, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance_to(self, when: dt.datetime) -> None:
        self.now = max(self.now, when)


@dataclass
class Row:
    delivery: Delivery
    status: str = "pending"
    due: dt.datetime = EPOCH
    error: str | None = None


class MemoryWriter:
    """Group commits into the memory ledger; ``refuse`` ids lose their lease."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self.ledger = ledger

    async def write(
        self, owner: str, checkpoints: Sequence[tuple[int, int]], sent: Sequence[tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        self.ledger.writes_tried += 1
        if self.ledger.down:
            raise ConnectionError("the database went away")
        ok_cp = {i for i, _ in checkpoints if i not in self.ledger.refuse}
        ok_sent = {i for i, _ in sent if i not in self.ledger.refuse}
        for i in ok_sent:
            self.ledger.rows[i].status = "sent"
        return ok_cp, ok_sent

    async def close(self) -> None:
        return None


class MemoryLedger:
    """The rows of one issue in a dict, with the ledger's lease and retry semantics."""

    def __init__(
        self,
        destinations: Sequence[tuple[Channel, str]],
        clock: Callable[[], dt.datetime] = now,
    ) -> None:
        self.lease = dt.timedelta(seconds=120)
        self.clock = clock
        queued = clock()
        self.rows = {
            i: Row(
                Delivery(
                    i,
                    1,
                    channel,
                    address,
                    "memory",
                    Language.EN,
                    None,
                    0,
                    0,
                    None,
                    queued_at=queued,
                ),
                due=queued,
            )
            for i, (channel, address) in enumerate(destinations, start=1)
        }
        self.refuse: set[int] = set()
        self.down = False
        """Writes (group commits) fail as if the database were gone."""
        self.writes_tried = 0

    async def release_dead_owners(self, host: str, alive: Callable[[int], bool]) -> int:
        return 0

    async def claim(
        self, issue_id: int, owner: str, batch: int, *, transports: Sequence[str]
    ) -> list[Delivery]:
        t = self.clock()
        out: list[Delivery] = []
        for row in self.rows.values():
            if row.status == "pending" and row.due <= t and len(out) < batch:
                row.status = "sending"
                row.delivery = replace(
                    row.delivery,
                    attempts=row.delivery.attempts + 1,
                    lease_owner=owner,
                    lease_until=t + self.lease,
                )
                out.append(row.delivery)
        return out

    async def next_due(self, issue_id: int) -> dt.datetime | None:
        due = [r.due for r in self.rows.values() if r.status == "pending"]
        return min(due) if due else None

    async def retry_later(
        self, delivery_id: int, owner: str, error: str, delay: float, *, parts_sent: int
    ) -> bool:
        row = self.rows[delivery_id]
        row.status, row.error = "pending", error
        row.due = self.clock() + dt.timedelta(seconds=delay)
        row.delivery = replace(row.delivery, parts_sent=parts_sent)
        return True

    async def mark_failed(self, delivery_id: int, owner: str, error: str) -> bool:
        row = self.rows[delivery_id]
        row.status, row.error = "failed", error
        return True

    async def release(self, delivery_id: int, owner: str, parts_sent: int) -> None:
        self.rows[delivery_id].status = "pending"

    def writer(self) -> MemoryWriter:
        return MemoryWriter(self)

    def statuses(self) -> dict[str, str]:
        return {r.delivery.address: r.status for r in self.rows.values()}


def _as_protocol(ledger: MemoryLedger) -> DeliveryLedger:
    return ledger  # mypy checks that the fake has everything the publisher needs


async def test_a_transient_failure_is_retried_and_then_sent() -> None:
    ledger = MemoryLedger([(Channel.EMAIL, "a@example.com"), (Channel.EMAIL, "b@example.com")])
    tries: Counter[str] = Counter()

    def fail(d: Delivery) -> Exception | None:
        tries[d.address] += 1
        if d.address == "a@example.com" and tries[d.address] == 1:
            return TransientDeliveryError("451 try later", retry_after=0.05)
        return None

    sender = MemorySender(fail=fail)
    stats = await Publisher(_as_protocol(ledger), {"memory": sender}).drain(1, content())
    assert stats.retried == Counter({"email": 1})
    assert stats.sent == Counter({"email": 2})
    assert sorted(a for _, a, _, _ in sender.sent) == ["a@example.com", "b@example.com"]
    assert ledger.statuses() == {"a@example.com": "sent", "b@example.com": "sent"}
    assert ledger.rows[1].delivery.attempts == 2


async def drain_until_settled(
    publisher: Publisher, ledger: MemoryLedger, clock: VirtualClock, *, until: dt.datetime
) -> list[dt.datetime]:
    """What ``digestbot run`` does, on virtual time: drain, sleep until the next row is
    due, drain again, up to ``until``. Returns the times of the drains."""
    drains: list[dt.datetime] = []
    while clock.now <= until:
        drains.append(clock.now)
        await publisher.drain(1, content())
        due = await ledger.next_due(1)
        if due is None:
            break
        clock.advance_to(due)
    return drains


async def test_an_outage_longer_than_the_old_retry_schedule_loses_nothing() -> None:
    clock = VirtualClock()
    start = clock.now
    ledger = MemoryLedger([(Channel.EMAIL, "a@example.com")], clock)
    down_until = start + dt.timedelta(hours=3)  # the old schedule gave up after ~10 minutes

    def fail(d: Delivery) -> Exception | None:
        return TransientDeliveryError("SMTP server unreachable") if clock.now < down_until else None

    sender = MemorySender(fail=fail)
    publisher = Publisher(ledger, {"memory": sender}, max_wait=0.0, clock=clock)
    drains = await drain_until_settled(
        publisher, ledger, clock, until=start + dt.timedelta(hours=2, minutes=59)
    )
    assert ledger.statuses() == {"a@example.com": "pending"}  # still waiting, not failed
    assert ledger.rows[1].delivery.attempts > 8
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(drains)]
    assert max(gaps) <= RETRY_CAP  # backoff capped at 30 minutes
    assert sender.sent == []

    await drain_until_settled(publisher, ledger, clock, until=start + dt.timedelta(hours=4))
    assert ledger.statuses() == {"a@example.com": "sent"}
    assert [a for _, a, _, _ in sender.sent] == ["a@example.com"]  # once


def give_ups(channel: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "digestbot_delivery_give_ups_total", {"channel": channel, "reason": reason}
    )
    return value or 0.0


async def test_a_transient_failure_gives_up_when_the_retry_window_runs_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    start = clock.now
    ledger = MemoryLedger([(Channel.EMAIL, "a@example.com")], clock)
    sender = MemorySender(fail=lambda d: TransientDeliveryError("451 mailbox busy"))
    publisher = Publisher(
        ledger,
        {"memory": sender},
        max_wait=0.0,
        clock=clock,
        retry_window=dt.timedelta(hours=48),
    )
    before = give_ups("email", "retry_window")
    caplog.set_level(logging.WARNING, "digestbot.delivery")
    drains = await drain_until_settled(
        publisher, ledger, clock, until=start + dt.timedelta(hours=50)
    )
    assert ledger.statuses() == {"a@example.com": "failed"}
    # the last try falls at the end of the window, not later and not much earlier
    assert drains[-1] == start + dt.timedelta(hours=48)
    attempts = ledger.rows[1].delivery.attempts
    assert ledger.rows[1].error == (
        f"gave up after {attempts} attempts in 48 h (DIGESTBOT_DELIVERY__RETRY_HOURS): "
        "451 mailbox busy"
    )
    assert give_ups("email", "retry_window") == before + 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"gave up on email a@example.com: {ledger.rows[1].error}"
    ]
    assert sender.sent == []


async def test_a_permanent_failure_ends_the_row_and_calls_the_hook_once() -> None:
    ledger = MemoryLedger([(Channel.TELEGRAM, "42"), (Channel.EMAIL, "b@example.com")])
    sender = MemorySender(
        fail=lambda d: (
            PermanentDeliveryError("403 blocked", deactivate=True) if d.address == "42" else None
        )
    )
    deactivated: list[tuple[str, str]] = []

    async def on_deactivate(row: Delivery, reason: str) -> None:
        deactivated.append((row.address, reason))

    pub = Publisher(ledger, {"memory": sender}, on_deactivate=on_deactivate)
    stats = await pub.drain(1, content())
    assert stats.failed == Counter({"telegram": 1})
    assert stats.retried == Counter()
    assert deactivated == [("42", "403 blocked")]
    assert ledger.statuses() == {"42": "failed", "b@example.com": "sent"}
    assert ledger.rows[1].delivery.attempts == 1


def long_content() -> Content:
    """An issue whose Telegram message needs several parts."""
    papers = tuple(
        replace(ISSUE.papers[0], arxiv_id=f"2404.{10000 + i}", summary_en="Feedback. " * 60)
        for i in range(12)
    )
    issue = replace(ISSUE, papers=papers)
    return Content(issue, RenderOptions(templates=Templates()), lambda c, a: f"http://x/u/{a}")


async def test_a_part_whose_checkpoint_is_refused_is_not_sent() -> None:
    ledger = MemoryLedger([(Channel.TELEGRAM, "42")])
    ledger.refuse = {1}  # another worker holds the row now: its checkpoints fail
    body = long_content()
    assert len(body.telegram(Language.EN)) >= 2
    sender = MemorySender()
    stats = await Publisher(ledger, {"memory": sender}).drain(1, body)
    # part 0 went out under a fresh lease (no round trip); part 1 needed the ledger's
    # word, did not get it, and was not sent
    assert [(a, n) for _, a, n, _ in sender.sent] == [("42", 0)]
    assert stats.lost_lease == 1
    assert stats.sent == Counter()
    assert ledger.statuses() == {"42": "sending"}


def fan_out(n: int) -> MemoryLedger:
    return MemoryLedger([(Channel.EMAIL, f"u{i}@example.com") for i in range(n)])


SEND_SLOTS = 16  # MemorySender.concurrency
UNRECORDED = 32  # Publisher(unrecorded=...) default


async def wait_for_stall(ledger: MemoryLedger, sender: MemorySender) -> None:
    """Until the group commit has failed a few times and no send happened meanwhile."""
    for _ in range(200):
        seen = len(sender.sent)
        await asyncio.sleep(0.02)
        if ledger.writes_tried >= 2 and len(sender.sent) == seen:
            return
    raise AssertionError("the group commit never failed")


async def test_sending_stops_when_sent_marks_cannot_be_written_and_goes_on_after() -> None:
    ledger = fan_out(200)
    ledger.down = True
    sender = MemorySender()
    drain = asyncio.create_task(Publisher(ledger, {"memory": sender}).drain(1, content()))
    await wait_for_stall(ledger, sender)
    # the rows being sent plus those waiting for their mark, not the whole window (200)
    assert 0 < len(sender.sent) <= SEND_SLOTS + UNRECORDED
    ledger.down = False  # the database is back: the marks are written, sending goes on
    stats = await drain
    assert stats.sent == Counter({"email": 200})
    assert Counter(a for _, a, _, _ in sender.sent) == {f"u{i}@example.com": 1 for i in range(200)}
    assert set(ledger.statuses().values()) == {"sent"}


async def test_a_database_that_stays_away_ends_the_drain_with_a_clear_message() -> None:
    ledger = fan_out(200)
    ledger.down = True
    sender = MemorySender()
    publisher = Publisher(ledger, {"memory": sender}, database_wait=0.3)
    with pytest.raises(LedgerUnavailable) as err:
        await publisher.drain(1, content())
    assert "the database stopped answering (ConnectionError: the database went away)" in str(
        err.value
    )
    assert "Run the same command again once the database answers" in str(err.value)
    assert len(sender.sent) <= SEND_SLOTS + UNRECORDED
    # nothing was recorded as sent: the rows keep their lease and are resumed later
    assert set(ledger.statuses().values()) == {"sending"}
