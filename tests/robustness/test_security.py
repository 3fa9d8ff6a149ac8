"""Security: no pickle from any file the app reads, exports that escape markup, no network."""

from __future__ import annotations

import ast
import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from chatapp.finetune.data import load_pairs, to_examples
from chatapp.gui.transfer import export_conversation, import_archive_file
from chatapp.store import Store, escape_markdown
from engine import Chatbot
from engine.batching import encode_examples
from engine.checkpoint import OPTIMIZER_FILE, TOKENIZER_FILE, load_checkpoint, save_checkpoint
from engine.decoding.config import DecodeConfig
from engine.errors import CheckpointError
from engine.finetune import split_heldout
from engine.pipeline import load_splits
from tests.robustness.helpers import REPO_ROOT, plant_pickle, send_through_controller
from tests.robustness.test_bad_files import run_main

GREEDY = DecodeConfig(strategy="greedy")

# Pickle -------------------------------------------------------------------------------------------

# Calls that would deserialize code-bearing data from a file (or run text as code).
UNSAFE_CALLS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("torch", "load"),
    ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"), ("yaml", "load"),
    ("yaml", "unsafe_load"), ("yaml", "full_load"), ("dill", "load"), ("joblib", "load"),
}  # fmt: skip


def test_no_source_file_of_the_app_calls_an_unpickler_or_eval():
    found = []
    for path in [REPO_ROOT / "main.py", *(REPO_ROOT / "engine").rglob("*.py"),
                 *(REPO_ROOT / "chatapp").rglob("*.py")]:  # fmt: skip
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            if isinstance(function, ast.Name) and function.id in ("eval", "exec"):
                found.append(f"{path.name}:{node.lineno} {function.id}()")
            elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                if (function.value.id, function.attr) in UNSAFE_CALLS:
                    found.append(f"{path.name}:{node.lineno} {function.value.id}.{function.attr}")
                if function.attr == "load" and any(
                    keyword.arg == "allow_pickle" for keyword in node.keywords
                ):
                    found.append(f"{path.name}:{node.lineno} load(allow_pickle=...)")
    assert found == []


@pytest.mark.parametrize("where", [OPTIMIZER_FILE, TOKENIZER_FILE])
def test_a_planted_pickle_in_any_model_file_is_never_loaded(tiny_model_dir, tmp_path, where):
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    marker = tmp_path / "fired"
    plant_pickle(model / where, marker)
    with pytest.raises(CheckpointError):
        load_checkpoint(model, with_optimizer=True)  # as `main.py train --resume` does
    assert not marker.exists()


# Exports --------------------------------------------------------------------------------------

MARKUP = [
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "# not a heading",
    "**not bold** _not italic_ `not code` ~~not struck~~",
    "```\nnot a fence\n```",
    "[not a link](javascript:alert(1)) ![not an image](http://example.com/x.png)",
    "> not a quote\n- not a list\n1. not a list\n| not | a table |\n---\n===",
    "    not a code block\n<!-- not a comment -->\n&amp; stays &amp;",
]


def unescape_markdown(block: str) -> str:
    """The text a CommonMark renderer shows for one `escape_markdown` paragraph."""
    text = block.replace("\\\n", "\n").replace("&nbsp;", " ")
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_markdown_export_escapes_everything_that_would_make_structure(qtbot, fast, store, tmp_path):
    for text in MARKUP:
        send_through_controller(qtbot, fast, text)
    path = tmp_path / "conversation.md"
    export_conversation(fast.store, fast.controller.conversation_id, "markdown", path)
    exported = path.read_text(encoding="utf-8")
    lines = exported.splitlines()
    # Only the title is a heading; it is the start of the first turn, escaped too.
    assert [line for line in lines if line.startswith("#")] == [lines[0]]
    assert lines[0].startswith("# &lt;script&gt;")
    assert "<" not in exported and "](" not in exported.replace("\\](", "")
    for line in lines:
        assert not re.match(r"(```|~~~|>|[-+*] |\d+[.)] |\||    |---|===)", line), line
    # Each turn renders back as exactly what was typed.
    for text in MARKUP:
        assert escape_markdown(text) in exported
        assert unescape_markdown(escape_markdown(text)) == text


# No network ---------------------------------------------------------------------------------------


def test_no_network_is_used_to_load_chat_export_import_and_prepare_a_finetune(
    no_network, qtbot, fast, store: Store, tiny_model_dir, small_corpus, tmp_path
):
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("192.0.2.1", 80))  # the guard is armed
    no_network.clear()
    bot = Chatbot.load(tiny_model_dir, device="cpu")
    assert bot.reply(["hello"], GREEDY).text == "hi there! how are you?"
    with qtbot.waitSignal(fast.context.switcher.model_ready, timeout=30_000):
        fast.engine.load_model(str(tiny_model_dir))  # the window's own load, under the guard
    reply = send_through_controller(qtbot, fast, "hello")
    for index in range(24):  # enough saved pairs for a fine-tune to start
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, f"question {index}")
        store.correct(store.add_bot_reply(conversation.id, "no idea").id, f"answer {index}")
    store.rate(reply.id, 1)
    for kind in ("markdown", "json"):
        export_conversation(
            fast.store, fast.controller.conversation_id, kind, tmp_path / f"out.{kind}"
        )
    archive = tmp_path / "all.json"
    code, _, err = run_main(
        "export", "--db", str(store.path), "--format", "json", "--out", str(archive)
    )
    assert code == 0, err
    with Store.open(tmp_path / "other.db") as other:
        other.import_archive(json.loads(archive.read_text(encoding="utf-8")))
    assert "Imported 0 conversations" in import_archive_file(fast.store, archive)
    # Fine-tune data preparation: saved pairs, the held-out split, the replay corpus, encoding.
    pairs = load_pairs(store, ("corrected", "liked"))
    examples = to_examples(pairs)
    train_pairs, heldout = split_heldout(examples, percent=20)
    splits = load_splits(str(small_corpus), context_turns=bot.config.context_turns)
    encoded = encode_examples([*train_pairs, *splits.train[:10]], bot.tokenizer, bot.config)
    assert len(pairs) == 25 and heldout and encoded
    saved = save_checkpoint(tmp_path / "copy", model=bot.model, tokenizer=bot.tokenizer)
    copy = Chatbot.load(saved, device="cpu")
    assert copy.reply(["hi"], GREEDY).text == bot.reply(["hi"], GREEDY).text
