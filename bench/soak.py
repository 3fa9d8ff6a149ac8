"""Soak: the real window, offscreen, chatting for a long time; do memory, threads or files leak?

A scripted user sends turns, regenerates, rates, stops a reply, switches and starts
conversations and searches, each step once the previous reply is done. Every `--sample-every`
seconds it records the process's resident memory, thread count and open file descriptors.
Prints one JSON object: replies done, actions taken, the samples' start / after warm-up / end /
max, and the growth after warm-up (targets: memory < 50 MB, no fd or thread growth).

    python bench/soak.py [--minutes 30] [--model DIR | --model shipped] [--sample-every 10]

Not part of the tests: it runs for minutes. Without --model it first trains the test suite's
tiny model (~20 s, not counted in the soak).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QCoreApplication, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

WORDS = ("hello", "music", "weather", "name", "food", "movies", "travel", "work", "sleep", "joke")
TARGET_GROWTH_MB = 50


def process_sample() -> dict[str, float]:
    """Resident memory (MB), threads and open file descriptors of this process."""
    try:
        import psutil

        process = psutil.Process()
        rss = process.memory_info().rss
        threads = process.num_threads()
        fds = process.num_fds() if hasattr(process, "num_fds") else len(process.open_files())
    except ImportError:  # Linux without psutil: /proc has the same figures
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        rss = pages * os.sysconf("SC_PAGE_SIZE")
        threads = len(os.listdir("/proc/self/task"))
        fds = len(os.listdir("/proc/self/fd"))
    return {"rss_mb": rss / 2**20, "threads": threads, "fds": fds}


def tiny_model(folder: Path) -> Path:
    """The test suite's tiny model (tests/conftest.py), trained into `folder`."""
    import torch

    from engine.config import preset
    from engine.pipeline import pretrain
    from engine.train import TrainConfig

    torch.set_num_threads(1)
    out = folder / "tiny-model"
    pretrain(
        corpus=str(REPO / "tests" / "fixtures" / "small_corpus.jsonl"),
        out_dir=out,
        model_config=preset("tiny"),
        train_config=TrainConfig(epochs=20, batch_tokens=1000, learning_rate=1e-2, patience=20),
        device=torch.device("cpu"),
    )
    return out


class ScriptedUser:
    """Drives the window like a person would, one step after each reply (or at once)."""

    def __init__(self, window: Any, seed: int) -> None:
        self.window = window
        self.random = random.Random(seed)
        self.actions: Counter[str] = Counter()
        self.replies = 0
        self.errors: list[str] = []
        self.running = True
        controller = window.controller
        controller.reply_stored.connect(self._on_reply)
        controller.error.connect(self.errors.append)

    def _on_reply(self, *_: object) -> None:
        self.replies += 1

    def step(self) -> None:
        """Take one action, then come back when the app is idle again."""
        if not self.running:
            return
        if self.window.controller.busy or self.window.controller.queued:
            QTimer.singleShot(5, self.step)
            return
        action = self.random.choices(
            ["send", "regenerate", "rate", "stop", "switch", "new", "search"],
            weights=[50, 12, 12, 4, 10, 4, 8],
        )[0]
        self.actions[action] += 1
        getattr(self, action)()
        QTimer.singleShot(1, self.step)

    def _last_bot(self) -> Any:
        messages = self.window.messages
        for row in range(messages.rowCount() - 1, -1, -1):
            item = messages.item(row)
            if item.role == "bot" and item.record is not None:
                return item.record
        return None

    def send(self) -> None:
        words = self.random.sample(WORDS, 3)
        self.window.composer.set_text(f"tell me about {words[0]}, {words[1]} and {words[2]}?")
        self.window.send(self.window.composer.text())

    def regenerate(self) -> None:
        record = self._last_bot()
        if record is None:
            return self.send()
        self.window.on_message_action("regenerate", self.window.messages.row_of_message(record.id))

    def rate(self) -> None:
        record = self._last_bot()
        if record is not None:
            self.window.controller.rate(record.id, self.random.choice([1, -1]))

    def stop(self) -> None:
        self.send()
        QTimer.singleShot(0, self.window.controller.stop)  # mid-reply, or just after it

    def switch(self) -> None:
        rows = self.window.conversations.rowCount()
        if rows:
            record = self.window.conversations.record(self.random.randrange(rows))
            self.window.chats.open(record.id)

    def new(self) -> None:
        self.window.chats.new()

    def search(self) -> None:
        self.window.chats.search(self.random.choice(WORDS))


