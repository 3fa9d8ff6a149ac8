"""Model versions, fine-tune runs and decoding presets."""

from __future__ import annotations

import pytest

from chatapp.store import GenerationInfo, StoreError


def test_model_versions_have_at_most_one_active(store):
    base = store.add_model_version("base", "/models/base", is_base=True, activate=True)
    tuned = store.add_model_version(
        "tuned-1", "/models/t1", parent_id=base.id, metrics={"ppl": 31.5}, data={"pairs": 12}
    )
    assert store.active_model_version() == base
    assert not tuned.active and tuned.metrics == {"ppl": 31.5} and tuned.parent_id == base.id

    assert store.set_active_model_version(tuned.id).active
    assert [(v.name, v.active) for v in store.list_model_versions()] == [
        ("base", False),
        ("tuned-1", True),
    ]
    with pytest.raises(ValueError, match="already exists"):
        store.add_model_version("base", "/elsewhere")


def test_the_base_and_the_active_version_cannot_be_deleted(store, chat):
    base = store.add_model_version("base", "/models/base", is_base=True)
    active = store.add_model_version("tuned-1", "/models/t1", activate=True)
    old = store.add_model_version("tuned-0", "/models/t0")
    with pytest.raises(StoreError, match="base model"):
        store.delete_model_version(base.id)
    with pytest.raises(StoreError, match="in use"):
        store.delete_model_version(active.id)

    conversation = chat("hello")
    reply = store.add_bot_reply(conversation.id, "hi", GenerationInfo(model_version_id=old.id))
    store.delete_model_version(old.id)
    assert [v.name for v in store.list_model_versions()] == ["base", "tuned-1"]
    assert store.get_message(reply.id).model_version_id is None  # the reply stays


def test_finetune_runs_and_stale_ones(store):
    version = store.add_model_version("tuned-1", "/models/t1")
    finished = store.start_finetune_run({"corrected": 3, "liked": 5})
    assert finished.status == "running" and finished.finished_at is None
    done = store.finish_finetune_run(
        finished.id, "succeeded", metrics={"loss": 1.2}, log="ok", model_version_id=version.id
    )
    assert (done.status, done.metrics, done.log, done.model_version_id) == (
        "succeeded",
        {"loss": 1.2},
        "ok",
        version.id,
    )
    assert done.finished_at is not None
    with pytest.raises(ValueError, match="finishes as"):
        store.finish_finetune_run(finished.id, "running")

    killed = store.start_finetune_run()
    assert store.fail_stale_runs() == 1
    assert store.fail_stale_runs() == 0
    newest, oldest = store.list_finetune_runs()
    assert (newest.id, newest.status, oldest.id) == (killed.id, "failed", finished.id)
    assert "ended without reporting" in newest.log


def test_presets_are_saved_by_name(store):
    store.save_preset("precise", {"strategy": "beam", "beam_size": 5})
    store.save_preset("creative", {"strategy": "sample", "temperature": 1.1})
    store.save_preset("precise", {"strategy": "beam", "beam_size": 8})
    assert [(p.name, p.config) for p in store.list_presets()] == [
        ("creative", {"strategy": "sample", "temperature": 1.1}),
        ("precise", {"strategy": "beam", "beam_size": 8}),
    ]
    assert store.delete_preset("creative")
    assert not store.delete_preset("creative")
    with pytest.raises(ValueError):
        store.save_preset(" ", {})
