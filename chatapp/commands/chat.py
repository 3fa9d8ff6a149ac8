"""`main.py chat`: a terminal chat, one line in and one reply out (JSON lines with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, BinaryIO, TextIO

from chatapp.commands.common import CommandError, add_subcommand, device_of, model_of
from chatapp.commands.decoding_options import add_decoding_options, decode_config_from_args
from chatapp.commands.numbers import INT64_MAX, check_numbers
from chatapp.store import MAX_MESSAGE_CHARS, StoreError, storable_text
from chatapp.terminal import safe_json, visible, warn
from engine.errors import EngineError
from engine.knobs import Knob
from engine.quantize import QUANTIZE_CHOICES

if TYPE_CHECKING:
    from chatapp.commands.recorder import StoreRecorder
    from engine import Chatbot, Reply
    from engine.decoding.config import DecodeConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "chat", help="chat in the terminal (reads lines from stdin)"
    )
    parser.add_argument("--model", default=argparse.SUPPRESS, help="model directory")
    parser.add_argument(
        "--db", default=argparse.SUPPRESS, help="also keep the chat in this database"
    )
    parser.add_argument("--conversation", type=int, help="continue this stored conversation")
    parser.add_argument("--json", action="store_true", help="print one JSON object per reply")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none")
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="with --db: do not answer from the corrections saved there",
    )
    add_decoding_options(parser, default_preset="balanced")
    parser.set_defaults(handler=run_chat)


def reply_json(reply: Reply) -> str:
    return json.dumps(
        {
            "reply": reply.text,
            "alternatives": [asdict(alternative) for alternative in reply.alternatives],
            "cancelled": reply.cancelled,
            "seed": reply.seed,
            "first_token_ms": reply.first_token_ms,
            "total_ms": reply.total_ms,
            "tokens": len(reply.tokens),
            "memory": reply.memory.describe() if reply.memory is not None else None,
            "source": reply.source.value,
            "origin": reply.origin,
        },
        ensure_ascii=False,
    )


def decoded_line(line: bytes | str) -> tuple[str, int]:
    """A line read as bytes, decoded as UTF-8 whatever the locale, and how many characters could
    not be (each became U+FFFD): a bad byte costs that character, never the line or the chat."""
    if isinstance(line, str):
        return line, 0
    text = line.decode("utf-8", errors="replace")
    return text, text.count("\ufffd") - line.count("\ufffd".encode())


# The store's limit, in UTF-8 bytes (up to 4 a character) and the line's end.
MAX_LINE = 4 * MAX_MESSAGE_CHARS + 2
TOO_LONG = (
    f"the message is too long (the limit is {MAX_MESSAGE_CHARS:,} characters); nothing was sent"
)


NO_REPLY = "(no reply)"  # shown for a reply with no text; never stored as a turn


def _skip_rest_of_line(stdin: BinaryIO | TextIO) -> None:
    while (chunk := stdin.readline(MAX_LINE)) and chunk[-1:] not in (b"\n", "\n"):
        pass


def pool_notes(bot: Chatbot) -> list[str]:
    """What the pool strategy does without: replies people wrote, or the backward scorer."""
    notes = []
    if bot.index is None:
        notes.append(f"note: the pool has only the model's own replies: {bot.index_problem}")
    if bot.backward is None:
        problem = bot.backward_problem or "this model has no backward/ model"
        notes.append(f"note: the pool scores without MMI: {problem}")
    return notes


def chat_loop(
    bot: Chatbot,
    args: argparse.Namespace,
    config: DecodeConfig,
    stdin: BinaryIO | TextIO,
    stdout: TextIO,
) -> int:
    if config.strategy == "rerank" and bot.backward is None:
        warn(f"note: rerank scores with the {bot.mmi_scorer} stand-in: "
             f"{bot.backward_problem or 'this model has no backward/ model'}")  # fmt: skip
    if config.strategy == "pool":
        for note in pool_notes(bot):
            warn(note)
    recorder = _open_recorder(args, bot)
    history = recorder.history() if recorder else []
    interactive = stdin.isatty() and not args.json
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = stdin.readline(MAX_LINE)
        if not line:
            return 0
        if len(line) == MAX_LINE and not line.endswith(b"\n" if isinstance(line, bytes) else "\n"):
            _skip_rest_of_line(stdin)  # never holds more than one over-long message in memory
            warn(f"error: {TOO_LONG}")
            continue
        line, undecodable = decoded_line(line)
        text, replaced = storable_text(line.strip())
        replaced += undecodable
        if not text:
            continue
        if len(text) > MAX_MESSAGE_CHARS:
            warn(f"error: {TOO_LONG} ({len(text):,} characters)")
            continue
        if replaced:  # bytes that were not UTF-8, or a broken paste
            warn(f"note: {replaced} undecodable character(s) became U+FFFD")
        if recorder:
            try:
                recorder.add_user_turn(text)
            except StoreError as error:  # locked, disk full: not sent, and the chat goes on
                warn(f"error: your message was not saved, so it was not sent: {error}")
                continue
        history.append(text)
        if recorder and not getattr(args, "no_memory", False):
            _refresh_memory(bot, recorder)
        try:
            reply = bot.reply(history, config)
        except EngineError as error:
            history.pop()
            warn(f"error: {error}")
            continue
        if not reply.text.strip():  # every candidate was empty: say so, store nothing
            warn("note: the model gave no reply (nothing was stored); try again, or another "
                 "decoding")  # fmt: skip
            _show(reply, args.json, stdout)
            continue
        history.append(reply.text)
        if recorder:
            try:
                recorder.add_bot_reply(reply)
            except StoreError as error:
                history.pop()  # keep the context what the database holds
                warn(f"error: the reply could not be saved: {error}")
        _show(reply, args.json, stdout)


def _show(reply: Reply, as_json: bool, stdout: TextIO) -> None:
    """One reply on stdout: a JSON line that decodes to the exact text, or the text with its
    control characters made visible (a taught reply may come from someone else's archive)."""
    if as_json:
        stdout.write(safe_json(reply_json(reply)) + "\n")
    else:
        stdout.write(visible(f"bot> {reply.text if reply.text.strip() else NO_REPLY}") + "\n")
    stdout.flush()


def _refresh_memory(bot: Chatbot, recorder: StoreRecorder) -> None:
    """The corrections and liked replies saved in the database so far (by the app too) answer
    matching turns."""
    from chatapp.correction_memory import to_corrections
    from engine.memory import CorrectionMemory

    try:
        corrections = to_corrections(recorder.store.corrections(liked=True))
    except StoreError as error:
        warn(f"note: the saved corrections could not be read: {error}")
        return
    if bot.memory is None:
        bot.memory = CorrectionMemory()
    bot.memory.update(corrections)


def _open_recorder(args: argparse.Namespace, bot: Chatbot) -> StoreRecorder | None:
    if getattr(args, "db", None) is None and args.conversation is None:
        return None
    from chatapp.commands.recorder import StoreRecorder

    return StoreRecorder.open(args, bot)


def run_chat(args: argparse.Namespace) -> int:
    from engine import Chatbot

    check_numbers(args, {"conversation": Knob(1, INT64_MAX, integer=True)})
    try:
        config = decode_config_from_args(args)  # a bad knob is refused before the model loads
        bot = Chatbot.load(model_of(args), device=device_of(args), quantize=args.quantize)
    except EngineError as error:
        raise CommandError(str(error)) from None
    try:
        # Bytes, decoded in chat_loop: a text stdin raises on a non-UTF-8 byte under a UTF-8
        # locale and drops the lines already read into its buffer with it.
        return chat_loop(bot, args, config, sys.stdin.buffer, sys.stdout)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
