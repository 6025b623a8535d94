from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from bot.config import AttributionConfig
from bot.domain import DateRange, Dimension, Origin, SpendQuery, SpendReport
from bot.errors import StoreError
from bot.store.attribution import Attribution
from bot.store.models import CostLine as CostLineRow
from bot.store.queries import spend
from tests.builders import NOV_1, at, event, line, priced, write_events, write_lines

WEEK = DateRange(NOV_1, NOV_1 + timedelta(days=7))


def _spend(engine: Engine, *group_by: Dimension, origin: Origin | None = None) -> SpendReport:
    with engine.connect() as connection:
        return spend(connection, SpendQuery(WEEK, group_by, origin=origin))


def test_restated_bucket_replaces_instead_of_adding(engine):
    first = [line(cost=Decimal("10.00")), line(model="gpt-5-mini", cost=Decimal("1.50"))]
    write_lines(engine, first)
    restated = [line(cost=Decimal("10.37")), line(model="gpt-5-mini", cost=Decimal("1.50"))]
    write_lines(engine, restated)
    write_lines(engine, restated)
    assert _spend(engine).total == Decimal("11.87")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(CostLineRow)) == 2


def test_restatement_of_one_day_leaves_other_days_alone(engine):
    day2 = at(NOV_1 + timedelta(days=1), 0)
    write_lines(engine, [line(cost=Decimal("5")), line(bucket_start=day2, cost=Decimal("7"))])
    write_lines(engine, [line(bucket_start=day2, cost=Decimal("8.25"))])
    assert _spend(engine).total == Decimal("13.25")


def test_billed_wins_over_estimated_and_reported_for_the_same_provider_day(engine):
    write_events(engine, [priced(event(1), "3.00")])
    write_lines(
        engine,
        [
            line(
                source="openai.usage",
                bucket_start=at(NOV_1, 5),
                bucket_hours=1,
                cost=Decimal("4.00"),
                estimated=True,
            )
        ],
    )
    assert _spend(engine).total == Decimal("4.00")  # estimated beats reported
    write_lines(engine, [line(cost=Decimal("4.40"))])
    assert _spend(engine).total == Decimal("4.40")  # billed beats both, nothing counted twice
    assert _spend(engine, origin=Origin.REPORTED).total == Decimal("3.00")


def test_each_provider_day_uses_its_own_best_origin(engine):
    write_lines(engine, [line(cost=Decimal("10"))])
    write_events(engine, [priced(event(1, provider="anthropic", model="claude-sonnet-4-5"), "2.5")])
    report = _spend(engine, Dimension.PROVIDER)
    assert {r.keys: r.cost for r in report.rows} == {
        ("openai",): Decimal("10"),
        ("anthropic",): Decimal("2.5"),
    }
    assert report.total == Decimal("12.5")


def test_token_only_lines_are_priced_as_estimates(engine):
    write_lines(
        engine,
        [
            line(
                source="anthropic.usage",
                provider="anthropic",
                model="claude-sonnet-4-5",
                bucket_start=at(NOV_1, 9),
                bucket_hours=1,
                cost=None,
                requests=10,
                tokens_in=1_000_000,
                tokens_out=100_000,
                cache_read_tokens=500_000,
            )
        ],
    )
    report = _spend(engine, origin=Origin.ESTIMATED)
    # 500k uncached at $3, 500k cache reads at $0.30, 100k out at $15 per million
    assert report.total == Decimal("1.5") + Decimal("0.15") + Decimal("1.5")


def test_unknown_model_line_without_cost_is_unpriced(engine):
    write_lines(engine, [line(model="acme-secret-model", cost=None, requests=3, tokens_in=10)])
    report = _spend(engine)
    assert report.total == 0
    assert report.unpriced_requests == 3


def test_attribution_assigns_team_from_project(engine):
    rules = Attribution.from_rules([AttributionConfig(project="proj_growth", team="growth")])
    write_lines(
        engine,
        [line(project="proj_growth", cost=Decimal("3")), line(project="proj_x", cost=Decimal("1"))],
        attribution=rules,
    )
    report = _spend(engine, Dimension.TEAM)
    assert {r.keys: r.cost for r in report.rows} == {("growth",): Decimal("3"), ("",): Decimal("1")}


@pytest.mark.parametrize(
    "bad",
    [
        {"currency": "EUR"},
        {"bucket_hours": 6},
        {"bucket_start": at(NOV_1, 5)},
    ],
)
def test_store_cost_lines_refuses_bad_lines_and_writes_nothing(engine, bad):
    with pytest.raises(StoreError):
        write_lines(engine, [line(cost=Decimal("1")), dataclasses.replace(line(model="x"), **bad)])
    assert _spend(engine).total == 0
