"""`main.py finetune`: learning from corrections, refusing bad runs, stopping cleanly."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatapp.finetune.data import MIN_PAIRS
from chatapp.finetune.events import decode_event, read_stored_data
from chatapp.finetune.guard import LOCK_FILE
from chatapp.store import Store, StoreError
from engine.checkpoint import OPTIMIZER_FILE, load_checkpoint
from engine.progress import DoneEvent
from tests.chatapp.finetune.conftest import (
    PHRASE,
    PROMPTS,
    FinetuneRun,
    finetune_argv,
    run_main,
    seed_corrections,
    tree_hashes,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
DISTINCT = len(PROMPTS)  # distinct (prompt, correction) pairs among the seeded conversations


def test_finetune_learns_the_corrections_and_leaves_the_base_untouched(finetuned: FinetuneRun):
    assert finetuned.exit_code == 0, finetuned.stderr
    names = [event["event"] for event in finetuned.events]
    for name in ("data", "baseline", "start", "step", "eval", "end", "done"):
        assert name in names
    assert names[-1] == "done"
    done = finetuned.done
    before, after = done["before"], done["after"]
    assert after["taught"]["perplexity"] < before["taught"]["perplexity"] * 0.8, (before, after)
    assert before["valid"]["perplexity"] and after["valid"]["perplexity"]
    assert 0.0 <= after["taught_recall"] <= 1.0 and len(done["recall"]) == DISTINCT
    rise = after["valid"]["perplexity"] / before["valid"]["perplexity"] - 1
    typed = decode_event(done)
    assert isinstance(typed, DoneEvent) and typed.forgetting == pytest.approx(rise)
    assert typed.forgetting_flag == (rise > done["forgetting_budget"])
    assert finetuned.hashes_after == finetuned.hashes_before  # byte for byte

    new_dir = Path(done["model_dir"])
    assert new_dir.parent == finetuned.data_dir / "models"
    assert new_dir.name.startswith("ft-")
    assert {"config.json", "model.safetensors", "tokenizer.model"} <= set(os.listdir(new_dir))
    assert not (new_dir / OPTIMIZER_FILE).exists()
    assert [path.name for path in new_dir.parent.iterdir()] == [new_dir.name]  # no leftovers
    record = load_checkpoint(new_dir).record
    assert record["finetune"]["parent"] == str(finetuned.base_dir.resolve())

    data = typed.data
    # 30 conversations, 10 distinct prompts: the same pair counts once, and every correction
    # is trained on (none is held out).
    assert data.counts.pairs == {"corrected": DISTINCT, "liked": 0, "user": 0}
    assert data.counts.train_pairs == DISTINCT and data.counts.heldout_pairs == 0
    assert data.counts.replay_examples == round(8 * DISTINCT)
    assert data.comparisons_from == "training" and data.chosen_epoch is not None
    assert done["comparisons"] and all(row["expected"] == PHRASE for row in done["comparisons"])

    with Store.open(finetuned.data_dir / "conversations.db") as store:
        base, new = store.list_model_versions()
        assert new.id == done["version_id"] and new.parent_id == base.id
        assert base.active and not new.active  # using it is the user's choice
        assert new.metrics["taught_recall"] == after["taught_recall"]
        assert new.metrics["base_valid_perplexity"] == before["valid"]["perplexity"]
        assert new.metrics["valid_perplexity"] == after["valid"]["perplexity"]
        assert new.metrics["forgetting_flag"] == typed.forgetting_flag
        assert new.data["pairs"]["corrected"] == DISTINCT
        assert read_stored_data(new.data) == data  # the version keeps what the run says
        (run,) = store.list_finetune_runs()
        assert run.status == "succeeded" and run.model_version_id == new.id
        assert run.examples == {"corrected": DISTINCT, "liked": 0, "user": 0}
        assert (
            run.metrics["after"]["taught_perplexity"] < run.metrics["before"]["taught_perplexity"]
        )
        assert "baseline" in run.log


def test_too_little_data_is_refused_with_the_counts(tmp_path: Path, tiny_model_dir: Path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with Store.open(data_dir / "conversations.db") as store:
        seed_corrections(store, 4)
        seed_corrections(store, 4)  # an imported copy, say: the same pairs add nothing
    code, events, stderr = run_main(finetune_argv(data_dir, tiny_model_dir))
    assert code == 2
    assert f"at least {MIN_PAIRS}" in stderr and "4 corrections" in stderr
    assert "0 replies rated up" in stderr and "your own turns" in stderr
    assert events[-1]["event"] == "error" and "4 corrections" in events[-1]["message"]
    with Store.open(data_dir / "conversations.db") as store:
        assert store.list_finetune_runs() == []
    assert not (data_dir / "models").exists() or not any((data_dir / "models").iterdir())


def test_the_output_must_differ_from_the_model(data_dir: Path, tiny_model_dir: Path):
    before = tree_hashes(tiny_model_dir)
    code, _, stderr = run_main(
        finetune_argv(data_dir, tiny_model_dir, "--out", str(tiny_model_dir))
    )
    assert code == 2 and "must differ" in stderr
    assert tree_hashes(tiny_model_dir) == before


def test_a_second_finetune_is_refused_while_one_runs(data_dir: Path, tiny_model_dir: Path):
    with (data_dir / LOCK_FILE).open("a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running fine-tune does
        code, _, stderr = run_main(finetune_argv(data_dir, tiny_model_dir))
    assert code == 2 and "already running" in stderr
    with Store.open(data_dir / "conversations.db") as store:
        assert store.list_finetune_runs() == []


def _start(data_dir: Path, model: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, str(REPO_ROOT / "main.py"), *finetune_argv(data_dir, model, *extra)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read_until(process: subprocess.Popen, event: str) -> list[dict]:
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == event:
            return events
    raise AssertionError(f"the run ended before {event!r}: {process.stderr.read()[-2000:]}")


@pytest.mark.parametrize("moment", ["status", "step"])
def test_sigterm_stops_within_two_seconds_and_writes_nothing(
    data_dir: Path, tiny_model_dir: Path, moment: str
):
    process = _start(data_dir, tiny_model_dir, "--epochs", "500")
    _read_until(process, moment)  # "status" is the first line (reading); "step" is mid-training
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    assert time.monotonic() - sent < 2.0
    rest = [json.loads(line) for line in process.stdout.read().splitlines()]
    assert process.returncode == 128 + signal.SIGTERM
    assert rest[-1]["event"] == "cancelled"
    assert list((data_dir / "models").iterdir()) == []  # no version, no partial directory
    with Store.open(data_dir / "conversations.db") as store:
        (run,) = store.list_finetune_runs()
        assert run.status == "cancelled" and run.model_version_id is None
        # Stopped while reading the saved conversations, it had not yet registered its base.
        registered = [] if moment == "status" else ["model"]
        assert [version.name for version in store.list_model_versions()] == registered


def test_sigkill_leaves_the_model_and_database_intact(data_dir: Path, tiny_model_dir: Path):
    before = tree_hashes(tiny_model_dir)
    process = _start(data_dir, tiny_model_dir, "--epochs", "500")
    _read_until(process, "eval")  # a best model has been saved into the partial directory
    process.kill()
    process.wait(timeout=10)
    leftovers = list((data_dir / "models").iterdir())
    assert all(path.name.startswith(".") for path in leftovers)  # never mistaken for a version
    assert tree_hashes(tiny_model_dir) == before
    with Store.open(data_dir / "conversations.db") as store:
        (run,) = store.list_finetune_runs()
        assert run.status == "running"
        assert store.fail_stale_runs() == 1  # what the app does at its next start
        assert store.list_finetune_runs()[0].status == "failed"
        assert store.active_model_version().name == "model"
    # The lock died with the process; the next run cleans up and succeeds.
    code, events, stderr = run_main(finetune_argv(data_dir, tiny_model_dir, "--epochs", "1"))
    assert code == 0, stderr
    assert [path.name for path in (data_dir / "models").iterdir()] == [
        Path(events[-1]["model_dir"]).name
    ]


def test_a_failure_after_training_keeps_the_finished_model(
    data_dir: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    register = Store.add_model_version

    def refuse(self, *args, **kwargs):  # the new version's row (it has a parent)
        if kwargs.get("parent_id") is not None:
            raise StoreError("database is locked")
        return register(self, *args, **kwargs)

    monkeypatch.setattr(Store, "add_model_version", refuse)
    out = data_dir / "models" / "kept"
    code, _, stderr = run_main(
        finetune_argv(data_dir, tiny_model_dir, "--epochs", "1", "--out", str(out))
    )
    assert code == 1 and "could not be registered" in stderr
    assert (out / "model.safetensors").is_file()  # trained, written, and not thrown away
    assert load_checkpoint(out).record["finetune"]["parent"] == str(tiny_model_dir.resolve())
    with Store.open(data_dir / "conversations.db") as store:
        assert store.list_finetune_runs()[0].status == "failed"
