"""`Chatbot`: the engine's facade for apps: load a model directory, reply to a conversation."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from engine.batching import encode_context
from engine.checkpoint import Checkpoint, DamagedWeightsError, load_checkpoint
from engine.decoding.config import DecodeConfig
from engine.decoding.generate import Generation, StopCallback, TokenCallback, generate
from engine.decoding.pool import PoolEntry
from engine.decoding.rerank import ANTI_LM, BACKWARD, ScoredCandidate, rerank
from engine.default_model import default_model_dir
from engine.device import resolve_device
from engine.errors import CheckpointError, DataError, GenerationError
from engine.model import Seq2Seq
from engine.pooled_reply import pooled_reply
from engine.refine import choose_exemplar, refined_context
from engine.reply import Alternative, Reply, text_key
from engine.retrieval import INDEX_FILE, ReplyIndex
from engine.sources import ReplySource
from engine.tokenizer import BOS_ID, EOS_ID, Tokenizer

if TYPE_CHECKING:
    from engine.memory import CorrectionMemory
    from engine.similar_turns import SimilarTurns
    from engine.turn_encoder import LoadedTurnEncoder

MAX_TURN_CHARS = 20_000  # longer turns are cut (the model reads ~100 tokens of context anyway)
BACKWARD_DIR = "backward"  # the p(context | reply) model that `rerank` scores with


class Chatbot:
    def __init__(self, checkpoint: Checkpoint, device: torch.device) -> None:
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.tokenizer = checkpoint.tokenizer
        self.config = checkpoint.config
        self.device = device
        self.quantized = False
        self.backward: Seq2Seq | None = None
        self.backward_problem: str | None = None  # why a backward/ folder could not be used
        self.memory: CorrectionMemory | None = None  # saved corrections consulted by `reply`
        self.index: ReplyIndex | None = None  # replies people wrote, for the `pool` strategy
        self.index_problem: str | None = None  # why no index could be opened
        self._turn_encoder: LoadedTurnEncoder | None = None
        self._similar: SimilarTurns | None = None
        self.similar_problem: str | None = None  # why the turn encoder cannot be used

    def turn_encoder(self) -> LoadedTurnEncoder | None:
        """The turn encoder beside the reply index (engine/turn_encoder.py), read on first
        use; None without an index or a usable `turn_encoder/` folder (`similar_problem`)."""
        if self._turn_encoder is None and self.similar_problem is None and self.index is not None:
            from engine.turn_encoder import TURN_ENCODER_DIR, load_turn_encoder

            try:
                self._turn_encoder = load_turn_encoder(self.index.path.parent / TURN_ENCODER_DIR)
            except CheckpointError as error:
                self.similar_problem = str(error)
        return self._turn_encoder

    def similar_turns(self) -> SimilarTurns | None:
        """The index's turns encoded by the turn encoder, on the first reply that asks for
        them (`similar` above 0: 14 s on two cores, once per loaded model); None without."""
        encoder = self.turn_encoder()
        if self._similar is None and encoder is not None and self.index is not None:
            from engine.similar_turns import SimilarTurns

            self._similar = SimilarTurns(encoder, self.index)
        return self._similar

    def load_index(self) -> None:
        """Open the model's reply index (`open_reply_index`); None leaves `pool` to the model's
        own candidates, and says why."""
        try:
            self.index = open_reply_index(self.checkpoint.directory, self.tokenizer)
        except DataError as error:
            self.index_problem = str(error)

    def load_backward(self) -> None:
        """Use the model folder's `backward/` model for `rerank`, if it has a usable one; a
        missing or unusable one leaves rerank on the anti-LM score (and says why)."""
        folder = self.checkpoint.directory / BACKWARD_DIR
        if not folder.exists() and not folder.is_symlink():
            return
        self.backward_problem = _not_a_folder(folder)
        if self.backward_problem is not None:
            return
        try:
            backward = load_checkpoint(folder, device=self.device)
        except DamagedWeightsError:
            raise  # unlike a missing ranker, it would score every reply NaN: refuse the model
        except CheckpointError as error:
            self.backward_problem = str(error)
            return
        if backward.config.direction != "backward":
            self.backward_problem = f"{folder} holds a forward model, not a backward one"
        elif backward.tokenizer.to_bytes() != self.tokenizer.to_bytes():
            # The same number of pieces is not the same pieces: ids would mean other words.
            self.backward_problem = f"{folder} was trained with another tokenizer"
        else:
            self.backward = backward.model

    @property
    def mmi_scorer(self) -> str:
        """What `rerank` weighs replies with: the backward model, or the anti-LM stand-in."""
        return BACKWARD if self.backward is not None else ANTI_LM

    @classmethod
    def load(
        cls,
        model_dir: str | Path | None = None,
        *,
        device: str = "auto",
        quantize: str | None = None,
    ) -> Chatbot:
        """Load `model_dir` (default: the shipped model) onto `device` (auto|cpu|cuda)."""
        torch_device = resolve_device(device)
        checkpoint = load_checkpoint(model_dir or default_model_dir(), device=torch_device)
        bot = cls(checkpoint, torch_device)
        bot.load_backward()
        bot.load_index()
        if quantize and quantize != "none":
            bot.quantize(quantize)
        return bot

    @property
    def model_dir(self) -> Path:
        return self.checkpoint.directory

    def quantize(self, kind: str) -> None:
        from engine.quantize import quantize_model

        self.model = quantize_model(self.model, kind, self.device)
        self.quantized = True

    def prepare_context(self, history: list[str]) -> tuple[list[int], list[int]]:
        """The encoder's ids for `history` (oldest turns dropped first) and the last turn's ids."""
        if not history:
            raise GenerationError("there is nothing to reply to: the conversation is empty")
        turns = []
        for turn in history:
            if not isinstance(turn, str) or not turn.strip():
                raise GenerationError("a message is empty: type something to send")
            turns.append(" ".join(turn[-MAX_TURN_CHARS:].split()))
        context = encode_context(self.tokenizer, turns, self.config)
        return context, self.tokenizer.encode(turns[-1])

    @torch.inference_mode()
    def attention(
        self, history: list[str], reply_text: str
    ) -> tuple[list[str], list[str], list[list[float]]]:
        """Context pieces, reply pieces and the attention of each reply piece over the context,
        from teacher-forcing `reply_text` (so any stored reply can be explained later)."""
        context, _ = self.prepare_context(history)
        target = self.tokenizer.encode(reply_text)[: self.config.max_response_tokens] or [EOS_ID]
        src = torch.tensor([context], device=self.device)
        memory, hidden = self.model.encode(src, torch.tensor([len(context)]))
        inputs = torch.tensor([[BOS_ID, *target[:-1]]], device=self.device)
        _, _, weights = self.model.decoder(inputs, hidden, memory)  # (1, T, S)
        pieces = self.tokenizer.pieces(target)
        return self.tokenizer.pieces(context), pieces, weights[0].float().cpu().tolist()

    def reply(
        self,
        history: list[str],
        config: DecodeConfig | None = None,
        *,
        on_token: TokenCallback | None = None,
        should_stop: StopCallback | None = None,
        avoid: Collection[str] = (),
    ) -> Reply:
        """Reply to the last turn of `history` (user and bot turns alternating, oldest first).

        `avoid`: replies already given to this turn (Regenerate): the first candidate that is
        none of them is the reply, so a strategy whose pick does not depend on the seed (the
        pool, beam search) still gives another one."""
        reply = self._reply(history, config, on_token=on_token, should_stop=should_stop)
        return self._usable(history, reply, avoid)

    def _reply(
        self,
        history: list[str],
        config: DecodeConfig | None,
        *,
        on_token: TokenCallback | None,
        should_stop: StopCallback | None,
    ) -> Reply:
        config = config or DecodeConfig()
        started = time.perf_counter()
        context, user_turn = self.prepare_context(history)
        # A retrieve-and-refine model writes from the context and the pool's best reply people
        # wrote; every candidate is still scored on the context alone, so sources compare.
        exemplar = choose_exemplar(self, history, context, config)
        written_from = refined_context(self, context, exemplar)
        if config.strategy == "pool" and config.retrieved and self.index is not None:
            self.index.search_ahead(history[-1], config.retrieved)
        generation = generate(
            self.model,
            self.tokenizer,
            written_from,
            config,
            user_turn_ids=user_turn,
            on_token=on_token,
            should_stop=should_stop,
            device=self.device,
        )
        if config.strategy == "pool":
            reply = pooled_reply(
                self, generation, config, history, context, started=started,
                refined=exemplar is not None,
            )  # fmt: skip
            return _with_exemplar(reply, exemplar, written_from, self.tokenizer)
        if config.strategy == "rerank":
            reranked = self._reranked(generation, config, context, history[-1], started)
            reranked = _with_exemplar(reranked, exemplar, written_from, self.tokenizer)
            return self._consult_memory(history, reranked)
        best = generation.hypotheses[0]
        total_ms = (time.perf_counter() - started) * 1000
        reply = Reply(
            text=generation.texts[0],
            tokens=list(best.tokens),
            alternatives=[
                Alternative(text, hypothesis.score, hypothesis.finished)
                for text, hypothesis in zip(generation.texts, generation.hypotheses)
            ],
            config=config,
            seed=generation.seed,
            cancelled=generation.cancelled,
            first_token_ms=_first_token_ms(generation, total_ms),
            total_ms=total_ms,
            context_pieces=self.tokenizer.pieces(written_from),
            reply_pieces=self.tokenizer.pieces(best.tokens),
            attention=generation.attention[0],
        )
        return self._consult_memory(history, _with_exemplar(reply, exemplar))

    def _consult_memory(self, history: list[str], reply: Reply) -> Reply:
        """A saved correction matching the last turn may give the reply (engine/memory.py)."""
        reply = self._usable(history, reply)
        if self.memory is None or not len(self.memory):
            return reply
        return self.memory.consult(self, history, reply)

    def _usable(self, history: list[str], reply: Reply, avoid: Collection[str] = ()) -> Reply:
        """`reply`, or the first candidate with text that is not one to avoid. A blank reply
        (a model can end a reply at once) gives way to one with text; with none, the blank
        reply, which callers show as "(no reply)" and never store. With nothing but replies to
        avoid, the reply as it is (a turn has only so many answers)."""
        avoided = {text_key(text) for text in avoid}
        kept = [
            alternative
            for alternative in reply.alternatives
            if alternative.text.strip() and text_key(alternative.text) not in avoided
        ]
        if (reply.text.strip() and text_key(reply.text) not in avoided) or not kept:
            return reply
        best = kept[0]
        tokens = self.tokenizer.encode(best.text)[: self.config.max_response_tokens]
        _, pieces, attention = self.attention(history, best.text)
        return replace(
            reply,
            text=best.text,
            tokens=tokens,
            alternatives=kept,
            reply_pieces=pieces,
            attention=attention,
            source=best.source,
            origin=best.origin,
        )

    def _reranked(
        self,
        generation: Generation,
        config: DecodeConfig,
        context: list[int],
        last_turn: str,
        started: float,
    ) -> Reply:
        """The candidates of a `rerank` generation (samples or beam search's n-best), best
        first by MMI, less those below the fluency floor."""
        ranked: list[ScoredCandidate] = []
        if not generation.cancelled:
            ranked = rerank(
                generation.hypotheses,
                model=self.model,
                tokenizer=self.tokenizer,
                last_turn=" ".join(last_turn[-MAX_TURN_CHARS:].split()),
                mmi_weight=config.mmi_weight,
                backward=self.backward,
                device=self.device,
                anti_lm_weight=config.anti_lm_weight,
                fluency_floor=config.fluency_floor,
            )
        if not ranked:  # stopped before scoring, or nothing but empty replies: the first as is
            ranked = [ScoredCandidate(generation.hypotheses[0], 0, 0.0, 0.0, 0.0)]
        best = ranked[0]
        total_ms = (time.perf_counter() - started) * 1000
        return Reply(
            text=generation.texts[best.index],
            tokens=list(best.hypothesis.tokens),
            alternatives=[
                Alternative(
                    generation.texts[candidate.index],
                    candidate.score,
                    candidate.hypothesis.finished,
                    forward_score=candidate.forward,
                    mmi_score=candidate.mmi,
                )
                for candidate in ranked
            ],
            config=config,
            seed=generation.seed,
            cancelled=generation.cancelled,
            first_token_ms=total_ms,  # nothing shows until the candidates are scored
            total_ms=total_ms,
            context_pieces=self.tokenizer.pieces(context),
            reply_pieces=self.tokenizer.pieces(best.hypothesis.tokens),
            attention=generation.attention[best.index],
            scorer=self.mmi_scorer,
        )


def _not_a_folder(folder: Path) -> str | None:
    """Why `folder` (which exists, or is a link) cannot hold a model, in words; None if it can."""
    if folder.is_symlink():
        try:
            folder.stat()
        except OSError as error:
            if error.errno == errno.ELOOP:
                return f"{folder} is a link that leads back to itself (a loop)"
            return f"{folder} is a link that leads nowhere ({os.readlink(folder)})"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder holding a backward model"
    return None


def _first_token_ms(generation: Generation, total_ms: float) -> float | None:
    if generation.first_token_s is None:
        return None
    return generation.first_token_s * 1000 + (total_ms - generation.total_s * 1000)


def _with_exemplar(
    reply: Reply,
    exemplar: PoolEntry | None,
    written_from: Sequence[int] = (),
    tokenizer: Tokenizer | None = None,
) -> Reply:
    """`reply`, saying which reply people wrote the model read (Details shows it), and, when
    the model wrote the reply, its attention over that exemplar too."""
    if exemplar is None:
        return reply
    reply = replace(reply, exemplar=exemplar.text, exemplar_origin=exemplar.origin)
    if tokenizer is not None and reply.source is ReplySource.MODEL and reply.attention:
        reply = replace(reply, context_pieces=tokenizer.pieces(written_from))
    return reply


def open_reply_index(directory: Path, tokenizer: Tokenizer) -> ReplyIndex:
    """The reply index beside the model in `directory`; a model without one that shares the
    shipped model's tokenizer (the shipped model's fine-tuned versions, or a larger model
    trained on its pieces) uses the shipped index (it is text). DataError says why none."""
    own = directory / INDEX_FILE
    if own.is_file():
        return ReplyIndex.open(own)
    shipped = default_model_dir() / INDEX_FILE
    if shipped.is_file() and shares_shipped_tokenizer(tokenizer):
        return ReplyIndex.open(shipped)
    raise DataError(f"no {INDEX_FILE} beside the model")


def shares_shipped_tokenizer(tokenizer: Tokenizer) -> bool:
    """Whether `tokenizer` is the shipped model's, so the shipped reply index serves it."""
    try:
        shipped = (default_model_dir() / "tokenizer.model").read_bytes()
    except OSError:
        return False
    return shipped == tokenizer.to_bytes()
