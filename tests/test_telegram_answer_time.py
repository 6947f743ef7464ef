"""A message holds its place in Telegram's windows from its grant until its answer
arrived, not until the task awaiting it gets the CPU back: slow work after the answer
(decoding it, a busy core) no longer slows the next message, and the place is never given
back before the server has counted the message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from telegram import Message

from digestbot.delivery.ratelimit import Permit, RateLimiter, answered
from digestbot.delivery.telegram import TelegramSender
from digestbot.models import Language
from digestbot.settings import TelegramSettings
from fake_telegram import FakeTelegram
from test_ratelimit_strict import virtual_clock
from test_telegram_sender import FixedContent, make_job

TOKEN = "123456:TEST-answer"
ANN = 601


async def test_the_next_message_waits_from_the_answer_not_from_the_busy_task() -> None:
    with virtual_clock() as clock:
        limiter = RateLimiter(30.0, 20.0, 1.0, clock=clock.now)
        start = clock.now()
        async with limiter.sending(ANN):
            await asyncio.sleep(0.05)  # the round trip
            answered()  # the response's headers are read
            clock.stall(0.4)  # then the CPU is busy before the task resumes
        async with limiter.sending(ANN):
            second = clock.now()
        await limiter.close()
    # one a second into a private chat, counted from the answer (+ the 5 ms margin)
    assert second - start == pytest.approx(0.05 + 1.005, abs=0.002)


async def test_a_task_started_while_sending_cannot_end_the_senders_place() -> None:
    limiter = RateLimiter()
    async with limiter.sending(ANN) as permit:
        # a task started in the block inherits its context (a group commit, say)
        await asyncio.create_task(_answer_elsewhere())
        assert permit.finished is None, "another task's answer ended this send's place"
        answered()
        assert permit.finished is not None
    await limiter.close()


async def _answer_elsewhere() -> None:
    answered()


async def test_answered_outside_a_send_does_nothing() -> None:
    answered()  # no permit in this context: nothing to end, nothing raised


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as fake:
        fake.add_private_chat(ANN, "Ann")
        yield fake


async def test_a_slow_decode_after_telegrams_answer_is_not_held_in_the_window(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through python-telegram-bot over HTTP: the place ends when the stand-in's answer
    arrived, after it counted the message, and before PTB decoded the answer."""
    decode = Message.de_json
    slow = 0.2

    def slow_decode(data: Any, bot: Any = None) -> Message | None:
        time.sleep(slow)  # a busy CPU between the answer and the awaiting task
        return decode(data, bot)

    monkeypatch.setattr(Message, "de_json", slow_decode)
    limiter = RateLimiter()
    sender = TelegramSender(TelegramSettings(token=TOKEN, api_url=tg.base_url), limiter=limiter)
    await sender.start()
    try:
        job, _tracker = make_job(ANN, Language.EN)
        await sender.deliver(job, FixedContent(["<b>Weekly AI Papers</b>: one part"]))
        returned = time.monotonic()
        permits: list[Permit] = list(limiter._global.permits)
    finally:
        await sender.close()
        await limiter.close()
    [message] = tg.all_messages()
    [permit] = permits
    assert permit.finished is not None
    # strict: the server had counted the message when the place's end was taken ...
    assert permit.finished >= message.sent_at
    # ... and the slow decode after the answer is not part of it
    assert returned - permit.finished >= slow
