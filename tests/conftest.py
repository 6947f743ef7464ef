"""Shared fixtures: isolated settings, a copy of the sample content, PostgreSQL when reachable."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


def _run_on_own_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion on a fresh loop: the caller may already be inside one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def private_database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database name replaced by ``name`` (query string kept)."""
    head, _, tail = server_url.partition("://")
    authority, _, rest = tail.partition("/")
    _db, sep, query = rest.partition("?")
    return f"{head}://{authority}/{name}{sep}{query}"


@pytest.fixture(scope="session")
def postgres_server_database() -> Iterator[str]:
    """A database of this test run's own, created on the server and dropped at the end.

    The URL in DIGESTBOT_TEST_POSTGRES_URL only names where to connect: nothing in the
    database it names is read, written or dropped, so two suites on one server (or a
    developer's data) never meet.
    """
    if not postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} but CI must run these")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (set DIGESTBOT_TEST_POSTGRES_URL)")
    import asyncpg

    name = f"digestbot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run_on_own_thread(create())
    try:
        yield private_database_url(POSTGRES_URL, name)
    finally:
        _run_on_own_thread(drop())


@pytest.fixture
def postgres_url(postgres_server_database: str) -> str:
    """A clean PostgreSQL database of this run's own (schema public emptied per test)."""
    import asyncpg

    async def reset() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(postgres_server_database))
        try:
            await conn.execute("DROP SCHEMA public CASCADE")
            await conn.execute("CREATE SCHEMA public")
        finally:
            await conn.close()

    _run_on_own_thread(reset())
    return postgres_server_database


def require_corpus(folder: Path) -> Path:
    """``folder`` of the shared corpus, or a skip (a failure under CI, which must run these)."""
    if not folder.is_dir():
        message = f"the corpus is not at {folder} (it lives in ../shared/corpus)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, but CI must run the corpus tests")
        pytest.skip(message)
    return folder


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
