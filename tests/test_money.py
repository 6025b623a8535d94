from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.money import format_usd, from_units, parse_amount, to_units


@given(st.decimals(min_value=Decimal("-1e8"), max_value=Decimal("1e8"), places=10))
def test_units_round_trip_exactly(amount):
    assert from_units(to_units(amount)) == amount


def test_to_units_rounds_half_to_even_past_ten_places():
    assert to_units(Decimal("0.00000000005")) == 0
    assert to_units(Decimal("0.00000000015")) == 2


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("0", "$0.00"), ("0.004", "<$0.01"), ("1234.567", "$1,234.57"), ("-2.5", "-$2.50")],
)
def test_format_usd_never_shows_a_small_cost_as_zero(amount, shown):
    assert format_usd(Decimal(amount)) == shown


def test_parse_amount_takes_floats_by_their_shortest_repr():
    assert parse_amount(0.1) == Decimal("0.1")
    with pytest.raises(ValueError, match="finite"):
        parse_amount("NaN")
    with pytest.raises(ValueError, match="true or false"):
        parse_amount(True)
