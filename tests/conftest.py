"""Shared fixtures: isolated settings, a copy of the sample content, PostgreSQL when reachable."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CONTENT = REPO / "content"
CORPUS = REPO.parent / "shared" / "corpus" / "ai-weekly-paper"
POSTGRES_URL = os.environ.get(
    "DIGESTBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def postgres_reachable() -> bool:
    host_port = POSTGRES_URL.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's DIGESTBOT_* variables or .env file."""
    for key in list(os.environ):
        if key.startswith("DIGESTBOT_") and key != "DIGESTBOT_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A private copy of the repo's sample content store."""
    dest = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, dest)
    return dest


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content_dir: Path) -> Path:
    """Settings for a run on the embedded default inside tmp_path."""
    monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'digestbot.db'}")
    monkeypatch.setenv("DIGESTBOT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("DIGESTBOT_SECRET_KEY", "test-secret-key")
    return tmp_path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A clean PostgreSQL database, or a skip that says why."""
    if not postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} but CI must run these")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (set DIGESTBOT_TEST_POSTGRES_URL)")
    import asyncio

    from sqlalchemy import text

    from digestbot.db.engine import make_engine

    async def reset() -> None:
        engine = make_engine(POSTGRES_URL)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    # run on a thread of its own: the caller may already be inside an event loop
    worker = threading.Thread(target=asyncio.run, args=(reset(),))
    worker.start()
    worker.join()
    yield POSTGRES_URL


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Requests over Telegram's strict limits that tests measured instead of asserting."""
    from fake_telegram.limits import MEASURED_OVER_LIMIT

    if MEASURED_OVER_LIMIT:
        terminalreporter.section("requests over Telegram's strict limits (measured)")
        for test, over in MEASURED_OVER_LIMIT:
            terminalreporter.write_line(f"{over:6d}  {test}")
