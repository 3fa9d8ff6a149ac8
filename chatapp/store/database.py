"""Opening the SQLite file: checks, migrations, engine settings, and error translation.

`Database.open` refuses what it must not touch (a damaged file, another program's database, a
database made by a newer app) before writing a byte, backs up and upgrades an older schema,
and hands out sessions: `read()` and `write()` are one unit of work each, never shared across
threads. Every SQLite failure leaves here as a `StoreError` with a message fit for the user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

if TYPE_CHECKING:
    from alembic.config import Config

from chatapp.store.backup import BACKUP_DIR, make_backup, maybe_daily_backup
from chatapp.store.errors import (
    CorruptDatabaseError,
    DatabaseLockedError,
    DiskFullError,
    NewerDatabaseError,
    ReadOnlyDatabaseError,
    StoreError,
    UpgradeNeededError,
)
from chatapp.store.file_lock import schema_lock
from engine.strict_json import strict_dumps

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds a write waits for another program before giving up
SCHEMA_LOCK_TIMEOUT = 60.0  # seconds an opening waits for another process's migration
SQLITE_HEADER = b"SQLite format 3\x00"
SPARE_CONNECTIONS = 3  # the GUI thread, a background reader and a writer at once
_BEGIN_OPTION = "chatapp_store_begin"  # execution option read by the "begin" listener


# The schema revisions in migrations/versions, oldest first. Kept here so that opening an
# up-to-date database needs no Alembic import (it costs about a second at start-up); a test
# checks this list against the migrations folder.
SCHEMA_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006")


def alembic_config(path: str | os.PathLike[str]) -> Config:
    """An Alembic configuration for the database at `path` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["db_path"] = Path(path)
    return config


def head_revision() -> str:
    """The schema revision this version of the app writes."""
    return SCHEMA_REVISIONS[-1]


def known_revisions() -> set[str]:
    return set(SCHEMA_REVISIONS)


def read_only_uri(path: Path) -> str:
    """The URI that reads `path` and never writes: `mode=ro`, and `immutable=1` where the folder
    cannot hold the -wal/-shm files that even a reader of a WAL database makes."""
    uri = path.resolve().as_uri() + "?mode=ro"
    return uri if os.access(path.parent, os.W_OK) else uri + "&immutable=1"


