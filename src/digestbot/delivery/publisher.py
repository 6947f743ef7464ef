"""The publisher: drain an issue's ledger rows through the senders, with retries and a report."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from digestbot.delivery.groupcommit import BatchWriter, GroupCommit
from digestbot.delivery.ledger import Delivery, unavailable, utcnow
from digestbot.delivery.senders import Content, Job, LeaseLost, Sender
from digestbot.errors import LedgerUnavailable, PermanentDeliveryError, TransientDeliveryError
from digestbot.metrics import record_give_up

log = logging.getLogger("digestbot.delivery")

IDLE_POLL = 1.0
"""Seconds between looks at the ledger while another worker holds the rows left."""
RETRY_CAP = 1800.0
"""The longest wait between two tries of one copy (30 minutes)."""
RETRY_WINDOW = dt.timedelta(hours=48)
"""How long transient failures are retried by default (``DIGESTBOT_DELIVERY__RETRY_HOURS``)."""
DATABASE_WAIT = 600.0
"""How long a drain waits for a database that stopped answering before it gives up."""

Clock = Callable[[], dt.datetime]

Progress = Callable[[int], None]
MigrationHook = Callable[[Delivery, str], Awaitable[None]]
DeactivateHook = Callable[[Delivery, str], Awaitable[None]]
BounceHook = Callable[[Delivery, str], Awaitable[None]]


class DeliveryLedger(Protocol):
    """What the publisher needs of the ledger (``delivery.ledger.Ledger`` in the product)."""

    @property
    def lease(self) -> dt.timedelta:
        """How long a claim holds a row."""
        ...

    async def release_dead_owners(self, host: str, alive: Callable[[int], bool]) -> int: ...

    async def claim(
        self, issue_id: int, owner: str, batch: int, *, transports: Sequence[str]
    ) -> list[Delivery]:
        """Lease up to ``batch`` due rows of the issue to ``owner``."""
        ...

    async def next_due(self, issue_id: int) -> dt.datetime | None:
        """When the issue's next pending row is due; None when none is left."""
        ...

    async def retry_later(
        self, delivery_id: int, owner: str, error: str, delay: float, *, parts_sent: int
    ) -> bool: ...

    async def mark_failed(self, delivery_id: int, owner: str, error: str) -> bool: ...

    async def release(self, delivery_id: int, owner: str, parts_sent: int) -> None: ...

    def writer(self) -> BatchWriter: ...


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid runs on this host (signal 0 probes it)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(slots=True)
class DrainStats:
    """What one drain did, per channel: sent, retried, failed, skipped."""

    sent: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    lost_lease: int = 0
    interrupted: bool = False
    gave_up: list[tuple[str, str, str]] = field(default_factory=list)
    """(channel, address, reason) of every row this drain ended as failed."""


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: Telegram's retry_after when given, else 5·2ⁿ s with
    ±20 % jitter, capped at :data:`RETRY_CAP`."""
    if retry_after is not None:
        return max(retry_after, 0.0)
    step = 5.0 * float(2 ** min(max(attempts - 1, 0), 20))
    return min(step * random.uniform(0.8, 1.2), RETRY_CAP)


def _window(span: dt.timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h" if hours >= 1 else f"{span.total_seconds():g} s"


class Publisher:
    """Drains the ledger for one issue. Several Publishers (processes) may drain at once."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        senders: Mapping[str, Sender],
        *,
        owner: str | None = None,
        window: int = 256,
        max_wait: float = 120.0,
        retry_window: dt.timedelta = RETRY_WINDOW,
        clock: Clock = utcnow,
        on_migrated: MigrationHook | None = None,
        on_deactivate: DeactivateHook | None = None,
        on_bounce: BounceHook | None = None,
        unrecorded: int = 32,
        database_wait: float = DATABASE_WAIT,
        gather: float = 0.1,
    ) -> None:
        """``unrecorded``: per transport, how many rows may wait for their sent mark after
        the server took them (they don't hold a send slot; group commits write them).
        ``retry_window``: how long after a row was queued its transient failures are still
        retried; ``clock`` judges that (tests make time virtual with it).
        ``database_wait``: how long sending stays paused for a database that stopped
        answering before the drain ends with :class:`LedgerUnavailable`.
        ``gather``: how long the first waiting sent mark waits for others to share its
        transaction (at most; ``unrecorded * 3 // 4`` marks start one at once)."""
        self.ledger = ledger
        self.senders = dict(senders)
        self.owner = owner or worker_id()
        self.window = window
        self.max_wait = max_wait
        self.retry_window = retry_window
        self.clock = clock
        self.on_migrated = on_migrated
        self.on_deactivate = on_deactivate
        self.on_bounce = on_bounce
        self.database_wait = database_wait
        self.unrecorded = unrecorded
        self.gather = gather
        self._sems = {name: asyncio.Semaphore(s.concurrency) for name, s in self.senders.items()}
        self._unrecorded = {name: asyncio.Semaphore(unrecorded) for name in self.senders}

    async def drain(
        self,
        issue_id: int,
        content: Content,
        *,
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> DrainStats:
        """Send every due row of the issue; wait for retries due within ``max_wait``."""
        stats = DrainStats()
        released = await self.ledger.release_dead_owners(socket.gethostname(), pid_alive)
        if released:
            log.info("resuming %d deliveries left by a process that died", released)
        inflight: set[asyncio.Task[None]] = set()
        transports = list(self.senders)
        writer = GroupCommit(
            self.ledger.writer(),
            self.owner,
            patience=self.database_wait,
            unrecorded=self.unrecorded,
            gather=self.gather,
            flush_at=self.unrecorded * 3 // 4,
        )
        finished = asyncio.Event()

        busy: set[int] = set()  # the ids of the rows in flight

        errors: list[BaseException] = []  # a send task's unexpected error ends the drain

        def done(row_id: int, task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            busy.discard(row_id)
            finished.set()
            if not task.cancelled():
                exc = task.exception()
                if exc is not None and not isinstance(exc, LedgerUnavailable):
                    errors.append(exc)

        try:
            while True:
                if stop is not None and stop.is_set():
                    stats.interrupted = True
                    break
                if writer.broken is not None:
                    raise writer.broken
                if errors:
                    raise errors[0]
                finished.clear()
                room = self.window - len(inflight)
                rows: list[Delivery] = []
                if room >= self.window // 2:
                    try:
                        rows = await self.ledger.claim(
                            issue_id, self.owner, room, transports=transports
                        )
                    except Exception as exc:
                        if not unavailable(exc):
                            raise
                        # the gate closes: no send starts until the database answers
                        await _sleep_or_stop(writer.down(exc), stop)
                        continue
                    writer.up()
                for row in rows:
                    if row.id in busy:
                        # its lease ran out while its send was still going on; the task
                        # that holds it goes on (the claim has just extended the lease)
                        continue
                    task = asyncio.create_task(
                        self._deliver(row, content, stats, progress, writer, stop)
                    )
                    inflight.add(task)
                    busy.add(row.id)
                    task.add_done_callback(functools.partial(done, row.id))
                if inflight:
                    # one wake-up per finished row (asyncio.wait would hook every task in
                    # the window on each pass: O(window) per row sent)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            await finished.wait()
                    continue
                if rows:
                    continue
                try:
                    due = await self.ledger.next_due(issue_id)
                except Exception as exc:
                    if not unavailable(exc):
                        raise
                    await _sleep_or_stop(writer.down(exc), stop)
                    continue
                if due is None:
                    break
                wait = (due - self.clock()).total_seconds()
                if wait > self.max_wait:
                    break
                # rows leased by another live worker: look again soon rather than at the
                # end of their lease (up to a lease away), so this publish returns when
                # that worker has finished them
                await _sleep_or_stop(min(max(wait, 0.05), IDLE_POLL), stop)
        finally:
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
            await writer.close()
        if writer.broken is not None:
            raise writer.broken
        if errors:
            raise errors[0]
        return stats

    async def _deliver(
        self,
        row: Delivery,
        content: Content,
        stats: DrainStats,
        progress: Progress | None,
        writer: GroupCommit,
        stop: asyncio.Event | None = None,
    ) -> None:
        sender = self.senders[row.transport]
        channel = row.channel.value

        # The lease is re-checked before every send. While more than half of it is left
        # and there is no new part to record, the check needs no database round trip: a
        # live worker's row can't be claimed by another before its lease ends (the claim
        # SQL takes only rows whose lease_until has passed). Otherwise the checkpoint goes
        # to the ledger, which re-checks, records the parts and extends the lease.
        recorded = row.parts_sent
        lease_until = row.lease_until
        margin = self.ledger.lease / 2

        async def checkpoint(n: int) -> bool:
            nonlocal recorded, lease_until
            await writer.gate()  # nothing is sent while sends cannot be recorded
            now = utcnow()
            if n <= recorded and lease_until is not None and now + margin < lease_until:
                return True
            ok = await writer.checkpoint(row.id, n)
            if ok:  # the ledger set lease_until = (its now, later than ours) + lease
                recorded, lease_until = max(recorded, n), now + self.ledger.lease
            return ok

        async def migrated(new_address: str) -> None:
            if self.on_migrated is not None:
                await self.on_migrated(row, new_address)

        job = Job(row, checkpoint, migrated, row.parts_sent, on_sent=checkpoint)
        async with self._sems[row.transport]:
            if stop is not None and stop.is_set():
                # stopping: a claimed row that has not started goes back to the ledger
                # now, for the next run, instead of being sent on the way out
                await self.ledger.release(row.id, self.owner, row.parts_sent)
                return
            try:
                parts = await sender.deliver(job, content)
            except LeaseLost:
                stats.lost_lease += 1
                return
            except LedgerUnavailable:
                return  # not sent; the row keeps its lease and is resumed later
            except TransientDeliveryError as exc:
                await self._retry_or_give_up(row, job.parts_sent, exc, stats, writer)
                return
            except PermanentDeliveryError as exc:
                if await self._give_up(row, str(exc), "permanent", stats, writer):
                    if exc.deactivate and self.on_deactivate is not None:
                        await self.on_deactivate(row, str(exc))
                    elif exc.bounce and self.on_bounce is not None:
                        await self.on_bounce(row, str(exc))
                return
            except asyncio.CancelledError:
                try:
                    await asyncio.shield(self.ledger.release(row.id, self.owner, job.parts_sent))
                except Exception as exc:  # noqa: BLE001 - its lease expires and it resumes
                    log.warning("could not give back delivery %s on shutdown: %s", row.id, exc)
                raise
            # The send slot goes back as soon as the server took the message, so the next
            # send need not wait for this one's commit; at most ``unrecorded`` rows per
            # transport wait for their sent mark (a kill may repeat them: they are in flight).
            await self._unrecorded[row.transport].acquire()
        try:
            marked = await writer.sent(row.id, parts)
        except LedgerUnavailable:
            return  # the drain ends with that message; the row is resumed later
        finally:
            self._unrecorded[row.transport].release()
        if marked:
            stats.sent[channel] += 1
            if progress is not None:
                progress(1)

    async def _retry_or_give_up(
        self,
        row: Delivery,
        parts_sent: int,
        exc: TransientDeliveryError,
        stats: DrainStats,
        writer: GroupCommit,
    ) -> None:
        """Retry a transient failure with capped backoff while the row's retry window
        lasts (the last try falls at its end); past it, the row ends as failed."""
        now = self.clock()
        deadline = (row.queued_at or now) + self.retry_window
        if now >= deadline:
            reason = (
                f"gave up after {row.attempts} attempts in {_window(self.retry_window)} "
                f"(DIGESTBOT_DELIVERY__RETRY_HOURS): {exc}"
            )
            await self._give_up(row, reason, "retry_window", stats, writer)
            return
        delay = min(backoff(row.attempts, exc.retry_after), (deadline - now).total_seconds())
        try:
            await self.ledger.retry_later(
                row.id, self.owner, str(exc), delay, parts_sent=parts_sent
            )
        except Exception as db_exc:
            if not unavailable(db_exc):
                raise
            writer.down(db_exc)  # the row keeps its lease and is tried again later
            return
        stats.retried[row.channel.value] += 1
        log.info(
            "retry %s %s in %.0f s (attempt %d): %s",
            row.channel.value,
            row.address,
            delay,
            row.attempts,
            exc,
        )

    async def _give_up(
        self, row: Delivery, reason: str, why: str, stats: DrainStats, writer: GroupCommit
    ) -> bool:
        """End a row as failed: a WARNING line with the reason and the give-up metric,
        every time. False if the ledger could not record it (the row is tried again)."""
        try:
            if not await self.ledger.mark_failed(row.id, self.owner, reason):
                return False  # another worker holds the row now
        except Exception as db_exc:
            if not unavailable(db_exc):
                raise
            writer.down(db_exc)
            return False
        channel = row.channel.value
        stats.failed[channel] += 1
        stats.gave_up.append((channel, row.address, reason))
        record_give_up(channel, why)
        log.warning("gave up on %s %s: %s", channel, row.address, reason)
        return True


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
