"""CSV cells a spreadsheet cannot run: the address-book export escapes what would start a
formula (OWASP "CSV injection") and the import undoes exactly that escape, so a round trip
through a spreadsheet-safe file gives back every name and note as it was."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
"""What a spreadsheet reads as a formula, and the escape itself."""


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one leading ``'`` before a formula character (and
    before a leading ``'``, so :func:`csv_uncell` gives back exactly the value)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_uncell(value: str) -> str:
    """The value :func:`csv_cell` escaped (a cell without the escape is kept as it is)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value
