"""The engine worker: a `QObject` living in its own `QThread`, owning the `Chatbot`.

The GUI never touches the model and the worker never touches a widget: requests come in through
queued slot calls, results go out as signals. Cancelling is the one thing the GUI thread does
directly (a thread-safe set of cancelled ids), because a queued call would wait behind the very
generation it is meant to stop.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from engine.decoding.config import DecodeConfig
from engine.errors import EngineError

if TYPE_CHECKING:
    from chatapp.store.records import CorrectionRecord
    from engine import Chatbot, Reply
    from engine.memory import CorrectionMemory


@dataclass(frozen=True)
class ModelInfo:
    directory: str
    device: str
    parameters: int
    quantized: bool
    record: dict[str, Any]
    reads_exemplars: bool  # retrieve and refine (config `exemplar`): the `refine` knob applies


class EngineWorker(QObject):
    model_loaded = Signal(object)  # ModelInfo
    model_load_failed = Signal(str)
    token_generated = Signal(int, str)  # request id, text so far
    reply_finished = Signal(int, object)  # request id, engine.Reply
    generation_failed = Signal(int, str)  # request id, message
    attention_ready = Signal(int, object)  # request id, (context pieces, reply pieces, weights)

    def __init__(self, *, device: str = "auto", quantize: str = "none") -> None:
        super().__init__()
        self._device = device
        self._quantize = quantize
        self._bot: Chatbot | None = None  # set in the engine thread by load_model
        self._memory: CorrectionMemory | None = None  # saved corrections, kept across models
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()
        self._shutting_down = threading.Event()

    # Called from the GUI thread: must stay thread-safe and never block.
    def cancel(self, request_id: int) -> None:
        with self._lock:
            self._cancelled.add(request_id)

    def shut_down(self) -> None:
        self._shutting_down.set()

    def _is_cancelled(self, request_id: int) -> bool:
        if self._shutting_down.is_set():
            return True
        with self._lock:
            return request_id in self._cancelled

    @Slot(str)
    def load_model(self, directory: str) -> None:
        # PyTorch is imported here, in the engine thread, so the window appears without it.
        from engine.chatbot import Chatbot

        try:
            bot = Chatbot.load(directory or None, device=self._device, quantize=self._quantize)
            info = ModelInfo(
                directory=str(bot.model_dir),
                device=str(bot.device),
                parameters=bot.model.parameter_count() if not bot.quantized else 0,
                quantized=bot.quantized,
                record=dict(bot.checkpoint.record),
                reads_exemplars=bot.config.exemplar,
            )
        except EngineError as error:
            self.model_load_failed.emit(str(error))
            return
        except Exception as error:  # a broken model must not take the app down
            self.model_load_failed.emit(f"could not load the model: {error}")
            return
        bot.memory = self._memory
        self._bot = bot
        self.model_loaded.emit(info)

    @Slot(object)
    def set_corrections(self, records: list[CorrectionRecord]) -> None:
        """The saved corrections the replies consult (an empty list: the memory is off)."""
        from chatapp.correction_memory import to_corrections
        from engine.memory import CorrectionMemory

        corrections = to_corrections(records)

        if self._memory is None:
            self._memory = CorrectionMemory()
            if self._bot is not None:
                self._bot.memory = self._memory
        self._memory.update(corrections)

    @Slot(int, list, object, list)
    def generate(
        self, request_id: int, history: list[str], config: DecodeConfig, avoid: list[str]
    ) -> None:
        if self._is_cancelled(request_id):
            self.reply_finished.emit(request_id, None)
            return
        if self._bot is None:
            self.generation_failed.emit(request_id, "the model is not loaded yet")
            return
        try:
            reply: Reply = self._bot.reply(
                history,
                config,
                on_token=lambda text: self.token_generated.emit(request_id, text),
                should_stop=lambda: self._is_cancelled(request_id),
                avoid=avoid,
            )
        except EngineError as error:
            self.generation_failed.emit(request_id, str(error))
            return
        except Exception as error:
            traceback.print_exc()
            self.generation_failed.emit(request_id, f"the reply failed: {error}")
            return
        self.reply_finished.emit(request_id, reply)

    @Slot(int, list, str)
    def explain(self, request_id: int, history: list[str], reply_text: str) -> None:
        """The attention heat-map of a stored reply (recomputed by teacher forcing)."""
        if self._bot is None:
            self.generation_failed.emit(request_id, "the model is not loaded yet")
            return
        try:
            self.attention_ready.emit(request_id, self._bot.attention(history, reply_text))
        except EngineError as error:
            self.generation_failed.emit(request_id, str(error))
        except Exception as error:  # told to Details…, never lost in the worker thread
            traceback.print_exc()
            self.generation_failed.emit(request_id, f"{type(error).__name__}: {error}")
