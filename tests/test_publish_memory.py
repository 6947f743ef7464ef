"""Planning an issue streams the subscriber list: its memory does not grow with the list."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pytest

from digestbot.models import Channel, Language
from digestbot.settings import Settings
from digestbot.wiring import build_service

SMALL, LARGE = 2_000, 20_000


async def planned_peak(settings: Settings, subscribers: int) -> tuple[int, int, int]:
    """Import ``subscribers`` confirmed email addresses, then publish with the stop already
    set: the issue is planned in full and nothing is sent. Returns (peak bytes of Python
    memory while publishing, rows planned, destinations the report counts)."""
    svc = build_service(settings)
    try:
        await svc.start()
        langs = ("zh", "en", "both")
        csv = "email,lang\n" + "".join(
            f"reader{n:06d}@example.org,{langs[n % 3]}\n" for n in range(subscribers)
        )
        report = await svc.subscribers.import_csv(csv, default_lang=Language.BOTH)
        assert report.added == subscribers
        stop = asyncio.Event()
        stop.set()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            published = await svc.publish("2024-W16", only="email", stop=stop)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        record = await svc.ledger.get_issue("2024-W16")
        assert record is not None
        counts = await svc.ledger.counts(record.id)
        rows = sum(n for (channel, _s), n in counts.items() if channel == Channel.EMAIL.value)
        return peak, rows, published.planned
    finally:
        await svc.engine.dispose()


def settings_for(url: str, tmp_path: Path, content_dir: Path) -> Settings:
    return Settings(
        content_dir=content_dir,
        database_url=url,
        outbox_dir=tmp_path / "outbox",
        secret_key="test-secret-key",
        _env_file=None,
    )


def check_flat(small: tuple[int, int, int], large: tuple[int, int, int]) -> None:
    assert small[1:] == (SMALL, SMALL) and large[1:] == (LARGE, LARGE)  # every one planned
    # a list of the 18,000 extra destinations would cost ~5 MB; a stream costs nothing more
    grown = large[0] - small[0]
    assert grown < 1_000_000, f"planning {LARGE:,} took {grown:,} bytes more than {SMALL:,}"


def test_planning_memory_is_flat_on_sqlite(tmp_path: Path, content_dir: Path) -> None:
    small = asyncio.run(
        planned_peak(settings_for(f"sqlite:///{tmp_path}/s.db", tmp_path, content_dir), SMALL)
    )
    large = asyncio.run(
        planned_peak(settings_for(f"sqlite:///{tmp_path}/l.db", tmp_path, content_dir), LARGE)
    )
    check_flat(small, large)


async def empty(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE")
        await conn.execute("CREATE SCHEMA public")
    finally:
        await conn.close()


@pytest.mark.postgres
def test_planning_memory_is_flat_on_postgres(
    tmp_path: Path, content_dir: Path, postgres_url: str
) -> None:
    settings = settings_for(postgres_url, tmp_path, content_dir)
    small = asyncio.run(planned_peak(settings, SMALL))
    asyncio.run(empty(postgres_url))
    large = asyncio.run(planned_peak(settings, LARGE))
    check_flat(small, large)
