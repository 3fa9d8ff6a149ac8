"""The second recovery path of an interrupted checkpoint swap (#27 item 6): a save that stopped
just after both renames left the new model in place and the old folder beside it, holding the
user's own files. The next load or save brings those files back and clears the old folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from engine import checkpoint
from engine.checkpoint import WEIGHTS_FILE, load_checkpoint, save_checkpoint
from engine.model import Seq2Seq


class PowerCut(Exception):
    """The process ends here: nothing after this point of the save runs."""


def cut_after_both_renames(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Seq2Seq:
    """Save another model over `model_dir`, stopped before the old folder is finished with;
    returns the model that was saved."""
    loaded = load_checkpoint(model_dir)
    torch.manual_seed(1234)
    newer = Seq2Seq(loaded.config)

    def power_cut(old: Path, target: Path) -> None:
        raise PowerCut

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "_finish_swap", power_cut)
        with pytest.raises(PowerCut):
            save_checkpoint(model_dir, model=newer, tokenizer=loaded.tokenizer)
    return newer


def weights_equal(directory: Path, model: Seq2Seq) -> bool:
    state = load_checkpoint(directory).model.state_dict()
    return all(torch.equal(state[name], value) for name, value in model.state_dict().items())


@pytest.mark.parametrize("next_step", ["load", "save"])
def test_a_swap_cut_after_both_renames_gives_the_users_files_back(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, next_step: str
) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    (model_dir / "notes.txt").write_text("my notes on this model\n", encoding="utf-8")
    newer = cut_after_both_renames(model_dir, monkeypatch)
    [old] = tmp_path.glob(".model.old-*")
    assert (old / "notes.txt").is_file() and (old / WEIGHTS_FILE).is_file()
    assert not (model_dir / "notes.txt").exists()  # the state a crash right there leaves

    if next_step == "load":
        assert weights_equal(model_dir, newer)
    else:
        tokenizer = load_checkpoint(tiny_model_dir).tokenizer  # model_dir is left to the save
        save_checkpoint(model_dir, model=newer, tokenizer=tokenizer)
        assert weights_equal(model_dir, newer)
    assert (model_dir / "notes.txt").read_text(encoding="utf-8") == "my notes on this model\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the old folder is gone
