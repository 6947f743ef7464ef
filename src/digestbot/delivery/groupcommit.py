"""A drain's checkpoints and sent marks, written to the ledger many in one transaction,
with sending paused while the database is away (see :class:`GroupCommit`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from digestbot.delivery.ledger import unavailable
from digestbot.errors import LedgerUnavailable

log = logging.getLogger("digestbot.delivery")


class BatchWriter(Protocol):
    """Writes a drain's checkpoints and sent marks, many in one transaction."""

    async def write(
        self, owner: str, checkpoints: Sequence[tuple[int, int]], sent: Sequence[tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        """Record (id, parts) pairs; return the ids whose checkpoint held and those marked
        sent (each needs ``owner``'s lease, a checkpoint an unexpired one)."""
        ...

    async def close(self) -> None: ...


class GroupCommit:
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
        writer: BatchWriter,
        owner: str,
        *,
        patience: float,
        unrecorded: int,
        gather: float = 0.1,
        flush_at: int = 24,
    ) -> None:
        self.writer = writer
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
