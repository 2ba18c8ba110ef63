"""Text hygiene at the door: what the hub refuses in what people type, before anything is
written. C0 control characters break feeds (XML 1.0 forbids them) and mail headers; a lone
surrogate cannot be encoded as UTF-8 at all. Pure; raises ``InvalidInput`` naming the field."""

from __future__ import annotations

import regex

from hub.errors import InvalidInput

_MULTILINE_BAD = regex.compile(r"[\x00-\x08\x0b-\x1f]|\p{Cs}")
"""C0 controls except tab and newline, and lone surrogates (``\\p{Cs}``)."""
_ONE_LINE_BAD = regex.compile(r"[\x00-\x08\x0a-\x1f]|\p{Cs}")
"""The same, and newlines too: a name or a content warning becomes a mail header."""


def normalise_newlines(text: str) -> str:
    """``\\r\\n`` and a lone ``\\r`` become ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_clean(value: str, *, field: str, label: str, one_line: bool = False) -> str:
    """``value`` unchanged, or ``InvalidInput(field=field)`` saying which character is wrong
    and where (``label`` is the field in words: "text", "content warning", "name")."""
    bad = (_ONE_LINE_BAD if one_line else _MULTILINE_BAD).search(value)
    if bad is None:
        return value
    char = bad.group(0)
    position = bad.start() + 1
    if 0xD800 <= ord(char) <= 0xDFFF:
        what = f"a lone surrogate (U+{ord(char):04X}), which is not text"
    elif char == "\n":
        what = "a line break"
    elif char == "\x00":
        what = "a NUL character (U+0000)"
    else:
        what = f"the control character U+{ord(char):04X}"
    allowed = "" if one_line else " (line breaks and tabs are fine)"
    raise InvalidInput(f"{label} holds {what} at character {position}{allowed}", field=field)
