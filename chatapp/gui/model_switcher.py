"""Which model version the chat uses: the one handler of the engine's `model_loaded`.

Every load ends here. The version is recorded (registered if new) and, when the user asked to
switch to it, made active, in one store action, so the outcome no longer depends on which of
two handlers ran first. Only then does `model_ready` tell the window. A version the user asked
for that fails to load leaves the previous one loaded and active, and the user is told why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from chatapp.gui.actions import Change, StoreActions
from chatapp.gui.banner import BannerKind
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.engine_worker import ModelInfo
from chatapp.gui.timeouts import BANNER_RESULT_MS
from chatapp.store import ModelVersionRecord, Store, StoreError
from chatapp.store.versions import ensure_model_version

Notify = Callable[..., None]  # (text, *, kind, timeout_ms): the window's banner


def same_directory(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


@dataclass(frozen=True)
class LoadRecord:
    """What one model load wrote to the store."""

    version: ModelVersionRecord
    activation_error: str | None = None  # the switch loaded but could not be made active


def record_load(
    store: Store, directory: str, switching_to: ModelVersionRecord | None
) -> LoadRecord:
    """Register the loaded directory's version; make it active if the user switched to it."""
    version = ensure_model_version(store, directory)
    if switching_to is None:
        return LoadRecord(version)
    try:
        return LoadRecord(store.set_active_model_version(switching_to.id))
    except StoreError as error:
        return LoadRecord(version, str(error))


class ModelSwitcher(QObject):
    """Loads a version in the engine worker and makes it active only once it has loaded."""

    model_ready = Signal(object, object)  # ModelInfo, ModelVersionRecord | None (not recorded)
    switched = Signal(object)  # ModelVersionRecord, now loaded and active
    switch_failed = Signal(str)

    def __init__(
        self,
        actions: StoreActions,
        engine: EngineClient,
        *,
        default_model_dir: str | None,
        notify: Notify,
    ) -> None:
        super().__init__()
        self._actions, self._engine = actions, engine
        self._default_model_dir = default_model_dir
        self._notify = notify
        self._pending: ModelVersionRecord | None = None
        self._previous: ModelVersionRecord | None = None
        self.loaded_version_id: int | None = None
        engine.model_loaded.connect(self._on_loaded)
        engine.model_load_failed.connect(self._on_load_failed)

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def loaded_version(self) -> ModelVersionRecord | None:
        """The version the chat is using now (by the id recorded on the last model load)."""
        for version in self._actions.store.list_model_versions():
            if version.id == self.loaded_version_id:
                return version
        return None

    def activate(self, version: ModelVersionRecord) -> bool:
        """Start switching to `version`; False (and `switch_failed`) if it cannot start."""
        if self._pending is not None:
            self.switch_failed.emit("Another model is being loaded; try again in a moment.")
            return False
        if not (Path(version.directory) / "config.json").is_file():
            self.switch_failed.emit(
                f"Model version “{version.name}” cannot be used: its folder {version.directory} "
                "is missing or is not a model directory. The current model stays in use."
            )
            return False
        self._previous = self.loaded_version()
        self._pending = version
        self._engine.load_model(version.directory)
        return True

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        pending = self._pending
        if pending is not None and not same_directory(info.directory, pending.directory):
            pending = None  # a load someone else asked for, or the previous model coming back
        else:
            self._pending = None
        self._actions.run(
            lambda store: record_load(store, info.directory, pending),
            success=lambda record: self._recorded(info, record, switched=pending is not None),
            failure=lambda message: self._not_recorded(info, message),
            changes=Change.MODELS,
        )

    def _recorded(self, info: ModelInfo, record: LoadRecord, *, switched: bool) -> None:
        self.loaded_version_id = record.version.id
        self.model_ready.emit(info, record.version)
        if not switched:
            return
        if record.activation_error is not None:
            self.switch_failed.emit(
                f"The model loaded but could not be made active: {record.activation_error}"
            )
            return
        self._notify(
            f"Now chatting with model version “{record.version.name}”.",
            kind=BannerKind.INFO,
            timeout_ms=BANNER_RESULT_MS,
        )
        self.switched.emit(record.version)

    def _not_recorded(self, info: ModelInfo, message: str) -> None:
        self.loaded_version_id = None
        self._notify(f"Model versions could not be recorded: {message}", kind=BannerKind.WARNING)
        self.model_ready.emit(info, None)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        pending, previous = self._pending, self._previous
        if pending is None:
            return
        self._pending = None
        keeping = f"“{previous.name}” stays in use" if previous else "the previous model stays"
        text = f"Model version “{pending.name}” could not be loaded ({message}); {keeping}."
        # The worker keeps its old model on a failed load, but the window has marked the chat as
        # having none: loading the previous one again puts every part back in step.
        self._engine.load_model(previous.directory if previous else self._default_model_dir)
        self._notify(text, kind=BannerKind.WARNING)
        self.switch_failed.emit(text)
