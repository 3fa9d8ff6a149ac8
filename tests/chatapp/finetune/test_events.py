"""Progress events: one JSON line each, read back the same; anything else reads as None."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.commands.progress import JsonProgress, TqdmProgress
from chatapp.finetune.events import (
    EventError,
    decode_event,
    event_from_json,
    read_event_line,
    read_stored_data,
)
from chatapp.finetune.job import stored_metrics, summary_line
from chatapp.gui.finetune_process import FinetuneProcess
from chatapp.store import Store
from engine.finetune import FinetuneData, FinetuneResult
from engine.finetune_figures import Comparison, Figures, Perplexity, RecallRow, version_figures
from engine.progress import (
    EVENT_TYPES,
    BaselineEvent,
    CancelledEvent,
    DataEvent,
    DoneEvent,
    EndEvent,
    ErrorEvent,
    EvalEvent,
    ProgressEvent,
    StartEvent,
    StatusEvent,
    StepEvent,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

ONE_OF_EACH: list[ProgressEvent] = [
    StatusEvent(message="Reading the original corpus (chitchat)…"),
    DataEvent(train_pairs=10, heldout_pairs=2, replay_examples=80, replay_corpus="chitchat",
              pairs={"corrected": 12}, min_pairs=5),
    BaselineEvent(figures=Figures(heldout=Perplexity(40.5, 3.7), valid=Perplexity(61.0, 4.1)),
                  select_perplexity=None),
    StartEvent(total_steps=120, train_examples=90, valid_examples=300),
    StepEvent(epoch=1, step=10, total_steps=120, loss=3.25, learning_rate=1e-3,
              tokens_per_s=1500.0, elapsed_s=2.0, eta_s=22.0),
    EvalEvent(epoch=10, step=40, valid_perplexity=60.5, valid_loss=4.1, improved=True,
              mix=1.0, taught_loss=0.5, within_budget=True),
    EndEvent(steps=120, stopped_by="epochs", best_valid_perplexity=60.5, epochs_completed=40,
             chosen_epoch=40, chosen_mix=0.85),
    DoneEvent(version_id=3, version_name="ft-1", model_dir="/data/models/ft-1", run_id=1,
              seconds=61.5, before=Figures(valid=Perplexity(61.0, 4.1, 900, 50)),
              after=Figures(valid=Perplexity(61.6, 4.12, 900, 50), taught_recall=1.0),
              data=FinetuneData(DataEvent(train_pairs=12, heldout_pairs=0, replay_examples=96,
                                          pairs={"corrected": 12}),
                                chosen_epoch=8, chosen_mix=0.9, comparisons_from="training"),
              recall=(RecallRow("which planet?", "saturn.", "saturn!", True),),
              comparisons=(Comparison(("hi", "how are you?"), "fine.", "a", "b"),),
              forgetting_budget=0.03),
    ErrorEvent(message="another fine-tune is already running"),
    CancelledEvent(message="Fine-tuning was cancelled; nothing was saved."),
]  # fmt: skip


DONE = next(event for event in ONE_OF_EACH if isinstance(event, DoneEvent)).to_dict()


def test_there_is_a_sample_of_every_kind():
    assert {event.NAME for event in ONE_OF_EACH} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda event: event.NAME)
def test_every_event_round_trips_through_one_json_line(event: ProgressEvent):
    line = event.to_json()
    assert "\n" not in line and json.loads(line)["event"] == event.NAME
    assert event_from_json(line) == event
    assert read_event_line(line) == event


def test_fields_from_a_newer_version_ride_along_and_are_written_out_again():
    newer_eval = {
        "event": "eval", "epoch": 1, "step": 5, "valid_perplexity": 9.5, "valid_loss": 2.25,
        "improved": False, "mix": 0.85, "taught_loss": 0.5, "exemplar_share": 0.3,
    }  # fmt: skip
    event = decode_event(newer_eval)
    assert isinstance(event, EvalEvent) and event.details == {"exemplar_share": 0.3}
    assert event.mix == 0.85 and event.taught_loss == 0.5
    assert {key: value for key, value in event.to_dict().items() if key in newer_eval} == (
        newer_eval
    )


def test_a_number_that_is_not_finite_is_written_as_null():
    event = StepEvent(epoch=0, step=1, total_steps=2, loss=math.nan, eta_s=math.inf,
                      details={"nested": [math.inf]})  # fmt: skip
    line = event.to_json()
    assert "NaN" not in line and "Infinity" not in line
    read = event_from_json(line)
    assert isinstance(read, StepEvent) and read.loss is None and read.eta_s is None


def test_a_done_event_whose_figures_are_not_finite_is_read_not_dropped():
    # An empty validation slice measures NaN; a diverged loss, infinity.
    done = next(event for event in ONE_OF_EACH if isinstance(event, DoneEvent))
    nonfinite = dataclasses.replace(
        done,
        before=Figures(heldout=Perplexity(40.5, 3.7), valid=Perplexity(math.nan, math.nan)),
        after=Figures(heldout=Perplexity(math.inf, -math.inf), valid=Perplexity(61.0, 4.1)),
    )
    line = nonfinite.to_json()
    json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not strict JSON"))
    read = read_event_line(line)
    assert isinstance(read, DoneEvent) and read.version_id == done.version_id
    assert read.before.valid and math.isnan(read.before.valid.perplexity)
    assert read.after.heldout and math.isnan(read.after.heldout.loss)
    assert read.before.heldout == Perplexity(40.5, 3.7)
    assert read.after.taught_recall is None  # a figure that may be None still reads as None
    assert read.forgetting is None and read.forgetting_flag  # not measured: never a pass


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Traceback (most recent call last):",
        "100%|██████████| 40/40",
        '{"event": "step", "step": 3',  # cut off
        "[1, 2, 3]",
        '"status"',
        "{}",
        '{"event": "no-such-event"}',
        '{"event": ["status"]}',
        '{"event": "status"}',  # no message
        '{"event": "status", "message": 42}',
        '{"event": "step", "epoch": 0, "step": "ten", "total_steps": 10, "loss": 1.0}',
        '{"event": "step", "epoch": 0, "step": true, "total_steps": 10, "loss": 1.0}',
        json.dumps({**DONE, "recall": [1, 2]}),
        json.dumps({**DONE, "before": []}),
        json.dumps({**DONE, "recall": [{"prompt": "x"}]}),
        json.dumps({**DONE, "data": {**DONE["data"], "comparisons_from": "elsewhere"}}),
        json.dumps({**DONE, "data": {**DONE["data"], "counts": {"train_pairs": 3}}}),
        json.dumps({key: value for key, value in DONE.items() if key != "data"}),
        json.dumps({key: value for key, value in DONE.items() if key != "forgetting_budget"}),
        '{"event": "baseline", "figures": {"valid": {"perplexity": "high", "loss": 1.0}}}',
        "[" * 100_000,
    ],
)
def test_a_line_that_is_not_an_event_reads_as_none(line: str):
    assert read_event_line(line) is None
    with pytest.raises(EventError):
        event_from_json(line)


def test_the_json_writer_prints_the_one_encoding(capsys):
    JsonProgress()(ONE_OF_EACH[0])
    assert capsys.readouterr().out == ONE_OF_EACH[0].to_json() + "\n"


def test_the_bar_shows_a_finetune_evaluation_which_has_no_best_perplexity():
    err = io.StringIO()
    bar = TqdmProgress()
    with contextlib.redirect_stderr(err):
        for event in ONE_OF_EACH:
            bar(event)
        bar.close()
    assert "epoch 10 step 40: valid perplexity 60.50" in err.getvalue()


def test_the_child_process_signals_events_and_keeps_stray_lines_for_errors(qtbot, tmp_path: Path):
    script = tmp_path / "child.py"
    lines = ["a library's stray print", '{"event": "step", "step": "garbled"}',
             ONE_OF_EACH[0].to_json(), '{"event": "from-a-newer-version"}', "{not json",
             ONE_OF_EACH[-1].to_json()]  # fmt: skip
    script.write_text(f"import sys\nsys.stdout.write({json.dumps(chr(10).join(lines))} + '\\n')\n")
    process = FinetuneProcess([str(script)])
    events: list[ProgressEvent] = []
    process.event.connect(events.append)
    with qtbot.waitSignal(process.finished, timeout=30_000) as finished:
        process.start()
    assert finished.args == [0, False]
    assert events == [ONE_OF_EACH[0], ONE_OF_EACH[-1]]
    assert "a library's stray print" in process.stderr_tail()
    assert '"step": "garbled"' in process.stderr_tail() and "{not json" in process.stderr_tail()


def test_pretraining_s_command_loads_no_fine_tuning_code():
    """`main.py train` prints the engine's own events: the fine-tune package stays unloaded."""
    code = (
        "import sys, chatapp.commands.train;"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['chatapp', 'finetune'], ['engine', 'finetune'])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_version_s_stored_figures_read_back_as_the_run_measured_them():
    before = Figures(heldout=Perplexity(62.79, 4.14), valid=Perplexity(82.4, 4.41))
    after = Figures(heldout=Perplexity(64.8, 4.17), valid=Perplexity(84.1, 4.43), taught_recall=1)
    data = FinetuneData(DataEvent(train_pairs=4, heldout_pairs=0, replay_examples=32))
    result = FinetuneResult("succeeded", None, data, before, after)
    record = json.loads(json.dumps(stored_metrics(result, 0.03)))  # as the store keeps it
    read_before, read_after = version_figures(record)
    assert (read_before.valid.perplexity, read_after.valid.perplexity) == (82.4, 84.1)
    assert (read_before.heldout.perplexity, read_after.heldout.perplexity) == (62.79, 64.8)
    flat = {key: value for key, value in record.items() if key not in ("before", "after")}
    flat_before, flat_after = version_figures(flat)  # a record of flat figures only
    assert (flat_before.valid.perplexity, flat_after.valid.perplexity) == (82.4, 84.1)
    assert record["valid_perplexity_change"] == pytest.approx(84.1 / 82.4 - 1)
    assert record["forgetting_flag"] is False  # +2.1%, within the 3% budget


