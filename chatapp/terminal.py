"""Text for a terminal: control characters made visible, so that a reply, a correction from an
imported archive or a file name cannot set the title, clear the screen or recolour it.

`visible` is for what people read (`bot> ...`, errors, notes); `safe_json` keeps a JSON line exact
(it decodes to the very same text) while no raw control character reaches the terminal.
"""

from __future__ import annotations

import re
import sys

# C0 (but newline), DEL and C1: ESC starts a sequence, CR and BS overwrite what was printed,
# and C1's CSI (U+009B) is ESC [ on terminals that read 8-bit controls.
_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# What `json.dumps(..., ensure_ascii=False)` leaves raw: DEL and C1 (it escapes C0 itself).
_RAW_IN_JSON = re.compile("[\x7f-\x9f]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)  # caret notation, as `cat -v` shows it: ESC is ^[
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def visible(text: str) -> str:
    """`text` with every control character but newline written out (`^[`, `^G`, `<U+009B>`)."""
    return _CONTROLS.sub(_shown, text)


def safe_json(line: str) -> str:
    """A JSON text with DEL and C1 characters as `\\u` escapes: the same value once parsed."""
    return _RAW_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", line)


def warn(message: str) -> None:
    """An error or a note on stderr, one line as people read it."""
    print(visible(message), file=sys.stderr)
