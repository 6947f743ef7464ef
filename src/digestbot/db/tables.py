"""SQLAlchemy Core tables: subscribers, published issues, the delivery ledger, scheduler runs,
confirmation mails sent (the abuse limits)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, stored as naive UTC so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database: use datetime.now(UTC)")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


metadata = MetaData()

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("bounces", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel", "address", name="uq_subscribers_channel_address"),
    Index("ix_subscribers_channel_status", "channel", "status"),
)

issues = Table(
    "issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("week", String(10), nullable=False, unique=True),
    Column("title_zh", Text, nullable=False),
    Column("title_en", Text, nullable=False),
    Column("paper_ids", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("channels", String(64), nullable=False, server_default=""),
    Column("source", String(16), nullable=False, server_default="digestbot"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", Integer, ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("transport", String(16), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("subscriber_id", Integer),
    Column("status", String(16), nullable=False),
    Column("parts_sent", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("issue_id", "channel", "address", name="uq_deliveries_issue_destination"),
    Index("ix_deliveries_drain", "issue_id", "status", "next_attempt_at"),
)

UNFINISHED = deliveries.c.status.in_([literal_column("'pending'"), literal_column("'sending'")])
"""Rows still to send. Literals, not parameters: a query must repeat a partial index's
condition as written for SQLite's and PostgreSQL's planners to use that index."""

Index(
    "ix_deliveries_unfinished",
    deliveries.c.issue_id,
    deliveries.c.next_attempt_at,
    deliveries.c.id,
    sqlite_where=UNFINISHED,
    postgresql_where=UNFINISHED,
)
"""The claim's index: an issue's unfinished rows in the order they fall due, so a claim
reads about one batch of index entries whatever the list's size (sent rows leave it). No
other index gives that order, so PostgreSQL can't prefer the primary key with a filter,
which read every sent row again when its statistics still said "all pending"."""

chat_migrations = Table(
    "chat_migrations",
    metadata,
    Column("old_chat_id", String(64), primary_key=True),
    Column("new_chat_id", String(64), nullable=False),
    Column("migrated_at", UTCDateTime, nullable=False),
)

scheduler_runs = Table(
    "scheduler_runs",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("fire_key", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("fired_at", UTCDateTime, nullable=False),
)

bot_users = Table(
    "bot_users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("lang", String(8), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

confirmation_mails = Table(
    "confirmation_mails",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 of the normalized address: the limits need no readable address of people
    # who may never have asked to subscribe
    Column("address_key", String(64), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Index("ix_confirmation_mails_address_sent", "address_key", "sent_at"),
    Index("ix_confirmation_mails_sent", "sent_at"),
)

follows = Table(
    "follows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("kind", String(16), nullable=False),  # "topic" (value: slug) or "keywords"
    Column("value", String(200), nullable=False),
    Column("lang", String(8), nullable=False),  # the reader's language when they followed
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel", "address", "kind", "value", name="uq_follows_follow"),
    Index("ix_follows_channel", "channel"),
)

personal_picks = Table(
    "personal_picks",
    metadata,
    Column("issue_id", Integer, ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("paper_ids", Text, nullable=False),
)
