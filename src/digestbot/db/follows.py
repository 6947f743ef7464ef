"""The follows repository: which topics and saved keyword searches each reader follows.

A follow is (channel, address, kind, value): kind ``topic`` holds a topic slug, kind
``keywords`` a saved ``/paper`` search. Rows live in the ``follows`` table, so they survive
restarts and are exported with the subscribers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.tables import follows

__all__ = ["KEYWORDS", "MODE", "ONLY_MY_TOPICS", "TOPIC", "Follow", "Follows"]

TOPIC = "topic"
KEYWORDS = "keywords"
MODE = "mode"
"""Not a follow but a reader's choice, kept with their follows: value ``only-my-topics``."""
ONLY_MY_TOPICS = "only-my-topics"


@dataclass(frozen=True, slots=True)
class Follow:
    """One thing one reader follows."""

    channel: str
    address: str
    kind: str
    value: str
    lang: str = "zh"


class Follows:
    """Follows in the database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _insert(self) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(follows)

    async def add(
        self, channel: str, address: str, kind: str, value: str, lang: str = "zh"
    ) -> bool:
        """Follow; False when it was followed already."""
        stmt = (
            self._insert()
            .values(
                channel=channel,
                address=address,
                kind=kind,
                value=value,
                lang=lang,
                created_at=dt.datetime.now(dt.UTC),
            )
            .on_conflict_do_nothing(index_elements=["channel", "address", "kind", "value"])
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def remove(
        self, channel: str, address: str, kind: str | None = None, value: str | None = None
    ) -> int:
        """Unfollow one thing (or, without ``kind``, everything); how many were removed."""
        stmt = delete(follows).where(follows.c.channel == channel, follows.c.address == address)
        if kind is not None:
            stmt = stmt.where(follows.c.kind == kind)
        if value is not None:
            stmt = stmt.where(follows.c.value == value)
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount or 0)

    async def of(self, channel: str, address: str) -> list[Follow]:
        """What ``address`` follows, oldest first."""
        return await self._select(
            select(follows)
            .where(follows.c.channel == channel, follows.c.address == address)
            .order_by(follows.c.id)
        )

    async def every(self, channel: str | None = None) -> list[Follow]:
        """Every follow (of ``channel``), by reader then age."""
        q = select(follows).order_by(follows.c.channel, follows.c.address, follows.c.id)
        if channel is not None:
            q = q.where(follows.c.channel == channel)
        return await self._select(q)

    async def _select(self, q: Any) -> list[Follow]:
        async with self.engine.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(q)).all()
        return [Follow(r.channel, r.address, r.kind, r.value, r.lang) for r in rows]
