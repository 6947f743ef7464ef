"""The delivery ledger: one row per (issue, destination), planned, then claimed and drained."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from digestbot.db.tables import UNFINISHED, deliveries, issues, personal_picks, subscribers
from digestbot.db.upsert import insert_or_ignore
from digestbot.delivery.issuebook import IssueBook, IssueRecord, issue_record, new_issue
from digestbot.models import Channel, Destination, Issue, Language

log = logging.getLogger("digestbot.delivery")

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away (connection lost or refused, locked, timed
    out) rather than that a statement is wrong: the caller waits and tries again."""
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


# Built once: the drain's hot path runs them thousands of times a second, and a prebuilt
# statement skips SQLAlchemy's construction (its compiled form is cached either way).
_CHECKPOINT_MANY = (
    update(deliveries)
    .where(
        deliveries.c.id.in_(bindparam("ids", expanding=True)),
        deliveries.c.lease_owner == bindparam("owner"),
        deliveries.c.status == SENDING,
        deliveries.c.lease_until >= bindparam("now"),
    )
    .values(lease_until=bindparam("until"), parts_sent=bindparam("parts"))
    .returning(deliveries.c.id)
)
_SENT_MANY = (
    update(deliveries)
    .where(
        deliveries.c.id.in_(bindparam("ids", expanding=True)),
        deliveries.c.lease_owner == bindparam("owner"),
    )
    .values(
        status=SENT,
        parts_sent=bindparam("parts"),
        sent_at=bindparam("now"),
        last_error=None,
        lease_owner=None,
        lease_until=None,
    )
    .returning(deliveries.c.id)
)


PLAN_CHUNK = 2000
"""Ledger rows per INSERT while planning (and what planning holds in memory at once)."""
ANALYZE_AFTER = 1000
"""A plan of at least this many rows refreshes PostgreSQL's statistics of ``deliveries``."""


