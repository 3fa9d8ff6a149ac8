"""Weights holding NaN or inf (issue 26, item 5): every tensor of the forward and backward
models is checked when a model loads; one line names the folder and the tensor (CLI: exit 2;
window: the banner), and the fine-tune forgetting guard never passes a perplexity it cannot
compare."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from chatapp.store import Store
from engine import Chatbot
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import CheckpointError
from engine.finetune import FinetuneData, FinetuneResult
from engine.finetune_figures import Figures, Perplexity
from engine.progress import DataEvent
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS
from tests.robustness.test_bad_files import one_line, run_main

TENSOR = "decoder.combine.weight"


def poison(folder: Path, value: float) -> None:
    """Write one element of TENSOR in the model at `folder` as `value` (NaN or inf)."""
    checkpoint = load_checkpoint(folder)
    with torch.no_grad():
        checkpoint.model.state_dict()[TENSOR][0, 0] = value
    save_checkpoint(
        folder, model=checkpoint.model, tokenizer=checkpoint.tokenizer, record=checkpoint.record
    )


@pytest.fixture(params=["nan forward", "inf forward", "nan backward"])
def damaged(request, tiny_model_with_backward_dir, tmp_path) -> tuple[Path, Path]:
    """A model folder (with backward/) in which one tensor holds NaN or inf; and the folder
    holding that tensor."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model_with_backward_dir, model)
    value, which = request.param.split()
    damaged_folder = model / "backward" if which == "backward" else model
    poison(damaged_folder, math.nan if value == "nan" else -math.inf)
    return model, damaged_folder


def test_weights_holding_nan_or_inf_are_refused_naming_the_folder_and_tensor(
    qtbot, fast, damaged, tmp_path
):
    model, folder = damaged
    db = tmp_path / "chat.db"
    with Store.open(db) as store:  # enough to learn from, so a fine-tune gets to the model
        conversation = store.create_conversation().id
        for number in range(6):
            store.add_user_turn(conversation, f"what is {number} + 1?")
            store.correct(store.add_bot_reply(conversation, "no idea.").id, f"{number + 1}.")
    with pytest.raises(CheckpointError, match=TENSOR) as caught:
        Chatbot.load(model, device="cpu")
    assert str(folder) in str(caught.value)
    for argv in (
        ["chat", "--model", str(model), "--device", "cpu", "--strategy", "greedy"],
        ["chat", "--model", str(model), "--device", "cpu", "--strategy", "beam"],
        ["finetune", "--model", str(model), "--db", str(db),
         "--data-dir", str(tmp_path / "data"), "--device", "cpu"],
    ):  # fmt: skip
        code, _, err = run_main(*argv)
        # A fine-tune says what it is doing (and echoes its failure) before the error line.
        line = one_line(err) if argv[0] == "chat" else err.splitlines()[-1]
        assert code == 2 and TENSOR in line and str(folder) in line, (argv, err)
        assert "Traceback" not in err and "Measuring" not in err, (argv, err)
    # The window: the same line in its banner, and it goes on with the model it had.
    with qtbot.waitSignal(fast.engine.model_load_failed, timeout=REPLY_TIMEOUT_MS):
        fast.engine.load_model(str(model))
    assert TENSOR in fast.banner.text() and str(folder) in fast.banner.text()
    assert fast.controller.model_ready


# A result's data where only its figures matter.
NO_DATA = FinetuneData(DataEvent(train_pairs=0, heldout_pairs=0, replay_examples=0))


@pytest.mark.parametrize(
    ("before", "after"), [(math.nan, 60.0), (60.0, math.nan), (60.0, math.inf), (math.inf, 60.0)]
)
def test_the_forgetting_guard_treats_a_perplexity_it_cannot_compare_as_forgetting(before, after):
    result = FinetuneResult(
        status="succeeded",
        out_dir=None,
        data=NO_DATA,
        before=Figures(valid=Perplexity(before, math.log(before))),
        after=Figures(valid=Perplexity(after, math.log(after))),
    )
    assert result.flagged(0.05)
    within = FinetuneResult("succeeded", None, NO_DATA, Figures(valid=Perplexity(60.0, 4.09)),
                            Figures(valid=Perplexity(61.0, 4.11)))  # fmt: skip
    assert not within.flagged(0.05)
