"""The layer rules of docs/ARCHITECTURE.md hold: import-linter checks the contracts in
pyproject.toml ([tool.importlinter]) over the real import graph; functions stay short
enough to read in one screen, and modules small enough to have one job."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", str(REPO_ROOT / "pyproject.toml")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def app_modules() -> list[Path]:
    """The engine's and the app's own modules (not Alembic's generated upgrade steps)."""
    return [
        path
        for package in ("engine", "chatapp")
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_no_module_in_the_engine_or_the_app_is_longer_than_500_lines() -> None:
    long = [
        f"{path.relative_to(REPO_ROOT)} ({lines})"
        for path in app_modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "split these by what each part does:\n" + "\n".join(long)


def test_no_function_in_the_engine_or_the_app_is_longer_than_80_lines() -> None:
    long = []
    for path in app_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(
                        f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name} ({lines})"
                    )
    assert not long, "split these into smaller functions:\n" + "\n".join(long)
