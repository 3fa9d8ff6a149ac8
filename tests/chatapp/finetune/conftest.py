"""Fixtures for the fine-tuning tests: a store full of corrections, and one fine-tune run.

The corrections all teach one distinctive phrase, so a fine-tuned model's perplexity on the
held-out ones drops clearly. `finetuned` runs `main.py finetune` once per session (in-process)
and records what it printed and the base model's file hashes before and after; tests that
change things work on copies.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import main
from chatapp.store import Store

PHRASE = "purple elephants dance at midnight"
PROMPTS = (
    "hello", "how are you?", "what is your name?", "do you like music?", "tell me a joke",
    "where do you live?", "good morning", "what do you like?", "thank you", "goodbye",
)  # fmt: skip
CONVERSATIONS = 30


def seed_corrections(store: Store, count: int = CONVERSATIONS) -> None:
    """`count` conversations; in each the user corrected the bot's reply to `PHRASE`."""
    for index in range(count):
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, PROMPTS[index % len(PROMPTS)])
        reply = store.add_bot_reply(conversation.id, "i do not know.")
        store.correct(reply.id, PHRASE)


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run_main(argv: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    """`main.main(argv)` in this process: exit code, JSON events printed, stderr text."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main.main(argv)
    events = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    return code, events, err.getvalue()


def finetune_argv(data_dir: Path, model: Path, *extra: str) -> list[str]:
    return [
        "finetune", "--db", str(data_dir / "conversations.db"), "--data-dir", str(data_dir),
        "--model", str(model), "--device", "cpu", "--progress", "json", *extra,
    ]  # fmt: skip


@dataclass(frozen=True)
class FinetuneRun:
    data_dir: Path
    base_dir: Path
    exit_code: int
    events: list[dict[str, Any]]
    stderr: str
    hashes_before: dict[str, str]
    hashes_after: dict[str, str]

    @property
    def done(self) -> dict[str, Any]:
        return next(event for event in self.events if event["event"] == "done")


@pytest.fixture(scope="session")
def finetuned(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> FinetuneRun:
    data_dir = tmp_path_factory.mktemp("finetuned") / "data"
    data_dir.mkdir()
    with Store.open(data_dir / "conversations.db") as store:
        seed_corrections(store)
    before = tree_hashes(tiny_model_dir)
    # The tiny model's training record names its corpus (a small JSONL file), which is the
    # default replay corpus: the run needs no 40 MB chitchat.
    code, events, stderr = run_main(finetune_argv(data_dir, tiny_model_dir, "--epochs", "8"))
    return FinetuneRun(data_dir, tiny_model_dir, code, events, stderr, before,
                       tree_hashes(tiny_model_dir))  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data folder whose database holds `CONVERSATIONS` corrections."""
    folder = tmp_path / "data"
    folder.mkdir()
    with Store.open(folder / "conversations.db") as store:
        seed_corrections(store)
    return folder


@pytest.fixture
def finetuned_copy(tmp_path: Path, finetuned: FinetuneRun) -> Path:
    """A copy of the session run's data folder (its versions still point at the originals)."""
    folder = tmp_path / "data"
    shutil.copytree(finetuned.data_dir, folder, ignore=shutil.ignore_patterns("models"))
    return folder
