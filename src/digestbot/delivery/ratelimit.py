"""Telegram's flood limits kept on our side: one paced global bucket, one bucket per chat.

Telegram allows about 30 messages a second overall, 20 a minute into one group or
channel and about one a second into one private chat. :class:`RateLimiter` keeps all
three without waiting to be told by a 429:

- every chat has a token bucket of its own (its *scope*); a sender for that chat waits
  for it alone, so a slow or penalised chat never holds anybody else up;
- only then does it queue for the global bucket. The global queue is FIFO and served by
  one dispatcher at exactly the configured rate with a small burst, so chats still
  waiting on their own scope never take global tokens, and the pacing stays inside a
  server-side bucket of the same rate whose burst is larger than ours;
- a chat's bucket is charged when the global token is granted, i.e. when the message
  really leaves, so a message delayed by the global queue can't be followed too closely
  by the chat's next one.

``penalize(scope, seconds)`` pauses one chat (``retry_after`` for that chat) or everyone
(``GLOBAL``). :meth:`RateLimiter.retry_after` takes a 429 for one chat: that chat waits,
and only when several chats that had room of their own get 429s at once does everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from digestbot.settings import TelegramSettings

__all__ = [
    "GLOBAL",
    "REPLY_HEADROOM",
    "ChatKind",
    "LimiterStats",
    "RateLimiter",
    "TokenBucket",
    "chat_kind",
]

GLOBAL = "global"
"""The scope every message shares (Telegram's ~30 messages/second per bot)."""

ChatKind = Literal["private", "group"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

IDLE_CHAT_SECONDS = 60.0
"""A chat we have not written to for this long has a full bucket at Telegram: a 429 on
its first message was refused by the global limit, or by a 429 we can't explain."""
REPLY_HEADROOM = 1.0
"""Tokens a reply may borrow from its chat's bucket: our bucket paces broadcasts one at a
time, Telegram lets a private chat take a burst of about three messages; replies use two
of them and leave one for network jitter (a request that arrives late)."""
GLOBAL_EVIDENCE = 3
GLOBAL_EVIDENCE_SECONDS = 2.0

_PRUNE_EVERY = 1024
_PRUNE_ABOVE = 4096


def chat_kind(chat_id: str | int) -> ChatKind:
    """Negative ids and ``@usernames`` are groups or channels; positive ids are private."""
    text = str(chat_id).strip()
    if text.startswith("@") or text.startswith("-"):
        return "group"
    return "private"


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; one token per message; pausable."""

    __slots__ = ("burst", "paused_until", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
        self.paused_until = -math.inf

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float, headroom: float = 0.0) -> float:
        """Seconds until a message may go (0.0: now); ``headroom`` tokens may be borrowed
        (the bucket goes below zero and later messages wait longer)."""
        self._refill(now)
        need = 1.0 - headroom
        wait = 0.0 if self.tokens >= need else (need - self.tokens) / self.rate
        return max(wait, self.paused_until - now, 0.0)

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0

    def pause(self, now: float, seconds: float) -> None:
        """Nothing goes before ``now + seconds``; the bucket starts empty after the pause."""
        self._refill(now)
        until = now + max(seconds, 0.0)
        if until > self.paused_until:
            self.paused_until = until
            # whatever Telegram counted, it wants silence: no credit for the pause itself
            self.tokens = min(self.tokens, 1.0 - max(seconds, 0.0) * self.rate)

    def paused(self, now: float) -> bool:
        return self.paused_until > now

    def idle(self, now: float) -> bool:
        """Full and not paused: forgetting this bucket changes nothing."""
        self._refill(now)
        return self.tokens >= self.burst and not self.paused(now)


@dataclass(slots=True)
class LimiterStats:
    """What the limiter did: grants, and the penalties it was given."""

    granted: int = 0
    chat_penalties: int = 0
    global_penalties: int = 0


class _ChatScope:
    __slots__ = ("bucket", "kind", "last_grant", "lock", "previous_grant")

    def __init__(self, bucket: TokenBucket, kind: ChatKind) -> None:
        self.bucket = bucket
        self.kind = kind
        self.lock = asyncio.Lock()
        self.last_grant: float | None = None
        self.previous_grant: float | None = None


class _GlobalGate:
    """A FIFO of waiters served one token at a time by a single dispatcher task."""

    def __init__(self, bucket: TokenBucket, clock: Clock, sleep: Sleep) -> None:
        self.bucket = bucket
        self._clock = clock
        self._sleep = sleep
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._dispatcher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        return sum(1 for w in (*self._urgent, *self._waiters) if not w.done())

    async def take(self, *, urgent: bool = False) -> None:
        """One global token; ``urgent`` waiters (a reply to a user) go before the others."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (a new asyncio.run)
            self._loop, self._dispatcher = loop, None
            self._waiters.clear()
            self._urgent.clear()
        now = self._clock()
        if not self._waiters and not self._urgent and self.bucket.wait_time(now) <= 0.0:
            self.bucket.take(now)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        (self._urgent if urgent else self._waiters).append(waiter)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = loop.create_task(self._dispatch(), name="telegram-rate-limiter")
        await waiter  # cancelled while queued: the dispatcher skips it

    async def _dispatch(self) -> None:
        while True:
            for queue in (self._urgent, self._waiters):
                while queue and queue[0].done():
                    queue.popleft()
            queue = self._urgent or self._waiters
            if not queue:
                return
            now = self._clock()
            wait = self.bucket.wait_time(now)
            if wait > 0.0:
                await self._sleep(wait)
                continue
            self.bucket.take(now)
            queue.popleft().set_result(None)

    async def close(self) -> None:
        task, self._dispatcher = self._dispatcher, None
        for waiter in (*self._urgent, *self._waiters):
            waiter.cancel()
        self._waiters.clear()
        self._urgent.clear()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class RateLimiter:
    """Keeps Telegram's global, per-group and per-private-chat limits for one bot.

    ``await acquire(chat_id, kind)`` returns when a message to that chat may be sent.
    Messages to one chat are granted in the order their ``acquire`` calls started.
    """

    def __init__(
        self,
        global_rate: float = 30.0,
        group_rate_per_minute: float = 20.0,
        private_rate: float = 1.0,
        *,
        global_burst: float | None = None,
        group_burst: float | None = None,
        private_burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if min(global_rate, group_rate_per_minute, private_rate) <= 0:
            raise ValueError("rate limits must be positive")
        self.global_rate = global_rate
        self.group_rate = group_rate_per_minute / 60.0
        self.private_rate = private_rate
        # Small bursts: pacing at exactly the rate keeps us inside a server bucket of the
        # same rate, and the server's larger burst absorbs network jitter. More than one
        # global token, so that a late wake-up carries its fraction of a token over.
        if global_burst is None:
            global_burst = min(3.0, max(1.0, global_rate))
        if group_burst is None:
            group_burst = max(1.0, math.floor(group_rate_per_minute / 2))
        self.global_burst = global_burst
        self.group_burst = group_burst
        self.private_burst = private_burst
        self._clock = clock
        self._sleep = sleep
        self._gate = _GlobalGate(TokenBucket(global_rate, self.global_burst, clock()), clock, sleep)
        self._chats: dict[str, _ChatScope] = {}
        self._idle_429s: deque[tuple[float, str, float]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acquires = 0
        self.stats = LimiterStats()

    @classmethod
    def from_settings(
        cls,
        settings: TelegramSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> RateLimiter:
        """The limits ``DIGESTBOT_TELEGRAM__GLOBAL_RATE`` etc. configure."""
        return cls(
            settings.global_rate,
            settings.group_rate_per_minute,
            settings.private_rate,
            clock=clock,
            sleep=sleep,
        )

    # -- scopes ---------------------------------------------------------------------------

    def _scope(self, chat_id: str, kind: ChatKind | None) -> _ChatScope:
        scope = self._chats.get(chat_id)
        if scope is None:
            kind = kind or chat_kind(chat_id)
            if kind == "private":
                bucket = TokenBucket(self.private_rate, self.private_burst, self._clock())
            else:
                bucket = TokenBucket(self.group_rate, self.group_burst, self._clock())
            scope = self._chats[chat_id] = _ChatScope(bucket, kind)
        return scope

    def _prune(self) -> None:
        now = self._clock()
        stale = [
            key
            for key, scope in self._chats.items()
            if not scope.lock.locked()
            and scope.bucket.idle(now)
            and (scope.last_grant is None or now - scope.last_grant >= IDLE_CHAT_SECONDS)
        ]
        for key in stale:
            del self._chats[key]

    # -- the API --------------------------------------------------------------------------

    async def acquire(self, chat_id: str | int, kind: ChatKind | None = None) -> None:
        """Wait until a message to ``chat_id`` keeps the chat's and the global limit."""
        await self._acquire(str(chat_id), kind, headroom=0.0, urgent=False)

    async def acquire_reply(self, chat_id: str | int | None = None) -> None:
        """Wait until a reply to a user (the bot shell's messages) may go.

        A reply keeps its chat's limit too, but may borrow :data:`REPLY_HEADROOM` tokens
        (a conversation's few messages fit in Telegram's per-chat burst), and goes ahead
        of queued broadcast messages for the global token, so a user is answered promptly
        during a fan-out while both together keep the global limit. Without ``chat_id``
        (a call that names no chat) only the global token is taken."""
        if chat_id is None:
            await self._gate.take(urgent=True)
            self.stats.granted += 1
            return
        await self._acquire(str(chat_id), None, headroom=REPLY_HEADROOM, urgent=True)

    async def _acquire(
        self, key: str, kind: ChatKind | None, *, headroom: float, urgent: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new asyncio.run: locks of the old loop can't be used
            self._loop = loop
            for stale in self._chats.values():
                stale.lock = asyncio.Lock()
        self._acquires += 1
        if self._acquires % _PRUNE_EVERY == 0 and len(self._chats) > _PRUNE_ABOVE:
            self._prune()
        scope = self._scope(key, kind)
        async with scope.lock:
            while True:
                wait = scope.bucket.wait_time(self._clock(), headroom)
                if wait > 0.0:
                    await self._sleep(wait)
                    continue
                await self._gate.take(urgent=urgent)
                now = self._clock()
                if scope.bucket.paused(now):
                    continue  # penalised while queued: that global token is spent, wait again
                scope.bucket.take(now)
                scope.previous_grant, scope.last_grant = scope.last_grant, now
                self.stats.granted += 1
                return

    def penalize(self, scope: str | int, seconds: float) -> None:
        """Send nothing to ``scope`` (a chat id, or ``GLOBAL`` for everyone) for ``seconds``."""
        now = self._clock()
        key = str(scope)
        if key == GLOBAL:
            self._gate.bucket.pause(now, seconds)
            self.stats.global_penalties += 1
        else:
            self._scope(key, None).bucket.pause(now, seconds)
            self.stats.chat_penalties += 1

    def retry_after(self, chat_id: str | int, seconds: float) -> str:
        """Honour a 429 for a message to ``chat_id``; returns the scope that was paused.

        Telegram does not say which limit was hit, so the chat that got it waits. A chat
        we had not written to for :data:`IDLE_CHAT_SECONDS` had room in its own bucket,
        though: when :data:`GLOBAL_EVIDENCE` such idle chats get a 429 within
        :data:`GLOBAL_EVIDENCE_SECONDS`, the global limit is what was hit (another
        process, or the bot's replies, used the quota) and everyone pauses.
        """
        key = str(chat_id)
        scope = self._chats.get(key)
        # last_grant is the refused message; the grant before it tells idle from busy
        idle = (
            scope is None
            or scope.last_grant is None
            or scope.previous_grant is None
            or scope.last_grant - scope.previous_grant >= IDLE_CHAT_SECONDS
        )
        self.penalize(key, seconds)
        if not idle:
            return key
        now = self._clock()
        recent = self._idle_429s
        recent.append((now, key, seconds))
        while recent and now - recent[0][0] > GLOBAL_EVIDENCE_SECONDS:
            recent.popleft()
        if len({chat for _t, chat, _s in recent}) >= GLOBAL_EVIDENCE:
            self.penalize(GLOBAL, max(s for _t, _c, s in recent))
            recent.clear()
            return GLOBAL
        return key

    def paused_for(self, scope: str | int) -> float:
        """Seconds ``scope`` (a chat id or ``GLOBAL``) stays paused; 0.0 if it isn't."""
        now = self._clock()
        key = str(scope)
        if key == GLOBAL:
            bucket = self._gate.bucket
        elif key in self._chats:
            bucket = self._chats[key].bucket
        else:
            return 0.0
        return max(bucket.paused_until - now, 0.0)

    @property
    def waiting(self) -> int:
        """How many senders are queued for the global bucket right now."""
        return self._gate.waiting

    async def close(self) -> None:
        """Stop the dispatcher and release anything still queued (they get CancelledError)."""
        await self._gate.close()
