"""One model version per model folder: a unique index on `model_versions.directory`.

Two processes registering the same folder at once could each add a row. Duplicates already
there are folded into the oldest row of their folder (replies, fine-tune runs and children point
at it; it keeps the active and base flags) before the index is made.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEEPER = "(SELECT MIN(k.id) FROM model_versions k WHERE k.directory = v.directory)"
DUPLICATES = f"SELECT v.id FROM model_versions v WHERE v.id <> {KEEPER}"


def _keeper_of(column: str) -> str:
    return f"(SELECT {KEEPER} FROM model_versions v WHERE v.id = {column})"


FOLD_STATEMENTS = (
    f"UPDATE messages SET model_version_id = {_keeper_of('messages.model_version_id')} "
    f"WHERE model_version_id IN ({DUPLICATES})",
    f"UPDATE finetune_runs SET model_version_id = {_keeper_of('finetune_runs.model_version_id')} "
    f"WHERE model_version_id IN ({DUPLICATES})",
    "CREATE TEMPORARY TABLE folded_flags AS SELECT "
    f"{KEEPER} AS keeper, MAX(v.active) AS active, MAX(v.is_base) AS is_base "
    "FROM model_versions v GROUP BY v.directory",
    f"UPDATE model_versions SET parent_id = {_keeper_of('model_versions.parent_id')} "
    f"WHERE parent_id IN ({DUPLICATES})",
    "UPDATE model_versions SET active = 0",
    "UPDATE model_versions SET "
    "active = (SELECT f.active FROM folded_flags f WHERE f.keeper = model_versions.id), "
    "is_base = (SELECT f.is_base FROM folded_flags f WHERE f.keeper = model_versions.id) "
    "WHERE id IN (SELECT keeper FROM folded_flags)",
    "DROP TABLE folded_flags",
    "UPDATE model_versions SET parent_id = NULL WHERE parent_id = id",
    f"DELETE FROM model_versions WHERE id IN ({DUPLICATES})",
)


def upgrade() -> None:
    for statement in FOLD_STATEMENTS:
        op.execute(statement)
    op.create_index("uq_model_versions_directory", "model_versions", ["directory"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_model_versions_directory", table_name="model_versions")
