"""Issue #24 item 10: the open chat is live. Turns that another program (`main.py chat --db`)
writes into the chat the window shows appear in it, so the model never answers from turns the
user cannot see."""

from __future__ import annotations

import subprocess
import sys

from PySide6.QtCore import Qt

from chatapp.store import Store
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, send_and_wait
from tests.robustness.helpers import REPO_ROOT, python_env


def shown_texts(window) -> list[str]:
    return [item.text for item in window.messages.items()]


def test_turns_written_by_the_terminal_chat_appear_in_the_open_chat(
    qtbot, window, store, tiny_model_dir
):
    send_and_wait(qtbot, window, "hello")
    chat = window.controller.conversation_id
    terminal = subprocess.run(
        [sys.executable, "main.py", "chat", "--db", str(store.path), "--model",
         str(tiny_model_dir), "--conversation", str(chat), "--device", "cpu",
         "--strategy", "greedy"],
        input="what is your name?\n", capture_output=True, text=True, cwd=REPO_ROOT,
        env=python_env(), timeout=120,
    )  # fmt: skip
    assert terminal.returncode == 0, terminal.stderr
    assert store.history(chat)[2] == "what is your name?"
    qtbot.waitUntil(lambda: len(shown_texts(window)) == 4, timeout=10_000)
    assert shown_texts(window) == store.history(chat)
    assert window.chat_view.isVisible()
    # The next turn typed in the window continues from there, as the user sees it.
    reply = send_and_wait(qtbot, window, "and you?")
    assert reply.position == 5
    assert shown_texts(window) == store.history(chat)


def test_a_turn_written_while_a_reply_streams_shows_once_the_reply_is_in(qtbot, window, store):
    send_and_wait(qtbot, window, "hello")
    chat = window.controller.conversation_id
    written: list[int] = []

    def terminal_writes(*_: object) -> None:  # on the first token of the window's reply
        if not written:
            with Store.open(store.path) as terminal:
                written.append(terminal.add_user_turn(chat, "from the terminal").position)

    panel = window.decoding_panel  # a strategy that streams tokens
    panel.set_config(panel.config.replace(strategy="greedy", min_length=10, max_length=20))
    window.engine.token_generated.connect(terminal_writes)
    window.composer.set_text("how are you")
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert written == [3]
    qtbot.waitUntil(lambda: "from the terminal" in shown_texts(window), timeout=10_000)
    assert shown_texts(window) == store.history(chat)
