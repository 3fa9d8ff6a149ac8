"""Background work reports any failure once, in words for the user, and logs what it was
(the `StoreActions` contract, #27 item 5)."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from chatapp.gui.search_runner import SearchRunner
from chatapp.gui.transfer import export_in_background
from chatapp.store import Store, StoreError
from tests.chatapp.gui.bare_window import open_bare_window
from tests.chatapp.gui.helpers import settle


@pytest.mark.parametrize(
    ("error", "message", "logged"),
    [
        (RuntimeError("the index is gone"), "RuntimeError: the index is gone", True),
        (StoreError("The database is locked."), "The database is locked.", False),
    ],
)
def test_a_failing_search_is_reported_once_whatever_it_raised(
    qtbot, store: Store, monkeypatch, caplog, error, message, logged
):
    def broken_search(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(Store, "search", broken_search)
    runner = SearchRunner(store)
    failures: list[str] = []
    runner.failed.connect(failures.append)
    runner.found.connect(lambda hits: failures.append(f"found {hits!r}"))
    with caplog.at_level(logging.ERROR), qtbot.waitSignal(runner.failed, timeout=5_000):
        runner.request("hello")
    # A later search that succeeds would add to the list: make sure nothing else arrives.
    monkeypatch.undo()
    with qtbot.waitSignal(runner.found, timeout=5_000):
        runner.request("hello")
    runner.close()
    assert failures == [message, "found []"]
    failure_logs = [r for r in caplog.records if r.name == "chatapp.gui.search_runner"]
    assert [r.exc_info[1] for r in failure_logs] == ([error] if logged else [])


def test_export_runs_off_the_gui_thread_and_reports_once(qtbot, store: Store, tmp_path, caplog):
    conversation = store.create_conversation("Weekend plans")
    store.add_user_turn(conversation.id, "any plans?")
    store.add_bot_reply(conversation.id, "a long walk")
    window = open_bare_window(qtbot, store)
    threads: list[str] = []
    real_export = Store.export_archive

    def recording_export(self: Store, *args: object, **kwargs: object) -> dict:
        threads.append(threading.current_thread().name)
        return real_export(self, *args, **kwargs)

    shown: list[tuple[str, str]] = []
    window.context.signals.message_shown.connect(lambda text, kind, _: shown.append((text, kind)))
    target = tmp_path / "plans.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "export_archive", recording_export)
        export_in_background(window.context, conversation.id, "json", target)
        settle(qtbot, window)
    assert threads == ["store-actions"]
    archive = json.loads(target.read_text(encoding="utf-8"))
    assert [m["text"] for m in archive["conversations"][0]["messages"]] == [
        "any plans?",
        "a long walk",
    ]
    assert shown == [(f"Exported to {target}", "info")]

    missing = tmp_path / "no such folder" / "plans.json"
    with caplog.at_level(logging.ERROR):
        export_in_background(window.context, conversation.id, "json", missing)
        settle(qtbot, window)
    assert not missing.parent.exists()
    assert len(shown) == 2 and shown[1][1] == "error"
    assert shown[1][0].startswith("The export failed, nothing was written: FileNotFoundError")
    assert window.banner.text() == shown[1][0]
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [FileNotFoundError]
