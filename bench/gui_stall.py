"""GUI responsiveness: event-loop stalls while replies generate, start-up time, big conversations.

Prints one JSON object:
- `stall_max_ms`, `stall_p99_ms`: the longest / 99th-percentile gap between ticks of a 10 ms
  QTimer on the GUI thread while `--replies` beam-5 replies generate (target: max < 50 ms);
- `startup_visible_ms`: from creating the application to a shown, usable main window, with the
  model still loading in the background (target < 1500 ms);
- `open_10k_ms`: opening a 10,000-message conversation (target < 300 ms).

    QT_QPA_PLATFORM=offscreen python bench/gui_stall.py [--model DIR] [--replies 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer


class TickMonitor:
    """Records the gaps between ticks of a fast timer: a long gap is a frozen GUI."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.gaps: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        self.gaps.append(self._clock.nsecsElapsed() / 1e6)
        self._clock.restart()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def wait_for(signal: object, timeout_ms: int = 120_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--replies", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    from chatapp.gui.app import AppOptions, create_window, make_application, open_store

    app = make_application()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, data_dir)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        options = AppOptions(model=args.model, data_dir=data_dir, device="cpu")
        store = open_store(options)
        window = create_window(options, store)
        window.show()
        app.processEvents()
        result["startup_visible_ms"] = (time.perf_counter() - started) * 1000
        wait_for(window.context.switcher.model_ready)
        result["model_loaded_ms"] = (time.perf_counter() - started) * 1000
        preset = window.decoding_panel.presets()["precise"]
        window.decoding_panel.set_config(preset.replace(beam_size=5))
        monitor = TickMonitor()
        monitor.start()
        generation_started = time.perf_counter()
        for number in range(args.replies):
            window.controller.send(f"Tell me something interesting, number {number}.")
            wait_for(window.controller.reply_stored)
        result["replies"] = args.replies
        result["replies_seconds"] = time.perf_counter() - generation_started
        monitor.stop()
        gaps = monitor.gaps[1:]
        result["stall_max_ms"] = max(gaps) if gaps else None
        result["stall_p99_ms"] = percentile(gaps, 0.99)
        result["ticks"] = len(gaps)
        big = store.create_conversation("ten thousand")
        for number in range(5_000):
            store.add_user_turn(big.id, f"user message {number} with a few words in it")
            store.add_bot_reply(big.id, f"bot reply {number}, also a few words long")
        window.chats.refresh()
        opened = time.perf_counter()
        window.chats.open(big.id)
        app.processEvents()
        result["open_10k_ms"] = (time.perf_counter() - opened) * 1000
        window.close()
        store.close()
    result["targets"] = {"stall_max_ms": 50, "startup_visible_ms": 1500, "open_10k_ms": 300}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
