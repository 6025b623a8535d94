"""PTU cost spread over the tokens it served: exact to 1e-10 USD, remainders placed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.collectors.provisioned import Served, cost_per_token, split_exactly, spread_provisioned
from bot.domain import CostLine
from bot.money import to_units

DAY = datetime(2026, 11, 20, tzinfo=UTC)
PTU = CostLine(
    "azure.costs",
    "azure",
    DAY,
    project="rg-ptu",
    api_key="aoai-ptu",
    service_tier="provisioned",
    line_item="Provisioned Managed Global Unit",
    cost=Decimal("4.80"),
)
PAYGO = CostLine(
    "azure.costs",
    "azure",
    DAY,
    project="rg-ptu",
    api_key="aoai-ptu",
    model="gpt-4o-mini",
    service_tier="global",
    line_item="gpt-4o-mini-0718-Inp-glbl Tokens",
    tokens_in=1000,
    cost=Decimal("0.000165"),
)


def test_a_split_puts_the_rounding_units_on_the_largest_remainders():
    assert split_exactly(Decimal(1), [1, 1, 1]) == [
        Decimal("0.3333333334"),
        Decimal("0.3333333333"),
        Decimal("0.3333333333"),
    ]
    assert split_exactly(Decimal("0.0000000002"), [1, 2, 1]) == [  # ties: earlier first
        Decimal("0.0000000001"),
        Decimal("0.0000000001"),
        Decimal(0),
    ]
    assert split_exactly(Decimal("-3"), [1, 2]) == [Decimal(-1), Decimal(-2)]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_a_split_needs_some_positive_weight(weights):
    with pytest.raises(ValueError, match="weights"):
        split_exactly(Decimal(1), weights)


@given(
    st.decimals(min_value=-(10**6), max_value=10**6, places=10, allow_nan=False),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30).filter(any),
)
def test_a_split_always_sums_to_the_whole_and_follows_the_weights(amount, weights):
    parts = split_exactly(amount, weights)
    assert sum(parts, Decimal(0)) == amount
    assert all(p == p.quantize(Decimal("1e-10")) for p in parts)
    exact = [Decimal(to_units(amount)) * w / sum(weights) for w in weights]
    assert all(abs(Decimal(to_units(p)) - e) < 1 for p, e in zip(parts, exact, strict=True))
    assert all(p == 0 for p, w in zip(parts, weights, strict=True) if w == 0)


def test_provisioned_cost_is_spread_over_the_models_it_served_by_tokens():
    served = [
        Served(DAY, "rg-ptu", "aoai-ptu", "gpt-4o", 3_000_000, 600_000),
        Served(DAY, "rg-ptu", "aoai-ptu", "gpt-4o", 0, 400_000),  # a second deployment
        Served(DAY, "rg-ptu", "aoai-ptu", "gpt-4.1", 1_000_000, 0),
        Served(DAY, "rg-other", "aoai-other", "gpt-4o", 9, 9),  # another account's
    ]
    lines = spread_provisioned([PTU, PAYGO], served)
    assert lines[-1] == PAYGO
    by_model = {x.model: x for x in lines[:-1]}
    assert set(by_model) == {"gpt-4o", "gpt-4.1"}
    assert by_model["gpt-4o"].cost == Decimal("3.84")  # 4M of 5M tokens
    assert by_model["gpt-4.1"].cost == Decimal("0.96")
    assert (by_model["gpt-4o"].tokens_in, by_model["gpt-4o"].tokens_out) == (3_000_000, 1_000_000)
    assert all(
        x.line_item == PTU.line_item and x.service_tier == "provisioned" for x in by_model.values()
    )
    assert cost_per_token(by_model["gpt-4o"]) == Decimal("0.00000096")
    assert sum((x.cost or Decimal(0) for x in lines), Decimal(0)) == Decimal("4.800165")


def test_an_idle_day_keeps_its_provisioned_line_whole():
    served = [Served(DAY, "rg-ptu", "aoai-ptu", "gpt-4o", 0, 0)]
    assert spread_provisioned([PTU], served) == [PTU]
    assert spread_provisioned([PTU], []) == [PTU]
    assert cost_per_token(PTU) is None
