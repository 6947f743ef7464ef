"""The bot end to end: python-telegram-bot polling a FakeTelegram, a real Service on SQLite."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import write
from digestbot.bot.application import BotApplication, build_bot
from digestbot.models import Channel, Language
from digestbot.render.telegram import check_telegram_html, visible_len
from digestbot.service import Service
from digestbot.settings import load_settings
from digestbot.subscribers import ACTIVE, UNSUBSCRIBED
from digestbot.wiring import build_service
from fake_telegram import FakeTelegram, SentMessage

ADMIN = 1001
ANN = 2001  # reads Chinese
BOB = 2002  # reads English
EVE = 2003  # not an admin, tries anyway
OTHER_BOT = 3001
CHANNEL = -1001234567890
GROUP = -1009876543210
WEEK = "2024-W16"
TIMEOUT = 5.0


@dataclass
class Running:
    fake: FakeTelegram
    service: Service
    application: BotApplication

    async def say(
        self,
        user: int,
        text: str,
        *,
        chat: int | None = None,
        lang: str | None = None,
        n: int = 1,
    ) -> list[SentMessage]:
        """``user`` writes ``text``; the ``n`` new messages the bot sent into that chat."""
        target = chat if chat is not None else user
        before = len(self.fake.messages(target))
        self.fake.send_user_message(user, text, chat_id=chat, language_code=lang)
        return await self.new_messages(target, before, n)

    async def new_messages(self, chat: int, before: int, n: int = 1) -> list[SentMessage]:
        async with asyncio.timeout(TIMEOUT):
            got = await self.fake.wait_for_messages_async(chat, before + n)
        fresh = got[before:]
        for message in fresh:
            check_telegram_html(message.text)
            assert visible_len(message.text) <= 4096
        return fresh

    def text(self, message: SentMessage) -> str:
        return self.fake.visible_text(message)

    def current(self, message: SentMessage) -> SentMessage:
        """The message as it is now (after edits)."""
        [now] = [
            m for m in self.fake.messages(message.chat_id) if m.message_id == message.message_id
        ]
        return now

    async def until(self, predicate: Callable[[], Any]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.01)


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button, in order."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


def links(message: SentMessage) -> list[str]:
    return [e["url"] for e in message.entities if e["type"] == "text_link"]


@pytest.fixture
async def running(env: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # reading RetryAfter.retry_after warns otherwise
    fake = FakeTelegram()
    fake.start()
    fake.add_private_chat(ADMIN, "Ada", language_code="en")
    fake.add_private_chat(ANN, "安", language_code="zh-hans")
    fake.add_private_chat(BOB, "Bob", language_code="en")
    fake.add_private_chat(EVE, "Eve", language_code="en")
    fake.add_channel(CHANNEL, "每周AI论文速递")
    fake.add_group(GROUP, "Readers")
    settings = load_settings(
        telegram={
            "token": fake.token,
            "api_url": fake.base_url,
            "admins": [ADMIN],
            "channels": [{"chat_id": CHANNEL, "lang": "zh"}],
        }
    )
    service = build_service(settings)
    await service.start()
    service.build_index()  # as `digestbot run` does
    application = build_bot(service)
    try:
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling()
        yield Running(fake, service, application)
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await service.close()
        fake.stop()


# -- /start, /help, command menus ---------------------------------------------------------


async def test_start_speaks_the_users_language(running: Running) -> None:
    [zh] = await running.say(ANN, "/start")
    assert "每周AI论文速递" in running.text(zh)
    assert "/paper" in running.text(zh) and "/subscribe" in running.text(zh)
    assert "/publish" not in running.text(zh)

    [en] = await running.say(BOB, "/help", lang="en")
    assert "Weekly AI Papers" in running.text(en)
    assert "find a paper" in running.text(en)

    [admin] = await running.say(ADMIN, "/help", lang="en")
    assert "/publish" in running.text(admin) and "/status" in running.text(admin)


async def test_commands_are_registered_in_both_languages(running: Running) -> None:
    default = {c["command"]: c["description"] for c in running.fake.commands()}
    chinese = {c["command"]: c["description"] for c in running.fake.commands(language_code="zh")}
    assert set(default) == set(chinese)
    assert {"paper", "latest", "week", "subscribe", "unsubscribe", "lang", "help"} <= set(default)
    assert default["paper"].startswith("Find a paper") and "论文" in chinese["paper"]
    admin_scope = {"type": "chat", "chat_id": ADMIN}
    assert {"publish", "status"} <= {c["command"] for c in running.fake.commands(admin_scope)}


async def test_lang_overrides_the_telegram_language(running: Running) -> None:
    [picker] = await running.say(ANN, "/lang")
    assert [data for _, data in buttons(picker)] == ["l:zh", "l:en"]
    running.fake.press_button(ANN, picker, "l:en")
    await running.until(lambda: running.current(picker).edits)
    assert running.text(running.current(picker)) == "OK, I will reply in English."

    [help_en] = await running.say(ANN, "/start")
    assert "Weekly AI Papers" in running.text(help_en).splitlines()[0]

    [back] = await running.say(ANN, "/lang zh")
    assert running.text(back) == "好的，我会用中文回复。"
    [bad] = await running.say(ANN, "/lang fr")
    assert "/lang zh" in running.text(bad)


# -- /paper ---------------------------------------------------------------------------------


async def test_paper_by_arxiv_id(running: Running) -> None:
    [card] = await running.say(BOB, "/paper 2404.08634")
    text = running.text(card)
    assert "Pre-training Small Base LMs with Fewer Tokens" in text
    assert "用更少的 Token 预训练小型基础语言模型" in text
    assert "Inheritune" in text  # the English summary
    assert "Coming in the next issue." in text
    assert links(card)[:3] == [
        "https://arxiv.org/abs/2404.08634",
        "https://arxiv.org/pdf/2404.08634",
        "https://github.com/sanyalsunny111/LLM-Inheritune",
    ]
    assert "https://huggingface.co/papers/2404.08634" in links(card)


async def test_replies_count_against_the_senders_telegram_limits(running: Running) -> None:
    # one budget per bot token: the bot's replies take tokens of the limiter the issue
    # sender paces itself with
    limiter = running.service.telegram_limiter
    assert limiter is not None
    assert running.service.senders["telegram"].limiter is limiter  # type: ignore[attr-defined]
    before = limiter.stats.granted
    await running.say(BOB, "/paper 2404.08634")
    assert limiter.stats.granted > before


async def test_paper_by_arxiv_url_in_chinese(running: Running) -> None:
    [card] = await running.say(ANN, "/paper https://arxiv.org/abs/2404.08634v2")
    text = running.text(card)
    assert text.startswith("用更少的 Token 预训练小型基础语言模型")
    assert "继承" in text  # the Chinese summary
    assert "https://arxiv.org/abs/2404.08634" in links(card)


async def test_paper_unknown_id_points_to_arxiv(running: Running) -> None:
    [reply] = await running.say(BOB, "/paper 2401.99999")
    assert "2401.99999 is not in the digest" in running.text(reply)
    assert links(reply) == ["https://arxiv.org/abs/2401.99999"]


async def test_paper_keywords_in_chinese_then_open_a_result(running: Running) -> None:
    [results] = await running.say(ANN, "/paper 反馈注意力")
    assert "TransformerFAM" in running.text(results)
    assert "第 1 篇，共 1 篇" in running.text(results)
    first_label, first_data = buttons(results)[0]
    assert first_data == "p:2404.09173" and "TransformerFAM" in first_label

    before = len(running.fake.messages(ANN))
    running.fake.press_button(ANN, results, "p:2404.09173")
    [card] = await running.new_messages(ANN, before)
    assert running.text(card).startswith("TransformerFAM：反馈注意力就是工作记忆")
    assert "TransformerFAM: Feedback attention is working memory" in running.text(card)
    await running.until(lambda: running.fake.callback_answers)


async def test_paper_two_character_chinese_query(running: Running) -> None:
    [results] = await running.say(ANN, "/paper 注意")
    assert "p:2404.09173" in [data for _, data in buttons(results)]


@pytest.fixture
def diffusion_papers(content_dir: Path) -> int:
    """Twelve more ready papers that all match "diffusion" / "扩散": more than one page."""
    for n in range(12):
        write(
            content_dir / "papers" / "2024" / f"2405.{n + 100:05d}.md",
            f"""---
