"""Searches off the GUI thread: the newest query wins, older ones are dropped.

A search reads the store on one background thread (a unit of work of its own, as every store
call is) and its hits come back to the GUI thread as a signal. Typing faster than the searches
finish only ever runs the newest query next; results of a superseded one are never shown.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal, Slot

from chatapp.gui.actions import user_message
from chatapp.gui.search_results import MARK_CLOSE, MARK_OPEN
from chatapp.store import Store, StoreError

HIT_LIMIT = 50
log = logging.getLogger(__name__)


class SearchRunner(QObject):
    found = Signal(object)  # list[SearchHit] for the newest query
    failed = Signal(str)
    _done = Signal(int, object, str)  # search id, hits or None, error message

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search")
        self._lock = threading.Lock()
        self._latest = 0
        self._closed = False
        self._done.connect(self._on_done)  # queued: emitted from the search thread

    def request(self, query: str) -> int:
        """Search for `query` in the background; returns the search's id."""
        with self._lock:
            self._latest += 1
            search_id = self._latest
        self._executor.submit(self._run, search_id, query)
        return search_id

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _is_current(self, search_id: int) -> bool:
        with self._lock:
            return search_id == self._latest and not self._closed

    def _run(self, search_id: int, query: str) -> None:
        if not self._is_current(search_id):
            return  # a newer query came while this one waited
        try:
            hits = self._store.search(
                query, limit=HIT_LIMIT, open_marker=MARK_OPEN, close_marker=MARK_CLOSE
            )
            message = ""
        except Exception as error:  # reported once, as a store action's would be
            if not isinstance(error, (StoreError, ValueError)):
                log.exception("a search failed")
            hits, message = None, user_message(error)
        # RuntimeError: the window closed meanwhile and this object is gone.
        with contextlib.suppress(RuntimeError):
            if self._is_current(search_id):
                self._done.emit(search_id, hits, message)

    @Slot(int, object, str)
    def _on_done(self, search_id: int, hits: object, message: str) -> None:
        if not self._is_current(search_id):
            return
        if hits is None:
            self.failed.emit(message)
        else:
            self.found.emit(hits)
