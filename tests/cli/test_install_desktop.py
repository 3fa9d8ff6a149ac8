"""`main.py install-desktop`: the app in the desktop menu, checked in a temporary home by the
freedesktop tools themselves (desktop-file-validate, appstreamcli), and `--uninstall`."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from chatapp import APP_ID, APP_NAME
from chatapp.commands.install_desktop import ICON_SIZES

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_main(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HOME": str(home / "home"),
        "XDG_DATA_HOME": str(home / "data"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def validate(tool: str, *args: str) -> None:
    """Run a freedesktop validator; only a machine without it skips (CI installs both)."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here (.ci/run installs it)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "applications").mkdir(parents=True)
    (data / "applications" / "someone-else.desktop").write_text("[Desktop Entry]\n")
    result = run_main(tmp_path, "install-desktop", "--data-dir", str(tmp_path / "my chats"))
    assert result.returncode == 0, result.stderr
    return data


def test_the_desktop_entry_is_valid_and_runs_the_installed_app(installed: Path, tmp_path: Path):
    entry = installed / "applications" / f"{APP_ID}.desktop"
    validate("desktop-file-validate", str(entry))
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(entry, encoding="utf-8")
    keys = parser["Desktop Entry"]
    assert keys["Type"] == "Application"
    assert keys["Terminal"] == "false"
    assert keys["Categories"] == "Network;Chat;Qt;"
    assert keys["Icon"] == APP_ID
    assert keys["StartupWMClass"] == APP_NAME  # Qt's X11 class is the application name
    program = keys["Exec"].split(" --data-dir ")[0]
    assert Path(program).is_absolute() and os.access(program, os.X_OK)
    assert keys["Exec"].endswith(f'--data-dir "{tmp_path / "my chats"}"')


def test_icons_in_every_hicolor_size_and_a_valid_metainfo(installed: Path):
    for size in ICON_SIZES:
        icon = QImage(str(installed / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"))
        assert (icon.width(), icon.height()) == (size, size)
    svg = installed / f"icons/hicolor/scalable/apps/{APP_ID}.svg"
    assert svg.read_text().startswith("<svg ")
    metainfo = installed / "metainfo" / f"{APP_ID}.metainfo.xml"
    validate("appstreamcli", "validate", "--no-net", str(metainfo))
    assert f'<launchable type="desktop-id">{APP_ID}.desktop</launchable>' in metainfo.read_text()


def test_uninstall_removes_exactly_what_was_installed(installed: Path, tmp_path: Path):
    before = {p for p in installed.rglob("*") if p.is_file()}
    assert len(before) == 1 + 1 + 1 + len(ICON_SIZES) + 1  # other entry, ours, metainfo, icons
    result = run_main(tmp_path, "install-desktop", "--uninstall")
    assert result.returncode == 0, result.stderr
    left = {p for p in installed.rglob("*") if p.is_file()}
    assert left == {installed / "applications" / "someone-else.desktop"}
    again = run_main(tmp_path, "install-desktop", "--uninstall")  # nothing left: no error
    assert again.returncode == 0 and "Removed 0 file(s)" in again.stdout


def test_the_app_names_its_desktop_file():
    code = (
        "from chatapp.gui.app import make_application\n"
        "print(make_application().desktopFileName())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.stdout.strip() == APP_ID, result.stderr
