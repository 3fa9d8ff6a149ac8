"""Alembic environment: runs the revisions in `versions/` against one SQLite file.

Configured in code (`chatapp.store.database.alembic_config(path)`), so there is no alembic.ini.
New revisions are written by hand, following 0002's layout: each must leave existing rows
intact, and the ORM classes in `chatapp/store/models.py` must match the result (a test checks).
"""

from __future__ import annotations

from alembic import context

from chatapp.store.database import create_sqlite_engine


def run_migrations() -> None:
    # Foreign keys off: SQLite rebuilds a table to alter it (copy, drop, rename), and dropping
    # the old table with foreign keys on would cascade-delete the rows that point at it. They
    # are checked once at the end instead, inside the same transaction. IMMEDIATE: a second
    # app opening the same file waits, then finds the schema already upgraded.
    engine = create_sqlite_engine(
        context.config.attributes["db_path"], foreign_keys=False, begin="IMMEDIATE"
    )
    try:
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
    finally:
        engine.dispose()


run_migrations()
