"""A labelled synthetic corpus of spend series for the anomaly detector (design §6).

Deterministic from a seed: every series draws from its own numpy Generator seeded with
(seed, granularity, index). Cost per bucket is unit_price x Poisson(mean / unit_price) x
lognormal(0, 0.15), with the mean built from a base level, weekly seasonality, a diurnal
curve (hourly), a growth trend, day-level overdispersion and sporadic inactive days. Events
multiply the mean: runaway loops, launches and model swaps up are labelled when their excess
over the counterfactual (the same draws without events) reaches the material threshold;
swaps down, outages, monthly fees, provider lag and the partial last bucket are not, so an
alert on them is a false positive. Everything stays in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from bot.analysis.series import SeriesBatch

Floats = NDArray[np.float64]

CORPUS_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
MATERIAL_USD = 10.0
_DAILY, _HOURLY = 24, 1
_SALT = {_DAILY: 0xDA, _HOURLY: 0x40}
_FIRST_EVENT_DAY = 21  # three weeks of history before any event
_EVENT_SPACING_DAYS = 10
_COUNT_NOISE = 0.15
_FEE_SHARE = 0.15


class EventKind(StrEnum):
    RUNAWAY = "runaway"
    LAUNCH = "launch"
    SWAP_UP = "swap_up"
    SWAP_DOWN = "swap_down"
    OUTAGE = "outage"


LABELLED_KINDS = frozenset({EventKind.RUNAWAY, EventKind.LAUNCH, EventKind.SWAP_UP})
_PERSISTENT_KINDS = frozenset({EventKind.LAUNCH, EventKind.SWAP_UP, EventKind.SWAP_DOWN})
_KIND_ODDS = {
    EventKind.RUNAWAY: 0.35,
    EventKind.LAUNCH: 0.2,
    EventKind.SWAP_UP: 0.2,
    EventKind.SWAP_DOWN: 0.15,
    EventKind.OUTAGE: 0.1,
}


@dataclass(frozen=True, slots=True)
class SeriesParams:
    base_per_day: float
    unit_price: float
    overdispersion: float
    weekly: str  # "flat", "b2b" (weekends lower) or "batch" (one weekday higher)
    weekly_factor: float
    batch_weekday: int
    trend_per_day: float
    p_active: float
    fee_usd: float  # 0 when the series has no monthly fee
    fee_day: int  # day of month the fee lands on


@dataclass(frozen=True, slots=True)
class InjectedEvent:
    kind: EventKind
    start: int  # first affected bucket
    end: int  # last bucket of the spike, or of the label window for a step
    factor: float
    excess_usd: float  # sum of (actual - counterfactual) from start to end
    labelled: bool  # a labelled kind with material excess

    @property
    def immaterial(self) -> bool:
        """A labelled kind too small to matter: alerting on it is a false positive."""
        return self.kind in LABELLED_KINDS and not self.labelled


@dataclass(frozen=True, slots=True)
class SyntheticSeries:
    name: str
    bucket_hours: int
    values: Floats  # observed $ per bucket, with lag and the partial last bucket
    counterfactual: Floats  # the same draws without events, lag or partial bucket
    complete_through: int  # the watermark: buckets from here on are lagged or partial
    params: SeriesParams
    events: tuple[InjectedEvent, ...]

    @property
    def windows(self) -> list[tuple[int, int]]:
        """Labelled windows, inclusive bucket ranges."""
        return [(e.start, e.end) for e in self.events if e.labelled]


@dataclass(frozen=True, slots=True)
class Corpus:
    seed: int
    start: datetime
    daily: tuple[SyntheticSeries, ...]
    hourly: tuple[SyntheticSeries, ...]

    def series(self, bucket_hours: int) -> tuple[SyntheticSeries, ...]:
        return self.daily if bucket_hours == _DAILY else self.hourly

    def batch(self, bucket_hours: int) -> SeriesBatch:
        """All series of one granularity on one axis; shorter ones end early (incomplete)."""
        series = self.series(bucket_hours)
        width = max(s.values.size for s in series)
        values = np.zeros((len(series), width))
        for row, s in enumerate(series):
            values[row, : s.values.size] = s.values
        complete = np.array([s.complete_through for s in series], dtype=np.int64)
        keys = tuple(("series", s.name) for s in series)
        return SeriesBatch(keys, self.start, bucket_hours, values, complete)


def generate_corpus(seed: int, *, n_daily: int = 150, n_hourly: int = 40) -> Corpus:
    """The labelled corpus for one seed: daily series of 60-180 days, hourly of 60-90."""
    daily = tuple(_series(seed, _DAILY, i) for i in range(n_daily))
    hourly = tuple(_series(seed, _HOURLY, i) for i in range(n_hourly))
    return Corpus(seed, CORPUS_START, daily, hourly)


def _series(seed: int, bucket_hours: int, index: int) -> SyntheticSeries:
    """One series: parameters, mean, events, count noise, fee, lag and partial bucket."""
    rng = np.random.default_rng([seed, _SALT[bucket_hours], index])
    per_day = 24 // bucket_hours
    days = int(rng.integers(60, 181 if bucket_hours == _DAILY else 91))
    params = _params(rng)
    mean = _mean_per_bucket(rng, params, days, per_day)
    plan = _plan_events(rng, days, per_day)
    multiplier, outage = _event_effects(plan, days * per_day)
    noise = rng.lognormal(0.0, _COUNT_NOISE, mean.size)
    unit = params.unit_price
    counterfactual = unit * rng.poisson(mean / unit) * noise
    changed = (multiplier != 1.0) & ~outage
    actual = counterfactual.copy()
    actual[changed] = (
        unit * rng.poisson(mean[changed] * multiplier[changed] / unit) * noise[changed]
    )
    fee = _fee_per_bucket(params, days, per_day)
    counterfactual += fee
    actual += fee
    actual[outage] = 0.0
    events = tuple(_labelled(e, actual, counterfactual) for e in plan)
    observed, complete = _lag_and_partial(rng, actual, per_day)
    name = f"{'daily' if bucket_hours == _DAILY else 'hourly'}-{index:03d}"
    return SyntheticSeries(name, bucket_hours, observed, counterfactual, complete, params, events)


def _params(rng: np.random.Generator) -> SeriesParams:
    weekly = str(rng.choice(["flat", "b2b", "batch"], p=[0.4, 0.35, 0.25]))
    base = _log_uniform(rng, 0.05, 3000.0)
    has_fee = rng.random() < _FEE_SHARE
    return SeriesParams(
        base_per_day=base,
        unit_price=_log_uniform(rng, 0.0005, 0.05),
        overdispersion=float(rng.uniform(0.05, 0.35)),
        weekly=weekly,
        weekly_factor=float(rng.uniform(0.15, 0.6) if weekly == "b2b" else rng.uniform(1.5, 3)),
        batch_weekday=int(rng.integers(0, 7)),
        trend_per_day=float(np.clip(rng.normal(0.003, 0.004), -0.01, 0.02)),
        p_active=float(rng.choice([1.0, 0.7, 0.3], p=[0.7, 0.2, 0.1])),
        fee_usd=float(rng.uniform(5, 20) * base) if has_fee else 0.0,
        fee_day=int(rng.integers(1, 6)),
    )


def _mean_per_bucket(
    rng: np.random.Generator, params: SeriesParams, days: int, per_day: int
) -> Floats:
    """Expected $ per bucket before events: level x week x trend x day noise x hour shape."""
    day = np.arange(days)
    weekday = (CORPUS_START.weekday() + day) % 7
    week = np.ones(days)
    if params.weekly == "b2b":
        week[weekday >= 5] = params.weekly_factor
    elif params.weekly == "batch":
        week[weekday == params.batch_weekday] = params.weekly_factor
    trend = np.exp(params.trend_per_day * day)
    overdispersion = rng.lognormal(0.0, params.overdispersion, days)
    active = rng.random(days) < params.p_active
    per_day_mean = params.base_per_day * week * trend * overdispersion * active
    return np.repeat(per_day_mean, per_day) * np.tile(diurnal_shares(per_day), days)


def diurnal_shares(per_day: int) -> Floats:
    """Share of a day's spend per bucket: a bump at 14:00 UTC on a 0.35 floor (hourly)."""
    if per_day == 1:
        return np.ones(1)
    hour = np.arange(24)
    shape: Floats = 0.35 + 0.65 * np.exp(-((hour - 14.0) ** 2) / (2 * 3.0**2))
    shares: Floats = shape / shape.sum()
    return shares


