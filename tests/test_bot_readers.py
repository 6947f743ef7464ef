"""The bot for readers: every reply in the reader's language, subscribing that completes,
plain text that searches, drafts for admins only, /top. Through the Bot API stand-in."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from conftest import write
from digestbot.bot import views
from digestbot.bot.updates import FloodGuard
from digestbot.errors import DigestbotError, IssueRefused, NothingToPublish
from digestbot.models import Channel, Destination, Language
from digestbot.render.telegram import visible_text
from digestbot.weeks import Week
from test_bot import (
    ADMIN,
    ANN,
    BOB,
    GROUP,
    WEEK,
    Running,
    buttons,
    diffusion_papers,
    running,
)

__all__ = ["diffusion_papers", "running"]  # fixtures shared with test_bot.py

HAN = re.compile(r"[\u3400-\u9fff]")
ENGLISH_WORDS = re.compile(
    r"\b(the|is|not|are|you|your|was|has|have|been|please|sorry|only|this|that|with|"
    r"sent|send|yet|issue|papers?|subscribed|nothing|week)\b",
    re.IGNORECASE,
)
COMMAND = re.compile(r"/\w+(?:@\w+)?")
EXAMPLES = ("反馈注意力",)  # the English texts show that Chinese keywords work too
BRAND = ("每周AI论文速递", "Weekly AI Papers")  # /help names the digest in both languages


def reads(lang: str, text: str) -> None:
    """``text`` is written in ``lang``: Chinese without English sentences, or English
    without Chinese (commands, ids and quoted examples aside)."""
    for name in BRAND:
        text = text.replace(name, "")
    if lang == "zh":
        assert HAN.search(text), f"not Chinese: {text!r}"
        words = ENGLISH_WORDS.findall(COMMAND.sub(" ", text))
        assert not words, f"English words {words} in a Chinese reply: {text!r}"
    else:
        for example in EXAMPLES:
            text = text.replace(example, "")
        assert not HAN.search(text), f"Chinese in an English reply: {text!r}"


def generous_guard(running: Running) -> None:
    """These tests talk faster than people do: no flood guard in the way."""
    processor = running.application.update_processor
    processor.guard = FloodGuard(rate=100.0, burst=100.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("lang", "reader"), [("zh", ANN), ("en", BOB)])
async def test_every_reply_in_the_users_language(
    running: Running, lang: str, reader: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    generous_guard(running)
    fake = running.fake

    async def check(user: int, text: str, **kwargs: object) -> str:
        [reply] = await running.say(user, text, **kwargs)  # type: ignore[arg-type]
        shown = running.text(reply)
        reads(lang, shown)
        return shown

    # a reader
    for command in (
        "/start",
        "/frobnicate",
        "/paper",
        "/paper " + "transformer " * 333,
        "/paper qwzxv blorft",
        "/paper 2401.99999",
        "/latest",
        "/week",
        "/week 2024-W10",
        "/top",
        "/top decade",
        "/subscribe klingon",
        "/unsubscribe",
        "/lang fr",
        "/lang",
        "/publish",
        "/status",
    ):
        await check(reader, command)
    bad_week = await check(reader, "/week 2024-16")
    assert "2024-16" in bad_week and "/week 2024-W16" in bad_week
    assert "subscribe" in await check(reader, "/subscribe@digest_test_bot", chat=GROUP)
    await check(reader, "/subscribe")
    await check(reader, "/subscribe")  # already subscribed
    await check(reader, "/unsubscribe")

    # an admin reading the same language
    await check(ADMIN, f"/lang {lang}")
    await check(ADMIN, "/status")
    await check(ADMIN, "/publish 2024-16")
    preview = (await running.say(ADMIN, "/publish"))[0]
    reads(lang, running.text(preview).replace(WEEK, ""))
    fake.press_button(reader, preview, f"pub:{WEEK}")  # not an admin: refused
    await running.until(lambda: fake.callback_answers)
    reads(lang, fake.callback_answers[-1]["text"])
    before = len(fake.messages(ADMIN))
    fake.press_button(ADMIN, preview, f"pub:{WEEK}")
    [report] = await running.new_messages(ADMIN, before)
    reads(lang, running.text(report))
    await running.until(lambda: len(running.current(preview).edits) == 2)
    for shown in (*running.current(preview).edits, running.text(running.current(preview))):
        reads(lang, shown)
    status = await check(ADMIN, "/status")
    assert WEEK in status
    await check(ADMIN, f"/publish {WEEK}")  # already published
    top = await check(reader, "/top")
    assert "▲ 48" in top

    async def broken() -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(running.service, "latest_issue", broken)
    await check(reader, "/latest")


async def test_publish_report_and_status_read_chinese(running: Running) -> None:
    generous_guard(running)
    await running.say(BOB, "/subscribe en")
    await running.say(ADMIN, "/lang zh")
    [preview] = await running.say(ADMIN, f"/publish {WEEK}")
    before = len(running.fake.messages(ADMIN))
    running.fake.press_button(ADMIN, preview, f"pub:{WEEK}")
    [report] = await running.new_messages(ADMIN, before)
    lines = running.text(report).splitlines()
    assert lines[0] == "发送报告"
    assert lines[1] == f"{WEEK} 每周AI论文速递(240415-240419)：9 篇论文"
    assert "Telegram：已发送 2，重试 0，失败 0，跳过 0" in lines
    assert lines[-1].startswith(f"{WEEK} 已发布，用时")
    [status] = await running.say(ADMIN, "/status")
    assert "订阅者：Telegram 已订阅 1" in running.text(status)
    assert "（9 篇，发布于 " in running.text(status)


async def test_subscribe_gets_the_latest_issue_once(running: Running) -> None:
    generous_guard(running)
    service, fake = running.service, running.fake
    [nothing_yet] = await running.say(ANN, "/subscribe")
    assert "已订阅（中文）" in running.text(nothing_yet)  # nothing published: no welcome
    await service.publish(WEEK)
    issue = await service.published_issue(WEEK)
    assert issue is not None
    english = service.content_for(issue).telegram(Language.EN)

    before = len(fake.messages(BOB))
    [done, *welcome] = await running.say(BOB, "/subscribe en", n=1 + len(english))
    assert "Subscribed (English)" in running.text(done)
    assert [m.text for m in welcome] == english

    [again] = await running.say(BOB, "/subscribe en")
    assert running.text(again).startswith("You are already subscribed (English)")
    [changed] = await running.say(BOB, "/subscribe both")
    assert running.text(changed) == "✅ Your subscription is now in Chinese + English."
    await running.say(BOB, "/unsubscribe")
    [back] = await running.say(BOB, "/subscribe en")
    assert "Subscribed (English)" in running.text(back)
    # once: the ledger already holds Bob's copy of the latest issue
    bob = Destination(Channel.TELEGRAM, str(BOB), Language.EN)
    assert await service.welcome(bob) is None
    record = await service.ledger.get_issue(WEEK)
    assert record is not None
    counts = await service.ledger.counts(record.id)
    assert counts == {("telegram", "sent"): 3}  # the channel's, Ann's and Bob's welcome
    [sentinel] = await running.say(BOB, "/help")
    assert len(fake.messages(BOB)) == before + 1 + len(english) + 4 + 1
    assert "Weekly AI Papers" in running.text(sentinel)
    assert (await service.published_issue(WEEK)) is not None  # still published


async def test_a_welcome_copy_left_in_the_ledger_is_sent_by_the_next_drain(
    running: Running,
) -> None:
    service, fake = running.service, running.fake
    await service.publish(WEEK)
    record = await service.ledger.get_issue(WEEK)
    assert record is not None
    bob = Destination(Channel.TELEGRAM, str(BOB), Language.EN)
    # planned, then the process stopped before sending it
    assert await service.ledger.plan_welcome(record.id, bob, service.telegram_transport)
    assert fake.messages(BOB) == []
    await service.resume_unfinished()  # what `digestbot run` does every few seconds
    issue = await service.published_issue(WEEK)
    assert issue is not None
    english = service.content_for(issue).telegram(Language.EN)
    assert [m.text for m in fake.messages(BOB)] == english
    await service.resume_unfinished()
    assert len(fake.messages(BOB)) == len(english)  # once


async def test_plain_text_in_a_private_chat_is_a_search(
    diffusion_papers: int, running: Running
) -> None:
    [results] = await running.say(ANN, "扩散模型")
    text = running.text(results)
    assert text.startswith("🔎 “扩散模型”：第 1–5 篇，共 12 篇")
    assert text.splitlines()[2] == "1. 扩散模型研究之9"
    assert [d[:2] for _, d in buttons(results)] == ["p:"] * 5 + ["q:"]

    [card] = await running.say(BOB, "https://arxiv.org/abs/2404.08634")
    assert running.text(card).startswith("Pre-training Small Base LMs with Fewer Tokens")
    assert running.text(card).splitlines()[-1] == "Coming in the next issue."
    [zh_card] = await running.say(ANN, "2404.08634")
    assert running.text(zh_card).splitlines()[-1] == "下一期将收录。"


DRAFT_ID = "2405.07777"


@pytest.fixture
def draft_paper(content_dir: Path) -> str:
    write(
        content_dir / "papers" / "2024" / f"{DRAFT_ID}.md",
        f"""---
