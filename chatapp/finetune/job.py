"""Running a fine-tune (`main.py finetune`) on the saved conversations into a new version.

It reads the training pairs from the store, trains with `engine.finetune`, and records a
`finetune_runs` row (running → succeeded / failed / cancelled) and, on success, a
`model_versions` row whose parent is the version it started from. Nothing is written into the
model it starts from, and nothing half-written is left behind:
- SIGTERM / SIGINT set a flag that the training loop polls; if the work has not stopped a second
  later (a long evaluation, reading a corpus), an alarm interrupts it. Either way the partial
  directory is deleted and the run is marked cancelled.
- SIGKILL leaves the run 'running' and at most a hidden partial directory; once the lock is
  free, the app (opening, or showing the Fine-tune dialog) or the next run marks it failed
  (interrupted), and the next run in the same data folder removes the partial directory.
- A lock file in the data folder keeps two fine-tunes from running at once; the OS releases it
  when the process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from chatapp.finetune.data import (
    MIN_PAIRS,
    count_by_kind,
    distinct_counts,
    load_pairs,
    not_enough_message,
    to_examples,
)
from chatapp.finetune.errors import FinetuneError
from chatapp.finetune.events import ProgressWriter
from chatapp.finetune.guard import Interrupted, StopOnSignal, finetune_lock
from chatapp.finetune.request import FinetuneRequest
from chatapp.paths import models_dir, resolve_data_dir, resolve_db_path
from chatapp.store import Stopped, Store, StoreError, TrainingPair
from chatapp.store.versions import ensure_model_version, model_to_load, unique_version_name
from chatapp.terminal import visible
from engine.checkpoint import read_model_config
from engine.default_model import default_model_dir
from engine.device import resolve_device
from engine.errors import EngineError
from engine.finetune import (
    FinetuneConfig,
    FinetuneResult,
    SavedPair,
    check_paths,
    discard_partial,
    finetune,
    partial_dirs,
)
from engine.finetune_figures import Figures
from engine.progress import (
    BaselineEvent,
    CancelledEvent,
    DataEvent,
    DoneEvent,
    EndEvent,
    ErrorEvent,
    EvalEvent,
    ProgressEvent,
    StatusEvent,
)
from engine.strict_json import strict_dumps

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
LOGGED_EVENTS = (DataEvent, BaselineEvent, EvalEvent, EndEvent)  # kept whole in the run's log
SHOWN_EVENTS = (StatusEvent, DataEvent, BaselineEvent, ErrorEvent)  # on stderr without JSON


def to_saved_pairs(pairs: Sequence[TrainingPair]) -> list[SavedPair]:
    """Engine pairs; the conversation id decides the held-out split."""
    return [SavedPair(example, pair.kind) for example, pair in zip(to_examples(pairs), pairs)]


def _remove_stale_partials(folder: Path) -> None:
    """Partial directories of runs killed outright; safe to remove while we hold the lock."""
    for path in partial_dirs(folder):
        shutil.rmtree(path, ignore_errors=True)


def _default_out(folder: Path) -> Path:
    stem = datetime.now().strftime("ft-%Y%m%d-%H%M%S")
    out, suffix = folder / stem, 2
    while out.exists():
        out, suffix = folder / f"{stem}-{suffix}", suffix + 1
    return out


class Reporter:
    """Progress events to the chosen output, plus a short text log kept for the run row."""

    def __init__(self, kind: str, output: ProgressWriter, stop: StopOnSignal) -> None:
        self.kind = kind
        self.stop = stop
        self.progress = output
        self.log: list[str] = []
        self.pairs: Mapping[str, int] = {}  # the selected pairs per kind, for the data event

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, DataEvent):
            event = replace(event, pairs=self.pairs, min_pairs=MIN_PAIRS)
        self._remember(event)
        with self.stop.deferred():
            self.progress(event)
            if isinstance(event, EndEvent) and self.kind != "json":
                self.progress.close()  # the bar is done; what follows are plain lines
            if self.kind != "json" and isinstance(event, SHOWN_EVENTS):
                print(visible(self.log[-1]), file=sys.stderr, flush=True)  # may name a file

    def _remember(self, event: ProgressEvent) -> None:
        if isinstance(event, (StatusEvent, ErrorEvent)):
            self.log.append(event.message)
        elif isinstance(event, LOGGED_EVENTS):
            fields = event.to_dict()
            del fields["event"]
            self.log.append(f"{event.NAME}: {json.dumps(fields, default=str)}")

    def close(self) -> None:
        self.progress.close()


def run_finetune(request: FinetuneRequest, output: ProgressWriter) -> int:
    """Run `request`, reporting to `output`; the exit code. Raises FinetuneError when the run
    is refused before training (bad input, too few pairs, another run holding the lock)."""
    if request.nice > 0 and hasattr(os, "nice"):
        os.nice(request.nice)  # a background job: the window the user is chatting in comes first
    try:
        device = resolve_device(request.device)
    except EngineError as error:
        raise FinetuneError(str(error)) from None
    data_dir = resolve_data_dir(request.data_dir)
    stop = StopOnSignal()
    reporter = Reporter(request.progress, output, stop)
    try:
        with stop.installed():
            code = _run(request, data_dir, device, stop, reporter)
    except FinetuneError as error:
        if request.progress == "json":
            reporter(ErrorEvent(message=str(error)))
        raise
    finally:
        reporter.close()
    if stop.signal_number == getattr(signal, "SIGTERM", None):
        # Everything is cleaned up and recorded. Tearing down an interpreter with torch loaded
        # takes ~1 s on a busy machine, and whoever sent SIGTERM waits only 2 s before SIGKILL.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


@dataclass
class _Job:
    """One run under way: where it writes, what it learns from, and how it reports."""

    request: FinetuneRequest
    store: Store
    run_id: int
    base_dir: Path
    base_version_id: int
    out: Path
    pairs: list[TrainingPair]
    counts: dict[str, int]
    device: Any
    stop: StopOnSignal
    reporter: Reporter
    config: FinetuneConfig = field(init=False)
    out_existed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.request.config()
        self.out_existed = self.out.exists()


def _run(
    request: FinetuneRequest,
    data_dir: Path,
    device: Any,
    stop: StopOnSignal,
    reporter: Reporter,
) -> int:
    try:
        store = Store.open(resolve_db_path(request.db, data_dir))
    except StoreError as error:
        raise FinetuneError(str(error)) from None
    with store:
        base_dir = Path(request.model or model_to_load(store, None) or _default_model())
        folder = models_dir(data_dir)
        try:
            pairs, available = _read_pairs(request, store, base_dir, stop, reporter)
        except Interrupted:
            return _cancelled_while_reading(store, stop, reporter)
        counts = count_by_kind(pairs)
        refusal = not_enough_message({**available, **counts}, request.include)
        if refusal:
            raise FinetuneError(refusal)
        out = Path(request.out) if request.out else _default_out(folder)
        try:
            check_paths(base_dir, out)
        except EngineError as error:
            raise FinetuneError(str(error)) from None
        with finetune_lock(data_dir):
            _remove_stale_partials(folder)
            store.fail_stale_runs()  # holding the lock: a run still 'running' was killed
            try:
                base_version = ensure_model_version(store, base_dir)
            except (StoreError, ValueError) as error:
                raise FinetuneError(str(error)) from None
            reporter.pairs = counts
            run = store.start_finetune_run(counts)
            job = _Job(request, store, run.id, base_dir, base_version.id, out, pairs, counts,
                       device, stop, reporter)  # fmt: skip
            return _train_and_record(job)


def _read_pairs(
    request: FinetuneRequest, store: Store, base_dir: Path, stop: StopOnSignal, reporter: Reporter
) -> tuple[list[TrainingPair], dict[str, int]]:
    """The distinct pairs to learn from, and the counts of every kind. A signal stops it within
    a second: the reading polls the flag between conversations, and the alarm does the rest."""
    reporter(StatusEvent(message="Reading your saved conversations…"))
    try:
        stop.arm()
        pairs = load_pairs(
            store, request.include, max_context_turns=_context_turns(base_dir), should_stop=stop
        )
        return pairs, distinct_counts(store)
    except Stopped:
        raise Interrupted from None
    finally:
        stop.disarm()


def _context_turns(base_dir: Path) -> int | None:
    """How many earlier turns the model reads, so that no pair holds more (a 10,000-message
    chat would otherwise give contexts of every length up to 10,000). None when the folder's
    config cannot be read: the engine says why when it loads the model."""
    try:
        return read_model_config(base_dir).context_turns
    except EngineError:
        return None


def _cancelled_while_reading(store: Store, stop: StopOnSignal, reporter: Reporter) -> int:
    """A run stopped before it began: recorded as cancelled, nothing else written."""
    reporter.log.append("Cancelled while reading the saved conversations: nothing was written.")
    with contextlib.suppress(StoreError):
        run = store.start_finetune_run()
        store.finish_finetune_run(run.id, "cancelled", log="\n".join(reporter.log))
    reporter(CancelledEvent(message="Fine-tuning was cancelled; nothing was saved."))
    return 128 + (stop.signal_number or signal.SIGINT)


def _default_model() -> Path:
    try:
        return default_model_dir()
    except EngineError as error:
        raise FinetuneError(str(error)) from None


def _train_and_record(job: _Job) -> int:
    try:
        result = _train(job)
    except Interrupted:
        return _cancelled(job)
    except EngineError as error:  # bad input: a corpus or model that cannot be read
        _fail(job, str(error), traceback.format_exc())
        return EXIT_BAD_INPUT
    except Exception as error:
        _fail(job, f"fine-tuning failed: {type(error).__name__}: {error}", traceback.format_exc())
        return EXIT_FAILED
    return _record(job, result)


def _train(job: _Job) -> FinetuneResult:
    """The engine's fine-tune, interruptible by a signal while it runs."""
    job.stop.arm()
    result = finetune(
        base_dir=job.base_dir,
        out_dir=job.out,
        pairs=to_saved_pairs(job.pairs),
        config=job.config,
        device=job.device,
        replay_corpus=job.request.replay_corpus,
        on_progress=job.reporter,
        should_stop=job.stop,
    )
    job.stop.disarm()
    if result.status == "cancelled":
        raise Interrupted
    return result


