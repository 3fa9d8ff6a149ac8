"""Dynamic int8 quantization for faster CPU inference."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from engine.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from engine.model import Seq2Seq

QUANTIZE_CHOICES = ("none", "int8")


def quantize_model(model: Seq2Seq, kind: str, device: torch.device) -> Seq2Seq:
    """int8 weights for the Linear and GRU layers (activations stay float)."""
    import torch
    from torch import nn

    if kind in (None, "none"):
        return model
    if kind != "int8":
        raise ConfigError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {kind!r}")
    if device.type != "cpu":
        raise ConfigError("int8 quantization is for the CPU; use --device cpu or --quantize none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice, not actionable here
        quantized = torch.ao.quantization.quantize_dynamic(
            model, {nn.Linear, nn.GRU}, dtype=torch.qint8
        )
    return quantized.eval()
