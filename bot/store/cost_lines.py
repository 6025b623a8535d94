"""Storing provider cost lines: upserts by natural key, so a restated bucket replaces the old
value, and the touched slice of the rollups is summed again in the same transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.clock import utc_midnight
from bot.config import TeamFile
from bot.domain import CostLine, Origin
from bot.errors import StoreError
from bot.money import to_units
from bot.pricing import PriceBook, PriceKey, TokenTotals
from bot.store.attribution import Attribution, sync_rules
from bot.store.models import COST_LINE_KEY, table_of
from bot.store.models import CostLine as CostLineRow
from bot.store.rollups import RollupSums, replace_rollups

_TABLE = table_of(CostLineRow)


def store_file_lines(
    engine: Engine, lines: Sequence[CostLine], team_file: TeamFile, now: datetime
) -> int:
    """Lines read from an export file, stored in one transaction (all of them or, on a crash,
    none) with aispend.toml's attribution rules, synced first, and its prices."""
    with engine.begin() as connection:
        sync_rules(connection, team_file.attribution)
        return store_cost_lines(
            connection,
            lines,
            attribution=Attribution.from_rules(team_file.attribution),
            prices=PriceBook.from_config(team_file.prices),
            fetched_at=now,
        )


def store_cost_lines(
    connection: Connection,
    lines: Sequence[CostLine],
    *,
    attribution: Attribution,
    prices: PriceBook,
    fetched_at: datetime,
) -> int:
    """Upsert the lines and rebuild the rollups they touch; returns how many were written."""
    for line in lines:
        _check(line)
    rows = [_row(_priced(line, prices), attribution, fetched_at) for line in lines]
    if not rows:
        return 0
    _upsert(connection, rows)
    for (origin, provider), days in _slices(lines).items():
        _rebuild(connection, origin, provider, days)
    return len(rows)


def _check(line: CostLine) -> None:
    if line.currency != "USD":
        raise StoreError(f"{line.source}: cost in {line.currency}; only USD is stored so far")
    if line.bucket_hours not in (1, 24) or line.bucket_start.tzinfo is None:
        raise StoreError(f"{line.source}: buckets must be aware UTC hours or days")
    if line.bucket_hours == 24 and line.bucket_start.astimezone(UTC).hour != 0:
        raise StoreError(f"{line.source}: a daily bucket must start at 00:00 UTC")


def _priced(line: CostLine, prices: PriceBook) -> CostLine:
    """A token-only line gets a list-price estimate and is marked estimated."""
    if line.cost is not None or not (line.tokens_in or line.tokens_out):
        return line
    key = PriceKey(
        line.provider,
        line.model,
        line.bucket_start.astimezone(UTC).date(),
        line.service_tier,
        line.batch,
    )
    usage = TokenTotals(
        line.tokens_in,
        line.tokens_out,
        line.cache_read_tokens,
        line.cache_write_tokens,
        line.requests,
    )
    cost = prices.price_total(key, usage)
    return line if cost is None else dataclasses.replace(line, cost=cost, estimated=True)


def _row(line: CostLine, attribution: Attribution, fetched_at: datetime) -> dict[str, Any]:
    owner = attribution.resolve(line.provider, line.project, line.api_key, line.label)
    row = {f.name: getattr(line, f.name) for f in dataclasses.fields(line) if f.name != "label"}
    row.update(team=owner.team, feature=owner.feature, fetched_at=fetched_at)
    return row


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    updated = [c for c in rows[0] if c not in COST_LINE_KEY]
    statement = statement.on_conflict_do_update(
        index_elements=list(COST_LINE_KEY),
        set_={c: statement.excluded[c] for c in updated},
    )
    connection.execute(statement, rows)


def _origin(line: CostLine) -> Origin:
    return Origin.ESTIMATED if line.estimated else Origin.BILLED


def _slices(lines: Sequence[CostLine]) -> dict[tuple[Origin, str], set[date]]:
    """The (origin, provider) slices and days the lines touch. A line that turned from
    estimated to billed touches both origins."""
    touched: dict[tuple[Origin, str], set[date]] = {}
    for line in lines:
        day = line.bucket_start.astimezone(UTC).date()
        for origin in (Origin.BILLED, Origin.ESTIMATED):
            touched.setdefault((origin, line.provider), set()).add(day)
    return touched


def _rebuild(connection: Connection, origin: Origin, provider: str, days: set[date]) -> None:
    first, last = min(days), max(days)
    query = select(_TABLE).where(
        _TABLE.c.provider == provider,
        _TABLE.c.estimated == (origin is Origin.ESTIMATED),
        _TABLE.c.bucket_start >= utc_midnight(first),
        _TABLE.c.bucket_start < utc_midnight(last + timedelta(days=1)),
    )
    sums = RollupSums()
    for row in connection.execute(query).mappings():
        day = row["bucket_start"].astimezone(UTC).date()
        if day in days:
            _add_line(sums, origin, row, day)
    replace_rollups(connection, origin=origin.value, provider=provider, days=days, sums=sums)


def _add_line(sums: RollupSums, origin: Origin, row: Any, day: date) -> None:
    dims = (
        row["provider"],
        row["model"],
        row["project"],
        row["api_key"],
        row["team"],
        row["feature"],
    )
    cost = row["cost"]
    measures = (
        0 if cost is None else to_units(cost),
        row["requests"],
        row["tokens_in"],
        row["tokens_out"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
        row["requests"] if cost is None else 0,
        0,
    )
    hour_key = (row["bucket_start"], origin.value, *dims) if row["bucket_hours"] == 1 else None
    sums.add((day, origin.value, *dims, "", ""), hour_key, measures)


def replace_window(
    connection: Connection,
    *,
    sources: Sequence[str],
    start: datetime,
    end: datetime,
    lines: Sequence[CostLine],
    attribution: Attribution,
    prices: PriceBook,
    fetched_at: datetime,
) -> int:
    """Make the store hold exactly `lines` for these sources in [start, end): a line the
    provider no longer reports goes, a restated one replaces, a new one is added. Rollups of
    every day in the window are rebuilt in the same transaction."""
    outside = [line for line in lines if not start <= line.bucket_start < end]
    if outside or any(line.source not in sources for line in lines):
        raise StoreError("a collected line falls outside its window or names another source")
    window = (_TABLE.c.bucket_start >= start) & (_TABLE.c.bucket_start < end)
    providers = {
        p
        for (p,) in connection.execute(
            select(_TABLE.c.provider).where(_TABLE.c.source.in_(sources), window).distinct()
        )
    }
    connection.execute(delete(_TABLE).where(_TABLE.c.source.in_(sources), window))
    written = store_cost_lines(
        connection, lines, attribution=attribution, prices=prices, fetched_at=fetched_at
    )
    days = _days_between(start, end)
    for provider in providers | {line.provider for line in lines}:
        for origin in (Origin.BILLED, Origin.ESTIMATED):
            _rebuild(connection, origin, provider, days)
    return written


def _days_between(start: datetime, end: datetime) -> set[date]:
    first, last = (
        start.astimezone(UTC).date(),
        (end - timedelta(microseconds=1)).astimezone(UTC).date(),
    )
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}