def _cancelled(job: _Job) -> int:
    job.stop.disarm()
    _discard(job.out, job.out_existed)
    job.reporter.log.append("Cancelled: nothing was written.")
    job.store.finish_finetune_run(job.run_id, "cancelled", log="\n".join(job.reporter.log))
    job.reporter(CancelledEvent(message="Fine-tuning was cancelled; nothing was saved."))
    return 128 + (job.stop.signal_number or signal.SIGINT)


def _record(job: _Job, result: FinetuneResult) -> int:
    """Register the new version, close the run row, and report `done`."""
    budget = job.config.max_forgetting
    after = result.after or Figures()
    store, out = job.store, job.out
    try:
        version = store.add_model_version(
            unique_version_name(store, out.name),
            str(out.resolve()),
            parent_id=job.base_version_id,
            metrics=stored_metrics(result, budget),
            data={
                "include": list(job.request.include),
                "pairs": job.counts,
                **result.data.stored(),
            },
        )
        store.finish_finetune_run(
            job.run_id,
            "succeeded",
            metrics=result.metrics(),
            log="\n".join(job.reporter.log),
            model_version_id=version.id,
        )
    except (StoreError, ValueError) as error:
        # The model is finished and written: keep it (it can be added in File > Models…).
        message = f"the new model in {out} could not be registered: {error}"
        job.out_existed = True
        _fail(job, message, traceback.format_exc())
        return EXIT_FAILED
    job.reporter(
        DoneEvent(
            version_id=version.id,
            version_name=version.name,
            model_dir=str(out.resolve()),
            run_id=job.run_id,
            seconds=result.seconds,
            before=result.before,
            after=after,
            data=replace(result.data, counts=replace(result.data.counts, pairs=job.counts)),
            comparisons=tuple(result.comparisons),
            recall=tuple(result.recall),
            problems=tuple(result.problems),
            forgetting_budget=budget,
        )
    )
    if job.reporter.kind != "json":
        print(summary_line(out, version.id, result, budget))
    return 0


