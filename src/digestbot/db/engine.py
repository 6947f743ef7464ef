"""The async engine: URL translation, SQLite pragmas, running migrations, a health ping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from digestbot.errors import DigestbotError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnreachable(DigestbotError):
    """The database cannot be reached or opened at start."""


class MigrationError(DigestbotError):
    """The database could not be brought to the current schema."""


HEAD = "0004"
"""The newest migration's revision (a test holds it equal to Alembic's head). A database
already there needs no Alembic at all: importing it costs a long-running process ~11 MB."""


def async_url(url: str) -> str:
    """``sqlite:///x.db`` → aiosqlite, ``postgresql://`` → asyncpg; explicit drivers kept."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> AsyncEngine:
    full = async_url(url)
    if is_sqlite(full):
        path = full.split(":///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnreachable(
                    f"cannot make the folder of the database {path} ({exc.strerror}): "
                    "fix DIGESTBOT_DATABASE_URL or that folder's permissions"
                ) from None
        engine = create_async_engine(full, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(full, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # One process migrates at a time; the others wait, then find nothing to do.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
    if current_revision(connection) == HEAD:
        return
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


@contextlib.asynccontextmanager
async def _reaching(engine: AsyncEngine) -> AsyncIterator[None]:
    """Turn a failed connection into one line that names the URL without its password."""
    try:
        yield
    except (OperationalError, InterfaceError, OSError, TimeoutError) as exc:
        # the URL as the user wrote it: no driver name, the password hidden
        where = engine.url.set(drivername=engine.url.get_backend_name()).render_as_string(
            hide_password=True
        )
        password = engine.url.password
        why = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
        if password:
            why = why.replace(str(password), "***")
        raise DatabaseUnreachable(
            f"cannot reach the database at {where} ({type(exc).__name__}: {why}): "
            "start it, or fix DIGESTBOT_DATABASE_URL"
        ) from None


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every pending migration (``digestbot db upgrade``; also run at start)."""
    async with _reaching(engine), engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def at_head(engine: AsyncEngine) -> bool:
    """Whether the database needs no migration."""
    async with _reaching(engine), engine.connect() as conn:
        return await conn.run_sync(current_revision) == HEAD


def upgrade_in_child(database_url: str) -> None:
    """``digestbot db upgrade`` in a child process, for a long-running one that should not
    keep Alembic's modules (~11 MB) for the rest of its life."""
    env = {**os.environ, "DIGESTBOT_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "digestbot", "db", "upgrade"]
    if subprocess.run(command, env=env, check=False).returncode != 0:
        raise MigrationError(
            "migrating the database failed (its error is above); "
            "run `digestbot db upgrade` to see it again"
        )


async def answers(engine: AsyncEngine) -> bool:
    """A cheap database round trip (``/healthz``); False (and a warning) if it fails."""
    try:
        async with asyncio.timeout(5.0), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("health check: the database did not answer (%s)", type(exc).__name__)
        return False
    return True
