"""Shared fixtures: a `tiny` model trained once per test session, and a chatbot loaded from it.

`tiny_model_dir` (a model directory) and `tiny_bot` (an `engine.Chatbot` on the CPU) are used by
tests/engine, tests/cli, tests/chatapp and tests/robustness: keep their names and meaning stable.
"""

from __future__ import annotations

import os
import shutil

# Before Qt or torch load: GUI tests need no display, and one intra-op thread per process.
# On a 2-core machine that already runs a training job, two processes that each spin two
# OpenMP threads slow each other ~20x (a tiny model's backward went from 40 ms to 600 ms);
# subprocesses (CLI tests, fine-tune children) inherit the variables.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path

import pytest
import torch

from engine import Chatbot
from engine.config import preset
from engine.data import read_jsonl, split_examples
from engine.exemplars import write_exemplars
from engine.pipeline import pretrain
from engine.retrieval import INDEX_FILE, ReplyIndex, build_index
from engine.train import TrainConfig

torch.set_num_threads(1)

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_CORPUS = FIXTURES / "small_corpus.jsonl"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="device for the engine tests that take `engine_device` (bench/gpu_check.sh: cuda)",
    )


@pytest.fixture(scope="session")
def engine_device(request: pytest.FixtureRequest) -> torch.device:
    """The device `--device` selects (cpu by default) for the engine tests that train."""
    return torch.device(request.config.getoption("--device"))


@pytest.fixture(scope="session")
def small_corpus() -> Path:
    """The interchange-format corpus the tiny model is trained on (376 examples, 110 chats)."""
    return SMALL_CORPUS


def _pretrain_tiny(
    out: Path, *, epochs: int, direction: str, init_from: Path | None = None
) -> None:
    """A `tiny` preset model trained on `small_corpus.jsonl` on the CPU into `out`; the
    learning rate is tuned so it learns the corpus (patience: every epoch runs)."""
    result = pretrain(
        corpus=str(SMALL_CORPUS),
        out_dir=out,
        model_config=preset("tiny", direction=direction),
        train_config=TrainConfig(
            epochs=epochs, batch_tokens=1000, learning_rate=1e-2, patience=epochs
        ),
        device=torch.device("cpu"),
        init_from=init_from,
    )
    assert result.saved, result


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `tiny` preset model trained on `small_corpus.jsonl` (~10 s); it answers the corpus'
    questions ("hello" -> "hi there! how are you?"). Treat it as read-only: copy it first to
    change it."""
    out = tmp_path_factory.mktemp("tiny-model") / "model"
    # 20 epochs: the model learns the corpus in a few hundred steps (validation perplexity ~1.1).
    _pretrain_tiny(out, epochs=20, direction="forward")
    return out


@pytest.fixture(scope="session")
def tiny_model_with_backward_dir(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of `tiny_model_dir` with a backward model in backward/ (rerank's scorer), started
    from the forward weights (~5 s). Read-only, like `tiny_model_dir`."""
    folder = tmp_path_factory.mktemp("with-backward") / "model"
    shutil.copytree(tiny_model_dir, folder)
    _pretrain_tiny(folder / "backward", epochs=6, direction="backward", init_from=tiny_model_dir)
    return folder


@pytest.fixture(scope="session")
def tiny_pool_model_dir(
    tiny_model_with_backward_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of `tiny_model_with_backward_dir` with the reply index of its corpus's training
    split (engine/retrieval.py), so the `pool` strategy has replies people wrote. Read-only."""
    folder = tmp_path_factory.mktemp("with-index") / "model"
    shutil.copytree(tiny_model_with_backward_dir, folder)
    train = split_examples(read_jsonl(SMALL_CORPUS), context_turns=3)["train"]
    build_index(train, folder / INDEX_FILE, corpus="small")
    return folder


@pytest.fixture(scope="session")
def tiny_refine_model_dir(
    tiny_model_dir: Path, tiny_pool_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A retrieve-and-refine model (it reads an exemplar after its context), started from
    `tiny_model_dir` and trained on exemplars from the reply index of `tiny_pool_model_dir`,
    whose backward model and index it shares. Read-only."""
    folder = tmp_path_factory.mktemp("refine") / "model"
    shutil.copytree(tiny_pool_model_dir, folder)
    splits = split_examples(read_jsonl(SMALL_CORPUS), context_turns=3)
    exemplars = folder.parent / "exemplars.jsonl"
    index = ReplyIndex.open(folder / INDEX_FILE)
    try:
        write_exemplars(splits, index, exemplars, corpus="small")
    finally:
        index.close()
    result = pretrain(
        corpus=str(SMALL_CORPUS),
        out_dir=folder,
        model_config=preset("tiny"),
        train_config=TrainConfig(epochs=4, batch_tokens=1000, learning_rate=1e-2, patience=4),
        device=torch.device("cpu"),
        init_from=tiny_model_dir,
        exemplars=exemplars,
    )
    assert result.saved, result
    return folder


@pytest.fixture
def tiny_bot(tiny_model_dir: Path) -> Chatbot:
    """A fresh `engine.Chatbot` on the CPU, loaded from `tiny_model_dir` (cheap: ~20 ms)."""
    return Chatbot.load(tiny_model_dir, device="cpu")
