"""Notices when another program writes the database (`main.py chat --db` while the app runs).

SQLite in WAL mode appends every commit to `<db>-wal` (and a checkpoint rewrites the file
itself), so a change of either file's size or time means someone wrote. The operating system
reports file changes through `QFileSystemWatcher` (no SQLite call, nothing on the GUI thread
waits); a short timer folds a burst of changes into one `changed` signal, and a slow poll
covers file systems where watching does not work.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

SETTLE_MS = 300  # a commit touches the files several times: report once it is done
POLL_MS = 5000  # network drives and some containers do not report file changes


def _signature(path: Path) -> tuple[tuple[int, int], ...]:
    result = []
    for name in (path, path.with_name(path.name + "-wal")):
        try:
            info = os.stat(name)
        except OSError:
            result.append((0, 0))
        else:
            result.append((info.st_size, info.st_mtime_ns))
    return tuple(result)


class DatabaseWatcher(QObject):
    changed = Signal()  # the database file or its write-ahead log changed

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self._last = _signature(self.path)
        self._watcher = QFileSystemWatcher(self)
        # The folder too: the -wal file comes and goes with the connections.
        for name in (self.path.parent, self.path, self.path.with_name(self.path.name + "-wal")):
            if name.exists():
                self._watcher.addPath(str(name))
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.check)
        self._watcher.fileChanged.connect(self._settle.start)
        self._watcher.directoryChanged.connect(self._settle.start)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.check)
        self._poll.start()

    def note_own_write(self) -> None:
        """Our own writes are already shown: take the files as they are now."""
        self._last = _signature(self.path)

    @Slot()
    def check(self) -> None:
        wal = str(self.path.with_name(self.path.name + "-wal"))
        if os.path.exists(wal) and wal not in self._watcher.files():
            self._watcher.addPath(wal)
        signature = _signature(self.path)
        if signature != self._last:
            self._last = signature
            # A database file deleted while open has nothing new to show, and a reader that
            # connected now would make a new, empty file at its path (the store refuses writes
            # and says so): only a file that is there is re-read.
            if self.path.exists():
                self.changed.emit()

    def stop(self) -> None:
        self._poll.stop()
        self._settle.stop()
        self._watcher.blockSignals(True)
