"""Collecting: pull a window from each provider and store it, one transaction per provider and
window, recording every run in collector_state. One provider failing never stops the others,
and a failure leaves the store as it was."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

from bot.clock import Clock
from bot.collectors.base import Collector, ReportsBalances, Window
from bot.domain import CostLine, CreditSnapshot
from bot.errors import CollectorError, StoreError
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.cost_lines import replace_window
from bot.store.credits import store_credit_snapshots
from bot.store.models import CollectorState, table_of

logger = logging.getLogger(__name__)
_STATE = table_of(CollectorState)


@dataclass(frozen=True, slots=True)
class Outcome:
    provider: str
    lines: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class CollectContext:
    engine: Engine
    prices: PriceBook
    attribution: Attribution
    clock: Clock


def collect_all(
    context: CollectContext, collectors: Sequence[Collector], window: Window
) -> list[Outcome]:
    """Every collector over the window. Providers are fetched concurrently (the time is spent
    waiting on their APIs); their windows are stored one after another, in registry order.
    A failure is recorded and the others still run."""
    started = context.clock.now()
    with ThreadPoolExecutor(max_workers=max(1, len(collectors))) as pool:
        fetches = [pool.submit(_fetch, c, window, started) for c in collectors]
        return [
            _store(context, c, window, f.result(), started)
            for c, f in zip(collectors, fetches, strict=True)
        ]


@dataclass(frozen=True)
class _Fetched:
    lines: Sequence[CostLine]
    balances: Sequence[CreditSnapshot]


def _fetch(collector: Collector, window: Window, at: datetime) -> _Fetched | str:
    """What the provider reported, or the error to record (never a secret: see CollectorError)."""
    try:
        lines = collector.collect(window.start, window.end)
        balances = collector.balances(at) if isinstance(collector, ReportsBalances) else ()
        return _Fetched(lines, balances)
    except CollectorError as e:
        logger.warning("collection failed: %s", e)
        return str(e)
    except Exception as e:  # a bug in one collector must not stop the others
        logger.exception("collector %s crashed", collector.provider)
        return f"internal error: {type(e).__name__}"


def _store(
    context: CollectContext,
    collector: Collector,
    window: Window,
    fetched: _Fetched | str,
    started: datetime,
) -> Outcome:
    if isinstance(fetched, str):
        return _failed(context, collector, started, fetched)
    lines = fetched.lines
    try:
        with context.engine.begin() as connection:
            written = replace_window(
                connection,
                sources=collector.sources,
                start=window.start,
                end=window.end,
                lines=lines,
                attribution=context.attribution,
                prices=context.prices,
                fetched_at=started,
            )
            store_credit_snapshots(connection, fetched.balances)
            for source in collector.sources:
                through = _reported_through(lines, source)
                _record(connection, source, started, error="", pulled=window.end, through=through)
    except StoreError as e:
        return _failed(context, collector, started, str(e))
    return Outcome(collector.provider, lines=written)


def _failed(context: CollectContext, collector: Collector, at: datetime, error: str) -> Outcome:
    with context.engine.begin() as connection:
        for source in collector.sources:
            _record(connection, source, at, error=error)
    return Outcome(collector.provider, error=error)


def _reported_through(lines: Sequence[CostLine], source: str) -> datetime | None:
    """The end of the last bucket the source reported: how far its data reaches."""
    ends = [x.bucket_start + timedelta(hours=x.bucket_hours) for x in lines if x.source == source]
    return max(ends, default=None)


def _record(
    connection: Connection,
    source: str,
    at: datetime,
    *,
    error: str,
    pulled: datetime | None = None,
    through: datetime | None = None,
) -> None:
    """Upsert the source's state: a success moves the watermark (how far it has pulled) and
    complete_through (how far its data reaches) and clears the error count."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {"source": source, "last_attempt": at, "last_error": error[:2000]}
    if error:
        values["consecutive_failures"] = 1
        update = {
            "last_attempt": at,
            "last_error": values["last_error"],
            "consecutive_failures": _STATE.c.consecutive_failures + 1,
        }
    else:
        values |= {"last_success": at, "consecutive_failures": 0, "watermark": pulled}
        if through is not None:
            values["complete_through"] = through
        update = {k: v for k, v in values.items() if k != "source"}
    statement = insert(_STATE).values(**values)
    connection.execute(statement.on_conflict_do_update(index_elements=["source"], set_=update))
