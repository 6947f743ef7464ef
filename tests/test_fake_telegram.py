"""The fake Telegram Bot API answers python-telegram-bot exactly as Telegram would."""

from __future__ import annotations

import asyncio
import datetime as dtm
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from fake_telegram import (
    FakeTelegram,
    FloodControl,
    HtmlParseError,
    RateLimits,
    parse_html,
)

TOKEN = "123:ABC"
ANN = 42
BOB = 43
CHANNEL = -1001
GROUP = -100123


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, limits=RateLimits(private_messages=2)) as fake:
        fake.add_private_chat(ANN, first_name="Ann", language_code="zh-hans")
        fake.add_private_chat(BOB, first_name="Bob", language_code="en", username="bob")
        fake.add_channel(CHANNEL, "Weekly AI Papers", username="digest_channel")
        fake.add_group(GROUP, "Readers")
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=tg.base_url) as b:  # initialize() calls getMe
        yield b


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


def api(tg: FakeTelegram, method: str) -> str:
    return f"{tg.base_url}{tg.token}/{method}"


# ------------------------------------------------------------------ sending


async def test_valid_html_message_is_recorded(tg: FakeTelegram, bot: Bot) -> None:
    assert bot.username == "digest_test_bot"
    html = (
        '<b>每周AI论文速递</b> &amp; <a href="https://arxiv.org/abs/2401.1?a=1&amp;b=2">paper</a>'
    )
    message = await bot.send_message(ANN, html, parse_mode="HTML", reply_markup=keyboard("more"))

    assert message.text == "每周AI论文速递 & paper"
    assert message.from_user is not None and message.from_user.username == "digest_test_bot"
    assert message.chat.id == ANN and message.chat.first_name == "Ann"
    assert [e.type for e in message.entities] == ["bold", "text_link"]
    assert message.entities[1].url == "https://arxiv.org/abs/2401.1?a=1&b=2"
    assert message.reply_markup == keyboard("more")

    [sent] = tg.messages(ANN)
    assert (sent.message_id, sent.text, sent.parse_mode) == (message.message_id, html, "HTML")
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "more", "callback_data": "more"}]]}
    assert tg.visible_text(sent) == "每周AI论文速递 & paper"
    assert tg.all_messages() == [sent]
    assert tg.calls("sendMessage")[0]["chat_id"] == ANN  # typed back from form encoding


