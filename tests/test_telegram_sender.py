"""Telegram delivery: the rate limiter against simulated Telegram buckets, and the sender
through real python-telegram-bot over HTTP to the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from digestbot.delivery.ledger import Delivery
from digestbot.delivery.ratelimit import GLOBAL, RateLimiter, chat_kind
from digestbot.delivery.senders import Content, Job, LeaseLost, RenderOptions
from digestbot.delivery.telegram import TelegramSender
from digestbot.errors import PermanentDeliveryError, SettingsError, TransientDeliveryError
from digestbot.models import Channel, Issue, Language
from digestbot.render.templates import Templates
from digestbot.settings import ChannelSettings, TelegramSettings, load_settings
from digestbot.wiring import build_service
from fake_telegram import FakeTelegram, RateLimits
from fake_telegram.limits import report_over_limit
from render_samples import make_issue, make_paper

TOKEN = "123456:TEST-sender"
CHANNEL = -1001001
NAMED_CHANNEL = -1001002
ANN = 501
BOB = 502


# ====================================================================== virtual time


@contextlib.contextmanager
def virtual_time() -> Iterator[Callable[[], float]]:
    """Make the running loop skip its sleeps: when nothing is ready it jumps to the next
    timer, so minutes of rate limiting run in milliseconds, deterministically."""
    loop = asyncio.get_running_loop()
    selector: Any = loop._selector  # type: ignore[attr-defined]
    real_select, real_time = selector.select, loop.time
    skipped = 0.0

    def now() -> float:
        return real_time() + skipped

    def select(timeout: float | None = None) -> Any:
        nonlocal skipped
        events = real_select(0)
        if not events and timeout is not None and timeout > 0:
            skipped += timeout
        return events

    selector.select, loop.time = select, now  # type: ignore[method-assign]
    try:
        yield now
    finally:
        selector.select, loop.time = real_select, real_time  # type: ignore[method-assign]


LIMITER_IS_STRICT = True
"""Whether delivery/ratelimit.py keeps Telegram's limits as strict sliding windows, as
the stand-in counts them. Its token buckets release a burst on top of the rate, which a
strict server refuses (issue 14 item 4); until the strict limiter lands, the tests below
measure the requests over the limit and report them at the end of the run (tests/conftest.py)
instead of failing. Set it True with the strict limiter: then any such request fails."""


def within_limits(test: str, over: int) -> None:
    report_over_limit(test, over, strict=LIMITER_IS_STRICT)


def per_part(checkpoints: list[int]) -> list[int]:
    """The checkpoints, each once: a part refused with 429 is checkpointed again before
    its retry, which only the strict limiter rules out."""
    return checkpoints if LIMITER_IS_STRICT else list(dict.fromkeys(checkpoints))


@dataclass
class SimulatedTelegram:
    """Telegram's flood control counted strictly, as the stand-in does: at most ``limit``
    requests in any sliding ``window`` seconds, globally and per chat."""

    clock: Callable[[], float]
    accepted: list[tuple[float, str]] = field(default_factory=list)
    refused: list[tuple[float, str]] = field(default_factory=list)
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def send(self, chat: str) -> bool:
        now = self.clock()
        scopes = {
            "global": (30, 1.0),
            chat: (1, 1.0) if chat_kind(chat) == "private" else (20, 60.0),
        }
        for scope, (limit, window) in scopes.items():
            seen = self._seen.setdefault(scope, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= limit:
                self.refused.append((now, chat))
                return False
        for scope in scopes:
            self._seen[scope].append(now)
        self.accepted.append((now, chat))
        return True


def steady_rate(times: list[float], skip: int) -> float:
    """Messages per second after the first ``skip`` (the initial burst)."""
    return (len(times) - 1 - skip) / (times[-1] - times[skip])


# ====================================================================== the limiter


async def test_global_pace_reaches_the_limit_without_a_single_429() -> None:
    with virtual_time() as clock:
        server = SimulatedTelegram(clock)
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)
        chats = iter(range(1, 100_000))

        async def worker() -> None:
            while len(server.accepted) + len(server.refused) < 1500:
                chat = str(next(chats))
                async with limiter.sending(chat, "private"):
                    server.send(chat)

        await asyncio.gather(*(worker() for _ in range(64)))
        await limiter.close()
    within_limits("limiter: global pace", len(server.refused))
    rate = steady_rate([t for t, _ in server.accepted], skip=100)
    assert 0.93 * 30 <= rate <= 30.0 * 1.0001, rate


async def test_bot_replies_go_ahead_of_a_broadcast_and_share_its_limit() -> None:
    # digestbot run: the sender fans out at the global limit while a user asks the bot;
    # the reply waits for one token, not for the broadcast's queue, and the two together
    # never exceed the limit
    with virtual_time() as clock:
        server = SimulatedTelegram(clock)
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)
        chats = iter(range(1, 100_000))
        replied: list[float] = []

        async def broadcast() -> None:
            while len(server.accepted) < 600:
                chat = str(next(chats))
                async with limiter.sending(chat, "private"):
                    server.send(chat)

        async def user_asks() -> None:
            await asyncio.sleep(5.0)  # the broadcast's queue is full by now
            asked = clock()
            async with limiter.replying():
                replied.append(clock() - asked)
                server.send("424242")

        await asyncio.gather(*(broadcast() for _ in range(64)), user_asks())
        await limiter.close()
    within_limits("limiter: replies during a broadcast", len(server.refused))
    assert replied and replied[0] <= 2 / 30, replied  # a token or two, not 64 of them
    rate = steady_rate([t for t, _ in server.accepted], skip=100)
    assert rate <= 30.0 * 1.0001, rate


async def test_jittered_arrivals_stay_inside_the_servers_burst() -> None:
    """Requests reach the server 0-200 ms after the grant, out of order: no 429 from a
    server that counts sliding windows strictly."""
    rng = random.Random(7)
    with virtual_time() as clock:
        server = SimulatedTelegram(clock)
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)

        async def one(chat: str) -> None:
            for _ in range(3):
                async with limiter.sending(chat):
                    await asyncio.sleep(rng.uniform(0.0, 0.2))
                    assert server.send(chat)
                    await asyncio.sleep(rng.uniform(0.0, 0.1))  # the answer comes back

        chats = [str(n) for n in range(1, 301)] + [str(-100 - n) for n in range(10)]
        sem = asyncio.Semaphore(64)

        async def bounded(chat: str) -> None:
            async with sem:
                await one(chat)

        await asyncio.gather(*(bounded(c) for c in chats))
        await limiter.close()
    within_limits("limiter: jittered arrivals", len(server.refused))
    assert len(server.accepted) + len(server.refused) == 3 * len(chats)


async def test_group_and_private_scopes_keep_their_own_limits() -> None:
    with virtual_time() as clock:
        server = SimulatedTelegram(clock)
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)

        async def burst(chat: str, n: int) -> list[float]:
            times = []
            for _ in range(n):
                async with limiter.sending(chat):
                    assert server.send(chat), chat
                times.append(clock())
            return times

        group, private = await asyncio.gather(burst("-100777", 40), burst("@channel", 0))
        private = await burst("42", 6)
        await limiter.close()
    within_limits("limiter: group and private scopes", len(server.refused))
    start = group[0]
    # 20 at the global pace, then the next 20 a minute (and a margin) after the first
    assert group[19] - start <= 19 / 30 + 0.01
    assert 60.0 < group[20] - start <= 60.02
    assert group[39] - group[20] <= 19 / 30 + 0.01
    gaps = [b - a for a, b in itertools.pairwise(private)]
    assert all(1.0 < g <= 1.01 for g in gaps), gaps


async def test_penalized_chat_waits_alone_and_global_penalty_pauses_everyone() -> None:
    with virtual_time() as clock:
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)
        t0 = clock()
        limiter.penalize("7", 5.0)
        assert limiter.paused_for("7") == pytest.approx(5.0, abs=0.01)

        async def when(chat: str) -> float:
            await limiter.acquire(chat)
            return clock() - t0

        slow, fast = await asyncio.gather(when("7"), when("8"))
        assert slow == pytest.approx(5.0, abs=0.01)
        assert fast < 0.01

        limiter.penalize(GLOBAL, 2.0)
        t1 = clock()
        waited = await asyncio.gather(*(when(str(c)) for c in (9, 10, -1003)))
        assert all(w - (t1 - t0) >= 2.0 - 1e-6 for w in waited)
        await limiter.close()


async def test_chats_waiting_on_their_own_scope_do_not_starve_others() -> None:
    """200 chats sitting out a 10 s penalty hold no global tokens: the rest flow at 30/s."""
    with virtual_time() as clock:
        server = SimulatedTelegram(clock)
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)
        blocked = [str(1000 + n) for n in range(200)]
        t0 = clock()
        for chat in blocked:
            limiter.penalize(chat, 10.0)
        flowing: list[float] = []

        async def blocked_one(chat: str) -> float:
            async with limiter.sending(chat):
                assert server.send(chat)
            return clock() - t0

        async def stream() -> None:
            for n in range(240):
                chat = str(5000 + n)
                await limiter.acquire(chat)
                server.send(chat)
                flowing.append(clock() - t0)

        _, late = await asyncio.gather(stream(), asyncio.gather(*(blocked_one(c) for c in blocked)))
        await limiter.close()
    assert flowing[-1] < 240 / 30 + 0.2  # the stream never waited for the blocked chats
    assert min(late) >= 10.0 - 1e-6  # and the blocked ones kept their penalty
    within_limits("limiter: chats waiting on their own scope", len(server.refused))


async def test_retry_after_pauses_the_chat_and_idle_chats_at_once_pause_everyone() -> None:
    with virtual_time() as clock:
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock)
        await limiter.acquire("12")
        await limiter.acquire("12")
        assert limiter.retry_after("12", 4.0) == "12"  # a busy chat: only that chat waits
        assert limiter.paused_for("12") == pytest.approx(4.0, abs=0.01)
        assert limiter.paused_for(GLOBAL) == 0.0

        # First messages to chats with room of their own, refused together: the global limit
        for n, chat in enumerate(("21", "22", "-10023")):
            await limiter.acquire(chat)
            scope = limiter.retry_after(chat, 3.0)
            assert scope == (GLOBAL if n == 2 else chat)
        assert limiter.paused_for(GLOBAL) == pytest.approx(3.0, abs=0.01)
        await limiter.close()


async def test_cancelled_waiters_do_not_jam_the_queue() -> None:
    with virtual_time() as clock:
        limiter = RateLimiter(2.0, 20.0, 1.0, clock=clock)
        for n in range(2):
            await limiter.acquire(str(n))
        waiting = [asyncio.create_task(limiter.acquire(str(10 + n))) for n in range(5)]
        await asyncio.sleep(0)
        assert limiter.waiting == 5
        for task in waiting[:4]:
            task.cancel()
        await asyncio.gather(*waiting[:4], return_exceptions=True)
        await asyncio.wait_for(waiting[4], timeout=1.1)  # 2 a second: the third at 1.005 s
        await asyncio.wait_for(limiter.acquire("99"), timeout=1.1)
        await limiter.close()


async def test_scopes_of_idle_chats_are_forgotten() -> None:
    with virtual_time() as clock:
        limiter = RateLimiter(1000.0, 20.0, 1.0, clock=clock)
        for n in range(5000):
            await limiter.acquire(str(n))
        await asyncio.sleep(61)
        for n in range(5000, 6100):
            await limiter.acquire(str(n))
        await limiter.close()
    assert len(limiter._chats) < 2000  # memory stays bounded over a 100k-reader fan-out


def test_chat_kind() -> None:
    assert chat_kind("123") == "private"
    assert chat_kind(-100123) == "group"
    assert chat_kind("@channel") == "group"


# ====================================================================== the sender


def content_for(issue: Issue | None = None) -> Content:
    return Content(
        issue or make_issue(count=20),
        RenderOptions(templates=Templates()),
        lambda channel, address: f"https://digest.example/unsubscribe/{address}",
    )


class FixedContent(Content):
    """Content whose Telegram parts are given (to send what the renderer never would)."""

    def __init__(self, parts: list[str]) -> None:
        super().__init__(make_issue(count=1), RenderOptions(templates=Templates()), lambda c, a: a)
        self.parts = parts

    def telegram(self, lang: Language) -> list[str]:
        return self.parts


@dataclass
class Tracker:
    """The publisher's side of a job: checkpoints seen, migrations reported."""

    lease_until_part: int | None = None
    checkpoints: list[int] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)

    async def checkpoint(self, n: int) -> bool:
        self.checkpoints.append(n)
        return self.lease_until_part is None or n < self.lease_until_part

    async def on_migrated(self, new_address: str) -> None:
        self.migrated.append(new_address)