async def _chunks(
    items: Iterable[tuple[Destination, str]] | AsyncIterable[tuple[Destination, str]], size: int
) -> AsyncIterator[list[tuple[Destination, str]]]:
    """``items`` (sync or async) in lists of at most ``size``."""
    chunk: list[tuple[Destination, str]] = []
    if isinstance(items, AsyncIterable):
        async for item in items:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    else:
        for item in items:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _pending_row(issue_id: int, d: Destination, transport: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "issue_id": issue_id,
        "channel": d.channel.value,
        "address": d.address,
        "transport": transport,
        "lang": d.lang.value,
        "subscriber_id": d.subscriber_id,
        "status": PENDING,
        "parts_sent": 0,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _by_parts(items: Sequence[tuple[int, int]]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for delivery_id, parts in items:
        groups.setdefault(parts, []).append(delivery_id)
    return groups


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed row: who gets which issue, over which transport, and how far it got."""

    id: int
    issue_id: int
    channel: Channel
    address: str
    transport: str
    lang: Language
    subscriber_id: int | None
    parts_sent: int
    attempts: int
    lease_owner: str | None
    lease_until: dt.datetime | None = None
    """When the claim's lease ends (the ledger's clock, UTC)."""
    queued_at: dt.datetime | None = None
    """When the row was planned, or re-queued by ``publish --retry-failed``: its transient
    failures are retried until ``DIGESTBOT_DELIVERY__RETRY_HOURS`` after this."""

    @property
    def destination(self) -> Destination:
        return Destination(self.channel, self.address, self.lang, self.subscriber_id)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        issue_id=row.issue_id,
        channel=Channel(row.channel),
        address=row.address,
        transport=row.transport,
        lang=Language(row.lang),
        subscriber_id=row.subscriber_id,
        parts_sent=row.parts_sent,
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        queued_at=row.created_at,
    )


class Ledger(IssueBook):
    """Plans and drains deliveries (and keeps the issues, :class:`IssueBook`). Safe for
    several processes on PostgreSQL (SKIP LOCKED)."""

    def __init__(self, engine: AsyncEngine, lease_seconds: float = 120.0) -> None:
        self.engine = engine
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.dialect = engine.dialect.name

    async def plan(
        self,
        issue: Issue,
        destinations: Iterable[tuple[Destination, str]] | AsyncIterable[tuple[Destination, str]],
        channels: frozenset[str],
        *,
        source: str = "digestbot",
        picks: Mapping[tuple[str, str], tuple[str, ...]] | None = None,
    ) -> IssueRecord:
        """Create the issue row (if new) and one pending row per destination, in one transaction.

        Unique keys make this idempotent: planning twice adds nothing. ``destinations`` is
        consumed as a stream, :data:`PLAN_CHUNK` rows per INSERT, so an iterator of a
        million subscribers costs the memory of one chunk. After a large plan, PostgreSQL
        gets fresh statistics for ``deliveries`` (see :meth:`_analyze`). ``picks``: for each
        personal destination (channel, address), the papers it carries, stored in the same
        transaction. It is read after ``destinations`` is consumed, so a stream may fill it
        as it goes (:class:`digestbot.audience.Audience` does).
        """
        now = utcnow()
        planned = 0
        async with self.engine.begin() as conn:
            await conn.execute(new_issue(self.engine, issue, "sending", source, now))
            row = (await conn.execute(select(issues).where(issues.c.week == issue.week))).one()
            insert = insert_or_ignore(
                self.engine, deliveries, key=["issue_id", "channel", "address"]
            )
            async for chunk in _chunks(destinations, PLAN_CHUNK):
                await conn.execute(insert, [_pending_row(row.id, d, t, now) for d, t in chunk])
                planned += len(chunk)
            if picks:
                await conn.execute(
                    insert_or_ignore(
                        self.engine, personal_picks, key=["issue_id", "channel", "address"]
                    ),
                    [
                        {
                            "issue_id": row.id,
                            "channel": channel,
                            "address": address,
                            "paper_ids": ",".join(ids),
                        }
                        for (channel, address), ids in picks.items()
                    ],
                )
            merged = sorted(set(issue_record(row).channels) | set(channels))
            await conn.execute(
                update(issues)
                .where(issues.c.id == row.id)
                .values(channels=",".join(merged), status="sending")
            )
            row = (await conn.execute(select(issues).where(issues.c.id == row.id))).one()
        if planned >= ANALYZE_AFTER:
            await self._analyze()
        return issue_record(row)

    async def plan_welcome(self, issue_id: int, destination: Destination, transport: str) -> bool:
        """One pending row of an issue already planned or published, for one new subscriber
        (their welcome copy). The issue keeps its status; the unique key makes this
        idempotent, so a destination never gets the issue twice. True if the row is new."""
        now = utcnow()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert_or_ignore(
                    self.engine, deliveries, key=["issue_id", "channel", "address"]
                ).values(
                    issue_id=issue_id,
                    channel=destination.channel.value,
                    address=destination.address,
                    transport=transport,
                    lang=destination.lang.value,
                    subscriber_id=destination.subscriber_id,
                    status=PENDING,
                    parts_sent=0,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        return bool(result.rowcount)

    async def personal_picks(self, issue_id: int) -> dict[tuple[str, str], tuple[str, ...]]:
        """(channel, address) → the papers its personal copy of this issue carries."""
        q = select(
            personal_picks.c.channel, personal_picks.c.address, personal_picks.c.paper_ids
        ).where(personal_picks.c.issue_id == issue_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return {(r.channel, r.address): tuple(r.paper_ids.split(",")) for r in rows}

    async def _analyze(self) -> None:
        """Refresh the planner's statistics of ``deliveries`` (PostgreSQL).

        Right after a bulk insert the table has none (autovacuum comes later), and the
        planner's guesses for the claim were off by orders of magnitude. SQLite's planner
        picks the claim's index from the schema alone, so it needs nothing here.
        """
        if self.dialect != "postgresql":
            return
        async with self.engine.connect() as conn:
            await conn.execute(text("ANALYZE deliveries"))
            await conn.commit()

    async def finish_if_done(self, issue_id: int) -> bool:
        """Mark the issue published once no row is pending or sending."""
        async with self.engine.begin() as conn:
            left = (
                await conn.execute(
                    select(func.count())
                    .select_from(deliveries)
                    .where(
                        deliveries.c.issue_id == issue_id,
                        deliveries.c.status.in_([PENDING, SENDING]),
                    )
                )
            ).scalar_one()
            if left:
                return False
            await conn.execute(
                update(issues)
                .where(issues.c.id == issue_id, issues.c.status != "published")
                .values(status="published", published_at=utcnow())
            )
        return True

    # -- draining -------------------------------------------------------------------------

    async def claim(
        self, issue_id: int, owner: str, batch: int, *, transports: Sequence[str] | None = None
    ) -> list[Delivery]:
        """Lease up to ``batch`` due rows: pending ones, and sending ones whose lease expired.

        Oldest due first. A claim costs one batch, whatever the list's size
        (see :meth:`claim_statement`).
        """
        stmt = self.claim_statement(issue_id, owner, batch, utcnow(), transports=transports)
        async with self.engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
        return sorted((_delivery(r) for r in rows), key=lambda d: d.id)

    def claim_statement(
        self,
        issue_id: int,
        owner: str,
        batch: int,
        now: dt.datetime,
        *,
        transports: Sequence[str] | None = None,
    ) -> Any:
        """The claim's UPDATE … RETURNING, for :meth:`claim` (and EXPLAIN in tests).

        The rows are taken in the order they fell due (then by id), which only
        ``ix_deliveries_unfinished`` (pending and sending rows) gives, so the scan reads
        about one batch of entries; only the picked ids are updated.
        """
        due = and_(
            deliveries.c.issue_id == issue_id,
            # the partial index's own condition, word for word: both planners need to see it
            UNFINISHED,
            deliveries.c.next_attempt_at <= now,
            or_(
                deliveries.c.status == PENDING,
                and_(deliveries.c.status == SENDING, deliveries.c.lease_until < now),
            ),
        )
        if transports is not None:
            due = and_(due, deliveries.c.transport.in_(list(transports)))
        ids_q = (
            select(deliveries.c.id)
            .where(due)
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(batch)
        )
        if self.dialect == "postgresql":
            ids_q = ids_q.with_for_update(skip_locked=True)
        # A materialized CTE runs the locking SELECT exactly once; a plain IN (subquery)
        # may be re-evaluated by PostgreSQL's planner and lock more rows than asked. The
        # UPDATE does not repeat the ``due`` condition: the rows are locked (PostgreSQL
        # re-checks a locked row's condition on its newest version) or, on SQLite, the
        # statement is one write, so they are due. Repeating it made PostgreSQL join the
        # whole table against the picked ids (780 ms a claim at 50,000 rows).
        picked = ids_q.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
        return (
            update(deliveries)
            .where(deliveries.c.id.in_(select(picked.c.id)))
            .values(
                status=SENDING,
                lease_owner=owner,
                lease_until=now + self.lease,
                attempts=deliveries.c.attempts + 1,
            )
            .returning(*deliveries.c)
        )

    async def checkpoint(self, delivery_id: int, owner: str, parts_sent: int) -> bool:
        """Re-check the lease right before a send, extend it, and record progress.

        False means another worker took the row over: the caller must not send.
        """
        now = utcnow()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.lease_owner == owner,
                    deliveries.c.status == SENDING,
                    deliveries.c.lease_until >= now,
                )
                .values(lease_until=now + self.lease, parts_sent=parts_sent)
            )
        return result.rowcount == 1

    async def write_batch(
        self,
        owner: str,
        checkpoints: Sequence[tuple[int, int]] = (),
        sent: Sequence[tuple[int, int]] = (),
        *,
        conn: AsyncConnection | None = None,
    ) -> tuple[set[int], set[int]]:
        """:meth:`checkpoint` and :meth:`mark_sent` for many (id, parts) in one transaction.

        Returns the ids whose checkpoint held and the ids recorded as sent. The checks are
        the single-row methods' own: a checkpoint needs ``owner``'s unexpired lease, a sent
        mark needs ``owner``'s lease. ``conn``: a connection the caller keeps for many
        batches (no pool checkout per batch); by default one from the pool.
        """
        if conn is None:
            async with self.engine.connect() as own:
                return await self.write_batch(owner, checkpoints, sent, conn=own)
        now = utcnow()
        ok_checkpoints: set[int] = set()
        ok_sent: set[int] = set()
        async with conn.begin():
            for parts, ids in _by_parts(sent).items():
                result = await conn.execute(
                    _SENT_MANY, {"ids": ids, "owner": owner, "parts": parts, "now": now}
                )
                ok_sent.update(result.scalars())
            for parts, ids in _by_parts(checkpoints).items():
                result = await conn.execute(
                    _CHECKPOINT_MANY,
                    {
                        "ids": ids,
                        "owner": owner,
                        "parts": parts,
                        "now": now,
                        "until": now + self.lease,
                    },
                )
                ok_checkpoints.update(result.scalars())
        return ok_checkpoints, ok_sent

    def writer(self) -> LedgerWriter:
        """A :class:`LedgerWriter` for one drain's group commits."""
        return LedgerWriter(self)

    async def _finish(
        self, conn: AsyncConnection, delivery_id: int, owner: str, **values: Any
    ) -> bool:
        result = await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, **values)
        )
        return result.rowcount == 1

    async def mark_sent(self, delivery_id: int, owner: str, parts_sent: int) -> bool:
        async with self.engine.begin() as conn:
            return await self._finish(
                conn,
                delivery_id,
                owner,
                status=SENT,
                parts_sent=parts_sent,
                sent_at=utcnow(),
                last_error=None,
            )

    async def mark_many_sent(self, items: Sequence[tuple[int, int]], owner: str) -> None:
        """Record a batch of finished sends in one transaction (fan-out speed)."""
        if not items:
            return
        now = utcnow()
        async with self.engine.begin() as conn:
            for delivery_id, parts in items:
                await self._finish(
                    conn,
                    delivery_id,
                    owner,
                    status=SENT,
                    parts_sent=parts,
                    sent_at=now,
                    last_error=None,
                )

    async def retry_later(
        self, delivery_id: int, owner: str, error: str, delay: float, parts_sent: int | None = None
    ) -> bool:
        values: dict[str, Any] = {
            "status": PENDING,
            "last_error": error[:2000],
            "next_attempt_at": utcnow() + dt.timedelta(seconds=delay),
        }
        if parts_sent is not None:
            values["parts_sent"] = parts_sent
        async with self.engine.begin() as conn:
            return await self._finish(conn, delivery_id, owner, **values)

    async def mark_failed(self, delivery_id: int, owner: str, error: str) -> bool:
        async with self.engine.begin() as conn:
            return await self._finish(
                conn, delivery_id, owner, status=FAILED, last_error=error[:2000]
            )

    async def mark_skipped(self, delivery_id: int, owner: str, reason: str) -> bool:
        async with self.engine.begin() as conn:
            return await self._finish(
                conn, delivery_id, owner, status=SKIPPED, last_error=reason[:2000]
            )

    async def release(self, delivery_id: int, owner: str, parts_sent: int) -> None:
        """Give a row back untouched (clean shutdown): the next drain resumes it."""
        async with self.engine.begin() as conn:
            await self._finish(conn, delivery_id, owner, status=PENDING, parts_sent=parts_sent)

    async def release_dead_owners(self, host: str, alive: Callable[[int], bool]) -> int:
        """Give back rows leased by processes of this host that no longer run (kill -9).

        Owners are ``host:pid:nonce``; a row whose owner ran here and whose pid is gone
        can be resumed at once instead of waiting for its lease to expire.
        """
        async with self.engine.connect() as conn:
            owners = (
                await conn.execute(
                    select(deliveries.c.lease_owner)
                    .where(
                        deliveries.c.status == SENDING,
                        deliveries.c.lease_owner.like(f"{host}:%"),
                    )
                    .distinct()
                )
            ).scalars()
            dead = [
                o
                for o in owners
                if o and o.split(":")[1].isdigit() and not alive(int(o.split(":")[1]))
            ]
        if not dead:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.status == SENDING, deliveries.c.lease_owner.in_(dead))
                .values(status=PENDING, lease_owner=None, lease_until=None)
            )
        return int(result.rowcount)

    async def next_due(self, issue_id: int) -> dt.datetime | None:
        """When the earliest not-yet-finished row becomes due again, if any."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        func.min(deliveries.c.next_attempt_at), func.min(deliveries.c.lease_until)
                    ).where(
                        deliveries.c.issue_id == issue_id,
                        deliveries.c.status.in_([PENDING, SENDING]),
                    )
                )
            ).one()
        candidates = [
            t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t for t in row if t is not None
        ]
        return min(candidates) if candidates else None

    async def counts(self, issue_id: int | None = None) -> dict[tuple[str, str], int]:
        """Rows by (channel, status), for one issue or all."""
        q = select(deliveries.c.channel, deliveries.c.status, func.count()).group_by(
            deliveries.c.channel, deliveries.c.status
        )
        if issue_id is not None:
            q = q.where(deliveries.c.issue_id == issue_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def failures(
        self, issue_id: int, limit: int = 20, *, status: str = FAILED
    ) -> list[tuple[str, str, str]]:
        """(channel, address, last error) of the issue's rows in ``status`` (failed rows,
        or pending ones that carry the error of their last try)."""
        q = (
            select(deliveries.c.channel, deliveries.c.address, deliveries.c.last_error)
            .where(
                deliveries.c.issue_id == issue_id,
                deliveries.c.status == status,
                deliveries.c.last_error.is_not(None),
            )
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [(r[0], r[1], r[2] or "") for r in rows]

    async def requeue_failed(self, issue_id: int) -> tuple[int, int]:
        """Queue the issue's failed rows again, with a fresh retry window (``publish
        --retry-failed``). Rows of subscribers no longer active (blocked the bot,
        unsubscribed, bounced off) are skipped instead. Returns (re-queued, skipped)."""
        now = utcnow()
        inactive = exists().where(
            subscribers.c.id == deliveries.c.subscriber_id, subscribers.c.status != "active"
        )
        failed = and_(deliveries.c.issue_id == issue_id, deliveries.c.status == FAILED)
        async with self.engine.begin() as conn:
            skipped = await conn.execute(
                update(deliveries)
                .where(failed, deliveries.c.subscriber_id.is_not(None), inactive)
                .values(status=SKIPPED, last_error="the subscriber is no longer active")
            )
            queued = await conn.execute(
                update(deliveries)
                .where(failed)
                .values(
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return int(queued.rowcount), int(skipped.rowcount)

    async def recent_failures(self, limit: int = 5) -> tuple[int, list[tuple[str, str, str, str]]]:
        """Failed rows of every issue: how many, and the newest ``limit`` as (week,
        channel, address, reason), for ``/status``."""
        q = (
            select(
                issues.c.week, deliveries.c.channel, deliveries.c.address, deliveries.c.last_error
            )
            .join(issues, issues.c.id == deliveries.c.issue_id)
            .where(deliveries.c.status == FAILED)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        total_q = select(func.count()).select_from(deliveries).where(deliveries.c.status == FAILED)
        async with self.engine.connect() as conn:
            total = int((await conn.execute(total_q)).scalar_one())
            rows = (await conn.execute(q)).all() if total else []
        return total, [(r[0], r[1], r[2], r[3] or "") for r in rows]

    async def backlog(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(deliveries)
                        .where(deliveries.c.status.in_([PENDING, SENDING]))
                    )
                ).scalar_one()
            )


class LedgerWriter:
    """:meth:`Ledger.write_batch` over one connection kept across a drain's batches (no pool
    checkout per batch); a batch that fails drops the connection, the next opens a new one."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._conn: AsyncConnection | None = None

    async def write(
        self, owner: str, checkpoints: Sequence[tuple[int, int]], sent: Sequence[tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        try:
            if self._conn is None:
                self._conn = await self.ledger.engine.connect()
            return await self.ledger.write_batch(owner, checkpoints, sent, conn=self._conn)
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection is being dropped
                log.info("ledger connection closed with an error: %s", exc)
