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

from bot.clock import Clock, utc_midnight
from bot.collectors.base import (
    Collector,
    LimitedReach,
    ReportsBalances,
    ReportsCodingTools,
    ReportsNames,
    Window,
)
from bot.domain import CodingToolDay, CostLine, CreditSnapshot, DateRange, DisplayName
from bot.errors import CollectorError, StoreError
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.coding_tools import replace_coding_days
from bot.store.cost_lines import replace_window
from bot.store.credits import store_credit_snapshots
from bot.store.freshness import list_source_states
from bot.store.models import CollectorState, table_of
from bot.store.names import load_names, store_names

logger = logging.getLogger(__name__)
_STATE = table_of(CollectorState)
_DAY = timedelta(days=1)
NAMES_SUFFIX = ".names"  # the collector_state row of a provider's name lookups
NAMES_REFRESH = timedelta(hours=24)


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
    names = _NameCache.load(context.engine, started)
    with ThreadPoolExecutor(max_workers=max(1, len(collectors))) as pool:
        fetches = [pool.submit(_fetch, c, window, started, names) for c in collectors]
        return [
            _store(context, c, window, f.result(), started)
            for c, f in zip(collectors, fetches, strict=True)
        ]


@dataclass(frozen=True)
class _NameCache:
    """What the store already knows of names: which ids, and which providers' lists are fresh.
    Lists are fetched again once a day, or at once when a line carries an id never named."""

    known: frozenset[tuple[str, str]]
    fresh: frozenset[str]  # providers whose names were refreshed within NAMES_REFRESH

    @classmethod
    def load(cls, engine: Engine, now: datetime) -> _NameCache:
        with engine.connect() as connection:
            known = frozenset(load_names(connection))
            states = list_source_states(connection)
        fresh = {
            s.source.removesuffix(NAMES_SUFFIX)
            for s in states
            if s.source.endswith(NAMES_SUFFIX)
            and s.last_success is not None
            and now - s.last_success < NAMES_REFRESH
        }
        return cls(known, frozenset(fresh))

    def due(self, provider: str, lines: Sequence[CostLine]) -> bool:
        if provider not in self.fresh:
            return True
        return any(
            (kind, value) not in self.known
            for line in lines
            for kind, value in (("project", line.project), ("api_key", line.api_key))
            if value
        )


@dataclass(frozen=True)
class _Fetched:
    lines: Sequence[CostLine]
    balances: Sequence[CreditSnapshot] = ()
    coding: Sequence[CodingToolDay] = ()
    names: Sequence[DisplayName] | None = None  # None: not looked up this run
    names_error: str = ""


def _fetch(collector: Collector, window: Window, at: datetime, cache: _NameCache) -> _Fetched | str:
    """What the provider reported, or the error to record (never a secret: see CollectorError).
    Names are secondary: failing to look them up is recorded but loses no spend."""
    try:
        lines = collector.collect(window.start, window.end)
        balances = collector.balances(at) if isinstance(collector, ReportsBalances) else ()
        coding = (
            collector.coding_days(window.start, window.end)
            if isinstance(collector, ReportsCodingTools)
            else ()
        )
    except CollectorError as e:
        logger.warning("collection failed: %s", e)
        return str(e)
    except Exception as e:  # a bug in one collector must not stop the others
        logger.exception("collector %s crashed", collector.provider)
        return f"internal error: {type(e).__name__}"
    if not isinstance(collector, ReportsNames) or not cache.due(collector.provider, lines):
        return _Fetched(lines, balances, coding)
    try:
        return _Fetched(lines, balances, coding, names=collector.names())
    except CollectorError as e:
        logger.warning("name lookup failed: %s", e)
        return _Fetched(lines, balances, coding, names_error=str(e))


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
    reached = collector.reach(window) if isinstance(collector, LimitedReach) else window
    try:
        with context.engine.begin() as connection:
            written = 0
            if reached is not None:
                written = replace_window(
                    connection,
                    sources=collector.sources,
                    start=reached.start,
                    end=reached.end,
                    lines=lines,
                    attribution=context.attribution,
                    prices=context.prices,
                    fetched_at=started,
                )
            store_credit_snapshots(connection, fetched.balances)
            pulled = window.end if reached is None else reached.end
            for source in collector.sources:
                through = _reported_through(lines, source)
                _record(connection, source, started, error="", pulled=pulled, through=through)
            if isinstance(collector, ReportsCodingTools):
                _store_coding(
                    connection, collector.provider, collector, window, fetched.coding, started
                )
            if fetched.names is not None or fetched.names_error:
                store_names(connection, fetched.names or (), started)
                names_source = collector.provider + NAMES_SUFFIX
                _record(connection, names_source, started, error=fetched.names_error)
    except StoreError as e:
        return _failed(context, collector, started, str(e))
    return Outcome(collector.provider, lines=written)


def _store_coding(
    connection: Connection,
    provider: str,
    collector: ReportsCodingTools,
    window: Window,
    days: Sequence[CodingToolDay],
    started: datetime,
) -> None:
    span = DateRange(window.start.date(), window.end.date())
    replace_coding_days(connection, collector.coding_tool, span, days)
    reached = max((d.day for d in days), default=None)
    through = None if reached is None else utc_midnight(reached) + _DAY
    source = f"{provider}.{collector.coding_tool}"
    _record(connection, source, started, error="", pulled=window.end, through=through)


def _failed(context: CollectContext, collector: Collector, at: datetime, error: str) -> Outcome:
    with context.engine.begin() as connection:
        for source in _all_sources(collector):
            _record(connection, source, at, error=error)
    return Outcome(collector.provider, error=error)


def _all_sources(collector: Collector) -> tuple[str, ...]:
    """Every collector_state row the collector keeps: its spend sources and coding tool."""
    if isinstance(collector, ReportsCodingTools):
        return (*collector.sources, f"{collector.provider}.{collector.coding_tool}")
    return collector.sources


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