def test_a_version_s_figures_that_are_not_finite_are_stored_as_null(tmp_path: Path):
    before = Figures(heldout=Perplexity(62.79, 4.14), valid=Perplexity(math.nan, math.nan))
    after = Figures(heldout=Perplexity(math.inf, math.inf), valid=Perplexity(84.1, 4.43))
    data = FinetuneData(DataEvent(train_pairs=4, heldout_pairs=0, replay_examples=32))
    result = FinetuneResult("succeeded", None, data, before, after)
    with Store.open(tmp_path / "conversations.db") as store:
        store.add_model_version("ft-1", tmp_path / "ft-1", metrics=stored_metrics(result, 0.03))
        run = store.start_finetune_run()
        store.finish_finetune_run(run.id, "succeeded", metrics={"valid_loss": math.nan})
        (version,) = store.list_model_versions()
    with sqlite3.connect(tmp_path / "conversations.db") as connection:
        texts = [row[0] for row in connection.execute("SELECT metrics FROM model_versions")]
        texts += [row[0] for row in connection.execute("SELECT metrics FROM finetune_runs")]
    for text in texts:  # strict JSON, which SQLite's JSON functions and other readers take
        json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not strict JSON"))
    assert version.metrics and version.metrics["base_valid_perplexity"] is None
    read_before, read_after = version_figures(version.metrics)
    assert read_before.valid is None and read_after.heldout is None  # not measured
    assert (read_before.heldout.perplexity, read_after.valid.perplexity) == (62.79, 84.1)
    # A record written before the store wrote null for them may hold NaN: not measured too.
    legacy_before, legacy_after = version_figures(json.loads(texts[0].replace("null", "NaN")))
    assert legacy_before.valid is None and legacy_after.heldout is None