@dataclass(frozen=True, slots=True)
class _Planned:
    kind: EventKind
    start: int
    end: int  # last bucket of the label window (or of the effect, for outages)
    factor: float
    profile: Floats  # the multiplier from start on (persistent events: to the series' end)


def _plan_events(rng: np.random.Generator, days: int, per_day: int) -> list[_Planned]:
    """0-3 events, starting after three weeks, at least ten days apart, clear of the end."""
    wanted = int(rng.choice([0, 1, 2, 3], p=[0.25, 0.35, 0.25, 0.15]))
    kinds = list(_KIND_ODDS)
    odds = np.array(list(_KIND_ODDS.values()))
    last_start_day = days - 5
    planned: list[_Planned] = []
    for _ in range(wanted):
        day = int(rng.integers(_FIRST_EVENT_DAY, last_start_day))
        if any(abs(day - p.start // per_day) < _EVENT_SPACING_DAYS for p in planned):
            continue
        start = day * per_day + int(rng.integers(0, per_day))
        kind = kinds[int(rng.choice(len(kinds), p=odds))]
        planned.append(_one_event(rng, kind, start, days * per_day, per_day))
    return sorted(planned, key=lambda p: p.start)


def _one_event(
    rng: np.random.Generator, kind: EventKind, start: int, n: int, per_day: int
) -> _Planned:
    """The multiplier profile and label window of one event."""
    rest = n - start
    if kind is EventKind.RUNAWAY:
        factor = _log_uniform(rng, 5, 100)
        length = int(rng.integers(1, 4)) if per_day == 1 else int(rng.integers(2, 19))
        return _Planned(kind, start, start + length - 1, factor, np.full(min(length, rest), factor))
    if kind is EventKind.OUTAGE:
        length = int(rng.integers(1, 4)) * per_day
        return _Planned(kind, start, start + length - 1, 0.0, np.zeros(min(length, rest)))
    if kind is EventKind.LAUNCH:
        factor = float(rng.uniform(2, 6))
        ramp = int(rng.integers(1, 4)) * per_day
        climb = 1 + (factor - 1) * np.arange(1, ramp + 1) / ramp
        profile = np.concatenate([climb, np.full(max(rest - ramp, 0), factor)])[:rest]
        return _Planned(kind, start, start + ramp + 2 * per_day - 1, factor, profile)
    low, high = (4, 20) if kind is EventKind.SWAP_UP else (0.05, 0.5)
    factor = _log_uniform(rng, low, high)
    return _Planned(kind, start, start + 2 * per_day - 1, factor, np.full(rest, factor))


def _event_effects(plan: list[_Planned], n: int) -> tuple[Floats, NDArray[np.bool_]]:
    """The combined multiplier of all events, and the outage mask."""
    multiplier = np.ones(n)
    outage = np.zeros(n, dtype=np.bool_)
    for event in plan:
        span = slice(event.start, event.start + event.profile.size)
        if event.kind is EventKind.OUTAGE:
            outage[span] = True
        else:
            multiplier[span] *= event.profile
    return multiplier, outage


def _labelled(event: _Planned, actual: Floats, counterfactual: Floats) -> InjectedEvent:
    """The event as recorded: a step that starts on inactive days is seen (and labelled) from
    its first active bucket; the excess decides whether a labelled kind is material."""
    start = event.start
    if event.kind in _PERSISTENT_KINDS:
        affected = np.flatnonzero(actual[start:] != counterfactual[start:])
        start += int(affected[0]) if affected.size else 0
    end = min(start + event.end - event.start, actual.size - 1)
    span = slice(start, end + 1)
    excess = float(np.sum(actual[span] - counterfactual[span]))
    labelled = event.kind in LABELLED_KINDS and excess >= MATERIAL_USD
    return InjectedEvent(event.kind, start, end, event.factor, excess, labelled)


def _fee_per_bucket(params: SeriesParams, days: int, per_day: int) -> Floats:
    """A monthly fee on its day of month (first hour of that day when hourly)."""
    fee = np.zeros(days * per_day)
    if params.fee_usd == 0:
        return fee
    for day in range(days):
        if (CORPUS_START + timedelta(days=day)).day == params.fee_day:
            fee[day * per_day] = params.fee_usd
    return fee


def _lag_and_partial(rng: np.random.Generator, actual: Floats, per_day: int) -> tuple[Floats, int]:
    """Under-report the last 2 days (6 hours) by 0-30%, and cut the last bucket to 5-95%."""
    observed = actual.copy()
    lagged = 2 if per_day == 1 else 6
    observed[-lagged:] *= 1 - rng.uniform(0, 0.3, lagged)
    observed[-1] *= rng.uniform(0.05, 0.95)
    return observed, actual.size - lagged


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
