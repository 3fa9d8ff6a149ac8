"""The training loop: it learns, resumes exactly, and stops on time, on request and on plateau."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.batching import EncodedExample, encode_examples
from engine.checkpoint import load_checkpoint
from engine.config import ModelConfig, preset
from engine.errors import ConfigError
from engine.model import Seq2Seq
from engine.pipeline import load_splits
from engine.progress import EndEvent, EvalEvent, ProgressEvent, StartEvent, StepEvent
from engine.tokenizer import Tokenizer
from engine.train import TrainConfig, evaluate_perplexity, train
from engine.train_config import cooldown_factor

CPU = torch.device("cpu")
FAST = {"batch_tokens": 1000, "learning_rate": 1e-2}  # ~14 steps an epoch on the small corpus


class Data:
    def __init__(
        self, tokenizer: Tokenizer, config: ModelConfig, splits: Any, device: torch.device
    ) -> None:
        self.tokenizer, self.config, self.device = tokenizer, config, device
        self.train: list[EncodedExample] = encode_examples(splits.train, tokenizer, config)
        self.valid: list[EncodedExample] = encode_examples(splits.valid, tokenizer, config)

    def fresh_model(self, seed: int = 0) -> Seq2Seq:
        torch.manual_seed(seed)
        return Seq2Seq(self.config)


@pytest.fixture(scope="module")
def data(tiny_model_dir: Path, small_corpus: Path, engine_device: torch.device) -> Data:
    tokenizer = Tokenizer.load(tiny_model_dir / "tokenizer.model")
    config = preset("tiny", vocab_size=tokenizer.vocab_size)
    splits = load_splits(str(small_corpus), context_turns=3)
    return Data(tokenizer, config, splits, engine_device)


def run(data: Data, model: Seq2Seq, out_dir: Path | None = None, **kwargs: Any) -> tuple:
    events: list[ProgressEvent] = []
    options = {"resume", "optimizer_state", "should_stop"}
    config = TrainConfig(**{**FAST, **{k: v for k, v in kwargs.items() if k not in options}})
    result = train(
        model, data.tokenizer, data.train, data.valid, config, out_dir=out_dir, device=data.device,
        on_progress=events.append, **{k: v for k, v in kwargs.items() if k in options},
    )  # fmt: skip
    return result, events


def test_training_lowers_validation_perplexity(data: Data, tmp_path: Path) -> None:
    model = data.fresh_model()
    before = evaluate_perplexity(model, data.valid, device=data.device).perplexity
    result, events = run(data, model, tmp_path / "model", epochs=3)
    after = evaluate_perplexity(model, data.valid, device=data.device).perplexity
    assert before > 100  # about the vocabulary size: a fresh model guesses
    assert after < before / 3
    assert result.stopped_by == "epochs" and result.epochs_completed == 3
    assert result.saved and math.isclose(result.best_valid_perplexity, after, rel_tol=1e-4)
    evals = [e.valid_perplexity for e in events if isinstance(e, EvalEvent)]
    assert len(evals) == 3 and evals == sorted(evals, reverse=True)
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], EndEvent)
    saved = load_checkpoint(tmp_path / "model")
    assert saved.record["trainer"]["step"] == result.steps
    assert math.isclose(saved.record["valid_perplexity"], after, rel_tol=1e-4)


def test_resume_continues_exactly(data: Data, tmp_path: Path) -> None:
    straight = data.fresh_model()
    straight_result, _ = run(data, straight, epochs=4)

    run(data, data.fresh_model(), tmp_path / "model", epochs=2)
    checkpoint = load_checkpoint(tmp_path / "model", with_optimizer=True)
    trainer = checkpoint.record["trainer"]
    assert trainer["epoch"] == 2 and trainer["step"] == straight_result.steps // 2
    result, events = run(
        data, checkpoint.model, epochs=4, resume=trainer,
        optimizer_state=checkpoint.optimizer_state,
    )  # fmt: skip
    assert events[0].step == trainer["step"]  # the step count continues
    assert result.steps == straight_result.steps
    # Same data order, same weights and the same Adam moments: the same model as one long run.
    for (name, a), b in zip(straight.state_dict().items(), checkpoint.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name

    # Without the optimizer state, Adam starts cold and the result differs.
    cold = load_checkpoint(tmp_path / "model").model
    run(data, cold, epochs=4, resume=trainer)
    assert not torch.allclose(cold.embedding.weight, straight.embedding.weight, atol=1e-4)


def test_resume_mid_epoch(data: Data, tmp_path: Path) -> None:
    straight = data.fresh_model()
    run(data, straight, epochs=2, eval_every=5)
    stops = iter(range(10_000))
    # Stop after step 10 (an evaluation, so a save, happens at step 10).
    run(data, data.fresh_model(), tmp_path / "m", epochs=2, eval_every=5,
        should_stop=lambda: next(stops) >= 10)  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "m", with_optimizer=True)
    trainer = checkpoint.record["trainer"]
    assert (trainer["epoch"], trainer["batch_in_epoch"], trainer["step"]) == (0, 10, 10)
    run(data, checkpoint.model, epochs=2, eval_every=5, resume=trainer,
        optimizer_state=checkpoint.optimizer_state)  # fmt: skip
    assert torch.allclose(checkpoint.model.embedding.weight, straight.embedding.weight, atol=1e-6)


def test_resume_of_a_run_saved_before_any_evaluation(data: Data) -> None:
    # Its best perplexity was infinite, which strict JSON keeps as null.
    trainer = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "best": None, "bad_evals": 0}
    _, events = run(data, data.fresh_model(), epochs=1, resume=trainer)
    first_eval = next(event for event in events if isinstance(event, EvalEvent))
    assert first_eval.improved and math.isfinite(first_eval.best_valid_perplexity)


def test_time_budget_stops(data: Data) -> None:
    result, events = run(data, data.fresh_model(), epochs=1000, max_minutes=0.02)
    assert result.stopped_by == "time_budget"
    assert result.epochs_completed < 1000
    assert result.train_seconds < 30
    assert isinstance(events[-2], EvalEvent)  # the last minute's work is still measured


def test_should_stop_cancels_before_the_next_step(data: Data) -> None:
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    result, events = run(data, data.fresh_model(), epochs=5, should_stop=should_stop)
    assert result.stopped_by == "cancelled"
    assert result.steps == 3
    assert not result.saved
    assert [type(e) for e in events] == [StartEvent, EndEvent]


def test_early_stopping(data: Data) -> None:
    # Updates this small vanish in float32 rounding: the perplexity stays flat, patience runs out.
    result, _ = run(data, data.fresh_model(), epochs=50, learning_rate=1e-20, patience=2)
    assert result.stopped_by == "early_stopping"
    assert result.epochs_completed == 3  # the first evaluation sets the best; two more fail


def test_seeded_runs_are_reproducible(data: Data) -> None:
    def losses(seed: int) -> tuple[list[float], torch.Tensor]:
        model = data.fresh_model()
        _, events = run(data, model, epochs=3, seed=seed)
        steps = [e.loss for e in events if isinstance(e, StepEvent)]
        evals = [e.valid_perplexity for e in events if isinstance(e, EvalEvent)]
        return steps + evals, model.embedding.weight.detach().clone()

    first, first_weights = losses(seed=7)
    second, second_weights = losses(seed=7)
    other, _ = losses(seed=8)
    assert len(first) >= 5
    assert first == second
    assert torch.equal(first_weights, second_weights)
    assert first != other  # the seed sets the batch order


def test_cooldown_factor_holds_then_falls_to_zero() -> None:
    assert cooldown_factor(0.5, 0.0) == 1.0  # no cool-down: a constant rate
    assert cooldown_factor(0.79, 0.2) == 1.0
    assert cooldown_factor(0.9, 0.2) == pytest.approx(0.5)
    assert cooldown_factor(1.0, 0.2) == 0.0
    assert cooldown_factor(1.7, 0.2) == 0.0  # past the end (a slow last step) stays at zero


def test_lr_cooldown_lowers_the_rate_at_the_end_of_the_run(data: Data) -> None:
    _, events = run(data, data.fresh_model(), epochs=4, lr_cooldown=0.5)
    rates = [e.learning_rate for e in events if isinstance(e, StepEvent)]
    assert rates[0] == FAST["learning_rate"]
    assert rates == sorted(rates, reverse=True)
    assert rates[-1] < 0.1 * FAST["learning_rate"]
    _, constant = run(data, data.fresh_model(), epochs=2)
    assert {e.learning_rate for e in constant if isinstance(e, StepEvent)} == {
        FAST["learning_rate"]
    }


def test_stepwise_decoder_trains_the_same(data: Data) -> None:
    fast, slow = data.fresh_model(), data.fresh_model()
    run(data, fast, epochs=1)
    run(data, slow, epochs=1, stepwise_decoder=True)
    assert torch.allclose(fast.embedding.weight, slow.embedding.weight, atol=1e-4)


@pytest.mark.parametrize(
    "bad",
    [{"epochs": 0}, {"batch_tokens": 8}, {"learning_rate": 0.0}, {"label_smoothing": 1.0},
     {"max_minutes": 0}, {"lr_cooldown": -0.1}, {"lr_cooldown": 1.5}],
)  # fmt: skip
def test_train_config_validation(bad: dict) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_empty_data_is_an_error(data: Data) -> None:
    model = data.fresh_model()
    with pytest.raises(ConfigError, match="no training examples"):
        train(model, data.tokenizer, [], data.valid, TrainConfig(), out_dir=None, device=CPU)
    with pytest.raises(ConfigError, match="no validation examples"):
        train(model, data.tokenizer, data.train, [], TrainConfig(), out_dir=None, device=CPU)


def test_a_new_shape_can_be_trained_on_a_saved_models_tokenizer(
    tiny_model_dir: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """`--tokenizer-from`: a larger model keeps the shipped pieces, so the shipped reply index
    and backward scorer (tied to the tokenizer's bytes) still serve it."""
    from engine.pipeline import pretrain

    result = pretrain(
        corpus=str(small_corpus),
        out_dir=tmp_path / "wider",
        model_config=preset("tiny", hidden_size=96, vocab_size=64),
        train_config=TrainConfig(epochs=1, **FAST),
        device=CPU,
        tokenizer_from=tiny_model_dir,
    )
    assert result.saved
    wider, source = load_checkpoint(tmp_path / "wider"), load_checkpoint(tiny_model_dir)
    assert wider.tokenizer.to_bytes() == source.tokenizer.to_bytes()
    assert wider.config.hidden_size == 96
    assert wider.config.vocab_size == source.config.vocab_size  # from the tokenizer, not asked


def test_only_one_starting_point_is_accepted(tiny_model_dir: Path, small_corpus: Path) -> None:
    from engine.pipeline import pretrain

    with pytest.raises(ConfigError, match="only one of --resume, --init-from"):
        pretrain(
            corpus=str(small_corpus),
            out_dir="unused",
            model_config=preset("tiny"),
            train_config=TrainConfig(epochs=1, **FAST),
            device=CPU,
            init_from=tiny_model_dir,
            tokenizer_from=tiny_model_dir,
        )
