"""Make the README's screenshots: the real main window, offscreen, replies from the real model.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py [--theme light|dark] [--model DIR]

Without --theme it makes both, each in a fresh process (and a fresh data dir):

- docs/screenshot.png (light): a short conversation, the last reply selected so its chips
  show, and the decoding dock.
- docs/screenshot-dark.png (dark): a message typed over three lines with Shift+Enter, a user
  turn edited through its Edit chip and stepped back with ‹ (so it shows ‹ 1/2 ›, the original
  branch with its later turns), and older chats dated back so the sidebar shows its date
  groups.
- docs/screenshot-search.png (light): Ctrl+F, "rain" typed into the search box: the hits with
  their chat's title, date and the matched words emphasised, and the first hit opened with the
  word highlighted in its chat.
- docs/screenshot-larger-font.png (light, Settings › Font size › Larger, 1100x720) and
  docs/screenshot-800x500.png (light, an 800x500 window): the decoding panel narrowed (its
  fields under their labels) before the chat column, the status bar cut at a word.
- docs/screenshot-stopped.png (light): a reply stopped with Esc while its candidates were
  drawn: the turn marked as stopped, with its Retry chip.

Everything goes through the window as a user would drive it (keys into the composer, the
chips' signal, the edit dialog); only the older chats' dates are set in the database.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog
from sqlalchemy import update

from chatapp.gui.app import AppOptions, create_window, make_application, open_store
from chatapp.gui.chip_actions import ChipAction
from chatapp.gui.conversation_model import GroupRole
from chatapp.gui.main_window import MainWindow
from chatapp.gui.message_model import AlternativeRole, HighlightRole, RecordRole, StateRole
from chatapp.gui.saved_settings import data_settings
from chatapp.gui.search_results import HIT_ROLE
from chatapp.gui.theme import FONT_SIZE_KEY, FONT_SIZE_MENU, THEME_KEY
from chatapp.store import Store
from chatapp.store.models import Conversation, Message

DOCS = Path(__file__).resolve().parent
OUTPUTS = {
    "light": DOCS / "screenshot.png",
    "dark": DOCS / "screenshot-dark.png",
    "search": DOCS / "screenshot-search.png",
    "larger": DOCS / "screenshot-larger-font.png",
    "small": DOCS / "screenshot-800x500.png",
    "stopped": DOCS / "screenshot-stopped.png",
}
# A scene that is not named after its theme, and the window size and font size it needs.
SCENE_THEMES = {"search": "light", "larger": "light", "small": "light", "stopped": "light"}
SCENE_SIZES = {"larger": (1100, 720), "small": (800, 500)}
SCENE_FONTS = {"larger": FONT_SIZE_MENU["Larger"]}
SIZE = (1240, 820)
SEED = 7

LIGHT_PROMPTS = ("Hi! How are you today?", "What do you like to do on weekends?",
                 "Do you have any pets?")  # fmt: skip
# The dark one: older chats (days ago, opener) for the sidebar's groups, then today's chat.
OLDER_CHATS = (
    (24, "Where would you like to travel?"),
    (5, "What is your favourite food?"),
    (3, "Tell me about your family."),
    (1, "Can you recommend a good film?"),
)
MULTI_LINE = ("Hi! I just got back from a trip.", "We went hiking in the mountains.",
              "Have you ever been hiking?")  # fmt: skip
EDITED_TURN = ("What kind of music do you like?", "What do you like to read?")  # before, after
LAST_TURN = "Do you play an instrument?"
# The search one: chats (days ago, turns) that mention rain, and the word searched for.
RAIN_CHATS = (
    (6, ("It has been raining all week here.", "Do you like rainy days?")),
    (2, ("What should I cook tonight?", "Something warm, it is cold and wet outside.")),
    (0, ("I forgot my umbrella and got caught in the rain.",)),
)
SEARCH_TERM = "rain"


def wait_for(signal: object, timeout_ms: int = 60_000) -> None:
    """Run the event loop until `signal` comes; fail (no screenshot) if it does not."""
    loop, came = QEventLoop(), []

    def done(*_: object) -> None:
        came.append(True)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(done)
    if not came:
        raise SystemExit(f"gave up after {timeout_ms / 1000:.0f} s waiting for {signal}")


def settle(window: MainWindow) -> None:
    """Let the store's background actions report and the view lay itself out."""
    window.context.actions.wait_idle(10_000)
    for _ in range(3):
        QApplication.processEvents()