arxiv_id: '2405.{n + 100:05d}'
title_en: 'Diffusion study number {n}'
title_zh: 扩散模型研究之{n}
date: 2024-05-0{n % 5 + 1}
status: ready
score: {n}
summary_en: A diffusion paper.
summary_zh: 一篇关于扩散模型的论文。
---
""",
        )
    return 12


async def test_paper_results_page_on(diffusion_papers: int, running: Running) -> None:
    [results] = await running.say(BOB, "/paper diffusion")
    assert "papers 1–5 of 12" in running.text(results)
    data = [d for _, d in buttons(results)]
    assert all(len(d.encode()) <= 64 for d in data)
    assert [d[:2] for d in data] == ["p:"] * 5 + ["q:"]  # no "previous" on page one
    running.fake.press_button(BOB, results, data[-1])
    await running.until(lambda: running.current(results).edits)
    page_two = running.current(results)
    assert "papers 6–10 of 12" in running.text(page_two)
    nav = [d for _, d in buttons(page_two) if d.startswith("q:")]
    assert [d.rsplit(":", 1)[1] for d in nav] == ["0", "2"]
    running.fake.press_button(BOB, page_two, nav[1])
    await running.until(lambda: len(running.current(results).edits) == 2)
    assert "papers 11–12 of 12" in running.text(running.current(results))


async def test_paper_helpful_replies(running: Running) -> None:
    [nothing] = await running.say(BOB, "/paper qwzxv blorft")
    assert "Nothing in the digest matches" in running.text(nothing)
    assert "/paper 2404.08634" in running.text(nothing)

    [empty] = await running.say(BOB, "/paper")
    assert running.text(empty).startswith("Send /paper followed by an arXiv id")

    [huge] = await running.say(BOB, "/paper " + "transformer " * 333 + "abcd")
    assert "too long" in running.text(huge)
    assert visible_len(huge.text) < 500  # the query is not echoed back

    [zh_empty] = await running.say(ANN, "/paper   ")
    assert "/paper 反馈注意力" in running.text(zh_empty)


# -- subscriptions ----------------------------------------------------------------------------


async def test_subscribe_and_unsubscribe(running: Running) -> None:
    [done] = await running.say(BOB, "/subscribe en")
    assert "Subscribed (English)" in running.text(done)
    sub = await running.service.subscribers.get(Channel.TELEGRAM, str(BOB))
    assert sub is not None and (sub.status, sub.lang) == (ACTIVE, Language.EN)

    [bad] = await running.say(BOB, "/subscribe klingon")
    assert "/subscribe zh" in running.text(bad)

    [bye] = await running.say(BOB, "/unsubscribe")
    assert "unsubscribed" in running.text(bye)
    sub = await running.service.subscribers.get(Channel.TELEGRAM, str(BOB))
    assert sub is not None and sub.status == UNSUBSCRIBED
    [again] = await running.say(BOB, "/unsubscribe")
    assert "not subscribed" in running.text(again)


async def test_subscribe_defaults_to_the_users_language(running: Running) -> None:
    [done] = await running.say(ANN, "/subscribe", lang="zh-CN")
    assert "已订阅（中文）" in running.text(done)
    sub = await running.service.subscribers.get(Channel.TELEGRAM, str(ANN))
    assert sub is not None and sub.lang is Language.ZH


# -- admins -----------------------------------------------------------------------------------


async def test_admin_commands_refuse_everyone_else(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="digestbot.bot")
    [publish] = await running.say(EVE, "/publish")
    assert "only for the digest's admins" in running.text(publish)
    [status] = await running.say(EVE, "/status")
    assert "/status is only for the digest's admins" in running.text(status)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 2 and all(str(EVE) in line for line in refusals)
    assert running.fake.token not in caplog.text
    assert await running.service.published_issues() == []


async def test_publish_preview_confirm_report_and_idempotence(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    fake, service = running.fake, running.service
    await running.say(BOB, "/subscribe en")

    [preview] = await running.say(ADMIN, f"/publish {WEEK}")
    text = running.text(preview)
    assert text.startswith(f"Publish {WEEK}?")
    assert "9 papers → 2 destinations" in text  # the channel and Bob
    (_, first), (_, second) = buttons(preview)
    assert (first, second) == (f"pub:{WEEK}", f"cancel:{WEEK}")

    # Someone else presses the publish button: refused, nothing sent.
    caplog.set_level(logging.WARNING, logger="digestbot.bot")
    fake.press_button(EVE, preview, first)
    await running.until(lambda: fake.callback_answers)
    answer = fake.callback_answers[-1]
    assert answer["show_alert"] is True and "only the digest's admins" in answer["text"]
    assert any(str(EVE) in r.getMessage() for r in caplog.records)
    assert await service.published_issues() == []
    assert fake.messages(CHANNEL) == []

    # The admin confirms: the preview says "publishing…", then a delivery report.
    bob_before = len(fake.messages(BOB))
    admin_before = len(fake.messages(ADMIN))
    fake.press_button(ADMIN, preview, first)
    [report] = await running.new_messages(ADMIN, admin_before)
    await running.until(lambda: "done" in running.text(running.current(preview)))
    assert running.text(running.current(preview)) == f"✅ {WEEK}: done, see the report below."
    assert running.current(preview).edits[-1] == f"⏳ Publishing {WEEK}…"
    assert running.current(preview).reply_markup is None
    assert "Delivery report" in running.text(report)
    assert f"{WEEK} published in" in running.text(report)
    assert "telegram: 2 sent" in running.text(report)

    issue = await service.published_issue(WEEK)
    assert issue is not None
    content = service.content_for(issue)
    channel_got = await running.new_messages(CHANNEL, 0, len(content.telegram(Language.ZH)))
    assert [m.text for m in channel_got] == content.telegram(Language.ZH)
    bob_got = await running.new_messages(BOB, bob_before, len(content.telegram(Language.EN)))
    assert [m.text for m in bob_got] == content.telegram(Language.EN)

    # A second /publish of the week sends nothing new.
    [again] = await running.say(ADMIN, f"/publish {WEEK}")
    assert running.text(again) == f"{WEEK} is already published: nothing new to send."
    assert buttons(again) == []
    [default_again] = await running.say(ADMIN, "/publish")
    assert "already published" in running.text(default_again)
    assert len(fake.messages(CHANNEL)) == len(channel_got)
    assert len(fake.messages(BOB)) == bob_before + len(bob_got)

    # The paper now says which issue carried it; /status reports the issue.
    [card] = await running.say(BOB, "/paper 2404.09173")
    assert f"In the digest: {WEEK}" in running.text(card)
    assert f"http://127.0.0.1:8000/issues/{WEEK}" in links(card)
    [status] = await running.say(ADMIN, "/status")
    status_text = running.text(status)
    assert f"Last issue: {WEEK}" in status_text and "9 papers" in status_text
    assert "telegram active 1" in status_text
    assert "Ledger backlog: 0" in status_text


async def test_publish_cancel(running: Running) -> None:
    await running.say(ADMIN, "/lang zh")
    [preview] = await running.say(ADMIN, "/publish")
    assert running.text(preview).startswith(f"发布 {WEEK}？")
    assert "9 篇论文 → 1 个目的地" in running.text(preview)
    running.fake.press_button(ADMIN, preview, f"cancel:{WEEK}")
    await running.until(lambda: running.current(preview).edits)
    assert running.text(running.current(preview)) == f"已取消：{WEEK} 没有发布。"
    assert running.current(preview).reply_markup is None
    assert await running.service.published_issues() == []


async def test_publish_bad_week(running: Running) -> None:
    [reply] = await running.say(ADMIN, "/publish next tuesday")
    assert "is not a week" in running.text(reply)


# -- reading issues ---------------------------------------------------------------------------


async def test_latest_and_week(running: Running) -> None:
    [none] = await running.say(BOB, "/latest")
    assert "No issue has been published yet" in running.text(none)
    await running.service.publish(WEEK)  # the scheduler or the CLI did it
    issue = await running.service.published_issue(WEEK)
    assert issue is not None
    en = running.service.content_for(issue).telegram(Language.EN)
    zh = running.service.content_for(issue).telegram(Language.ZH)

    latest = await running.say(BOB, "/latest", n=len(en))
    assert [m.text for m in latest] == en
    week = await running.say(ANN, "/week 2024-04-17", lang="zh", n=len(zh))
    assert [m.text for m in week] == zh

    [unpublished] = await running.say(BOB, "/week 2024-W10")
    assert "2024-W10 has not been published" in running.text(unpublished)
    [bad] = await running.say(BOB, "/week someday")
    assert "is not a week" in running.text(bad)
    [usage] = await running.say(BOB, "/week")
    assert "/week 2024-W16" in running.text(usage)


# -- groups, other bots, odd updates ----------------------------------------------------------


async def test_group_command_with_the_bots_name(running: Running) -> None:
    update = running.fake.send_user_message(
        BOB, "/paper@digest_test_bot x", chat_id=GROUP, language_code="en"
    )
    [reply] = await running.new_messages(GROUP, 0)
    assert reply.reply_to_message_id == update["message"]["message_id"]
    assert "/paper" in running.text(reply)

    [sub] = await running.say(BOB, "/subscribe@digest_test_bot", chat=GROUP)
    assert "private chat" in running.text(sub)
    assert links(sub) == ["https://t.me/digest_test_bot"]


async def test_ignores_other_bots_and_other_bots_commands(running: Running) -> None:
    fake = running.fake
    fake.send_user_message(OTHER_BOT, "/start", is_bot=True)
    fake.send_user_message(OTHER_BOT, "/paper 2404.08634", chat_id=GROUP, is_bot=True)
    fake.send_user_message(BOB, "/paper@some_other_bot 2404.08634", chat_id=GROUP)
    # Updates are handled in order: once Bob's next command is answered, the ones above were
    # seen and left unanswered.
    [reply] = await running.say(BOB, "/help@digest_test_bot", chat=GROUP)
    assert "Weekly AI Papers" in running.text(reply)
    assert fake.messages(OTHER_BOT) == []
    assert len(fake.messages(GROUP)) == 1


async def test_unknown_command_and_plain_text_in_private(running: Running) -> None:
    [unknown] = await running.say(BOB, "/frobnicate")
    assert "/help" in running.text(unknown)
    [plain] = await running.say(ANN, "hello")
    assert "/paper" in running.text(plain)


async def test_unexpected_updates_do_not_crash_the_bot(
    running: Running, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = running.fake
    fake.inject_update(
        {
            "edited_message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": BOB, "type": "private"},
                "from": {"id": BOB, "is_bot": False, "first_name": "Bob"},
                "text": "/start",
            }
        }
    )
    fake.inject_update(
        {
            "channel_post": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": CHANNEL, "type": "channel", "title": "每周AI论文速递"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            }
        }
    )
    fake.inject_update(
        {
            "message": {
                "message_id": 2,
                "date": 0,
                "chat": {"id": BOB, "type": "private"},
                "from": {"id": BOB, "is_bot": False, "first_name": "Bob"},
                "location": {"latitude": 52.5, "longitude": 13.4},
            }
        }
    )

    async def broken() -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(running.service, "latest_issue", broken)
    caplog.set_level(logging.ERROR, logger="digestbot.bot")
    [sorry] = await running.say(BOB, "/latest")
    assert "something went wrong" in running.text(sorry)
    assert "database on fire" in caplog.text
    assert len(fake.messages(BOB)) == 1  # the edit and the poll got no answer

    [still] = await running.say(BOB, "/start")
    assert "Weekly AI Papers" in running.text(still)


# -- hostile content --------------------------------------------------------------------------

HOSTILE_ID = "2405.09999"
HOSTILE_TITLE_EN = "<script>alert('x')</script> Tom & Jerry: <b>not bold</b> </a> &amp; co"
HOSTILE_TITLE_ZH = "<script>猫</script> 猫 & 鼠：<b>不加粗</b> </a>"
HOSTILE_SUMMARY_EN = "It shows 1 < 2 & 3 > 2 for <b>all</b> inputs; a fake </a> closes nothing."
HOSTILE_SUMMARY_ZH = "我们证明 1 < 2 & 3 > 2 对<b>所有</b>输入成立，假的 </a> 什么也不关闭。"


@pytest.fixture
def hostile_paper(content_dir: Path) -> str:
    """A ready paper whose titles and summaries are full of HTML that must stay text."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    write(
        content_dir / "papers" / "2024" / f"{HOSTILE_ID}.md",
        f"""---
arxiv_id: '{HOSTILE_ID}'
title_en: {quoted(HOSTILE_TITLE_EN)}
title_zh: {quoted(HOSTILE_TITLE_ZH)}
date: 2024-05-02
status: ready
score: 1
summary_en: {quoted(HOSTILE_SUMMARY_EN)}
summary_zh: {quoted(HOSTILE_SUMMARY_ZH)}
links:
  code: https://example.org/code?a=1&b=2
---
""",
    )
    return HOSTILE_ID


