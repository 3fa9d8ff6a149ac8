"""The one error the fine-tune package raises for bad input or a refused run."""

from __future__ import annotations


class FinetuneError(Exception):
    """A user-facing reason a fine-tune cannot run: the command prints it as one line on
    stderr (exit code 2), the dialog shows it."""
