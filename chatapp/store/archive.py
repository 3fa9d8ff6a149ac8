"""The JSON archive: every field of every conversation, out and back in without duplicates.

Layout (`version` 2; version 1 had no `follows_uid` and one line of turns):
    {"format": "seq2seq-chat-archive", "version": 2, "exported_at": ISO-8601,
     "conversations": [{"uid", "title", "created_at", "updated_at", "pinned", "archived",
                        "messages": [{"uid", "position", "role", "text", "created_at",
                                      "parent_uid", "follows_uid", "chosen", "rating",
                                      "corrected_text", "corrected_at",
                                      "stopped", "model_version", "decoding", "seed",
                                      "timings", "nbest"}, ...]}, ...]}
Model versions travel by name (ids differ between databases), with what the archive knows of
each in the optional top-level `"model_versions"` (see `archive_versions.py`); a reply whose
version is not in the database imported into keeps them as text. An import checks the whole
archive before writing anything, skips conversations whose uid is already in the database, and
writes the rest in bounded transactions of whole conversations (each conversation is there
completely or not at all; other writers get in between).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatapp.store.archive_tree import check_tree
from chatapp.store.archive_versions import check_versions, version_entries
from chatapp.store.branches import follow_the_line
from chatapp.store.errors import ArchiveError
from chatapp.store.message_text import MAX_MESSAGE_CHARS, text_problem
from chatapp.store.models import Conversation, Message, ModelVersion, utcnow
from chatapp.store.records import ROLES

ARCHIVE_FORMAT = "seq2seq-chat-archive"
ARCHIVE_VERSION = 2
_REQUIRED = object()  # marks a field that has no default
MAX_DEPTH = 32  # how deeply a message's decoding settings may nest


def build_archive(session: Session, conversation_id: int | None = None) -> dict[str, Any]:
    version_names = dict(session.execute(select(ModelVersion.id, ModelVersion.name)).all())
    query = select(Conversation).order_by(Conversation.id)
    if conversation_id is not None:
        query = query.where(Conversation.id == conversation_id)
    conversations = []
    named: list[tuple[str, dict[str, Any] | None]] = []  # each reply's version, for the list
    for conversation in session.scalars(query):
        messages = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.position, Message.id)
        ).all()
        uids = {message.id: message.uid for message in messages}
        names = {
            m.id: version_names.get(m.model_version_id) or m.imported_version for m in messages
        }
        named += [(names[m.id], m.imported_provenance) for m in messages if names[m.id]]
        conversations.append(
            {
                "uid": conversation.uid,
                "title": conversation.title,
                "created_at": conversation.created_at.isoformat(),
                "updated_at": conversation.updated_at.isoformat(),
                "pinned": conversation.pinned,
                "archived": conversation.archived,
                "messages": [
                    {
                        "uid": m.uid,
                        "position": m.position,
                        "role": m.role,
                        "text": m.text,
                        "created_at": m.created_at.isoformat(),
                        "parent_uid": uids.get(m.parent_id) if m.parent_id else None,
                        "follows_uid": uids.get(m.follows_id) if m.follows_id else None,
                        "chosen": m.chosen,
                        "rating": m.rating,
                        "corrected_text": m.corrected_text,
                        "corrected_at": m.corrected_at.isoformat() if m.corrected_at else None,
                        "stopped": m.stopped,
                        "model_version": names[m.id],
                        "decoding": m.decoding,
                        "seed": m.seed,
                        "timings": m.timings,
                        "nbest": m.nbest,
                    }
                    for m in messages
                ],
            }
        )
    return {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "exported_at": utcnow().isoformat(),
        "conversations": conversations,
        "model_versions": version_entries(session, named),
    }


# -- checking ------------------------------------------------------------------------------


def _fail(where: str, problem: str) -> NoReturn:
    raise ArchiveError(f"malformed archive: {where}: {problem}")


def _is_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")  # JSON allows lone surrogates ("\ud800"); SQLite does not
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_nbest(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(entry, dict)
        and _is_text(entry.get("text"))
        and isinstance(entry.get("score"), (int, float))
        and not isinstance(entry.get("score"), bool)
        and math.isfinite(entry["score"])
        for entry in value
    )


def _is_time(value: Any) -> bool:
    """An ISO-8601 time that is still one in UTC (`0001-01-01T00:00+05:00` is not)."""
    try:
        _to_time(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_timings(value: Any) -> bool:
    """What the Details… dialog shows: each timing a finite number (or null)."""
    return _is_object(value) and all(v is None or _is_number(v) for v in value.values())


def _is_shallow_object(value: Any) -> bool:
    """An object nested at most `MAX_DEPTH` deep (the decoding settings are flat)."""
    if not _is_object(value):
        return False
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return True
    return False


def _is_version_name(value: Any) -> bool:
    return _is_text(value) and bool(value.strip())


def _is_uid(value: Any) -> bool:
    return _is_text(value) and 0 < len(value) <= 64


def _is_message_text(value: Any) -> bool:
    """What the store accepts as a message or a correction (its own rules, not looser ones)."""
    return isinstance(value, str) and text_problem(value) is None


def _is_stored_text(value: Any) -> bool:
    """A message's text: the store's rules, except that an earlier version stored blank
    replies (a model can end a reply at once); such an archive imports whole."""
    return isinstance(value, str) and (not value.strip() or text_problem(value) is None)


_MESSAGE_TEXT = (
    f"text that is not empty or only whitespace, at most {MAX_MESSAGE_CHARS:,} characters"
)


def _or_none(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


# (key, check, what is expected, default when the key is missing; _REQUIRED: no default)
_Field = tuple[str, Callable[[Any], bool], str, Any]
_MESSAGE_FIELDS: tuple[_Field, ...] = (
    ("uid", _is_uid, "a uid", _REQUIRED),
    ("position", lambda v: _is_int(v) and 0 <= v < 2**31, "an int from 0 to 2**31 - 1", _REQUIRED),
    ("role", lambda v: v in ROLES, "'user' or 'bot'", _REQUIRED),
    ("text", _is_stored_text, _MESSAGE_TEXT, _REQUIRED),  # a blank user turn: below
    ("created_at", _is_time, "an ISO-8601 time", _REQUIRED),
    ("parent_uid", _or_none(_is_uid), "a uid or null", None),
    ("follows_uid", _or_none(_is_uid), "a uid or null", None),
    ("chosen", _is_bool, "true or false", _REQUIRED),
    ("rating", lambda v: _is_int(v) and v in (-1, 0, 1), "-1, 0 or 1", 0),
    ("corrected_text", _or_none(_is_message_text), f"{_MESSAGE_TEXT} or null", None),
    # When it was corrected (the latest teaching wins); older archives: the reply's time.
    ("corrected_at", _or_none(_is_time), "an ISO-8601 time or null", None),
    ("stopped", _is_bool, "true or false", False),
    ("model_version", _or_none(_is_text), "a name or null", None),
    ("decoding", _or_none(_is_shallow_object), "an object or null", None),
    ("seed", _or_none(lambda v: _is_int(v) and -(2**63) <= v < 2**63), "a 64-bit int", None),
    ("timings", _or_none(_is_timings), "an object of numbers or null", None),
    ("nbest", _or_none(_is_nbest), "a list of {text, score} or null", None),
)
_CONVERSATION_FIELDS: tuple[_Field, ...] = (
    ("uid", _is_uid, "a uid", _REQUIRED),
    ("title", lambda v: _is_text(v) and bool(v.strip()), "a title", _REQUIRED),
    ("created_at", _is_time, "an ISO-8601 time", _REQUIRED),
    ("updated_at", _is_time, "an ISO-8601 time", None),
    ("pinned", _is_bool, "true or false", False),
    ("archived", _is_bool, "true or false", False),
)


def _to_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    moment.astimezone(timezone.utc)  # stored in UTC: it must exist there too
    return moment


def _short_repr(value: Any) -> str:
    try:
        return f"{value!r:.40}"
    except (ValueError, RecursionError):  # an int of thousands of digits; a nested cycle
        return "(too large to show)"


def _check_fields(item: Any, where: str, fields: tuple[_Field, ...]) -> dict[str, Any]:
    if not _is_object(item):
        _fail(where, "expected an object")
    values = {}
    for key, check, expected, default in fields:
        if key not in item:
            if default is _REQUIRED:
                _fail(f"{where}.{key}", "missing")
            values[key] = default
        elif check(item[key]):
            values[key] = item[key]
        else:
            got = f"{type(item[key]).__name__} {_short_repr(item[key])}"
            _fail(f"{where}.{key}", f"expected {expected}, got {got}")
    for key in ("created_at", "updated_at", "corrected_at"):
        if values.get(key) is not None:
            values[key] = _to_time(values[key])
    return values


def _check_conversation(item: Any, where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    conversation = _check_fields(item, where, _CONVERSATION_FIELDS)
    conversation["updated_at"] = conversation["updated_at"] or conversation["created_at"]
    if not isinstance(item.get("messages"), list):
        _fail(f"{where}.messages", "expected a list")
    messages = [
        _check_fields(m, f"{where}.messages[{i}]", _MESSAGE_FIELDS)
        for i, m in enumerate(item["messages"])
    ]
    for i, message in enumerate(messages):
        if message["role"] == "user" and not message["text"].strip():
            _fail(f"{where}.messages[{i}].text", f"expected {_MESSAGE_TEXT}, got a blank turn")
    # The store's invariants: the visible path is positions 0..k-1, one chosen message at
    # each; other branches may run past it; parents and followed slots are known.
    chosen = sorted(m["position"] for m in messages if m["chosen"])
    if chosen != list(range(len(chosen))) or not {m["position"] for m in messages} <= (
        set(chosen) | {m["position"] for m in messages if m["follows_uid"] is not None}
    ):
        _fail(where, "each position from 0 up must have exactly one chosen message")
    uids = {m["uid"] for m in messages}
    for i, message in enumerate(messages):
        for key in ("parent_uid", "follows_uid"):
            if message[key] is not None and message[key] not in uids:
                _fail(f"{where}.messages[{i}].{key}", "not a message of this conversation")
    check_tree(messages, where)
    return conversation, messages


def check_archive(data: Any) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The archive's conversations as column values, or `ArchiveError` naming the first fault."""
    if not _is_object(data):
        _fail("top level", "expected a JSON object")
    if data.get("format") != ARCHIVE_FORMAT:
        _fail("format", f"expected {ARCHIVE_FORMAT!r} (is this a Seq2Seq Chat archive?)")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        _fail("version", "expected a positive int")
    if version > ARCHIVE_VERSION:
        raise ArchiveError(
            f"the archive is version {version}, made by a newer Seq2Seq Chat; "
            f"this one reads version {ARCHIVE_VERSION}"
        )
    if not isinstance(data.get("conversations"), list):
        _fail("conversations", "expected a list")
    conversations = [
        _check_conversation(c, f"conversations[{i}]") for i, c in enumerate(data["conversations"])
    ]
    provenance = check_versions(
        data, is_name=_is_version_name, is_time=_is_time, is_object=_is_shallow_object
    )
    for _, messages in conversations:
        for message in messages:
            message["imported_provenance"] = provenance.get(message["model_version"])
    seen: set[str] = set()
    for i, (conversation, messages) in enumerate(conversations):
        for uid in (conversation["uid"], *(m["uid"] for m in messages)):
            if uid in seen:
                _fail(f"conversations[{i}]", f"uid {uid!r} appears twice")
            seen.add(uid)
    return conversations


