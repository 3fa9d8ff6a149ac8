"""The window's non-modal dialogs (Fine-tune, Models) are made once and kept while hidden:
opening one again shows the same dialog, a run or a selection still in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtWidgets import QDialog, QWidget

D = TypeVar("D", bound=QDialog)


def show_one(parent: QWidget, kind: type[D], name: str, make: Callable[[], D]) -> D:
    """Show `parent`'s dialog of `kind` named `name`, made the first time, in front."""
    dialog = parent.findChild(kind, name)
    if dialog is None:
        dialog = make()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
