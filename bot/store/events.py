"""Storing request-level events in bulk.

A batch goes into a temporary staging table with one `executemany`; the database then drops
the request ids it already holds, moves the rest into `usage_event`, and adds them to the
daily and hourly rollups with two INSERT ... SELECT ... GROUP BY upserts. All of it runs in
the caller's transaction, so a batch is stored whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from bot.errors import StoreError
from bot.store.rollups import CORE_KEYS, DAY_KEYS, HOUR_KEYS, MEASURES, RollupSums, add_rollups

EVENT_ATTRIBUTES = (
    "source",
    "request_id",
    "provider",
    "model",
    "project",
    "api_key",
    "feature",
    "team",
    "customer",
    "environment",
    "service_tier",
    "batch",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_write_tokens",
    "latency_ms",
)  # UsageEvent attributes stored as they are
COLUMNS = (*EVENT_ATTRIBUTES, "ts", "status", "cost", "price_version")
_STAGING = "staging_event"
_INTEGER_COLUMNS = {
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_write_tokens",
    "latency_ms",
    "cost",
}


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Rows for usage_event in COLUMNS order (times already bound for the dialect), unique
    by (source, request_id), and their rollup sums."""

    rows: list[tuple[Any, ...]]
    sums: RollupSums
    unpriced: int = 0


def store_events(connection: Connection, batch: PreparedBatch) -> int:
    """Store the rows not stored before and add them to the rollups; returns how many.

    When none was stored before, the batch's own sums go to the rollups; otherwise the
    database sums the rows that are really new."""
    if not batch.rows:
        return 0
    dialect = _Dialect(connection.dialect.name)
    connection.exec_driver_sql(dialect.create_staging())
    try:
        connection.exec_driver_sql(dialect.insert_staging(), batch.rows)
        dropped = connection.exec_driver_sql(dialect.drop_stored()).rowcount
        stored = connection.exec_driver_sql(dialect.move_to_events()).rowcount
        if stored != len(batch.rows) - dropped:
            raise StoreError("another writer stored some of these events at the same time; retry")
        if dropped == 0:
            add_rollups(connection, batch.sums)
        else:
            connection.exec_driver_sql(dialect.add_to_rollup("rollup_day", DAY_KEYS))
            connection.exec_driver_sql(dialect.add_to_rollup("rollup_day_core", CORE_KEYS))
            connection.exec_driver_sql(dialect.add_to_rollup("rollup_hour", HOUR_KEYS))
    finally:
        connection.exec_driver_sql(f"DELETE FROM {_STAGING}")
    return int(stored)


@dataclass(frozen=True, slots=True)
class _Dialect:
    """The few statements whose spelling differs between SQLite and PostgreSQL."""

    name: str

    @property
    def mark(self) -> str:
        return "?" if self.name == "sqlite" else "%s"

    def create_staging(self) -> str:
        ts_type = "TEXT" if self.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"
        batch_type = "INTEGER" if self.name == "sqlite" else "BOOLEAN"
        columns = ", ".join(f"{c} {self._type(c, ts_type, batch_type)}" for c in COLUMNS)
        return f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} ({columns})"

    @staticmethod
    def _type(column: str, ts_type: str, batch_type: str) -> str:
        if column == "ts":
            return ts_type
        if column == "batch":
            return batch_type
        return "BIGINT" if column in _INTEGER_COLUMNS else "TEXT"

    def insert_staging(self) -> str:
        marks = ", ".join([self.mark] * len(COLUMNS))
        return f"INSERT INTO {_STAGING} ({', '.join(COLUMNS)}) VALUES ({marks})"

    def drop_stored(self) -> str:
        return (
            f"DELETE FROM {_STAGING} WHERE EXISTS (SELECT 1 FROM usage_event u "
            f"WHERE u.source = {_STAGING}.source AND u.request_id = {_STAGING}.request_id)"
        )

    def move_to_events(self) -> str:
        columns = ", ".join(COLUMNS)
        return (
            f"INSERT INTO usage_event ({columns}) SELECT {columns} FROM {_STAGING} "
            "WHERE true ON CONFLICT DO NOTHING"
        )

    def _bucket(self, key: str) -> str:
        if self.name == "sqlite":
            return "substr(ts, 1, 10)" if key == "day" else "substr(ts, 1, 13) || ':00:00.000000'"
        if key == "day":
            return "CAST(ts AT TIME ZONE 'UTC' AS DATE)"
        return "date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

    def add_to_rollup(self, table: str, keys: tuple[str, ...]) -> str:
        dims = keys[2:]
        sums = (
            "COALESCE(SUM(cost), 0), COUNT(*), SUM(tokens_in), SUM(tokens_out), "
            "SUM(cache_read_tokens), SUM(cache_write_tokens), "
            "SUM(CASE WHEN cost IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END)"
        )
        updates = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in MEASURES)
        return (
            f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(MEASURES)}) "
            f"SELECT {self._bucket(keys[0])}, 'reported', {', '.join(dims)}, {sums} "
            f"FROM {_STAGING} WHERE true GROUP BY {self._bucket(keys[0])}, {', '.join(dims)} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
