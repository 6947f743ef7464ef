"""The delivery ledger on SQLite and PostgreSQL: idempotent planning, leases, resume, no doubles."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from digestbot.db.engine import (
    HEAD,
    MIGRATIONS,
    at_head,
    current_revision,
    make_engine,
    upgrade,
    upgrade_in_child,
)
from digestbot.db.tables import deliveries
from digestbot.delivery.ledger import Delivery, Ledger
from digestbot.delivery.publisher import Publisher
from digestbot.delivery.senders import Content, Job, LeaseLost, MemorySender, RenderOptions
from digestbot.errors import PermanentDeliveryError, TransientDeliveryError
from digestbot.models import Channel, Destination, Issue, Language, Paper, Status
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


def dests(n_mail: int, n_tg: int, transport: str = "memory") -> list[tuple[Destination, str]]:
    out = [
        (Destination(Channel.EMAIL, f"user{i}@example.com", Language.ZH), transport)
        for i in range(n_mail)
    ]
    out += [
        (Destination(Channel.TELEGRAM, str(1000 + i), Language.EN), transport) for i in range(n_tg)
    ]
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    await upgrade(engine)
    yield Ledger(engine, lease_seconds=30)
    await engine.dispose()


async def test_planning_twice_adds_nothing(ledger: Ledger) -> None:
    rec = await ledger.plan(ISSUE, dests(5, 3), frozenset({"email", "telegram"}))
    again = await ledger.plan(ISSUE, dests(5, 3), frozenset({"email"}))
    assert rec.id == again.id
    assert again.channels == frozenset({"email", "telegram"})
    counts = await ledger.counts(rec.id)
    assert counts == {("email", "pending"): 5, ("telegram", "pending"): 3}


async def test_claims_do_not_overlap_and_expired_leases_are_reclaimed(ledger: Ledger) -> None:
    rec = await ledger.plan(ISSUE, dests(10, 0), frozenset({"email"}))
    a = await ledger.claim(rec.id, "worker-a", 6)
    b = await ledger.claim(rec.id, "worker-b", 6)
    assert len(a) == 6 and len(b) == 4
    assert not {d.id for d in a} & {d.id for d in b}
    assert await ledger.claim(rec.id, "worker-c", 6) == []
    # worker-a dies: its leases expire and worker-c takes them over
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.lease_owner == "worker-a")
            .values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    c = await ledger.claim(rec.id, "worker-c", 10)
    assert {d.id for d in c} == {d.id for d in a}
    assert all(d.attempts == 2 for d in c)
    # the lease is re-checked right before a send: worker-a must not send any more
    assert not await ledger.checkpoint(a[0].id, "worker-a", 0)
    assert await ledger.checkpoint(c[0].id, "worker-c", 0)
    assert not await ledger.mark_sent(a[0].id, "worker-a", 1)


async def test_drain_sends_each_destination_once(ledger: Ledger) -> None:
    rec = await ledger.plan(ISSUE, dests(40, 10), frozenset({"email", "telegram"}))
    sender = MemorySender()
    stats = await Publisher(ledger, {"memory": sender}, window=16).drain(rec.id, content())
    assert stats.sent == Counter({"email": 40, "telegram": 10})
    per_dest = Counter((c, a) for c, a, part, _ in sender.sent if part == 0)
    assert len(per_dest) == 50 and set(per_dest.values()) == {1}
    assert await ledger.finish_if_done(rec.id)
    again = await Publisher(ledger, {"memory": sender}).drain(rec.id, content())
    assert sum(again.sent.values()) == 0
    assert len([s for s in sender.sent if s[2] == 0]) == 50


async def test_transient_failures_retry_and_permanent_ones_stop(ledger: Ledger) -> None:
    rec = await ledger.plan(ISSUE, dests(3, 0), frozenset({"email"}))
    tries: Counter[str] = Counter()

    def fail(d: object) -> Exception | None:
        address = getattr(d, "address", "")
        tries[address] += 1
        if address == "user0@example.com" and tries[address] == 1:
            return TransientDeliveryError("451 try later", retry_after=0.1)
        if address == "user1@example.com":
            return PermanentDeliveryError("550 no such user", bounce=True)
        return None

    sender = MemorySender(fail=fail)
    bounced: list[str] = []

    async def on_bounce(row: Delivery, reason: str) -> None:
        bounced.append(row.address)

    pub = Publisher(ledger, {"memory": sender}, on_bounce=on_bounce)
    stats = await pub.drain(rec.id, content())
    assert stats.retried["email"] == 1
    assert stats.failed["email"] == 1
    assert stats.sent["email"] == 2
    assert bounced == ["user1@example.com"]
    assert await ledger.failures(rec.id) == [("email", "user1@example.com", "550 no such user")]
    assert await ledger.finish_if_done(rec.id)


async def test_two_workers_share_one_issue_without_doubles(ledger: Ledger) -> None:
    if ledger.dialect == "sqlite":
        pytest.skip("on SQLite one process drains; several workers is the PostgreSQL setup")
    rec = await ledger.plan(ISSUE, dests(300, 0), frozenset({"email"}))
    second = Ledger(make_engine(str(ledger.engine.url).replace("+asyncpg", "")), 30)
    try:
        s1, s2 = MemorySender(), MemorySender()

        p1 = Publisher(ledger, {"memory": s1}, owner="w1", window=20)
        p2 = Publisher(second, {"memory": s2}, owner="w2", window=20)
        await asyncio.gather(p1.drain(rec.id, content()), p2.drain(rec.id, content()))
        sent = [a for _, a, _, _ in s1.sent] + [a for _, a, _, _ in s2.sent]
        assert len(sent) == 300 and len(set(sent)) == 300
        assert s1.sent and s2.sent, "both workers took a share"
    finally:
        await second.engine.dispose()


async def test_a_worker_whose_lease_ran_out_sends_nothing(ledger: Ledger) -> None:
    # the lease check before a send may skip the database while the lease is fresh; once
    # the lease has run out and another worker holds the row, it must refuse
    short = Ledger(ledger.engine, lease_seconds=0.2)
    rec = await short.plan(ISSUE, dests(1, 0), frozenset({"email"}))
    taken: list[Delivery] = []
    sent: list[str] = []

    class Slow:
        transport = "memory"
        concurrency = 1

        async def start(self) -> None:
            return None

        async def close(self) -> None:
            return None

        async def deliver(self, job: Job, content: Content) -> int:
            await asyncio.sleep(0.25)  # stuck past the lease; another worker takes the row
            taken.extend(await short.claim(rec.id, "other", 1))
            assert await short.mark_sent(taken[0].id, "other", 1)
            if not await job.checkpoint(0):
                raise LeaseLost(job.delivery.id)
            sent.append(job.delivery.address)
            return 1

    stats = await Publisher(short, {"memory": Slow()}).drain(rec.id, content())
    assert [d.address for d in taken] == ["user0@example.com"]
    assert sent == [] and stats.lost_lease == 1 and sum(stats.sent.values()) == 0
    assert await short.counts(rec.id) == {("email", "sent"): 1}


def test_head_constant_is_alembics_head() -> None:
    # the start-up check skips Alembic when the database is at HEAD: it must be the head
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


async def test_upgrade_again_finds_the_database_at_head(ledger: Ledger) -> None:
    await upgrade(ledger.engine)
    async with ledger.engine.connect() as conn:
        assert await conn.run_sync(current_revision) == HEAD
        assert (await conn.exec_driver_sql("SELECT count(*) FROM deliveries")).scalar() == 0


async def test_a_migration_in_a_child_process_brings_the_database_to_head(
    tmp_path: Path,
) -> None:
    # digestbot run migrates in a child, so the long-running process never imports Alembic
    url = f"sqlite:///{tmp_path / 'child.db'}"
    engine = make_engine(url)
    try:
        assert not await at_head(engine)
        await asyncio.to_thread(upgrade_in_child, url)
        assert await at_head(engine)
    finally:
        await engine.dispose()


async def test_a_batch_checkpoint_refuses_rows_whose_lease_ran_out(ledger: Ledger) -> None:
    # nobody has taken the rows over yet, but their lease has ended: another worker may
    # claim them at any moment, so the owner must not send (nor extend the lease)
    rec = await ledger.plan(ISSUE, dests(4, 0), frozenset({"email"}))
    rows = await ledger.claim(rec.id, "w", 4)
    expired = [rows[0].id, rows[1].id]
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(expired))
            .values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    ok, sent = await ledger.write_batch("w", checkpoints=[(d.id, 1) for d in rows])
    assert ok == {rows[2].id, rows[3].id} and sent == set()
    assert not await ledger.checkpoint(rows[0].id, "w", 1)
    # the rows whose lease ran out are free for another worker; the others are not
    other = await ledger.claim(rec.id, "other", 4)
    assert sorted(d.id for d in other) == sorted(expired)
