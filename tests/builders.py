"""Small builders for test data, with defaults that say nothing surprising."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bot.analysis.subscriptions import Cycle, Subscription
from bot.domain import CostLine, UsageEvent
from bot.ingest.prepare import prepare_batch
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.cost_lines import store_cost_lines
from bot.store.events import store_events

NOV_1 = date(2026, 11, 1)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def event(n: int, **fields: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "ts": at(NOV_1),
        "request_id": f"req-{n}",
        "provider": "openai",
        "model": "gpt-5",
        "tokens_in": 1000,
        "tokens_out": 100,
    }
    values.update(fields)
    return UsageEvent(**values)


def priced(e: UsageEvent, cost: str | None) -> UsageEvent:
    """The event with the cost its app reported; None leaves it to list price."""
    return e if cost is None else dataclasses.replace(e, cost=Decimal(cost))


def line(**fields: Any) -> CostLine:
    values: dict[str, Any] = {
        "source": "openai.costs",
        "provider": "openai",
        "bucket_start": at(NOV_1, 0),
        "model": "gpt-5",
        "cost": Decimal("10.00"),
    }
    values.update(fields)
    return CostLine(**values)


def write_events(engine: Any, events: list[UsageEvent]) -> int:
    batch = prepare_batch(
        events, prices=PriceBook(), attribution=Attribution({}), dialect=engine.dialect.name
    )
    with engine.begin() as connection:
        return store_events(connection, batch)


def write_lines(engine: Any, lines: list[CostLine], attribution: Attribution | None = None) -> int:
    with engine.begin() as connection:
        return store_cost_lines(
            connection,
            lines,
            attribution=attribution or Attribution({}),
            prices=PriceBook(),
            fetched_at=datetime(2026, 11, 20, tzinfo=UTC),
        )


def subscription(**fields: Any) -> Subscription:
    """Cursor Business, 10 seats at $400 a month, renewing on Dec 15."""
    values: dict[str, Any] = {
        "vendor": "Cursor",
        "plan": "Business",
        "cost": Decimal("400"),
        "cycle": Cycle.MONTHLY,
        "renews_on": date(2026, 12, 15),
        "started_on": date(2026, 11, 15),
        "reviewed_on": date(2026, 11, 15),
        "seats": 10,
    }
    values.update(fields)
    return Subscription(**values)
