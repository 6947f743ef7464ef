"""An SMTP outage longer than any retry schedule: nothing is lost, nothing given up silently.

A real SMTP sink, the SQLite ledger, `digestbot publish` as a user runs it. Waiting is
made virtual by ageing the ledger (every timestamp moved back), which is what the hours
of an outage look like to the next drain.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from digestbot.cli import main
from digestbot.run import drain_forever
from digestbot.settings import load_settings
from digestbot.wiring import build_service
from smtp_sink import SmtpSink, free_port

READERS = ("ann@example.com", "bob@example.com")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def smtp_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("DIGESTBOT_SMTP__HOST", "127.0.0.1")
    monkeypatch.setenv("DIGESTBOT_SMTP__PORT", str(port))
    monkeypatch.setenv("DIGESTBOT_SMTP__SECURITY", "none")
    monkeypatch.setenv("DIGESTBOT_SMTP__SENDER", "Weekly AI Papers <digest@example.org>")
    monkeypatch.setenv("DIGESTBOT_SMTP__TIMEOUT", "2")


def age_ledger(db: Path, hours: float) -> None:
    """Move every delivery's times ``hours`` back: as if that long had passed."""
    shift = f"-{hours} hours"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE deliveries SET created_at = datetime(created_at, ?), "
            "next_attempt_at = datetime(next_attempt_at, ?)",
            (shift, shift),
        )


def statuses(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT address, status FROM deliveries").fetchall())


def first_publish_while_down(monkeypatch: pytest.MonkeyPatch, env: Path) -> list[str]:
    """`publish` with the SMTP server unreachable; the report's lines and exit code.

    In-process with ``max_wait=0``, so the drain does not sit out the first retries
    (seconds) before it reports; the lines are what the command prints."""
    for address in READERS:
        assert main(["subscribers", "add", address, "--lang", "en"]) == 0
    smtp_at(monkeypatch, free_port())  # nothing listens there

    async def publish() -> tuple[list[str], int]:
        async with build_service(load_settings()) as svc:
            svc.publisher.max_wait = 0.0
            report = await svc.publish("2024-W16", only="email")
        return report.lines(), report.exit_code

    lines, code = asyncio.run(publish())
    assert code == 1
    return lines


def give_ups() -> float:
    value = REGISTRY.get_sample_value(
        "digestbot_delivery_give_ups_total", {"channel": "email", "reason": "retry_window"}
    )
    return value or 0.0


def test_an_outage_of_hours_leaves_rows_waiting_and_run_sends_them_once_it_ends(
    monkeypatch: pytest.MonkeyPatch, env: Path, sink: SmtpSink
) -> None:
    db = env / "digestbot.db"
    lines = first_publish_while_down(monkeypatch, env)
    assert "email: 0 sent, 2 retried, 0 failed, 0 skipped, 2 waiting to retry" in lines
    for address in READERS:
        waiting = f"  waiting email {address}: smtp {address}: can't connect to 127.0.0.1"
        assert any(line.startswith(waiting) for line in lines), lines
    assert lines[-1].startswith("2024-W16 not finished: run `digestbot publish --week 2024-W16`")

    # three hours later (the old schedule gave up after about ten minutes), still down
    age_ledger(db, 3)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE deliveries SET attempts = 8")  # the old schedule's last try
    assert main(["publish", "--week", "2024-W16", "--only", "email"]) == 1
    assert set(statuses(db).values()) == {"pending"}
    assert sink.messages == []

    # the server is back: the periodic drain of `digestbot run` sends them, once
    smtp_at(monkeypatch, sink.port)
    age_ledger(db, 1)  # their next try has come

    async def run_drain() -> None:
        stop = asyncio.Event()
        async with build_service(load_settings()) as svc:
            task = asyncio.create_task(drain_forever(svc, stop))
            for _ in range(500):
                if set(statuses(db).values()) == {"sent"}:
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await task

    asyncio.run(run_drain())
    assert sorted(a for m in sink.messages for a in m.rcpt_tos) == sorted(READERS)
    assert set(statuses(db).values()) == {"sent"}


def test_the_window_running_out_fails_loudly_and_retry_failed_sends_once(
    monkeypatch: pytest.MonkeyPatch,
    env: Path,
    sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = env / "digestbot.db"
    first_publish_while_down(monkeypatch, env)
    age_ledger(db, 49)  # past DIGESTBOT_DELIVERY__RETRY_HOURS (48)
    before = give_ups()
    capsys.readouterr()
    caplog.set_level(logging.WARNING, "digestbot.delivery")

    assert main(["publish", "--week", "2024-W16", "--only", "email"]) == 1
    out = capsys.readouterr().out
    assert "email: 0 sent, 0 retried, 2 failed, 0 skipped" in out
    for address in READERS:
        assert (
            f"  failed email {address}: gave up after 2 attempts in 48 h "
            f"(DIGESTBOT_DELIVERY__RETRY_HOURS): smtp {address}: can't connect" in out
        )
    assert (
        "2 deliveries of 2024-W16 failed: "
        "`digestbot publish --retry-failed --week 2024-W16` tries them again." in out
    )
    assert "2024-W16 published in " in out and ", except the failed deliveries above." in out
    assert give_ups() == before + 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(m.startswith("gave up on email ") for m in warned) == 2

    # the week is published, but a later publish still says what failed, and exits 1
    assert main(["publish", "--week", "2024-W16", "--only", "email"]) == 1
    out = capsys.readouterr().out
    assert "2024-W16 is already published: nothing new to send." in out
    assert "2 deliveries of 2024-W16 failed" in out

    smtp_at(monkeypatch, sink.port)
    assert main(["publish", "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "2024-W16: 2 failed deliveries queued again." in out
    assert "email: 2 sent, 0 retried, 0 failed, 0 skipped" in out
    assert sorted(a for m in sink.messages for a in m.rcpt_tos) == sorted(READERS)

    assert main(["publish", "--week", "2024-W16", "--only", "email"]) == 0
    assert "already published" in capsys.readouterr().out
    assert len(sink.messages) == 2


def test_retry_failed_without_failures_says_there_is_nothing_to_retry(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish"]) == 0
    capsys.readouterr()
    assert main(["publish", "--retry-failed"]) == 1
    assert "error: no delivery has failed: there is nothing to retry" in capsys.readouterr().err


def test_run_drains_a_published_week_whose_failed_rows_were_queued_again(
    monkeypatch: pytest.MonkeyPatch, env: Path, sink: SmtpSink
) -> None:
    db = env / "digestbot.db"
    first_publish_while_down(monkeypatch, env)
    age_ledger(db, 49)
    assert main(["publish", "--week", "2024-W16", "--only", "email"]) == 1  # both given up
    assert set(statuses(db).values()) == {"failed"}

    async def retry_while_still_down() -> None:
        async with build_service(load_settings()) as svc:
            svc.publisher.max_wait = 0.0
            report = await svc.publish(retry_failed=True)
            assert report.exit_code == 1
            assert (await svc.published_issue("2024-W16")) is not None  # still in the archive

    asyncio.run(retry_while_still_down())
    assert set(statuses(db).values()) == {"pending"}

    smtp_at(monkeypatch, sink.port)
    age_ledger(db, 1)  # their next try has come

    async def run_drain() -> None:
        stop = asyncio.Event()
        async with build_service(load_settings()) as svc:
            task = asyncio.create_task(drain_forever(svc, stop))
            for _ in range(500):
                if set(statuses(db).values()) == {"sent"}:
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await task

    asyncio.run(run_drain())
    assert sorted(a for m in sink.messages for a in m.rcpt_tos) == sorted(READERS)
