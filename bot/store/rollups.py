"""Daily and hourly rollups, changed in the same transaction as the rows they sum.

Request events add to rollups (each request is stored once, so adding is exact). Provider cost
lines are upserted and may restate earlier values, so their slice of the rollups (one origin,
one provider, the days touched) is deleted and summed again from the cost lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, delete

from bot.store.models import RollupDay, RollupDayCore, RollupHour, table_of
from bot.store.types import bind_datetime

MEASURES = (
    "cost",
    "requests",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_write_tokens",
    "unpriced_requests",
    "error_requests",
)
DAY_KEYS = (
    "day",
    "origin",
    "provider",
    "model",
    "project",
    "api_key",
    "team",
    "feature",
    "customer",
    "environment",
)
CORE_KEYS = ("day", "origin", "provider", "model", "project", "api_key", "team", "feature")
HOUR_KEYS = ("hour", "origin", "provider", "model", "project", "api_key", "team", "feature")

Key = tuple[Any, ...]


@dataclass
class RollupSums:
    """Measures summed in memory by rollup key, ready to be written in one statement each."""

    day: dict[Key, list[int]] = field(default_factory=dict)
    hour: dict[Key, list[int]] = field(default_factory=dict)

    def add(self, day_key: Key, hour_key: Key | None, measures: tuple[int, ...]) -> None:
        _accumulate(self.day, day_key, measures)
        if hour_key is not None:
            _accumulate(self.hour, hour_key, measures)


def _accumulate(sums: dict[Key, list[int]], key: Key, measures: tuple[int, ...]) -> None:
    current = sums.get(key)
    if current is None:
        sums[key] = list(measures)
    else:
        for i, value in enumerate(measures):
            current[i] += value


def add_rollups(connection: Connection, sums: RollupSums) -> None:
    """Add the sums to what the rollups already hold."""
    _upsert_adding(connection, RollupDay.__tablename__, DAY_KEYS, sums.day)
    _upsert_adding(connection, RollupDayCore.__tablename__, CORE_KEYS, _core(sums.day))
    _upsert_adding(connection, RollupHour.__tablename__, HOUR_KEYS, sums.hour)


def replace_rollups(
    connection: Connection, *, origin: str, provider: str, days: Iterable[date], sums: RollupSums
) -> None:
    """Replace one origin's and provider's rollups on the given days with fresh sums."""
    days = sorted(set(days))
    if not days:
        return
    _delete_slice(connection, origin, provider, days)
    add_rollups(connection, sums)


def _core(day: dict[Key, list[int]]) -> dict[Key, list[int]]:
    """Day sums folded over customer and environment (the last two key parts)."""
    core: dict[Key, list[int]] = {}
    for key, measures in day.items():
        _accumulate(core, key[:-2], tuple(measures))
    return core


def _delete_slice(connection: Connection, origin: str, provider: str, days: list[date]) -> None:
    hour_table = table_of(RollupHour)
    for model in (RollupDay, RollupDayCore):
        day_table = table_of(model)
        connection.execute(
            delete(day_table).where(
                day_table.c.origin == origin,
                day_table.c.provider == provider,
                day_table.c.day.in_(days),
            )
        )
    for day in days:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        connection.execute(
            delete(hour_table).where(
                hour_table.c.origin == origin,
                hour_table.c.provider == provider,
                hour_table.c.hour >= start,
                hour_table.c.hour < start + timedelta(days=1),
            )
        )


def _first_key_binder(dialect_name: str, name: str) -> Any:
    if name == "hour":
        return bind_datetime(dialect_name)
    if dialect_name == "sqlite":
        return date.isoformat
    return lambda value: value


def _upsert_adding(
    connection: Connection, table_name: str, keys: tuple[str, ...], sums: dict[Key, list[int]]
) -> None:
    """One executemany of INSERT ... ON CONFLICT DO UPDATE SET measure = measure + new."""
    if not sums:
        return
    bind_first = _first_key_binder(connection.dialect.name, keys[0])
    rows = [(bind_first(key[0]), *key[1:], *measures) for key, measures in sums.items()]
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    columns = (*keys, *MEASURES)
    updates = ", ".join(f"{m} = {table_name}.{m} + excluded.{m}" for m in MEASURES)
    sql = (
        f"INSERT INTO {table_name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )
    connection.exec_driver_sql(sql, rows)
