"""Imported replies keep their model version: `messages.imported_version`, `imported_provenance`.

An archive names the model version that made each reply (ids differ between databases). Where
no version of that name is in the database it is imported into, the reply kept no trace of it
(Details… said "unknown"); now it keeps the name and the archive's account of the version as
text. Existing rows have nothing to fill in.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("imported_version", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("imported_provenance", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "imported_provenance")
    op.drop_column("messages", "imported_version")
