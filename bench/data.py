"""Synthetic events for the benchmarks: the demo's company at any volume."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from bot.domain import UsageEvent
from bot.synthetic import ActivitySpec, generate_event_columns, generate_events, write_jsonl

END = date(2026, 11, 22)
DAYS = 90
OUT = Path(__file__).with_name("out")


def spec_for(events: int) -> ActivitySpec:
    """A 90-day spec whose activity is `events` events, give or take 1%: measured on a small
    run, since weekends, growth and the planted scenario all change the count."""
    probe = ActivitySpec(end=END, days=DAYS, events_per_day=1000, now_hour=24)
    yielded = sum(len(generate_event_columns(probe, d)["ts"]) for d in _days(probe))
    per_day = math.ceil(1000 * events / yielded * 1.01)
    return ActivitySpec(end=END, days=DAYS, events_per_day=per_day, now_hour=24)


def _days(spec: ActivitySpec) -> list[date]:
    return [spec.start + timedelta(days=i) for i in range(spec.days)]


def events(count: int) -> Iterator[UsageEvent]:
    return itertools.islice(generate_events(spec_for(count)), count)


def jsonl_file(count: int) -> Path:
    """A JSON-lines file of `count` events, written once and reused."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"events-{count}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        with partial.open("wb") as stream:
            write_jsonl(events(count), stream)
        partial.rename(path)
    return path


def emit(figure: str, **values: object) -> None:
    print(json.dumps({"figure": figure, **values}), flush=True)