async def test_channel_by_username_answers_with_sender_chat(tg: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message("@digest_channel", "hello")
    assert message.chat.id == CHANNEL
    assert message.sender_chat is not None and message.sender_chat.title == "Weekly AI Papers"
    assert [m.text for m in tg.messages(CHANNEL)] == ["hello"]


@pytest.mark.parametrize(
    "html",
    [
        "line<br>break",
        "a < b",
        "AT&T",
        "&nbsp;",
        "<b>unclosed",
        "<b><i>misnested</b></i>",
        "stray</b>",
        "<span>no class</span>",
        '<a href="x">unterminated',
        "<p>para</p>",
    ],
)
async def test_bad_html_is_bad_request(tg: FakeTelegram, bot: Bot, html: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(ANN, html, parse_mode="HTML")
    assert tg.messages(ANN) == []


@pytest.mark.parametrize("html", ["<b> </b>", "   ", "<i></i>\n"])
async def test_text_empty_after_parsing(bot: Bot, html: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(ANN, html, parse_mode="HTML")


async def test_length_is_utf16_units_after_entity_parsing(tg: FakeTelegram, bot: Bot) -> None:
    head = "<b>😀</b>&amp;"  # 2 + 1 UTF-16 units visible, 17 characters of source
    fits = head + "a" * (4096 - 3)
    await bot.send_message(ANN, fits, parse_mode="HTML")
    assert len(tg.visible_text(tg.messages(ANN)[0]).encode("utf-16-le")) == 2 * 4096

    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(BOB, fits + "a", parse_mode="HTML")  # 4096 code points, 4097 units


async def test_callback_data_over_64_bytes(bot: Bot) -> None:
    await bot.send_message(ANN, "ok", reply_markup=keyboard("é" * 32))  # 64 bytes
    with pytest.raises(BadRequest, match=r"(?i)^button_data_invalid$"):
        await bot.send_message(ANN, "too long", reply_markup=keyboard("é" * 32 + "x"))


async def test_unknown_chat_is_chat_not_found(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "hi")


async def test_blocked_kicked_deactivated_are_forbidden(tg: FakeTelegram, bot: Bot) -> None:
    tg.block(ANN)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ANN, "hi")
    tg.deactivate(BOB)
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(BOB, "hi")
    tg.kick(CHANNEL)
    with pytest.raises(Forbidden, match="bot was kicked from the channel chat"):
        await bot.send_message(CHANNEL, "hi")
    tg.add_private_chat(7, started=False)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(7, "hi")
    assert tg.all_messages() == []


async def test_migrated_group_raises_chat_migrated(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_group(-55, "Old group", supergroup=False)
    tg.migrate(-55, -1009)
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(-55, "hi")
    assert raised.value.new_chat_id == -1009
    message = await bot.send_message(raised.value.new_chat_id, "hi")
    assert message.chat.type == "supergroup" and message.chat.title == "Old group"


async def test_private_flood_raises_retry_after(
    tg: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else reading retry_after warns
    await bot.send_message(ANN, "1")
    await bot.send_message(ANN, "2")  # two in any second (the fixture's limit)
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(ANN, "3")
    assert raised.value.retry_after == dtm.timedelta(seconds=1)
    assert [m.text for m in tg.messages(ANN)] == ["1", "2"]  # the refused one is not delivered
    assert (tg.count_429, tg.count_429_for(ANN), tg.count_429_for(BOB)) == (1, 1, 0)
    assert tg.over_limit == {"private": 1}
    await bot.send_message(BOB, "other chats have their own window")


def test_group_flood_payload_and_sliding_window() -> None:
    now = [1000.0]
    limits = RateLimits(group_messages=2)  # two in any minute
    with FakeTelegram(token=TOKEN, limits=limits, clock=lambda: now[0]) as tg:
        tg.add_group(GROUP, "Readers")
        with httpx.Client() as client:

            def send(text: str) -> httpx.Response:
                return client.post(api(tg, "sendMessage"), json={"chat_id": GROUP, "text": text})

            assert send("1").status_code == 200
            now[0] += 20.0
            assert send("2").status_code == 200
            refused = send("3")
            assert refused.status_code == 429
            assert refused.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 40",
                "parameters": {"retry_after": 40},
            }
            now[0] += 39.5  # the window still holds "1" (sent 59.5 s ago)
            assert send("3").json()["parameters"] == {"retry_after": 1}
            now[0] += 0.5  # "1" is a minute old: one place, not a refill of the minute
            assert send("3").json()["ok"] is True
            assert send("4").json()["parameters"] == {"retry_after": 20}
        assert [m.text for m in tg.messages(GROUP)] == ["1", "2", "3"]
        assert tg.over_limit == {"group": 3} and tg.count_429_for(GROUP) == 3


def test_global_flood_spans_chats() -> None:
    now = [0.0]
    with (
        FakeTelegram(token=TOKEN, limits=RateLimits(global_messages=3), clock=lambda: now[0]) as tg,
        httpx.Client() as client,
    ):
        codes = []
        for user in range(1, 6):
            tg.add_private_chat(user)
            reply = client.post(api(tg, "sendMessage"), data={"chat_id": user, "text": "x"})
            codes.append(reply.status_code)
            now[0] += 0.2
        # 0.0, 0.2, 0.4 fill the second; 0.6 and 0.8 are over it; at 1.0 the first is out
        assert codes == [200, 200, 200, 429, 429]
        assert client.post(api(tg, "sendMessage"), data={"chat_id": 4, "text": "x"}).is_success
        assert tg.count_429_for(4) == 1 and tg.over_limit == {"global": 2}


def test_no_burst_on_top_of_the_rate() -> None:
    """A full second of messages, then a pause: the next second is no larger (a token
    bucket would let a burst through after the pause)."""
    now = [0.0]
    with FakeTelegram(token=TOKEN, clock=lambda: now[0]) as tg, httpx.Client() as client:
        codes = []
        for user in range(1, 97):
            tg.add_private_chat(user)
        for user in range(1, 97):
            now[0] = 5.0 + (user - 1) / 64  # 64 a second for 1.5 s, after 5 s of quiet
            reply = client.post(api(tg, "sendMessage"), data={"chat_id": user, "text": "x"})
            codes.append(reply.status_code)
        assert codes[:30] == [200] * 30
        assert codes[30:64] == [429] * 34  # the rest of that second
        assert codes[64:94] == [200] * 30  # from 6.0, one place as each of the first leaves
        assert codes[94:] == [429] * 2  # and the second from 6.0 is full again
        assert tg.over_limit == {"global": 36}


def test_flood_control_is_a_strict_sliding_window() -> None:
    """Random arrivals: no interval of a window's length ever holds more than its limit,
    and every refusal was needed (admitting it would have made one hold more)."""
    rng = random.Random(14)
    limits = RateLimits(global_messages=30, private_messages=1, group_messages=20)
    flood = FloodControl(limits)
    t = 0.0
    accepted: list[tuple[float, int]] = []
    for _ in range(20_000):
        t += rng.expovariate(45.0)
        chat = rng.choice([*range(1, 40), -1, -2])
        before = [a for a, c in accepted if a > t - 1.0]
        before_chat = [a for a, c in accepted if c == chat and a > t - (1.0 if chat > 0 else 60)]
        limit_chat = 1 if chat > 0 else 20
        fits = len(before) < 30 and len(before_chat) < limit_chat
        retry_after = flood.admit(chat, private=chat > 0, now=t)
        assert (retry_after is None) == fits, (t, chat)
        if retry_after is None:
            accepted.append((t, chat))
        accepted = [(a, c) for a, c in accepted if a > t - 60]
    assert flood.refused > 1000 and sum(flood.over_limit.values()) >= flood.refused


def test_rate_limits_switch_off() -> None:
    with FakeTelegram(token=TOKEN, rate_limits=False) as tg, httpx.Client() as client:
        tg.add_private_chat(ANN)
        for _ in range(10):
            client.post(api(tg, "sendMessage"), data={"chat_id": ANN, "text": "x"})
        assert len(tg.messages(ANN)) == 10 and tg.count_429 == 0


async def test_fail_next_injects_transient_errors(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next(ANN, status=502)
    with pytest.raises(NetworkError, match="Bad Gateway") as raised:
        await bot.send_message(ANN, "hi")
    assert not isinstance(raised.value, BadRequest)
    await bot.send_message(ANN, "hi")
    assert len(tg.messages(ANN)) == 1


async def test_unknown_token_and_method(tg: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=tg.base_url):
            pass
    async with httpx.AsyncClient() as client:
        reply = await client.post(api(tg, "sendPigeon"))
        assert reply.status_code == 404
        assert reply.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        unauthorized = await client.get(f"{tg.base_url}1:X/getMe")
        assert unauthorized.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }


def test_json_body_and_get_query_params(tg: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]}
    with httpx.Client() as client:
        sent = client.post(
            api(tg, "sendMessage"),
            json={"chat_id": BOB, "text": "<i>x</i>", "parse_mode": "HTML", "reply_markup": markup},
        ).json()
        assert sent["ok"] and sent["result"]["entities"] == [
            {"type": "italic", "offset": 0, "length": 1}
        ]
        me = client.get(api(tg, "getme"), params={"unused": "1"}).json()  # case-insensitive
        assert me["result"]["username"] == "digest_test_bot"
    assert tg.messages(BOB)[0].reply_markup == markup


# ------------------------------------------------------------------ editing


async def test_edit_delete_and_keyboards(tg: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ANN, "page 1", reply_markup=keyboard("next"))
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "page 1", ANN, message.message_id, reply_markup=keyboard("next")
        )
    edited = await bot.edit_message_text(
        "<b>page 2</b>", ANN, message.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, type(message)) and edited.text == "page 2"
    [sent] = tg.messages(ANN)
    assert sent.edits == ("page 1",) and sent.reply_markup is None  # keyboard not repeated
    await bot.edit_message_reply_markup(ANN, message.message_id, reply_markup=keyboard("back"))
    assert tg.messages(ANN)[0].reply_markup is not None

    assert await bot.delete_message(ANN, message.message_id) is True
    assert tg.messages(ANN)[0].deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(ANN, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", ANN, message.message_id)


# ------------------------------------------------------------------ updates


async def test_get_updates_long_polls_an_injected_message(tg: FakeTelegram, bot: Bot) -> None:
    # a poll that would sit out 10 minutes: only waking up on the message ends it in time
    polling = asyncio.create_task(bot.get_updates(timeout=600))
    await asyncio.sleep(0.1)  # let the poll reach the server (it answers at once either way)
    tg.send_user_message(BOB, "/paper@digest_test_bot 2401.00001", chat_id=GROUP)
    [update] = await asyncio.wait_for(polling, timeout=60)

    assert update.message is not None
    assert update.message.text == "/paper@digest_test_bot 2401.00001"
    assert update.message.chat.id == GROUP
    assert update.message.from_user is not None
    assert (update.message.from_user.id, update.message.from_user.language_code) == (BOB, "en")
    assert update.message.parse_entities(["bot_command"]) == {
        update.message.entities[0]: "/paper@digest_test_bot"
    }
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert tg.pending_updates() == []


async def test_application_answers_a_group_command(tg: FakeTelegram) -> None:
    async def paper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(f"<b>{' '.join(context.args or [])}</b>")

    app = ApplicationBuilder().token(TOKEN).base_url(tg.base_url).build()
    app.add_handler(CommandHandler("paper", paper))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=5)
        await app.start()
        update = tg.send_user_message(BOB, "/paper@digest_test_bot 2401.00001", chat_id=GROUP)
        async with asyncio.timeout(3):
            [reply] = await tg.wait_for_messages_async(GROUP, 1)
        await app.updater.stop()
        await app.stop()
    assert tg.visible_text(reply) == "2401.00001"
    assert reply.reply_to_message_id == update["message"]["message_id"]


async def test_button_press_and_callback_answer(tg: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ANN, "pick", reply_markup=keyboard("zh", "en"))
    [sent] = tg.messages(ANN)
    with pytest.raises(ValueError, match="no button"):
        tg.press_button(ANN, sent, "fr")
    tg.press_button(ANN, sent, "en")
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.data == "en" and query.from_user.id == ANN
    assert query.message is not None and query.message.message_id == message.message_id
    assert await bot.answer_callback_query(query.id, text="English") is True
    assert tg.callback_answers == [{"callback_query_id": query.id, "text": "English"}]
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)


