"""Where the user's choices are saved, and reading them back without trusting them.

What a user sets (decoding, the send key, font size, theme, answering from corrections) is kept
in an INI file beside the database, so it lives with the data dir: a second `--data-dir` starts
from the defaults, not from another data dir's beam 16. Only where windows were left stays in
the user's global `QSettings`, as it belongs to the screen, not to the data.

A settings file can be damaged, edited by hand or left by another version: a value of the wrong
kind falls back to the default, is removed (so the user is told once, not at every start) and
is reported by `take_reset_keys()` for the window to mention.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from chatapp.correction_memory import SETTING_KEY as MEMORY_KEY
from chatapp.gui.decoding_panel import SETTINGS_KEY as DECODING_KEY
from chatapp.gui.theme import DEFAULT_FONT_SIZE, DEFAULT_THEME, FONT_SIZE_KEY, THEME_KEY, THEMES

FONT_SIZES = range(6, 33)  # what `apply_font_size` applies
# What versions before the data-dir settings kept in the user's global QSettings. The first data
# dir opened after the upgrade takes them over, once: they are moved, not copied, so another
# data dir still starts from the defaults.
FORMERLY_GLOBAL_KEYS = (DECODING_KEY, THEME_KEY, FONT_SIZE_KEY, MEMORY_KEY)
_reset_keys: list[str] = []


def settings_path(db_path: Path) -> Path:
    """`conversations.db` -> `conversations.settings.ini`: one file per database."""
    return db_path.with_name(f"{db_path.stem}.settings.ini")


def data_settings(db_path: Path) -> QSettings:
    """The user's choices saved with the data dir of the database at `db_path`."""
    settings = QSettings(str(settings_path(db_path)), QSettings.Format.IniFormat)
    _take_over_global_choices(settings)
    return settings


def _take_over_global_choices(settings: QSettings) -> None:
    former = QSettings()
    keys = [key for key in FORMERLY_GLOBAL_KEYS if former.contains(key)]
    for key in keys:
        if not settings.contains(key):
            settings.setValue(key, former.value(key))
        former.remove(key)
    if keys:
        settings.sync()
        former.sync()


def file_problem(settings: QSettings) -> str | None:
    """Why the file behind `settings` does not keep what the user changes, in words for the
    window to say once; None when it does. (QSettings itself fails silently.)"""
    settings.allKeys()  # Qt notices a file it cannot parse only when it reads it
    path = settings.fileName()
    if not settings.isWritable():
        return f"The settings file {path} cannot be written: changes to settings will not be kept."
    if settings.status() == QSettings.Status.FormatError:
        return (
            f"The settings file {path} could not be read (it is not a text settings file): "
            "settings are back to their defaults, and what you change is saved over it."
        )
    return None


def checked_value(settings: QSettings, key: str, check: Callable[[object], bool]) -> object:
    """The value saved under `key` if `check` accepts it; None if there is none or it is bad."""
    try:
        value = settings.value(key)
    except Exception:  # a value QSettings itself cannot turn back into Python
        value, bad = None, True
    else:
        bad = value is not None and not _accepts(check, value)
    if bad:
        reset(settings, key)
        return None
    return value


def reset(settings: QSettings, key: str) -> None:
    """Drop a bad saved value (its default applies) and remember to tell the user."""
    settings.remove(key)
    if key not in _reset_keys:
        _reset_keys.append(key)


def take_reset_keys() -> list[str]:
    """The keys reset since the last call."""
    keys = list(_reset_keys)
    _reset_keys.clear()
    return keys


def _accepts(check: Callable[[object], bool], value: object) -> bool:
    try:
        return bool(check(value))
    except Exception:
        return False


def is_font_size(value: object) -> bool:
    return (
        str(value).strip().isascii()
        and str(value).strip().isdigit()
        and (int(str(value)) in FONT_SIZES)
    )


def is_theme(value: object) -> bool:
    return value in THEMES


def saved_appearance(settings: QSettings) -> tuple[int, str]:
    """The font size and theme saved in `settings`, or the defaults (Normal, the system's)."""
    font_size = checked_value(settings, FONT_SIZE_KEY, is_font_size)
    theme = checked_value(settings, THEME_KEY, is_theme)
    return (
        int(str(font_size)) if font_size is not None else DEFAULT_FONT_SIZE,
        str(theme) if theme is not None else DEFAULT_THEME,
    )


def is_saved_state(value: object) -> bool:
    """What `saveGeometry()` / `saveState()` wrote."""
    return isinstance(value, (QByteArray, bytes, bytearray))


def restore(settings: QSettings, key: str, restore: Callable[[object], bool]) -> None:
    """Restore a saved window state with `restore` (Qt's restore* methods), or reset it."""
    value = checked_value(settings, key, is_saved_state)
    if value is not None and not restore(value):
        reset(settings, key)