def read_archive(path: str | Path) -> Any:
    """The JSON in the archive file at `path`, or `ArchiveError` saying why it cannot be read."""
    path = Path(path)
    unreadable = f"{path} is not a readable JSON archive"
    try:
        if not path.is_file():
            raise ArchiveError(f"cannot read {path}: it is not a file")
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as error:
        raise ArchiveError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ArchiveError(f"{unreadable}: it is not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise ArchiveError(
            f"{unreadable}: it is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})"
        ) from None
    except RecursionError:
        raise ArchiveError(f"{unreadable}: it is nested too deeply") from None
    except ValueError as error:  # an integer of thousands of digits, for one
        raise ArchiveError(f"{unreadable}: {error}") from None


# -- restoring -----------------------------------------------------------------------------


Checked = list[tuple[dict[str, Any], list[dict[str, Any]]]]


def new_conversations(session: Session, data: Any) -> tuple[Checked, int]:
    """The archive's conversations not in the database yet, checked; and how many were.

    Raises `ArchiveError` for a malformed archive or a message uid already used elsewhere, so
    a bad archive is refused before anything is written.
    """
    conversations = check_archive(data)
    present = set(session.scalars(select(Conversation.uid)))
    new = [(c, ms) for c, ms in conversations if c["uid"] not in present]
    message_uids = set(session.scalars(select(Message.uid)))
    for conversation, messages in new:
        for message in messages:
            if message["uid"] in message_uids:
                raise ArchiveError(
                    f"malformed archive: message {message['uid']} of conversation "
                    f"{conversation['uid']} is already in the database, in another conversation"
                )
    return new, len(conversations) - len(new)


