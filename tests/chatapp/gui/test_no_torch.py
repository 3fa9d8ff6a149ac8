"""The window appears before torch loads: the GUI's modules never import it (the engine
worker does, in its own thread, when it loads the model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

GUI_MODULES = (
    "chatapp.gui.app", "chatapp.gui.main_window", "chatapp.gui.models_dialog",
    "chatapp.gui.finetune_dialog", "chatapp.gui.transfer", "chatapp.gui.details_dialog",
)  # fmt: skip


def test_the_gui_modules_do_not_import_torch():
    code = "import sys\n" + "".join(f"import {name}\n" for name in GUI_MODULES)
    code += "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == "[]"
