"""The publisher: drain an issue's ledger rows through the senders, with retries and a report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from digestbot.delivery.ledger import Delivery, Ledger, utcnow
from digestbot.delivery.senders import Content, Job, LeaseLost, Sender
from digestbot.errors import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger("digestbot.delivery")

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
    ) -> None:
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
        try:
            while True:
                if stop is not None and stop.is_set():
                    stats.interrupted = True
                    break
                room = self.window - len(inflight)
                rows: list[Delivery] = []
                if room >= self.window // 2:
                    rows = await self.ledger.claim(
                        issue_id, self.owner, room, transports=transports
                    )
                for row in rows:
                    task = asyncio.create_task(self._deliver(row, content, stats, progress))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if inflight:
                    await asyncio.wait(inflight, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if rows:
                    continue
                due = await self.ledger.next_due(issue_id)
                if due is None:
                    break
                wait = (due - utcnow()).total_seconds()
                if wait > self.max_wait:
                    break
                await _sleep_or_stop(max(wait, 0.05), stop)
        finally:
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
        return stats

    async def _deliver(
        self, row: Delivery, content: Content, stats: DrainStats, progress: Progress | None
    ) -> None:
        sender = self.senders[row.transport]
        channel = row.channel.value

        async def checkpoint(n: int) -> bool:
            return await self.ledger.checkpoint(row.id, self.owner, n)

        async def migrated(new_address: str) -> None:
            if self.on_migrated is not None:
                await self.on_migrated(row, new_address)

        job = Job(row, checkpoint, migrated, row.parts_sent)
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
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.ledger.release(row.id, self.owner, job.parts_sent))
                raise
            if await self.ledger.mark_sent(row.id, self.owner, parts):
                stats.sent[channel] += 1
                if progress is not None:
                    progress(1)


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
