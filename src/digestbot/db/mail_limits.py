"""The confirmation-mail limits: per address and in all, held in the database for every process.

One address gets at most one confirmation mail per 10 minutes and 3 per day; all addresses
together at most ``per_hour`` an hour. Each mail sent is a row in ``confirmation_mails``
(the address as a SHA-256 key, and the time), so the counts hold across processes and
restarts. Deciding and recording happen in one transaction that holds the table's write
lock (an advisory lock on PostgreSQL, the insert itself on SQLite), so two processes
asked for one address at once send one mail between them.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Callable

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from digestbot.db.tables import confirmation_mails

PER_ADDRESS_GAP = dt.timedelta(minutes=10)
PER_ADDRESS_DAY = 3
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
_LOCK_KEY = 727275  # pg_advisory_xact_lock key of the limits (the migration lock is 727274)


class Verdict(enum.Enum):
    """Whether a confirmation mail may go out now, and if not, which limit stops it."""

    SEND = "send"
    TOO_SOON = "too_soon"  # this address had one within 10 minutes
    DAILY_LIMIT = "daily_limit"  # this address had 3 within a day
    HOURLY_CAP = "hourly_cap"  # every address together reached the hourly cap


def address_key(address: str) -> str:
    """The key an address is counted under (its normalized form's SHA-256)."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ConfirmationMailLimits:
    """Decide, and record, whether a confirmation mail to an address may be sent."""

    def __init__(
        self,
        engine: AsyncEngine,
        per_hour: int,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.per_hour = per_hour
        self.clock = clock

    async def admit(self, address: str) -> Verdict:
        """Record one mail to ``address`` and return SEND, or record nothing and say why not."""
        key = address_key(address)
        now = self.clock()
        async with self.engine.connect() as conn, conn.begin() as tx:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
            # insert first: on SQLite that takes the write lock before anything is read
            result = await conn.execute(
                insert(confirmation_mails).values(address_key=key, sent_at=now)
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            mine = inserted[0]
            verdict = await self._verdict(conn, key, now, mine)
            if verdict is not Verdict.SEND:
                await tx.rollback()
                return verdict
            await conn.execute(
                delete(confirmation_mails).where(confirmation_mails.c.sent_at < now - DAY)
            )
        return Verdict.SEND

    async def _verdict(
        self, conn: AsyncConnection, key: str, now: dt.datetime, mine: object
    ) -> Verdict:
        others = confirmation_mails.c.id != mine
        same = confirmation_mails.c.address_key == key
        recent = await self._count(conn, others, same, confirmation_mails.c.sent_at > now - DAY)
        if recent >= PER_ADDRESS_DAY:
            return Verdict.DAILY_LIMIT
        close = await self._count(
            conn, others, same, confirmation_mails.c.sent_at > now - PER_ADDRESS_GAP
        )
        if close:
            return Verdict.TOO_SOON
        hour = await self._count(conn, others, confirmation_mails.c.sent_at > now - HOUR)
        if hour >= self.per_hour:
            return Verdict.HOURLY_CAP
        return Verdict.SEND

    @staticmethod
    async def _count(conn: AsyncConnection, *where: object) -> int:
        row = await conn.execute(
            select(func.count()).select_from(confirmation_mails).where(*where)  # type: ignore[arg-type]
        )
        return int(row.scalar_one())
