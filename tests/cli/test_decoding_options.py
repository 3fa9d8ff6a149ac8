"""The decoding flags of `chat` and `eval`, built from the knob tables: a choice knob
(`candidate_search`) is a flag of its words, over the preset's value."""

from __future__ import annotations

import pytest

from chatapp.commands import build_parser
from chatapp.commands.decoding_options import decode_config_from_args


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