async def test_concurrent_get_updates_conflict(tg: FakeTelegram, bot: Bot) -> None:
    # PTB's get_updates has its own one-connection pool, so the rival poll uses httpx.
    first = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient() as client:
        rival = await client.post(api(tg, "getUpdates"), data={"timeout": "0"})
    assert rival.json() == {"ok": True, "result": []}
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await first


async def test_webhook_blocks_get_updates(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_webhook("https://digest.example/hook") is True
    assert (await bot.get_webhook_info()).url == "https://digest.example/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    tg.send_user_message(ANN, "hello")
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_commands_per_language(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("paper", "查找论文")], language_code="zh")
    await bot.set_my_commands([BotCommand("paper", "Find a paper")])
    assert tg.commands(language_code="zh") == [{"command": "paper", "description": "查找论文"}]
    assert (await bot.get_my_commands()) == (BotCommand("paper", "Find a paper"),)
    with pytest.raises(BadRequest, match=r"(?i)^bot_command_invalid$"):
        await bot.set_my_commands([BotCommand("Paper!", "x")])
    await bot.delete_my_commands(language_code="zh")
    assert tg.commands(language_code="zh") == []


async def test_misc_methods(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.send_chat_action(ANN, "typing") is True
    chat = await bot.get_chat(CHANNEL)
    assert (chat.type, chat.title, chat.username) == (
        "channel",
        "Weekly AI Papers",
        "digest_channel",
    )
    assert await bot.log_out() is True and await bot.close() is True
    assert len(tg.calls("sendChatAction")) == 1


async def test_wait_for_messages_across_threads(tg: FakeTelegram, bot: Bot) -> None:
    waiting = asyncio.create_task(asyncio.to_thread(tg.wait_for_messages, ANN, 2, 3.0))
    await bot.send_message(ANN, "1")
    await bot.send_message(ANN, "2")
    assert [m.text for m in await waiting] == ["1", "2"]
    async with asyncio.timeout(1):
        assert len(await tg.wait_for_messages_async(ANN, 2)) == 2
    with pytest.raises(TimeoutError):
        tg.wait_for_messages(BOB, 1, timeout=0.05)


def test_restart_keeps_base_url() -> None:
    tg = FakeTelegram(token=TOKEN)
    tg.start()
    url = tg.base_url
    tg.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(api(tg, "getMe"))
    tg.start()
    try:
        assert tg.base_url == url and httpx.post(api(tg, "getMe")).json()["ok"] is True
    finally:
        tg.stop()


def test_main_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_telegram", "--port", "0"],
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip().removeprefix("base_url=")
        token = proc.stdout.readline().strip().removeprefix("token=")
        assert httpx.get(f"{base_url}{token}/getMe").json()["ok"] is True
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------ the HTML parser


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("<B>x</B>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
        ('<span class="tg-spoiler">s</span>', "s", [{"type": "spoiler", "offset": 0, "length": 1}]),
        (
            '<pre><code class="language-python">1 &lt; 2</code></pre>',
            "1 < 2",
            [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
        ),
        (
            "<blockquote expandable>q</blockquote>",
            "q",
            [{"type": "expandable_blockquote", "offset": 0, "length": 1}],
        ),
        (
            '😀<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "😀👍",
            [
                {
                    "type": "custom_emoji",
                    "offset": 2,
                    "length": 2,
                    "custom_emoji_id": "5368324170671202286",
                }
            ],
        ),
        ("&#x1F600;&#65;&quot;", '😀A"', []),
        ("\n <b> x</b> \n", "x", [{"type": "bold", "offset": 0, "length": 1}]),
        (
            "<b>a<i>b</></b>",
            "ab",
            [
                {"type": "bold", "offset": 0, "length": 2},
                {"type": "italic", "offset": 1, "length": 1},
            ],
        ),
    ],
)
def test_parse_html(html: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(html) == (text, entities)


def test_parse_html_error_wording() -> None:
    with pytest.raises(HtmlParseError, match='Unsupported start tag "br" at byte offset 3'):
        parse_html("ab\u00e9<br>"[1:])  # byte offsets count UTF-8 bytes
    with pytest.raises(HtmlParseError, match='expected "</i>", found "</b>"'):
        parse_html("<b><i>x</b></i>")
    assert parse_html("AT&T", strict=False) == ("AT&T", [])  # what Telegram itself accepts
