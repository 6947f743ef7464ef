"""Insert-or-ignore and insert-or-update for PostgreSQL and SQLite: the one place that knows
which dialect's ``INSERT ... ON CONFLICT`` to build."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine


def _insert(engine: AsyncEngine, table: Table) -> Any:
    # each dialect imported when its engine first writes: a SQLite process never loads
    # PostgreSQL's (1.7 MiB resident)
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def insert_or_ignore(engine: AsyncEngine, table: Table, *, key: Sequence[str]) -> Any:
    """``INSERT`` that skips rows whose ``key`` columns already exist (rowcount tells which).

    Add ``.values(...)`` or execute it with a list of rows.
    """
    return _insert(engine, table).on_conflict_do_nothing(index_elements=list(key))


def upsert(
    engine: AsyncEngine,
    table: Table,
    *,
    key: Sequence[str],
    set_: Mapping[str, Any] | None = None,
    from_new: Sequence[str] = (),
) -> Any:
    """``INSERT`` that updates the existing row when ``key`` collides.

    ``set_``: fixed values for the existing row; ``from_new``: columns that take the value
    the insert carried (``excluded``), for statements executed with many rows.
    """
    stmt = _insert(engine, table)
    values: dict[str, Any] = dict(set_ or {})
    values.update({c: stmt.excluded[c] for c in from_new})
    return stmt.on_conflict_do_update(index_elements=list(key), set_=values)
