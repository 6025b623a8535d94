"""The command grammar: verbs, grouping, filters, errors and suggestions.

Period words and their resolution to days are tested in test_periods.py.
"""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import DateRange, Dimension, Filter, SpendQuery
from bot.errors import UsageError
from bot.providers import PROVIDERS
from bot.slack.commands import (
    HELP_TEXT,
    VOCABULARY,
    Command,
    PeriodKind,
    PeriodSpec,
    Verb,
    parse_command,
    to_query,
)

WEDNESDAY = date(2026, 11, 18)
FAST = settings(max_examples=200, deadline=None, database=None)


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(start: str, end: str) -> DateRange:
    """A half-open range written as its first day and the day after its last."""
    return DateRange(d(start), d(end))


# --- to_query -----------------------------------------------------------------------------------


def test_to_query_carries_period_grouping_and_filters() -> None:
    command = parse_command("30d by team provider:openai")
    assert to_query(command, WEDNESDAY) == SpendQuery(
        period=days("2026-10-20", "2026-11-19"),
        group_by=(Dimension.TEAM,),
        filters=(Filter(Dimension.PROVIDER, ("openai",)),),
    )


# --- parse_command: verbs and periods -----------------------------------------------------------


def test_parse_command_no_verb_means_report_for_the_last_week() -> None:
    assert parse_command("by provider") == Command(
        Verb.REPORT, PeriodSpec(PeriodKind.WEEK), (Dimension.PROVIDER,)
    )


@pytest.mark.parametrize("text", ["", "   ", "\t\n", '""'])
def test_parse_command_empty_text_means_help(text: str) -> None:
    assert parse_command(text) == Command(Verb.HELP)


@pytest.mark.parametrize("verb", list(Verb))
def test_parse_command_first_word_is_the_verb(verb: Verb) -> None:
    assert parse_command(f"{verb.value.upper()} month").verb is verb


def test_parse_command_parts_come_in_any_order() -> None:
    expected = parse_command("top last month by model team:growth")
    assert parse_command("top team:growth by model last month") == expected
    assert parse_command("top by model team:growth last month") == expected


# --- parse_command: grouping --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "by team and model",
        "by team,model",
        "by team, model",
        "by team ,model",
        "BY Teams AND Models",
        "by team by model",
    ],
)
def test_parse_command_group_by_forms(text: str) -> None:
    assert parse_command(text).group_by == (Dimension.TEAM, Dimension.MODEL)


@pytest.mark.parametrize(
    ("word", "dimension"),
    [
        ("providers", Dimension.PROVIDER),
        ("env", Dimension.ENVIRONMENT),
        ("environments", Dimension.ENVIRONMENT),
        ("api_key", Dimension.KEY),
        ("apikey", Dimension.KEY),
        ("keys", Dimension.KEY),
        ("customer", Dimension.CUSTOMER),
    ],
)
def test_parse_command_group_by_accepts_plurals_and_synonyms(
    word: str, dimension: Dimension
) -> None:
    assert parse_command(f"by {word}").group_by == (dimension,)


# --- parse_command: filters ---------------------------------------------------------------------


def test_parse_command_filters_one_per_dimension() -> None:
    command = parse_command("provider:openai model:gpt-5 team:growth")
    assert command.filters == (
        Filter(Dimension.PROVIDER, ("openai",)),
        Filter(Dimension.MODEL, ("gpt-5",)),
        Filter(Dimension.TEAM, ("growth",)),
    )


@pytest.mark.parametrize(
    "text",
    ['feature:"smart search"', '"feature:smart search"', "feature:\u201csmart search\u201d"],
)
def test_parse_command_filter_quotes_hold_spaces(text: str) -> None:
    assert parse_command(text).filters == (Filter(Dimension.FEATURE, ("smart search",)),)


def test_parse_command_filter_values_keep_their_case() -> None:
    assert parse_command("team:Growth").filters == (Filter(Dimension.TEAM, ("Growth",)),)


def test_parse_command_repeated_filters_merge_values() -> None:
    command = parse_command("team:growth model:gpt-5 team:search team:growth env:prod")
    assert command.filters == (
        Filter(Dimension.TEAM, ("growth", "search")),
        Filter(Dimension.MODEL, ("gpt-5",)),
        Filter(Dimension.ENVIRONMENT, ("prod",)),
    )


@pytest.mark.parametrize(
    ("value", "provider"),
    [("openai", "openai"), ("OpenAI", "openai"), ("vertex", "google"), ("aws.bedrock", "bedrock")],
)
def test_parse_command_provider_filter_resolves_aliases(value: str, provider: str) -> None:
    assert parse_command(f"provider:{value}").filters == (Filter(Dimension.PROVIDER, (provider,)),)


