"""The publisher: drain an issue's ledger rows through the senders, with retries and a report."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from digestbot.delivery.ledger import Delivery, Ledger, utcnow
from digestbot.delivery.senders import Content, Job, LeaseLost, Sender
from digestbot.errors import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger("digestbot.delivery")

IDLE_POLL = 1.0
"""Seconds between looks at the ledger while another worker holds the rows left."""

Progress = Callable[[int], None]
MigrationHook = Callable[[Delivery, str], Awaitable[None]]
DeactivateHook = Callable[[Delivery, str], Awaitable[None]]
BounceHook = Callable[[Delivery, str], Awaitable[None]]


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


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: Telegram's retry_after when given, else exponential."""
    if retry_after is not None:
        return max(retry_after, 0.0)
    return float(min(2 ** max(attempts - 1, 0) * 5, 3600)) * random.uniform(0.8, 1.2)


class _GroupCommit:
    """A drain's checkpoints and sent marks, written to the ledger together.

    Every call still waits for the transaction that carries it: a checkpoint is committed
    (the lease re-checked and extended) before its send starts, and the publisher bounds
    how many rows per sender wait for their sent mark (``Publisher(unrecorded=…)``), so
    a kill can repeat at most the rows being sent plus those. What changes is that
    everything that arrives while one transaction runs goes into the next one (group
    commit), instead of one transaction per call, which cost more CPU than building and
    sending the email.

    Sent marks also *gather*: the next transaction starts when ``flush_at`` marks wait,
    when a checkpoint waits (a send is held up by it), or ``gather`` seconds after the
    first mark, whichever comes first. Left to themselves, transactions carried one or
    two rows each (a commit took about as long as a send). ``flush_at`` stays below the
    ``unrecorded`` bound, so no send waits for a slot while marks gather.
    """

    def __init__(
        self, ledger: Ledger, owner: str, *, gather: float = 0.1, flush_at: int = 24
    ) -> None:
        self.ledger = ledger
        self.owner = owner
        self.gather = gather
        self.flush_at = max(flush_at, 1)
        self._checkpoints: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._sent: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self.transactions = 0
        """How many transactions this writer committed (reports, tests)."""

    async def checkpoint(self, delivery_id: int, parts_sent: int) -> bool:
        return await self._submit(self._checkpoints, delivery_id, parts_sent)

    async def sent(self, delivery_id: int, parts_sent: int) -> bool:
        return await self._submit(self._sent, delivery_id, parts_sent)

    async def _submit(
        self, queue: list[tuple[int, int, asyncio.Future[bool]]], delivery_id: int, parts: int
    ) -> bool:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ledger-group-commit")
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.append((delivery_id, parts, done))
        self._wake.set()
        if self._checkpoints or len(self._sent) >= self.flush_at:
            self._full.set()
        return await done

    async def _gathered(self) -> None:
        """Wait until a transaction is worth starting (see the class docstring)."""
        await self._wake.wait()
        if self._checkpoints or len(self._sent) >= self.flush_at or self.gather <= 0:
            return
        self._full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.gather):
                await self._full.wait()

    async def _run(self) -> None:
        while True:
            await self._gathered()
            await asyncio.sleep(0)  # let the callbacks already due add theirs
            self._wake.clear()
            self._full.clear()
            checkpoints, self._checkpoints = self._checkpoints, []
            sent, self._sent = self._sent, []
            if not checkpoints and not sent:
                continue
            try:
                if self._conn is None:
                    self._conn = await self.ledger.engine.connect()
                ok_checkpoints, ok_sent = await self.ledger.write_batch(
                    self.owner,
                    [(i, parts) for i, parts, _ in checkpoints],
                    [(i, parts) for i, parts, _ in sent],
                    conn=self._conn,
                )
                self.transactions += 1
            except Exception as exc:  # noqa: BLE001 - handed to every waiter
                await self._drop_connection()
                for _i, _parts, done in checkpoints + sent:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for i, _parts, done in checkpoints:
                if not done.done():
                    done.set_result(i in ok_checkpoints)
            for i, _parts, done in sent:
                if not done.done():
                    done.set_result(i in ok_sent)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection is being dropped
                log.info("ledger connection closed with an error: %s", exc)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop_connection()


