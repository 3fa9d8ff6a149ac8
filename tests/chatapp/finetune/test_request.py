"""FinetuneRequest: each knob's range declared once, and the command line and the dialog's spin
boxes both built from it."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

import main
from chatapp.commands import build_parser
from chatapp.commands.finetune import request_from_args
from chatapp.finetune.errors import FinetuneError
from chatapp.finetune.request import KNOBS, FinetuneRequest, parse_include
from chatapp.gui.finetune_form import SHOWN_KNOBS
from chatapp.gui.knob_spin import knob_spin
from engine.knobs import Knob

REPO_ROOT = Path(__file__).resolve().parents[3]


def parsed(argv: list[str]) -> FinetuneRequest:
    return request_from_args(build_parser().parse_args(argv))


def run_main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main.main(argv)
    return code, err.getvalue()


def outside(knob: Knob) -> list[float]:
    """Values just outside the knob's range (the open low end itself, a float not finite)."""
    step = 1 if knob.integer else knob.high * 1e-3
    values = [knob.low - step, knob.high + step]
    values += [knob.low] if knob.low_open else []
    return values if knob.integer else [*values, math.nan, math.inf]


def shown(knob: Knob, value: float) -> str:
    return str(int(value)) if knob.integer else repr(float(value))


def test_every_default_is_inside_its_knob_range():
    defaults = FinetuneRequest()
    for name, knob in KNOBS.items():
        assert knob.contains(getattr(defaults, name)), name


def test_the_command_reads_back_exactly_the_request_that_to_argv_writes():
    request = FinetuneRequest(
        db="/tmp/chat.db", data_dir="/tmp/data", model="/tmp/model", out="/tmp/out",
        device="cpu", include=("corrected", "user"), replay_corpus="chatterbot",
        progress="json", replay=2.5, epochs=7, max_minutes=1.25, learning_rate=1.2345678e-4,
        batch_tokens=800, l2_sp=1e-5, max_forgetting=0.05, seed=12345, nice=10,
    )  # fmt: skip
    assert parsed(request.to_argv()) == request
    assert parsed(FinetuneRequest().to_argv()) == FinetuneRequest()
    assert parsed(["finetune"]) == FinetuneRequest()  # the command's defaults are the request's


@pytest.mark.parametrize("name", list(KNOBS))
def test_the_command_accepts_each_knob_at_both_ends_of_its_range(name: str):
    knob, flag = KNOBS[name], KNOBS[name].flag_of(name)
    ends = [knob.high] if knob.low_open else [knob.low, knob.high]
    for value in ends:
        assert getattr(parsed(["finetune", flag, shown(knob, value)]), name) == value


@pytest.mark.parametrize("name", list(KNOBS))
def test_the_command_refuses_each_knob_outside_its_range_with_one_line(name: str):
    knob, flag = KNOBS[name], KNOBS[name].flag_of(name)
    for value in outside(knob):
        code, stderr = run_main(["finetune", flag, shown(knob, value)])
        assert code == 2, (flag, value)
        assert stderr.count("\n") == 1 and f"error: {flag} must be" in stderr, stderr


@pytest.mark.parametrize("name", list(SHOWN_KNOBS))
def test_the_dialog_spin_boxes_span_exactly_the_declared_ranges(qtbot, name: str):
    parent = QWidget()
    qtbot.addWidget(parent)
    knob = KNOBS[name]
    spin = knob_spin(knob, getattr(FinetuneRequest(), name), parent)
    low = spin.minimum()
    if knob.low_open and not knob.optional:
        low -= 10.0**-knob.decimals
    assert (low, spin.maximum()) == pytest.approx((knob.low, knob.high))
    assert spin.value() == pytest.approx(getattr(FinetuneRequest(), name) or knob.low)
    # Everything a spin box can show is a value the command accepts (the old dialog's
    # epochs stopped at 100, its learning rate at 0.01, while the command took more).
    ends = [spin.maximum()] if knob.optional else [spin.minimum(), spin.maximum()]
    for value in ends:
        assert getattr(FinetuneRequest(**{name: value}), name) == value


def test_include_is_checked_in_the_request_and_parsed_in_one_place():
    assert parse_include(" user , corrected ") == ("corrected", "user")
    for bad in ("", "corrected,typo"):
        with pytest.raises(FinetuneError, match="--include takes"):
            parse_include(bad)
    with pytest.raises(FinetuneError, match="--include takes"):
        FinetuneRequest(include=())
    with pytest.raises(FinetuneError):
        FinetuneRequest(progress="xml")


def test_the_request_and_the_events_build_without_torch():
    code = (
        "import sys, chatapp.finetune.request, chatapp.finetune.events, chatapp.finetune.errors;"
        "sys.exit('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0
