"""Running `main.py finetune`: fine-tune on the saved conversations into a new model version.

It reads the training pairs from the store, trains with `engine.finetune`, and records a
`finetune_runs` row (running → succeeded / failed / cancelled) and, on success, a
`model_versions` row whose parent is the version it started from. Nothing is written into the
model it starts from, and nothing half-written is left behind:
- SIGTERM / SIGINT set a flag that the training loop polls; if the work has not stopped a second
  later (a long evaluation, reading a corpus), an alarm interrupts it. Either way the partial
  directory is deleted and the run is marked cancelled.
- SIGKILL leaves the run 'running' (the app marks it failed at its next start) and at most a
  hidden partial directory, which the next run in the same data folder removes.
- A lock file in the data folder keeps two fine-tunes from running at once; the OS releases it
  when the process dies, however it dies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from chatapp.commands.common import (
    CommandError,
    data_dir_of,
    db_of,
    device_of,
    model_of,
)
from chatapp.commands.progress import make_progress
from chatapp.finetune.data import (
    MIN_PAIRS,
    count_by_kind,
    distinct_counts,
    load_pairs,
    not_enough_message,
    parse_include,
    to_saved_pairs,
)
from chatapp.finetune.guard import Interrupted, StopOnSignal, finetune_lock
from chatapp.finetune.versions import ensure_model_version, model_to_load, unique_version_name
from chatapp.paths import models_dir, resolve_data_dir, resolve_db_path
from chatapp.store import Store, StoreError
from engine.default_model import default_model_dir
from engine.device import resolve_device
from engine.errors import EngineError
from engine.finetune import (
    PARTIAL_MARK,
    FinetuneConfig,
    FinetuneResult,
    check_paths,
    discard_partial,
    finetune,
)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _remove_stale_partials(folder: Path) -> None:
    """Partial directories of runs killed outright; safe to remove while we hold the lock."""
    for path in folder.iterdir():
        if path.name.startswith(".") and PARTIAL_MARK in path.name and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _default_out(folder: Path) -> Path:
    stem = datetime.now().strftime("ft-%Y%m%d-%H%M%S")
    out, suffix = folder / stem, 2
    while out.exists():
        out, suffix = folder / f"{stem}-{suffix}", suffix + 1
    return out


class Reporter:
    """Progress events to the chosen output, plus a short text log kept for the run row."""

    def __init__(self, kind: str, stop: StopOnSignal) -> None:
        self.kind = kind
        self.stop = stop
        self.progress = make_progress(kind)
        self.log: list[str] = []
        self.extra_data: dict[str, Any] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "data":
            event = {**event, **self.extra_data}
        self._remember(event)
        with self.stop.deferred():
            self.progress(event)
            if name == "end" and self.kind != "json":
                self.progress.close()  # the bar is done; what follows are plain lines
            if self.kind != "json" and name in ("status", "data", "baseline", "error"):
                print(self.log[-1], file=sys.stderr, flush=True)

    def _remember(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "status" or name == "error":
            self.log.append(str(event.get("message")))
        elif name in ("data", "baseline", "eval", "end"):
            fields = {key: value for key, value in event.items() if key != "event"}
            self.log.append(f"{name}: {json.dumps(fields, default=str)}")

    def close(self) -> None:
        self.progress.close()


def run_finetune(args: argparse.Namespace) -> int:
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)  # a background job: the window the user is chatting in comes first
    try:
        include = parse_include(args.include)
        config = FinetuneConfig(
            epochs=args.epochs,
            learning_rate=args.lr,
            batch_tokens=args.batch_tokens,
            max_minutes=args.max_minutes,
            replay=args.replay,
            l2_sp=args.l2_sp,
            max_forgetting=args.max_forgetting,
            seed=args.seed,
        )
        device = resolve_device(device_of(args))
    except (ValueError, EngineError) as error:
        raise CommandError(str(error)) from None
    data_dir = resolve_data_dir(data_dir_of(args))
    stop = StopOnSignal()
    reporter = Reporter(args.progress, stop)
    try:
        with stop.installed():
            code = _run(args, data_dir, include, config, device, stop, reporter)
    except CommandError as error:
        if args.progress == "json":
            reporter({"event": "error", "message": str(error)})
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


def _run(
    args: argparse.Namespace,
    data_dir: Path,
    include: tuple[str, ...],
    config: FinetuneConfig,
    device: Any,
    stop: StopOnSignal,
    reporter: Reporter,
) -> int:
    try:
        store = Store.open(resolve_db_path(db_of(args), data_dir))
    except StoreError as error:
        raise CommandError(str(error)) from None
    with store:
        base_dir = Path(model_of(args) or model_to_load(store, None) or _default_model())
        pairs = load_pairs(store, include)
        counts = count_by_kind(pairs)
        refusal = not_enough_message({**distinct_counts(store), **counts}, include)
        if refusal:
            raise CommandError(refusal)
        folder = models_dir(data_dir)
        out = Path(args.out) if args.out else _default_out(folder)
        try:
            check_paths(base_dir, out)
        except EngineError as error:
            raise CommandError(str(error)) from None
        with finetune_lock(data_dir):
            _remove_stale_partials(folder)
            try:
                base_version = ensure_model_version(store, base_dir)
            except (StoreError, ValueError) as error:
                raise CommandError(str(error)) from None
            reporter.extra_data = {"pairs": counts, "min_pairs": MIN_PAIRS}
            run = store.start_finetune_run(counts)
            return _train_and_record(
                store, run.id, base_dir, base_version.id, out, pairs, include, counts,
                config, device, args.replay_corpus, stop, reporter,
            )  # fmt: skip


def _default_model() -> Path:
    try:
        return default_model_dir()
    except EngineError as error:
        raise CommandError(str(error)) from None


def _train_and_record(
    store: Store,
    run_id: int,
    base_dir: Path,
    base_version_id: int,
    out: Path,
    pairs: list[Any],
    include: tuple[str, ...],
    counts: dict[str, int],
    config: FinetuneConfig,
    device: Any,
    replay_corpus: str | None,
    stop: StopOnSignal,
    reporter: Reporter,
) -> int:
    out_existed = out.exists()
    try:
        stop.arm()
        result = finetune(
            base_dir=base_dir,
            out_dir=out,
            pairs=to_saved_pairs(pairs),
            config=config,
            device=device,
            replay_corpus=replay_corpus,
            on_progress=reporter,
            should_stop=stop,
        )
        stop.disarm()
        if result.status == "cancelled":
            raise Interrupted
    except Interrupted:
        stop.disarm()
        _discard(out, out_existed)
        reporter.log.append("Cancelled: nothing was written.")
        store.finish_finetune_run(run_id, "cancelled", log="\n".join(reporter.log))
        reporter({"event": "cancelled", "message": "Fine-tuning was cancelled; nothing was saved."})
        return 128 + (stop.signal_number or signal.SIGINT)
    except EngineError as error:  # bad input: a corpus or model that cannot be read
        _fail(store, run_id, out, out_existed, reporter, str(error), traceback.format_exc())
        return EXIT_BAD_INPUT
    except Exception as error:
        message = f"fine-tuning failed: {type(error).__name__}: {error}"
        _fail(store, run_id, out, out_existed, reporter, message, traceback.format_exc())
        return EXIT_FAILED
    flat = _flat_metrics(result, config)
    try:
        version = store.add_model_version(
            unique_version_name(store, out.name),
            str(out.resolve()),
            parent_id=base_version_id,
            metrics={**flat, "before": result.before, "after": result.after},
            data={"include": list(include), "pairs": counts, **result.data},
        )
        store.finish_finetune_run(
            run_id,
            "succeeded",
            metrics=result.metrics(),
            log="\n".join(reporter.log),
            model_version_id=version.id,
        )
    except (StoreError, ValueError) as error:
        # The model is finished and written: keep it (it can be added in File > Models…).
        message = f"the new model in {out} could not be registered: {error}"
        _fail(store, run_id, out, True, reporter, message, traceback.format_exc())
        return EXIT_FAILED
    reporter(
        {
            "event": "done",
            "model_dir": str(out.resolve()),
            "version_id": version.id,
            "version_name": version.name,
            "run_id": run_id,
            "metrics": {"before": result.before, "after": result.after, **flat},
            "data": {"pairs": counts, **result.data},
            "comparisons": result.comparisons,
            "recall": result.recall,
            "problems": result.problems,
            **flat,
            "seconds": result.seconds,
        }
    )
    if reporter.kind != "json":
        print(json.dumps({"model_dir": str(out), "version_id": version.id, **flat}))
    return 0


def _flat_metrics(result: FinetuneResult, config: FinetuneConfig) -> dict[str, Any]:
    """The figures the dialog and the guard read: `forgetting_flag` keeps a version that may
    have forgotten general chat from being made active without the user saying so."""
    after = result.after or {}
    return {
        "taught_recall": after.get("taught_recall"),
        "heldout_perplexity": after.get("heldout_perplexity"),
        "valid_perplexity": after.get("valid_perplexity"),
        "base_heldout_perplexity": result.before.get("heldout_perplexity"),
        "base_valid_perplexity": result.before.get("valid_perplexity"),
        "valid_perplexity_change": result.forgetting,
        "forgetting_budget": config.max_forgetting,
        "forgetting_flag": result.flagged(config.max_forgetting),
    }


def _discard(out: Path, out_existed: bool) -> None:
    discard_partial(out)
    if not out_existed and out.exists():  # renamed into place just before the interruption
        shutil.rmtree(out, ignore_errors=True)


def _fail(
    store: Store,
    run_id: int,
    out: Path,
    out_existed: bool,
    reporter: Reporter,
    message: str,
    details: str,
) -> None:
    reporter.stop.disarm()
    _discard(out, out_existed)
    reporter.log.append(f"Failed: {message}\n{details}")
    with contextlib.suppress(StoreError):
        store.finish_finetune_run(run_id, "failed", log="\n".join(reporter.log))
    reporter({"event": "error", "message": message})
    print(f"seq2seq-chat finetune: error: {message}", file=sys.stderr)
