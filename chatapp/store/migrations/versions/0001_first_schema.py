"""The first schema: conversations, messages, model versions, fine-tune runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.UniqueConstraint("uid", name="uq_conversations_uid"),
    )
    op.create_index(
        "ix_conversations_archived_pinned_updated_at",
        "conversations",
        ["archived", "pinned", "updated_at"],
    )

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("directory", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_base", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("name", name="uq_model_versions_name"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["model_versions.id"],
            name="fk_model_versions_parent_id_model_versions",
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "uq_model_versions_one_active",
        "model_versions",
        ["active"],
        unique=True,
        sqlite_where=sa.text("active"),
    )

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(4), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("chosen", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("rating", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("corrected_text", sa.Text(), nullable=True),
        sa.Column("stopped", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("decoding", sa.JSON(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=True),
        sa.Column("nbest", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("uid", name="uq_messages_uid"),
        sa.CheckConstraint("role IN ('user', 'bot')", name="ck_messages_role"),
        sa.CheckConstraint("rating IN (-1, 0, 1)", name="ck_messages_rating"),
        sa.CheckConstraint("position >= 0", name="ck_messages_position"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_messages_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["messages.id"],
            name="fk_messages_parent_id_messages",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_messages_model_version_id_model_versions",
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "ix_messages_conversation_id_chosen_position",
        "messages",
        ["conversation_id", "chosen", "position"],
    )
    op.create_index(
        "ix_messages_conversation_id_position", "messages", ["conversation_id", "position"]
    )
    op.create_index(
        "uq_messages_chosen_position",
        "messages",
        ["conversation_id", "position"],
        unique=True,
        sqlite_where=sa.text("chosen"),
    )
    op.create_index("ix_messages_parent_id", "messages", ["parent_id"])

    op.create_table(
        "finetune_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("log", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_runs"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'cancelled')",
            name="ck_finetune_runs_status",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_finetune_runs_model_version_id_model_versions",
            ondelete="SET NULL",
        ),
    )


def downgrade() -> None:
    for table in ("finetune_runs", "messages", "model_versions", "conversations"):
        op.drop_table(table)
