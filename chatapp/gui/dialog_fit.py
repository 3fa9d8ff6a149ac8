"""A dialog whose content scrolls is made as tall as its content, up to a limit.

The fine-tune dialog keeps its content in a scroll area (with the outcome shown it is taller
than a 720-px main window); at a fixed 680 px, before a run, that left a band of empty space
between the settings and the buttons.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QDialog, QScrollArea


def fit_height(dialog: QDialog, scroll: QScrollArea, limit: int) -> None:
    """Resize `dialog` to show all of `scroll`'s content, but no taller than `limit` px."""
    content = scroll.widget()
    layout = dialog.layout()
    if content is None or layout is None:
        return
    margins = layout.contentsMargins()
    width = dialog.width() - margins.left() - margins.right() - 2 * scroll.frameWidth()
    width -= scroll.verticalScrollBar().sizeHint().width()  # measured as if it showed: safe
    # Wrapped labels take fewer lines at the dialog's width than at their preferred one.
    tall = content.heightForWidth(width) if content.hasHeightForWidth() else -1
    tall = max(tall, content.minimumSizeHint().height())
    others = [layout.itemAt(i) for i in range(layout.count())]
    others = [item for item in others if item.widget() is not scroll and not item.isEmpty()]
    around = (  # the buttons, the margins and the spacing between
        margins.top() + margins.bottom() + sum(item.sizeHint().height() for item in others)
        + max(0, layout.spacing()) * len(others)
    )  # fmt: skip
    needed = tall + 2 * scroll.frameWidth() + around
    dialog.resize(dialog.width(), min(limit, needed))


class _Refit(QObject):
    def __init__(self, dialog: QDialog, scroll: QScrollArea, limit: int) -> None:
        super().__init__(dialog)
        self._dialog, self._scroll, self._limit = dialog, scroll, limit

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # a label got longer, a part showed
            fit_height(self._dialog, self._scroll, self._limit)
        return False


def keep_fitted(dialog: QDialog, scroll: QScrollArea, limit: int) -> None:
    """`fit_height` now and whenever the content's layout changes."""
    fit_height(dialog, scroll, limit)
    content = scroll.widget()
    if content is not None:
        content.installEventFilter(_Refit(dialog, scroll, limit))
