"""The one door for GUI writes: off the GUI thread, in order, reported exactly once."""

from __future__ import annotations

import threading

from chatapp.gui.actions import Change, StoreActions
from chatapp.store import Store


def test_an_action_runs_off_the_gui_thread_and_reports_success_then_changed_once(
    qtbot, store: Store
):
    actions = StoreActions(store)
    threads: list[threading.Thread] = []
    events: list[str] = []
    actions.changed.connect(lambda changes: events.append(f"changed {changes}"))
    actions.failed.connect(lambda message: events.append(f"failed {message}"))

    def create(store: Store) -> int:
        threads.append(threading.current_thread())
        return store.create_conversation("written in the background").id

    with qtbot.waitSignal(actions.changed):
        actions.run(create, success=lambda cid: events.append(f"ok {cid}"),
                    changes=Change.CONVERSATIONS)  # fmt: skip
        assert actions.busy
    assert threads and threading.main_thread() not in threads
    (conversation,) = store.list_conversations()
    assert events == [f"ok {conversation.id}", f"changed {Change.CONVERSATIONS}"]
    assert not actions.busy
    assert actions.shut_down()


def test_a_failure_is_reported_once_and_changes_nothing(qtbot, store: Store):
    actions = StoreActions(store)
    events: list[str] = []
    actions.changed.connect(lambda _: events.append("changed"))
    actions.failed.connect(lambda message: events.append(f"failed: {message}"))
    with qtbot.waitSignal(actions.failed):
        actions.run(lambda store: store.rename_conversation(12345, "x"), success=events.append)
    with qtbot.waitSignal(actions.changed):  # its own handler instead of `failed`
        actions.run(lambda store: store.get_message(999), failure=lambda m: events.append(m))
        actions.run(lambda store: None)
    assert len(events) == 3 and events[0].startswith("failed: ") and events[2] == "changed"
    assert "failed" not in events[1]
    assert actions.shut_down()


def test_actions_run_in_the_order_they_were_asked_for(qtbot, store: Store):
    actions = StoreActions(store)
    conversation = store.create_conversation()
    reported: list[int] = []
    for number in range(20):
        actions.run(
            lambda store, n=number: store.add_user_turn(conversation.id, f"turn {n}"),
            success=lambda record: reported.append(record.position),
        )
    qtbot.waitUntil(lambda: not actions.busy)
    assert reported == list(range(20))
    assert store.history(conversation.id) == [f"turn {n}" for n in range(20)]
    assert actions.shut_down()
