"""The one door through which the GUI writes to the store (after Anki's `CollectionOp`).

An action is a function of the store. It runs on one background thread, in the order the
actions were asked for (a user turn is committed before its reply), and reports exactly once,
on the GUI thread: its `success` callback and then `changed`, or its `failure` callback (or,
without one, `failed` with a message fit for the user). Widgets refresh from `changed` instead
of each caller catching store errors itself; the GUI thread never waits on SQLite.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject, QThread, Signal, Slot

from chatapp.store import Store
from chatapp.store.errors import StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 5.0  # a reply being saved as the app closes is worth a short wait


class Change(enum.Flag):
    """What an action changed, so that listeners refresh only what they show."""

    NONE = 0
    CONVERSATIONS = enum.auto()  # the sidebar's list (titles, order, pins, archive)
    MESSAGES = enum.auto()
    MODELS = enum.auto()
    PRESETS = enum.auto()


@dataclass
class _Action:
    op: Callable[[Store], Any]
    success: Callable[[Any], None] | None
    failure: Callable[[str], None] | None
    changes: Change
    result: Any = None
    error: str | None = None


def user_message(error: BaseException) -> str:
    """The store's own messages are written for the user; anything else says what it was."""
    if isinstance(error, (StoreError, ValueError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


class StoreActions(QObject):
    changed = Signal(object)  # Change: what a finished action changed
    failed = Signal(str)  # an action without its own failure handler failed
    _finished = Signal(object)  # an _Action, from the worker thread (queued to the GUI thread)

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._queue: queue.Queue[_Action | None] = queue.Queue()
        self._pending = 0
        self._finished.connect(self._on_finished)
        self._thread = threading.Thread(target=self._work, name="store-actions", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while an action has not yet reported back."""
        return self._pending > 0

    def run(
        self,
        op: Callable[[Store], T],
        *,
        success: Callable[[T], None] | None = None,
        failure: Callable[[str], None] | None = None,
        changes: Change = Change.NONE,
    ) -> None:
        """Run `op(store)` in the background; report once on the GUI thread."""
        if not self._thread.is_alive():
            raise RuntimeError("the store's action thread has been shut down")
        self._pending += 1
        self._queue.put(_Action(op, success, failure, changes))

    def _work(self) -> None:
        while (action := self._queue.get()) is not None:
            try:
                action.result = action.op(self.store)
            except Exception as error:  # reported once, on the GUI thread; never kills the loop
                if not isinstance(error, (StoreError, ValueError)):
                    log.exception("a store action failed")
                action.error = user_message(error)
            self._finished.emit(action)

    @Slot(object)
    def _on_finished(self, action: _Action) -> None:
        self._pending -= 1
        if action.error is not None:
            if action.failure is not None:
                action.failure(action.error)
            else:
                self.failed.emit(action.error)
            return
        if action.success is not None:
            action.success(action.result)
        self.changed.emit(action.changes)

    def announce(self, changes: Change) -> None:
        """Tell listeners of a change made outside an action: by the fine-tune child process,
        or the committed batches of an import that stopped half-way."""
        self.changed.emit(changes)

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        """Let every queued action finish and report (for tests and scripts)."""
        deadline = QDeadlineTimer(timeout_ms)
        while self._pending and not deadline.hasExpired():
            QCoreApplication.processEvents()
            QThread.msleep(1)
        return not self._pending

    def shut_down(self) -> bool:
        """Finish the queued actions (a reply being saved) and end the thread."""
        self._queue.put(None)
        self._thread.join(SHUTDOWN_WAIT_S)
        return not self._thread.is_alive()
