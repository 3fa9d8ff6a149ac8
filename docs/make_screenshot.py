"""Make docs/screenshot.png: the real main window, offscreen, with a short conversation.

QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py [--model DIR] [--out PNG]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QSettings, QTimer

from chatapp.gui.app import AppOptions, create_window, make_application, open_store

PROMPTS = ("Hi! How are you today?", "What do you like to do on weekends?", "Do you have any pets?")


def wait_for(signal: object, timeout_ms: int = 60_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("screenshot.png")))
    args = parser.parse_args()
    app = make_application()
    with tempfile.TemporaryDirectory() as data_dir:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, data_dir)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        options = AppOptions(model=args.model, data_dir=data_dir, device="cpu")
        store = open_store(options)
        window = create_window(options, store)
        window.resize(1180, 760)
        window.show()
        wait_for(window.context.switcher.model_ready)
        window.decoding_panel.set_config(
            window.decoding_panel.presets()["balanced"].replace(seed=7)
        )
        for prompt in PROMPTS:
            window.composer.edit.setPlainText(prompt)
            window.composer.send_requested.emit(prompt)
            wait_for(window.controller.reply_stored)
        app.processEvents()
        window.grab().save(args.out)
        window.close()
        store.close()
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
