"""Command-line flags for every `DecodeConfig` knob (chat and eval share them)."""

from __future__ import annotations

import argparse
import dataclasses

from engine.decoding.config import (
    CHOICE_KNOBS,
    KNOBS,
    PRESETS,
    STRATEGIES,
    DecodeConfig,
    decode_preset,
)


def add_decoding_options(parser: argparse.ArgumentParser, *, default_preset: str) -> None:
    group = parser.add_argument_group("decoding (a preset, then any knob to override it)")
    group.add_argument("--preset", choices=sorted(PRESETS), default=default_preset)
    group.add_argument("--strategy", choices=STRATEGIES)
    for name, choice in CHOICE_KNOBS.items():
        group.add_argument("--" + name.replace("_", "-"), choices=choice.values, help=choice.help)
    for name, knob in KNOBS.items():
        group.add_argument(
            knob.flag_of(name),
            type=int if knob.integer else float,
            help=f"{knob.help} [{knob.shown(knob.low)}..{knob.shown(knob.high)}]",
        )
    group.add_argument("--seed", type=int, help="sampling seed (default: a fresh one per reply)")


def decode_config_from_args(args: argparse.Namespace) -> DecodeConfig:
    """The preset with the knobs given on the command line applied (validated)."""
    config = decode_preset(args.preset)
    names = [field.name for field in dataclasses.fields(DecodeConfig)]
    changes = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    return DecodeConfig.from_dict({**config.to_dict(), **changes})