def test_the_summary_of_a_run_whose_figures_are_not_finite_is_strict_json(tmp_path: Path):
    # What `main.py finetune` prints last when not in JSON mode: other tools parse it.
    before = Figures(heldout=Perplexity(62.79, 4.14), valid=Perplexity(math.nan, math.nan))
    after = Figures(heldout=Perplexity(math.inf, math.inf), valid=Perplexity(84.1, 4.43))
    data = FinetuneData(DataEvent(train_pairs=4, heldout_pairs=0, replay_examples=32))
    result = FinetuneResult("succeeded", None, data, before, after)
    line = summary_line(tmp_path / "ft-1", 7, result, 0.03)
    summary = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not strict"))
    assert summary["model_dir"] == str(tmp_path / "ft-1") and summary["version_id"] == 7
    assert summary["base_valid_perplexity"] is None and summary["heldout_perplexity"] is None
    assert summary["valid_perplexity"] == 84.1 and summary["base_heldout_perplexity"] == 62.79
    assert summary["forgetting_flag"] is True  # not measured: never a pass


# Every field of a run's data set, each to its own value, none to its default: a field that a
# writer or a reader drops comes back as its default (or not at all), and differs.
EVERY_FIELD = FinetuneData(
    DataEvent(train_pairs=11, heldout_pairs=12, replay_examples=13, taught_pairs=14,
              duplicates_skipped=15, empty_skipped=16, heldout_conversations=17,
              replay_corpus="chatterbot", original_valid_examples=18,
              pairs={"corrected": 19, "liked": 20, "user": 21}, min_pairs=22,
              details={"exemplar_pairs": 23}),
    chosen_epoch=24, chosen_mix=0.25, comparisons_from="heldout",
)  # fmt: skip