def type_and_send(window: MainWindow, lines: tuple[str, ...] | str) -> None:
    """Type into the composer (Shift+Enter between lines), press Enter, wait for the reply."""
    edit = window.composer.edit
    for number, line in enumerate((lines,) if isinstance(lines, str) else lines):
        if number:
            QTest.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        QTest.keyClicks(edit, line)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    wait_for(window.controller.reply_stored)
    settle(window)


def row_of(window: MainWindow, text: str) -> int:
    for row in range(window.messages.rowCount()):
        record = window.messages.index(row).data(RecordRole)
        if record is not None and record.text == text:
            return row
    raise LookupError(f"no message {text!r} in the chat view")


def answer_next_dialog(text: str) -> None:
    """Fill in and accept the text dialog the next action opens (Edit's)."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QInputDialog):
            dialog.setTextValue(text)
            dialog.accept()
        else:
            QTimer.singleShot(50, answer)

    QTimer.singleShot(50, answer)


def select_row(window: MainWindow, row: int) -> None:
    """Select a message, as a click would: its chips show (only the selected one's do)."""
    index = window.messages.index(row)
    window.chat_view.setCurrentIndex(index)
    window.chat_view.scrollToBottom()
    QApplication.processEvents()


def date_back(store: Store, conversation_id: int, days: int, hour: int) -> None:
    """Move a conversation and its messages `days` back (the sidebar groups by last use)."""
    when = (datetime.now().astimezone() - timedelta(days=days)).replace(hour=hour, minute=12)
    with store._db.write() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=when, updated_at=when)
        )
        session.execute(
            update(Message)
            .where(Message.conversation_id == conversation_id)
            .values(created_at=when)
        )


def light_scene(window: MainWindow, store: Store) -> None:
    for prompt in LIGHT_PROMPTS:
        type_and_send(window, prompt)
    select_row(window, window.messages.rowCount() - 1)


def dark_scene(window: MainWindow, store: Store) -> None:
    for days, opener in OLDER_CHATS:
        window.chats.new()
        type_and_send(window, opener)
        date_back(store, window.controller.conversation_id, days, hour=19 - days % 5)
    window.chats.new()
    for turn in (MULTI_LINE, EDITED_TURN[0], LAST_TURN):
        type_and_send(window, turn)
    # Edit the middle turn through its Edit chip: a second branch with its own reply...
    answer_next_dialog(EDITED_TURN[1])
    window.delegate.action_triggered.emit(ChipAction.EDIT, row_of(window, EDITED_TURN[0]))
    wait_for(window.controller.reply_stored)
    settle(window)
    # ...then back to the first version with its ‹ chip: ‹ 1/2 ›, the later turns still there.
    row = row_of(window, EDITED_TURN[1])
    window.delegate.action_triggered.emit(ChipAction.PREVIOUS, row)
    settle(window)
    window.chats.refresh()  # the older chats' new dates
    settle(window)
    edited = row_of(window, EDITED_TURN[0])
    select_row(window, edited)
    # What the picture is for; a change in the app that loses one fails here, not in review.
    groups = {window.conversations.index(r).data(GroupRole) for r in range(len(OLDER_CHATS) + 1)}
    missing = {"Today", "Yesterday", "Previous 7 days", "Older"} - groups
    if missing:
        raise SystemExit(f"the sidebar does not show the groups {sorted(missing)}")
    if window.messages.index(edited).data(AlternativeRole) != (0, 2):
        raise SystemExit("the edited turn does not show ‹ 1/2 ›")
    if row_of(window, "\n".join(MULTI_LINE)) != 0 or row_of(window, LAST_TURN) < edited:
        raise SystemExit("the multi-line turn or the first branch's later turns are missing")


