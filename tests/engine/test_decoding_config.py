"""DecodeConfig: every knob validated with a message naming it and its range; presets; JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.decoding.config import (
    CHOICE_KNOBS,
    FORMER_PRESETS,
    KNOBS,
    PRESETS,
    STRATEGIES,
    DecodeConfig,
    decode_preset,
    former_preset,
)
from engine.errors import ConfigError


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_out_of_range_knob_names_field_and_range(name: str) -> None:
    spec = KNOBS[name]
    for value in (spec.low - 1, spec.high + 1):
        with pytest.raises(ConfigError) as caught:
            DecodeConfig(**{name: value})
        message = str(caught.value)
        assert message.startswith(name)
        assert f"between {spec.low:g} and {spec.high:g}" in message


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_knob_edges_are_accepted(name: str) -> None:
    spec = KNOBS[name]
    base = DecodeConfig(strategy="sample")
    for value in (spec.low, spec.high):
        value = int(value) if spec.integer else value
        changes = {name: value}
        if name == "min_length":
            changes["max_length"] = max(value, 1)
        if name == "max_length":
            changes["min_length"] = min(base.min_length, value)
        assert getattr(base.replace(**changes), name) == value


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"top_p": "0.5"}, "top_p must be a number"),
        ({"top_k": 2.5}, "top_k must be an integer"),
        ({"beam_size": True}, "beam_size must be an integer"),
        ({"temperature": float("nan")}, "temperature must be between"),
        ({"strategy": "nucleus"}, "strategy must be one of greedy, beam, sample"),
        ({"min_length": 10, "max_length": 5}, "min_length (10) must not exceed max_length (5)"),
        ({"strategy": "beam", "beam_size": 2, "n_best": 3}, "n_best (3) must not exceed"),
        ({"seed": -1}, "seed must be empty or an integer"),
        ({"seed": 2**63}, "seed must be empty or an integer"),
        ({"seed": "7"}, "seed must be empty or an integer"),
    ],
)
def test_invalid_values(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DecodeConfig(**changes)
    assert message in str(caught.value)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        DecodeConfig(top_p=3)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_round_trip(name: str) -> None:
    config = decode_preset(name)
    assert config.strategy in STRATEGIES
    assert DecodeConfig.from_json(config.to_json()) == config
    assert DecodeConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_round_trip_with_every_field_changed() -> None:
    """Every knob of the tables (a new one too) away from its default, and back from JSON."""
    changes = {name: knob.high for name, knob in KNOBS.items()}  # n_best 16 fits 16 beams
    changes |= {name: choice.values[-1] for name, choice in CHOICE_KNOBS.items()}
    config = DecodeConfig(strategy="beam", seed=123456789012, **changes)
    default = DecodeConfig()
    fields = [field.name for field in dataclasses.fields(DecodeConfig)]
    assert [name for name in fields if getattr(config, name) == getattr(default, name)] == []
    again = DecodeConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(config.to_json()) == config.to_dict()


@pytest.mark.parametrize("name", [field.name for field in dataclasses.fields(DecodeConfig)])
def test_settings_stored_before_a_knob_existed_read_with_its_default(name: str) -> None:
    """A reply's or a preset's settings, stored as JSON by a version without knob `name`
    (`similar`, say): the rest as stored, that knob at its default."""
    stored = PRESETS["balanced"].to_dict()
    del stored[name]
    expected = PRESETS["balanced"].replace(**{name: getattr(DecodeConfig(), name)})
    assert DecodeConfig.from_json(json.dumps(stored)) == expected


def test_from_dict_accepts_integral_floats_from_json() -> None:
    # JavaScript-ish writers (and QSettings) may store 5 as 5.0.
    config = DecodeConfig.from_dict({"beam_size": 5.0, "max_length": 20.0, "strategy": "beam"})
    assert config.beam_size == 5 and isinstance(config.beam_size, int)


def test_from_json_errors() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        DecodeConfig.from_json("{")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        DecodeConfig.from_json("[1]")
    with pytest.raises(ConfigError, match="unknown decoding setting"):
        DecodeConfig.from_json('{"beam_width": 3}')


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown decoding preset 'wild'"):
        decode_preset("wild")


def test_only_an_earlier_versions_preset_values_are_read_as_that_preset():
    last_balanced = DecodeConfig(
        strategy="rerank", temperature=0.9, mmi_weight=3.0, anti_lm_weight=1.0, min_length=2
    )
    assert former_preset(last_balanced) == "balanced"
    assert (
        former_preset(DecodeConfig(strategy="beam", n_best=5, repetition_penalty=1.0)) == "precise"
    )
    # Today's presets are themselves, and values nobody shipped are the user's own.
    assert all(former_preset(config) is None for config in PRESETS.values())
    assert former_preset(dataclasses.replace(last_balanced, mmi_weight=3.5)) is None
    for name, configs in FORMER_PRESETS.items():
        assert name in PRESETS and all(config != PRESETS[name] for config in configs)
