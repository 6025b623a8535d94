"""One simulated day of synthetic activity, as columns of catalog codes.

Every day draws from its own generator, numpy.random.default_rng([seed, day.toordinal()]), so
any day is reproducible alone and no day depends on another. A day is simulated as columns
(vectorized, no loop per event); activity.py turns them into events, billing.py into cost lines.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bot.synthetic.catalog import (
    CUSTOMERS,
    FEATURES,
    LAUNCH_FEATURE,
    MODELS,
    PROVIDER_IDS,
    RUNAWAY_FEATURE,
    TEAMS,
    UNPRICED_MODEL,
)

Columns = dict[str, NDArray[Any]]

TIERS: tuple[str, ...] = ("", "default", "flex", "priority")
TOKENS = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens")
US_PER_HOUR = 3_600_000_000
_CACHING = ("none", "auto", "explicit")  # auto: reads only (OpenAI, Gemini, DeepSeek)
_MIN_DAYS = 14
_WEEKDAY = (1.0, 1.04, 1.04, 1.0, 0.92, 0.42, 0.38)  # Monday first; weekdays average 1
_GROWTH = 0.01  # per day
_LAUNCH_RAMP = (0.3, 0.6)  # the launch feature's volume on its first days, then full
_RUNAWAY_FACTOR = 10.0
_ERROR_RATE = 0.01
_STAGING_SHARE = 0.08
_MAX_IN, _MAX_OUT = 190_000, 32_000
_SCENARIO_SALT = 0x5CE
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ActivitySpec:
    end: date  # the last day of activity (the demo's "today"; partial up to now_hour)
    days: int = 42
    events_per_day: int = 4000  # average requests on a weekday at the start of the range
    seed: int = 7
    now_hour: int = 15  # the last day only has events before this UTC hour

    def __post_init__(self) -> None:
        if self.days < _MIN_DAYS:
            raise ValueError(f"synthetic activity needs at least {_MIN_DAYS} days")
        if self.events_per_day < 0 or not 0 <= self.now_hour <= 24:
            raise ValueError("events_per_day must be >= 0 and now_hour within 0..24")

    @property
    def start(self) -> date:
        """The first day of activity."""
        return self.end - timedelta(days=self.days - 1)


@dataclass(frozen=True, slots=True)
class Scenario:
    """What is planted, so tests and the demo can point at it."""

    launch_feature: str
    launch_day: date
    runaway_feature: str
    runaway_day: date
    runaway_hours: tuple[int, int]  # [start, end) UTC hours, ~10x volume
    unpriced_model: str
    late_day: date  # events of this day arrive late (emitted at the end of the stream)


def scenario(spec: ActivitySpec) -> Scenario:
    rng = np.random.default_rng([spec.seed, _SCENARIO_SALT])
    near_end = (spec.end - timedelta(days=k) for k in (3, 2, 4))
    weekdays = [d for d in near_end if d.weekday() < 5]
    runaway_day = weekdays[int(rng.integers(len(weekdays)))]
    first = int(rng.integers(9, 13))
    launch_day = spec.start + timedelta(days=round(spec.days * 2 / 3))
    late_day = spec.end - _DAY
    hours = (first, first + 6)
    return Scenario(
        LAUNCH_FEATURE, launch_day, RUNAWAY_FEATURE, runaway_day, hours, UNPRICED_MODEL, late_day
    )


# --- the catalog as arrays, indexed by catalog position ------------------------------------


def _cumulative(weights: list[float], width: int) -> list[float]:
    """Cumulative shares padded to `width`; the last real slot and the padding are exactly 1."""
    cum = (np.cumsum(weights) / sum(weights)).tolist()
    return [*cum[:-1], *[1.0] * (width - len(cum) + 1)]


def _diurnal(business_hours: bool) -> NDArray[np.float64]:
    bump = np.exp(-0.5 * ((np.arange(24) - 15) / 3.5) ** 2)  # peaks at 15 UTC
    curve = 0.25 + bump if business_hours else 0.8 + 0.2 * bump
    return np.asarray(curve / curve.sum(), dtype=np.float64)


def _feature_tables() -> Columns:
    model_at = {m.name: i for i, m in enumerate(MODELS)}
    width = max(len(f.models) for f in FEATURES)
    slots = [[model_at[n] for n, _ in f.models] for f in FEATURES]
    mix = [[dict(f.tier_mix).get(t, 0.0) for t in TIERS[1:]] for f in FEATURES]
    return {
        "share": np.array([f.share for f in FEATURES]),
        "diurnal": np.array([_diurnal(f.business_hours) for f in FEATURES]),
        "in_mu": np.log([f.tokens_in[0] for f in FEATURES]),
        "in_sigma": np.array([f.tokens_in[1] for f in FEATURES]),
        "out_mu": np.log([max(f.tokens_out[0], 1) for f in FEATURES]),
        "out_sigma": np.array([f.tokens_out[1] for f in FEATURES]),
        "cache_share": np.array([f.cache_share for f in FEATURES]),
        "batch_share": np.array([f.batch_share for f in FEATURES]),
        "customer_facing": np.array([f.customer_facing for f in FEATURES]),
        "feature_team": np.array([[t.name for t in TEAMS].index(f.team) for f in FEATURES]),
        "feature_models": np.array([s + [s[0]] * (width - len(s)) for s in slots]),
        "model_cum": np.array([_cumulative([w for _, w in f.models], width) for f in FEATURES]),
        "tier_cum": np.array([_cumulative(m, len(m)) for m in mix]),
    }


def _model_tables() -> Columns:
    return {
        "model_provider": np.array([PROVIDER_IDS.index(m.provider) for m in MODELS]),
        "caching": np.array([_CACHING.index(m.caching) for m in MODELS]),
        "model_batch": np.array([m.batch for m in MODELS]),
        "tier_ok": np.array([[t in m.tiers for t in TIERS] for m in MODELS]),
        "out_scale": np.array([0.0 if m.kind == "embedding" else m.output_scale for m in MODELS]),
        "ttft": np.array([float(m.ttft_ms) for m in MODELS]),
        "tokens_per_s": np.array([float(m.tokens_per_s) for m in MODELS]),
    }


@functools.cache
def tables() -> Columns:
    """Per-feature and per-model arrays, by catalog position, and customer weights."""
    zipf = 1 / np.arange(1, len(CUSTOMERS) + 1) ** 0.9  # a few big customers, a long tail
    return _feature_tables() | _model_tables() | {"customer_p": zipf / zipf.sum()}


# --- one day as columns ---------------------------------------------------------------------


def _expected(spec: ActivitySpec, plan: Scenario, day: date) -> NDArray[np.float64]:
    """Expected requests per feature (rows) and UTC hour (columns), before noise."""
    t, names = tables(), [f.name for f in FEATURES]
    share = t["share"].copy()
    since_launch = (day - plan.launch_day).days
    ramp = _LAUNCH_RAMP[since_launch] if 0 <= since_launch < len(_LAUNCH_RAMP) else 1.0
    share[names.index(plan.launch_feature)] *= ramp if since_launch >= 0 else 0.0
    level = spec.events_per_day * (1 + _GROWTH) ** (day - spec.start).days
    lam: NDArray[np.float64] = level * _WEEKDAY[day.weekday()] * share[:, None] * t["diurnal"]
    if day == plan.runaway_day:
        lam[names.index(plan.runaway_feature), slice(*plan.runaway_hours)] *= _RUNAWAY_FACTOR
    return lam


def _counts(
    spec: ActivitySpec, plan: Scenario, day: date, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Requests per feature and hour: day-level and feature-level lognormal noise, Poisson."""
    lam = _expected(spec, plan, day)
    noise = rng.lognormal(0.0, 0.06) * rng.lognormal(0.0, 0.10, len(FEATURES))
    counts: NDArray[np.int64] = rng.poisson(lam * noise[:, None])
    if day == spec.end:
        counts[:, spec.now_hour :] = 0
    return counts


