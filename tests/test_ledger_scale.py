"""The ledger at list sizes: a claim costs one batch whatever the size; planning streams."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.engine import make_engine, upgrade
from digestbot.delivery.ledger import Ledger
from digestbot.models import Channel, Destination, Issue, Language, Paper, Status
from digestbot.subscribers import Subscribers


def issue(week: str) -> Issue:
    paper = Paper(
        "2404.09173",
        "TransformerFAM",
        dt.date(2024, 4, 16),
        title_zh="反馈注意力",
        summary_en="Attention with feedback.",
        summary_zh="带反馈的注意力。",
        status=Status.READY,
    )
    return Issue(week, "速递", "Papers", dt.date(2024, 4, 15), dt.date(2024, 4, 19), (paper,))


async def readers(n: int, start: int = 0) -> AsyncIterator[tuple[Destination, str]]:
    """``n`` email destinations, made one at a time (as a database cursor would)."""
    for i in range(start, start + n):
        yield Destination(Channel.EMAIL, f"reader{i}@example.com", Language.EN, i), "memory"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    await upgrade(eng)
    yield eng
    await eng.dispose()


async def claim_cost(ledger: Ledger, issue_id: int, batch: int) -> float:
    """What one claim reads: SQLite VM steps, or PostgreSQL buffers (rolled back)."""
    stmt = ledger.claim_statement(issue_id, "w:1:x", batch, dt.datetime.now(dt.UTC))
    async with ledger.engine.connect() as conn:
        if ledger.dialect == "sqlite":
            steps = 0

            def count() -> int:
                nonlocal steps
                steps += 1
                return 0

            raw: Any = (await conn.get_raw_connection()).driver_connection
            await raw.set_progress_handler(count, 10)
            try:
                assert len((await conn.execute(stmt)).all()) == batch
            finally:
                await raw.set_progress_handler(None, 10)
            await conn.rollback()
            return float(steps)
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        plan = (
            await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        ).scalar_one()
        await conn.rollback()
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return float(top["Shared Hit Blocks"] + top["Shared Read Blocks"])


async def test_a_claim_costs_one_batch_whatever_the_list_size(engine: AsyncEngine) -> None:
    ledger = Ledger(engine)
    small = await ledger.plan(issue("2024-W15"), readers(1_000), frozenset({"email"}))
    large = await ledger.plan(issue("2024-W16"), readers(30_000, 1_000), frozenset({"email"}))
    # the large list mostly sent (a drain well under way): a claim must not read those
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE deliveries SET status = 'sent' WHERE issue_id = :i AND id < "
                "(SELECT MIN(id) + 27000 FROM deliveries WHERE issue_id = :i)"
            ),
            {"i": large.id},
        )
    await claim_cost(ledger, large.id, 100)  # PostgreSQL: the first scan marks dead entries
    cost_small = await claim_cost(ledger, small.id, 100)
    cost_large = await claim_cost(ledger, large.id, 100)
    assert cost_large <= 1.5 * cost_small + 20, (cost_small, cost_large)
    # and the claim still does its job: 100 rows, none twice
    first = await ledger.claim(large.id, "w:1:a", 100)
    second = await ledger.claim(large.id, "w:2:b", 100)
    assert len(first) == len(second) == 100
    assert not {d.id for d in first} & {d.id for d in second}


@pytest.mark.postgres
async def test_a_large_plan_gives_postgresql_fresh_statistics(postgres_url: str) -> None:
    eng = make_engine(postgres_url)
    await upgrade(eng)
    try:
        ledger = Ledger(eng)
        await ledger.plan(issue("2024-W16"), readers(5_000), frozenset({"email"}))
        async with eng.connect() as conn:
            estimate = (
                await conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'")
                )
            ).scalar_one()
        # what the planner believes the table holds (-1 or 0: it has never looked)
        assert 4_500 <= estimate <= 5_500
    finally:
        await eng.dispose()


async def test_planning_holds_one_chunk_not_the_list(engine: AsyncEngine) -> None:
    ledger = Ledger(engine)

    async def peak_while_planning(week: str, n: int) -> int:
        tracemalloc.start()
        try:
            await ledger.plan(issue(week), readers(n), frozenset({"email"}))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = await peak_while_planning("2024-W15", 4_000)
    large = await peak_while_planning("2024-W16", 40_000)
    assert large < 2 * small, (small, large)
    counts = await ledger.counts()
    assert counts[("email", "pending")] == 44_000
    # planning the same stream again adds nothing
    await ledger.plan(issue("2024-W16"), readers(40_000), frozenset({"email"}))
    assert (await ledger.counts())[("email", "pending")] == 44_000


async def test_a_plan_streamed_from_the_subscriber_list_holds_one_batch(
    engine: AsyncEngine,
) -> None:
    subs = Subscribers(engine)

    async def peak_while_planning(week: str) -> int:
        tracemalloc.start()
        try:
            stream = ((d, "smtp") async for d in subs.stream_active(Channel.EMAIL))
            await Ledger(engine).plan(issue(week), stream, frozenset({"email"}))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    await subs.import_csv("email,lang\n" + "".join(f"a{i}@example.com,en\n" for i in range(2_000)))
    small = await peak_while_planning("2024-W15")
    await subs.import_csv("email,lang\n" + "".join(f"b{i}@example.com,zh\n" for i in range(18_000)))
    large = await peak_while_planning("2024-W16")
    assert large < 2 * small, (small, large)
    # every active subscriber planned once, in the subscriber's language
    streamed = [(d.address, d.lang) async for d in subs.stream_active(Channel.EMAIL)]
    assert streamed == [(f"a{i}@example.com", Language.EN) for i in range(2_000)] + [
        (f"b{i}@example.com", Language.ZH) for i in range(18_000)
    ]
    counts = await Ledger(engine).counts()
    assert counts[("email", "pending")] == 2_000 + 20_000
