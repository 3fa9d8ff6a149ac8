"""Where the app keeps its files: the platform's app-data folder unless told otherwise."""

from __future__ import annotations

from pathlib import Path

from chatapp import APP_NAME, ORG_NAME

DB_FILENAME = "conversations.db"


def default_data_dir() -> Path:
    """The platform's app-data folder (`QStandardPaths.AppDataLocation`)."""
    from PySide6.QtCore import QCoreApplication, QStandardPaths

    QCoreApplication.setOrganizationName(ORG_NAME)
    QCoreApplication.setApplicationName(APP_NAME)
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location)


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_db_path(db: str | Path | None, data_dir: str | Path | None) -> Path:
    if db:
        path = Path(db).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    return resolve_data_dir(data_dir) / DB_FILENAME


def models_dir(data_dir: str | Path | None) -> Path:
    """Fine-tuned model versions live here; the shipped base model stays in the package."""
    path = resolve_data_dir(data_dir) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
