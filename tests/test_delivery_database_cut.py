"""No sending without recording: the database goes away mid-fan-out (2,000 emails).

`digestbot publish` runs as a child process against a real SMTP sink. On PostgreSQL it
reaches the database through a TCP proxy (tests/tcp_proxy.py) that a watcher cuts once
600 emails arrived; on SQLite another connection holds the write lock for a while. While
sent marks cannot be written, sending must stop within the bound the README states: the
rows being sent plus 32 per transport (4 SMTP connections + 32 = 36 here).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import SAMPLE_CONTENT
from smtp_sink import SmtpSink
from tcp_proxy import TcpProxy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _harness import email_address, publish_cmd, publish_env, seed

N = 2000
CUT_AT = 600
SMTP_CONNECTIONS = 4  # SmtpSettings.connections default
UNRECORDED = 32  # Publisher(unrecorded=...) default
BOUND = SMTP_CONNECTIONS + UNRECORDED


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def copies(sink: SmtpSink) -> Counter[str]:
    return Counter(rcpt for m in sink.messages for rcpt in m.rcpt_tos)


def publish(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        publish_cmd("--only", "email"),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


class Watcher(threading.Thread):
    """Once ``at`` emails arrived: ``away()``, note the count, wait ``hold`` s (counting
    what still arrives), then ``back()`` (if given)."""

    def __init__(
        self,
        sink: SmtpSink,
        away: Callable[[], None],
        back: Callable[[], None] | None,
        *,
        at: int = CUT_AT,
        hold: float = 3.0,
    ) -> None:
        super().__init__(daemon=True)
        self.sink, self.away, self.back, self.at, self.hold = sink, away, back, at, hold
        self.at_cut: int | None = None
        self.while_away: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while len(self.sink.messages) < self.at:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        self.away()
        self.at_cut = len(self.sink.messages)
        time.sleep(self.hold)
        self.while_away = len(self.sink.messages) - self.at_cut
        if self.back is not None:
            self.back()


def postgres_env(
    tmp_path: Path, postgres_url: str, proxy: TcpProxy, sink: SmtpSink, **extra: str
) -> dict[str, str]:
    """Seed 2,000 email subscribers; the publish environment reaching PostgreSQL through
    ``proxy``."""
    seed(postgres_url, N, 0)
    via_proxy = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert via_proxy != postgres_url
    return environment(tmp_path, via_proxy, sink, **extra)


def environment(tmp_path: Path, url: str, sink: SmtpSink, **extra: str) -> dict[str, str]:
    """A publish environment on a private copy of the sample content (a run writes its
    caches there: never into the repository's own content/)."""
    content = tmp_path / "content"
    if not content.exists():
        shutil.copytree(SAMPLE_CONTENT, content)
    return publish_env(
        database_url=url,
        outbox=tmp_path / "outbox",
        smtp_port=sink.port,
        extra={"DIGESTBOT_CONTENT_DIR": str(content), **extra},
    )


def test_postgres_cut_mid_fan_out_that_comes_back_costs_no_duplicate(
    tmp_path: Path, postgres_url: str, sink: SmtpSink
) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        env = postgres_env(tmp_path, postgres_url, proxy, sink)
        watcher = Watcher(sink, proxy.cut, proxy.restore)
        watcher.start()
        run = publish(env, tmp_path)
        watcher.join()
    assert watcher.at_cut is not None and watcher.while_away is not None
    assert run.returncode == 0, run.stdout + run.stderr
    assert "email: 2000 sent" in run.stdout
    assert watcher.while_away <= BOUND  # sending paused while the marks could not be written
    assert "ledger: cannot record deliveries, the database did not answer" in run.stderr
    assert "ledger: the database answers again after" in run.stderr
    got = copies(sink)
    assert set(got) == {email_address(i) for i in range(N)}  # none lost
    assert max(got.values()) == 1  # the sent marks were written once it came back


def test_postgres_cut_that_lasts_stops_sending_and_the_next_run_loses_nothing(
    tmp_path: Path, postgres_url: str, sink: SmtpSink
) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        env = postgres_env(
            tmp_path, postgres_url, proxy, sink, DIGESTBOT_DELIVERY__DATABASE_WAIT_SECONDS="2"
        )
        watcher = Watcher(sink, proxy.cut, None, hold=0.0)
        watcher.start()
        first = publish(env, tmp_path)
        watcher.join()
        assert watcher.at_cut is not None
        sent_after_cut = len(sink.messages) - watcher.at_cut
        assert first.returncode == 1
        assert "error: the database stopped answering (" in first.stderr
        assert "was not back within 2 s, so sending stopped" in first.stderr
        assert "Run the same command again once the database answers" in first.stderr
        assert sent_after_cut <= BOUND

        proxy.restore()
        second = publish(env, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    got = copies(sink)
    assert set(got) == {email_address(i) for i in range(N)}  # none lost
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= BOUND
    print(f"sent after the cut: {sent_after_cut}; duplicates after the next run: {duplicates}")


def test_sqlite_locked_mid_fan_out_pauses_sending_and_loses_nothing(
    tmp_path: Path, sink: SmtpSink
) -> None:
    db = tmp_path / "digestbot.db"
    url = f"sqlite:///{db}"
    seed(url, N, 0)
    env = environment(tmp_path, url, sink)
    locker = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)

    def lock() -> None:
        locker.execute("BEGIN IMMEDIATE")  # another process's write lock

    def unlock() -> None:
        locker.execute("COMMIT")

    watcher = Watcher(sink, lock, unlock, hold=3.0)
    watcher.start()
    run = publish(env, tmp_path)
    watcher.join()
    locker.close()
    assert watcher.while_away is not None
    assert run.returncode == 0, run.stdout + run.stderr
    assert watcher.while_away <= BOUND
    got = copies(sink)
    assert set(got) == {email_address(i) for i in range(N)}
    assert max(got.values()) == 1


def test_run_keeps_draining_through_a_database_outage(
    tmp_path: Path,
    postgres_url: str,
    sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from digestbot import run
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    monkeypatch.setattr(run, "DRAIN_INTERVAL", 0.2)
    with TcpProxy("127.0.0.1", 5432) as proxy:
        for key, value in postgres_env(tmp_path, postgres_url, proxy, sink).items():
            if key.startswith("DIGESTBOT_"):
                monkeypatch.setenv(key, value)
        caplog.set_level(logging.WARNING, "digestbot.run")

        async def scenario() -> None:
            async with build_service(load_settings()) as svc:
                planned_only = asyncio.Event()
                planned_only.set()  # plan the week, send nothing yet
                report = await svc.publish("2024-W16", only="email", stop=planned_only)
                assert not report.complete
                proxy.cut()
                stop = asyncio.Event()
                drain = asyncio.create_task(run.drain_forever(svc, stop))
                await asyncio.sleep(1.0)
                assert not drain.done()  # the database is away; the drain loop is not
                assert sink.messages == []
                proxy.restore()
                for _ in range(1500):
                    if len(sink.messages) >= N:
                        break
                    await asyncio.sleep(0.05)
                stop.set()
                await drain

        asyncio.run(scenario())
    assert any(
        r.getMessage().startswith("drain: the database did not answer") for r in caplog.records
    )
    got = copies(sink)
    assert set(got) == {email_address(i) for i in range(N)} and max(got.values()) == 1