def slope_per_minute(samples: list[dict[str, float]], key: str) -> float:
    """Least-squares growth of `key` per minute over `samples` (0 for fewer than two)."""
    if len(samples) < 2:
        return 0.0
    times = [sample["t"] / 60 for sample in samples]
    values = [sample[key] for sample in samples]
    mean_t, mean_v = sum(times) / len(times), sum(values) / len(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    return sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values)) / spread


def summary(samples: list[dict[str, float]], warm: int) -> dict[str, Any]:
    """Start / after warm-up / end / max of each figure, and its growth after warm-up."""
    result: dict[str, Any] = {}
    for key in ("rss_mb", "threads", "fds"):
        values = [sample[key] for sample in samples]
        result[key] = {
            "start": round(values[0], 1),
            "after_warmup": round(values[warm], 1),
            "end": round(values[-1], 1),
            "max": round(max(values), 1),
            "growth_after_warmup": round(values[-1] - values[warm], 1),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--model", help="model directory, or 'shipped' (default: train tiny)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the run (0..1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from chatapp.gui.context import AppContext, AppPaths
    from chatapp.gui.engine_client import EngineClient
    from chatapp.gui.main_window import MainWindow
    from chatapp.store import Store

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        folder = Path(scratch)
        # Settings in the scratch folder: a soak must not touch the user's own.
        QCoreApplication.setOrganizationName("Seq2SeqChatSoak")
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, scratch)
        if args.model == "shipped":
            from engine.default_model import default_model_dir

            model = default_model_dir()
        else:
            model = Path(args.model) if args.model else tiny_model(folder)
        store = Store.open(folder / "conversations.db")
        engine = EngineClient(device="cpu")
        paths = AppPaths(model_dir=str(model), device="cpu")
        window = MainWindow(AppContext.create(store, engine, paths))
        loaded: list[object] = []
        window.context.switcher.model_ready.connect(lambda info, _version: loaded.append(info))
        engine.model_load_failed.connect(loaded.append)  # a message instead of a ModelInfo
        engine.load_model(str(model))
        window.show()
        while not loaded:
            app.processEvents()
            time.sleep(0.01)
        if isinstance(loaded[0], str):
            print(json.dumps({"error": f"the model could not be loaded: {loaded[0]}"}))
            window.close()
            store.close()
            return 2

        user = ScriptedUser(window, args.seed)
        samples: list[dict[str, float]] = []

        def sample() -> None:
            gc.collect()  # garbage that is merely not collected yet is not a leak
            samples.append({"t": time.monotonic() - started, **process_sample()})

        sampler = QTimer()
        sampler.timeout.connect(sample)
        started = time.monotonic()
        sample()
        sampler.start(round(args.sample_every * 1000))
        QTimer.singleShot(0, user.step)
        deadline = args.minutes * 60

        def finish() -> None:
            user.running = False
            sampler.stop()
            sample()
            app.quit()

        QTimer.singleShot(round(deadline * 1000), finish)
        app.exec()
        conversations = len(store.list_conversations(include_archived=True))
        window.close()
        store.close()

    warm = min(len(samples) - 1, max(1, round(len(samples) * args.warmup)))
    figures = summary(samples, warm)
    result = {
        "minutes": args.minutes,
        "model": str(model) if args.model else "tests' tiny model",
        "replies": user.replies,
        "replies_per_minute": round(user.replies / max(args.minutes, 1e-9), 1),
        "actions": dict(user.actions),
        "conversations": conversations,
        "errors_shown": len(user.errors),
        "error_examples": sorted(set(user.errors))[:3],
        "samples": len(samples),
        "warmup_seconds": round(samples[warm]["t"], 1),
        **figures,
        "memory_growth_after_warmup_mb": figures["rss_mb"]["growth_after_warmup"],
        "memory_slope_after_warmup_mb_per_min": round(
            slope_per_minute(samples[warm:], "rss_mb"), 2
        ),
        "rss_mb_series": [round(sample["rss_mb"], 1) for sample in samples],
        "fd_leak": figures["fds"]["growth_after_warmup"] > 0,
        "thread_leak": figures["threads"]["growth_after_warmup"] > 0,
        "target_memory_growth_mb": TARGET_GROWTH_MB,
        "ok": figures["rss_mb"]["growth_after_warmup"] < TARGET_GROWTH_MB
        and figures["fds"]["growth_after_warmup"] <= 0
        and figures["threads"]["growth_after_warmup"] <= 0,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "psutil": _has_psutil(),
    }
    print(json.dumps(result))
    return 0


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
