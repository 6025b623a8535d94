"""The one command grammar: `/aispend week by provider` and `aispend report "week by provider"`.

`parse_command` is pure and raises only UsageError, whatever the text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from bot.domain import DateRange, Dimension, Filter, SpendQuery
from bot.errors import UsageError
from bot.providers import PROVIDERS, resolve_provider

MAX_TEXT_LENGTH = 1000
MAX_DAYS = 1000
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


class PeriodKind(StrEnum):
    """The value is the words people type, for the kinds that are typed as words."""

    TODAY = "today"
    YESTERDAY = "yesterday"
    WEEK = "week"  # trailing 7 days including today
    MONTH = "month"  # month to date; "this month" too
    THIS_WEEK = "this week"  # Monday of this week through today
    LAST_WEEK = "last week"  # previous Monday..Sunday
    LAST_MONTH = "last month"  # previous calendar month
    DAYS = "days"  # trailing N days including today
    RANGE = "range"  # start..end, both inclusive
    CALENDAR_MONTH = "calendar month"  # the month that starts on `start`


_MONTH_NAMES: tuple[str, ...] = ("January", "February", "March", "April", "May", "June")
_MONTH_NAMES += ("July", "August", "September", "October", "November", "December")
_LABELS = {PeriodKind.WEEK: "last 7 days", PeriodKind.MONTH: "month to date"}


@dataclass(frozen=True, slots=True)
class PeriodSpec:
    """A period as typed; `resolve_period` turns it into days once today is known."""

    kind: PeriodKind
    days: int | None = None
    start: date | None = None
    end: date | None = None  # RANGE only: the last day, inclusive

    def label(self) -> str:
        """Words for a report heading: "last 30 days", "October 2026"."""
        if self.kind is PeriodKind.DAYS:
            return f"last {self.days} days"
        if self.kind is PeriodKind.RANGE:
            return str(self.start) if self.start == self.end else f"{self.start}..{self.end}"
        if self.kind is PeriodKind.CALENDAR_MONTH and self.start is not None:
            return f"{_MONTH_NAMES[self.start.month - 1]} {self.start.year}"
        return _LABELS.get(self.kind, self.kind.value)


DEFAULT_PERIOD = PeriodSpec(PeriodKind.WEEK)


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    period: PeriodSpec = DEFAULT_PERIOD
    group_by: tuple[Dimension, ...] = ()
    filters: tuple[Filter, ...] = ()
    args: tuple[str, ...] = ()  # words of verbs that take their own: budget set, export, help


_TYPED_KINDS = (PeriodKind.DAYS, PeriodKind.RANGE, PeriodKind.CALENDAR_MONTH)
_PERIOD_WORDS = {k.value: k for k in PeriodKind if k not in _TYPED_KINDS}
_PERIOD_WORDS["this month"] = PeriodKind.MONTH
_DIMENSION_WORDS: dict[str, Dimension] = {
    **{d.value: d for d in Dimension},
    **{f"{d.value}s": d for d in Dimension},
    **dict.fromkeys(("env", "envs"), Dimension.ENVIRONMENT),
    **dict.fromkeys(("api_key", "apikey", "api_keys", "apikeys"), Dimension.KEY),
}
_VERBS = {v.value: v for v in Verb}
_PERIOD_VOCABULARY = {word for phrase in _PERIOD_WORDS for word in phrase.split()}
VOCABULARY: tuple[str, ...] = (*_VERBS, *sorted(_PERIOD_VOCABULARY), "by", "and", *_DIMENSION_WORDS)

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
_N_DAYS = re.compile(r"([0-9]+)d")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RANGE = re.compile(r"[0-9-]*\.\.[0-9-]*")
_YEAR_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


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


def resolve_period(spec: PeriodSpec, today: date) -> DateRange:
    """Whole UTC days, half-open [start, end), for `spec` as seen on `today`."""
    tomorrow = today + timedelta(days=1)
    month_start = today.replace(day=1)
    monday = today - timedelta(days=today.weekday())
    match spec.kind:
        case PeriodKind.TODAY:
            return DateRange(today, tomorrow)
        case PeriodKind.YESTERDAY:
            return DateRange(today - timedelta(days=1), today)
        case PeriodKind.WEEK:
            return DateRange(today - timedelta(days=6), tomorrow)
        case PeriodKind.MONTH:
            return DateRange(month_start, tomorrow)
        case PeriodKind.THIS_WEEK:
            return DateRange(monday, tomorrow)
        case PeriodKind.LAST_WEEK:
            return DateRange(monday - timedelta(days=7), monday)
        case PeriodKind.LAST_MONTH:
            return DateRange((month_start - timedelta(days=1)).replace(day=1), month_start)
    return _resolve_typed(spec, tomorrow)


def to_query(command: Command, today: date) -> SpendQuery:
    """The question `command` asks of the query layer."""
    period = resolve_period(command.period, today)
    return SpendQuery(period=period, group_by=command.group_by, filters=command.filters)


def _resolve_typed(spec: PeriodSpec, tomorrow: date) -> DateRange:
    """Periods that carry their own numbers or dates."""
    if spec.kind is PeriodKind.DAYS and spec.days is not None:
        return DateRange(tomorrow - timedelta(days=spec.days), tomorrow)
    if spec.kind is PeriodKind.RANGE and spec.start is not None and spec.end is not None:
        return DateRange(spec.start, spec.end + timedelta(days=1))
    if spec.kind is PeriodKind.CALENDAR_MONTH and spec.start is not None:
        return DateRange(spec.start, _next_month(spec.start))
    raise ValueError(f"incomplete period {spec!r}")


def _next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


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
        raise UsageError(f'"{_shown(unreadable)}" holds characters that cannot be typed')
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
    if found := _period(tokens, i):
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
    raise UsageError(_unknown("dimension", word, suggestion), suggestion=suggestion)


def _filter(prefix: str, raw_value: str) -> tuple[Dimension, str]:
    """One `dim:value`, with provider names resolved to our provider id."""
    dim = _DIMENSION_WORDS.get(prefix.lower())
    if dim is None:
        guess = _closest_dimension(prefix)
        suggestion = f"{guess}:" if guess else None
        raise UsageError(_unknown("filter", f"{prefix}:", suggestion), suggestion=suggestion)
    value = raw_value.strip()
    if not value:
        raise UsageError(f'"{_shown(prefix)}:" needs a value, e.g. {dim}:name')
    return dim, _provider_id(value) if dim is Dimension.PROVIDER else value


def _provider_id(name: str) -> str:
    if provider := resolve_provider(name):
        return provider
    guess = _closest(name, [*PROVIDERS, *(a for p in PROVIDERS.values() for a in p.aliases)])
    suggestion = resolve_provider(guess) if guess else None
    message = _unknown("provider", name, suggestion)
    if suggestion is None:
        message += f" — known providers: {', '.join(PROVIDERS)}"
    raise UsageError(message, suggestion=suggestion)


def _period(tokens: Sequence[str], i: int) -> tuple[PeriodSpec, int] | None:
    """The period starting at tokens[i] and how many words it takes, or None if none does."""
    word = tokens[i].lower()
    if word in ("last", "this"):
        return _two_word_period(word, tokens[i + 1].lower() if i + 1 < len(tokens) else ""), 2
    if kind := _PERIOD_WORDS.get(word):
        return PeriodSpec(kind), 1
    spec = _typed_period(word)
    return (spec, 1) if spec else None


def _two_word_period(first: str, second: str) -> PeriodSpec:
    """`last week`, `last month`, `this week`, `this month`."""
    if kind := _PERIOD_WORDS.get(f"{first} {second}"):
        return PeriodSpec(kind)
    guess = _closest(second, ["week", "month"]) if second else None
    hint = f' — did you mean "{first} {guess}"?' if guess else ""
    raise UsageError(f'"{first}" must be followed by "week" or "month"{hint}', suggestion=guess)


def _typed_period(word: str) -> PeriodSpec | None:
    """`30d`, `2026-11-01`, `2026-11-01..2026-11-15` or `2026-10`; None for other words."""
    if match := _N_DAYS.fullmatch(word):
        return PeriodSpec(PeriodKind.DAYS, days=_day_count(match.group(1)))
    if _DAY.fullmatch(word):
        day = _date(word)
        return PeriodSpec(PeriodKind.RANGE, start=day, end=day)
    if _RANGE.fullmatch(word):
        return _range(word)
    if _YEAR_MONTH.fullmatch(word):
        return PeriodSpec(PeriodKind.CALENDAR_MONTH, start=_date(f"{word}-01", word))
    return None


def _day_count(digits: str) -> int:
    significant = digits.lstrip("0")
    days = int(significant) if 0 < len(significant) <= len(str(MAX_DAYS)) else 0
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f'"{_shown(digits)}d": the number of days must be 1 to {MAX_DAYS}')
    return days


def _range(word: str) -> PeriodSpec:
    first, _, last = word.partition("..")
    if not (_DAY.fullmatch(first) and _DAY.fullmatch(last)):
        raise UsageError(f'"{word}" is not a range; write it as 2026-11-01..2026-11-15')
    start, end = _date(first), _date(last)
    if end < start:
        raise UsageError(f'"{word}" ends before it starts')
    return PeriodSpec(PeriodKind.RANGE, start=start, end=end)


def _date(text: str, typed: str | None = None) -> date:
    """A YYYY-MM-DD date, short of the last year `date` holds so ranges can end after it."""
    typed = typed or text
    try:
        day = date.fromisoformat(text)
    except ValueError as err:
        raise UsageError(f'"{typed}" is not a real date or month') from err
    if day.year == date.max.year:
        raise UsageError(f'"{typed}" is too far in the future')
    return day


def _unknown_word(word: str) -> UsageError:
    lowered = word.lower()
    if lowered in _VERBS:
        return UsageError(f'"{lowered}" must be the first word')
    if lowered in VOCABULARY and lowered not in _DIMENSION_WORDS:
        return UsageError(f'"{lowered}" is out of place here')
    guess = _closest(word, VOCABULARY)
    if guess in _DIMENSION_WORDS:
        guess = f"by {_closest_dimension(guess)}"
    return UsageError(_unknown("word", word, guess), suggestion=guess)


def _unknown(what: str, word: str, suggestion: str | None) -> str:
    hint = f' — did you mean "{suggestion}"?' if suggestion else ""
    return f'unknown {what} "{_shown(word)}"{hint}'


def _closest_dimension(word: str) -> str | None:
    guess = _closest(word, _DIMENSION_WORDS)
    return _DIMENSION_WORDS[guess].value if guess else None


def _closest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return matches[0] if matches else None


def _shown(word: str) -> str:
    """`word` made safe to echo back: printable and short."""
    printable = "".join(c if c.isprintable() else "?" for c in word)
    return printable if len(printable) <= 40 else printable[:39] + "…"