def summary_line(out: Path, version_id: int, result: FinetuneResult, budget: float) -> str:
    """The line a run not in JSON mode ends with: where the new version is and its figures, as
    strict JSON (a figure the run could not measure, NaN or infinity, is null)."""
    summary = {"model_dir": str(out), "version_id": version_id}
    return strict_dumps({**summary, **stored_metrics(result, budget, nested=False)})


def stored_metrics(result: FinetuneResult, budget: float, *, nested: bool = True) -> dict[str, Any]:
    """A new version's figures as its record keeps them (and the command's summary prints):
    `forgetting_flag` keeps a version that may have forgotten general chat from being made
    active without the user saying so. The record's keys are stored data, kept as they were."""
    before, after = result.before, result.after or Figures()
    flat = {
        "taught_recall": after.taught_recall,
        "heldout_perplexity": after.heldout.perplexity if after.heldout else None,
        "valid_perplexity": after.valid.perplexity if after.valid else None,
        "base_heldout_perplexity": before.heldout.perplexity if before.heldout else None,
        "base_valid_perplexity": before.valid.perplexity if before.valid else None,
        "valid_perplexity_change": result.forgetting,
        "forgetting_budget": budget,
        "forgetting_flag": result.flagged(budget),
    }
    if not nested:
        return flat
    return {**flat, "before": before.stored(), "after": result.after and result.after.stored()}


def _discard(out: Path, out_existed: bool) -> None:
    discard_partial(out)
    if not out_existed and out.exists():  # renamed into place just before the interruption
        shutil.rmtree(out, ignore_errors=True)


def _fail(job: _Job, message: str, details: str) -> None:
    job.stop.disarm()
    _discard(job.out, job.out_existed)
    job.reporter.log.append(f"Failed: {message}\n{details}")
    with contextlib.suppress(StoreError):
        job.store.finish_finetune_run(job.run_id, "failed", log="\n".join(job.reporter.log))
    job.reporter(ErrorEvent(message=message))
    print(visible(f"seq2seq-chat finetune: error: {message}"), file=sys.stderr)
