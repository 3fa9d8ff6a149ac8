"""Small pure functions that reshape next-token log-probabilities before a strategy picks.

Each takes `log_probs` (K, V) for K rows (beams or one sample) and returns a new tensor; none
needs a model, so each is tested on made-up numbers. `NgramBlocker` is the one with state: the
generation loop keeps each row's n-grams up to date step by step instead of recounting them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import torch

NEG_INF = float("-inf")


def ban_tokens(log_probs: torch.Tensor, token_ids: Iterable[int] | torch.Tensor) -> torch.Tensor:
    """-inf for `token_ids` in every row (a long tensor on the device saves building one)."""
    if not isinstance(token_ids, torch.Tensor):
        token_ids = torch.tensor(list(token_ids), dtype=torch.long, device=log_probs.device)
    if token_ids.numel() == 0:
        return log_probs
    return log_probs.index_fill(1, token_ids, NEG_INF)


def ngram_table(tokens: Sequence[int], n: int) -> dict[tuple[int, ...], set[int]]:
    """Maps each (n-1)-token prefix seen in `tokens` to the tokens that followed it."""
    table: dict[tuple[int, ...], set[int]] = {}
    for start in range(len(tokens) - n + 1):
        prefix = tuple(tokens[start : start + n - 1])
        table.setdefault(prefix, set()).add(tokens[start + n - 1])
    return table


NgramTable = dict[tuple[int, ...], frozenset[int]]


class NgramBlocker:
    """Bans any token that would repeat an n-gram of the row's own sequence (or of `extra_table`).

    Each row keeps the table of its own n-grams (prefix -> followers). The generation loop calls
    `advance` once a step, which adds each row's one new n-gram to the table of the row it
    continues, instead of rebuilding every table from the whole sequence each step. Tables are
    never changed in place (a new dict when an n-gram is new), so beams that fork from one row
    share its table safely.
    """

    def __init__(
        self,
        n: int,
        *,
        extra_table: dict[tuple[int, ...], set[int]] | None = None,
        block_own: bool = True,
    ) -> None:
        self.n = n
        self.extra_table = extra_table or {}
        # False: only `extra_table` is banned; the reply may repeat itself (that is the
        # separate no-repeat knob's job), so its own n-grams are not even tracked.
        self.block_own = block_own
        self.tables: list[NgramTable] = [{}]

    @classmethod
    def from_sequences(
        cls,
        sequences: Sequence[Sequence[int]],
        n: int,
        *,
        extra_table: dict[tuple[int, ...], set[int]] | None = None,
        block_own: bool = True,
    ) -> NgramBlocker:
        blocker = cls(n, extra_table=extra_table, block_own=block_own)
        if block_own:
            blocker.tables = [
                {prefix: frozenset(followers) for prefix, followers in ngram_table(seq, n).items()}
                for seq in sequences
            ]
        return blocker

    def advance(self, sources: Sequence[int], sequences: Sequence[Sequence[int]]) -> None:
        """Row i of `sequences` is row `sources[i]` of the previous step plus one token."""
        if not self.block_own:
            return
        n, tables = self.n, []
        for source, sequence in zip(sources, sequences):
            table = self.tables[source]
            if len(sequence) >= n:
                prefix, token = tuple(sequence[len(sequence) - n : -1]), sequence[-1]
                followers = table.get(prefix, frozenset())
                if token not in followers:
                    table = {**table, prefix: followers | {token}}
            tables.append(table)
        self.tables = tables

    def __call__(self, log_probs: torch.Tensor, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
        rows: list[int] = []
        columns: list[int] = []
        tables = self.tables if self.block_own else itertools.repeat({})
        for row, (table, sequence) in enumerate(zip(tables, sequences)):
            if len(sequence) < self.n - 1:
                continue
            prefix = tuple(sequence[len(sequence) - self.n + 1 :])
            banned = table.get(prefix, frozenset()) | self.extra_table.get(prefix, frozenset())
            rows.extend([row] * len(banned))
            columns.extend(banned)
        if not rows:
            return log_probs
        log_probs = log_probs.clone()
        log_probs[rows, columns] = NEG_INF
        return log_probs


def block_ngrams(
    log_probs: torch.Tensor,
    sequences: Sequence[Sequence[int]],
    n: int,
    *,
    extra_table: dict[tuple[int, ...], set[int]] | None = None,
    block_own: bool = True,
) -> torch.Tensor:
    """Ban any token that would repeat an n-gram of the row's own sequence (or of `extra_table`).

    With `n` = 1 a row may not repeat any token; `extra_table` holds the context's n-grams,
    which stops the bot from parroting the user; `block_own=False` bans only those.
    (`NgramBlocker` does the same step by step.)
    """
    if n <= 0:
        return log_probs
    blocker = NgramBlocker.from_sequences(
        sequences, n, extra_table=extra_table, block_own=block_own
    )
    return blocker(log_probs, sequences)


def repetition_penalty(
    log_probs: torch.Tensor, sequences: Sequence[Sequence[int]], penalty: float
) -> torch.Tensor:
    """CTRL's penalty (Keskar et al. 2019) on log-probabilities: tokens already said in the row
    get their (negative) log-probability multiplied by `penalty`, i.e. made less likely."""
    if penalty == 1.0 or not any(sequences):
        return log_probs
    # Gather the said tokens' values, penalise them, scatter them back: work on (K, L) values
    # rather than (K, V) masks. Short rows are padded with their own first token (written twice
    # with the same value); an empty row with token 0 and its value unchanged.
    longest = max(map(len, sequences))
    rows = [[*seq, *[seq[0] if seq else 0] * (longest - len(seq))] for seq in sequences]
    ids = torch.tensor(rows, dtype=torch.long, device=log_probs.device)  # (K, L)
    values = log_probs.gather(1, ids)  # (K, L)
    penalised = torch.where(values < 0, values * penalty, values / penalty)
    if not all(sequences):
        said = torch.tensor([bool(s) for s in sequences], device=log_probs.device).unsqueeze(1)
        penalised = torch.where(said, penalised, values)
    return log_probs.scatter(1, ids, penalised)


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
