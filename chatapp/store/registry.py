"""The bookkeeping half of `Store`: model versions, fine-tune runs and decoding presets.

The store records where a model version lives and how it scored; it never reads or deletes the
model files themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from chatapp.store.database import Database
from chatapp.store.errors import NotFoundError, StoreError
from chatapp.store.models import FinetuneRun, ModelVersion, Preset, record_of, utcnow
from chatapp.store.records import (
    RUN_STATUSES,
    FinetuneRunRecord,
    ModelVersionRecord,
    PresetRecord,
    RunStatus,
)

_Row = TypeVar("_Row", ModelVersion, FinetuneRun)

STALE_RUN_NOTE = "Interrupted: the fine-tune process ended without reporting (killed or crashed)."


def _version_record(version: ModelVersion) -> ModelVersionRecord:
    return record_of(ModelVersionRecord, version)


def _run_record(run: FinetuneRun) -> FinetuneRunRecord:
    return record_of(FinetuneRunRecord, run)


def _preset_record(preset: Preset) -> PresetRecord:
    return record_of(PresetRecord, preset)


def _get(session: Session, model: type[_Row], item_id: int, what: str) -> _Row:
    item = session.get(model, item_id)
    if item is None:
        raise NotFoundError(f"no {what} with id {item_id}")
    return item


def _activate(session: Session, version: ModelVersion) -> None:
    # Deactivate first, in its own statement: the partial unique index allows one active row.
    session.execute(update(ModelVersion).where(ModelVersion.active).values(active=False))
    version.active = True


class RegistryMixin:
    _db: Database

    # -- model versions -------------------------------------------------------------------

    def add_model_version(
        self,
        name: str,
        directory: str | os.PathLike[str],
        *,
        parent_id: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        is_base: bool = False,
        activate: bool = False,
    ) -> ModelVersionRecord:
        """Register a model directory under a unique name; optionally make it the active one.

        Insert-or-get: a directory already registered returns its version as it is (one row
        per folder, even when several processes register it at once).
        """
        if not name.strip():
            raise ValueError("a model version needs a name")
        with self._db.write() as session:
            existing = session.scalar(
                select(ModelVersion).where(ModelVersion.directory == str(directory))
            )
            if existing is not None:
                return _version_record(existing)
            if session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)):
                raise ValueError(f"a model version named {name!r} already exists")
            version = ModelVersion(
                name=name,
                directory=str(directory),
                created_at=utcnow(),
                parent_id=parent_id,
                metrics=dict(metrics) if metrics is not None else None,
                data=dict(data) if data is not None else None,
                active=False,
                is_base=is_base,
            )
            session.add(version)
            session.flush()
            if activate:
                _activate(session, version)
                session.flush()
            return _version_record(version)

    def list_model_versions(self) -> list[ModelVersionRecord]:
        """Oldest first."""
        with self._db.read() as session:
            versions = session.scalars(select(ModelVersion).order_by(ModelVersion.id))
            return [_version_record(version) for version in versions]

    def set_active_model_version(self, version_id: int) -> ModelVersionRecord:
        with self._db.write() as session:
            version = _get(session, ModelVersion, version_id, "model version")
            _activate(session, version)
            session.flush()
            return _version_record(version)

    def active_model_version(self) -> ModelVersionRecord | None:
        with self._db.read() as session:
            version = session.scalar(select(ModelVersion).where(ModelVersion.active))
            return None if version is None else _version_record(version)

    def delete_model_version(self, version_id: int) -> None:
        """Forget a fine-tuned version (not its files). The base and the active one stay."""
        with self._db.write() as session:
            version = _get(session, ModelVersion, version_id, "model version")
            if version.is_base:
                raise StoreError(f"model version {version.name!r} is the base model: it stays")
            if version.active:
                raise StoreError(
                    f"model version {version.name!r} is in use: make another one active first"
                )
            session.delete(version)

    # -- fine-tune runs -------------------------------------------------------------------

    def start_finetune_run(self, examples: Mapping[str, int] | None = None) -> FinetuneRunRecord:
        """A run in status 'running'; `examples` counts its training pairs by kind."""
        with self._db.write() as session:
            run = FinetuneRun(
                started_at=utcnow(),
                status="running",
                examples=dict(examples) if examples is not None else None,
                log="",
            )
            session.add(run)
            session.flush()
            return _run_record(run)

    def finish_finetune_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        metrics: Mapping[str, Any] | None = None,
        log: str = "",
        model_version_id: int | None = None,
    ) -> FinetuneRunRecord:
        """Close a run as 'succeeded', 'failed' or 'cancelled'.

        A run already closed (for instance by `fail_stale_runs`) is overwritten: the process
        that actually finished knows best.
        """
        if status == "running" or status not in RUN_STATUSES:
            raise ValueError(f"a run finishes as succeeded, failed or cancelled, not {status!r}")
        with self._db.write() as session:
            run = _get(session, FinetuneRun, run_id, "fine-tune run")
            run.status = status
            run.finished_at = utcnow()
            run.metrics = dict(metrics) if metrics is not None else None
            run.log = log
            run.model_version_id = model_version_id
            session.flush()
            return _run_record(run)

    def list_finetune_runs(self) -> list[FinetuneRunRecord]:
        """Newest first."""
        with self._db.read() as session:
            runs = session.scalars(select(FinetuneRun).order_by(FinetuneRun.id.desc()))
            return [_run_record(run) for run in runs]

    def fail_stale_runs(self) -> int:
        """Mark runs left 'running' by a killed process as failed; how many there were.

        Call it when no fine-tune process of this app is alive (at start-up).
        """
        with self._db.write() as session:
            runs = session.scalars(select(FinetuneRun).where(FinetuneRun.status == "running")).all()
            for run in runs:
                run.status = "failed"
                run.finished_at = utcnow()
                run.log = f"{run.log}\n{STALE_RUN_NOTE}" if run.log else STALE_RUN_NOTE
            return len(runs)

    # -- decoding presets -----------------------------------------------------------------

    def save_preset(self, name: str, config: Mapping[str, Any]) -> PresetRecord:
        """Save decoding settings under `name`, replacing a preset of that name."""
        if not name.strip():
            raise ValueError("a preset needs a name")
        with self._db.write() as session:
            preset = session.scalar(select(Preset).where(Preset.name == name))
            if preset is None:
                preset = Preset(name=name, config=dict(config), created_at=utcnow())
                session.add(preset)
            else:
                preset.config = dict(config)
            session.flush()
            return _preset_record(preset)

    def list_presets(self) -> list[PresetRecord]:
        """By name."""
        with self._db.read() as session:
            presets = session.scalars(select(Preset).order_by(Preset.name))
            return [_preset_record(preset) for preset in presets]

    def delete_preset(self, name: str) -> bool:
        """Delete the preset called `name`; False if there was none."""
        with self._db.write() as session:
            return session.execute(delete(Preset).where(Preset.name == name)).rowcount > 0