def make_job(
    address: str | int, lang: Language = Language.BOTH, *, parts_sent: int = 0, id: int = 1
) -> tuple[Job, Tracker]:
    delivery = Delivery(
        id=id,
        issue_id=1,
        channel=Channel.TELEGRAM,
        address=str(address),
        transport="telegram",
        lang=lang,
        subscriber_id=None,
        parts_sent=parts_sent,
        attempts=1,
        lease_owner="test",
    )
    tracker = Tracker()
    return Job(delivery, tracker.checkpoint, tracker.on_migrated, parts_sent), tracker


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as fake:
        fake.add_channel(CHANNEL, "Weekly AI Papers")
        fake.add_channel(NAMED_CHANNEL, "每周AI论文速递", username="ai_papers_zh")
        fake.add_private_chat(ANN, "Ann")
        fake.add_private_chat(BOB, "Bob")
        yield fake


@contextlib.asynccontextmanager
async def running(tg: FakeTelegram, **kwargs: Any) -> AsyncIterator[TelegramSender]:
    """A started TelegramSender on the fake; closed however the test ends."""
    sender = TelegramSender(TelegramSettings(token=TOKEN, api_url=tg.base_url), **kwargs)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


@pytest.fixture
async def sender(tg: FakeTelegram) -> AsyncIterator[TelegramSender]:
    async with running(tg, retry_backoff=0.01) as s:
        yield s


