"""Keeping a fine-tune safe to stop: signals become a cooperative stop, and a lock file keeps
two fine-tunes from running at once.

- SIGTERM / SIGINT set a flag that the training loop polls; if the work has not stopped a moment
  later (a long evaluation, reading a corpus), an alarm interrupts it.
- The lock is an OS lock on a file in the data folder: the OS releases it when the process dies,
  however it dies; so a free lock means that a run still marked 'running' was interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from chatapp.finetune.errors import FinetuneError
from chatapp.store import Store

LOCK_FILE = "finetune.lock"
PROBE_WAIT_S = 1.0  # how long a run waits for the lock before it says another run holds it
STOP_GRACE_S = 0.8  # how long a cooperative stop may take before the alarm interrupts the work


class Interrupted(Exception):
    """The run was asked to stop (SIGTERM / SIGINT)."""


class StopOnSignal:
    """Turns SIGTERM / SIGINT into a stop flag, then, after a grace period, an exception.

    While `armed` is false (database writes, the final bookkeeping) a signal only sets the flag.
    Inside `deferred()` (writing one progress line) the exception waits until the block ends,
    so a parent never reads half a JSON line.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_number: int | None = None
        self.armed = False
        self._deferring = 0
        self._pending = False
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.requested

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopOnSignal]:
        names = ("SIGTERM", "SIGINT", "SIGALRM")
        numbers = [getattr(signal, name) for name in names if hasattr(signal, name)]
        for number in numbers:
            handler = (
                self._on_alarm if number == getattr(signal, "SIGALRM", None) else self._on_stop
            )
            self._previous[number] = signal.signal(number, handler)
        try:
            yield self
        finally:
            self.disarm()
            for number, previous in self._previous.items():
                signal.signal(number, previous)

    def arm(self) -> None:
        self.armed = True
        if self.requested:
            raise Interrupted

    def disarm(self) -> None:
        self.armed = False
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self._pending and self.armed and not self._deferring:
            self._pending = False
            raise Interrupted

    def _on_stop(self, number: int, frame: FrameType | None) -> None:
        first = not self.requested
        self.requested = True
        self.signal_number = self.signal_number or number
        if first and self.armed and hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)

    def _on_alarm(self, number: int, frame: FrameType | None) -> None:
        if not self.armed:
            return
        if self._deferring:
            self._pending = True
            return
        raise Interrupted


@contextlib.contextmanager
def finetune_lock(data_dir: Path) -> Iterator[None]:
    """Hold `DATA_DIR/finetune.lock` for the run; refuse if another process holds it."""
    path = data_dir / LOCK_FILE
    handle = path.open("a+")
    try:
        if not _lock_within(handle, PROBE_WAIT_S):
            raise FinetuneError(
                f"another fine-tune is already running for {data_dir} (it holds {path}); "
                "wait for it to finish or cancel it"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock (and so does the process dying)


def lock_is_free(data_dir: Path) -> bool:
    """True when no fine-tune holds `DATA_DIR/finetune.lock` (none running, or the one that
    held it has died: the OS released its lock however it died)."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return True
    with path.open("a+") as handle:
        return _try_lock(handle)  # closing releases it again at once


def close_interrupted_runs(store: Store, data_dir: Path) -> int:
    """Mark runs left 'running' as failed (interrupted) when no fine-tune holds the lock: a run
    killed with SIGKILL (or by the OOM killer) shows as interrupted as soon as it is gone, not
    at the app's next start. How many were marked."""
    return store.fail_stale_runs() if lock_is_free(data_dir) else 0


def _lock_within(handle: Any, seconds: float) -> bool:
    """Take the lock, waiting out a `lock_is_free` probe (which holds it for an instant)."""
    deadline = time.monotonic() + seconds
    while not _try_lock(handle):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _try_lock(handle: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock, also released when the process dies
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
