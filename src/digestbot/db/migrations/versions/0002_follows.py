"""Follows (topics and saved keyword searches) and the papers each personal message carries.

Revision ID: 0002_follows
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digestbot.db.tables import UTCDateTime

revision = "0002_follows"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("channel", "address", "kind", "value", name="uq_follows_follow"),
    )
    op.create_index("ix_follows_channel", "follows", ["channel"])
    op.create_table(
        "personal_picks",
        sa.Column(
            "issue_id",
            sa.Integer,
            sa.ForeignKey("issues.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("paper_ids", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("personal_picks")
    op.drop_index("ix_follows_channel", "follows")
    op.drop_table("follows")
