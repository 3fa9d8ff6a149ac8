"""engine.finetune: the held-out split, replay, path checks, and a run that succeeds or stops."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.data import Example
from engine.errors import ConfigError
from engine.finetune import (
    FinetuneConfig,
    check_paths,
    finetune,
    replay_examples,
    split_heldout,
)

PHRASE = "purple elephants dance at midnight"


def examples(conversations: int, per_conversation: int = 2) -> list[Example]:
    return [
        Example(("hello", f"turn {turn}"), PHRASE, conversation=f"c{index}")
        for index in range(conversations)
        for turn in range(per_conversation)
    ]


def hashes(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def test_heldout_split_is_by_conversation_deterministic_and_about_ten_percent():
    train, heldout = split_heldout(examples(300))
    held_keys = {example.conversation for example in heldout}
    assert held_keys.isdisjoint(example.conversation for example in train)
    assert 15 <= len(held_keys) <= 45  # ~10% of 300
    assert split_heldout(examples(300)) == (train, heldout)
    # More conversations never move an old one to the other side.
    _, heldout_more = split_heldout(examples(400))
    assert held_keys <= {example.conversation for example in heldout_more}


@pytest.mark.parametrize("conversations", [2, 3, 5])
def test_a_few_conversations_still_hold_one_out_and_train_on_the_rest(conversations: int):
    train, heldout = split_heldout(examples(conversations))
    assert len({example.conversation for example in heldout}) >= 1
    assert len({example.conversation for example in train}) >= 1


def test_a_single_conversation_is_all_training():
    train, heldout = split_heldout(examples(1))
    assert heldout == [] and len(train) == 2


def test_replay_draws_the_same_examples_every_time():
    pool = examples(50)
    first = replay_examples(pool, 30, seed=0)
    assert first == replay_examples(pool, 30, seed=0)
    assert len(first) == len(set(first)) == 30
    assert replay_examples(pool, 1000) == pool
    assert replay_examples(pool, 0) == [] and replay_examples([], 5) == []


def test_the_output_must_be_new_and_outside_the_base(tmp_path: Path, tiny_model_dir: Path):
    with pytest.raises(ConfigError, match="must differ"):
        check_paths(tiny_model_dir, tiny_model_dir)
    with pytest.raises(ConfigError, match="must differ"):
        check_paths(tiny_model_dir, tiny_model_dir / "inside")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        check_paths(tiny_model_dir, tmp_path / "taken")
    assert check_paths(tiny_model_dir, tmp_path / "new")[1] == tmp_path / "new"


def test_config_is_validated_and_small_data_gets_smaller_batches():
    with pytest.raises(ConfigError, match="replay"):
        FinetuneConfig(replay=-1)
    with pytest.raises(ConfigError):
        FinetuneConfig(learning_rate=0)
    config = FinetuneConfig(batch_tokens=1200, min_batches=8)
    assert config.train_config(800).batch_tokens == 100
    assert config.train_config(10**6).batch_tokens == 1200
    assert config.train_config(10).batch_tokens == 64


def test_finetune_writes_a_new_model_and_only_reads_the_base(
    tmp_path: Path, tiny_model_dir: Path, small_corpus: Path
):
    before = hashes(tiny_model_dir)
    events: list[dict] = []
    result = finetune(
        base_dir=tiny_model_dir,
        out_dir=tmp_path / "tuned",
        examples=examples(30, 1),
        config=FinetuneConfig(epochs=3, comparisons=2),
        device=torch.device("cpu"),
        replay_corpus=str(small_corpus),
        on_progress=events.append,
    )
    assert result.status == "succeeded" and result.out_dir == tmp_path / "tuned"
    assert hashes(tiny_model_dir) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tuned"]  # no partial left
    assert result.after["heldout_perplexity"] < result.before["heldout_perplexity"]
    assert result.data["replay_examples"] == round(0.5 * result.data["train_pairs"])
    assert len(result.comparisons) == 1  # every held-out prompt is the same: shown once
    assert load_checkpoint(result.out_dir).record["finetune"]["parent"] == str(tiny_model_dir)
    names = [event["event"] for event in events]
    assert names.index("data") < names.index("baseline") < names.index("start")


def test_a_stop_request_writes_nothing(tmp_path: Path, tiny_model_dir: Path, small_corpus: Path):
    seen: list[str] = []
    result = finetune(
        base_dir=tiny_model_dir,
        out_dir=tmp_path / "tuned",
        examples=examples(30, 1),
        config=FinetuneConfig(epochs=50),
        device=torch.device("cpu"),
        replay_corpus=str(small_corpus),
        on_progress=lambda event: seen.append(event["event"]),
        should_stop=lambda: "eval" in seen,  # after a best model was saved into the partial dir
    )
    assert result.status == "cancelled" and result.out_dir is None
    assert list(tmp_path.iterdir()) == []