def _set_apart_from_defaults(value: object) -> None:
    for item in dataclasses.fields(value):
        default = item.default_factory() if callable(item.default_factory) else item.default
        assert getattr(value, item.name) != default, f"{type(value).__name__}.{item.name}"


def test_the_sample_sets_every_field_of_a_run_s_data_to_a_value_of_its_own():
    _set_apart_from_defaults(EVERY_FIELD)
    _set_apart_from_defaults(EVERY_FIELD.counts)
    scalars = [value for value in dataclasses.asdict(EVERY_FIELD.counts).values()
               if not isinstance(value, dict)] + [23, 24, 0.25]  # fmt: skip
    assert len(set(scalars)) == len(scalars)


def test_every_field_of_the_done_event_s_data_survives_its_json_line():
    done = DoneEvent(version_id=1, version_name="ft-1", data=EVERY_FIELD, forgetting_budget=0.03)
    read = event_from_json(done.to_json())
    assert isinstance(read, DoneEvent)
    assert read.data == EVERY_FIELD
    assert read.data.counts.details == {"exemplar_pairs": 23}  # a newer child's count rides along


def test_a_version_s_record_keeps_every_count_and_reads_back_as_the_run_s_data():
    stored = json.loads(json.dumps({"pairs": dict(EVERY_FIELD.counts.pairs),
                                    **EVERY_FIELD.stored()}))  # fmt: skip
    # The record's keys are stored data (config.json's `finetune`, a version's `data`): kept.
    assert sorted(stored) == sorted([
        "pairs", "train_pairs", "heldout_pairs", "replay_examples", "taught_pairs",
        "duplicates_skipped", "empty_skipped", "heldout_conversations", "replay_corpus",
        "original_valid_examples", "chosen_epoch", "chosen_mix", "comparisons_from",
    ])  # fmt: skip
    unstored = dataclasses.replace(EVERY_FIELD.counts, min_pairs=None, details={})
    assert read_stored_data(stored) == dataclasses.replace(EVERY_FIELD, counts=unstored)


def test_an_older_or_odd_record_reads_with_defaults_for_what_it_lacks():
    odd = {"pairs": {"corrected": 3}, "replay_examples": "many", "train_pairs": True,
           "chosen_mix": 1, "comparisons_from": "x"}  # fmt: skip
    read = read_stored_data(odd)
    assert read == FinetuneData(
        DataEvent(train_pairs=0, heldout_pairs=0, replay_examples=0, pairs={"corrected": 3}),
        chosen_mix=1,
    )
    assert read_stored_data(None) == FinetuneData(DataEvent(0, 0, 0))
