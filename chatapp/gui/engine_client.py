"""The GUI thread's handle on the engine worker: starts its thread, numbers requests, stops it."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from PySide6.QtCore import QObject, QThread, Signal, Slot

from chatapp.gui.engine_worker import EngineWorker
from chatapp.store.records import CorrectionRecord
from engine.decoding.config import DecodeConfig

SHUTDOWN_WAIT_MS = 1500


class EngineClient(QObject):
    model_loaded = Signal(object)  # ModelInfo
    model_load_failed = Signal(str)
    token_generated = Signal(int, str)
    reply_finished = Signal(int, object)  # request id, engine.Reply (None if never started)
    generation_failed = Signal(int, str)
    attention_ready = Signal(int, object)

    # Queued into the worker's thread.
    _load_requested = Signal(str)
    _generate_requested = Signal(int, list, object, list)  # id, history, config, avoid
    _explain_requested = Signal(int, list, str)
    _corrections_changed = Signal(object)

    def __init__(self, *, device: str = "auto", quantize: str = "none") -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._pending: set[int] = set()
        self._cancelled: set[int] = set()
        self._thread = QThread()
        self._thread.setObjectName("engine-worker")
        self._worker = EngineWorker(device=device, quantize=quantize)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._load_requested.connect(self._worker.load_model)
        self._generate_requested.connect(self._worker.generate)
        self._explain_requested.connect(self._worker.explain)
        self._corrections_changed.connect(self._worker.set_corrections)
        self._worker.attention_ready.connect(self._on_attention)
        self._worker.model_loaded.connect(self.model_loaded)
        self._worker.model_load_failed.connect(self.model_load_failed)
        self._worker.token_generated.connect(self._on_token)
        self._worker.reply_finished.connect(self._on_finished)
        self._worker.generation_failed.connect(self._on_failed)
        self._thread.start()

    def load_model(self, directory: str | None) -> None:
        self._load_requested.emit(directory or "")

    def set_corrections(self, records: list[CorrectionRecord]) -> None:
        """The saved corrections that replies consult, in order before any generation asked
        for after this call (the worker turns them into the engine's, with torch loaded)."""
        self._corrections_changed.emit(list(records))

    def generate(self, history: list[str], config: DecodeConfig, avoid: Sequence[str] = ()) -> int:
        """Ask for a reply; `avoid`: the replies this turn already has (Regenerate)."""
        request_id = next(self._ids)
        self._pending.add(request_id)
        self._generate_requested.emit(request_id, list(history), config, list(avoid))
        return request_id

    def explain(self, history: list[str], reply_text: str) -> int:
        """Ask for a reply's attention heat-map; answered by `attention_ready`, or by
        `generation_failed` with the request's id (so Details… can say what went wrong)."""
        request_id = next(self._ids)
        self._pending.add(request_id)
        self._explain_requested.emit(request_id, list(history), reply_text)
        return request_id

    def cancel(self, request_id: int) -> None:
        if request_id in self._pending:
            self._cancelled.add(request_id)
            self._worker.cancel(request_id)

    @property
    def running(self) -> bool:
        """False once `shut_down` ended the engine thread (the window is closing)."""
        return self._thread.isRunning()

    def cancel_all(self) -> None:
        for request_id in list(self._pending):
            self.cancel(request_id)

    def _done(self, request_id: int) -> None:
        self._pending.discard(request_id)
        self._cancelled.discard(request_id)

    @Slot(int, str)
    def _on_token(self, request_id: int, text: str) -> None:
        if request_id in self._pending and request_id not in self._cancelled:
            self.token_generated.emit(request_id, text)  # late tokens of a cancelled one drop

    @Slot(int, object)
    def _on_finished(self, request_id: int, reply: object) -> None:
        if request_id in self._pending:
            self.reply_finished.emit(request_id, reply)
            self._done(request_id)

    @Slot(int, object)
    def _on_attention(self, request_id: int, result: object) -> None:
        if request_id in self._pending:
            self.attention_ready.emit(request_id, result)
            self._done(request_id)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id in self._pending:
            self.generation_failed.emit(request_id, message)
            self._done(request_id)

    def shut_down(self) -> bool:
        """Stop any generation and the thread; True if it ended within the bounded wait."""
        self._worker.shut_down()
        self.cancel_all()
        self._thread.quit()
        return self._thread.wait(SHUTDOWN_WAIT_MS)
