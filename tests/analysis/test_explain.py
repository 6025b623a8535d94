"""Explaining a change: an exact volume / price / mix split and named drivers."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.analysis.explain import (
    Explanation,
    ItemStatus,
    Measured,
    VolumeMeasure,
    describe_change,
    describe_keys,
    explain_change,
    measured_rows,
    top_drivers,
)
from bot.domain import Dimension, SpendRow

FEATURE_MODEL = (Dimension.FEATURE, Dimension.MODEL)
SEARCH = ("search", "gpt-5")
CHAT = ("chat", "gpt-5-mini")


def _m(cost: str | int, volume: int | None = None) -> Measured:
    return Measured(Decimal(cost), None if volume is None else Decimal(volume))


TIMES = "\N{MULTIPLICATION SIGN}"


def _parts(explanation: Explanation) -> tuple[Decimal, ...]:
    """Volume, price and mix effects."""
    return explanation.volume_effect, explanation.price_effect, explanation.mix_effect


def _decimals(*values: int) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def test_same_shares_and_prices_at_twice_the_volume_is_all_volume() -> None:
    before = {SEARCH: _m(100, 1000), CHAT: _m(50, 5000)}
    after = {SEARCH: _m(200, 2000), CHAT: _m(100, 10000)}

    explanation = explain_change(before, after)

    assert explanation.change == 150
    assert _parts(explanation) == _decimals(150, 0, 0)


def test_same_volumes_at_higher_unit_costs_is_all_price() -> None:
    before = {SEARCH: _m(100, 1000), CHAT: _m(50, 5000)}
    after = {SEARCH: _m(130, 1000), CHAT: _m(65, 5000)}

    assert _parts(explain_change(before, after)) == _decimals(0, 45, 0)


def test_usage_moving_to_a_dearer_model_is_mix() -> None:
    # 6000 tokens both times; search costs $0.10 per token and chat $0.01, both unchanged
    before = {SEARCH: _m(100, 1000), CHAT: _m(50, 5000)}
    after = {SEARCH: _m(300, 3000), CHAT: _m(30, 3000)}

    explanation = explain_change(before, after)

    assert _parts(explanation) == _decimals(0, 0, 180)
    assert explanation.volume_before == explanation.volume_after == 6000


def test_a_mixed_change_adds_up_exactly() -> None:
    before = {SEARCH: _m("100.0000000001", 1000), CHAT: _m("50.5", 4999)}
    after = {SEARCH: _m("333.3333333333", 2999), CHAT: _m("47.12", 5003)}

    explanation = explain_change(before, after)

    assert sum(_parts(explanation)) == explanation.change
    for item in explanation.items:
        assert item.volume_effect + item.price_effect + item.mix_effect == item.change


def test_drivers_are_named_with_their_share_and_volume_multiplier() -> None:
    before = {SEARCH: _m(100, 1000), CHAT: _m(200, 10000)}
    after = {SEARCH: _m(512, 3100), CHAT: _m(316, 12000)}

    explanation = explain_change(before, after, FEATURE_MODEL)
    drivers = top_drivers(explanation)

    assert explanation.change == 528
    assert [d.keys for d in drivers] == [SEARCH, CHAT]
    assert drivers[0].share is not None
    assert round(drivers[0].share, 4) == round(412 / 528, 4)
    assert drivers[0].volume_multiplier == 3.1
    assert (
        drivers[0].sentence
        == f"feature search on gpt-5: +$412.00, 78% of the rise, volume {TIMES}3.1"
    )
    assert (
        drivers[1].sentence
        == f"feature chat on gpt-5-mini: +$116.00, 22% of the rise, volume {TIMES}1.2"
    )


def test_a_driver_against_the_trend_is_shown_as_offsetting_it() -> None:
    before = {SEARCH: _m(100, 1000), CHAT: _m(200, 10000)}
    after = {SEARCH: _m(50, 500), CHAT: _m(150, 5000)}
    after[("docs", "gpt-5")] = _m(10, 10)

    drivers = top_drivers(explain_change(before, after, FEATURE_MODEL))

    assert [d.sentence for d in drivers] == [
        f"feature chat on gpt-5-mini: -$50.00, 56% of the drop, volume {TIMES}0.5",
        f"feature search on gpt-5: -$50.00, 56% of the drop, volume {TIMES}0.5",
        "feature docs on gpt-5: +$10.00, offsetting 11% of the drop, new",
    ]


def test_a_new_item_is_mix_and_a_gone_item_has_no_price_effect() -> None:
    before = {SEARCH: _m(100, 1000), CHAT: _m(50, 5000)}
    after = {SEARCH: _m(100, 1000), ("agent", "o3"): _m(80, 400)}

    explanation = explain_change(before, after, FEATURE_MODEL)
    items = {item.keys: item for item in explanation.items}

    new, gone = items[("agent", "o3")], items[CHAT]
    assert new.status is ItemStatus.NEW
    assert (new.volume_effect, new.price_effect, new.mix_effect) == _decimals(0, 0, 80)
    assert gone.status is ItemStatus.GONE
    assert gone.price_effect == 0
    assert gone.volume_effect + gone.mix_effect == -50
    assert new.volume_multiplier is None
    assert gone.volume_multiplier is None
    assert sum(_parts(explanation)) == explanation.change == 30
    sentences = [d.sentence for d in top_drivers(explanation)]
    assert sentences == [
        "feature agent on o3: +$80.00, 267% of the rise, new",
        "feature chat on gpt-5-mini: -$50.00, offsetting 167% of the rise, gone",
    ]


def test_growth_from_nothing_is_volume() -> None:
    explanation = explain_change({}, {SEARCH: _m(40, 100)})

    assert _parts(explanation) == _decimals(40, 0, 0)
    assert explanation.before_total == 0


def test_lines_without_a_volume_fall_back_to_cost_only() -> None:
    fee = ("", "web-search")
    before = {SEARCH: _m(100, 1000), fee: _m(20)}
    after = {SEARCH: _m(100, 1000), fee: _m(65, 0)}

    explanation = explain_change(before, after, FEATURE_MODEL)
    (driver,) = top_drivers(explanation)

    assert _parts(explanation) == _decimals(45, 0, 0)
    assert explanation.cost_only_change == 45
    assert explanation.volume_before == 1000
    assert driver.sentence == "feature (untagged) on web-search: +$45.00, 100% of the rise"


def test_drivers_by_one_dimension_sum_over_the_others() -> None:
    before = {SEARCH: _m(100, 1000), ("search", "gpt-5-mini"): _m(10, 1000), CHAT: _m(50, 500)}
    after = {SEARCH: _m(150, 1500), ("search", "gpt-5-mini"): _m(30, 3000), CHAT: _m(40, 400)}

    explanation = explain_change(before, after, FEATURE_MODEL)
    drivers = top_drivers(explanation, dimension=Dimension.FEATURE)

    assert [(d.label, d.change) for d in drivers] == [
        ("feature search", Decimal(70)),
        ("feature chat", Decimal(-10)),
    ]
    assert drivers[0].volume_multiplier == 2.25
    assert top_drivers(explanation, limit=1)[0].keys == SEARCH


def test_measured_rows_reads_tokens_or_requests_from_query_rows() -> None:
    rows = [
        SpendRow(keys=SEARCH, cost=Decimal(5), requests=10, tokens_in=700, tokens_out=300),
        SpendRow(keys=CHAT, cost=Decimal(2), requests=4),
    ]

    assert measured_rows(rows, VolumeMeasure.TOKENS) == {SEARCH: _m(5, 1000), CHAT: _m(2, 0)}
    assert measured_rows(rows, VolumeMeasure.REQUESTS)[SEARCH] == _m(5, 10)


def test_describe_change_and_keys() -> None:
    explanation = explain_change({SEARCH: _m(100, 10)}, {SEARCH: _m(150, 10)})

    assert describe_change(explanation) == (
        "Spend rose $50.00 (+50%): volume +$0.00, price +$50.00, mix +$0.00."
    )
    assert describe_change(explain_change({}, {})) == "Spend was flat at $0.00."
    assert describe_keys((Dimension.TEAM, Dimension.PROVIDER), ("infra", "openai")) == (
        "team infra via openai"
    )
    assert describe_keys((), ("a", "")) == "a / (untagged)"


_costs = st.decimals(min_value=Decimal(-50), max_value=Decimal(10**6), places=10)
_volumes = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
_measured = st.builds(Measured, _costs, _volumes.map(lambda v: None if v is None else Decimal(v)))
_periods = st.dictionaries(
    st.tuples(st.sampled_from(["search", "chat", "agent"]), st.sampled_from(["a", "b", ""])),
    _measured,
    max_size=6,
)


@given(_periods, _periods)
def test_volume_price_and_mix_always_add_up_to_the_change_exactly(
    before: dict[tuple[str, str], Measured], after: dict[tuple[str, str], Measured]
) -> None:
    explanation = explain_change(before, after, FEATURE_MODEL)

    assert sum(_parts(explanation)) == explanation.change
    assert explanation.change == sum(m.cost for m in after.values()) - sum(
        m.cost for m in before.values()
    )
    assert sum(item.change for item in explanation.items) == explanation.change
    for item in explanation.items:
        assert item.volume_effect + item.price_effect + item.mix_effect == item.change
