"""The Telegram limiter is strict: for any sends, latencies and CPU stalls, the server never
sees more than the limit in any sliding window, globally or per chat (virtual clock)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from digestbot.delivery.ratelimit import RateLimiter, answered, chat_kind

GLOBAL_RATE = 5.0
GROUP_PER_MINUTE = 3.0
CHATS = ("11", "12", "13", "-1001", "-1002")


@dataclass
class VirtualClock:
    """The running loop's clock, made to skip its sleeps; :meth:`stall` is a busy CPU:
    time passes and nothing runs, so every timer due meanwhile fires late at once."""

    skipped: float = 0.0
    now: Callable[[], float] = lambda: 0.0

    def stall(self, seconds: float) -> None:
        self.skipped += seconds


@contextlib.contextmanager
def virtual_clock() -> Iterator[VirtualClock]:
    loop = asyncio.get_running_loop()
    selector: Any = loop._selector  # type: ignore[attr-defined]
    real_select, real_time = selector.select, loop.time
    clock = VirtualClock()
    # real time is left out: the clock moves only by skipped sleeps and stalls
    start = real_time()

    def now() -> float:
        return start + clock.skipped

    def select(timeout: float | None = None) -> Any:
        events = real_select(0)
        if not events and timeout is not None and timeout > 0:
            clock.skipped += timeout
        return events

    clock.now = now
    selector.select, loop.time = select, now  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        selector.select, loop.time = real_select, real_time  # type: ignore[method-assign]


def most_in_a_window(times: list[float], window: float) -> int:
    """The most of ``times`` in any half-open window (t - window, t]."""
    times = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


Send = tuple[int, float, float, float, float, bool]
"""(chat index, stall after the grant, latency, where in it the server sees it, stall after,
whether the answer is reported as it arrives, before that stall: the HTTP client's hook)."""

sends_strategy = st.lists(
    st.tuples(
        st.integers(0, len(CHATS) - 1),
        st.sampled_from([0.0, 0.0, 0.05, 0.4, 1.3]),
        st.floats(0.0, 0.5),
        st.floats(0.0, 1.0),
        st.sampled_from([0.0, 0.0, 0.0, 0.2, 2.5]),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


async def run_sends(sends: list[Send], concurrency: int) -> dict[str, list[float]]:
    """Run ``sends`` through one limiter; the times the server saw each, by scope."""
    seen: dict[str, list[float]] = defaultdict(list)
    with virtual_clock() as clock:
        limiter = RateLimiter(GLOBAL_RATE, GROUP_PER_MINUTE, 1.0, clock=clock.now)
        slots = asyncio.Semaphore(concurrency)

        async def send(
            chat_index: int, stall: float, latency: float, at: float, busy: float, hook: bool
        ) -> None:
            chat = CHATS[chat_index]
            async with slots, limiter.sending(chat):
                clock.stall(stall)  # the CPU is busy between the grant and the send
                await asyncio.sleep(latency * at)
                seen["global"].append(clock.now())
                seen[chat].append(clock.now())
                await asyncio.sleep(latency * (1 - at))
                if hook:
                    answered()  # the answer arrived (its headers read) ...
                clock.stall(busy)  # ... and the CPU is busy before the task resumes

        await asyncio.gather(*(send(*s) for s in sends))
        await limiter.close()
    return seen


def assert_strict(seen: dict[str, list[float]]) -> None:
    assert most_in_a_window(seen["global"], 1.0) <= int(GLOBAL_RATE), sorted(seen["global"])
    for chat in CHATS:
        if chat_kind(chat) == "private":
            assert most_in_a_window(seen[chat], 1.0) <= 1, (chat, sorted(seen[chat]))
        else:
            assert most_in_a_window(seen[chat], 60.0) <= int(GROUP_PER_MINUTE), (chat, seen[chat])


@settings(max_examples=80, deadline=None)
@given(sends=sends_strategy, concurrency=st.sampled_from([1, 4, 64]))
def test_no_sliding_window_ever_holds_more_than_the_limit(
    sends: list[Send], concurrency: int
) -> None:
    seen = asyncio.run(run_sends(sends, concurrency))
    assert len(seen["global"]) == len(sends)
    assert_strict(seen)


def test_a_long_fan_out_with_stalls_stays_strict_and_near_the_rate() -> None:
    rng = random.Random(14)
    # 300 private chats: the global limit is what binds; one send in ten stalls 0.3 s
    sends = [
        (rng.choice([0.0] * 9 + [0.3]), rng.uniform(0.0, 0.05), rng.random()) for _ in range(300)
    ]

    async def fan_out() -> list[float]:
        seen: list[float] = []
        with virtual_clock() as clock:
            limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock.now)
            slots = asyncio.Semaphore(64)

            async def send(n: int, stall: float, latency: float, at: float) -> None:
                async with slots, limiter.sending(str(1000 + n)):
                    clock.stall(stall)
                    await asyncio.sleep(latency * at)
                    seen.append(clock.now())
                    await asyncio.sleep(latency * (1 - at))

            await asyncio.gather(*(send(n, *s) for n, s in enumerate(sends)))
            await limiter.close()
        return sorted(seen)

    times = asyncio.run(fan_out())
    assert most_in_a_window(times, 1.0) <= 30
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate >= 20.0, rate
