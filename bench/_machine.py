"""What this machine can do, measured: fp32 matmul GFLOP/s and memory bandwidth, plus context.

The benchmarks divide a model's FLOPs and bytes by these figures to say how far a measured time
is from the machine's own limit. Both figures are measured with the same thread count as the
benchmark itself, so a busy machine (another training job) lowers both sides alike.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch


def best_seconds(run: Any, *, repeats: int = 5, warmup: int = 1) -> float:
    """The fastest of `repeats` timed calls: the least disturbed by other processes."""
    for _ in range(warmup):
        run()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_gflops(m: int = 1024, k: int = 1024, n: int = 1024, *, repeats: int = 15) -> float:
    """fp32 GFLOP/s of an (m x k) @ (k x n) product, 2mkn FLOPs; by default a large square
    one, the best rate this machine's BLAS reaches."""
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    out = torch.empty(m, n)
    seconds = best_seconds(lambda: torch.mm(a, b, out=out), repeats=repeats)
    return 2 * m * k * n / seconds / 1e9


def sustained_matmul_gflops(seconds: float = 0.5, *, repeats: int = 3, size: int = 1024) -> float:
    """The same product, timed over runs as long as `seconds` (best of `repeats`). A short
    product can slip into a quiet moment of a shared machine; a training step cannot, so this
    is the fair yardstick for long work while another job competes for the cores."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    count = max(1, round(seconds * matmul_gflops(size, size, size) * 1e9 / (2 * size**3)))

    def run() -> None:
        for _ in range(count):
            torch.mm(a, b, out=out)

    return count * 2 * size**3 / best_seconds(run, repeats=repeats, warmup=0) / 1e9


def memory_bandwidth_gbs(megabytes: int = 256, *, repeats: int = 5) -> float:
    """GB/s of a large tensor copy (read + write counted), far bigger than any cache."""
    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    seconds = best_seconds(lambda: target.copy_(source), repeats=repeats)
    return 2 * source.numel() * 4 / seconds / 1e9


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict[str, Any]:
    """Context for the figures: the CPU, the threads used and how busy the machine was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1m": load[0],
    }


def machine_figures(*, tries: int = 3) -> dict[str, Any]:
    """The machine's figures, each the best of `tries` measurements a second apart: on a
    shared machine a single measurement may land in another process's burst."""
    matmul, memory = 0.0, 0.0
    for attempt in range(tries):
        if attempt:
            time.sleep(1.0)
        matmul = max(matmul, matmul_gflops())
        memory = max(memory, memory_bandwidth_gbs())
    return {**describe(), "matmul_gflops": round(matmul, 2), "memory_gbs": round(memory, 2)}
