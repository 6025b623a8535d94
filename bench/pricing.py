"""Pricing a million events in bulk, next to genai-prices' calc_price called per event."""

from __future__ import annotations

import argparse
import contextlib
import time
from datetime import UTC, datetime
from datetime import time as day_time

from genai_prices import Usage, calc_price

from bench.data import emit, events
from bot.domain import UsageEvent
from bot.ingest.prepare import price_events, token_columns
from bot.pricing import PriceBook
from bot.providers import PROVIDERS

SAMPLE = 20_000


def add_options(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


def run(args: argparse.Namespace) -> None:
    batch = list(events(args.events))
    started = time.perf_counter()
    costs, _ = price_events(batch, token_columns(batch), PriceBook())
    took = time.perf_counter() - started
    per_event = _calc_price_seconds(batch[:SAMPLE])
    emit(
        "price_events",
        events=len(batch),
        seconds=round(took, 3),
        unpriced=sum(1 for c in costs if c is None),
        reference=f"genai-prices calc_price per event, timed on {SAMPLE:,} and scaled",
        reference_seconds=round(per_event * len(batch), 1),
        speedup=round(per_event * len(batch) / took, 1),
        target_seconds=1.0,
    )


def _calc_price_seconds(sample: list[UsageEvent]) -> float:
    started = time.perf_counter()
    for e in sample:
        prices_id = PROVIDERS[e.provider].prices_id
        usage = Usage(
            input_tokens=e.tokens_in,
            output_tokens=e.tokens_out,
            cache_read_tokens=e.cache_read_tokens,
            cache_write_tokens=e.cache_write_tokens,
        )
        at = datetime.combine(e.ts.date(), day_time(0), tzinfo=UTC)
        with contextlib.suppress(LookupError):
            calc_price(usage, e.model, provider_id=prices_id, genai_request_timestamp=at)
    return (time.perf_counter() - started) / len(sample)