async def test_a_wrong_token_is_a_settings_error(tg: FakeTelegram) -> None:
    sender = TelegramSender(TelegramSettings(token="999:WRONG", api_url=tg.base_url))
    with pytest.raises(SettingsError, match="DIGESTBOT_TELEGRAM__TOKEN"):
        await sender.start()
    with pytest.raises(SettingsError, match="DIGESTBOT_TELEGRAM__TOKEN is empty"):
        await TelegramSender(TelegramSettings()).start()


async def test_channel_and_private_chats_get_the_issue_in_order(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    content = content_for()
    jobs = {
        CHANNEL: make_job(CHANNEL, Language.BOTH, id=1),
        NAMED_CHANNEL: make_job("@ai_papers_zh", Language.ZH, id=2),
        ANN: make_job(ANN, Language.EN, id=3),
        BOB: make_job(BOB, Language.ZH, id=4),
    }
    langs = {CHANNEL: Language.BOTH, NAMED_CHANNEL: Language.ZH, ANN: Language.EN, BOB: Language.ZH}
    counts = await asyncio.gather(*(sender.deliver(job, content) for job, _ in jobs.values()))

    for (chat, (job, tracker)), count in zip(jobs.items(), counts, strict=True):
        parts = content.telegram(langs[chat])
        assert len(parts) >= 2 and count == len(parts) == job.parts_sent
        assert [m.text for m in tg.messages(chat)] == parts, chat
        assert all(m.parse_mode == "HTML" for m in tg.messages(chat))
        assert per_part(tracker.checkpoints) == list(range(len(parts)))
    assert "反馈注意力" in tg.visible_text(tg.messages(NAMED_CHANNEL)[0])
    call = tg.calls("sendMessage")[0]
    assert call["link_preview_options"] == {"is_disabled": True}
    assert sender.sent_messages == sum(counts) and sender.count_429 == tg.count_429
    within_limits("sender: channel and private chats", tg.count_429)


async def test_the_last_part_carries_the_button_to_the_web_issue(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    content = Content(
        make_issue(count=20),
        RenderOptions(templates=Templates(), public_url="https://digest.example.com"),
        lambda channel, address: f"https://digest.example.com/unsubscribe/{address}",
    )
    job, _ = make_job(CHANNEL, Language.EN)
    count = await sender.deliver(job, content)
    sent = tg.messages(CHANNEL)
    assert count == len(sent) >= 2
    assert [m.reply_markup for m in sent[:-1]] == [None] * (count - 1)
    assert sent[-1].reply_markup == {
        "inline_keyboard": [
            [
                {
                    "text": "Read this issue online",
                    "url": "https://digest.example.com/issues/2024-W16",
                }
            ]
        ]
    }
    for k, message in enumerate(sent, 1):  # each part says which it is
        assert tg.visible_text(message).split("\n", 1)[0].endswith(f" {k}/{count}")
    assert "/issues/" not in sent[-1].text  # the button is the link


async def test_resumes_after_the_parts_already_sent(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    content = content_for()
    parts = content.telegram(Language.BOTH)
    job, tracker = make_job(ANN, parts_sent=1)
    assert await sender.deliver(job, content) == len(parts)
    assert [m.text for m in tg.messages(ANN)] == parts[1:]
    assert per_part(tracker.checkpoints) == list(range(1, len(parts)))
    within_limits("sender: resuming a private chat", tg.count_429)


async def test_lost_lease_stops_before_sending(tg: FakeTelegram, sender: TelegramSender) -> None:
    content = content_for()
    job, tracker = make_job(CHANNEL)
    tracker.lease_until_part = 0
    with pytest.raises(LeaseLost):
        await sender.deliver(job, content)
    assert tg.messages(CHANNEL) == [] and tg.calls("sendMessage") == []

    job, tracker = make_job(BOB)
    tracker.lease_until_part = 1  # another worker takes over after part 1
    with pytest.raises(LeaseLost):
        await sender.deliver(job, content)
    assert len(tg.messages(BOB)) == 1 and job.parts_sent == 1


async def test_blocked_user_and_unknown_chat_deactivate(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    tg.block(ANN)
    job, _ = make_job(ANN)
    with pytest.raises(PermanentDeliveryError, match="blocked by the user") as blocked:
        await sender.deliver(job, content_for())
    assert blocked.value.deactivate

    job, _ = make_job(777)
    with pytest.raises(PermanentDeliveryError, match=r"(?i)chat not found") as missing:
        await sender.deliver(job, content_for())
    assert missing.value.deactivate
    assert tg.messages(ANN) == []


async def test_bad_html_is_permanent_but_keeps_the_subscriber(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    job, _ = make_job(BOB)
    with pytest.raises(PermanentDeliveryError, match=r"(?i)can't parse entities") as bad:
        await sender.deliver(job, FixedContent(["<b>fine</b>", "<b>unclosed"]))
    assert not bad.value.deactivate
    assert job.parts_sent == 1 and len(tg.messages(BOB)) == 1
    assert sender.stats.rejected == 1


async def test_chat_migration_is_followed(tg: FakeTelegram, sender: TelegramSender) -> None:
    tg.add_group(-4001, "Readers", supergroup=False)
    tg.migrate(-4001, -1004001)
    content = content_for()
    job, tracker = make_job(-4001)
    count = await sender.deliver(job, content)
    assert tracker.migrated == ["-1004001"]
    assert [m.text for m in tg.messages(-1004001)] == content.telegram(Language.BOTH)
    assert count == len(content.telegram(Language.BOTH)) and tg.messages(-4001) == []
    assert sender.stats.migrated == 1


async def test_server_errors_are_retried_in_place(tg: FakeTelegram) -> None:
    # this test is about retries, not pacing: a fast private rate
    async with running(tg, retry_backoff=0.01, limiter=RateLimiter(private_rate=50)) as sender:
        await server_errors_are_retried(tg, sender)


async def server_errors_are_retried(tg: FakeTelegram, sender: TelegramSender) -> None:
    tg.fail_next(BOB, 502, n=2)
    content = content_for()
    assert await sender.deliver(make_job(BOB)[0], content) == len(content.telegram(Language.BOTH))
    assert [m.text for m in tg.messages(BOB)] == content.telegram(Language.BOTH)
    assert sender.stats.retried == 2

    tg.fail_next(ANN, 500, n=10)
    job, _ = make_job(ANN)
    with pytest.raises(TransientDeliveryError, match="Internal Server Error") as exc:
        await sender.deliver(job, content)
    assert exc.value.retry_after is None and job.parts_sent == 0
    assert sender.stats.retried == 2 + sender.network_retries


async def test_long_retry_after_is_handed_back_to_the_publisher(
    tg: FakeTelegram, sender: TelegramSender
) -> None:
    tg.fail_next(BOB, 429, retry_after=120)
    job, _ = make_job(BOB)
    with pytest.raises(TransientDeliveryError) as exc:
        await sender.deliver(job, content_for())
    assert exc.value.retry_after == 120
    # handed back at once: one refused request, no retry slept through in place
    assert len(tg.calls("sendMessage")) == 1 and tg.messages(BOB) == []
    assert sender.count_429 == 1


async def test_retry_after_for_one_chat_does_not_stall_another() -> None:
    # Telegram (the fake) allows one message per 2 s into a private chat; we pace at 1/s.
    limits = RateLimits(private_window=2.0)
    with FakeTelegram(token=TOKEN, limits=limits) as tg:
        tg.add_private_chat(ANN, "Ann")
        tg.add_channel(CHANNEL, "Weekly AI Papers")
        content = content_for(make_issue(count=10))
        parts = content.telegram(Language.BOTH)
        async with running(tg) as sender:

            async def deliver(chat: int) -> None:
                await sender.deliver(make_job(chat)[0], content)

            await asyncio.gather(deliver(ANN), deliver(CHANNEL))
        assert [m.text for m in tg.messages(ANN)] == parts  # every part, in order
        assert [m.text for m in tg.messages(CHANNEL)] == parts
        assert tg.count_429_for(ANN) >= 1 and tg.count_429_for(CHANNEL) == 0
        assert sender.count_429 == tg.count_429
        # Ann's parts are 2 s apart at best; the channel was done before her second one
        ann, channel = tg.messages(ANN), tg.messages(CHANNEL)
        assert ann[-1].sent_at - ann[0].sent_at >= 2.0 * (len(parts) - 1) - 0.1
        assert channel[-1].sent_at < ann[1].sent_at
        gaps = [b.sent_at - a.sent_at for a, b in itertools.pairwise(tg.messages(ANN))]
        assert all(g >= 1.9 for g in gaps), gaps


async def test_many_private_chats_at_the_global_limit() -> None:
    """120 messages into 60 private chats through the real HTTP stack: ~30/s, no 429."""
    with FakeTelegram(token=TOKEN) as tg:
        chats = [10_000 + n for n in range(60)]
        for chat in chats:
            tg.add_private_chat(chat, f"Reader {chat}")
        content = FixedContent(["<b>part one</b>", "<i>part two</i>"])
        async with running(tg) as sender:
            sem = asyncio.Semaphore(sender.concurrency)

            async def deliver(n: int, chat: int) -> int:
                async with sem:
                    return await sender.deliver(make_job(chat, id=n)[0], content)

            counts = await asyncio.gather(*(deliver(n, c) for n, c in enumerate(chats)))
        assert counts == [2] * len(chats)
        within_limits("sender: 60 private chats at the global limit", tg.count_429)
        times = sorted(m.sent_at for m in tg.all_messages())
        assert len(times) == 120
        rate = steady_rate(times, skip=5)
        # never over Telegram's 30/s; how close it comes is measured by bench/fanout.py,
        # since a loaded machine may be slower than the limit without anything being wrong
        assert rate <= 30 * 1.05, rate


async def test_publish_through_the_service(env: Path) -> None:
    """`digestbot publish` with a token: channel and subscribers served, the blocked one
    deactivated, the migrated group's subscription moved, and a second run sends nothing."""
    with FakeTelegram(token=TOKEN) as tg:
        tg.add_channel(CHANNEL, "每周AI论文速递")
        tg.add_private_chat(ANN, "Ann")
        tg.add_private_chat(BOB, "Bob")
        tg.block(BOB)
        tg.add_group(-4001, "Readers", supergroup=False)
        tg.migrate(-4001, -1004001)
        settings = load_settings(
            telegram=TelegramSettings(
                token=TOKEN,
                api_url=tg.base_url,
                channels=[ChannelSettings(chat_id=CHANNEL, lang=Language.ZH)],
            )
        )
        async with build_service(settings) as service:
            await service.subscribe_telegram(str(ANN), Language.EN)
            await service.subscribe_telegram(str(BOB), Language.ZH)
            await service.subscribe_telegram("-4001", Language.BOTH)
            content = service.content_for(await service.issue_for(None))

            report = await service.publish()
            assert report.complete, report.lines()
            assert (report.channels["telegram"].sent, report.channels["telegram"].failed) == (3, 1)
            subscribers = {s.address: s for s in await service.subscribers.list(Channel.TELEGRAM)}
            assert subscribers[str(BOB)].status == "blocked"
            assert "-1004001" in subscribers and "-4001" not in subscribers

            assert (await service.publish()).already_published
        expected = {
            CHANNEL: Language.ZH,
            ANN: Language.EN,
            -1004001: Language.BOTH,
        }
        for chat, lang in expected.items():
            assert [m.text for m in tg.messages(chat)] == content.telegram(lang), chat
        assert tg.messages(BOB) == [] and tg.count_429 == 0


TELEGRAM_TEXT_LIMIT = 4096
"""Telegram's own limit on a message's text (UTF-16 units after HTML parsing), written out
here rather than read from the renderer, so a renderer that drifts from it fails."""


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def maximal_content() -> Content:
    """An issue whose papers are far too long for one message each, rendered with budgets
    that never shorten a summary: every message is packed or cut right up to the limit."""
    long_en = " ".join(f"word{i}😀" for i in range(900))
    long_zh = "反馈注意力😀" * 1200
    papers = [
        make_paper(n, summary_en=long_en[: 600 * n], summary_zh=long_zh[: 300 * n])
        for n in range(1, 13)
    ]
    return Content(
        make_issue(papers),
        RenderOptions(templates=Templates(), zh_chars=100_000, en_words=100_000),
        lambda channel, address: address,
    )


async def test_maximal_messages_fit_telegrams_limit_and_are_accepted() -> None:
    content = maximal_content()
    parts = content.telegram(Language.BOTH)
    fast = RateLimits(global_messages=1000, private_messages=100)
    with FakeTelegram(token=TOKEN, limits=fast) as tg:
        tg.add_private_chat(ANN, "Ann")
        settings = TelegramSettings(token=TOKEN, api_url=tg.base_url, private_rate=100)
        sender = TelegramSender(settings)
        await sender.start()
        try:
            assert await sender.deliver(make_job(ANN)[0], content) == len(parts)
        finally:
            await sender.close()
        delivered = tg.messages(ANN)
    assert [m.text for m in delivered] == parts
    lengths = [_utf16_units(tg.visible_text(m)) for m in delivered]
    assert max(lengths) <= TELEGRAM_TEXT_LIMIT
    assert max(lengths) > TELEGRAM_TEXT_LIMIT - 100, "the sample must fill messages to the limit"