def search_scene(window: MainWindow, store: Store) -> None:
    for days, turns in RAIN_CHATS:
        window.chats.new()
        for turn in turns:
            type_and_send(window, turn)
        if days:
            date_back(store, window.controller.conversation_id, days, hour=18)
    window.chats.refresh()  # the chats' new dates
    settle(window)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(window.sidebar.search_edit, SEARCH_TERM)
    wait_for(window.chats.searcher.found)
    results = window.sidebar.results
    hit = results.item(0).data(HIT_ROLE)
    typed = sum(SEARCH_TERM in turn for _, turns in RAIN_CHATS for turn in turns)
    if hit is None or results.count() < typed:
        raise SystemExit(f"searching {SEARCH_TERM!r} found {results.count()} messages")
    QTest.mouseClick(
        results.viewport(),
        Qt.MouseButton.LeftButton,
        pos=results.visualItemRect(results.item(0)).center(),
    )
    settle(window)
    if not window.chat_view.currentIndex().data(HighlightRole):
        raise SystemExit("the hit's words are not highlighted in the chat it opened")


def two_turns_scene(window: MainWindow, store: Store) -> None:
    """A short chat, for the window at a large font or a small size: the panel gives way."""
    for prompt in LIGHT_PROMPTS[:2]:
        type_and_send(window, prompt)
    select_row(window, window.messages.rowCount() - 1)
    chat = window.splitter.widget(1).width()
    if window.width() >= 1000 and chat < 0.44 * window.width():
        raise SystemExit(
            f"the chat column is {chat} px of {window.width()}: the panel kept its width"
        )


def stopped_scene(window: MainWindow, store: Store) -> None:
    """A reply stopped (Esc) while its candidates were being drawn: marked, with Retry."""
    type_and_send(window, LIGHT_PROMPTS[0])
    balanced = window.decoding_panel.config
    # Slow enough to be stopped mid-way on any machine; the panel shows balanced again after.
    window.decoding_panel.set_config(balanced.replace(candidates=32, min_length=64, max_length=64))
    edit = window.composer.edit
    QTest.keyClicks(edit, "Tell me a long story about your weekend")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    last = window.messages.rowCount
    for _ in range(3000):  # the bubble says what it is doing once the reply is asked for
        QApplication.processEvents()
        if last() and window.messages.item(last() - 1).text.startswith("Writing"):
            break
        QTest.qWait(10)
    window.menus.stop_action.trigger()  # Chat › Stop reply (Esc)
    for _ in range(3000):
        if not window.controller.busy:
            break
        QTest.qWait(10)
    window.decoding_panel.set_config(balanced)
    settle(window)
    if window.messages.index(last() - 1).data(StateRole) != "stopped":
        raise SystemExit("the reply was not stopped before it was chosen")
    window.composer.focus()


SCENES: dict[str, Callable[[MainWindow, Store], None]] = {
    "light": light_scene,
    "dark": dark_scene,
    "search": search_scene,
    "larger": two_turns_scene,
    "small": two_turns_scene,
    "stopped": stopped_scene,
}


def make(theme: str, out: Path, model: str | None) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        # Window positions (global QSettings) from the temporary folder, not the user's.
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, data_dir)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        app = make_application()
        options = AppOptions(model=model, data_dir=data_dir, device="cpu")
        store = open_store(options)
        settings = data_settings(store.path)  # what the user chose lives with the data dir
        settings.setValue(THEME_KEY, SCENE_THEMES.get(theme, theme))
        if theme in SCENE_FONTS:
            settings.setValue(FONT_SIZE_KEY, SCENE_FONTS[theme])
        settings.sync()
        window = create_window(options, store)
        window.resize(*SCENE_SIZES.get(theme, SIZE))
        window.show()
        wait_for(window.context.switcher.model_ready)
        window.decoding_panel.set_config(
            window.decoding_panel.presets()["balanced"].replace(seed=SEED)
        )
        SCENES[theme](window, store)
        app.processEvents()
        if not window.grab().save(str(out)):
            raise SystemExit(f"could not write {out}")
        window.close()
        store.close()
    print(out)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--theme", choices=sorted(SCENES), help="one screenshot (default: both)")
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--out", type=Path, help="where to save it (with --theme)")
    args = parser.parse_args()
    if args.theme is not None:
        make(args.theme, args.out or OUTPUTS[args.theme], args.model)
        return 0
    if args.out is not None:
        parser.error("--out needs --theme")
    for theme in SCENES:  # each in a fresh process: a new app, as a user would start it
        command = [sys.executable, __file__, "--theme", theme]
        if args.model:
            command += ["--model", args.model]
        if subprocess.run(command, check=False).returncode:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
