"""The worker side of parallel JSON-lines ingest: parse a chunk and prepare it for the store.

`start` runs once in the worker process and keeps what every chunk needs; nothing here touches
the database."""

from __future__ import annotations

import io
from dataclasses import dataclass

from bot.domain import UsageEvent
from bot.ingest.chunks import Chunk
from bot.ingest.prepare import prepare_batch
from bot.ingest.readers import Format, iter_parsed
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.events import PreparedBatch
from bot.store.rollups import RollupSums

TOO_LONG = "line is longer than 1 MiB"


@dataclass(frozen=True)
class Setup:
    prices: PriceBook
    attribution: Attribution
    source: str
    dialect: str


@dataclass(frozen=True)
class Result:
    records: int
    events: int
    bad: list[tuple[int, str]]
    batch: PreparedBatch


_setup: list[Setup] = []  # the worker process's one Setup, set by start()


def start(setup: Setup) -> None:
    _setup[:] = [setup]


def parse_and_prepare(chunk: Chunk, setup: Setup | None = None) -> Result:
    """Parse one chunk of lines and prepare its events; line numbers are the file's."""
    setup = setup or _setup[0]
    if chunk.too_long:
        return Result(1, 0, [(chunk.first_line, TOO_LONG)], _empty())
    events: list[UsageEvent] = []
    bad: list[tuple[int, str]] = []
    records = 0
    offset = chunk.first_line - 1
    for item in iter_parsed(io.BytesIO(chunk.data), Format.JSONL, source=setup.source):
        records += 1
        if item.event is None:
            bad.append((item.line + offset, item.error or "unreadable"))
        else:
            events.append(item.event)
    batch = prepare_batch(
        events, prices=setup.prices, attribution=setup.attribution, dialect=setup.dialect
    )
    return Result(records, len(events), bad, batch)


def _empty() -> PreparedBatch:
    return PreparedBatch([], RollupSums())
