"""Seeded, reproducible synthetic request events, from the simulated days (simulation.py).

Columns from generate_event_columns, one array per UsageEvent field, in time order:
  ts                        datetime64[us], UTC
  tokens_*, latency_ms      int64 (batch requests report their completion time, ~30 min)
  batch                     bool
  request_id, provider, model, project, api_key, feature, team, customer, environment,
  service_tier              object arrays of str (customer "" on internal features,
                            service_tier "" where the provider has no tiers)
  status                    object array of EventStatus
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import repeat
from typing import BinaryIO

import numpy as np
import orjson
from numpy.typing import NDArray

from bot.domain import EventStatus, UsageEvent
from bot.synthetic.catalog import CUSTOMERS, ENVIRONMENTS, FEATURES, MODELS, PROVIDER_IDS, TEAMS
from bot.synthetic.simulation import (
    TIERS,
    TOKENS,
    ActivitySpec,
    Columns,
    days,
    scenario,
    simulate,
    tables,
)

_HEAD = ("request_id", "provider", "model", *TOKENS)  # UsageEvent fields before `source`
_TAIL = (
    "project",
    "api_key",
    "feature",
    "team",
    "customer",
    "environment",
    "service_tier",
    "batch",
    "latency_ms",
    "status",
)


@functools.cache
def _names() -> dict[str, NDArray[np.object_]]:
    """Per string column, its values by code."""
    values: dict[str, Iterable[str]] = {
        "provider": PROVIDER_IDS,
        "model": (m.name for m in MODELS),
        "project": (t.project for t in TEAMS),
        "api_key": (k for t in TEAMS for k in t.keys),
        "feature": (f.name for f in FEATURES),
        "team": (t.name for t in TEAMS),
        "customer": ("", *CUSTOMERS),
        "environment": ENVIRONMENTS,
        "service_tier": TIERS,
        "status": (EventStatus.OK, EventStatus.ERROR),
    }
    return {name: np.array(list(v), dtype=object) for name, v in values.items()}


def _public(day: date, sim: Columns) -> Columns:
    """Codes to the documented columns."""
    t, names = tables(), _names()
    team = t["feature_team"][sim["feature"]]
    codes = {
        "provider": t["model_provider"][sim["model"]],
        "model": sim["model"],
        "project": team,
        "api_key": team * len(ENVIRONMENTS) + sim["env"],
        "feature": sim["feature"],
        "team": team,
        "customer": sim["customer"],
        "environment": sim["env"],
        "service_tier": sim["tier"],
        "status": sim["error"].astype(np.intp),
    }
    ids = map(f"req_{day:%Y%m%d}_%07d".__mod__, range(team.size))
    cols: Columns = {
        "ts": np.datetime64(day, "us") + sim["ts_us"].astype("timedelta64[us]"),
        "request_id": np.fromiter(ids, dtype=object, count=team.size),
    }
    cols |= {name: names[name][code] for name, code in codes.items()}
    return cols | {k: sim[k] for k in (*TOKENS, "batch", "latency_ms")}


def generate_event_columns(spec: ActivitySpec, day: date) -> Columns:
    """One day's events as columns (see the module docstring), in time order."""
    if not spec.start <= day <= spec.end:
        raise ValueError(f"{day} is outside the activity range {spec.start}..{spec.end}")
    return _public(day, simulate(spec, scenario(spec), day))


# --- events ---------------------------------------------------------------------------------


def _events(cols: Columns) -> Iterator[UsageEvent]:
    # float seconds keep microseconds exact: the spacing near 2e9 s is 2.4e-7 s
    seconds = (cols["ts"].astype(np.int64) / 1e6).tolist()
    ts = map(datetime.fromtimestamp, seconds, repeat(UTC))
    head = [cols[c].tolist() for c in _HEAD]
    tail = [cols[c].tolist() for c in _TAIL]
    return map(UsageEvent, ts, *head, repeat("events"), *tail)


def generate_events(spec: ActivitySpec) -> Iterator[UsageEvent]:
    """Every event in time order, except late_day's, which come last. One day in memory."""
    plan = scenario(spec)
    for day in [d for d in days(spec) if d != plan.late_day] + [plan.late_day]:
        yield from _events(_public(day, simulate(spec, plan, day)))


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(UsageEvent)}


def _as_sent(event: UsageEvent) -> dict[str, object]:
    """The event as an app would send it: the fields it sets, without `source`, which is the
    ingesting side's to name, and without fields left at their defaults."""
    return {
        name: value
        for name, value in ((f, getattr(event, f)) for f in _DEFAULTS)
        if name != "source" and value != _DEFAULTS[name]
    }


def write_jsonl(events: Iterable[UsageEvent], stream: BinaryIO) -> int:
    """One flat JSON object per event and line (UsageEvent's field names); returns the count."""
    count, chunk = 0, []
    for event in events:
        chunk.append(orjson.dumps(_as_sent(event), default=str, option=orjson.OPT_APPEND_NEWLINE))
        if len(chunk) == 10_000:
            stream.write(b"".join(chunk))
            count += len(chunk)
            chunk.clear()
    stream.write(b"".join(chunk))
    return count + len(chunk)
