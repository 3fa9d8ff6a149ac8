"""Bad settings and bad files: decoding knobs, model folders, corpora and import archives.

Each is refused with one clear message naming what is wrong (CLI: one line on stderr, exit 2);
nothing is written, no pickle is ever loaded, and the window keeps working with the model it had.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
import shutil
from pathlib import Path

import pytest
import torch

import main
from chatapp.gui.transfer import import_archive_file
from chatapp.store import Store, StoreError
from engine import Chatbot, DecodeConfig
from engine.checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, save_checkpoint
from engine.config import preset
from engine.data import read_corpus
from engine.decoding.config import KNOBS
from engine.errors import CheckpointError, ConfigError, DataError
from engine.model import Seq2Seq
from engine.tokenizer import Tokenizer
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS
from tests.database_checks import integrity
from tests.robustness.helpers import Bomb, all_texts, plant_pickle, send_through_controller


def run_main(*argv: str) -> tuple[int, str, str]:
    """`main.main(argv)` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main.main(list(argv))
        except SystemExit as exit_:  # argparse's own errors
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


# Decoding knobs -----------------------------------------------------------------------------


def beyond(name: str) -> list[float]:
    """Values just and far outside the knob's range, and the non-finite ones."""
    spec = KNOBS[name]
    step = 1 if KNOBS[name].integer else 0.001
    values = [spec.low - step, spec.high + step, -(10**30), 10**30]
    if not KNOBS[name].integer:
        values += [math.inf, -math.inf, math.nan, 1e308]
    return values


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_every_knob_beyond_its_limits_is_a_config_error_naming_it(name: str):
    for value in beyond(name):
        with pytest.raises(ConfigError) as caught:
            DecodeConfig(**{name: value})
        assert str(caught.value).startswith(f"{name} must be"), (value, caught.value)


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_every_knob_beyond_its_limits_on_the_command_line_exits_2(name: str, tiny_model_dir):
    flag = "--" + name.replace("_", "-")
    for value in beyond(name):
        text = str(int(value)) if KNOBS[name].integer else repr(value)
        code, out, err = run_main("chat", "--model", str(tiny_model_dir), f"{flag}={text}")
        assert code == 2, (value, err)
        assert name in one_line(err) and out == ""
    code, _, err = run_main("chat", "--model", str(tiny_model_dir), flag, "lots")
    assert code == 2 and "invalid" in err  # argparse: not a number at all


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_every_knob_at_its_limits_gives_a_reply(tiny_bot: Chatbot, strategy: str):
    history = ["hello", "hi there!", "what is your name?"]
    for name, spec in KNOBS.items():
        for value in (spec.low, spec.high):
            value = int(value) if KNOBS[name].integer else value
            changes = {"strategy": strategy, "seed": 3, name: value}
            if name == "min_length":
                changes["max_length"] = max(value, 1)
            if name == "max_length":
                changes["min_length"] = min(1, value)
            if name == "n_best" and strategy == "beam":
                changes["beam_size"] = max(value, 5)
            if name == "beam_size" and strategy == "beam":
                changes["n_best"] = min(value, 3)
            reply = tiny_bot.reply(history, DecodeConfig(**changes))
            assert isinstance(reply.text, str), (name, value)
            assert len(reply.tokens) <= changes.get("max_length", 32), (name, value)


# Model folders ----------------------------------------------------------------------------------

# Each kind of broken model folder, and what its error says.
BAD_MODELS = {
    "missing": "does not exist",
    "empty_folder": "not a model directory",
    "truncated_weights": "not a valid safetensors file",
    "pickle_as_weights": "not a valid safetensors file",
    "torch_save_as_weights": "not a valid safetensors file",
    "other_architecture": "weights do not match the architecture",
    "config_wrong_types": "hidden_size must be a positive integer",
    "config_not_json": "is corrupt",
    "garbage_tokenizer": "SentencePiece",
}


