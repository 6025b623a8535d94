"""The one command grammar: `/aispend week by provider` and `aispend report "week by provider"`.

`parse_command` is pure and raises only UsageError, whatever the text. Period words (`week`,
`30d`, `2026-10`, ...) are read by `bot.slack.periods`; their names are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from bot.domain import Dimension, Filter, SpendQuery
from bot.errors import UsageError
from bot.providers import PROVIDERS, resolve_provider
from bot.slack.periods import (
    DEFAULT_PERIOD,
    PERIOD_VOCABULARY,
    PeriodKind,
    PeriodSpec,
    parse_period,
    resolve_period,
)
from bot.slack.suggest import closest, shown, unknown

__all__ = [
    "DEFAULT_PERIOD",
    "HELP_TEXT",
    "MAX_GROUP_BY",
    "MAX_TEXT_LENGTH",
    "VOCABULARY",
    "Command",
    "PeriodKind",
    "PeriodSpec",
    "Verb",
    "parse_command",
    "resolve_period",
    "to_query",
]

MAX_TEXT_LENGTH = 1000
MAX_GROUP_BY = 2


class Verb(StrEnum):
    REPORT = "report"
    TOP = "top"
    FORECAST = "forecast"
    BUDGET = "budget"
    ALERTS = "alerts"
    STATUS = "status"
    SUBS = "subs"
    EXPORT = "export"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    period: PeriodSpec = DEFAULT_PERIOD
    group_by: tuple[Dimension, ...] = ()
    filters: tuple[Filter, ...] = ()
    args: tuple[str, ...] = ()  # words of verbs that take their own: budget set, export, help


_DIMENSION_WORDS: dict[str, Dimension] = {
    **{d.value: d for d in Dimension},
    **{f"{d.value}s": d for d in Dimension},
    **dict.fromkeys(("env", "envs"), Dimension.ENVIRONMENT),
    **dict.fromkeys(("api_key", "apikey", "api_keys", "apikeys"), Dimension.KEY),
}
_VERBS = {v.value: v for v in Verb}
VOCABULARY: tuple[str, ...] = (*_VERBS, *PERIOD_VOCABULARY, "by", "and", *_DIMENSION_WORDS)

HELP_TEXT = f"""\
Usage: /aispend [verb] [period] [by DIM[, DIM]] [DIM:value ...]  (any order, any case)
Verbs: {", ".join(_VERBS)} (no verb means report)
Periods: today, yesterday, week (default: last 7 days), month (to date), this week, \
last week, last month, 30d, 2026-11-01, 2026-11-01..2026-11-15, 2026-10
Dimensions: {", ".join(Dimension)}
Examples:
  /aispend week by provider
  /aispend top 30d by model, team team:growth
  /aispend last month provider:openai feature:"smart search\""""

_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*")+')
_CURLY_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"'})
_FILTER = re.compile(r"([A-Za-z_]+):(.*)", re.DOTALL)


def parse_command(text: str) -> Command:
    """Parse what a person typed; raise UsageError naming the bad word and the closest good one."""
    tokens = _tokenize(text)
    if not tokens:
        return Command(Verb.HELP)
    verb = _VERBS.get(tokens[0].lower())
    rest = tokens[1:] if verb else tokens
    if verb is Verb.HELP:
        return Command(Verb.HELP, args=tuple(rest))
    draft = _Draft(verb or Verb.REPORT)
    i = 0
    while i < len(rest):
        i = _take_part(draft, rest, i)
    return draft.build()


def to_query(command: Command, today: date) -> SpendQuery:
    """The question `command` asks of the query layer."""
    period = resolve_period(command.period, today)
    return SpendQuery(period=period, group_by=command.group_by, filters=command.filters)


