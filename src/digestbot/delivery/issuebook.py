"""The ledger's book of issues: one row per week, from planning to published.

An issue is planned by ``Ledger.plan`` (status ``sending``), marked ``published`` once no
delivery row is left (``Ledger.finish_if_done``), or recorded published at once when it
comes from an imported archive. The archive, the search page's issue links and the
Markdown export read it here.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.tables import UNFINISHED, deliveries, issues
from digestbot.db.upsert import insert_or_ignore
from digestbot.models import Issue


@dataclass(frozen=True, slots=True)
class IssueRecord:
    """One issue's row: its week, titles, papers, status and channels."""

    id: int
    week: str
    title_zh: str
    title_en: str
    paper_ids: tuple[str, ...]
    status: str
    channels: frozenset[str]
    source: str
    created_at: dt.datetime
    published_at: dt.datetime | None


def new_issue(
    engine: AsyncEngine,
    issue: Issue,
    status: str,
    source: str,
    created_at: dt.datetime,
    published_at: dt.datetime | None = None,
) -> Any:
    """INSERT the issue row unless its week already has one."""
    return insert_or_ignore(engine, issues, key=["week"]).values(
        week=issue.week,
        title_zh=issue.title_zh,
        title_en=issue.title_en,
        paper_ids=json.dumps(list(issue.paper_ids)),
        status=status,
        channels="",
        source=source,
        created_at=created_at,
        published_at=published_at,
    )


def issue_record(row: Any) -> IssueRecord:
    return IssueRecord(
        id=row.id,
        week=row.week,
        title_zh=row.title_zh,
        title_en=row.title_en,
        paper_ids=tuple(json.loads(row.paper_ids)),
        status=row.status,
        channels=frozenset(c for c in row.channels.split(",") if c),
        source=row.source,
        created_at=row.created_at,
        published_at=row.published_at,
    )


class IssueBook:
    """The issues table, for the ledger (a mixin: the ledger's ``engine``)."""

    engine: AsyncEngine

    async def get_issue(self, week: str) -> IssueRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(issues).where(issues.c.week == week))).first()
        return issue_record(row) if row else None

    async def list_issues(self, *, published_only: bool = True) -> list[IssueRecord]:
        q = select(issues).order_by(issues.c.week.desc())
        if published_only:
            q = q.where(issues.c.status == "published")
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [issue_record(r) for r in rows]

    async def published_paper_ids(self, before_week: str | None = None) -> set[str]:
        """Papers carried by issues already planned or published (optionally: earlier weeks)."""
        q = select(issues.c.paper_ids, issues.c.week)
        if before_week is not None:
            q = q.where(issues.c.week != before_week)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        out: set[str] = set()
        for r in rows:
            out.update(json.loads(r.paper_ids))
        return out

    async def record_published_issue(
        self, issue: Issue, published_at: dt.datetime, *, source: str
    ) -> bool:
        """Record an issue published elsewhere (an imported archive); True if it was new."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                new_issue(self.engine, issue, "published", source, published_at, published_at)
            )
        return bool(result.rowcount)

    async def unfinished_issues(self) -> list[IssueRecord]:
        """Issues still being sent, and published ones with rows left to send (retries
        queued again, a new subscriber's welcome copy planned by ``Ledger.plan_welcome``)."""
        queued = exists().where(deliveries.c.issue_id == issues.c.id, UNFINISHED)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(issues)
                    .where(or_(issues.c.status == "sending", queued))
                    .order_by(issues.c.week)
                )
            ).all()
        return [issue_record(r) for r in rows]
