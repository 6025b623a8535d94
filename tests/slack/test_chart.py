"""The digest chart: series preparation, provider colours, and the PNG itself."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.providers import PROVIDERS
from bot.slack.chart import (
    HEIGHT_PX,
    MAX_SERIES,
    OTHER,
    OTHER_COLOUR,
    PROVIDER_COLOURS,
    WIDTH_PX,
    prepare_series,
    provider_colour,
    provider_colours,
    spend_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LAST = date(2026, 11, 18)
DAYS = [LAST - timedelta(days=n) for n in range(29, -1, -1)]
TITLE = "AI spend, last 30 days"


def steady(amount: str, days: int = len(DAYS)) -> list[Decimal]:
    return [Decimal(amount)] * days


def varied(scale: int) -> list[Decimal]:
    """Spend that moves from day to day, lighter at weekends."""
    return [
        Decimal(scale * (3 + (n * 7) % 5)) / (2 if day.weekday() >= 5 else 1)
        for n, day in enumerate(DAYS)
    ]


SPEND = {"openai": varied(9), "anthropic": varied(5), "bedrock": varied(1)}


def decode(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# --- prepare_series ---------------------------------------------------------------------------


def test_series_are_ordered_biggest_first_with_registry_names() -> None:
    data = prepare_series(DAYS, {"bedrock": steady("1"), "openai": steady("3"), "x": steady("2")})

    assert [s.key for s in data.series] == ["openai", "x", "bedrock"]
    assert [s.label for s in data.series] == ["OpenAI", "x", "AWS Bedrock"]
    assert [s.total for s in data.series] == [Decimal(90), Decimal(60), Decimal(30)]
    assert data.total == Decimal(180)
    assert data.days == tuple(DAYS)


def test_ties_order_by_key_whatever_the_mapping_order() -> None:
    forwards = prepare_series(DAYS, {"groq": steady("1"), "cohere": steady("1")})
    backwards = prepare_series(DAYS, {"cohere": steady("1"), "groq": steady("1")})

    assert [s.key for s in forwards.series] == ["cohere", "groq"]
    assert forwards == backwards


def test_providers_without_spend_are_left_out() -> None:
    data = prepare_series(DAYS, {"openai": steady("1"), "groq": steady("0")})

    assert [s.key for s in data.series] == ["openai"]


def test_providers_beyond_the_top_six_fold_into_other() -> None:
    # ten providers spending 10, 9, ... 1 a day; a's spend falls on the first day only
    keys = [f"p{n}" for n in range(10)]
    by_provider = {key: steady(str(10 - n)) for n, key in enumerate(keys)}
    by_provider["late"] = [Decimal("0.5"), *steady("0", len(DAYS) - 1)]

    data = prepare_series(DAYS, by_provider)

    assert [s.key for s in data.series] == [*keys[:MAX_SERIES], OTHER]
    other = data.series[-1]
    assert other.label == "Other"
    assert other.amounts[0] == Decimal("10.5")  # 4 + 3 + 2 + 1 + 0.5
    assert other.amounts[1:] == tuple(steady("10", len(DAYS) - 1))
    assert other.total == Decimal("300.5")
    assert data.total == sum(sum(v) for v in by_provider.values())


def test_other_never_stands_for_a_single_provider() -> None:
    by_provider = {f"p{n}": steady(str(10 - n)) for n in range(MAX_SERIES + 1)}

    data = prepare_series(DAYS, by_provider)

    assert [s.key for s in data.series] == list(by_provider)
    assert OTHER not in [s.key for s in data.series]


def test_a_provider_called_other_joins_the_folded_rest_and_goes_last() -> None:
    data = prepare_series(DAYS, {OTHER: steady("50"), "openai": steady("1")})

    assert [s.key for s in data.series] == ["openai", OTHER]
    assert data.series[-1].total == Decimal(1500)


def test_fold_limit_is_a_parameter() -> None:
    by_provider = {"a": steady("3"), "b": steady("2"), "c": steady("1")}

    data = prepare_series(DAYS, by_provider, max_series=1)

    assert [(s.key, s.total) for s in data.series] == [("a", Decimal(90)), (OTHER, Decimal(90))]


@pytest.mark.parametrize(
    ("days", "by_provider"),
    [
        pytest.param([], {}, id="no days"),
        pytest.param([], {"openai": []}, id="no days, one provider"),
        pytest.param(DAYS, {}, id="no providers"),
        pytest.param(DAYS, {"openai": steady("0"), "groq": steady("0")}, id="all zero"),
    ],
)
def test_nothing_to_show_is_empty(days: list[date], by_provider: dict[str, list[Decimal]]) -> None:
    data = prepare_series(days, by_provider)

    assert data.empty
    assert data.total == 0


@pytest.mark.parametrize(
    ("days", "by_provider", "message"),
    [
        pytest.param(DAYS, {"openai": steady("1", 29)}, "29 amounts for 30 days", id="short"),
        pytest.param(DAYS, {"openai": [Decimal(-1), *steady("1", 29)]}, "-1", id="negative"),
        pytest.param(DAYS, {"openai": [Decimal("NaN"), *steady("1", 29)]}, "NaN", id="nan"),
        pytest.param(DAYS[::-1], {}, "increasing order", id="backwards"),
        pytest.param([LAST, LAST], {}, "increasing order", id="repeated day"),
    ],
)
def test_bad_input_is_refused(
    days: list[date], by_provider: dict[str, list[Decimal]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_series(days, by_provider)


amounts = st.decimals(min_value=0, max_value=10_000, places=2)


@given(
    st.dictionaries(
        st.text("abcdefghijklmnop", min_size=1, max_size=3),
        st.lists(amounts, min_size=5, max_size=5),
        max_size=12,
    )
)
def test_preparing_keeps_every_dollar_on_its_day(by_provider: dict[str, list[Decimal]]) -> None:
    data = prepare_series(DAYS[:5], by_provider)

    assert len(data.series) <= MAX_SERIES + 1
    for day in range(5):
        shown = sum((s.amounts[day] for s in data.series), Decimal(0))
        assert shown == sum((v[day] for v in by_provider.values()), Decimal(0))
    named = [s.total for s in data.series if s.key != OTHER]
    assert named == sorted(named, reverse=True)
    assert all(s.total > 0 for s in data.series)


# --- colours ----------------------------------------------------------------------------------


def test_every_known_provider_has_a_colour_of_its_own() -> None:
    assert set(PROVIDER_COLOURS) == set(PROVIDERS)
    assert len(set(PROVIDER_COLOURS.values())) == len(PROVIDER_COLOURS)
    assert OTHER_COLOUR not in PROVIDER_COLOURS.values()


def test_a_provider_keeps_its_colour_whatever_else_is_on_the_chart() -> None:
    alone = provider_colours(["anthropic"])
    crowded = provider_colours(["openai", "google", "anthropic", OTHER])
    reordered = provider_colours([OTHER, "anthropic", "google", "openai"])

    assert alone["anthropic"] == crowded["anthropic"] == provider_colour("anthropic")
    assert crowded == reordered
    assert crowded[OTHER] == OTHER_COLOUR


def test_an_unknown_provider_gets_a_stable_colour_from_the_palette() -> None:
    colour = provider_colour("acme-llm")

    assert colour == provider_colour("acme-llm")
    assert colour in PROVIDER_COLOURS.values()
    assert provider_colours(["acme-llm"]) == {"acme-llm": colour}


def test_no_two_providers_on_a_chart_share_a_colour() -> None:
    # the known provider that owns acme's hashed colour keeps it; acme moves to a free one
    owner = next(k for k, c in PROVIDER_COLOURS.items() if c == provider_colour("acme-llm"))
    keys = list(dict.fromkeys([owner, "acme-llm", "acme-2", "acme-3", "google", "openai", OTHER]))

    colours = provider_colours(keys)

    assert colours[owner] == PROVIDER_COLOURS[owner]
    assert len(set(colours.values())) == len(keys)
    assert colours == provider_colours(keys[::-1])


# --- the image --------------------------------------------------------------------------------


def test_chart_is_an_800_by_400_png() -> None:
    png = spend_chart(DAYS, SPEND, budget_per_day=Decimal("53.33"), title=TITLE)

    image = decode(png)
    assert image.format == "PNG"
    assert image.size == (WIDTH_PX, HEIGHT_PX)


def test_same_input_gives_the_same_bytes() -> None:
    first = spend_chart(DAYS, SPEND, budget_per_day=Decimal(50), title=TITLE)
    again = spend_chart(DAYS, SPEND, budget_per_day=Decimal(50), title=TITLE)
    reordered = spend_chart(
        DAYS, dict(reversed(SPEND.items())), budget_per_day=Decimal(50), title=TITLE
    )

    assert first == again == reordered
    # no Software (matplotlib version) or creation-time text chunks
    assert b"tEXt" not in first
    assert b"iTXt" not in first
    assert b"Matplotlib" not in first


def test_no_spend_draws_its_own_image() -> None:
    with_spend = spend_chart(DAYS, SPEND, budget_per_day=None, title=TITLE)
    all_zero = spend_chart(DAYS, {"openai": steady("0")}, budget_per_day=Decimal(50), title=TITLE)
    no_days = spend_chart([], {}, budget_per_day=None, title=TITLE)

    assert all_zero != with_spend
    assert no_days != with_spend
    for png in (all_zero, no_days):
        assert decode(png).size == (WIDTH_PX, HEIGHT_PX)
    # a blank page has few colours; a chart has its bars'
    assert _colours(no_days) < _colours(with_spend)


def test_budget_pace_is_drawn_only_when_given() -> None:
    without = spend_chart(DAYS, SPEND, budget_per_day=None, title=TITLE)
    with_pace = spend_chart(DAYS, SPEND, budget_per_day=Decimal(40), title=TITLE)
    zero_pace = spend_chart(DAYS, SPEND, budget_per_day=Decimal(0), title=TITLE)

    assert with_pace != without
    assert zero_pace == without


@pytest.mark.parametrize(
    "by_provider",
    [
        pytest.param({"anthropic": varied(1)}, id="one provider"),
        pytest.param({f"provider-{n}": varied(n + 1) for n in range(12)}, id="many providers"),
        pytest.param({"openai": steady("0.001")}, id="fractions of a cent"),
        pytest.param({"google": steady("123456.78")}, id="six figures a day"),
        pytest.param(
            {"a provider with a very long name indeed": steady("5")}, id="long provider name"
        ),
    ],
)
def test_awkward_data_still_draws(by_provider: dict[str, list[Decimal]]) -> None:
    png = spend_chart(DAYS, by_provider, budget_per_day=Decimal("2.50"), title=TITLE)

    assert decode(png).size == (WIDTH_PX, HEIGHT_PX)


def test_a_single_day_draws() -> None:
    png = spend_chart([LAST], {"openai": [Decimal(7)]}, budget_per_day=Decimal(5), title=TITLE)

    assert decode(png).size == (WIDTH_PX, HEIGHT_PX)


@pytest.mark.parametrize("pace", [Decimal(-1), Decimal("Infinity"), Decimal("NaN")])
def test_a_bad_budget_pace_is_refused(pace: Decimal) -> None:
    with pytest.raises(ValueError, match="budget pace"):
        spend_chart(DAYS, SPEND, budget_per_day=pace, title=TITLE)


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = "import sys, bot.slack.chart; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )

    assert result.stdout.strip() == "False"


def _colours(png: bytes) -> int:
    found = decode(png).convert("RGB").getcolors(maxcolors=WIDTH_PX * HEIGHT_PX)
    assert found is not None
    return len(found)
