"""The decoding flags of `chat` and `eval`, built from the knob tables: a choice knob
(`candidate_search`) is a flag of its words, over the preset's value."""

from __future__ import annotations

import pytest

from chatapp.commands import build_parser
from chatapp.commands.decoding_options import decode_config_from_args
from engine.errors import ConfigError


def test_rerank_over_beam_search_from_the_command_line() -> None:
    args = build_parser().parse_args(
        ["chat", "--preset", "precise", "--candidate-search", "beam", "--fluency-floor", "1.5"]
    )
    config = decode_config_from_args(args)
    assert (config.strategy, config.candidate_search, config.fluency_floor) == (
        "rerank", "beam", 1.5,
    )  # fmt: skip
    assert config.candidates == 32  # the rest is the preset's
    plain = decode_config_from_args(build_parser().parse_args(["chat", "--preset", "precise"]))
    assert plain.candidate_search == "sample"


def test_a_word_the_choice_knob_does_not_take_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["chat", "--candidate-search", "nucleus"])
    assert exit_info.value.code == 2
    assert "--candidate-search: invalid choice: 'nucleus'" in capsys.readouterr().err


def test_the_pools_similar_turns_knob_is_a_flag_over_the_preset() -> None:
    args = build_parser().parse_args(["chat", "--preset", "balanced", "--similar", "4"])
    config = decode_config_from_args(args)
    assert (config.strategy, config.similar, config.retrieved) == ("pool", 4, 32)
    too_many = build_parser().parse_args(["chat", "--similar", "65"])
    with pytest.raises(ConfigError, match="similar must be between 0 and 64, not 65"):
        decode_config_from_args(too_many)
