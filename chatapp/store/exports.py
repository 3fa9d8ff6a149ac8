"""Conversations out as text: JSON lines for training, and Markdown for people.

Both read through `Store`'s public API page by page, so a 10,000-message conversation is never
held twice in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TextIO

from chatapp.store.records import ConversationRecord, MessageRecord
from chatapp.store.repository import Store

PAGE = 500
_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]{}|~#!])")
_LINE_START_MARKERS = re.compile(r"^([+=-]|\d+[.)])")
# C0 and C1 controls and DEL (not tab): a terminal that shows the file would obey ESC c, DCS or
# an 8-bit CSI; as character references they are inert.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _conversations(store: Store, conversation_id: int | None) -> list[ConversationRecord]:
    if conversation_id is not None:
        return [store.get_conversation(conversation_id)]
    return sorted(store.list_conversations(include_archived=True), key=lambda c: c.id)


def _path(store: Store, conversation_id: int) -> Iterator[MessageRecord]:
    offset = 0
    while page := store.page_messages(conversation_id, offset, PAGE):
        yield from page
        offset += len(page)


def write_jsonl(
    store: Store,
    out: TextIO,
    *,
    conversation_id: int | None = None,
    max_context_turns: int | None = None,
) -> int:
    """One line per bot reply along the visible path; how many lines were written.

    `{"context": [earlier turns], "response": "the reply", "conversation": "<uid>"}` is the
    engine's interchange format plus the conversation's uid (readers ignore extra keys).
    """
    lines = 0
    for conversation in _conversations(store, conversation_id):
        turns: list[str] = []
        for message in _path(store, conversation.id):
            if message.role == "bot":
                start = 0 if max_context_turns is None else max(0, len(turns) - max_context_turns)
                example = {
                    "context": turns[start:],
                    "response": message.text,
                    "conversation": conversation.uid,
                }
                out.write(json.dumps(example, ensure_ascii=False) + "\n")
                lines += 1
            turns.append(message.text)
    return lines


def escape_markdown(text: str) -> str:
    """`text` as one Markdown paragraph that renders as exactly these characters.

    Nothing in it can start a heading, list, quote, code block, table, link, image or HTML: the
    markup characters are backslash-escaped, `& < >` and control characters become entities,
    leading spaces become non-breaking ones, and every line break is a hard break inside the
    same paragraph.
    """
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)].replace("\t", "    ")
        stripped = stripped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        stripped = _INLINE_SPECIALS.sub(r"\\\1", stripped)
        stripped = _CONTROLS.sub(lambda m: f"&#x{ord(m[0]):02x};", stripped)
        stripped = _LINE_START_MARKERS.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], stripped)
        # Leading spaces would make a code block, and an empty line would end the paragraph:
        # non-breaking spaces show the same and keep the paragraph open.
        lines.append("&nbsp;" * len(indent) + stripped if stripped else "&nbsp;")
    return "\\\n".join(lines)


def write_markdown(store: Store, out: TextIO, *, conversation_id: int | None = None) -> int:
    """A readable transcript of the visible path; how many messages were written."""
    written = 0
    for conversation in _conversations(store, conversation_id):
        out.write(f"# {escape_markdown(' '.join(conversation.title.split()))}\n\n")
        out.write(f"_Started {conversation.created_at:%Y-%m-%d %H:%M} UTC_\n\n")
        for message in _path(store, conversation.id):
            speaker = "You" if message.role == "user" else "Bot"
            notes = []
            if message.stopped:
                notes.append("stopped")
            if message.rating:
                notes.append("liked" if message.rating > 0 else "disliked")
            suffix = f" ({', '.join(notes)})" if notes else ""
            out.write(f"**{speaker}**{suffix}:\n\n{escape_markdown(message.text)}\n\n")
            if message.corrected_text is not None:
                correction = escape_markdown(message.corrected_text).replace("\n", "\n> ")
                out.write(f"> _Correction:_ {correction}\n\n")
            written += 1
    return written
