"""engine.finetune: which pairs train, weighting, replay, path checks, the guard, and a run that
learns what it was taught, stops cleanly, or keeps its model when measuring fails."""

from __future__ import annotations

import copy
import hashlib
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import engine.finetune.run as finetune_run
from engine.batching import collate, encode_examples
from engine.chatbot import Chatbot
from engine.checkpoint import load_checkpoint, load_tokenizer
from engine.data import Example
from engine.errors import ConfigError
from engine.finetune import (
    FinetuneConfig,
    FinetuneData,
    FinetuneResult,
    SavedPair,
    check_paths,
    dedupe,
    discard_partial,
    finetune,
    key_words,
    partial_dirs,
    recalled,
    replay_examples,
    split_heldout,
    split_pairs,
)
from engine.finetune.teach import weighted_loss
from engine.finetune_figures import Figures, Perplexity
from engine.progress import DataEvent, ProgressEvent
from engine.retrieval import INDEX_FILE
from engine.turn_encoder import TURN_ENCODER_DIR, save_turn_encoder
from engine.turn_encoder_train import DistillSettings, distill_turn_encoder

PHRASE = "purple elephants dance at midnight"
# Questions the tiny model has never seen, each corrected once (one per conversation).
FACTS = [
    ("which planet do you like?", "saturn."),
    ("do you have a pet?", "an elephant."),
    ("where were you born?", "in lisbon."),
    ("what is your job?", "a lighthouse keeper."),
    ("can you swim?", "like a fish."),
]
# A result's data where only its figures matter.
NO_DATA = FinetuneData(DataEvent(train_pairs=0, heldout_pairs=0, replay_examples=0))


def examples(conversations: int, per_conversation: int = 2) -> list[Example]:
    return [
        Example(("hello", f"turn {turn}"), PHRASE, conversation=f"c{index}")
        for index in range(conversations)
        for turn in range(per_conversation)
    ]