def formatted(message: SentMessage, kind: str, text: str) -> list[str]:
    """The visible pieces of ``text`` that carry a ``kind`` entity (bold, italic...)."""
    units = text.encode("utf-16-le")
    return [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.entities
        if e["type"] == kind
    ]


async def test_paper_card_shows_a_hostile_title_as_text(
    hostile_paper: str, running: Running
) -> None:
    [card] = await running.say(BOB, f"/paper {hostile_paper}")
    text = running.text(card)
    assert text.splitlines()[:2] == [HOSTILE_TITLE_EN, HOSTILE_TITLE_ZH]
    assert HOSTILE_SUMMARY_EN in text
    # Only the card's own markup formats: the whole titles, nothing inside them.
    assert formatted(card, "bold", text) == [HOSTILE_TITLE_EN]
    assert formatted(card, "italic", text) == [HOSTILE_TITLE_ZH]
    # The fake </a> neither closed nor opened a link; the code link kept its query.
    assert links(card) == [
        f"https://arxiv.org/abs/{hostile_paper}",
        f"https://arxiv.org/pdf/{hostile_paper}",
        "https://example.org/code?a=1&b=2",
        f"https://huggingface.co/papers/{hostile_paper}",
    ]

    [zh] = await running.say(ANN, f"/paper https://arxiv.org/abs/{hostile_paper}")
    zh_text = running.text(zh)
    assert zh_text.splitlines()[:2] == [HOSTILE_TITLE_ZH, HOSTILE_TITLE_EN]
    assert HOSTILE_SUMMARY_ZH in zh_text
    assert formatted(zh, "bold", zh_text) == [HOSTILE_TITLE_ZH]


