"""What text the store takes as a message or a correction, and how a text it would refuse
is made storable: the one set of rules for every way in (the window, the terminal chat, the
API server, imports)."""

from __future__ import annotations

MAX_MESSAGE_CHARS = 1_000_000  # longer texts are refused with a message, never cut silently


def text_problem(text: str) -> str | None:
    """Why the store refuses `text` as a message or a correction, in words; None if it takes it."""
    if not text.strip():
        return "cannot be empty or only whitespace"
    if len(text) > MAX_MESSAGE_CHARS:
        return f"is too long ({len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,})"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # sqlite3 would raise a bare codec error mid-transaction; say what is wrong instead.
        return (
            "holds an unpaired surrogate character (U+D800–U+DFFF), which cannot be "
            "stored; replace it (with U+FFFD) first"
        )
    return None


def require_text(text: str, what: str) -> None:
    """Raise TypeError or ValueError naming `what` ("a message", "a reply") when `text` is
    not one the store takes."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, not {type(text).__name__}")
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(f"{what} {problem}")


def storable_text(text: str) -> tuple[str, int]:
    """`text` with each unpaired UTF-16 surrogate replaced by U+FFFD, and how many were.

    A `str` can hold one (a broken clipboard, undecodable terminal bytes kept by
    `surrogateescape`), but SQLite keeps only valid UTF-8 and `add_user_turn` refuses it:
    replacing it keeps the rest of the message exactly as typed (NUL and controls included).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return fixed, fixed.count("\ufffd") - text.count("\ufffd")
    return text, 0
