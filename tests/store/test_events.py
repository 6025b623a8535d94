from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from bot.domain import DateRange, Dimension, EventStatus, Filter, Origin, SpendQuery
from bot.ingest.prepare import prepare_batch
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.events import store_events
from bot.store.models import RollupDay, RollupHour, UsageEvent, table_of
from bot.store.queries import spend
from tests.builders import NOV_1, at, event, priced, write_events

WEEK = DateRange(NOV_1, NOV_1 + timedelta(days=7))


def _total(engine: Engine, **query: Any) -> Decimal:
    with engine.connect() as connection:
        return spend(connection, SpendQuery(WEEK, **query)).total


def test_store_events_adds_exact_decimal_totals_to_rollups(engine):
    costs = ["0.0000000001", "0.1", "0.2", "1234.5678901234"]
    stored = write_events(engine, [priced(event(i), c) for i, c in enumerate(costs)])
    assert stored == 4
    assert _total(engine) == Decimal("1234.8678901235")


def test_store_events_skips_request_ids_already_stored(engine):
    write_events(engine, [priced(event(1), "1.00"), priced(event(2), "2.00")])
    again = write_events(engine, [priced(event(2), "2.00"), priced(event(3), "3.00")])
    assert again == 1
    assert _total(engine) == Decimal("6.00")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(UsageEvent)) == 3


def test_store_events_keeps_the_first_of_a_repeated_id_in_one_batch(engine):
    stored = write_events(engine, [priced(event(1), "1.00"), priced(event(1), "5.00")])
    assert stored == 1
    assert _total(engine) == Decimal("1.00")


def test_store_events_dedupes_per_source(engine):
    write_events(engine, [priced(event(1, source="app-a"), "1.00")])
    stored = write_events(engine, [priced(event(1, source="app-b"), "1.00")])
    assert stored == 1
    assert _total(engine) == Decimal("2.00")


def test_store_events_counts_unpriced_requests_and_never_prices_them_at_zero(engine):
    write_events(engine, [priced(event(1), "1.00"), priced(event(2, model="mystery"), None)])
    with engine.connect() as connection:
        report = spend(connection, SpendQuery(WEEK, (Dimension.MODEL,)))
        usage = table_of(UsageEvent)
        stored_cost = connection.execute(
            select(usage.c.cost).where(usage.c.request_id == "req-2")
        ).scalar_one()
    assert stored_cost is None
    assert report.unpriced_requests == 1
    assert {r.keys: r.unpriced_requests for r in report.rows} == {("gpt-5",): 0, ("mystery",): 1}


def test_store_events_fills_hourly_rollups_by_utc_hour(engine):
    events = [
        priced(event(1, ts=at(NOV_1, 3)), "1.00"),
        priced(event(2, ts=at(NOV_1, 3) + timedelta(minutes=59)), "2.00"),
        priced(event(3, ts=at(NOV_1, 4)), "4.00"),
    ]
    write_events(engine, events)
    hourly = table_of(RollupHour)
    with engine.connect() as connection:
        rows = connection.execute(select(hourly.c.hour, hourly.c.cost).order_by(hourly.c.hour))
        assert [(h, c) for h, c in rows] == [
            (at(NOV_1, 3), Decimal("3.00")),
            (at(NOV_1, 4), Decimal("4.00")),
        ]


def test_store_events_counts_errors(engine):
    write_events(
        engine, [priced(event(1, status=EventStatus.ERROR), "0.01"), priced(event(2), "0.01")]
    )
    with engine.connect() as connection:
        assert connection.scalar(select(func.sum(RollupDay.error_requests))) == 1


def test_store_events_rolls_back_whole_batch_when_transaction_fails(engine):
    write_events(engine, [priced(event(1), "1.00")])
    batch = prepare_batch(
        [priced(event(2), "2.00")],
        prices=PriceBook(),
        attribution=Attribution({}),
        dialect=engine.dialect.name,
    )

    def write_then_crash() -> None:
        with engine.begin() as connection:
            assert store_events(connection, batch) == 1
            raise RuntimeError("crash after the write, before commit")

    with pytest.raises(RuntimeError, match="crash"):
        write_then_crash()
    assert _total(engine) == Decimal("1.00")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(UsageEvent)) == 1


def test_store_events_round_trips_aware_utc_timestamps(engine):
    ts = at(NOV_1, 23) + timedelta(microseconds=123456)
    write_events(engine, [priced(event(1, ts=ts), "1.00")])
    with engine.connect() as connection:
        stored = connection.execute(select(table_of(UsageEvent).c.ts)).scalar_one()
    assert stored == ts
    assert stored.utcoffset() == timedelta(0)


def test_event_dimensions_are_answered_from_reported_events(engine):
    write_events(
        engine,
        [
            priced(event(1, feature="search", customer="c1"), "1.00"),
            priced(event(2, feature="chat", customer="c1"), "2.00"),
            priced(event(3, feature="chat", customer="c2"), "4.00"),
        ],
    )
    with engine.connect() as connection:
        by_feature = spend(connection, SpendQuery(WEEK, (Dimension.FEATURE,)))
        c1 = spend(connection, SpendQuery(WEEK, (), (Filter(Dimension.CUSTOMER, ("c1",)),)))
    assert by_feature.origin is Origin.REPORTED
    assert [(r.keys, r.cost) for r in by_feature.rows] == [
        (("chat",), Decimal("6.00")),
        (("search",), Decimal("1.00")),
    ]
    assert c1.total == Decimal("3.00")


def test_days_are_utc_days(engine):
    late = at(NOV_1, 23) + timedelta(minutes=30)
    write_events(engine, [priced(event(1, ts=late), "1.00")])
    with engine.connect() as connection:
        day = connection.execute(select(table_of(RollupDay).c.day)).scalar_one()
        raw = connection.execute(text("SELECT COUNT(*) FROM rollup_day")).scalar_one()
    assert day in (NOV_1, NOV_1.isoformat())
    assert raw == 1
    assert date.fromisoformat(str(day)) == NOV_1


def test_every_event_field_lands_in_its_own_column(engine):
    e = event(
        7,
        source="app",
        project="proj",
        api_key="key",
        feature="feat",
        team="team",
        customer="cust",
        environment="env",
        service_tier="flex",
        batch=True,
        tokens_in=900,
        tokens_out=80,
        cache_read_tokens=300,
        cache_write_tokens=200,
        latency_ms=1234,
        status=EventStatus.ERROR,
    )
    write_events(engine, [priced(e, "0.125")])
    with engine.connect() as connection:
        row = connection.execute(select(UsageEvent)).one()._mapping
    assert {k: row[k] for k in row if k not in ("id", "ts")} == {
        "source": "app",
        "request_id": "req-7",
        "provider": "openai",
        "model": "gpt-5",
        "project": "proj",
        "api_key": "key",
        "feature": "feat",
        "team": "team",
        "customer": "cust",
        "environment": "env",
        "service_tier": "flex",
        "batch": True,
        "tokens_in": 900,
        "tokens_out": 80,
        "cache_read_tokens": 300,
        "cache_write_tokens": 200,
        "latency_ms": 1234,
        "status": "error",
        "cost": Decimal("0.125"),
        "price_version": "reported by the app",
    }