async def test_search_results_show_a_hostile_title_as_text(
    hostile_paper: str, running: Running
) -> None:
    [results] = await running.say(BOB, "/paper Tom Jerry")
    text = running.text(results)
    assert f"1. {HOSTILE_TITLE_EN}" in text.splitlines()
    assert HOSTILE_TITLE_EN in formatted(results, "bold", text)
    label, data = buttons(results)[0]
    assert data == f"p:{hostile_paper}" and label.startswith("1. <script>alert")

    before = len(running.fake.messages(BOB))
    running.fake.press_button(BOB, results, data)
    [card] = await running.new_messages(BOB, before)
    assert running.text(card).splitlines()[0] == HOSTILE_TITLE_EN


async def test_admins_are_told_of_give_ups_and_status_lists_them(running: Running) -> None:
    fake = running.fake
    await running.say(BOB, "/subscribe en")
    fake.block(BOB)  # Bob blocked the bot: his copy fails for good (403)
    await running.say(ADMIN, "/lang en")  # the notice comes in the admin's chosen language

    [preview] = await running.say(ADMIN, f"/publish {WEEK}")
    (_, first), _cancel = buttons(preview)
    admin_before = len(fake.messages(ADMIN))
    fake.press_button(ADMIN, preview, first)
    notice, report = await running.new_messages(ADMIN, admin_before, 2)
    notice_text = running.text(notice)
    assert notice_text.startswith(f"⚠️ {WEEK}: 1 deliveries given up")
    assert f"• {WEEK} telegram {BOB}: " in notice_text and "blocked" in notice_text
    assert f"digestbot publish --retry-failed --week {WEEK}" in notice_text
    assert "Delivery report" in running.text(report)

    [status] = await running.say(ADMIN, "/status")
    status_text = running.text(status)
    assert "Failed deliveries: 1 (retry with digestbot publish --retry-failed" in status_text
    assert f"• {WEEK} telegram {BOB}: " in status_text and "blocked" in status_text
