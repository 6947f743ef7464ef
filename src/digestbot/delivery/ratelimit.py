"""Telegram's flood limits kept on our side, strictly: never more than the limit in any
sliding window, globally and per chat, as the server counts them.

Telegram allows about 30 messages a second overall, 20 a minute into one group or
channel and about one a second into one private chat, and counts requests as they
arrive. :class:`RateLimiter` keeps all three without waiting to be told by a 429:

- each scope (the bot as a whole, and every chat) is a sliding window of ``limit``
  messages per ``window`` seconds. A message holds a :class:`Permit` from its grant until
  ``window + margin`` seconds after its send *completed*: the server saw it at some moment
  in between, which is all we can know. A new message may start only while fewer than
  ``limit`` permits are held. Scheduling on completion, not on the grant, is what keeps
  the limit when the CPU is busy: a send that starts late after its grant, or an answer
  read late, only makes us wait longer, and a stall never releases a burst (a token
  bucket refills during a stall and then lets its credit go at once);
- a sender waits for its chat's window first, then queues for the global one. The global
  queue is FIFO (bot replies first) and served by one dispatcher that also spaces grants
  ``1/rate`` apart, so messages flow evenly instead of 30 at once each second;
- a chat's window takes the permit the global queue granted, so a message delayed by the
  queue can't be followed too closely by the chat's next one.

Non-integer rates round down: ``global_rate=7.5`` allows 7 in any second (``1/7.5`` s
apart); a rate below one per window becomes one per ``1/rate`` seconds.

A send's window runs from the moment its answer arrived, not from when the code awaiting
it resumes: :meth:`RateLimiter.sending` and :meth:`RateLimiter.replying` leave their permit
in a context variable, and :func:`answered` (called by the HTTP client as soon as the
response's status line and headers are read; see ``delivery/telegram.py``) marks it done.
Under CPU load the task resumes milliseconds after the answer, and PTB then decodes it into
a ``Message``; none of that time is held in the window any more. The server counted the
message before it answered, so the window still covers it.

``penalize(scope, seconds)`` pauses one chat (``retry_after`` for that chat) or everyone
(``GLOBAL``). :meth:`RateLimiter.retry_after` takes a 429 for one chat: that chat waits,
and only when several chats that had room of their own get 429s at once does everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from digestbot.delivery.window import MARGIN, Permit, SlidingWindow, window_of
from digestbot.settings import TelegramSettings

__all__ = [
    "GLOBAL",
    "ChatKind",
    "LimiterStats",
    "Permit",
    "RateLimiter",
    "SlidingWindow",
    "answered",
]

GLOBAL = "global"
"""The scope every message shares (Telegram's ~30 messages/second per bot)."""

ChatKind = Literal["private", "group"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

IDLE_CHAT_SECONDS = 60.0
"""A chat we have not written to for this long has room at Telegram: a 429 on its first
message was refused by the global limit, or by a 429 we can't explain."""
GLOBAL_EVIDENCE = 3
GLOBAL_EVIDENCE_SECONDS = 2.0

_PRUNE_EVERY = 1024
_PRUNE_ABOVE = 4096


_SENDING: contextvars.ContextVar[tuple[Permit, asyncio.Task[object] | None] | None] = (
    contextvars.ContextVar("digestbot_telegram_sending", default=None)
)
"""The permit of the send this task is making (inside ``sending``/``replying``), with the
task that holds it: a task started inside the block inherits the variable, and must not
end a permit it does not own."""


def answered() -> None:
    """The answer to the current task's send has arrived: its permit's window runs from now.

    Call it the moment the server's response is read (the HTTP client's response hook
    does); it does nothing outside :meth:`RateLimiter.sending`/:meth:`~RateLimiter.replying`
    or in another task than the one sending. A send that gets no answer (a timeout, a
    connection error) is marked done when its block ends, as before."""
    current = _SENDING.get()
    if current is None:
        return
    permit, owner = current
    if owner is None or owner is asyncio.current_task():
        permit.done()


@contextlib.contextmanager
def _holding(permit: Permit) -> Iterator[Permit]:
    """Leave ``permit`` where :func:`answered` finds it, then mark it done in any case."""
    token = _SENDING.set((permit, asyncio.current_task()))
    try:
        yield permit
    finally:
        _SENDING.reset(token)
        permit.done()


def chat_kind(chat_id: str | int) -> ChatKind:
    """Negative ids and ``@usernames`` are groups or channels; positive ids are private."""
    text = str(chat_id).strip()
    if text.startswith("@") or text.startswith("-"):
        return "group"
    return "private"


@dataclass(slots=True)
class LimiterStats:
    """What the limiter did: grants, and the penalties it was given."""

    granted: int = 0
    chat_penalties: int = 0
    global_penalties: int = 0


class _ChatScope:
    __slots__ = ("kind", "last_grant", "lock", "previous_grant", "window")

    def __init__(self, window: SlidingWindow, kind: ChatKind) -> None:
        self.window = window
        self.kind = kind
        self.lock = asyncio.Lock()
        self.last_grant: float | None = None
        self.previous_grant: float | None = None


class RateLimiter:
    """Keeps Telegram's global, per-group and per-private-chat limits for one bot.

    ``async with limiter.sending(chat_id, kind): <send>`` waits until a message to that
    chat keeps both limits and holds its place until the send is done. Messages to one
    chat are granted in the order they asked.
    """

    def __init__(
        self,
        global_rate: float = 30.0,
        group_rate_per_minute: float = 20.0,
        private_rate: float = 1.0,
        *,
        margin: float = MARGIN,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if min(global_rate, group_rate_per_minute, private_rate) <= 0:
            raise ValueError("rate limits must be positive")
        self.global_rate = global_rate
        self.group_rate = group_rate_per_minute / 60.0
        self.private_rate = private_rate
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        limit, window = window_of(global_rate)
        self._global = SlidingWindow(limit, window, spacing=1.0 / global_rate, margin=margin)
        self._group = window_of(group_rate_per_minute, 60.0)
        self._private = window_of(private_rate)
        self._chats: dict[str, _ChatScope] = {}
        self._waiters: deque[asyncio.Future[Permit]] = deque()
        self._urgent: deque[asyncio.Future[Permit]] = deque()
        self._dispatcher: asyncio.Task[None] | None = None
        self._finished: asyncio.Future[None] | None = None
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

    # -- permits --------------------------------------------------------------------------

    def _permit(self, now: float) -> Permit:
        return Permit(now, self._done)

    def _done(self, permit: Permit) -> None:
        if permit.finished is None:
            permit.finished = self._clock()
        signal, self._finished = self._finished, None
        if signal is not None and not signal.done():
            signal.set_result(None)

    async def _wait(self, seconds: float, on_finish: bool) -> None:
        """Sleep ``seconds``, or less if ``on_finish`` and some send completes first."""
        if not on_finish:
            await self._sleep(seconds)
            return
        if self._finished is None or self._finished.done():
            self._finished = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._finished), timeout=seconds)

    # -- the global queue -----------------------------------------------------------------

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new asyncio.run: old futures are dead
            self._loop = loop
            self._dispatcher, self._finished = None, None
            self._waiters.clear()
            self._urgent.clear()
            for stale in self._chats.values():
                stale.lock = asyncio.Lock()

    async def _take_global(self, *, urgent: bool = False) -> Permit:
        """A global permit; ``urgent`` waiters (a reply to a user) go before the others."""
        now = self._clock()
        if not self._waiters and not self._urgent and self._global.wait(now)[0] <= 0.0:
            permit = self._permit(now)
            self._global.add(permit)
            return permit
        waiter: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._waiters).append(waiter)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), name="telegram-rate-limiter"
            )
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                waiter.result().cancel()  # granted as we were cancelled: give it back
            raise

    async def _dispatch(self) -> None:
        while True:
            for queue in (self._urgent, self._waiters):
                while queue and queue[0].done():
                    queue.popleft()
            queue = self._urgent or self._waiters
            if not queue:
                return
            now = self._clock()
            wait, on_finish = self._global.wait(now)
            if wait > 0.0:
                await self._wait(wait, on_finish)
                continue
            permit = self._permit(now)
            self._global.add(permit)
            queue.popleft().set_result(permit)

    # -- scopes ---------------------------------------------------------------------------

    def _scope(self, chat_id: str, kind: ChatKind | None) -> _ChatScope:
        scope = self._chats.get(chat_id)
        if scope is None:
            kind = kind or chat_kind(chat_id)
            limit, window = self._private if kind == "private" else self._group
            scope = _ChatScope(SlidingWindow(limit, window, margin=self.margin), kind)
            self._chats[chat_id] = scope
        return scope

    def _prune(self) -> None:
        now = self._clock()
        stale = [
            key
            for key, scope in self._chats.items()
            if not scope.lock.locked()
            and scope.window.idle(now)
            and (scope.last_grant is None or now - scope.last_grant >= IDLE_CHAT_SECONDS)
        ]
        for key in stale:
            del self._chats[key]

    # -- the API --------------------------------------------------------------------------

    async def start(
        self, chat_id: str | int, kind: ChatKind | None = None, *, urgent: bool = False
    ) -> Permit:
        """Wait until a message to ``chat_id`` keeps the chat's and the global limit; the
        returned permit holds its place until :meth:`Permit.done` (call it when the send
        completed, failed or timed out). :meth:`sending` does that for you. ``urgent``:
        a reply to a user, ahead of queued broadcast messages for the global permit."""
        self._check_loop()
        key = str(chat_id)
        self._acquires += 1
        if self._acquires % _PRUNE_EVERY == 0 and len(self._chats) > _PRUNE_ABOVE:
            self._prune()
        scope = self._scope(key, kind)
        async with scope.lock:
            while True:
                wait, on_finish = scope.window.wait(self._clock())
                if wait > 0.0:
                    await self._wait(wait, on_finish)
                    continue
                permit = await self._take_global(urgent=urgent)
                now = self._clock()
                if scope.window.wait(now)[0] > 0.0:
                    permit.cancel()  # penalised while queued: wait again
                    continue
                scope.window.add(permit)
                scope.previous_grant, scope.last_grant = scope.last_grant, now
                self.stats.granted += 1
                return permit

    @contextlib.asynccontextmanager
    async def sending(
        self, chat_id: str | int, kind: ChatKind | None = None
    ) -> AsyncIterator[Permit]:
        """``async with limiter.sending(chat): await send(...)``: see :meth:`start`. The
        permit is done when :func:`answered` is called in the block (the response arrived)
        or when the block ends, whichever comes first."""
        permit = await self.start(chat_id, kind)
        with _holding(permit):
            yield permit

    async def acquire(self, chat_id: str | int, kind: ChatKind | None = None) -> None:
        """:meth:`start` for a send that completes at once (its window runs from now)."""
        (await self.start(chat_id, kind)).done()

    async def reply(self, chat_id: str | int | None = None) -> Permit:
        """A permit for a reply to a user (the bot shell's messages).

        A reply goes ahead of queued broadcast messages for the global permit, so a user is
        answered promptly during a fan-out while both together keep the global limit. A new
        message into a chat (``chat_id``) also keeps that chat's window, as Telegram counts
        it (one a second into a private chat): a user who sends many commands at once gets
        the answers paced, not a 429. Without ``chat_id`` (an edit, a callback answer) only
        the global permit is taken."""
        if chat_id is not None:
            return await self.start(chat_id, urgent=True)
        self._check_loop()
        permit = await self._take_global(urgent=True)
        self.stats.granted += 1
        return permit

    @contextlib.asynccontextmanager
    async def replying(self, chat_id: str | int | None = None) -> AsyncIterator[Permit]:
        """``async with limiter.replying(chat): await reply(...)``: see :meth:`reply`; done
        as in :meth:`sending`."""
        permit = await self.reply(chat_id)
        with _holding(permit):
            yield permit

    async def acquire_reply(self, chat_id: str | int | None = None) -> None:
        """:meth:`reply` for a reply that completes at once."""
        (await self.reply(chat_id)).done()

    def penalize(self, scope: str | int, seconds: float) -> None:
        """Send nothing to ``scope`` (a chat id, or ``GLOBAL`` for everyone) for ``seconds``."""
        now = self._clock()
        key = str(scope)
        if key == GLOBAL:
            self._global.pause(now, seconds)
            self.stats.global_penalties += 1
        else:
            self._scope(key, None).window.pause(now, seconds)
            self.stats.chat_penalties += 1

    def retry_after(self, chat_id: str | int, seconds: float) -> str:
        """Honour a 429 for a message to ``chat_id``; returns the scope that was paused.

        Telegram does not say which limit was hit, so the chat that got it waits. A chat
        we had not written to for :data:`IDLE_CHAT_SECONDS` had room in its own window,
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
            window = self._global
        elif key in self._chats:
            window = self._chats[key].window
        else:
            return 0.0
        return max(window.paused_until - now, 0.0)

    @property
    def waiting(self) -> int:
        """How many senders are queued for the global window right now."""
        return sum(1 for w in (*self._urgent, *self._waiters) if not w.done())

    async def close(self) -> None:
        """Stop the dispatcher and release anything still queued (they get CancelledError)."""
        task, self._dispatcher = self._dispatcher, None
        for waiter in (*self._urgent, *self._waiters):
            waiter.cancel()
        self._waiters.clear()
        self._urgent.clear()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
