"""An OS lock on a file beside the database, held while the schema is created or upgraded.

Several processes opening a new database at once would each run the migrations (one fails with
"table ... already exists", or two model versions appear). The first to take this lock creates
the schema; the others wait, then find it up to date. The OS releases the lock when its process
dies, so a crash never leaves it held. The file is removed once the schema is up to date: a
waiter still holding the removed file, and a newcomer locking a new one, then both find it so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chatapp.store.errors import DatabaseLockedError, StoreError

POLL_SECONDS = 0.05


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(f".{db_path.name}.lock")


@contextmanager
def schema_lock(db_path: Path, *, timeout: float) -> Iterator[None]:
    """Hold the database's schema lock, waiting up to `timeout` seconds for another process."""
    path = lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise StoreError(f"cannot open the database {db_path}: {error.strerror or error}") from None
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise DatabaseLockedError(
                    f"another program has been setting up the database {db_path} for more than "
                    f"{timeout:g} s (it holds {path}); nothing was changed, try again"
                )
            time.sleep(POLL_SECONDS)
        yield
        path.unlink(missing_ok=True)  # only after success: after a failure the next one retries
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock, also released when the process dies
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
