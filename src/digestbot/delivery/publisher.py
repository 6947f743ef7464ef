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
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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


class BatchWriter(Protocol):
    """Writes a drain's checkpoints and sent marks, many in one transaction."""

    async def write(
        self, owner: str, checkpoints: Sequence[tuple[int, int]], sent: Sequence[tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        """Record (id, parts) pairs; return the ids whose checkpoint held and those marked
        sent (each needs ``owner``'s lease, a checkpoint an unexpired one)."""
        ...

    async def close(self) -> None: ...


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


class _GroupCommit:
    """A drain's checkpoints and sent marks, written to the ledger together.

    Every call still waits for the transaction that carries it: a checkpoint is committed
    (the lease re-checked and extended) before its send starts, and the publisher bounds
    how many rows per sender wait for their sent mark (``Publisher(unrecorded=…)``), so
    a kill can repeat at most the rows being sent plus those. What changes is that
    everything that arrives while one transaction runs goes into the next one (group
    commit), instead of one transaction per call, which cost more CPU than building and
    sending the email.

    No sending without recording: when a transaction fails because the database is away
    (connection lost or refused, locked, timed out), no waiter is let go. The gate closes,
    so no new send starts (each send passes :meth:`gate` first), and the same batch is
    written again with capped backoff, each wait logged. Sending so stops within the rows
    being sent plus the ``unrecorded`` ones, and resumes when the database answers. After
    ``patience`` seconds without it, every waiter gets :class:`LedgerUnavailable` and the
    drain ends with that message; the rows keep their lease and are resumed later.

    Sent marks also *gather*: the next transaction starts when ``flush_at`` marks wait,
    when a checkpoint waits (a send is held up by it), or ``gather`` seconds after the
    first mark, whichever comes first. Left to themselves, transactions carried one or
    two rows each (a commit took about as long as a send). ``flush_at`` stays below the
    ``unrecorded`` bound, so no send waits for a slot while marks gather.
    """

    def __init__(
        self,
        ledger: DeliveryLedger,
        owner: str,
        *,
        patience: float,
        unrecorded: int,
        gather: float = 0.1,
        flush_at: int = 24,
    ) -> None:
        self.writer = ledger.writer()
        self.owner = owner
        self.patience = patience
        self.unrecorded = unrecorded
        self.gather = gather
        self.flush_at = max(flush_at, 1)
        self._full = asyncio.Event()
        self.transactions = 0
        """How many transactions this writer committed (reports, tests)."""
        self._checkpoints: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._sent: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._down_since: float | None = None
        self._tries = 0
        self.broken: LedgerUnavailable | None = None
        """Set once the database stayed away longer than ``patience``: the drain ends."""

    async def gate(self) -> None:
        """Return when a send may start: at once unless the database is away."""
        if self.broken is not None:
            raise self.broken
        if not self._open.is_set():
            await self._open.wait()
            if self.broken is not None:
                raise self.broken

    def down(self, exc: BaseException) -> float:
        """The database failed a call: close the gate and say how long to wait before
        trying again; raise :class:`LedgerUnavailable` once ``patience`` has run out."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since, self._tries = now, 0
            self._open.clear()
        self._tries += 1
        waited = now - self._down_since
        why = _describe(exc)
        if waited >= self.patience:
            self.broken = LedgerUnavailable(
                f"the database stopped answering ({why}) and was not back within "
                f"{self.patience:g} s, so sending stopped: nothing is sent that cannot be "
                "recorded. Run the same command again once the database answers; it resumes "
                "from the ledger (the copies in flight when it went away may go out twice: "
                f"at most the rows being sent plus {self.unrecorded} per transport)."
            )
            self._open.set()  # wake the waiters: they find ``broken`` and stop
            log.error("ledger: %s", self.broken)
            raise self.broken
        delay = min(0.25 * float(2 ** min(self._tries - 1, 10)), 30.0, self.patience - waited)
        log.warning(
            "ledger: cannot record deliveries, the database did not answer (%s); sending "
            "paused for %.1f s so far, trying again in %.2f s",
            why,
            waited,
            delay,
        )
        return delay

    def up(self) -> None:
        """A database call succeeded: sending may go on."""
        if self._down_since is not None:
            log.warning(
                "ledger: the database answers again after %.1f s; sending resumes",
                time.monotonic() - self._down_since,
            )
            self._down_since = None
            self._open.set()

    async def checkpoint(self, delivery_id: int, parts_sent: int) -> bool:
        return await self._submit(self._checkpoints, delivery_id, parts_sent)

    async def sent(self, delivery_id: int, parts_sent: int) -> bool:
        return await self._submit(self._sent, delivery_id, parts_sent)

    async def _submit(
        self, queue: list[tuple[int, int, asyncio.Future[bool]]], delivery_id: int, parts: int
    ) -> bool:
        if self.broken is not None:
            raise self.broken
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
            waiters = checkpoints + sent
            while True:
                try:
                    ok_checkpoints, ok_sent = await self.writer.write(
                        self.owner,
                        [(i, parts) for i, parts, _ in checkpoints],
                        [(i, parts) for i, parts, _ in sent],
                    )
                except Exception as exc:  # noqa: BLE001 - retried, or handed to every waiter
                    failure: BaseException = exc
                    if unavailable(exc):
                        try:
                            await asyncio.sleep(self.down(exc))
                            continue  # the same batch again: its sends are not recorded yet
                        except LedgerUnavailable as gave_up:
                            failure = gave_up
                    for _i, _parts, done in waiters:
                        if not done.done():
                            done.set_exception(failure)
                    break
                self.up()
                self.transactions += 1
                for i, _parts, done in checkpoints:
                    if not done.done():
                        done.set_result(i in ok_checkpoints)
                for i, _parts, done in sent:
                    if not done.done():
                        done.set_result(i in ok_sent)
                break

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.writer.close()


def _describe(exc: BaseException) -> str:
    """An error in one line, for a log line or a message (drivers' errors are long)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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
        writer = _GroupCommit(
            self.ledger,
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
        writer: _GroupCommit,
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
        writer: _GroupCommit,
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
        self, row: Delivery, reason: str, why: str, stats: DrainStats, writer: _GroupCommit
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
