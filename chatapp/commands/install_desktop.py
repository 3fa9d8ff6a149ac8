"""`install-desktop`: the app in the user's desktop menu, with its icon (and `--uninstall`).

    seq2seq-chat install-desktop [--data-dir DIR] [--uninstall]

Writes, for this user only (under $XDG_DATA_HOME, by default ~/.local/share):
- applications/<APP_ID>.desktop: the menu entry (freedesktop Desktop Entry), running the
  installed `seq2seq-chat` (and its --data-dir, if one was given);
- icons/hicolor/<N>x<N>/apps/<APP_ID>.png for N in ICON_SIZES, rendered from the shipped icon
  with Qt, and icons/hicolor/scalable/apps/<APP_ID>.svg;
- metainfo/<APP_ID>.metainfo.xml: the AppStream description software centres read.

The app calls `QGuiApplication.setDesktopFileName(APP_ID)` and its X11 window class is the
application name, so shells match its window to this entry. `--uninstall` removes exactly
these files (and nothing else).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
from datetime import date
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from chatapp import APP_ID, APP_NAME, __version__
from chatapp.atomic import atomic_text_file
from chatapp.commands.common import CommandError, add_subcommand, data_dir_of

ICON_SIZES = (48, 64, 128, 256, 512)
SUMMARY = "A local chatbot you can teach"
DESCRIPTION = (
    "Chat with a sequence-to-sequence dialogue model that runs entirely on your own machine.",
    "Tune how it decodes, correct its replies, and fine-tune it on your own conversations. "
    "Every conversation is kept in a local database.",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "install-desktop", help="add the app to your desktop menu (this user only)"
    )
    parser.add_argument(
        "--uninstall", action="store_true", help="remove the menu entry, icons and metainfo"
    )
    parser.set_defaults(handler=run)


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share where it is unset or not absolute (as the spec says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local/share"


def installed_paths(home: Path) -> dict[str, Path]:
    """Every file install-desktop writes, by a short name."""
    icons = home / "icons" / "hicolor"
    paths = {
        "desktop": home / "applications" / f"{APP_ID}.desktop",
        "metainfo": home / "metainfo" / f"{APP_ID}.metainfo.xml",
        "svg": icons / "scalable" / "apps" / f"{APP_ID}.svg",
    }
    for size in ICON_SIZES:
        paths[f"png{size}"] = icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    return paths


def launch_command(data_dir: str | None) -> list[str]:
    """How the menu starts the app: the installed script when there is one (pipx, a venv),
    else this Python running this checkout's main.py."""
    script = Path(sys.executable).with_name("seq2seq-chat")
    found = str(script) if script.exists() else shutil.which("seq2seq-chat")
    command = [found] if found else [sys.executable, str(Path(__file__).parents[2] / "main.py")]
    if data_dir:
        command += ["--data-dir", str(Path(data_dir).expanduser().resolve())]
    return command


def _exec_value(command: list[str]) -> str:
    """The Exec key: arguments quoted as the Desktop Entry spec asks (double quotes, with \\",
    \\`, \\$ and \\\\ escaped), then backslashes doubled for the string value itself."""
    quoted = []
    for arg in command:
        if any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
            arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
        quoted.append(arg.replace("%", "%%"))
    return " ".join(quoted).replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            f"Name={APP_NAME}",
            "GenericName=Chatbot",
            f"Comment={SUMMARY}",
            f"Exec={_exec_value(command)}",
            f"Icon={APP_ID}",
            "Terminal=false",
            "Categories=Network;Chat;Qt;",
            "Keywords=chatbot;seq2seq;dialogue;",
            "StartupNotify=true",
            f"StartupWMClass={APP_NAME}",  # Qt's X11 window class: the application name
            "",
        ]
    )


def metainfo() -> str:
    paragraphs = "\n".join(f"    <p>{escape(p)}</p>" for p in DESCRIPTION)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<component type="desktop-application">
  <id>{APP_ID}</id>
  <metadata_license>CC0-1.0</metadata_license>
  <project_license>MIT</project_license>
  <name>{escape(APP_NAME)}</name>
  <summary>{escape(SUMMARY)}</summary>
  <description>
{paragraphs}
  </description>
  <launchable type="desktop-id">{APP_ID}.desktop</launchable>
  <provides>
    <binary>seq2seq-chat</binary>
  </provides>
  <content_rating type="oars-1.1"/>
  <releases>
    <release version="{__version__}" date="{date.today().isoformat()}"/>
  </releases>
</component>
"""


def _write_icons(paths: dict[str, Path]) -> None:
    """The shipped icon at each hicolor size (rendered by Qt) and as an SVG holding it."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    source_path = Path(str(resources.files("resources") / "icons" / "app.png"))
    source = QImage(str(source_path))
    if source.isNull():
        raise CommandError(f"the app icon {source_path} could not be read")
    for size in ICON_SIZES:
        target = paths[f"png{size}"]
        target.parent.mkdir(parents=True, exist_ok=True)
        image = source.scaled(
            size,
            size,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        partial = target.with_name(target.name + ".part")
        if not image.save(str(partial), "PNG"):
            raise CommandError(f"could not write {target}")
        partial.replace(target)
    side = source.width()
    encoded = base64.b64encode(source_path.read_bytes()).decode("ascii")
    with atomic_text_file(paths["svg"]) as out:
        out.write(
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
            f'viewBox="0 0 {side} {side}"><image width="{side}" height="{side}" '
            f'href="data:image/png;base64,{encoded}"/></svg>\n'
        )


def install(home: Path, data_dir: str | None) -> list[Path]:
    paths = installed_paths(home)
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    _write_icons(paths)
    with atomic_text_file(paths["metainfo"]) as out:
        out.write(metainfo())
    with atomic_text_file(paths["desktop"]) as out:  # last: the entry appears with its icon
        out.write(desktop_entry(launch_command(data_dir)))
    return list(paths.values())


def uninstall(home: Path) -> list[Path]:
    removed = []
    for path in installed_paths(home).values():
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def run(args: argparse.Namespace) -> int:
    home = data_home()
    try:
        if args.uninstall:
            removed = uninstall(home)
            print(f"Removed {len(removed)} file(s) of {APP_NAME} from {home}.")
            return 0
        written = install(home, data_dir_of(args))
    except OSError as error:
        raise CommandError(f"could not write under {home}: {error}") from None
    print(f"{APP_NAME} is in your desktop menu: {written[0]}")
    print(f"To remove it: seq2seq-chat install-desktop --uninstall ({len(written)} files)")
    return 0
