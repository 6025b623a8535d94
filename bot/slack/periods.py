"""Periods of the command grammar: `week`, `last month`, `30d`, `2026-11-01..2026-11-15`, `2026-10`.

`parse_period` reads the words; `resolve_period` turns the result into days once today is known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from bot.domain import DateRange
from bot.errors import UsageError
from bot.slack.suggest import closest, shown

MAX_DAYS = 1000


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

_TYPED_KINDS = (PeriodKind.DAYS, PeriodKind.RANGE, PeriodKind.CALENDAR_MONTH)
_PERIOD_WORDS = {k.value: k for k in PeriodKind if k not in _TYPED_KINDS}
_PERIOD_WORDS["this month"] = PeriodKind.MONTH
PERIOD_VOCABULARY: tuple[str, ...] = tuple(
    sorted({word for phrase in _PERIOD_WORDS for word in phrase.split()})
)

_N_DAYS = re.compile(r"([0-9]+)d")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RANGE = re.compile(r"[0-9-]*\.\.[0-9-]*")
_YEAR_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


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


def parse_period(tokens: Sequence[str], i: int) -> tuple[PeriodSpec, int] | None:
    """The period starting at tokens[i] and how many words it takes, or None if none does.

    Raises UsageError for words that can only be a period but are not a good one: `last mnth`,
    `0d`, `2026-02-30`.
    """
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
    guess = closest(second, ["week", "month"]) if second else None
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
        raise UsageError(f'"{shown(digits)}d": the number of days must be 1 to {MAX_DAYS}')
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
