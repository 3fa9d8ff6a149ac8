"""Decoding strategies: they see only log-probabilities and say which tokens come next.

The generation loop calls `advance(log_probs)` once per step; the strategy returns `reorder`,
the rows of the previous state each new row continues (identity for greedy and sampling, a
permutation with repeats for beam search), so the loop can `index_select` the decoder state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.decoding.processors import NEG_INF, apply_temperature, top_k_filter, top_p_filter
from engine.tokenizer import EOS_ID


@dataclass
class Hypothesis:
    tokens: list[int]  # without bos; without eos
    score: float  # the ranking score (length-normalised for beam search)
    # the summed log-probability of the tokens (and of eos when finished); beam search and
    # `MultiSample` sum the model's own, before the processors (a repetition penalty), which is
    # what MMI's forward term needs
    log_prob: float
    finished: bool  # ended with eos (False: cut by max_length or by a stop)
    rows: list[int] = field(default_factory=list)  # beam row at each step (to recover attention)


class GreedySearch:
    """One row; picks the likeliest token, or samples one when `sample` is set."""

    def __init__(
        self,
        *,
        sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.sample = sample
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.generator = generator
        self.sequences: list[list[int]] = [[]]
        self.log_prob = 0.0
        self.done = False
        self.finished = False

    @property
    def rows(self) -> int:
        return 1

    def choose(self, log_probs: torch.Tensor) -> int:
        if not self.sample:
            return int(torch.argmax(log_probs[0]))
        filtered = top_p_filter(
            top_k_filter(apply_temperature(log_probs, self.temperature), self.top_k), self.top_p
        )
        probabilities = torch.softmax(filtered[0].float(), dim=-1)
        return int(torch.multinomial(probabilities, 1, generator=self.generator))

    def advance(self, log_probs: torch.Tensor) -> torch.Tensor:
        """log_probs (1, V) -> reorder index (1,)."""
        token = self.choose(log_probs)
        self.log_prob += float(log_probs[0, token])
        if token == EOS_ID:
            self.done = self.finished = True
        else:
            self.sequences[0].append(token)
        return torch.zeros(1, dtype=torch.long, device=log_probs.device)

    def next_input(self) -> list[int]:
        return [self.sequences[0][-1]]

    def results(self) -> list[Hypothesis]:
        tokens = list(self.sequences[0])
        return [Hypothesis(tokens, self.log_prob, self.log_prob, self.finished, [0] * len(tokens))]


class MultiSample:
    """`count` replies sampled side by side, folded into the batch like beams, so `rerank`
    draws all its candidates in one pass. The first step fans the one row out; a row that has
    ended is fed eos and keeps its reply while the others go on."""

    def __init__(
        self,
        *,
        count: int,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.count = count
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.generator = generator
        self.sequences: list[list[int]] = [[]]
        self.log_probs = [0.0]  # of the drawn tokens, as the processors left them
        self.model_log_probs = [0.0]  # of the same tokens, as the model gave them
        self.ended = [False]
        self.done = False
        self._drawn: list[tuple[int, int]] = []  # (row, token) of the live rows this step

    @property
    def rows(self) -> int:
        return len(self.sequences)

    def advance(self, log_probs: torch.Tensor) -> torch.Tensor:
        """log_probs (K, V) -> reorder index: (count,) zeros on the first step, then identity."""
        if self.rows == 1 and self.count > 1:
            log_probs = log_probs.expand(self.count, -1)  # (N, V)
            self.sequences = [[] for _ in range(self.count)]
            self.log_probs = [0.0] * self.count
            self.model_log_probs = [0.0] * self.count
            self.ended = [False] * self.count
            reorder = torch.zeros(self.count, dtype=torch.long, device=log_probs.device)
        else:
            reorder = torch.arange(self.rows, device=log_probs.device)
        tokens = self.draw(log_probs)
        self._drawn = [(row, token) for row, token in enumerate(tokens) if not self.ended[row]]
        for row, token in self._drawn:
            self.log_probs[row] += float(log_probs[row, token])
            if token == EOS_ID:
                self.ended[row] = True
            else:
                self.sequences[row].append(token)
        self.done = all(self.ended)
        return reorder

    def add_model_log_probs(self, model_log_probs: torch.Tensor) -> None:
        """After `advance`: the model's own log-probs (K, V) of this step, before any
        processor, so each reply's log p(reply | context) needs no second pass to rescore."""
        if not self._drawn:
            return
        rows = [min(row, model_log_probs.size(0) - 1) for row, _ in self._drawn]
        picked = model_log_probs[rows, [token for _, token in self._drawn]].tolist()
        for (row, _), value in zip(self._drawn, picked):
            self.model_log_probs[row] += value

    def draw(self, log_probs: torch.Tensor) -> list[int]:
        """One token per row from the temperature / top-k / top-p distribution. The k
        likeliest are cut out first, so the nucleus sort and the draw run over k tokens a row,
        not the whole vocabulary (16 rows x 8,000 pieces made them most of a step)."""
        scaled = apply_temperature(log_probs.float(), self.temperature)  # (N, V)
        if 0 < self.top_k < scaled.size(-1):
            values, ids = torch.topk(scaled, self.top_k, dim=-1)  # (N, k), likeliest first
        else:
            values, ids = torch.sort(scaled, descending=True, dim=-1)
        if self.top_p < 1.0:
            probabilities = torch.softmax(values, dim=-1)
            # Drop a token when the likelier ones before it already hold top_p.
            values = values.masked_fill(probabilities.cumsum(-1) - probabilities >= self.top_p,
                                        NEG_INF)  # fmt: skip
        choice = torch.multinomial(torch.softmax(values, dim=-1), 1, generator=self.generator)
        return ids.gather(-1, choice)[:, 0].tolist()

    def next_input(self) -> list[int]:
        return [
            EOS_ID if ended or not sequence else sequence[-1]
            for sequence, ended in zip(self.sequences, self.ended)
        ]

    def results(self) -> list[Hypothesis]:
        """Every sampled reply in row order: `score` is its log-probability as drawn, `log_prob`
        the model's own (eos included when it ended); the first step ran on row 0, the rest on
        each row's own."""
        return [
            Hypothesis(list(tokens), score, log_prob, ended, [0] + [row] * (len(tokens) - 1))
            for row, (tokens, score, log_prob, ended) in enumerate(
                zip(self.sequences, self.log_probs, self.model_log_probs, self.ended)
            )
        ]


