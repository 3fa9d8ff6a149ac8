"""What fine-tuning can learn from, counted once for the whole app.

The status bar and the Fine-tune dialog both show these counts, so both read them here: the
distinct pairs of each kind (`finetune.data.distinct_counts`, what a run would train on), read
on a background thread after every change that can alter them (a turn, a rating or a
correction, an import, a delete, another program's write). Changes a moment apart, or that
come while a count is running, fold into one count; the GUI thread never waits on the store.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from chatapp.finetune.data import distinct_counts
from chatapp.gui.actions import Change, StoreActions
from chatapp.store import Store, StoreError
from engine.pairs import PAIR_KINDS, PairKind

# Changes after which the counts may differ (a model switch or a preset never changes them).
COUNTED = Change.CONVERSATIONS | Change.MESSAGES
# A turn and its reply are two changes a moment apart: one count after both. (Counting a
# 10,000-message chat takes about 2 s of a busy 2-core machine: bench/long_chats.py.)
SETTLE_MS = 500


def status_text(counts: dict[str, int]) -> str:
    """The status bar's short form of the counts the Fine-tune dialog lists."""
    return (
        f"To fine-tune: {counts.get(PairKind.CORRECTED, 0)} corrected · "
        f"{counts.get(PairKind.LIKED, 0)} liked · {counts.get(PairKind.USER, 0)} turns"
    )


class TeachCounts(QObject):
    changed = Signal(object)  # dict[str, int]: the distinct pairs of each kind
    failed = Signal(str)
    _done = Signal(object, str)  # counts or None, error message (from the counting thread)

    def __init__(self, store: Store, actions: StoreActions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="teach-counts")
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._closed = False
        self.counts: dict[str, int] | None = None  # None until the first count is in
        self._done.connect(self._on_done)  # queued: emitted from the counting thread
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.refresh)
        actions.changed.connect(self._on_store_changed)

    def _on_store_changed(self, changes: Change) -> None:
        if changes & COUNTED:
            self._settle.start()  # restarted by each change: one count once they pause

    @Slot()
    def refresh(self) -> None:
        """Count again in the background (once more after a count already running)."""
        with self._lock:
            if self._closed:
                return
            if self._running:
                self._again = True
                return
            self._running = True
        self._executor.submit(self._count)

    def _count(self) -> None:
        try:
            counts, message = distinct_counts(self._store), ""
        except (StoreError, ValueError) as error:  # the store's own words, for the banner
            counts, message = None, str(error)
        with contextlib.suppress(RuntimeError):  # the app closed meanwhile: nobody to tell
            self._done.emit(counts, message)

    @Slot(object, str)
    def _on_done(self, counts: dict[str, int] | None, message: str) -> None:
        with self._lock:
            self._running = False
            again, self._again = self._again, False
        if counts is None:
            self.failed.emit(message)
        else:
            self.counts = {kind: counts.get(kind, 0) for kind in PAIR_KINDS}
            self.changed.emit(dict(self.counts))
        if again:
            self.refresh()

    def close(self) -> None:
        self._settle.stop()
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
