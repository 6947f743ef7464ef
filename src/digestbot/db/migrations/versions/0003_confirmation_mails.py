"""Confirmation mails sent, per address key and time: the subscribe abuse limits (issue 10).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digestbot.db.tables import UTCDateTime

revision = "0003"
down_revision = "0002_follows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "confirmation_mails",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("address_key", sa.String(64), nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_confirmation_mails_address_sent", "confirmation_mails", ["address_key", "sent_at"]
    )
    op.create_index("ix_confirmation_mails_sent", "confirmation_mails", ["sent_at"])


def downgrade() -> None:
    op.drop_table("confirmation_mails")