def make_bad_model(kind: str, good: Path, folder: Path) -> tuple[Path, Path]:
    """A broken model folder of `kind`, and the marker a loaded pickle would create."""
    target, marker = folder / kind, folder / f"{kind}.fired"
    if kind == "missing":
        return target, marker
    if kind == "empty_folder":
        target.mkdir()
        return target, marker
    shutil.copytree(good, target)
    weights = target / WEIGHTS_FILE
    if kind == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif kind == "pickle_as_weights":
        plant_pickle(weights, marker)
    elif kind == "torch_save_as_weights":
        torch.save({"embedding.weight": Bomb(marker)}, weights)
    elif kind == "other_architecture":
        tokenizer = Tokenizer.load(good / TOKENIZER_FILE)
        wider = Seq2Seq(preset("tiny", vocab_size=tokenizer.vocab_size, hidden_size=32))
        other = save_checkpoint(folder / "wider", model=wider, tokenizer=tokenizer)
        shutil.copy(other / WEIGHTS_FILE, weights)
    elif kind == "config_wrong_types":
        config = json.loads((target / CONFIG_FILE).read_text())
        config["model"]["hidden_size"] = "64"
        (target / CONFIG_FILE).write_text(json.dumps(config))
    elif kind == "config_not_json":
        (target / CONFIG_FILE).write_text("{ not json")
    elif kind == "garbage_tokenizer":
        (target / TOKENIZER_FILE).write_bytes(b"\x00garbage")
    return target, marker


@pytest.mark.parametrize("kind", sorted(BAD_MODELS))
def test_a_bad_model_folder_is_a_clear_error_everywhere(
    qtbot, fast, tiny_model_dir, tmp_path, kind
):
    bad, marker = make_bad_model(kind, tiny_model_dir, tmp_path)
    message = BAD_MODELS[kind]
    with pytest.raises(CheckpointError, match=message):
        Chatbot.load(bad, device="cpu")
    code, out, err = run_main("chat", "--model", str(bad), "--device", "cpu")
    assert code == 2 and message in one_line(err) and out == ""
    # In the window: a banner, and chatting goes on with the model loaded before.
    with qtbot.waitSignal(fast.engine.model_load_failed, timeout=REPLY_TIMEOUT_MS):
        fast.engine.load_model(str(bad))
    assert "The model could not be loaded" in fast.banner.text()
    assert message in fast.banner.text() and "Still chatting with the model" in fast.banner.text()
    assert fast.controller.model_ready
    reply = send_through_controller(qtbot, fast, "are you still there?")
    assert reply.role == "bot"
    assert not marker.exists(), "a pickle was loaded"


def test_a_first_model_that_fails_to_load_leaves_the_window_usable(qtbot, store, tmp_path):
    from chatapp.gui.main_window import MainWindow
    from tests.chatapp.gui.helpers import make_context

    context = make_context(store, tmp_path / "nothing")
    engine = context.engine
    window = MainWindow(context)
    qtbot.addWidget(window)
    with qtbot.waitSignal(engine.model_load_failed, timeout=REPLY_TIMEOUT_MS):
        engine.load_model(str(tmp_path / "nothing"))
    window.show()
    assert "does not exist" in window.banner.text()
    assert window.status_bar.model_label.text() == "No model loaded"
    window.composer.set_text("hello?")
    window.send("hello?")  # kept, to be answered once a model loads
    assert window.controller.queued == 1
    assert window.messages.index(0).data() == "hello?"  # shown greyed meanwhile
    window.close()


# Corpora ----------------------------------------------------------------------------------------