@dataclass(slots=True)
class _Draft:
    """A command being assembled, part by part."""

    verb: Verb
    period: PeriodSpec | None = None
    period_words: str = ""
    group_by: list[Dimension] = field(default_factory=list)
    filters: dict[Dimension, list[str]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def set_period(self, period: PeriodSpec, words: str) -> None:
        if self.period is not None:
            raise UsageError(f'two periods: "{self.period_words}" and "{words}" — use one')
        self.period, self.period_words = period, words

    def add_group_by(self, dims: Iterable[Dimension]) -> None:
        for dim in dims:
            if dim in self.group_by:
                raise UsageError(f'"{dim}" appears twice after "by"')
            self.group_by.append(dim)
        if len(self.group_by) > MAX_GROUP_BY:
            raise UsageError(f"group by at most {MAX_GROUP_BY} dimensions, e.g. by team, model")

    def add_filter(self, dim: Dimension, value: str) -> None:
        values = self.filters.setdefault(dim, [])
        if value not in values:
            values.append(value)

    def build(self) -> Command:
        filters = tuple(Filter(dim, tuple(values)) for dim, values in self.filters.items())
        period = self.period or DEFAULT_PERIOD
        return Command(self.verb, period, tuple(self.group_by), filters, tuple(self.args))


def _tokenize(text: str) -> list[str]:
    """Split on whitespace; double quotes (straight or curly) hold spaces and are removed."""
    if len(text) > MAX_TEXT_LENGTH:
        raise UsageError(f"that is {len(text)} characters; the most is {MAX_TEXT_LENGTH}")
    text = text.translate(_CURLY_QUOTES)
    if text.count('"') % 2:
        raise UsageError('unbalanced quote: every " needs a closing "')
    tokens = [m.group().replace('"', "") for m in _TOKEN.finditer(text)]
    if unreadable := next((token for token in tokens if not token.isprintable()), None):
        raise UsageError(f'"{shown(unreadable)}" holds characters that cannot be typed')
    return [token for token in tokens if token]


def _take_part(draft: _Draft, tokens: Sequence[str], i: int) -> int:
    """Consume the part that starts at tokens[i]; return the index after it."""
    token = tokens[i]
    if token.lower() == "by":
        dims, after = _dimension_words(tokens, i + 1)
        draft.add_group_by(_dimension(word) for word in dims)
        return after
    if match := _FILTER.fullmatch(token):
        draft.add_filter(*_filter(match.group(1), match.group(2)))
        return i + 1
    if found := parse_period(tokens, i):
        draft.set_period(found[0], " ".join(tokens[i : i + found[1]]))
        return i + found[1]
    if draft.verb in (Verb.REPORT, Verb.TOP):
        raise _unknown_word(token)
    draft.args.append(token)
    return i + 1


def _dimension_words(tokens: Sequence[str], i: int) -> tuple[list[str], int]:
    """The words after "by": `a`, `a and b`, `a,b`, `a, b`; return them and the next index."""
    words: list[str] = []
    more = True
    while more:
        if i >= len(tokens):
            raise UsageError('"by" needs a dimension, e.g. "by provider"')
        token = tokens[i]
        words += [part for part in token.split(",") if part]
        i += 1
        joined = i < len(tokens) and tokens[i].lower() == "and"
        if joined:
            i += 1
        more = joined or token.endswith(",") or (i < len(tokens) and tokens[i].startswith(","))
    return words, i


def _dimension(word: str) -> Dimension:
    if dim := _DIMENSION_WORDS.get(word.lower()):
        return dim
    suggestion = _closest_dimension(word)
    raise UsageError(unknown("dimension", word, suggestion), suggestion=suggestion)


def _filter(prefix: str, raw_value: str) -> tuple[Dimension, str]:
    """One `dim:value`, with provider names resolved to our provider id."""
    dim = _DIMENSION_WORDS.get(prefix.lower())
    if dim is None:
        guess = _closest_dimension(prefix)
        suggestion = f"{guess}:" if guess else None
        raise UsageError(unknown("filter", f"{prefix}:", suggestion), suggestion=suggestion)
    value = raw_value.strip()
    if not value:
        raise UsageError(f'"{shown(prefix)}:" needs a value, e.g. {dim}:name')
    return dim, _provider_id(value) if dim is Dimension.PROVIDER else value


def _provider_id(name: str) -> str:
    if provider := resolve_provider(name):
        return provider
    guess = closest(name, [*PROVIDERS, *(a for p in PROVIDERS.values() for a in p.aliases)])
    suggestion = resolve_provider(guess) if guess else None
    message = unknown("provider", name, suggestion)
    if suggestion is None:
        message += f" — known providers: {', '.join(PROVIDERS)}"
    raise UsageError(message, suggestion=suggestion)


def _unknown_word(word: str) -> UsageError:
    lowered = word.lower()
    if lowered in _VERBS:
        return UsageError(f'"{lowered}" must be the first word')
    if lowered in VOCABULARY and lowered not in _DIMENSION_WORDS:
        return UsageError(f'"{lowered}" is out of place here')
    guess = closest(word, VOCABULARY)
    if guess in _DIMENSION_WORDS:
        guess = f"by {_closest_dimension(guess)}"
    return UsageError(unknown("word", word, guess), suggestion=guess)


def _closest_dimension(word: str) -> str | None:
    guess = closest(word, _DIMENSION_WORDS)
    return _DIMENSION_WORDS[guess].value if guess else None
