"""The decoding dock gives way before the chat does, and the sidebar after it.

Qt's main window shrinks the central widget first and a dock only once the centre is at its
minimum: at a large font or in a small window the panel kept its full width and the chat
column fell to about 330 px. Whenever the window or its font changes, this narrows the dock
(down to its own minimum; its form then puts fields under their labels) until the chat column
has `CHAT_COMFORT_SHARE` of the window, then the sidebar (down to its minimum), and widens the
dock back when there is room again (a width the user dragged the dock to is left alone).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QSplitter

CHAT_COMFORT_SHARE = 0.45  # of the window's width, for the chat column (when it can have it)


class DockFitter(QObject):
    """Sizes `dock`, then `splitter`'s first widget (the sidebar), so that the splitter's
    second widget (the chat column) keeps a readable width in `window`."""

    def __init__(self, window: QMainWindow, dock: QDockWidget, splitter: QSplitter) -> None:
        super().__init__(window)
        self._window, self._dock, self._splitter = window, dock, splitter
        self._pending = False
        self._shrunk = False  # narrowed by this, so widened back when there is room
        window.installEventFilter(self)
        dock.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.FontChange, QEvent.Type.Show) or (
            watched is self._dock and event.type() == QEvent.Type.LayoutRequest
        ):
            self.schedule()
        return False

    def schedule(self) -> None:
        """Fit once the window has laid itself out (one fit for a burst of events)."""
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self, self.fit)

    def fit(self) -> None:
        self._pending = False
        comfort = int(self._window.width() * CHAT_COMFORT_SHARE)
        if self._fit_dock(comfort):
            return  # the window lays itself out again and this runs once more
        sidebar = self._splitter.widget(0)
        sizes = self._splitter.sizes()
        if len(sizes) == 2 and sizes[1] < comfort:
            side = max(sidebar.minimumSizeHint().width(), sum(sizes) - comfort)
            if side < sizes[0]:
                self._splitter.setSizes([side, sum(sizes) - side])

    def _fit_dock(self, comfort: int) -> bool:
        """Narrow or widen the dock toward `comfort` for the chat; True if it changed."""
        dock = self._dock
        if not dock.isVisible() or dock.isFloating():
            return False
        spare = self._splitter.widget(1).width() - comfort  # < 0: the chat is short of that
        width = dock.width()
        if spare < 0:
            width = max(dock.minimumSizeHint().width(), width + spare)
        elif self._shrunk:  # a width the user chose is left alone
            width = min(dock.sizeHint().width(), width + spare)
        if width == dock.width():
            return False
        self._shrunk = width < dock.sizeHint().width()
        self._window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
        return True
