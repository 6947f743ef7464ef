"""The bot under flood: one user's burst neither stalls another user nor floods the chat."""

from __future__ import annotations

import asyncio
import time

from digestbot.bot.updates import FloodGuard
from test_bot import ANN, BOB, Running, running

__all__ = ["running"]  # the fixture, shared with test_bot.py

CARD_TITLE = "用更少的 Token 预训练小型基础语言模型"
SLOW_DOWN_ZH = "你发得太快了"


async def worked_off(running: Running) -> None:
    """Until every update was taken and handled (replies included)."""
    processor = running.application.update_processor
    deadline = time.monotonic() + 15.0
    while running.fake.pending_updates() or processor.current_concurrent_updates:
        assert time.monotonic() < deadline, "the updates were not worked off in 15 s"
        await asyncio.sleep(0.02)


async def test_a_flood_from_one_user_does_not_delay_another(running: Running) -> None:
    fake = running.fake
    for _ in range(60):
        fake.send_user_message(ANN, "/paper 2404.08634", language_code="zh-hans")
    asked = time.monotonic()  # the stand-in stamps messages with time.monotonic
    [help_] = await running.say(BOB, "/help", lang="en")
    assert "Weekly AI Papers" in running.text(help_)
    assert help_.sent_at - asked < 1.0

    await worked_off(running)  # what Ann got is all she will get
    got = [running.text(m) for m in fake.messages(ANN)]
    slow_downs = [text for text in got if text.startswith(SLOW_DOWN_ZH)]
    cards = [text for text in got if text.startswith(CARD_TITLE)]
    assert len(slow_downs) == 1  # one "slow down", in her language
    assert 1 <= len(cards) <= 6  # the first few answered (a burst of five, one refill)
    assert len(got) == len(cards) + 1  # the rest dropped
    assert fake.count_429 == 0  # replies kept the chat's limit instead of meeting 429s


async def test_the_slow_down_reply_speaks_english_to_an_english_user(running: Running) -> None:
    for _ in range(12):
        running.fake.send_user_message(BOB, "/frobnicate", language_code="en")
    async with asyncio.timeout(15.0):  # replies keep the chat's pace: about 1 a second
        await running.fake.wait_for_messages_async(BOB, 6)
    await worked_off(running)
    got = [running.text(m) for m in running.fake.messages(BOB)]
    assert len(got) == 6  # five answered, then one "slow down", the rest dropped
    assert got[-1].startswith("You are sending commands faster than I can answer")
    assert got[:5] == [got[0]] * 5 and "/help" in got[0]


def test_flood_guard_warns_once_then_drops_until_the_user_pauses() -> None:
    now = [0.0]
    guard = FloodGuard(rate=1.0, burst=3.0, clock=lambda: now[0])
    assert [guard.admit(7) for _ in range(3)] == ["answer"] * 3
    assert guard.admit(7) == "warn"
    assert [guard.admit(7) for _ in range(20)] == ["drop"] * 20
    assert guard.admit(8) == "answer"  # others are not affected
    now[0] = 1.5  # still flooded: dropped updates cost tokens too
    assert guard.admit(7) == "drop"
    now[0] = 6.0  # a pause of a few seconds
    assert guard.admit(7) == "answer"
    assert [guard.admit(7) for _ in range(2)] == ["answer", "warn"]
