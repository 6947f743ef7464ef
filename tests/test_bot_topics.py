"""Topics in the bot, end to end through the Bot API stand-in: /topics buttons, /follow by
slug, Chinese name and keywords, /following, /unfollow, and the personal message each follower
gets when an issue is published (exactly their papers, once; nothing for a non-match)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from digestbot.bot.application import BotApplication, build_bot
from digestbot.render.telegram import check_telegram_html
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.wiring import build_service
from fake_telegram import FakeTelegram, SentMessage

ANN = 2001  # reads Chinese, follows 长上下文 by its Chinese name
BOB = 2002  # reads English, follows the slug "reasoning"
CY = 2003  # reads English, follows the keywords "feedback attention"
DAN = 2004  # reads English, follows "moe": no paper of the week
WEEK = "2024-W16"
TIMEOUT = 5.0
MEGALODON = "Megalodon: Efficient LLM Pretraining"
FAM = "TransformerFAM: Feedback attention is working memory"
SELF_IMPROVE = "Toward Self-Improvement of LLMs"


@dataclass
class Running:
    fake: FakeTelegram
    service: Service

    async def say(self, user: int, text: str) -> str:
        """``user`` writes ``text`` in their private chat; the bot's answer as shown."""
        before = len(self.fake.messages(user))
        self.fake.send_user_message(user, text)
        async with asyncio.timeout(TIMEOUT):
            got = await self.fake.wait_for_messages_async(user, before + 1)
        check_telegram_html(got[-1].text)
        return self.fake.visible_text(got[-1])

    async def until(self, predicate: Callable[[], Any]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.01)


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@pytest.fixture
async def running(env: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake = FakeTelegram()
    fake.start()
    fake.add_private_chat(ANN, "安", language_code="zh-hans")
    for user, name in ((BOB, "Bob"), (CY, "Cy"), (DAN, "Dan")):
        fake.add_private_chat(user, name, language_code="en")
    settings = load_settings(telegram={"token": fake.token, "api_url": fake.base_url})
    service = build_service(settings)
    await service.start()
    service.build_index()
    application: BotApplication = build_bot(service)
    try:
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling()
        yield Running(fake, service)
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await service.close()
        fake.stop()


async def test_followers_get_exactly_their_papers_once(running: Running) -> None:
    assert "已关注长上下文" in await running.say(ANN, "/follow 长上下文")
    assert "You follow LLM reasoning" in await running.say(BOB, "/follow reasoning")
    said = await running.say(CY, "/follow Feedback Attention")
    assert "You follow the search “feedback attention”" in said
    assert "You follow Mixture of Experts" in await running.say(DAN, "/follow moe")
    await running.say(CY, "/lang zh")  # a later /lang choice decides the personal language
    assert "already follow" in await running.say(DAN, "/follow Mixture of Experts")

    before = {u: len(running.fake.messages(u)) for u in (ANN, BOB, CY, DAN)}
    report = await running.service.publish(WEEK)
    assert report.complete, report.lines()
    got = {u: running.fake.messages(u)[before[u] :] for u in (ANN, BOB, CY, DAN)}

    [ann] = got[ANN]
    text = running.fake.visible_text(ann)
    assert "本期有 2 篇论文与你关注的主题相关" in text
    assert MEGALODON in text and FAM in text and SELF_IMPROVE not in text
    assert "Scaling (Down) CLIP" not in text
    [bob] = got[BOB]
    text = running.fake.visible_text(bob)
    assert "1 paper of this issue matches what you follow" in text
    assert SELF_IMPROVE in text and MEGALODON not in text and FAM not in text
    [cy] = got[CY]
    text = running.fake.visible_text(cy)
    assert FAM in text and MEGALODON not in text
    assert "本期有 1 篇论文与你关注的主题相关" in text
    assert got[DAN] == []  # nothing of this week matches: no message at all

    # publishing again sends nothing more to anyone
    again = await running.service.publish(WEEK)
    assert again.already_published
    for user in (ANN, BOB, CY, DAN):
        assert len(running.fake.messages(user)) == before[user] + len(got[user])


async def test_following_unfollow_and_topic_buttons(running: Running) -> None:
    assert "You follow nothing yet" in await running.say(BOB, "/following")
    await running.say(BOB, "/follow long-context")
    await running.say(BOB, "/follow speculative decoding")
    listed = await running.say(BOB, "/following")
    assert "• Long context" in listed and "• “speculative decoding”" in listed
    assert "no longer follow speculative decoding" in await running.say(
        BOB, "/unfollow speculative decoding"
    )
    assert "did not follow" in await running.say(BOB, "/unfollow robotics")

    await running.say(BOB, "/topics")
    [menu] = running.fake.messages(BOB)[-1:]
    labels = dict((data, label) for label, data in buttons(menu))
    assert labels["tf:long-context"] == "✓ Long context"
    assert labels["tf:agents"] == "Agents"
    running.fake.press_button(BOB, menu, "tf:agents")
    await running.until(lambda: running.fake.callback_answers)
    assert running.fake.callback_answers[-1]["text"] == "Following Agents"

    def current() -> SentMessage:
        [now] = [m for m in running.fake.messages(BOB) if m.message_id == menu.message_id]
        return now

    await running.until(lambda: ("✓ Agents", "tf:agents") in buttons(current()))
    assert ("✓ Long context", "tf:long-context") in buttons(current())
    listed = await running.say(BOB, "/following")
    assert "• Agents" in listed and "• Long context" in listed
    assert "follow nothing now" in await running.say(BOB, "/unfollow all")
    assert await running.service.following(*_bob()) == []


def _bob() -> tuple[Any, str]:
    from digestbot.models import Channel

    return Channel.TELEGRAM, str(BOB)


async def test_help_and_command_menu_name_the_topic_commands(running: Running) -> None:
    said = await running.say(BOB, "/help")
    assert "/topics" in said and "/follow <topic | keywords>" in said
    menu = {c["command"] for c in running.fake.commands()}
    assert {"topics", "follow", "following", "unfollow"} <= menu
