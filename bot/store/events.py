"""Storing request-level events: one fast bulk insert per batch, duplicates skipped, rollups
added in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from bot.domain import EventStatus, Origin, UsageEvent
from bot.errors import StoreError
from bot.store.models import UsageEvent as UsageEventRow
from bot.store.rollups import RollupSums, add_rollups
from bot.store.types import bind_datetime

COLUMNS = (
    "source", "request_id", "ts", "provider", "model", "project", "api_key", "feature", "team",
    "customer", "environment", "service_tier", "batch", "tokens_in", "tokens_out",
    "cache_read_tokens", "cache_write_tokens", "latency_ms", "status", "cost", "price_version",
)  # fmt: skip
_LOOKUP_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class PricedEvent:
    event: UsageEvent
    cost_units: int | None  # 1e-10 USD; None when unpriced
    price_version: str


def store_events(connection: Connection, batch: Sequence[PricedEvent]) -> int:
    """Store the events not stored before and add them to the rollups; returns how many."""
    fresh = _unseen(connection, _first_of_each(batch))
    if not fresh:
        return 0
    _insert(connection, fresh)
    add_rollups(connection, _sums(fresh))
    return len(fresh)


def _first_of_each(batch: Sequence[PricedEvent]) -> list[PricedEvent]:
    seen: dict[tuple[str, str], PricedEvent] = {}
    for item in batch:
        seen.setdefault((item.event.source, item.event.request_id), item)
    return list(seen.values())


def _unseen(connection: Connection, items: list[PricedEvent]) -> list[PricedEvent]:
    stored = set(_stored_ids(connection, {(i.event.source, i.event.request_id) for i in items}))
    if not stored:
        return items
    return [i for i in items if (i.event.source, i.event.request_id) not in stored]


def _stored_ids(connection: Connection, keys: set[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    table = UsageEventRow.__table__  # type: ignore[attr-defined]
    by_source: dict[str, list[str]] = {}
    for source, request_id in keys:
        by_source.setdefault(source, []).append(request_id)
    for source, ids in by_source.items():
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            query = (
                table.select()
                .with_only_columns(table.c.request_id)
                .where(table.c.source == source, table.c.request_id.in_(chunk))
            )
            yield from ((source, rid) for (rid,) in connection.execute(query))


def _insert(connection: Connection, items: list[PricedEvent]) -> None:
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {UsageEventRow.__tablename__} ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(COLUMNS))}) ON CONFLICT DO NOTHING"
    )
    bind_ts = bind_datetime(connection.dialect.name)
    rows = [_row(item, bind_ts) for item in items]
    result = connection.exec_driver_sql(sql, rows)
    if result.rowcount not in (-1, len(rows)):
        raise StoreError("another writer stored some of these events at the same time; retry")


def _row(item: PricedEvent, bind_ts: Any) -> tuple[Any, ...]:
    e = item.event
    return (
        e.source, e.request_id, bind_ts(e.ts), e.provider, e.model, e.project, e.api_key,
        e.feature, e.team, e.customer, e.environment, e.service_tier, e.batch, e.tokens_in,
        e.tokens_out, e.cache_read_tokens, e.cache_write_tokens, e.latency_ms, e.status.value,
        item.cost_units, item.price_version,
    )  # fmt: skip


def _sums(items: list[PricedEvent]) -> RollupSums:
    sums = RollupSums()
    reported = Origin.REPORTED.value
    for item in items:
        e = item.event
        ts = e.ts.astimezone(UTC)
        hour = datetime(ts.year, ts.month, ts.day, ts.hour, tzinfo=UTC)
        dims = (e.provider, e.model, e.project, e.api_key, e.team, e.feature)
        day_key = (ts.date(), reported, *dims, e.customer, e.environment)
        measures = (
            item.cost_units or 0, 1, e.tokens_in, e.tokens_out, e.cache_read_tokens,
            e.cache_write_tokens, int(item.cost_units is None), int(e.status is EventStatus.ERROR),
        )  # fmt: skip
        sums.add(day_key, (hour, reported, *dims), measures)
    return sums
