"""A new subscriber's welcome copy in the ledger, on SQLite and PostgreSQL: one row, once."""

from __future__ import annotations

from digestbot.delivery.ledger import Ledger
from digestbot.delivery.publisher import Publisher
from digestbot.delivery.senders import MemorySender
from digestbot.models import Channel, Destination, Language
from test_ledger import ISSUE, content, dests, ledger

__all__ = ["ledger"]  # the fixture, shared with test_ledger.py


async def test_a_welcome_row_is_planned_once_and_leaves_the_issue_published(
    ledger: Ledger,
) -> None:
    rec = await ledger.plan(ISSUE, dests(2, 1), frozenset({"email", "telegram"}))
    sender = MemorySender()
    publisher = Publisher(ledger, {"memory": sender})
    await publisher.drain(rec.id, content())
    assert await ledger.finish_if_done(rec.id)
    published = await ledger.get_issue(ISSUE.week)
    assert published is not None and published.status == "published"
    assert await ledger.unfinished_issues() == []

    newcomer = Destination(Channel.TELEGRAM, "4242", Language.ZH)
    assert await ledger.plan_welcome(published.id, newcomer, "memory")
    assert not await ledger.plan_welcome(published.id, newcomer, "memory")  # once
    old_hand = dests(0, 1)[0][0]  # got the issue when it was published
    assert not await ledger.plan_welcome(published.id, old_hand, "memory")
    assert [r.week for r in await ledger.unfinished_issues()] == [ISSUE.week]

    await publisher.drain(rec.id, content())
    firsts = [(c, a) for c, a, part, _ in sender.sent if part == 0]
    assert firsts.count(("telegram", "4242")) == 1
    assert len(firsts) == 4
    assert await ledger.unfinished_issues() == []
    still = await ledger.get_issue(ISSUE.week)
    assert still is not None and still.status == "published"
    assert still.published_at == published.published_at
