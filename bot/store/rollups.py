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

from sqlalchemy import Connection, column, delete, table
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.models import RollupDay, RollupHour
from bot.store.types import bind_datetime

MEASURES = (
    "cost", "requests", "tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens",
    "unpriced_requests", "error_requests",
)  # fmt: skip
DAY_KEYS = (
    "day", "origin", "provider", "model", "project", "api_key", "team", "feature", "customer",
    "environment",
)  # fmt: skip
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


def _plain_table(name: str, keys: tuple[str, ...]) -> Any:
    """The table without type processing: the bulk paths bind already-converted values."""
    return table(name, *(column(c) for c in (*keys, *MEASURES)))


_DAY = _plain_table(RollupDay.__tablename__, DAY_KEYS)
_HOUR = _plain_table(RollupHour.__tablename__, HOUR_KEYS)


def add_rollups(connection: Connection, sums: RollupSums) -> None:
    """Add the sums to what the rollups already hold."""
    _upsert_adding(connection, _DAY, DAY_KEYS, _rows(connection, DAY_KEYS, sums.day))
    _upsert_adding(connection, _HOUR, HOUR_KEYS, _rows(connection, HOUR_KEYS, sums.hour))


def replace_rollups(
    connection: Connection, *, origin: str, provider: str, days: Iterable[date], sums: RollupSums
) -> None:
    """Replace one origin's and provider's rollups on the given days with fresh sums."""
    days = sorted(set(days))
    if not days:
        return
    _delete_slice(connection, origin, provider, days)
    add_rollups(connection, sums)


def _delete_slice(connection: Connection, origin: str, provider: str, days: list[date]) -> None:
    day_table, hour_table = RollupDay.__table__, RollupHour.__table__  # type: ignore[attr-defined]
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


def _rows(
    connection: Connection, keys: tuple[str, ...], sums: dict[Key, list[int]]
) -> list[dict[str, Any]]:
    bind_first = _first_key_binder(connection.dialect.name, keys[0])
    rows = []
    for key, measures in sums.items():
        row = dict(zip(keys, key, strict=True))
        row[keys[0]] = bind_first(key[0])
        row.update(zip(MEASURES, measures, strict=True))
        rows.append(row)
    return rows


def _first_key_binder(dialect_name: str, name: str) -> Any:
    if name == "hour":
        return bind_datetime(dialect_name)
    if dialect_name == "sqlite":
        return date.isoformat
    return lambda value: value


def _upsert_adding(
    connection: Connection, target: Any, keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(target)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={m: target.c[m] + statement.excluded[m] for m in MEASURES},
    )
    connection.execute(statement, rows)
