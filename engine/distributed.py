"""Training on several processes: DDP under torchrun (gloo on CPU, NCCL on CUDA).

`torchrun --nproc_per_node N main.py train ...` starts N copies of the command; each reads its
place from the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
Every rank builds the same batches and trains on its own share of each step; DDP averages the
gradients. Rank 0 alone evaluates, saves and reports. Whether to stop (time budget, early
stopping, cancel, SIGTERM or Ctrl-C on any rank) is agreed through a collective before every
step, so all ranks stop at the same step. A peer that dies surfaces as `PeerLostError`: gloo
sees the closed connection at once, and anything slower is bounded by the process-group
timeout (`SEQ2SEQ_PEER_TIMEOUT_S`, default 600 s: longer than rank 0's evaluation and save).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType

import torch
import torch.distributed as dist
from torch import nn

from engine.errors import EngineError

TIMEOUT_VARIABLE = "SEQ2SEQ_PEER_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class PeerLostError(EngineError):
    """Another training process died or stopped answering; this one stops too."""


def world_size_from_env() -> int:
    """The number of processes torchrun started (1 when it did not start this one)."""
    return int(os.environ.get("WORLD_SIZE") or 1)


@dataclass
class ProcessGroup:
    """This process's place in a multi-process run, and the few collectives training needs."""

    rank: int
    world_size: int
    device: torch.device  # this rank's device (cuda:LOCAL_RANK on a GPU machine)
    signalled: list[int] = field(default_factory=list)  # stop signals received

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` in DistributedDataParallel: its backward averages gradients over ranks."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def _tensor(self, values: list[float]) -> torch.Tensor:
        # NCCL moves only GPU tensors; gloo only CPU ones.
        return torch.tensor(values, dtype=torch.float64, device=self.device)

    def agree(self, cancel: bool, elapsed: float) -> tuple[bool, float]:
        """(any rank cancelled or was signalled, the longest elapsed time): one all-reduce."""
        local = self._tensor([float(cancel or bool(self.signalled)), elapsed])
        with self.errors():
            dist.all_reduce(local, op=dist.ReduceOp.MAX)
        return bool(local[0].item()), float(local[1].item())

    def broadcast(self, values: list[float]) -> list[float]:
        """Rank 0's `values` on every rank."""
        tensor = self._tensor(values)
        with self.errors():
            dist.broadcast(tensor, src=0)
        return tensor.tolist()

    def sum(self, values: list[float]) -> list[float]:
        tensor = self._tensor(values)
        with self.errors():
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def share_bytes(self, make: Callable[[], bytes]) -> bytes:
        """`make()` run on rank 0 alone, its bytes handed to every rank (e.g. a new tokenizer,
        which SentencePiece's threads may not build bit-identically twice)."""
        box = [make() if self.is_main else None]
        with self.errors():
            dist.broadcast_object_list(box, src=0, device=self.device)
        assert isinstance(box[0], bytes)
        return box[0]

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """A failed collective (a peer died, a timeout) as one clear `PeerLostError`."""
        try:
            yield
        except (dist.DistError, RuntimeError) as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            first_line = first_line.split(". This is typically")[0]  # gloo's advice follows
            raise PeerLostError(
                f"training process {self.rank} of {self.world_size} lost contact with the "
                f"others (one died or stopped answering), so it stopped too: {first_line}"
            ) from error


def _timeout() -> timedelta:
    return timedelta(seconds=float(os.environ.get(TIMEOUT_VARIABLE) or DEFAULT_TIMEOUT_S))


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[ProcessGroup | None]:
    """The process group torchrun's variables describe, or None for a plain single process.

    On CUDA each rank takes GPU LOCAL_RANK and NCCL; on the CPU, gloo. While the group is open,
    SIGINT and SIGTERM ask training to stop at the next step (agreed by all ranks) instead of
    killing the process mid-step; a second Ctrl-C interrupts at once.
    """
    world_size = world_size_from_env()
    if world_size <= 1:
        yield None
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK") or 0)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=_timeout())
    except (dist.DistError, RuntimeError, ValueError) as error:
        raise PeerLostError(f"cannot join the other training processes: {error}") from error
    group = ProcessGroup(rank=rank, world_size=world_size, device=device)

    def on_signal(number: int, frame: FrameType | None) -> None:
        if number == signal.SIGINT and group.signalled:
            raise KeyboardInterrupt
        group.signalled.append(number)

    previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS}
    try:
        yield group
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        dist.destroy_process_group()
