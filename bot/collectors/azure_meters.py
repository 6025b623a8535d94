"""Azure OpenAI meter names decoded into model, token kind, deployment scope and unit.

Cost Management names a meter, not a model: "gpt-4o-mini-0718-Inp-glbl Tokens",
"gpt 4o 0513 Outp regnl Tokens", "gpt 4o 1120 cached Inp glbl Tokens", "GPT 5.1 opt Gl 1M
Tokens" (`opt` is output), "Provisioned Managed Global Unit" (PTU hours). The grammar is not
documented: these rules follow the meter names third-party parsers have seen (provider
reference section 5.5, UNVERIFIED), so a name they do not fit decodes as OTHER and its cost is
kept under the "(other)" model, never dropped. Pure; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class TokenKind(StrEnum):
    INPUT = "input"
    CACHED_INPUT = "cached input"
    OUTPUT = "output"
    PROVISIONED = "provisioned"  # PTU hours: tokens are not billed per meter
    OTHER = "other"  # not a token meter we recognise


class Scope(StrEnum):
    """Where a deployment processes data: the meter's scope words."""

    GLOBAL = "global"
    DATA_ZONE = "datazone"
    REGIONAL = "regional"
    UNKNOWN = ""


OTHER_MODEL = "(other)"

_INPUT = frozenset({"inp", "input"})
_OUTPUT = frozenset({"outp", "output", "opt"})
_CACHED = frozenset({"cached", "cd", "cache", "cchd"})
_SCOPES = {
    "glbl": Scope.GLOBAL,
    "gl": Scope.GLOBAL,
    "global": Scope.GLOBAL,
    "regnl": Scope.REGIONAL,
    "regional": Scope.REGIONAL,
    "rgnl": Scope.REGIONAL,
    "dz": Scope.DATA_ZONE,
    "dzn": Scope.DATA_ZONE,
    "dzone": Scope.DATA_ZONE,
    "datazone": Scope.DATA_ZONE,
}
_UNITS = {"1k": 1_000, "1m": 1_000_000}
_NOISE = frozenset({"tokens", "token", "tkns", "unit", "units"})
_VERSION = re.compile(r"^\d{4}$")  # a model version as month and day: 0513, 0718, 1120


@dataclass(frozen=True, slots=True)
class Meter:
    """What one meter name says."""

    name: str
    model: str  # "" for provisioned units, OTHER_MODEL when the name does not decode
    kind: TokenKind
    scope: Scope = Scope.UNKNOWN
    batch: bool = False
    priority: bool = False
    tokens_per_unit: int = 1_000  # one unit of UsageQuantity is this many tokens

    @property
    def service_tier(self) -> str:
        """The tier a line of this meter is stored under."""
        if self.kind is TokenKind.PROVISIONED:
            return "provisioned"
        return "priority" if self.priority else self.scope.value


def decode_meter(name: str) -> Meter:
    """The model, token kind, scope and unit a meter name carries (see the module docstring).
    Token meters are priced per 1,000 tokens unless the name says "1M" (UNVERIFIED)."""
    words = _words(name)
    if "provisioned" in words or "ptu" in words:
        return Meter(name, "", TokenKind.PROVISIONED, _scope(words))
    kind_at = next((i for i, w in enumerate(words) if w in _INPUT | _OUTPUT | _CACHED), None)
    if kind_at is None and re.search(r"\btokens?\b", name.lower()):
        kind_at = len(words)  # "text-embedding-3-small Tokens": input is the only kind
    if kind_at is None or kind_at == 0:
        return Meter(name, OTHER_MODEL, TokenKind.OTHER, _scope(words))
    model_words = [w for w in words[:kind_at] if w not in _SCOPES and w not in _UNITS]
    model_words = [w for w in model_words if w not in ("batch", "priority", "prty")]
    rest = set(words[kind_at:])
    if rest & _CACHED:
        kind = TokenKind.CACHED_INPUT
    elif rest & _OUTPUT:
        kind = TokenKind.OUTPUT
    else:
        kind = TokenKind.INPUT
    unit = next((_UNITS[w] for w in words if w in _UNITS), 1_000)
    return Meter(
        name,
        _model(model_words),
        kind,
        _scope(words),
        batch="batch" in words,
        priority="priority" in words or "prty" in words,
        tokens_per_unit=unit,
    )


def _words(name: str) -> list[str]:
    """Lower-case words; "Data Zone" is one word, and hyphens separate words like spaces."""
    text = re.sub(r"data\s+zone", "datazone", name.lower())
    return [w for w in re.split(r"[\s\-_/]+", text) if w and w not in _NOISE]


def _scope(words: list[str]) -> Scope:
    return next((_SCOPES[w] for w in words if w in _SCOPES), Scope.UNKNOWN)


def _model(words: list[str]) -> str:
    """ "gpt 4o mini 0718" is gpt-4o-mini: the version (month and day) is dropped, since the
    meter does not say its year; the meter name itself keeps it in line_item."""
    if len(words) > 1 and _VERSION.match(words[-1]):
        words = words[:-1]
    return "-".join(words) if words else OTHER_MODEL
