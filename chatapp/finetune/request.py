"""What a fine-tune run is asked to do: a `FinetuneRequest`, each knob's range declared once.

`KNOBS` is the engine's table of fine-tune knobs (`engine/finetune_config.py`, which checks
`FinetuneConfig` with it) and the child process's niceness. `main.py finetune` builds its
options and checks from it and turns its command line into a request; the fine-tune dialog
builds its spin boxes from the same table and a request from them, and hands it to the child
process with `to_argv()`, which the command reads back into the same request. Defaults are
the request's field defaults (taken from the engine's `FinetuneConfig`). No torch here: the
command line and the dialog build without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatapp.finetune.errors import FinetuneError
from engine.errors import ConfigError
from engine.finetune_config import KNOBS as FINETUNE_KNOBS
from engine.finetune_config import FinetuneConfig
from engine.knobs import Knob
from engine.pairs import PAIR_KINDS, PairKind, check_kinds

DEFAULT_INCLUDE = (PairKind.CORRECTED, PairKind.LIKED)
PROGRESS_KINDS = ("bar", "json")
DEVICES = ("auto", "cpu", "cuda")


# Every numeric knob of a run, by its `FinetuneRequest` field: the engine's, and how nice the
# child process is. The dialog shows some of them.
KNOBS: dict[str, Knob] = {
    **FINETUNE_KNOBS,
    "nice": Knob(0, 19, "lower this process's CPU priority by N (the app passes 10 to stay "
                 "smooth)", integer=True),
}  # fmt: skip


def parse_include(text: str) -> tuple[PairKind, ...]:
    """`"corrected,liked"` → (CORRECTED, LIKED); raises FinetuneError for an unknown kind."""
    try:
        kinds = check_kinds([part.strip() for part in text.split(",") if part.strip()])
    except ValueError:
        kinds = ()
    if not kinds:
        raise FinetuneError(
            f"--include takes a comma-separated list of {', '.join(PAIR_KINDS)}, not {text!r}"
        )
    return kinds


@dataclass(frozen=True)
class FinetuneRequest:
    """One fine-tune run, checked: a bad value raises FinetuneError naming its flag."""

    db: str | None = None  # conversation database (default: in the data folder)
    data_dir: str | None = None  # database, model versions, lock (default: the app-data folder)
    model: str | None = None  # start from (default: the active version, else the shipped model)
    out: str | None = None  # new model directory (default: DATA_DIR/models/ft-YYYYMMDD-HHMMSS)
    device: str = "auto"
    include: tuple[PairKind, ...] = DEFAULT_INCLUDE  # which saved pairs to learn from
    replay_corpus: str | None = None  # default: the base model's training corpus
    progress: str = "bar"  # a bar on the terminal, or JSON lines for a parent process
    replay: float = FinetuneConfig.replay
    epochs: int = FinetuneConfig.epochs
    max_minutes: float | None = FinetuneConfig.max_minutes
    learning_rate: float = FinetuneConfig.learning_rate
    batch_tokens: int = FinetuneConfig.batch_tokens
    l2_sp: float = FinetuneConfig.l2_sp
    max_forgetting: float = FinetuneConfig.max_forgetting
    seed: int = FinetuneConfig.seed
    nice: int = 0

    def __post_init__(self) -> None:
        for name, knob in KNOBS.items():
            refusal = knob.refusal(knob.flag_of(name), getattr(self, name))
            if refusal:
                raise FinetuneError(refusal)
        # Refuses an unknown kind, or none; the kinds as the enum, in their usual order.
        object.__setattr__(self, "include", parse_include(",".join(map(str, self.include))))
        if self.progress not in PROGRESS_KINDS or self.device not in DEVICES:
            raise FinetuneError(f"unknown progress {self.progress!r} or device {self.device!r}")
        self.config()  # the engine's own checks, as one line too

    def config(self) -> FinetuneConfig:
        """The engine's training settings for this request."""
        try:
            return FinetuneConfig(
                epochs=self.epochs,
                learning_rate=self.learning_rate,
                batch_tokens=self.batch_tokens,
                max_minutes=self.max_minutes,
                replay=self.replay,
                l2_sp=self.l2_sp,
                max_forgetting=self.max_forgetting,
                seed=self.seed,
            )
        except ConfigError as error:
            raise FinetuneError(str(error)) from None

    def to_argv(self) -> list[str]:
        """`main.py finetune` arguments that the command reads back into this request."""
        argv = ["finetune"]
        paths = (("--db", self.db), ("--data-dir", self.data_dir), ("--model", self.model),
                 ("--out", self.out), ("--replay-corpus", self.replay_corpus))  # fmt: skip
        for flag, value in paths:
            if value is not None:
                argv += [flag, value]
        argv += ["--device", self.device, "--include", ",".join(self.include)]
        argv += ["--progress", self.progress]
        for name, knob in KNOBS.items():
            value = getattr(self, name)
            if value is not None:
                argv += [knob.flag_of(name), repr(value)]  # repr: a float comes back exactly
        return argv
