"""Corrections: `messages.corrected_at`, when a reply was corrected.

The corrections memory lets the latest teaching of a prompt win, so it needs when each
correction was made (ordering by when the corrected reply was made let an older reply's later
correction lose). Existing corrections get the time of their reply: the best that is known.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("corrected_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE messages SET corrected_at = created_at WHERE corrected_text IS NOT NULL")


def downgrade() -> None:
    op.drop_column("messages", "corrected_at")
