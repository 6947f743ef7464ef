"""Follows: kept in the database across restarts, exported by `subscribers export --follows`,
and matched against an issue's papers (topics by tag, keyword searches by every word)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.errors import FollowError
from digestbot.models import Channel, Language, Paper
from digestbot.settings import load_settings
from digestbot.topics import keywords_match, matching_papers
from digestbot.wiring import build_service


def paper(pid: str, title: str, summary_zh: str = "", tags: tuple[str, ...] = ()) -> Paper:
    return Paper(pid, title, dt.date(2024, 4, 16), summary_zh=summary_zh, tags=tags)


def test_keyword_search_needs_every_word() -> None:
    fam = paper("1", "TransformerFAM: Feedback attention is working memory")
    assert keywords_match("feedback attention", fam)
    assert keywords_match("ATTENTION feedback", fam)
    assert not keywords_match("feedback loops", fam)
    assert not keywords_match("attent", fam)  # Latin words match whole
    zh = paper("2", "X", summary_zh="我们提出一种推测解码方法")
    assert keywords_match("推测解码", zh)


def test_matching_papers_keeps_issue_order() -> None:
    papers = [
        paper("1", "Megalodon", tags=("long-context",)),
        paper("2", "CLIP scaling", tags=("multimodal",)),
        paper("3", "Feedback attention", tags=("memory",)),
    ]
    found = matching_papers(["long-context"], ["feedback attention"], papers)
    assert [p.arxiv_id for p in found] == ["1", "3"]
    assert matching_papers(["moe"], [], papers) == ()


async def test_follows_survive_a_restart_and_are_exported(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc = build_service(load_settings())
    await svc.start()
    try:
        done = await svc.follow(Channel.TELEGRAM, "42", "长上下文", Language.ZH)
        assert done.topic is not None and done.topic.slug == "long-context" and done.added
        await svc.follow(Channel.TELEGRAM, "42", "Speculative  Decoding", Language.ZH)
        await svc.follow(Channel.TELEGRAM, "43", "Agents", Language.EN)
        with pytest.raises(FollowError):
            await svc.follow(Channel.TELEGRAM, "43", "   ", Language.EN)
    finally:
        await svc.close()

    again = build_service(load_settings())
    await again.start()
    try:
        follows = await again.following(Channel.TELEGRAM, "42")
        assert [(f.kind, f.value) for f in follows] == [
            ("topic", "long-context"),
            ("keywords", "speculative decoding"),
        ]
    finally:
        await again.close()

    assert await asyncio.to_thread(main, ["subscribers", "export", "--follows"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "channel,address,kind,value,lang",
        "telegram,42,topic,long-context,zh",
        "telegram,42,keywords,speculative decoding,zh",
        "telegram,43,topic,agents,en",
    ]


async def test_only_my_topics_mail_carries_just_their_papers(env: Path) -> None:
    """Outbox mail: an "only my topics" subscriber gets just their papers, one whose topics
    match nothing gets no mail, another follower the whole issue with their papers first,
    everyone else the whole issue as it is."""
    from digestbot.models import Channel as Ch

    svc = build_service(load_settings())
    await svc.start()
    try:
        for address in ("mine@example.org", "none@example.org", "all@example.org"):
            await svc.subscribers.upsert(Ch.EMAIL, address, Language.EN, "active", confirmed=True)
        await svc.follow(Ch.EMAIL, "mine@example.org", "long-context", Language.EN)
        await svc.set_only_my_topics("mine@example.org", True)
        await svc.follow(Ch.EMAIL, "none@example.org", "moe", Language.EN)
        await svc.set_only_my_topics("none@example.org", True)
        await svc.follow(Ch.EMAIL, "all@example.org", "long-context", Language.EN)
        await svc.subscribers.upsert(
            Ch.EMAIL, "plain@example.org", Language.EN, "active", confirmed=True
        )
        report = await svc.publish("2024-W16")
        assert report.complete, report.lines()
    finally:
        await svc.close()
    mail = env / "outbox" / "mail"

    def text_of(path: Path) -> str:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        body = msg.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        return str(body.get_content())

    mine = text_of(mail / "2024-W16-mine@example.org.eml")
    assert "match what you follow" in mine
    assert "Megalodon" in mine and "TransformerFAM" in mine and "Scaling (Down) CLIP" not in mine
    assert not (mail / "2024-W16-none@example.org.eml").exists()
    everything = text_of(mail / "2024-W16-all@example.org.eml")
    assert "The 2 papers that match what you follow come first." in everything
    first, clip = everything.index("Megalodon"), everything.index("Scaling (Down) CLIP")
    assert everything.index("TransformerFAM") < clip and first < clip
    assert everything.index("Pre-training Small Base LMs") > first  # no. 1 of the issue
    plain = text_of(mail / "2024-W16-plain@example.org.eml")
    assert "match what you follow" not in plain
    assert plain.index("Pre-training Small Base LMs") < plain.index("Megalodon")
