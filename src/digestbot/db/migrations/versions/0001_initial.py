"""Initial schema: subscribers, issues, deliveries, chat migrations, scheduler runs, bot users.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digestbot.db.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("bounces", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("channel", "address", name="uq_subscribers_channel_address"),
    )
    op.create_index("ix_subscribers_channel_status", "subscribers", ["channel", "status"])
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("week", sa.String(10), nullable=False, unique=True),
        sa.Column("title_zh", sa.Text, nullable=False),
        sa.Column("title_en", sa.Text, nullable=False),
        sa.Column("paper_ids", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channels", sa.String(64), nullable=False, server_default=""),
        sa.Column("source", sa.String(16), nullable=False, server_default="digestbot"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "issue_id",
            sa.Integer,
            sa.ForeignKey("issues.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("subscriber_id", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parts_sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint(
            "issue_id", "channel", "address", name="uq_deliveries_issue_destination"
        ),
    )
    op.create_index("ix_deliveries_drain", "deliveries", ["issue_id", "status", "next_attempt_at"])
    op.create_table(
        "chat_migrations",
        sa.Column("old_chat_id", sa.String(64), primary_key=True),
        sa.Column("new_chat_id", sa.String(64), nullable=False),
        sa.Column("migrated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "scheduler_runs",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("fire_key", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("fired_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "bot_users",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "bot_users",
        "scheduler_runs",
        "chat_migrations",
        "deliveries",
        "issues",
        "subscribers",
    ):
        op.drop_table(name)
