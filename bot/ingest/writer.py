"""From input to the store, one batch per transaction: a crash loses at most the batch in
flight, and a second run stores exactly what is missing.

One process does it all. A worker process that parsed while the main one wrote was measured
on these 2-core machines and was no faster (pickling each prepared batch costs about as much
as the work it moves), and a writer thread was slower (GIL hand-offs); see the README.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import Engine

from bot.domain import UsageEvent
from bot.errors import StoreError
from bot.ingest.prepare import prepare_batch
from bot.ingest.readers import Format, Parsed, detect_format, iter_parsed
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.db import writing
from bot.store.events import PreparedBatch, store_events

BATCH_SIZE = 20_000
MAX_KEPT_ERRORS = 1000


@dataclass
class IngestReport:
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    unpriced: int = 0  # records no price was found for
    bad: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_KEPT_ERRORS


@dataclass(frozen=True)
class Sinks:
    """Where ingest reports as it goes: each bad line, and the report after each batch."""

    on_bad: Callable[[int, str], None] | None = None
    on_batch: Callable[[IngestReport], None] | None = None


def ingest(
    engine: Engine,
    parsed: Iterable[Parsed],
    *,
    prices: PriceBook,
    attribution: Attribution,
    sinks: Sinks = Sinks(),
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Store every good record and report every bad one, in one process."""
    report = IngestReport()
    dialect = engine.dialect.name
    for events in _batches(parsed, report, sinks, batch_size):
        prepared = prepare_batch(events, prices=prices, attribution=attribution, dialect=dialect)
        _store(engine, prepared, len(events), report, sinks)
    return report


def _batches(
    parsed: Iterable[Parsed], report: IngestReport, sinks: Sinks, size: int
) -> Iterator[list[UsageEvent]]:
    batch: list[UsageEvent] = []
    for item in parsed:
        report.records += 1
        if item.event is None:
            _record_bad(report, item.line, item.error or "unreadable", sinks)
            continue
        batch.append(item.event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _record_bad(report: IngestReport, line: int, reason: str, sinks: Sinks) -> None:
    report.bad += 1
    if len(report.errors) < MAX_KEPT_ERRORS:
        report.errors.append((line, reason))
    if sinks.on_bad is not None:
        sinks.on_bad(line, reason)


def _store(
    engine: Engine, batch: PreparedBatch, events: int, report: IngestReport, sinks: Sinks
) -> None:
    stored = _store_with_retry(engine, batch)
    report.stored += stored
    report.duplicates += events - stored
    report.unpriced += batch.unpriced
    if sinks.on_batch is not None:
        sinks.on_batch(report)


def _store_with_retry(engine: Engine, batch: PreparedBatch, attempts: int = 3) -> int:
    """A concurrent writer on PostgreSQL can race us to a request id; the batch then rolls
    back whole and is tried again, when its duplicates are found before writing."""
    for attempt in range(attempts):
        try:
            with writing(engine) as connection:  # concurrent requests take turns on SQLite
                return store_events(connection, batch)
        except StoreError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


PEEK_BYTES = 1 << 20


def ingest_stream(
    engine: Engine,
    stream: io.BufferedReader,
    fmt: Format,
    *,
    name: str,
    source: str,
    prices: PriceBook,
    attribution: Attribution,
    sinks: Sinks = Sinks(),
) -> IngestReport:
    """Ingest any supported input. `stream` must be buffered with room to peek at PEEK_BYTES
    (see `open_for_ingest`) when the format is to be detected."""
    if fmt is Format.AUTO:
        fmt = detect_format(name, stream.peek(PEEK_BYTES)[:PEEK_BYTES])
    parsed = iter_parsed(stream, fmt, source=source, name=name)
    return ingest(engine, parsed, prices=prices, attribution=attribution, sinks=sinks)


def open_for_ingest(raw: BinaryIO) -> io.BufferedReader:
    """A reader over `raw` that can peek far enough to detect the format."""
    return io.BufferedReader(raw, PEEK_BYTES)  # type: ignore[arg-type]