GOOD_LINE = '{"context": ["hi"], "response": "hello"}\n'
BAD_CORPORA = {
    "not_json": (GOOD_LINE + "{oops\n", ":2: not valid JSON"),
    "not_an_object": (GOOD_LINE * 2 + "[1, 2]\n", ":3: expected a JSON object"),
    "context_not_strings": ('{"context": [1], "response": "x"}\n', ":1: 'context' must be a list"),
    "empty_response": (GOOD_LINE + '{"context": [], "response": " "}\n', ":2: 'response' must"),
    "bad_conversation_key": (
        '{"context": [], "response": "x", "conversation": [1]}\n',
        ":1: 'conversation' must be",
    ),
    "truncated_last_line": (GOOD_LINE + '{"context": ["a"], "resp', ":2: not valid JSON"),
    "empty_file": ("", "no examples in the file"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CORPORA))
def test_a_malformed_corpus_is_a_data_error_with_file_and_line(tmp_path, kind):
    text, message = BAD_CORPORA[kind]
    corpus = tmp_path / f"{kind}.jsonl"
    corpus.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_corpus(str(corpus))
    assert message in str(caught.value) and str(corpus) in str(caught.value)
    out = tmp_path / "model"
    code, _, err = run_main("train", "--corpus", str(corpus), "--preset", "tiny", "--out", str(out))
    assert code == 2 and message in one_line(err)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [corpus.name]


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_given_as_corpus_is_refused_and_never_loaded(tmp_path, protocol):
    corpus, marker = tmp_path / "corpus.jsonl", tmp_path / "fired"
    plant_pickle(corpus, marker, protocol=protocol)
    with pytest.raises(DataError, match=r"not UTF-8 text|:1: not valid JSON"):
        read_corpus(str(corpus))
    assert not marker.exists()


def test_lone_surrogate_escapes_in_a_corpus_train_a_tokenizer(tmp_path):
    corpus = tmp_path / "escapes.jsonl"
    lines = [{"context": [f"hi \ud800 {n}"], "response": f"yo \udfff {n}"} for n in range(50)]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    conversations = read_corpus(str(corpus))
    texts = [turn for c in conversations for e in c.examples for turn in (*e.context, e.response)]
    tokenizer = Tokenizer.train(texts, vocab_size=300)
    assert tokenizer.decode(tokenizer.encode("hi \ud800 1")) == "hi \ufffd 1"


# Import archives ----------------------------------------------------------------------------


def _snapshot(store: Store) -> tuple[list, int]:
    return all_texts(store.path), len(store.list_conversations(include_archived=True))


BAD_ARCHIVES = {
    "not_json": (b'{"format": "seq2seq-chat-archive", "version": 1, "conv', "not a readable JSON"),
    "not_utf8": (b"\xff\xfe{}", "not a readable JSON"),
    "wrong_format": (b'{"format": "zip", "version": 1, "conversations": []}', "format"),
    "lone_surrogate": (None, "malformed archive"),
    "bad_role": (None, "malformed archive"),
}


@pytest.mark.parametrize("kind", [*sorted(BAD_ARCHIVES), "pickle"])
def test_a_malformed_archive_is_refused_and_nothing_is_written(qtbot, fast, store, tmp_path, kind):
    send_through_controller(qtbot, fast, "already here")
    good = store.export_archive()
    before = _snapshot(store)
    path, marker = tmp_path / "archive.json", tmp_path / "fired"
    if kind == "pickle":
        plant_pickle(path, marker)
        message = "not a readable JSON"
    else:
        data, message = BAD_ARCHIVES[kind]
        if data is None:
            conversation = good["conversations"][0]
            conversation["uid"] = "00000000-0000-4000-8000-000000000000"  # new: would import
            if kind == "lone_surrogate":
                conversation["messages"][0]["text"] = "\ud800"
            else:
                conversation["messages"][-1]["role"] = "system"
            data = json.dumps(good).encode("utf-8")
        path.write_bytes(data)
    with pytest.raises((ValueError, StoreError)) as caught:
        import_archive_file(fast.store, path)
    assert message in str(caught.value)
    assert _snapshot(store) == before
    assert not marker.exists()
    assert integrity(store.path) == "ok"
