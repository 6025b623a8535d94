"""From parsed records to the store: batch, price, attribute, and write one batch per
transaction, so a crash loses at most the batch in flight and a re-run stores it again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy import Engine

from bot.domain import UsageEvent
from bot.errors import StoreError
from bot.ingest.readers import Parsed
from bot.money import to_units
from bot.pricing import PriceBook, PriceKey, TokenColumns
from bot.store.attribution import Attribution
from bot.store.events import PricedEvent, store_events

BATCH_SIZE = 20_000
APP_REPORTED = "reported by the app"
MAX_KEPT_ERRORS = 1000

PriceGroup = tuple[str, str, date, str, bool]


@dataclass
class IngestReport:
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    unpriced: int = 0  # records no price was found for
    bad: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_KEPT_ERRORS


def price_events(events: Sequence[UsageEvent], prices: PriceBook) -> list[PricedEvent]:
    """Price many events at once: one rate lookup per (provider, model, day, tier, batch)."""
    groups: dict[PriceGroup, list[int]] = {}
    for i, e in enumerate(events):
        if e.cost is None:
            group = (e.provider, e.model, e.ts.date(), e.service_tier, e.batch)
            groups.setdefault(group, []).append(i)
    costs: list[int | None] = [None if e.cost is None else to_units(e.cost) for e in events]
    versions = [APP_REPORTED if e.cost is not None else "" for e in events]
    tokens = _token_columns(events)
    for group, members in groups.items():
        key = PriceKey(*group)
        index = np.array(members, dtype=np.int64)
        priced = prices.price(key, _take(tokens, index))
        if priced is None:
            continue
        version = prices.rates(key).version  # type: ignore[union-attr]
        for i, units in zip(members, priced.tolist(), strict=True):
            costs[i], versions[i] = units, version
    return [PricedEvent(e, c, v) for e, c, v in zip(events, costs, versions, strict=True)]


def _token_columns(events: Sequence[UsageEvent]) -> TokenColumns:
    n = len(events)
    return TokenColumns(
        np.fromiter((e.tokens_in for e in events), np.int64, n),
        np.fromiter((e.tokens_out for e in events), np.int64, n),
        np.fromiter((e.cache_read_tokens for e in events), np.int64, n),
        np.fromiter((e.cache_write_tokens for e in events), np.int64, n),
    )


def _take(tokens: TokenColumns, index: np.ndarray) -> TokenColumns:  # type: ignore[type-arg]
    return TokenColumns(
        tokens.tokens_in[index],
        tokens.tokens_out[index],
        tokens.cache_read[index],
        tokens.cache_write[index],
    )


def attribute_events(events: list[UsageEvent], attribution: Attribution) -> list[UsageEvent]:
    """Fill in team and feature from the rules where the app did not say."""
    if not attribution.by_key:
        return events
    return [_attributed(e, attribution) if not (e.team and e.feature) else e for e in events]


def _attributed(event: UsageEvent, attribution: Attribution) -> UsageEvent:
    owner = attribution.resolve(event.provider, event.project, event.api_key)
    if not (owner.team or owner.feature):
        return event
    return dataclasses.replace(
        event, team=event.team or owner.team, feature=event.feature or owner.feature
    )


def ingest(
    engine: Engine,
    parsed: Iterable[Parsed],
    *,
    prices: PriceBook,
    attribution: Attribution,
    on_bad: Callable[[int, str], None] | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Store every good record and report every bad one; returns the counts."""
    report = IngestReport()
    batch: list[UsageEvent] = []
    for item in parsed:
        report.records += 1
        if item.event is None:
            _record_bad(report, item.line, item.error or "unreadable", on_bad)
            continue
        batch.append(item.event)
        if len(batch) >= batch_size:
            _flush(engine, batch, prices, attribution, report, on_batch)
            batch = []
    _flush(engine, batch, prices, attribution, report, on_batch)
    return report


def _record_bad(
    report: IngestReport, line: int, reason: str, on_bad: Callable[[int, str], None] | None
) -> None:
    report.bad += 1
    if len(report.errors) < MAX_KEPT_ERRORS:
        report.errors.append((line, reason))
    if on_bad is not None:
        on_bad(line, reason)


def _flush(
    engine: Engine,
    batch: list[UsageEvent],
    prices: PriceBook,
    attribution: Attribution,
    report: IngestReport,
    on_batch: Callable[[IngestReport], None] | None,
) -> None:
    if not batch:
        return
    priced = price_events(attribute_events(batch, attribution), prices)
    stored = _store_with_retry(engine, priced)
    report.stored += stored
    report.duplicates += len(priced) - stored
    report.unpriced += sum(1 for p in priced if p.cost_units is None)
    if on_batch is not None:
        on_batch(report)


def _store_with_retry(engine: Engine, priced: list[PricedEvent], attempts: int = 3) -> int:
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                return store_events(connection, priced)
        except StoreError:
            if attempt == attempts - 1:
                raise
    return 0
