"""Google Cloud billing SKU descriptions decoded: which model, which kind of usage, batch or not.

The export has no model column; the SKU description is free text such as
"Gemini 2.5 Flash GA Text Input - Predictions" or " Gemini 2.5 Flash Lite Input Text Caching"
(leading space and all, as a live export has them; providers.md section 4.2). The traps the
reference lists are handled here: "Flash Lite" is read word by word, so it never folds into
"Flash"; descriptions are trimmed; and the kind is found anywhere in the text, never by how it
ends ("... Output - Predictions"). Which words a SKU uses for batch and for character-priced
models is UNVERIFIED. Pure; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

OTHER_MODEL = "(other)"  # a SKU that names no model we can read: kept, so totals reconcile


class UsageKind(StrEnum):
    INPUT = "input"
    CACHED_INPUT = "cached_input"  # a cache read: counted in tokens_in and cache_read_tokens
    OUTPUT = "output"  # thinking tokens included: billing does not separate them
    CACHE_STORAGE = "cache_storage"  # token-hours of a stored context cache: not tokens
    OTHER = "other"  # requests, images, seconds, grounding, ...


@dataclass(frozen=True, slots=True)
class Sku:
    model: str
    kind: UsageKind
    batch: bool = False
    characters: bool = False  # billed per character (older text models), not per token

    @property
    def counts_tokens(self) -> bool:
        return not self.characters and self.kind in _TOKEN_KINDS


_TOKEN_KINDS = frozenset({UsageKind.INPUT, UsageKind.CACHED_INPUT, UsageKind.OUTPUT})
_FAMILIES = frozenset(
    {"gemini", "gemma", "imagen", "veo", "claude", "llama", "mistral", "codestral", "palm"}
)
_VARIANTS = frozenset(
    {
        "pro",
        "flash",
        "lite",
        "ultra",
        "nano",
        "sonnet",
        "opus",
        "haiku",
        "image",
        "live",
        "tts",
        "vision",
        "embedding",
        "preview",
        "exp",
        "large",
        "small",
        "medium",
        "instruct",
        "maverick",
        "scout",
        "fast",
    }
)
_VERSION = re.compile(r"v?\d+(?:\.\d+)*[a-z]?$")  # 2.5, 3, 002, 8b, v2
_WORD = re.compile(r"[A-Za-z0-9.]+(?:-[A-Za-z0-9.]+)*")
_KINDS: tuple[tuple[re.Pattern[str], UsageKind], ...] = (
    (re.compile(r"cach\w*\b.*\bstorage|storage\b.*\bcach"), UsageKind.CACHE_STORAGE),
    (re.compile(r"\bcach(?:e|ed|ing)\b"), UsageKind.CACHED_INPUT),
    (re.compile(r"\boutput\b"), UsageKind.OUTPUT),
    (re.compile(r"\binput\b"), UsageKind.INPUT),
)
_BATCH = re.compile(r"\bbatch\b")
_CHARACTERS = re.compile(r"\bcharacters?\b")


def decode_sku(description: str) -> Sku:
    """Model, usage kind and flags of one SKU description. A SKU naming no known model family
    is OTHER_MODEL; one naming no usage kind is UsageKind.OTHER."""
    text = description.strip().lower()
    kind = next((k for pattern, k in _KINDS if pattern.search(text)), UsageKind.OTHER)
    return Sku(
        model=_model(text),
        kind=kind,
        batch=bool(_BATCH.search(text)),
        characters=bool(_CHARACTERS.search(text)),
    )


def _model(text: str) -> str:
    """The family word and the version and variant words right after it, joined by "-":
    "gemini 2.5 flash lite text input" is gemini-2.5-flash-lite; "ga", "text", "input" and
    anything else end the name."""
    words = _WORD.findall(text)
    start = next((i for i, word in enumerate(words) if word in _FAMILIES), None)
    if start is None:
        return OTHER_MODEL
    name = [words[start]]
    for word in words[start + 1 :]:
        if not all(part in _VARIANTS or _VERSION.match(part) for part in word.split("-")):
            break
        name.append(word)
    return "-".join(name)