def test_parse_command_provider_aliases_merge_into_one_value() -> None:
    command = parse_command("provider:gemini provider:vertex provider:openai")
    assert command.filters == (Filter(Dimension.PROVIDER, ("google", "openai")),)


# --- parse_command: verbs with their own words --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "budget set team:growth 5000",
            Command(
                Verb.BUDGET, filters=(Filter(Dimension.TEAM, ("growth",)),), args=("set", "5000")
            ),
        ),
        (
            "export focus last month",
            Command(Verb.EXPORT, PeriodSpec(PeriodKind.LAST_MONTH), args=("focus",)),
        ),
        ("help by", Command(Verb.HELP, args=("by",))),
        ("help provider:nope wek", Command(Verb.HELP, args=("provider:nope", "wek"))),
        ("alerts mute 2h", Command(Verb.ALERTS, args=("mute", "2h"))),
        (
            "forecast month by team",
            Command(Verb.FORECAST, PeriodSpec(PeriodKind.MONTH), (Dimension.TEAM,)),
        ),
        ('budget note "spent on evals"', Command(Verb.BUDGET, args=("note", "spent on evals"))),
    ],
)
def test_parse_command_verbs_keep_their_own_words_in_args(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


# --- parse_command: errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment", "suggestion"),
    [
        ("wek by provider", 'unknown word "wek" — did you mean "week"?', "week"),
        ("yesturday", '"yesturday"', "yesterday"),
        ("top mnth", '"mnth"', "month"),
        ("week provider", '"provider"', "by provider"),
        ("by modle", 'unknown dimension "modle" — did you mean "model"?', "model"),
        ("by team and provder", '"provder"', "provider"),
        ("tema:growth", 'unknown filter "tema:"', "team:"),
        ("provider:opnai", 'unknown provider "opnai" — did you mean "openai"?', "openai"),
        ("provider:antropic", '"antropic"', "anthropic"),
    ],
)
def test_parse_command_unknown_words_suggest_the_closest(
    text: str, fragment: str, suggestion: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert fragment in caught.value.message
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("week 30d", 'two periods: "week" and "30d"'),
        ("last week 2026-10", 'two periods: "last week" and "2026-10"'),
        ("by team, model, project", "at most 2"),
        ("by team by model by key", "at most 2"),
        ("by team and teams", '"team" appears twice'),
        ("by", '"by" needs a dimension'),
        ("by team and", '"by" needs a dimension'),
        ("by team,", '"by" needs a dimension'),
        ("team:", '"team:" needs a value'),
        ('team:""', '"team:" needs a value'),
        ('feature:"smart search', "unbalanced quote"),
        ("provider:zzzzzz", "known providers: openai"),
        ("week top", '"top" must be the first word'),
        ("week and", '"and" is out of place'),
        ("x" * 1001, "the most is 1000"),
        ("zzzzzz", 'unknown word "zzzzzz"'),
    ],
)
def test_parse_command_bad_text_raises_usage_error(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert fragment in caught.value.message


@pytest.mark.parametrize("text", ["we\x00k", 'team:"a\tb"', "budget note \u200bx"])
def test_parse_command_control_characters_are_refused_and_echoed_safely(text: str) -> None:
    with pytest.raises(UsageError, match="cannot be typed") as caught:
        parse_command(text)
    assert caught.value.message.isprintable()


def test_help_text_explains_the_grammar_briefly() -> None:
    assert "by" in HELP_TEXT
    assert "30d" in HELP_TEXT
    assert all(dimension.value in HELP_TEXT for dimension in Dimension)
    assert len(HELP_TEXT.splitlines()) <= 10


def test_vocabulary_holds_every_keyword() -> None:
    assert {"week", "last", "month", "by", "and", "top", "provider", "env"} <= set(VOCABULARY)


# --- property tests -----------------------------------------------------------------------------


def parses_or_refuses(text: str) -> None:
    """The only outcomes allowed: a Command, or a UsageError with a message."""
    try:
        command = parse_command(text)
    except UsageError as err:
        message = err.message
        assert message
        return
    assert isinstance(command, Command)
    to_query(command, WEDNESDAY)


@FAST
@given(st.text(max_size=1100))
def test_parse_command_any_text_parses_or_raises_usage_error(text: str) -> None:
    parses_or_refuses(text)


JUNK = ("..", "30d", "0d", "2026-11-01", "2026-02-30", "2026-10", ",", ":", "x:", "team:", '"')
WORDS = (
    st.sampled_from(VOCABULARY + JUNK)
    | st.text(max_size=6)
    | st.from_regex(r"[a-z]{1,8}:[a-z]{0,5}", fullmatch=True)
)


@FAST
@given(st.lists(WORDS, max_size=12))
def test_parse_command_vocabulary_sequences_parse_or_raise_usage_error(words: list[str]) -> None:
    parses_or_refuses(" ".join(words))


NAMED_PERIODS = {
    "today": PeriodSpec(PeriodKind.TODAY),
    "yesterday": PeriodSpec(PeriodKind.YESTERDAY),
    "week": PeriodSpec(PeriodKind.WEEK),
    "month": PeriodSpec(PeriodKind.MONTH),
    "this month": PeriodSpec(PeriodKind.MONTH),
    "this week": PeriodSpec(PeriodKind.THIS_WEEK),
    "last week": PeriodSpec(PeriodKind.LAST_WEEK),
    "last month": PeriodSpec(PeriodKind.LAST_MONTH),
}
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@st.composite
def periods(draw: st.DrawFn) -> tuple[str, PeriodSpec]:
    """A period as typed and what it must parse to."""
    kind = draw(st.sampled_from(["named", "days", "day", "range", "month"]))
    if kind == "named":
        text = draw(st.sampled_from(sorted(NAMED_PERIODS)))
        return text, NAMED_PERIODS[text]
    if kind == "days":
        n = draw(st.integers(1, 1000))
        return f"{n}d", PeriodSpec(PeriodKind.DAYS, days=n)
    start = draw(DATES)
    if kind == "month":
        return f"{start:%Y-%m}", PeriodSpec(PeriodKind.CALENDAR_MONTH, start=start.replace(day=1))
    end = draw(DATES.filter(lambda day: day >= start)) if kind == "range" else start
    text = f"{start}..{end}" if kind == "range" else f"{start}"
    return text, PeriodSpec(PeriodKind.RANGE, start=start, end=end)


VALUE_WORDS = st.text(
    alphabet=string.ascii_letters + string.digits + "-_./", min_size=1, max_size=8
)
PLAIN_DIMENSIONS = [dim for dim in Dimension if dim is not Dimension.PROVIDER]
PROVIDER_NAMES = sorted((name, p.id) for p in PROVIDERS.values() for name in (p.id, *p.aliases))


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, Dimension, str]:
    """A filter as typed, its dimension and the value it must parse to."""
    if draw(st.booleans()):
        name, provider = draw(st.sampled_from(PROVIDER_NAMES))
        return f"provider:{name}", Dimension.PROVIDER, provider
    dim = draw(st.sampled_from(PLAIN_DIMENSIONS))
    value = " ".join(draw(st.lists(VALUE_WORDS, min_size=1, max_size=3)))
    return f'{dim}:"{value}"' if " " in value else f"{dim}:{value}", dim, value