def batches(conversations: Checked, *, max_messages: int) -> Iterator[Checked]:
    """Whole conversations, about `max_messages` messages at a time (one transaction each)."""
    batch: Checked = []
    size = 0
    for conversation in conversations:
        if batch and size + len(conversation[1]) > max_messages:
            yield batch
            batch, size = [], 0
        batch.append(conversation)
        size += len(conversation[1])
    if batch:
        yield batch


_NOT_COLUMNS = ("parent_uid", "follows_uid", "model_version", "imported_provenance")


def restore_conversations(session: Session, conversations: Checked) -> int:
    """Write checked conversations (in `session`, skipping any that appeared meanwhile);
    returns how many messages were added."""
    uids = [conversation["uid"] for conversation, _ in conversations]
    present = set(session.scalars(select(Conversation.uid).where(Conversation.uid.in_(uids))))
    versions = dict(session.execute(select(ModelVersion.name, ModelVersion.id)).all())
    added_messages = 0
    for conversation, messages in conversations:
        if conversation["uid"] in present:
            continue
        row = Conversation(**conversation)
        session.add(row)
        session.flush()
        by_uid: dict[str, Message] = {}
        for fields in messages:
            columns = {k: v for k, v in fields.items() if k not in _NOT_COLUMNS}
            name = fields["model_version"]
            known = versions.get(name) if name is not None else None
            message = Message(
                conversation_id=row.id,
                model_version_id=known,
                # No version of that name here: keep its name and the archive's account of it.
                imported_version=name if known is None else None,
                imported_provenance=fields["imported_provenance"] if known is None else None,
                **columns,
            )
            session.add(message)
            by_uid[fields["uid"]] = message
        session.flush()
        for fields in messages:
            message = by_uid[fields["uid"]]
            if fields["parent_uid"] is not None:
                message.parent_id = by_uid[fields["parent_uid"]].id
            if fields["follows_uid"] is not None:
                message.follows_id = by_uid[fields["follows_uid"]].id
        session.flush()
        if not any(fields["follows_uid"] for fields in messages):
            follow_the_line(session, row.id)  # a version 1 archive: one line of turns
        added_messages += len(messages)
    session.flush()
    return added_messages
