"""Words for error messages: the closest known word, and what was typed made safe to echo."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like `word` (compared in lower case), or None if none is close."""
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return matches[0] if matches else None


def unknown(what: str, word: str, suggestion: str | None) -> str:
    """`unknown dimension "modle" — did you mean "model"?`, without the question if no guess."""
    hint = f' — did you mean "{suggestion}"?' if suggestion else ""
    return f'unknown {what} "{shown(word)}"{hint}'


def shown(word: str) -> str:
    """`word` made safe to echo back: printable and short."""
    printable = "".join(c if c.isprintable() else "?" for c in word)
    return printable if len(printable) <= 40 else printable[:39] + "…"