arxiv_id: '{DRAFT_ID}'
title_en: A draft about sparse attention
title_zh: 关于稀疏注意力的草稿
date: 2024-05-02
status: draft
score: 5
summary_en: Not reviewed yet.
summary_zh: 尚未审阅。
---
""",
    )
    return DRAFT_ID


async def test_drafts_are_shown_to_admins_only(draft_paper: str, running: Running) -> None:
    [reader] = await running.say(BOB, f"/paper {draft_paper}")
    assert f"{draft_paper} is not in the digest yet" in running.text(reader)
    assert "draft" not in running.text(reader).lower()
    [searched] = await running.say(BOB, "/paper sparse attention draft")
    assert "A draft about sparse attention" not in running.text(searched)

    [admin] = await running.say(ADMIN, f"/paper {draft_paper}")
    text = running.text(admin)
    assert text.startswith("A draft about sparse attention")
    assert text.splitlines()[-1] == "📝 Draft: not published, only admins see it."
    await running.say(ADMIN, "/lang zh")
    [admin_zh] = await running.say(ADMIN, f"https://arxiv.org/abs/{draft_paper}")
    assert running.text(admin_zh).splitlines()[-1] == "📝 草稿：尚未发布，仅管理员可见。"


async def test_top_lists_the_best_scored_papers_of_published_issues(
    content_dir: Path, running: Running
) -> None:
    generous_guard(running)
    [none] = await running.say(BOB, "/top")
    assert running.text(none).startswith("No issue has been published yet")
    await running.service.publish(WEEK)
    # three papers listed this week, published too
    today = dt.datetime.now(dt.UTC).date()
    for n, score in enumerate((7, 90, 15)):
        write(
            content_dir / "papers" / str(today.year) / f"2611.{n:05d}.md",
            f"""---
