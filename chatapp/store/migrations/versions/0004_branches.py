"""Branches: `messages.follows_id`, the slot each message continues.

Editing a user turn keeps the old turn and its continuation as a branch of their own, so each
message now records what it follows. Existing conversations have one line of turns: every
message follows the chosen message before it (for a bot position, the first of its
alternatives, which all share one continuation). Nothing is deleted or changed otherwise.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The slot of the chosen message before each message: a user turn is its own slot; a bot
# position's alternatives share the slot of the first of them.
FILL_FOLLOWS = """
UPDATE messages SET follows_id = (
    SELECT CASE WHEN p.role = 'user' THEN p.id ELSE (
        SELECT MIN(s.id) FROM messages s
        WHERE s.conversation_id = p.conversation_id AND s.position = p.position
    ) END
    FROM messages p
    WHERE p.conversation_id = messages.conversation_id
      AND p.position = messages.position - 1 AND p.chosen
)
WHERE position > 0
"""


def upgrade() -> None:
    op.add_column("messages", sa.Column("follows_id", sa.Integer(), nullable=True))
    op.create_index("ix_messages_follows_id", "messages", ["follows_id"])
    op.execute(FILL_FOLLOWS)


def downgrade() -> None:
    # The older app knows one line of turns: keep the visible path (and the alternatives
    # beside it) and drop the branches off it, as that app's edit would have.
    op.execute(
        "DELETE FROM messages WHERE NOT chosen AND follows_id IS NOT (SELECT c.follows_id "
        "FROM messages c WHERE c.conversation_id = messages.conversation_id "
        "AND c.position = messages.position AND c.chosen)"
    )
    op.drop_index("ix_messages_follows_id", table_name="messages")
    op.drop_column("messages", "follows_id")
