"""Large fonts and small windows (issue 24, item 5): the decoding panel gives way before the
chat column, nothing scrolls sideways, and the status bar cuts its text at a word."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QAbstractScrollArea, QLabel

from chatapp.gui.dock_fit import CHAT_COMFORT_SHARE
from chatapp.gui.main_window import MainWindow
from chatapp.gui.theme import FONT_SIZE_MENU
from tests.chatapp.gui.bare_window import open_bare_window, save_shot

STATS = "Last reply: 1234 ms to first token, 2345 ms, 12 tokens, 40 tokens/s"


def chat_width(window: MainWindow) -> int:
    return window.splitter.widget(1).width()


def sideways_scroll_bars(window: MainWindow) -> list[str]:
    return [
        area.objectName() or type(area).__name__
        for area in window.findChildren(QAbstractScrollArea)
        if area.isVisible() and area.horizontalScrollBar().isVisible()
    ]


def shown(label: QLabel) -> str:
    """What the label paints (a plain QLabel paints its whole text, clipped)."""
    return label.shown_text() if hasattr(label, "shown_text") else label.text()


def assert_status_bar_fits(window: MainWindow) -> None:
    bar = window.statusBar().rect()
    status = window.status_bar
    for label in (status.model_label, status.stats_label, status.teach_label):
        text, painted = label.text(), shown(label)
        room = label.contentsRect().width()
        assert label.fontMetrics().horizontalAdvance(painted) <= room, (painted, room)
        assert label.geometry().right() <= bar.right()
        kept = painted.removesuffix("…")
        assert text.startswith(kept)
        assert painted == text or text[len(kept)] in " ,·", f"cut mid-word: {painted!r}"


@pytest.mark.parametrize(
    ("font", "size", "chat_at_least"),
    [
        ("Larger", (1100, 720), int(1100 * CHAT_COMFORT_SHARE) - 2),
        ("Large", (1100, 720), int(1100 * CHAT_COMFORT_SHARE) - 2),
        ("Normal", (800, 500), int(800 * CHAT_COMFORT_SHARE) - 2),
        ("Larger", (800, 500), 320),  # the chat's minimum: the panel and sidebar are at theirs
    ],
)
def test_the_panel_gives_way_and_nothing_scrolls_sideways(
    qtbot, store, tmp_path: Path, font: str, size: tuple[int, int], chat_at_least: int
):
    for title in ("hello there", "hello there", "what is the weather like in paris today"):
        store.add_user_turn(store.create_conversation().id, title)
    window = open_bare_window(qtbot, store)
    window.menus.appearance.font_actions[FONT_SIZE_MENU[font]].trigger()  # Settings › Font size
    window.resize(*size)
    window.status_bar.stats_label.setText(STATS)
    dock = window.decoding_dock
    qtbot.waitUntil(lambda: chat_width(window) >= chat_at_least, timeout=3000)
    assert window.width() == size[0]
    assert dock.isVisible() and dock.width() >= dock.minimumSizeHint().width()
    assert chat_width(window) >= chat_at_least
    assert sideways_scroll_bars(window) == []
    qtbot.waitUntil(lambda: assert_status_bar_fits(window), timeout=3000)  # once laid out
    save_shot(window, f"window_{font.lower()}_{size[0]}x{size[1]}.png", tmp_path)


def test_the_dock_widens_again_when_the_window_does(qtbot, store):
    window = open_bare_window(qtbot, store, size=(800, 500))
    dock = window.decoding_dock
    qtbot.waitUntil(lambda: dock.width() < dock.sizeHint().width(), timeout=3000)
    window.resize(1600, 800)
    qtbot.waitUntil(lambda: dock.width() == dock.sizeHint().width(), timeout=3000)