arxiv_id: '2611.{n:05d}'
title_en: Recent paper {n}
title_zh: 最近的论文{n}
date: {today.isoformat()}
status: ready
score: {score}
summary_en: Recent.
summary_zh: 最近。
---
""",
        )
    running.service.build_index()
    this_week = str(Week.of(today))
    await running.service.publish(this_week)

    [top] = await running.say(BOB, "/top")
    lines = running.text(top).splitlines()
    assert lines[0] == "🏆 Top papers of all published issues"
    assert lines[2:6] == [
        "1. Recent paper 1",
        f"▲ 90 · {this_week}",
        "2. Pre-training Small Base LMs with Fewer Tokens",
        f"▲ 48 · {WEEK}",
    ]
    assert len([line for line in lines if line.startswith("▲")]) == 10
    assert buttons(top)[0] == ("1. Recent paper 1", "p:2611.00001")

    [month] = await running.say(ANN, "/top month")
    shown = running.text(month).splitlines()
    assert shown[0] == "🏆 近 30 天得分最高的论文"
    assert [line for line in shown if line.startswith("▲")] == [
        f"▲ {score} · {this_week}" for score in (90, 15, 7)
    ]
    assert shown[2] == "1. 最近的论文1"
    [year] = await running.say(BOB, "/top year")
    assert "Pre-training" not in running.text(year)


def test_publish_errors_read_the_admins_language() -> None:
    refused = IssueRefused(
        "2024-W16 cannot be sent: content/papers/2024/2404.09173.md:5: status: draft; "
        "content/papers/2024/2404.08634.md:1: missing file"
    )
    zh = visible_text(views.publish_error(refused, "", Language.ZH)).splitlines()
    assert zh == [
        "⚠️ 2024-W16 无法发布：其中有无效或草稿状态的论文。请在内容库中修正"
        "（digestbot check 会列出它们）：",
        "• content/papers/2024/2404.09173.md:5: status: draft",
        "• content/papers/2024/2404.08634.md:1: missing file",
    ]
    en = visible_text(views.publish_error(refused, "2024-W16", Language.EN))
    assert en.startswith("⚠️ 2024-W16 cannot be published: it holds invalid or draft papers.")
    nothing = views.publish_error(NothingToPublish("no ready papers"), "", Language.ZH)
    reads("zh", visible_text(nothing))
    other = views.publish_error(DigestbotError("disk full"), "2024-W16", Language.ZH)
    assert visible_text(other) == "⚠️ 2024-W16 无法发布：disk full"
