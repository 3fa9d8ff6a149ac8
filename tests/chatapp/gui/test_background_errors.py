"""Background work reports any failure once, in words for the user, and logs what it was
(the `StoreActions` contract, #27 item 5)."""

from __future__ import annotations

import logging

import pytest

from chatapp.gui.search_runner import SearchRunner
from chatapp.store import Store, StoreError


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