def _pick(rng: np.random.Generator, cum: NDArray[Any], rows: NDArray[Any]) -> NDArray[Any]:
    """Per event, a slot drawn from its row of cumulative shares."""
    slots: NDArray[np.intp] = (rng.random(rows.size)[:, None] >= cum[rows]).sum(axis=1)
    return slots


def _routing(rng: np.random.Generator, feature: NDArray[Any]) -> Columns:
    """Model, environment, customer, batch flag and service tier of each request."""
    t, n = tables(), feature.size
    model = t["feature_models"][feature, _pick(rng, t["model_cum"], feature)]
    env = (rng.random(n) < _STAGING_SHARE).astype(np.intp)
    customer = 1 + rng.choice(len(CUSTOMERS), n, p=t["customer_p"])
    batch = (rng.random(n) < t["batch_share"][feature]) & t["model_batch"][model]
    tier = 1 + _pick(rng, t["tier_cum"], feature)
    tier = np.where(t["tier_ok"][model, tier] & ~batch, tier, 1)
    return {
        "model": model,
        "env": env,
        "customer": np.where(t["customer_facing"][feature], customer, 0),
        "batch": batch,
        "tier": np.where(t["tier_ok"][model, 1], tier, 0),
    }


def _tokens(rng: np.random.Generator, feature: NDArray[Any], model: NDArray[Any]) -> Columns:
    """Lognormal prompt and completion sizes; cache reads (and Anthropic-style writes)."""
    t, n = tables(), feature.size
    tin = np.clip(np.rint(rng.lognormal(t["in_mu"][feature], t["in_sigma"][feature])), 1, _MAX_IN)
    out = rng.lognormal(t["out_mu"][feature], t["out_sigma"][feature]) * t["out_scale"][model]
    caching = t["caching"][model]
    prefix = t["cache_share"][feature] * rng.uniform(0.8, 1.0, n)
    hit = rng.random(n) < np.where(caching == 2, 0.88, 0.6)
    read = np.where(hit & (caching > 0), np.floor(tin * prefix), 0.0)
    read = np.where(caching == 1, np.where(tin >= 1024, read // 128 * 128, 0.0), read)
    write = np.where(hit, np.floor((tin - read) * 0.3), np.floor(tin * prefix))
    values = (tin, np.clip(np.rint(out), 0, _MAX_OUT), read, np.where(caching == 2, write, 0.0))
    return {name: v.astype(np.int64) for name, v in zip(TOKENS, values, strict=True)}


def _outcome(rng: np.random.Generator, cols: Columns) -> Columns:
    """~1% errors with small token counts, and a latency per request."""
    t, model = tables(), cols["model"]
    error = rng.random(model.size) < _ERROR_RATE
    first = (t["ttft"][model] + cols["tokens_in"] * 0.02) * rng.lognormal(0.0, 0.35, model.size)
    latency = first + cols["tokens_out"] * 1000.0 / t["tokens_per_s"][model]
    queued = rng.lognormal(np.log(1_800_000.0), 0.6, model.size)
    latency = np.where(error, first * 0.5, np.where(cols["batch"], queued, latency))
    cleared = {k: np.where(error, 0, cols[k]) for k in TOKENS[1:]}
    tin = np.where(error, np.maximum(cols["tokens_in"] // 20, 1), cols["tokens_in"])
    latency_ms = np.rint(latency).astype(np.int64)
    return cleared | {"tokens_in": tin, "latency_ms": latency_ms, "error": error}


def simulate(spec: ActivitySpec, plan: Scenario, day: date) -> Columns:
    """One day's events as catalog codes, in time order; ts_us counts from midnight UTC."""
    rng = np.random.default_rng([spec.seed, day.toordinal()])
    counts = _counts(spec, plan, day, rng)
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    ts_us = (cell % 24) * US_PER_HOUR + rng.integers(0, US_PER_HOUR, cell.size)
    order = np.argsort(ts_us, kind="stable")
    cols: Columns = {"ts_us": ts_us[order], "feature": (cell // 24)[order]}
    cols |= _routing(rng, cols["feature"])
    cols |= _tokens(rng, cols["feature"], cols["model"])
    return cols | _outcome(rng, cols)


def days(spec: ActivitySpec) -> list[date]:
    """Every day of activity, first to last."""
    return [spec.start + timedelta(days=k) for k in range(spec.days)]