def taught_pairs() -> list[SavedPair]:
    return [
        SavedPair(Example((question,), answer, conversation=f"fact{index}"), "corrected")
        for index, (question, answer) in enumerate(FACTS)
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
    _, heldout_more = split_heldout(examples(400))
    assert held_keys <= {example.conversation for example in heldout_more}


def test_corrections_are_all_trained_on_and_held_out_prompts_are_new():
    corrections = [
        SavedPair(Example((f"question {i}",), f"answer {i}", f"c{i}"), "corrected")
        for i in range(40)
    ]
    liked = [
        SavedPair(Example((f"question {i % 5}",), f"liked {i}", f"l{i}"), "liked")
        for i in range(40)
    ]
    liked += [SavedPair(Example((f"other {i}",), "ok", f"o{i}"), "liked") for i in range(60)]
    training, heldout = split_pairs([*corrections, *liked])
    assert all(pair in training for pair in corrections)  # not one correction is held out
    assert heldout, "liked replies of other conversations are held out"
    training_prompts = {pair.example.context[-1] for pair in training}
    assert all(example.context[-1] not in training_prompts for example in heldout)
    assert all(example.context[-1].startswith("other") for example in heldout)


def test_the_same_context_and_response_count_once():
    pair = SavedPair(Example(("Hi there!",), "Hello."), "corrected")
    copy = SavedPair(Example(("hi there",), "hello"), "liked")  # an imported copy, say
    other = SavedPair(Example(("hi there",), "hello, friend"), "liked")
    assert dedupe([pair, copy, other]) == [pair, other]


def test_weights_rank_corrections_above_liked_above_own_turns():
    config = FinetuneConfig()
    assert config.weight_of("corrected") > config.weight_of("liked") > config.weight_of("user")


def test_the_loss_weighs_each_example_by_its_weight(tiny_bot):
    model, tokenizer, model_config = tiny_bot.model, tiny_bot.tokenizer, tiny_bot.config
    encoded = encode_examples(
        [Example(("hi",), "hello! nice to meet you."), Example(("how are you?",), PHRASE)],
        tokenizer,
        model_config,
    )
    batch = collate(encoded, [0, 1], torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        plain = weighted_loss(model, batch, torch.tensor([1.0, 1.0]))
        doubled = weighted_loss(model, batch, torch.tensor([2.0, 1.0]))
        first = collate(encoded, [0], torch.device("cpu"))
        first_sum = float(weighted_loss(model, first, torch.tensor([1.0]))) * len(encoded[0][1])
        mean = float(model.loss(*batch_args(batch)))
    tokens = len(encoded[0][1]) + len(encoded[1][1])
    assert float(plain) == pytest.approx(mean, rel=1e-5)
    assert float(doubled) == pytest.approx(float(plain) + first_sum / tokens, rel=1e-4)


def batch_args(batch):
    return batch.src, batch.src_lengths, batch.target_in, batch.target_out


def test_replay_draws_the_same_examples_for_a_seed():
    pool = examples(50)
    first = replay_examples(pool, 30, seed=0)
    assert first == replay_examples(pool, 30, seed=0)
    assert first != replay_examples(pool, 30, seed=1)  # another epoch, other examples
    assert len(first) == len(set(first)) == 30
    assert replay_examples(pool, 1000) == pool
    assert replay_examples(pool, 0) == [] and replay_examples([], 5) == []


def test_taught_recall_counts_the_key_content_words():
    assert key_words("my name is ada.", "what's your name?") == {"ada"}
    assert recalled("hi, my name is Ada!", "my name is ada.", "what's your name?")
    assert not recalled("my name is my name.", "my name is ada.", "what's your name?")
    assert recalled("a cat called pixel", "yes, a cat called pixel.", "do you have any pets?")
    assert not recalled("a cat", "yes, a cat called pixel.", "do you have any pets?")


def test_the_forgetting_flag():
    def result(before: float | None, after: float | None) -> FinetuneResult:
        def measured(value: float | None) -> Figures:
            return Figures(valid=None if value is None else Perplexity(value, math.log(value)))

        return FinetuneResult("succeeded", None, NO_DATA, measured(before), measured(after))

    assert result(100.0, 102.9).forgetting == pytest.approx(0.029)
    assert not result(100.0, 102.9).flagged(0.03)
    assert result(100.0, 103.1).flagged(0.03)
    assert not result(100.0, 90.0).flagged(0.03)
    assert result(100.0, None).flagged(0.03)  # not measured: not trusted either


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
    with pytest.raises(ConfigError):
        FinetuneConfig(weight_user=0)
    config = FinetuneConfig(batch_tokens=1200, min_batches=8)
    assert config.batch_tokens_for(800) == 100
    assert config.batch_tokens_for(10**6) == 1200
    assert config.batch_tokens_for(10) == 64


SMALL = {"replay": 4.0, "original_valid_examples": 40, "select_valid_examples": 40}


def finetune_facts(
    base: Path,
    out: Path,
    corpus: Path,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **config: Any,
) -> FinetuneResult:
    """`finetune` on the taught facts on the CPU, replaying `corpus`, measured on small slices
    (`SMALL`), with `config` over the defaults."""
    return finetune(
        base_dir=base, out_dir=out, pairs=taught_pairs(), config=FinetuneConfig(**config, **SMALL),
        device=torch.device("cpu"), replay_corpus=str(corpus), on_progress=on_progress,
        should_stop=should_stop,
    )  # fmt: skip


def test_finetune_learns_the_corrections_and_only_reads_the_base(
    tmp_path: Path, tiny_model_with_backward_dir: Path, small_corpus: Path
):
    base = tiny_model_with_backward_dir
    before = hashes(base), hashes(base / "backward")
    events: list[ProgressEvent] = []
    blank = SavedPair(Example(("what is your name?",), "   "), "corrected")
    result = finetune(
        base_dir=base,
        out_dir=tmp_path / "tuned",
        pairs=[*taught_pairs(), *taught_pairs(), blank],  # an imported copy, a blank text
        # The tiny model's perplexity is ~1.1: any learning moves it more than the real guard.
        config=FinetuneConfig(
            epochs=30, eval_every=10, learning_rate=1e-2, max_forgetting=0.5, **SMALL
        ),
        device=torch.device("cpu"),
        replay_corpus=str(small_corpus),
        on_progress=events.append,
    )
    assert result.status == "succeeded" and result.out_dir == tmp_path / "tuned"
    assert (hashes(base), hashes(base / "backward")) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tuned"]  # no partial left
    counts = result.data.counts
    assert counts.train_pairs == counts.taught_pairs == len(FACTS)
    assert counts.duplicates_skipped == len(FACTS) and counts.empty_skipped == 1
    assert counts.heldout_pairs == 0  # corrections are never held out
    assert result.data.comparisons_from == "training"  # so the prompts compared were taught
    # With the precise preset: reranked by the backward model, which was taught too.
    assert result.after.taught_recall >= 0.6, result.recall  # the base model knows none
    assert len(result.recall) == len(FACTS)
    assert result.before.valid.perplexity and result.after.valid.perplexity
    record = load_checkpoint(result.out_dir).record["finetune"]
    assert record["parent"] == str(base)
    assert (record["train_pairs"], record["empty_skipped"]) == (len(FACTS), 1)
    assert (record["chosen_epoch"], record["chosen_mix"]) == (
        result.data.chosen_epoch, result.data.chosen_mix,
    )  # fmt: skip
    assert result.data.chosen_epoch > 0  # a state the guard measured, not the start
    taught_backward = load_checkpoint(result.out_dir / "backward")
    assert taught_backward.config.direction == "backward"
    assert taught_backward.record["finetune"]["pairs"] == len(FACTS)
    assert hashes(result.out_dir / "backward") != before[1]
    names = [event.NAME for event in events]
    assert names.index("data") < names.index("baseline") < names.index("start")
    # Every 10 epochs, then the weight mixes: the state kept is chosen among them.
    assert names.count("eval") == 3 + len(FinetuneConfig().mixes)


def test_a_stop_request_writes_nothing(tmp_path: Path, tiny_model_dir: Path, small_corpus: Path):
    seen: list[str] = []
    result = finetune_facts(
        tiny_model_dir, tmp_path / "tuned", small_corpus, epochs=50, eval_every=1,
        on_progress=lambda event: seen.append(event.NAME), should_stop=lambda: "eval" in seen,
    )  # fmt: skip
    assert result.status == "cancelled" and result.out_dir is None
    assert list(tmp_path.iterdir()) == []


def test_the_base_model_s_backward_model_goes_along(
    tmp_path: Path, tiny_model_dir: Path, small_corpus: Path
):
    base = shutil.copytree(tiny_model_dir, tmp_path / "base")
    shutil.copytree(tiny_model_dir, base / "backward")  # any model folder will do here
    result = finetune_facts(
        base, tmp_path / "tuned", small_corpus, epochs=1, eval_every=1, mixes=(), backward_epochs=0
    )
    assert result.status == "succeeded"
    # backward_epochs=0: copied as it was.
    assert hashes(tmp_path / "tuned" / "backward") == hashes(base / "backward")


def test_the_base_model_s_turn_encoder_goes_along_with_its_reply_index(
    tmp_path: Path, tiny_pool_model_dir: Path, small_corpus: Path
):
    base = shutil.copytree(tiny_pool_model_dir, tmp_path / "base")  # its own reply index
    tokenizer = load_tokenizer(base)
    turns = ["hello", "how are you?", "what is your name?", "good morning", "thank you"] * 4
    vectors = torch.randn(len(turns), 8, generator=torch.Generator().manual_seed(0))
    teacher = torch.nn.functional.normalize(vectors, dim=1)
    encoder, _ = distill_turn_encoder(tokenizer, turns, teacher, DistillSettings(epochs=1))
    save_turn_encoder(encoder, tokenizer, base / TURN_ENCODER_DIR, training={})
    assert Chatbot.load(base, device="cpu").turn_encoder() is not None
    result = finetune_facts(
        base, tmp_path / "tuned", small_corpus, epochs=1, eval_every=1, mixes=(), backward_epochs=0
    )
    assert result.status == "succeeded" and result.out_dir is not None
    # Without it the tuned version's memory gate and similar turns fell back to weaker ones.
    assert Chatbot.load(result.out_dir, device="cpu").turn_encoder() is not None
    assert hashes(result.out_dir / TURN_ENCODER_DIR) == hashes(base / TURN_ENCODER_DIR)


def test_a_stop_while_teaching_the_backward_model_writes_nothing(
    tmp_path: Path, tiny_model_with_backward_dir: Path, small_corpus: Path
):
    messages: list[str] = []
    result = finetune_facts(
        tiny_model_with_backward_dir, tmp_path / "tuned", small_corpus,
        epochs=2, eval_every=1, mixes=(), backward_epochs=50,
        on_progress=lambda event: messages.append(getattr(event, "message", "")),
        should_stop=lambda: any("ranker" in message for message in messages),
    )  # fmt: skip
    assert result.status == "cancelled" and result.out_dir is None
    assert list(tmp_path.iterdir()) == []


def test_a_failure_after_training_keeps_the_finished_model(
    tmp_path: Path, tiny_model_dir: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the comparison broke")

    monkeypatch.setattr(finetune_run, "taught_recall", broken)
    result = finetune_facts(
        tiny_model_dir, tmp_path / "tuned", small_corpus, epochs=2, eval_every=1
    )
    assert result.status == "succeeded" and (tmp_path / "tuned" / "model.safetensors").is_file()
    assert "the comparison broke" in result.problems[0]
    assert load_checkpoint(tmp_path / "tuned").config == load_checkpoint(tiny_model_dir).config


def test_distillation_holds_replayed_rows_to_the_starting_model(tiny_bot):
    model = tiny_bot.model.eval()
    encoded = encode_examples(
        [Example(("hi",), "hello! nice to meet you."), Example(("how are you?",), PHRASE)],
        tiny_bot.tokenizer,
        tiny_bot.config,
    )
    batch = collate(encoded, [0, 1], torch.device("cpu"))
    ones, replay = torch.tensor([1.0, 1.0]), torch.tensor([False, True])
    with torch.no_grad():
        first = collate(encoded, [0], torch.device("cpu"))
        first_sum = float(weighted_loss(model, first, torch.tensor([1.0]))) * len(encoded[0][1])
        same = weighted_loss(
            model, batch, ones, teacher=copy.deepcopy(model), replay_rows=replay, distill=1.0
        )
        half = weighted_loss(
            model, batch, ones, teacher=copy.deepcopy(model), replay_rows=replay, distill=0.5
        )
        plain = weighted_loss(model, batch, ones)
    tokens = len(encoded[0][1]) + len(encoded[1][1])
    # Where the model still is the teacher the KL term is 0: only the saved pair's loss is left.
    assert float(same) == pytest.approx(first_sum / tokens, rel=1e-4, abs=1e-6)
    assert float(half) == pytest.approx((float(plain) + float(same)) / 2, rel=1e-4)


def test_leftovers_of_killed_runs_are_found_one_way(tmp_path: Path):
    """What a run towards `out` leaves (its partial directory and a checkpoint's staging
    directory inside the models folder), told apart from another run's and from models."""
    for name in (".ft-1.partial-41", "..ft-1.partial-41.tmp-x", ".ft-2.partial-7", "ft-3"):
        (tmp_path / name).mkdir()
    (tmp_path / ".ft-9.partial-1").write_text("a file, not a run's directory")
    mine = [tmp_path / "..ft-1.partial-41.tmp-x", tmp_path / ".ft-1.partial-41"]
    assert partial_dirs(tmp_path, "ft-1") == mine
    assert partial_dirs(tmp_path) == [*mine, tmp_path / ".ft-2.partial-7"]
    discard_partial(tmp_path / "ft-1")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".ft-2.partial-7", ".ft-9.partial-1", "ft-3",
    ]  # fmt: skip


def test_a_retrieve_and_refine_model_is_taught_with_exemplars_and_still_reads_them(
    tmp_path: Path, tiny_refine_model_dir: Path, small_corpus: Path
):
    events: list[ProgressEvent] = []
    result = finetune_facts(
        tiny_refine_model_dir, tmp_path / "tuned", small_corpus, on_progress=events.append,
        epochs=30, eval_every=10, learning_rate=1e-2, max_forgetting=0.5,
    )  # fmt: skip
    assert result.status == "succeeded"
    tuned = load_checkpoint(result.out_dir)
    assert tuned.config.exemplar  # still a model that reads exemplars, marker row and all
    assert tuned.model.embedding.weight.shape[0] == tuned.config.vocab_size + 1
    statuses = [getattr(event, "message", "") for event in events]
    assert any("exemplars" in message for message in statuses)
    # Its own reply index went along, so chat gives it the exemplars it was taught with.
    assert (result.out_dir / INDEX_FILE).read_bytes() == (
        tiny_refine_model_dir / INDEX_FILE
    ).read_bytes()
    assert result.after.taught_recall >= 0.6, result.recall
