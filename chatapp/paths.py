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


class DataPathError(Exception):
    """A data folder or database path that cannot be used; the message is fit for the user."""


def _make_folder(path: Path, what: str) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: chats, models, backups
    except FileExistsError:
        raise DataPathError(f"{what} {path} is a file, not a folder") from None
    except NotADirectoryError:
        raise DataPathError(f"{what} {path} cannot be made: part of that path is a file") from None
    except OSError as error:
        raise DataPathError(f"cannot make {what} {path}: {error.strerror or error}") from None


def resolve_data_dir(data_dir: str | Path | None, *, create: bool = True) -> Path:
    """The data folder, made if missing (`create=False`: commands that only read make nothing)."""
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if create:
        _make_folder(path, "the data folder")
    elif path.exists() and not path.is_dir():
        raise DataPathError(f"the data folder {path} is a file, not a folder")
    return path


def resolve_db_path(
    db: str | Path | None, data_dir: str | Path | None, *, create: bool = True
) -> Path:
    if db:
        path = Path(db).expanduser()
        try:
            path.exists()  # a name too long, for one, fails here rather than in each caller
        except OSError as error:
            raise DataPathError(f"cannot use {path} as the database: {error.strerror}") from None
        if create:
            _make_folder(path.parent, "the database's folder")
        return path
    return resolve_data_dir(data_dir, create=create) / DB_FILENAME


def models_dir(data_dir: str | Path | None) -> Path:
    """Fine-tuned model versions live here; the shipped base model stays in the package."""
    path = resolve_data_dir(data_dir) / "models"
    _make_folder(path, "the model versions folder")
    return path
