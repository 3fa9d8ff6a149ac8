"""Terminal escape injection (issue 26, item 6): text the command line prints (replies, errors,
notes) has its control characters made visible; `--json` stays exact."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from chatapp.store import Store
from chatapp.terminal import safe_json, visible
from tests.robustness.helpers import REPO_ROOT, python_env
from tests.robustness.test_bad_files import one_line, run_main

PROMPT = "what is your name?"
HOSTILE = "\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[31mred\x9b31m\x7f\rover\x08"


def is_control(character: str) -> bool:
    return unicodedata.category(character) == "Cc"


def no_controls_but_newline(text: str) -> bool:
    return not any(is_control(character) for character in text if character != "\n")


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_the_printer_leaves_no_control_character_but_newline(text):
    shown = visible(text)
    assert no_controls_but_newline(shown)
    assert shown.count("\n") == text.count("\n")


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc"])))
def test_the_printer_passes_printable_text_unchanged(text):
    assert visible(text) == text
    assert visible(text + "\n" + text) == text + "\n" + text


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_a_json_line_is_exact_and_holds_no_raw_control_character(text):
    line = safe_json(json.dumps({"reply": text}, ensure_ascii=False))
    assert json.loads(line) == {"reply": text}
    assert not any(is_control(character) for character in line)


def taught(path: Path) -> Path:
    """A database whose correction for PROMPT is a string of terminal controls (as an imported
    archive could bring)."""
    with Store.open(path) as store:
        conversation = store.create_conversation().id
        store.add_user_turn(conversation, PROMPT)
        store.correct(store.add_bot_reply(conversation, "i am a bot.").id, HOSTILE)
    return path


def chat(db: Path, model: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "main.py", "chat", "--db", str(db), "--model", str(model),
         "--preset", "precise", "--device", "cpu", *options],
        input=f"{PROMPT}\n".encode(), capture_output=True, cwd=REPO_ROOT, timeout=120,
        env=python_env(),
    )  # fmt: skip


def test_the_terminal_chat_shows_controls_in_a_reply_and_json_stays_exact(tiny_model_dir, tmp_path):
    db = taught(tmp_path / "chat.db")
    done = chat(db, tiny_model_dir)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert out == f"bot> {visible(HOSTILE)}\n"
    assert "^[]0;PWNED-TITLE^G^[[2J^[[31mred<U+009B>31m^?^Mover^H" in out
    assert no_controls_but_newline(out)
    done = chat(db, tiny_model_dir, "--json")
    assert done.returncode == 0, done.stderr.decode()
    assert no_controls_but_newline(done.stdout.decode())
    assert json.loads(done.stdout.decode())["reply"] == HOSTILE


def test_an_error_naming_a_hostile_file_shows_its_controls(tmp_path):
    archive = tmp_path / "chats\x1b[2J\x1b]0;PWNED\x07.json"
    code, _, err = run_main("import", "--db", str(tmp_path / "chat.db"), str(archive))
    assert code == 2
    line = one_line(err)
    assert no_controls_but_newline(err) and "chats^[[2J^[]0;PWNED^G.json" in line


def test_fine_tune_progress_and_errors_show_the_controls_of_a_hostile_corpus_name(
    tiny_model_dir, tmp_path
):
    db = tmp_path / "chat.db"
    with Store.open(db) as store:  # enough to learn from, so the corpus is read
        conversation = store.create_conversation().id
        for number in range(6):
            store.add_user_turn(conversation, f"what is {number} + 1?")
            store.correct(store.add_bot_reply(conversation, "no idea.").id, f"{number + 1}.")
    corpus = tmp_path / "corpus\x1b[2J\x1b]0;PWNED\x07.jsonl"
    code, _, err = run_main(
        "finetune", "--db", str(db), "--data-dir", str(tmp_path / "data"),
        "--model", str(tiny_model_dir), "--replay-corpus", str(corpus), "--device", "cpu",
    )  # fmt: skip
    assert code == 2 and "(…/corpus^[[2J^[]0;PWNED^G.jsonl)" in err.replace(str(tmp_path), "…"), err
    assert no_controls_but_newline(err), err