class BeamSearch:
    """Beam search with the beams folded into the batch dimension.

    Scores are summed log-probabilities; finished hypotheses are ranked by the GNMT length
    penalty `score / ((5 + length) / 6) ** alpha`. The search ends when `beam_size` hypotheses
    have finished, or at `max_length`, when the live beams join the finished ones.
    """

    def __init__(self, *, beam_size: int, n_best: int, length_penalty: float) -> None:
        self.beam_size = beam_size
        self.n_best = n_best
        self.alpha = length_penalty
        self.sequences: list[list[int]] = [[]]
        self.histories: list[list[int]] = [[]]  # the row each step of a beam came from
        self.scores = torch.zeros(1)
        # Each live beam's log p(tokens | context) as the model gave it, before the processors
        # (a repetition penalty changes `scores`), so MMI over the n-best needs no rescoring.
        self.model_scores = [0.0]
        self.finished: list[Hypothesis] = []
        self.done = False

    @property
    def rows(self) -> int:
        return len(self.sequences)

    def normalise(self, score: float, length: int) -> float:
        return score / (((5 + length) / 6) ** self.alpha)

    def advance(
        self, log_probs: torch.Tensor, model_log_probs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log_probs (K, V) for the live beams -> reorder index (K',) into the previous rows.

        `model_log_probs` (K, V): the model's own, before the processors, summed into each
        hypothesis's `log_prob` (without them, `log_probs` are the model's)."""
        vocab = log_probs.size(-1)
        candidates = self.scores.to(log_probs.device).unsqueeze(1) + log_probs.float()  # (K, V)
        count = min(2 * self.beam_size, candidates.numel())
        top_scores, top_ids = torch.topk(candidates.view(-1), count)
        own = log_probs if model_log_probs is None else model_log_probs
        steps = own.reshape(-1)[top_ids].tolist()  # one copy, not one per candidate
        sources = (top_ids // vocab).tolist()
        tokens = (top_ids % vocab).tolist()
        new_sequences, new_histories, new_scores, new_model, reorder = [], [], [], [], []
        for score, step, source, token in zip(top_scores.tolist(), steps, sources, tokens):
            if score == float("-inf"):
                break
            history = [*self.histories[source], source]
            model_score = self.model_scores[source] + step
            if token == EOS_ID:
                length = len(self.sequences[source]) + 1
                self.finished.append(
                    Hypothesis(
                        list(self.sequences[source]),
                        self.normalise(score, length),
                        model_score,
                        True,
                        history,
                    )
                )
                continue
            new_sequences.append([*self.sequences[source], token])
            new_histories.append(history)
            new_scores.append(score)
            new_model.append(model_score)
            reorder.append(source)
            if len(new_sequences) == self.beam_size:
                break
        self.sequences, self.histories = new_sequences, new_histories
        self.scores = torch.tensor(new_scores)
        self.model_scores = new_model
        if len(self.finished) >= self.beam_size or not self.sequences:
            self.done = True
        return torch.tensor(reorder, dtype=torch.long, device=log_probs.device)

    def next_input(self) -> list[int]:
        return [sequence[-1] for sequence in self.sequences]

    def results(self) -> list[Hypothesis]:
        """The n-best list, best first; live beams count when too few have finished."""
        pool = list(self.finished)
        if len(pool) < self.n_best:
            for sequence, history, score, model_score in zip(
                self.sequences, self.histories, self.scores.tolist(), self.model_scores
            ):
                pool.append(
                    Hypothesis(
                        list(sequence),
                        self.normalise(score, len(sequence)),
                        model_score,
                        False,
                        history,
                    )
                )
        pool.sort(key=lambda hypothesis: hypothesis.score, reverse=True)
        return pool[: self.n_best]
