"""How the bot takes its updates: several users at once, one user's in order, floods cut off.

python-telegram-bot hands every update to an update processor. `ReaderUpdateProcessor`
runs the updates of different users concurrently (at most ``running`` handlers at a time),
keeps each user's updates in the order they arrived (a ``/lang`` is stored before the
``/help`` that follows it), and asks a `FloodGuard` about each update as it arrives: a
user sending more than a few commands a second gets one "slow down" reply and the rest of
the burst is dropped unanswered, so one user can neither stall nor flood the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = [
    "FLOOD_BURST",
    "FLOOD_RATE",
    "RUNNING_UPDATES",
    "FloodGuard",
    "ReaderUpdateProcessor",
    "Verdict",
]

log = logging.getLogger("digestbot.bot")

FLOOD_RATE = 1.0
"""Commands a second one user may send, sustained: Telegram's pace for one private chat."""
FLOOD_BURST = 5.0
"""Commands one user may send at once before the guard steps in."""
RUNNING_UPDATES = 16
"""Handlers running at once (the rest wait; a user's own updates wait for each other)."""
WAITING_UPDATES = 4096
"""Updates taken in at once (python-telegram-bot's bound; they wait for a running slot)."""

Verdict = Literal["answer", "warn", "drop"]


@dataclass(slots=True)
class _Allowance:
    tokens: float
    updated: float
    warned: bool = False


class FloodGuard:
    """A token bucket per user: ``rate`` commands a second, ``burst`` at once.

    `admit` says what to do with a user's next update: ``answer`` it; ``warn`` (the first
    update over the limit: reply "slow down" instead); ``drop`` it (the others). Dropped
    updates cost tokens too, down to ``-burst``, so a user who keeps flooding stays
    silenced and is answered again after a pause of a few seconds.
    """

    def __init__(
        self,
        rate: float = FLOOD_RATE,
        burst: float = FLOOD_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a flood guard needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_users = max_users
        self._users: dict[int, _Allowance] = {}

    def admit(self, user_id: int) -> Verdict:
        now = self._clock()
        allowance = self._users.get(user_id)
        if allowance is None:
            if len(self._users) >= self._max_users:
                self._forget_idle(now)
            allowance = self._users[user_id] = _Allowance(self.burst, now)
        elapsed = max(now - allowance.updated, 0.0)
        allowance.tokens = min(self.burst, allowance.tokens + elapsed * self.rate)
        allowance.updated = now
        if allowance.tokens >= 1.0:
            allowance.tokens -= 1.0
            allowance.warned = False
            return "answer"
        allowance.tokens = max(allowance.tokens - 1.0, -self.burst)
        if allowance.warned:
            return "drop"
        allowance.warned = True
        return "warn"

    def _forget_idle(self, now: float) -> None:
        """Drop users whose bucket has refilled: forgetting them changes nothing."""
        full = [
            user
            for user, a in self._users.items()
            if a.tokens + (now - a.updated) * self.rate >= self.burst
        ]
        for user in full:
            del self._users[user]
        if len(self._users) >= self._max_users:  # all busy: forget the oldest
            oldest = min(self._users, key=lambda u: self._users[u].updated)
            del self._users[oldest]


@dataclass(slots=True)
class _Lane:
    """One user's updates, handled one after the other."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _discard(coroutine: Awaitable[Any]) -> None:
    """Close a coroutine that will never run (else Python warns it was never awaited)."""
    if inspect.iscoroutine(coroutine):
        coroutine.close()


class ReaderUpdateProcessor(BaseUpdateProcessor):
    """Concurrent updates, bounded, in order per user, with a flood guard on arrival.

    ``on_flood(update)`` answers the first update of a burst the guard refuses (the
    "slow down" reply). Updates without a human sender (channel posts) and updates from
    bots (which the handlers ignore) skip the guard.
    """

    def __init__(
        self,
        on_flood: Callable[[Update], Awaitable[None]],
        *,
        guard: FloodGuard | None = None,
        running: int = RUNNING_UPDATES,
        waiting: int = WAITING_UPDATES,
    ) -> None:
        super().__init__(max(waiting, running))
        if running < 1:
            raise ValueError("at least one update must be able to run")
        self.on_flood = on_flood
        self.guard = guard or FloodGuard()
        self.running = running
        self._running: asyncio.Semaphore | None = None
        self._lanes: dict[int, _Lane] = {}
        self.dropped = 0
        """Updates dropped by the flood guard since the start (the warned ones excluded)."""

    async def initialize(self) -> None:
        self._running = asyncio.Semaphore(self.running)

    async def shutdown(self) -> None:
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None or user.is_bot:
            await self._run(None, coroutine)
            return
        verdict = self.guard.admit(user.id)
        if verdict == "answer":
            await self._run(user.id, coroutine)
            return
        _discard(coroutine)
        if verdict == "drop":
            self.dropped += 1
            return
        assert isinstance(update, Update)
        log.info("bot: user %s sends too fast: one slow-down reply, the burst dropped", user.id)
        await self._run(user.id, self.on_flood(update))

    async def _run(self, key: int | None, coroutine: Awaitable[Any]) -> None:
        if self._running is None:
            self._running = asyncio.Semaphore(self.running)
        if key is None:
            async with self._running:
                await coroutine
            return
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.users += 1
        try:
            async with lane.lock, self._running:
                await coroutine
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[key]
