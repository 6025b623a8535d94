"""Periods: reading the words, resolving them to days, and their labels."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import DateRange
from bot.errors import UsageError
from bot.slack import commands, periods
from bot.slack.commands import parse_command
from bot.slack.periods import (
    DEFAULT_PERIOD,
    PERIOD_VOCABULARY,
    PeriodKind,
    PeriodSpec,
    parse_period,
    resolve_period,
)

WEDNESDAY = date(2026, 11, 18)
MONDAY = date(2026, 11, 16)
SUNDAY = date(2026, 11, 22)


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(start: str, end: str) -> DateRange:
    """A half-open range written as its first day and the day after its last."""
    return DateRange(d(start), d(end))


# --- resolve_period -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "today", "expected"),
    [
        (PeriodSpec(PeriodKind.TODAY), WEDNESDAY, days("2026-11-18", "2026-11-19")),
        (PeriodSpec(PeriodKind.TODAY), d("2026-12-31"), days("2026-12-31", "2027-01-01")),
        (PeriodSpec(PeriodKind.YESTERDAY), WEDNESDAY, days("2026-11-17", "2026-11-18")),
        (PeriodSpec(PeriodKind.YESTERDAY), d("2026-03-01"), days("2026-02-28", "2026-03-01")),
        (PeriodSpec(PeriodKind.WEEK), WEDNESDAY, days("2026-11-12", "2026-11-19")),
        (PeriodSpec(PeriodKind.WEEK), d("2026-12-02"), days("2026-11-26", "2026-12-03")),
        (PeriodSpec(PeriodKind.MONTH), WEDNESDAY, days("2026-11-01", "2026-11-19")),
        (PeriodSpec(PeriodKind.MONTH), d("2026-11-01"), days("2026-11-01", "2026-11-02")),
        (PeriodSpec(PeriodKind.THIS_WEEK), WEDNESDAY, days("2026-11-16", "2026-11-19")),
        (PeriodSpec(PeriodKind.THIS_WEEK), MONDAY, days("2026-11-16", "2026-11-17")),
        (PeriodSpec(PeriodKind.THIS_WEEK), SUNDAY, days("2026-11-16", "2026-11-23")),
        (PeriodSpec(PeriodKind.LAST_WEEK), WEDNESDAY, days("2026-11-09", "2026-11-16")),
        (PeriodSpec(PeriodKind.LAST_WEEK), MONDAY, days("2026-11-09", "2026-11-16")),
        (PeriodSpec(PeriodKind.LAST_WEEK), SUNDAY, days("2026-11-09", "2026-11-16")),
        (PeriodSpec(PeriodKind.LAST_WEEK), d("2026-01-01"), days("2025-12-22", "2025-12-29")),
        (PeriodSpec(PeriodKind.LAST_MONTH), WEDNESDAY, days("2026-10-01", "2026-11-01")),
        (PeriodSpec(PeriodKind.LAST_MONTH), d("2026-01-15"), days("2025-12-01", "2026-01-01")),
        (PeriodSpec(PeriodKind.LAST_MONTH), d("2028-03-31"), days("2028-02-01", "2028-03-01")),
        (PeriodSpec(PeriodKind.DAYS, days=1), WEDNESDAY, days("2026-11-18", "2026-11-19")),
        (PeriodSpec(PeriodKind.DAYS, days=30), WEDNESDAY, days("2026-10-20", "2026-11-19")),
        (PeriodSpec(PeriodKind.DAYS, days=90), d("2026-03-01"), days("2025-12-02", "2026-03-02")),
    ],
)
def test_resolve_period_relative_kinds(spec: PeriodSpec, today: date, expected: DateRange) -> None:
    assert resolve_period(spec, today) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (PeriodSpec(PeriodKind.RANGE, start=d("2026-11-05"), end=d("2026-11-05")), 1),
        (PeriodSpec(PeriodKind.RANGE, start=d("2026-11-01"), end=d("2026-11-15")), 15),
        (PeriodSpec(PeriodKind.RANGE, start=d("2026-12-30"), end=d("2027-01-02")), 4),
        (PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-10-01")), 31),
        (PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-12-01")), 31),
        (PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2028-02-01")), 29),
        (PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-02-01")), 28),
    ],
)
def test_resolve_period_typed_kinds_cover_whole_days_inclusive(
    spec: PeriodSpec, expected: int
) -> None:
    resolved = resolve_period(spec, WEDNESDAY)
    assert resolved.start == spec.start
    assert resolved.days == expected


def test_resolve_period_calendar_month_ends_on_first_of_next_month() -> None:
    spec = PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-12-01"))
    assert resolve_period(spec, WEDNESDAY) == days("2026-12-01", "2027-01-01")


def test_resolve_period_wholly_future_range_is_allowed() -> None:
    spec = parse_command("2027-03-01..2027-03-31").period
    assert resolve_period(spec, WEDNESDAY) == days("2027-03-01", "2027-04-01")


def test_resolve_period_incomplete_spec_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="incomplete period"):
        resolve_period(PeriodSpec(PeriodKind.DAYS), WEDNESDAY)


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (PeriodSpec(PeriodKind.TODAY), "today"),
        (PeriodSpec(PeriodKind.YESTERDAY), "yesterday"),
        (PeriodSpec(PeriodKind.WEEK), "last 7 days"),
        (PeriodSpec(PeriodKind.MONTH), "month to date"),
        (PeriodSpec(PeriodKind.THIS_WEEK), "this week"),
        (PeriodSpec(PeriodKind.LAST_WEEK), "last week"),
        (PeriodSpec(PeriodKind.LAST_MONTH), "last month"),
        (PeriodSpec(PeriodKind.DAYS, days=30), "last 30 days"),
        (
            PeriodSpec(PeriodKind.RANGE, start=d("2026-11-01"), end=d("2026-11-15")),
            "2026-11-01..2026-11-15",
        ),
        (PeriodSpec(PeriodKind.RANGE, start=d("2026-11-01"), end=d("2026-11-01")), "2026-11-01"),
        (PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-10-01")), "October 2026"),
    ],
)
def test_period_spec_label_reads_as_words(spec: PeriodSpec, label: str) -> None:
    assert spec.label() == label


# --- parsing period words -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", PeriodSpec(PeriodKind.TODAY)),
        ("yesterday", PeriodSpec(PeriodKind.YESTERDAY)),
        ("week", PeriodSpec(PeriodKind.WEEK)),
        ("month", PeriodSpec(PeriodKind.MONTH)),
        ("this month", PeriodSpec(PeriodKind.MONTH)),
        ("This Week", PeriodSpec(PeriodKind.THIS_WEEK)),
        ("last week", PeriodSpec(PeriodKind.LAST_WEEK)),
        ("LAST MONTH", PeriodSpec(PeriodKind.LAST_MONTH)),
        ("30d", PeriodSpec(PeriodKind.DAYS, days=30)),
        ("7D", PeriodSpec(PeriodKind.DAYS, days=7)),
        ("1000d", PeriodSpec(PeriodKind.DAYS, days=1000)),
        ("2026-11-05", PeriodSpec(PeriodKind.RANGE, start=d("2026-11-05"), end=d("2026-11-05"))),
        (
            "2026-11-01..2026-11-15",
            PeriodSpec(PeriodKind.RANGE, start=d("2026-11-01"), end=d("2026-11-15")),
        ),
        ("2026-10", PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-10-01"))),
    ],
)
def test_parse_command_reads_every_period_form(text: str, expected: PeriodSpec) -> None:
    assert parse_command(text).period == expected


@pytest.mark.parametrize(
    ("tokens", "i", "expected"),
    [
        (["week", "by", "team"], 0, (PeriodSpec(PeriodKind.WEEK), 1)),
        (["top", "Last", "Week"], 1, (PeriodSpec(PeriodKind.LAST_WEEK), 2)),
        (["this", "month", "by"], 0, (PeriodSpec(PeriodKind.MONTH), 2)),
        (["30d"], 0, (PeriodSpec(PeriodKind.DAYS, days=30), 1)),
        (["by", "2026-10"], 1, (PeriodSpec(PeriodKind.CALENDAR_MONTH, start=d("2026-10-01")), 1)),
        (["by", "team"], 0, None),
        (["team:growth"], 0, None),
        (["weeks"], 0, None),
        (["30"], 0, None),
        (["2026"], 0, None),
    ],
)
def test_parse_period_reads_from_i_and_counts_its_words(
    tokens: list[str], i: int, expected: tuple[PeriodSpec, int] | None
) -> None:
    assert parse_period(tokens, i) == expected


@pytest.mark.parametrize(
    ("text", "fragment", "suggestion"),
    [
        ("last mnth", '"last" must be followed by "week" or "month"', "month"),
        ("this wek", '"this" must be followed by "week" or "month"', "week"),
    ],
)
def test_parse_command_period_typos_suggest_the_closest(
    text: str, fragment: str, suggestion: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert fragment in caught.value.message
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0d", "1 to 1000"),
        ("1001d", "1 to 1000"),
        ("99999999999999999999d", "1 to 1000"),
        ("2026-02-30", '"2026-02-30" is not a real date'),
        ("2026-13", '"2026-13" is not a real date or month'),
        ("0000-01-01", "is not a real date"),
        ("9999-12-31", "too far in the future"),
        ("..", '".." is not a range'),
        ("2026-11-01..", "is not a range"),
        ("2026-11-15..2026-11-01", "ends before it starts"),
        ("last", '"last" must be followed by "week" or "month"'),
    ],
)
def test_parse_command_bad_period_raises_usage_error(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert fragment in caught.value.message


def test_period_vocabulary_holds_every_period_word() -> None:
    assert PERIOD_VOCABULARY == ("last", "month", "this", "today", "week", "yesterday")


# --- the names commands.py re-exports -----------------------------------------------------------


def test_commands_re_exports_the_period_names() -> None:
    for name in ("PeriodKind", "PeriodSpec", "DEFAULT_PERIOD", "resolve_period"):
        assert getattr(commands, name) is getattr(periods, name)
    assert DEFAULT_PERIOD.kind is PeriodKind.WEEK
