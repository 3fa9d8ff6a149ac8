"""Small pure functions that reshape next-token log-probabilities before a strategy picks.

Each takes `log_probs` (K, V) for K rows (beams or one sample) and returns a new tensor; none
needs a model, so each is tested on made-up numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

NEG_INF = float("-inf")


def ban_tokens(log_probs: torch.Tensor, token_ids: Iterable[int]) -> torch.Tensor:
    ids = list(token_ids)
    if not ids:
        return log_probs
    log_probs = log_probs.clone()
    log_probs[:, ids] = NEG_INF
    return log_probs


def ngram_table(tokens: Sequence[int], n: int) -> dict[tuple[int, ...], set[int]]:
    """Maps each (n-1)-token prefix seen in `tokens` to the tokens that followed it."""
    table: dict[tuple[int, ...], set[int]] = {}
    for start in range(len(tokens) - n + 1):
        prefix = tuple(tokens[start : start + n - 1])
        table.setdefault(prefix, set()).add(tokens[start + n - 1])
    return table


def block_ngrams(
    log_probs: torch.Tensor,
    sequences: Sequence[Sequence[int]],
    n: int,
    *,
    extra_table: dict[tuple[int, ...], set[int]] | None = None,
) -> torch.Tensor:
    """Ban any token that would repeat an n-gram of the row's own sequence (or of `extra_table`).

    With `n` = 1 a row may not repeat any token; `extra_table` holds the context's n-grams,
    which stops the bot from parroting the user.
    """
    if n <= 0:
        return log_probs
    banned_rows: list[tuple[int, list[int]]] = []
    for row, sequence in enumerate(sequences):
        if len(sequence) < n - 1:
            continue
        prefix = tuple(sequence[len(sequence) - n + 1 :]) if n > 1 else ()
        banned = set(ngram_table(sequence, n).get(prefix, ()))
        if extra_table:
            banned |= extra_table.get(prefix, set())
        if banned:
            banned_rows.append((row, sorted(banned)))
    if not banned_rows:
        return log_probs
    log_probs = log_probs.clone()
    for row, banned in banned_rows:
        log_probs[row, banned] = NEG_INF
    return log_probs


def repetition_penalty(
    log_probs: torch.Tensor, sequences: Sequence[Sequence[int]], penalty: float
) -> torch.Tensor:
    """CTRL's penalty (Keskar et al. 2019) on log-probabilities: tokens already said in the row
    get their (negative) log-probability multiplied by `penalty`, i.e. made less likely."""
    if penalty == 1.0:
        return log_probs
    log_probs = log_probs.clone()
    for row, sequence in enumerate(sequences):
        if sequence:
            ids = torch.tensor(sorted(set(sequence)), device=log_probs.device)
            values = log_probs[row, ids]
            log_probs[row, ids] = torch.where(values < 0, values * penalty, values / penalty)
    return log_probs


def apply_temperature(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    return log_probs if temperature == 1.0 else log_probs / temperature


def top_k_filter(log_probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k likeliest tokens of each row (k = 0 keeps all)."""
    if k <= 0 or k >= log_probs.size(-1):
        return log_probs
    kth = torch.topk(log_probs, k, dim=-1).values[:, -1:]  # (K, 1)
    return log_probs.masked_fill(log_probs < kth, NEG_INF)


def top_p_filter(log_probs: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the smallest set of the likeliest tokens
    whose probability reaches `p`; the likeliest token always stays."""
    if p >= 1.0:
        return log_probs
    sorted_lp, order = torch.sort(log_probs, descending=True, dim=-1)
    cumulative = torch.softmax(sorted_lp, dim=-1).cumsum(dim=-1)
    # Drop a token when the tokens before it already hold p.
    drop_sorted = (cumulative - torch.softmax(sorted_lp, dim=-1)) >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return log_probs.masked_fill(drop, NEG_INF)