class Publisher:
    """Drains the ledger for one issue. Several Publishers (processes) may drain at once."""

    def __init__(
        self,
        ledger: Ledger,
        senders: Mapping[str, Sender],
        *,
        owner: str | None = None,
        window: int = 256,
        max_wait: float = 120.0,
        max_attempts: int = 8,
        on_migrated: MigrationHook | None = None,
        on_deactivate: DeactivateHook | None = None,
        on_bounce: BounceHook | None = None,
        unrecorded: int = 32,
        gather: float = 0.1,
    ) -> None:
        """``unrecorded``: per transport, how many rows may wait for their sent mark after
        the server took them (they don't hold a send slot; group commits write them).
        ``gather``: how long the first waiting sent mark waits for others to share its
        transaction (at most; ``unrecorded * 3 // 4`` marks start one at once)."""
        self.ledger = ledger
        self.senders = dict(senders)
        self.owner = owner or worker_id()
        self.window = window
        self.max_wait = max_wait
        self.max_attempts = max_attempts
        self.on_migrated = on_migrated
        self.on_deactivate = on_deactivate
        self.on_bounce = on_bounce
        self._sems = {name: asyncio.Semaphore(s.concurrency) for name, s in self.senders.items()}
        self.unrecorded = unrecorded
        self.gather = gather
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
        writer = _GroupCommit(
            self.ledger, self.owner, gather=self.gather, flush_at=self.unrecorded * 3 // 4
        )
        finished = asyncio.Event()

        busy: set[int] = set()  # the ids of the rows in flight

        def done(row_id: int, task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            busy.discard(row_id)
            finished.set()

        try:
            while True:
                if stop is not None and stop.is_set():
                    stats.interrupted = True
                    break
                finished.clear()
                room = self.window - len(inflight)
                rows: list[Delivery] = []
                if room >= self.window // 2:
                    rows = await self.ledger.claim(
                        issue_id, self.owner, room, transports=transports
                    )
                for row in rows:
                    if row.id in busy:
                        # its lease ran out while its send was still going on; the task
                        # that holds it goes on (the claim has just extended the lease)
                        continue
                    task = asyncio.create_task(self._deliver(row, content, stats, progress, writer))
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
                due = await self.ledger.next_due(issue_id)
                if due is None:
                    break
                wait = (due - utcnow()).total_seconds()
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
        return stats

    async def _deliver(
        self,
        row: Delivery,
        content: Content,
        stats: DrainStats,
        progress: Progress | None,
        writer: _GroupCommit,
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
            try:
                parts = await sender.deliver(job, content)
            except LeaseLost:
                stats.lost_lease += 1
                return
            except TransientDeliveryError as exc:
                if row.attempts >= self.max_attempts:
                    await self.ledger.mark_failed(
                        row.id, self.owner, f"gave up after {row.attempts} attempts: {exc}"
                    )
                    stats.failed[channel] += 1
                else:
                    delay = backoff(row.attempts, exc.retry_after)
                    await self.ledger.retry_later(
                        row.id, self.owner, str(exc), delay, parts_sent=job.parts_sent
                    )
                    stats.retried[channel] += 1
                log.info("retry %s %s in %s: %s", channel, row.address, row.attempts, exc)
                return
            except PermanentDeliveryError as exc:
                await self.ledger.mark_failed(row.id, self.owner, str(exc))
                stats.failed[channel] += 1
                if exc.deactivate and self.on_deactivate is not None:
                    await self.on_deactivate(row, str(exc))
                elif exc.bounce and self.on_bounce is not None:
                    await self.on_bounce(row, str(exc))
                log.warning("failed %s %s: %s", channel, row.address, exc)
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
        finally:
            self._unrecorded[row.transport].release()
        if marked:
            stats.sent[channel] += 1
            if progress is not None:
                progress(1)


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
