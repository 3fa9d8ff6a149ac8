"""The one thread that runs the model for the API, behind a bounded queue.

The event loop never runs the model: a request becomes a `Job`, the worker thread takes jobs one
at a time (one `engine.Chatbot`, so the model never runs on two threads at once) and reports
through the job's `emit` callback: `ChoiceStarted`, `TextDelta`s, `ChoiceDone`, then `Finished`
or `Failed`. More than `queue_size` jobs waiting or running: `submit` refuses with a 503.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatapp.server.events import (
    Choice,
    ChoiceDone,
    ChoiceStarted,
    Event,
    Failed,
    Finished,
    TextDelta,
    Usage,
)
from chatapp.server.history import ApiHistory
from chatapp.server.protocol import ApiError, GenerationRequest
from chatapp.server.streaming import TextStream, cut_at_stop
from chatapp.store import StoreError
from engine.decoding.config import DecodeConfig
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine import Chatbot, Reply

STREAMING_STRATEGIES = ("greedy", "sample")  # the others choose a reply only at the end


# Strategies whose one reply ranks n distinct alternatives: n choices come from one call.
RANKED = ("beam", "pool")


def ranked(config: DecodeConfig) -> bool:
    """Whether one reply ranks n distinct alternatives whatever the seed: beam search, the
    pool, and rerank over beam search's n-best (n seeded reranks would give n copies)."""
    beam_candidates = config.strategy == "rerank" and config.candidate_search == "beam"
    return config.strategy in RANKED or beam_candidates


@dataclass
class Job:
    request: GenerationRequest
    emit: Callable[[Event], None]  # called on the worker thread; must not block
    cancelled: threading.Event = field(default_factory=threading.Event)  # the client left


class ModelWorker:
    def __init__(
        self,
        load: Callable[[], Chatbot],
        *,
        queue_size: int,
        history: ApiHistory | None = None,
    ) -> None:
        self._load, self.queue_size, self.history = load, queue_size, history
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._count_lock = threading.Lock()
        self._pending = 0  # jobs waiting or running
        self._seconds_per_job = 1.0  # a running average, for Retry-After
        # Held while the model runs: whatever else needs the bot to itself takes it too.
        self.model_lock = threading.Lock()
        self.ready = threading.Event()  # the model loaded (or failed to: `load_error`)
        self.load_error: str | None = None
        self.bot: Chatbot | None = None
        self._thread = threading.Thread(target=self._run, name="api-model-worker", daemon=True)

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the job running, drop those waiting, end the thread."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.emit(Failed(ApiError(503, "the server is shutting down", kind="server_error")))
                self._done()
        if self._thread.ident is not None:  # started
            self._jobs.put(None)
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        """Queue `job`, or refuse with 503 and a Retry-After when the queue is full."""
        with self._count_lock:
            if self._pending >= self.queue_size:
                wait = max(1, math.ceil(self._seconds_per_job * self._pending))
                raise ApiError(
                    503,
                    f"the model is busy ({self._pending} requests waiting or running); "
                    f"try again in {wait} s",
                    kind="server_error",
                    code="queue_full",
                    headers={"Retry-After": str(wait)},
                )
            self._pending += 1
        self._jobs.put(job)

    def _done(self) -> None:
        with self._count_lock:
            self._pending -= 1

    def _run(self) -> None:
        try:
            self.bot = self._load()
        except Exception as error:  # whatever it is, /health and every request then say it
            self.load_error = str(error) or type(error).__name__
        self.ready.set()
        while (job := self._jobs.get()) is not None:
            started = time.perf_counter()
            outcome = self._outcome(job)
            self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * (
                time.perf_counter() - started
            )
            # Counted out before the client hears the end: a client that sends its next request
            # at once must not find its own finished one still holding a place in the queue.
            self._done()
            if outcome is not None:
                job.emit(outcome)

    def _outcome(self, job: Job) -> Finished | Failed | None:
        """The job's last event (None if its client has gone)."""
        if job.cancelled.is_set():
            return None
        try:
            with self.model_lock:
                return self._serve(job)
        except ApiError as error:
            return Failed(error)
        except Exception as error:  # a bug must cost one request, never the worker thread
            message = f"the model failed on this request: {type(error).__name__}: {error}"
            return Failed(ApiError(500, message, kind="server_error"))

    def _serve(self, job: Job) -> Finished:
        if self.bot is None:
            raise ApiError(
                500, f"the model could not be loaded: {self.load_error}", kind="server_error"
            )
        request = job.request
        conversation_id = None
        if self.history is not None:
            try:
                conversation_id = self.history.add_turns(request.history)
            except StoreError as error:  # as `chat --db`: an unsaved turn is not answered
                raise ApiError(
                    500, f"the conversation could not be saved, so nothing was generated: {error}",
                    kind="server_error",
                ) from None  # fmt: skip
        try:
            choices, replies = self._choices(self.bot, job)
        except EngineError as error:
            raise ApiError(400, str(error), param="messages") from None
        if conversation_id is not None and self.history is not None:
            try:
                self.history.add_reply(
                    conversation_id, request.history, choices[0].text, replies[0]
                )
            except StoreError as error:
                raise ApiError(
                    500, f"the reply could not be saved: {error}", kind="server_error"
                ) from None
        # Beam search's n best come from one search: its best reply's tokens are counted.
        usage = Usage(len(replies[0].context_pieces), sum(len(r.tokens) for r in replies))
        return Finished(tuple(choices), usage)

    def _choices(self, bot: Chatbot, job: Job) -> tuple[list[Choice], list[Reply]]:
        """The request's n choices: beam search's n best from one search, the pool's (and
        rerank over the beam's) n best from one call (its pick does not depend on the seed), and
        otherwise n generations, each with its own seed (seed + i when a seed is given). A pool
        with fewer than n distinct candidates is filled up with sampled replies."""
        request, history = job.request, list(job.request.history)
        choices: list[Choice] = []
        replies: list[Reply] = []
        fill = request.config
        if ranked(request.config):
            reply = bot.reply(history, request.config, should_stop=job.cancelled.is_set)
            for index, alternative in enumerate(reply.alternatives[: request.n]):
                text, stopped = cut_at_stop(alternative.text, request.stop)
                job.emit(ChoiceStarted(index))
                if text:
                    job.emit(TextDelta(index, text))
                finish = "stop" if stopped or alternative.finished else "length"
                choices.append(Choice(index, text, finish))
                job.emit(ChoiceDone(choices[-1]))
            replies.append(reply)
            if request.config.strategy == "beam" or len(choices) == request.n:
                return choices, replies
            fill = request.config.replace(strategy="sample")
        for index in range(len(choices), request.n):
            job.emit(ChoiceStarted(index))
            stream = TextStream(index, request.stop, job.emit)
            streaming = fill.strategy in STREAMING_STRATEGIES
            reply = bot.reply(
                history,
                request.seeded(index, fill),
                on_token=stream.update if streaming else None,
                should_stop=lambda s=stream: job.cancelled.is_set() or s.stopped,
            )
            text, stopped = stream.finish(reply.text)
            finished = reply.alternatives[0].finished if reply.alternatives else True
            finish = "stop" if stopped or finished else "length"
            choices.append(Choice(index, text, finish))
            replies.append(reply)
            job.emit(ChoiceDone(choices[-1]))
        return choices, replies