def create_sqlite_engine(
    path: Path,
    *,
    read_only: bool = False,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    foreign_keys: bool = True,
    max_page_count: int | None = None,
    begin: str = "DEFERRED",
) -> Engine:
    """An engine whose every connection has the store's pragmas.

    `begin` is the default transaction mode; `Database.write` asks for IMMEDIATE per session.
    """
    uri = read_only_uri(path) if read_only else path.resolve().as_uri()

    def connect() -> sqlite3.Connection:
        # isolation_level=None stops sqlite3 from issuing its own BEGINs (it skips them before
        # SELECTs and DDL); the "begin" listener below issues ours, so reads are repeatable and
        # migrations are transactional.
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)

    engine = create_engine(
        URL.create("sqlite+pysqlite", database=str(path)),
        creator=connect,
        poolclass=QueuePool,
        execution_options={_BEGIN_OPTION: begin},
        # Strict JSON (a non-finite figure as null), so SQLite's JSON functions and an archive
        # read the columns: json.dumps would write NaN.
        json_serializer=strict_dumps,
    )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching to WAL may itself have to wait for a lock.
        cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit that returned survives a crash or power loss, not only a killed process.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        if max_page_count is not None:
            cursor.execute(f"PRAGMA max_page_count = {int(max_page_count)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(f"BEGIN {connection.get_execution_options()[_BEGIN_OPTION]}")

    return engine


def store_error(error: BaseException, path: Path, busy_timeout: float) -> StoreError:
    """The user-facing error for an SQLite failure (SQLite's messages are stable API)."""
    original = getattr(error, "orig", None) or error
    message = str(original)
    lowered = message.lower()
    if "locked" in lowered:
        return DatabaseLockedError(
            f"the database is locked by another program (waited {busy_timeout:g} s): {path}. "
            "Nothing was lost; close the other program and try again."
        )
    if "disk is full" in lowered:
        return DiskFullError(
            f"disk is full: could not save to {path}. What was saved before is intact; "
            "free some space and try again."
        )
    if "readonly" in lowered or "read-only" in lowered:
        return ReadOnlyDatabaseError(f"the database {path} is read-only: changes can't be saved")
    if "malformed" in lowered or "not a database" in lowered:
        return CorruptDatabaseError(
            f"the database {path} is damaged ({message}); it was left as it is. "
            f"Copies are kept in {path.parent / BACKUP_DIR}."
        )
    if "unable to open" in lowered:
        return StoreError(f"cannot open the database {path}: {message}")
    return StoreError(f"database error in {path}: {message}")


@contextmanager
def translate_errors(path: Path, busy_timeout: float) -> Iterator[None]:
    try:
        yield
    except (sa_exc.IntegrityError, sa_exc.ProgrammingError, sqlite3.IntegrityError):
        raise  # a broken invariant or a bad statement is a bug, not a user-facing condition
    except (sa_exc.DatabaseError, sa_exc.OperationalError, sqlite3.DatabaseError) as error:
        raise store_error(error, path, busy_timeout) from error


def read_revision(path: Path, busy_timeout: float) -> str | None:
    """The schema revision of an existing file, checking it without writing to it.

    None means an empty database. Raises `CorruptDatabaseError` for a file that is not an SQLite
    database or fails `PRAGMA quick_check`, and `StoreError` for another program's database.
    """
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise CorruptDatabaseError(
            f"{path} is not a Seq2Seq Chat database (not an SQLite file); it was left untouched"
        )
    connection = sqlite3.connect(read_only_uri(path), uri=True, timeout=busy_timeout)
    try:
        check = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if check != ["ok"]:
            raise CorruptDatabaseError(
                f"the database {path} is damaged ({'; '.join(check[:3])}); it was left as it is. "
                f"Copies are kept in {path.parent / BACKUP_DIR}."
            )
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "alembic_version" not in tables:
            if tables:
                raise StoreError(
                    f"{path} is not a Seq2Seq Chat database (it has no schema version); "
                    "it was left untouched"
                )
            return None
        rows = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        if not rows and tables - {"alembic_version"}:
            # Migrating it "from nothing" would fail half-way ("table ... already exists").
            raise StoreError(
                f"the database {path} has lost its schema version (its alembic_version table "
                "is empty), so it cannot be opened safely; it was left untouched. Copies are "
                f"kept in {path.parent / BACKUP_DIR}."
            )
    finally:
        connection.close()
    unknown = sorted(set(rows) - known_revisions())
    if unknown:
        raise NewerDatabaseError(
            f"the database {path} was made by a newer version of Seq2Seq Chat (schema "
            f"{', '.join(unknown)}; this version knows up to {head_revision()}). It was left "
            "untouched: update the app to open it."
        )
    return rows[0] if rows else None


def upgrade(path: Path, from_revision: str | None) -> None:
    """Bring the schema to the head revision, after a backup if there was data to lose."""
    if from_revision is not None:
        make_backup(path, reason=f"before-{head_revision()}")
        log.info("upgrading %s from schema %s to %s", path, from_revision, head_revision())
    from alembic import command

    command.upgrade(alembic_config(path), "head")


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


class Database:
    """An open database: its engine, one sessionmaker, and units of work."""

    def __init__(self, path: Path, engine: Engine, *, read_only: bool, busy_timeout: float):
        self.path = path
        self.read_only = read_only
        self.busy_timeout = busy_timeout
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._resolved = path.resolve()
        self._identity = _file_identity(self._resolved)
        self._warm_pool()

    def _warm_pool(self) -> None:
        """Open `SPARE_CONNECTIONS` connections at once and leave them idle in the pool.

        A file deleted while the app runs can still be read through connections opened
        before it was; a new one would open an empty file at its path. The pool opens a new
        one whenever another thread holds the only idle one (the window's read right after a
        background write: it found an empty chat, 1 run in 3)."""
        with contextlib.ExitStack() as held:
            for _ in range(SPARE_CONNECTIONS):
                held.enter_context(self._engine.connect())

    def _check_still_there(self) -> None:
        """Refuse to write once the file was deleted or replaced under the open database.

        SQLite goes on writing to the deleted file (or to its WAL) without an error, and all
        of that vanishes when the app closes; the open copy can still be read and exported.
        """
        if _file_identity(self._resolved) != self._identity:
            raise StoreError(
                f"the database file {self.path} was deleted or replaced while the app had it "
                "open, so nothing more can be saved to it. What is shown can still be read and "
                f"exported; copies are kept in {self.path.parent / BACKUP_DIR}."
            )

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        max_page_count: int | None = None,
    ) -> Database:
        path = Path(path)
        try:
            return cls._open(path, read_only, busy_timeout, max_page_count)
        except OSError as error:  # a path that cannot be a database file at all
            raise StoreError(
                f"cannot open the database {path}: {error.strerror or error}"
            ) from None

    @classmethod
    def _open(
        cls, path: Path, read_only: bool, busy_timeout: float, max_page_count: int | None
    ) -> Database:
        if path.is_dir():
            raise StoreError(f"cannot open the database {path}: it is a folder, not a file")
        existed = path.exists() and path.stat().st_size > 0
        if read_only and not existed:
            raise StoreError(f"there is no database at {path}")
        if existed and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            read_only = True  # open what can be read; writes raise ReadOnlyDatabaseError
        if not existed and not read_only:
            # SQLite gives the -wal and -shm files the database file's mode: private chats.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        with translate_errors(path, busy_timeout):
            revision = read_revision(path, busy_timeout) if existed else None
            if revision != head_revision():
                if read_only:
                    raise UpgradeNeededError(
                        f"the database {path} needs upgrading for this version of the app but "
                        "is read-only; it was left untouched"
                    )
                with schema_lock(path, timeout=max(busy_timeout, SCHEMA_LOCK_TIMEOUT)):
                    # Another process may have created or upgraded it while this one waited.
                    if path.exists() and path.stat().st_size > 0:
                        revision = read_revision(path, busy_timeout)
                    if revision != head_revision():
                        upgrade(path, revision)
        engine = create_sqlite_engine(
            path, read_only=read_only, busy_timeout=busy_timeout, max_page_count=max_page_count
        )
        if existed and not read_only:
            try:
                maybe_daily_backup(path)
            except (OSError, sqlite3.Error) as error:
                # A missed backup must not keep the user from their conversations.
                log.warning("daily backup of %s failed: %s", path, error)
        return cls(path, engine, read_only=read_only, busy_timeout=busy_timeout)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work that only reads (a consistent snapshot)."""
        with translate_errors(self.path, self.busy_timeout), self._sessions.begin() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work that writes: committed on a clean exit, rolled back on an error."""
        if self.read_only:
            raise ReadOnlyDatabaseError(
                f"the database {self.path} is open read-only: changes can't be saved"
            )
        self._check_still_there()
        with translate_errors(self.path, self.busy_timeout), self._sessions.begin() as session:
            # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a
            # read-then-write unit never fails half-way when another writer got in between.
            session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
            yield session

    def close(self) -> None:
        self._engine.dispose()