def expected_filters(typed: list[tuple[str, Dimension, str]]) -> tuple[Filter, ...]:
    merged: dict[Dimension, list[str]] = {}
    for _, dim, value in typed:
        values = merged.setdefault(dim, [])
        if value not in values:
            values.append(value)
    return tuple(Filter(dim, tuple(values)) for dim, values in merged.items())


@FAST
@given(
    verb=st.sampled_from([v for v in Verb if v is not Verb.HELP]),
    period=st.none() | periods(),
    group_by=st.lists(st.sampled_from(list(Dimension)), unique=True, max_size=2),
    joiner=st.sampled_from([" and ", ",", ", "]),
    typed_filters=st.lists(filters(), max_size=4),
    data=st.data(),
)
def test_parse_command_valid_parts_round_trip(
    verb: Verb,
    period: tuple[str, PeriodSpec] | None,
    group_by: list[Dimension],
    joiner: str,
    typed_filters: list[tuple[str, Dimension, str]],
    data: st.DataObject,
) -> None:
    parts = [text for text, _, _ in typed_filters]
    if period:
        parts.append(period[0])
    if group_by:
        parts.append("by " + joiner.join(group_by))
    shuffled = data.draw(st.permutations(parts))
    command = parse_command(" ".join([verb.value, *shuffled]))
    in_order = sorted(typed_filters, key=lambda typed: shuffled.index(typed[0]))
    assert command == Command(
        verb,
        period[1] if period else PeriodSpec(PeriodKind.WEEK),
        tuple(group_by),
        expected_filters(in_order),
    )
