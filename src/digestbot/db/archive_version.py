"""The published archive's version: changes with every publish, cheap to ask per request.

On SQLite, ``PRAGMA data_version`` on a connection of our own says in microseconds whether
anyone committed anything since we last looked; only then is the archive queried again.
Elsewhere (PostgreSQL) the archive is queried at most once per ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.tables import issues

Version = tuple[object, ...]


async def archive_version(engine: AsyncEngine) -> Version:
    """How many issues there are in each status, and the latest change of each: a page
    built from the archive (the home page, an issue, a paper's issue link) is current
    while this stays the same."""
    query = (
        select(
            issues.c.status,
            func.count(),
            func.max(issues.c.id),
            func.max(issues.c.published_at),
        )
        .group_by(issues.c.status)
        .order_by(issues.c.status)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return tuple(tuple(row) for row in rows)


class ArchiveWatch:
    """The archive's version, asked again only when the database may have changed."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.clock = clock
        self._version: Version | None = None
        self._stale = True
        self._lock = asyncio.Lock()
        self._asked = float("-inf")
        self._data_version: int | None = None
        self._probe: sqlite3.Connection | None = None
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        self._path = Path(path) if path and path != ":memory:" else None

    async def current(self) -> Version:
        if self._changed():
            self._stale = True
        if self._stale or self._version is None:
            async with self._lock:  # many requests at once: one query
                if self._stale or self._version is None:
                    self._stale = False
                    self._asked = self.clock()
                    try:
                        self._version = await archive_version(self.engine)
                    except BaseException:
                        self._stale = True
                        raise
        assert self._version is not None
        return self._version

    def _changed(self) -> bool:
        if self._path is None:
            return self.clock() - self._asked >= self.ttl
        try:
            if self._probe is None:
                uri = f"file:{self._path}?mode=ro"
                self._probe = sqlite3.connect(uri, uri=True, check_same_thread=False)
            row = self._probe.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self.close()
            return True
        seen = int(row[0])
        changed = seen != self._data_version
        self._data_version = seen
        return changed

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
