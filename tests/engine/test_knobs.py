"""engine.knobs.Knob: one knob shape for decoding, fine-tuning and the command lines' ranges."""

from __future__ import annotations

import math

import pytest

from engine.decoding.config import KNOBS as DECODING_KNOBS
from engine.decoding.config import DecodeConfig
from engine.errors import ConfigError
from engine.finetune_config import KNOBS as FINETUNE_KNOBS
from engine.finetune_config import FinetuneConfig
from engine.knobs import Knob

EPOCHS = Knob(1, 1000, integer=True)
FORGETTING = Knob(0.0, 0.99, low_open=True)
MINUTES = Knob(0.0, 10_000.0, low_open=True, optional=True)


@pytest.mark.parametrize(
    ("knob", "value", "refusal"),
    [
        (EPOCHS, 0, "--n must be an integer at least 1 and at most 1,000, not 0"),
        (EPOCHS, 3.0, "--n must be an integer at least 1 and at most 1,000, not 3"),
        (EPOCHS, True, "--n must be an integer at least 1 and at most 1,000, not True"),
        (FORGETTING, 0.0, "--n must be a finite number greater than 0 and at most 0.99, not 0"),
        (FORGETTING, math.nan, "--n must be a finite number greater than 0 and at most 0.99, "
                               "not nan"),
        (MINUTES, 1e9, "--n must be a finite number greater than 0 and at most 10,000, not 1e+09"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_option_what_it_takes_and_what_it_got(knob, value, refusal):
    assert knob.refusal("--n", value) == refusal


def test_the_ends_and_none():
    assert EPOCHS.contains(1) and EPOCHS.contains(1000) and not EPOCHS.contains(1001)
    assert FORGETTING.contains(0.99) and FORGETTING.contains(1e-9) and not FORGETTING.contains(0)
    assert not FORGETTING.contains(math.inf) and not FORGETTING.contains("0.5")
    assert MINUTES.contains(None) and not EPOCHS.contains(None)  # None: no limit, if optional
    assert EPOCHS.refusal("--epochs", 40) is None


def test_the_flag_is_the_name_with_dashes_unless_the_knob_names_one():
    assert FINETUNE_KNOBS["max_forgetting"].flag_of("max_forgetting") == "--max-forgetting"
    assert FINETUNE_KNOBS["learning_rate"].flag_of("learning_rate") == "--lr"


@pytest.mark.parametrize("name", sorted(FINETUNE_KNOBS))
def test_finetune_config_checks_each_knob_with_its_declared_range(name: str):
    knob = FINETUNE_KNOBS[name]
    beyond = knob.high + 1 if knob.integer else knob.high * 2 + 1
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig(**{name: beyond})
    assert str(caught.value) == knob.refusal(name, beyond)
    assert getattr(FinetuneConfig(**{name: knob.high}), name) == knob.high


def test_decode_config_reads_a_whole_float_as_the_integer_and_refuses_a_fraction():
    assert all(DECODING_KNOBS[name].integer for name in ("top_k", "beam_size", "max_length"))
    config = DecodeConfig(top_k=3.0)
    assert config.top_k == 3 and isinstance(config.top_k, int)
    with pytest.raises(ConfigError, match=r"top_k must be an integer, not 2\.5"):
        DecodeConfig(top_k=2.5)
