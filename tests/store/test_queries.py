from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bot.domain import DateRange, Dimension, Filter, SpendQuery
from bot.store.queries import (
    daily_series,
    dimension_values,
    hourly_series,
    spend,
    top_movers,
    unpriced_models,
)
from tests.builders import NOV_1, at, event, priced, write_events

DAY2 = NOV_1 + timedelta(days=1)


def _seed(engine: Engine) -> None:
    write_events(
        engine,
        [
            priced(event(1, feature="search", team="growth"), "1.00"),
            priced(event(2, feature="search", team="growth", ts=at(DAY2)), "5.00"),
            priced(event(3, feature="chat", team="support", model="gpt-5-mini"), "2.00"),
            priced(event(4, feature="chat", team="support", ts=at(DAY2)), "2.00"),
            priced(event(5, provider="anthropic", model="claude-haiku-4-5", ts=at(DAY2)), "0.50"),
            priced(event(6, model="acme-v2", ts=at(DAY2)), None),
        ],
    )


def test_spend_groups_by_two_dimensions_largest_first(engine):
    _seed(engine)
    with engine.connect() as connection:
        report = spend(
            connection,
            SpendQuery(
                DateRange(NOV_1, DAY2 + timedelta(days=1)), (Dimension.TEAM, Dimension.MODEL)
            ),
        )
    assert [(r.keys, r.cost) for r in report.rows] == [
        (("growth", "gpt-5"), Decimal("6.00")),
        (("support", "gpt-5"), Decimal("2.00")),
        (("support", "gpt-5-mini"), Decimal("2.00")),
        (("", "claude-haiku-4-5"), Decimal("0.50")),
        (("", "acme-v2"), Decimal("0")),
    ]
    assert report.total == Decimal("10.50")


def test_spend_filters_combine_and_values_or(engine):
    _seed(engine)
    period = DateRange(NOV_1, DAY2 + timedelta(days=1))
    filters = (
        Filter(Dimension.PROVIDER, ("openai",)),
        Filter(Dimension.TEAM, ("growth", "support")),
    )
    with engine.connect() as connection:
        report = spend(connection, SpendQuery(period, (), filters))
    assert report.total == Decimal("10.00")


def test_spend_respects_half_open_period(engine):
    _seed(engine)
    with engine.connect() as connection:
        report = spend(connection, SpendQuery(DateRange(NOV_1, DAY2)))
    assert report.total == Decimal("3.00")


def test_top_movers_orders_by_size_of_change(engine):
    _seed(engine)
    with engine.connect() as connection:
        movers = top_movers(
            connection,
            SpendQuery(DateRange(DAY2, DAY2 + timedelta(days=1)), (Dimension.FEATURE,)),
            DateRange(NOV_1, DAY2),
        )
    assert [(m.keys, m.before, m.after) for m in movers] == [
        (("search",), Decimal("1.00"), Decimal("5.00")),
        (("",), Decimal("0"), Decimal("0.50")),
    ]


def test_daily_series_has_a_value_per_day_and_group(engine):
    _seed(engine)
    with engine.connect() as connection:
        series = daily_series(
            connection,
            SpendQuery(DateRange(NOV_1, DAY2 + timedelta(days=1)), (Dimension.PROVIDER,)),
        )
    assert series == {
        ("openai",): {NOV_1: Decimal("3.00"), DAY2: Decimal("7.00")},
        ("anthropic",): {DAY2: Decimal("0.50")},
    }


def test_unpriced_models_lists_models_without_price(engine):
    _seed(engine)
    with engine.connect() as connection:
        models = unpriced_models(connection, DateRange(NOV_1, DAY2 + timedelta(days=1)))
    assert [(m.provider, m.model, m.requests) for m in models] == [("openai", "acme-v2", 1)]


def test_dimension_values_lists_distinct_non_empty_values(engine):
    _seed(engine)
    with engine.connect() as connection:
        assert list(dimension_values(connection, Dimension.TEAM)) == ["growth", "support"]


def test_hourly_series_sums_each_utc_hour(engine):
    _seed(engine)
    write_events(engine, [priced(event(50, ts=at(NOV_1, 3)), "0.25")])
    with engine.connect() as connection:
        series = hourly_series(
            connection, SpendQuery(DateRange(NOV_1, DAY2), (Dimension.PROVIDER,))
        )
    assert series == {("openai",): {at(NOV_1, 3): Decimal("0.25"), at(NOV_1, 12): Decimal("3.00")}}


def test_hourly_series_refuses_dimensions_it_does_not_keep(engine):
    with engine.connect() as connection, pytest.raises(ValueError, match="customer"):
        hourly_series(connection, SpendQuery(DateRange(NOV_1, DAY2), (Dimension.CUSTOMER,)))
