"""Spend anomaly detection: robust log-scale scores and an incident lifecycle, all series at once.

Scoring (design §4.2). For v dollars in a bucket, y = log(v + c), c = $1/day scaled to the
bucket. The prediction is level + offset:
  level   the median of the last 7 days' worth of non-zero, complete, unfrozen buckets
          (deseasonalized; a sparse series reaches further back for them, up to 28 days);
  offset  the median of (y - level) at the same weekday (daily) or hour of week (hourly) over
          the latest 2-4 such buckets, 0 until two exist, shrunk toward 0 when it is no
          bigger than its own sampling noise (a flat series has no weekly profile);
  sigma   1.4826 * MAD of calm residuals over 28 days, shrunk toward 0.25 (weight 5), >= 0.05;
          0.7 for a sparse series (>= 20% zeros) with only 1-2 active buckets.
A bucket is anomalous when its excess over expected is at least the dollar floor F and one
of: z >= 4 with a damped ratio (v + c) / (expected + c) >= 1.5; a raw ratio v / max(expected,
c) >= 10 (the 10x fast path); z >= 3 on 2 daily (3 hourly) buckets in a row (a ramp or step
that never reaches 4 in one bucket); or a dormant series (no spend in 28 days): new spend.
Zeros are never spend signals: gaps in dense series, inactivity in sparse ones; they stay out
of the baseline and are neutral for incidents. Only increases alert. Scoring starts after a
21-day warm-up (weekday offsets then rest on three weeks, not a mean of two).

Lifecycle (§4.3), run bucket by bucket for every series at once: an incident's first 2 days
stay out of the level (freeze) and none of its buckets enter sigma; it closes after 2 calm
days (6 calm hours). While open, only a bucket at >= 2x the level last announced is a new
notification (escalation); for 2 days after close, a new incident stays quiet unless it is.
Levels are compared deseasonalized, which is the ratio rule of §4.3 while the baseline is
frozen and stays right after a step has moved it. Feedback "expected" re-baselines at the
incident's level and keeps up to 2x that level quiet for 28 days; "not_anomaly" silences the
episode. A spike on the same day of month as last month's, of similar excess, is a recurring
charge (§4.5): no incident, and kept out of the baseline.

evaluate() is the entry point: it replays the batch (pure and deterministic), then reports
what is new against the state the caller kept from the previous run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from bot.analysis.series import (
    SeriesBatch,
    SeriesKey,
    row_mad_sigma,
    row_median,
    running_count,
    to_cents,
)

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]

_NEVER = -(10**9)  # a bucket index before any batch


class IncidentKind(StrEnum):
    SPIKE = "spike"
    NEW_SPEND = "new_spend"  # from a dormant series: no expected spend, no percent impact


class EventAction(StrEnum):
    OPEN = "open"  # post a new alert
    UPDATE = "update"  # edit the alert's thread
    ESCALATE = "escalate"  # post again: the ratio doubled since the last announcement
    RESOLVE = "resolve"  # close the thread


class Severity(StrEnum):
    INFO = "info"  # digest only
    WARNING = "warning"  # channel post
    CRITICAL = "critical"  # post and mention the owner


class FeedbackKind(StrEnum):
    EXPECTED = "expected"  # planned: re-baseline at this level, stay quiet at it
    NOT_ANOMALY = "not_anomaly"  # quiet for the rest of this episode


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Every threshold of §4.2-4.5. Dollar figures are per day unless named otherwise."""

    pseudo_count_per_day: float = 1.0
    floor_per_day: float = 10.0
    floor_budget_share: float = 0.005  # of the monthly budget / 30, when a budget is known
    level_days: int = 7
    scale_days: int = 28
    season_weeks: int = 4
    season_min_weeks: int = 2
    season_lookback_weeks: int = 8
    season_shrinkage: bool = True  # shrink offsets no bigger than their own noise toward 0
    sigma_prior: float = 0.25
    sigma_prior_weight: float = 5.0
    sigma_floor: float = 0.05
    sparse_sigma: float = 0.7  # a zero-inflated series with only 1-2 active buckets
    sparse_zero_share: float = 0.2
    z_open: float = 4.0
    min_damped_ratio: float = 1.5
    fast_ratio: float = 10.0
    z_sustained: float = 3.0  # ... or this z on several buckets in a row (a ramp, a step)
    sustained_days: int = 2  # daily buckets in a row for the sustained path (0: off)
    sustained_hours: int = 3  # hourly buckets in a row for the sustained path (0: off)
    z_calm: float = 1.5
    close_after_days: int = 2  # calm daily buckets that close an incident
    close_after_hours: int = 6  # calm hourly buckets that close an incident
    freeze_days: int = 2
    holdoff_days: int = 2
    escalation_factor: float = 2.0
    warmup_days: int = 21
    restate_days: int = 2
    suppress_days: int = 28  # how long "expected" feedback keeps its level quiet
    recurring_monthly: bool = True
    recurring_tolerance: float = 2.0  # this month's excess within 1/x..x of last month's
    warning_usd: float = 50.0
    warning_budget_share: float = 0.02
    critical_usd: float = 500.0
    critical_budget_share: float = 0.2
    new_spend_warning_per_day: float = 10.0
    runaway_sustain_buckets: int = 2

    def close_after(self, bucket_hours: int) -> int:
        """Calm buckets in a row that close an incident."""
        return self.close_after_days if bucket_hours == 24 else self.close_after_hours

    def sustained_after(self, bucket_hours: int) -> int:
        """Elevated buckets in a row that open an incident without reaching z_open."""
        return self.sustained_days if bucket_hours == 24 else self.sustained_hours


DEFAULT_CONFIG = DetectorConfig()


@dataclass(frozen=True, slots=True)
class DetectorEvent:
    """One thing to tell people about one series' incident, at one bucket."""

    key: SeriesKey
    action: EventAction
    at: datetime  # the bucket's start
    incident_opened_at: datetime  # identifies the incident
    kind: IncidentKind
    observed: Decimal  # this bucket, to the cent
    expected: Decimal
    excess: Decimal
    ratio: float  # damped: (observed + c) / (expected + c)
    raw_ratio: float  # observed / max(expected, c)
    z: float
    peak_ratio: float
    impact_so_far: Decimal  # sum of (observed - expected) since the incident opened
    impact_pct: float | None  # impact / sum of expected * 100; None for new spend
    projected_impact: Decimal  # current excess per day x days left in the month
    severity: Severity
    complete: bool = True  # False when the bucket is partial or lagged
    reason: str = ""  # on resolve: "recovered" or "restated"
    context: tuple[SeriesKey, ...] = ()  # ancestors this incident explains, root first
    contributors: tuple[SeriesKey, ...] = ()  # descendants folded into this one


@dataclass(frozen=True, slots=True)
class Feedback:
    kind: FeedbackKind
    incident_opened_at: datetime
    given_at: datetime


@dataclass(frozen=True, slots=True)
class IncidentState:
    """The open incident as last reported."""

    opened_at: datetime
    kind: IncidentKind
    announced: bool
    last_announced_ratio: float
    peak_ratio: float
    impact_so_far: Decimal


@dataclass(frozen=True, slots=True)
class SeriesState:
    """What a caller keeps per series between runs; small and immutable."""

    evaluated_through: datetime | None = None  # the last complete bucket already evaluated
    incident: IncidentState | None = None
    closed_at: datetime | None = None
    feedback: tuple[Feedback, ...] = ()

    def with_feedback(self, kind: FeedbackKind, given_at: datetime) -> SeriesState:
        """This state with feedback on its open (or last) incident."""
        if self.incident is None:
            raise ValueError("no incident to give feedback on")
        note = Feedback(kind, self.incident.opened_at, given_at)
        return replace(self, feedback=(*self.feedback, note))


@dataclass(frozen=True, slots=True)
class Evaluation:
    events: tuple[DetectorEvent, ...]
    states: dict[SeriesKey, SeriesState]


@dataclass(frozen=True, slots=True)
class FoldedEvent:
    event: DetectorEvent
    reported_at: SeriesKey  # the series whose alert carries this one


@dataclass(frozen=True, slots=True)
class Folding:
    events: tuple[DetectorEvent, ...]  # what to report
    folded: tuple[FoldedEvent, ...]  # what was folded into another series' alert


def default_floors(
    batch: SeriesBatch,
    config: DetectorConfig = DEFAULT_CONFIG,
    budgets: Mapping[SeriesKey, Decimal] | None = None,
) -> Floats:
    """The dollar floor per series, per day: max($10, 0.5% of the monthly budget / 30)."""
    floors = np.full(batch.n_series, config.floor_per_day)
    for key, budget in (budgets or {}).items():
        if key in batch.keys:
            row = batch.row_of(key)
            floors[row] = max(floors[row], float(budget) * config.floor_budget_share / 30)
    return floors


def evaluate(
    batch: SeriesBatch,
    states: Mapping[SeriesKey, SeriesState],
    now: datetime,
    config: DetectorConfig = DEFAULT_CONFIG,
    *,
    floors: Floats | None = None,
    budgets: Mapping[SeriesKey, Decimal] | None = None,
) -> Evaluation:
    """Score every series up to `now` and report what is new since `states`.

    Replays the whole batch (so the result does not depend on how runs were split), then
    keeps events after each series' evaluated_through, re-checks the last `restate_days`
    for alerts that restated data created or disproved, and returns the states to keep.
    A series without state reports every event in the batch. floors are dollars per day per
    series (default_floors); budgets are monthly and only sharpen floors and severity.
    """
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise ValueError("now must be an aware UTC datetime")
    limit = int(min(batch.n_buckets, max(0, -((batch.start - now) // batch.step))))
    ended = int(min(batch.n_buckets, max(0, (now - batch.start) // batch.step)))
    complete = np.minimum(batch.complete_through, ended)
    floor_per_day = default_floors(batch, config, budgets) if floors is None else floors
    notes = _feedback_rows(batch, states, limit)
    replayed = _Replay(batch, complete, limit, floor_per_day, budgets or {}, notes, config)
    replayed.run()
    events = _reconcile(batch, replayed, states, config)
    return Evaluation(tuple(events), _next_states(batch, replayed, complete, states))


def fold_hierarchy(
    events: Sequence[DetectorEvent],
    parents: Mapping[SeriesKey, SeriesKey],
    *,
    share: float = 0.7,
) -> Folding:
    """Report each incident once, at its root cause in the hierarchy (§4.1).

    Among incidents opened in the same bucket: a parent whose excess is >= `share` explained
    by one child's excess is reported at that child (the parent becomes context); a parent
    that no single child explains is reported itself, and its opened descendants become
    contributors. Later events of a folded incident are folded too.
    """
    children: dict[SeriesKey, list[SeriesKey]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    opens_by_bucket: dict[datetime, dict[SeriesKey, DetectorEvent]] = {}
    for event in events:
        if event.action is EventAction.OPEN:
            opens_by_bucket.setdefault(event.at, {})[event.key] = event
    target: dict[tuple[SeriesKey, datetime], SeriesKey] = {}
    rewritten: dict[tuple[SeriesKey, datetime], DetectorEvent] = {}
    for opens in opens_by_bucket.values():
        _fold_bucket(opens, parents, children, share, target, rewritten)
    reported: list[DetectorEvent] = []
    folded: list[FoldedEvent] = []
    for event in events:
        incident = (event.key, event.incident_opened_at)
        into = target.get(incident, event.key)
        if into != event.key:
            folded.append(FoldedEvent(event, into))
        elif event.action is EventAction.OPEN and incident in rewritten:
            reported.append(rewritten[incident])
        else:
            reported.append(event)
    return Folding(tuple(reported), tuple(folded))


def _fold_bucket(
    opens: Mapping[SeriesKey, DetectorEvent],
    parents: Mapping[SeriesKey, SeriesKey],
    children: Mapping[SeriesKey, list[SeriesKey]],
    share: float,
    target: dict[tuple[SeriesKey, datetime], SeriesKey],
    rewritten: dict[tuple[SeriesKey, datetime], DetectorEvent],
) -> None:
    """Fold the incidents opened in one bucket, walking down from each opened root."""

    def opened_children(key: SeriesKey) -> list[SeriesKey]:
        return [c for c in children.get(key, []) if c in opens]

    def descendants(key: SeriesKey) -> list[SeriesKey]:
        found = []
        for child in opened_children(key):
            found += [child, *descendants(child)]
        return found

    for root in [k for k in opens if parents.get(k) not in opens]:
        context: list[SeriesKey] = []
        key = root
        while True:
            parent_excess = float(opens[key].excess)
            kids = opened_children(key)
            best = max(kids, key=lambda k: float(opens[k].excess), default=None)
            if best is None or parent_excess <= 0:
                break
            if float(opens[best].excess) < share * parent_excess:
                break
            context.append(key)
            key = best
        contributors = descendants(key)
        at = opens[key].at
        for other in (*context, *contributors):
            target[(other, opens[other].incident_opened_at)] = key
        if context or contributors:
            rewritten[(key, at)] = replace(
                opens[key], context=tuple(context), contributors=tuple(contributors)
            )


class _Ring:
    """Per-series ring of the latest (bucket index, value) pairs pushed."""

    def __init__(self, n_series: int, capacity: int) -> None:
        self.capacity = capacity
        self.values = np.zeros((n_series, capacity))
        self.index = np.full((n_series, capacity), _NEVER, dtype=np.int64)
        self.count = np.zeros(n_series, dtype=np.int64)

    def push(self, rows: Ints, values: Floats, at: Ints | int) -> None:
        slots = self.count[rows] % self.capacity
        self.values[rows, slots] = values
        self.index[rows, slots] = at
        self.count[rows] += 1

    def latest(self, how_many: int) -> tuple[Floats, Ints]:
        """The last `how_many` pushes per row, newest first (index _NEVER where none)."""
        back = np.arange(min(how_many, self.capacity))
        slots = (self.count[:, None] - 1 - back[None, :]) % self.capacity
        index = np.take_along_axis(self.index, slots, axis=1)
        index = np.where(back[None, :] < self.count[:, None], index, _NEVER)
        return np.take_along_axis(self.values, slots, axis=1), index


# ---------------------------------------------------------------------------------------
# The replay: baseline, scores and lifecycle, bucket by bucket, for every series at once


@dataclass(slots=True)
class _Scores:
    """One bucket's scores for every series."""

    value: Floats
    expected: Floats
    excess: Floats
    z: Floats
    ratio: Floats
    raw_ratio: Floats
    deseasonalized: Floats  # y - offset: the bucket's level
    anomalous: Bools
    recurring: Bools  # unusual, but last month's same bucket was too: a known charge
    calm: Bools
    active: Bools  # non-zero and complete: counts for or against calm
    complete: Bools
    dormant: Bools
    level: Floats  # the level before offsets (NaN while there is none)


@dataclass(slots=True)
class _Record:
    """An event as the replay saw it, before it becomes a DetectorEvent."""

    row: int
    t: int
    action: EventAction
    opened_at: int
    new_spend: bool
    peak_ratio: float
    impact: float
    expected_sum: float
    fast_streak: int
    value: float
    expected: float
    excess: float
    ratio: float
    raw_ratio: float
    z: float
    complete: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _Note:
    """Feedback placed on the axis: applied at bucket t to the incident opened at `opened`."""

    row: int
    t: int
    opened: int
    kind: FeedbackKind


class _Replay:
    """Runs the detector over a batch; holds every per-series array the run needs."""

    def __init__(
        self,
        batch: SeriesBatch,
        complete: Ints,
        limit: int,
        floor_per_day: Floats,
        budgets: Mapping[SeriesKey, Decimal],
        notes: Sequence[_Note],
        config: DetectorConfig,
    ) -> None:
        n, width = batch.n_series, batch.n_buckets
        per_day = batch.buckets_per_day
        self.batch, self.config, self.limit = batch, config, limit
        self.pseudo = config.pseudo_count_per_day / per_day
        self.floor = np.asarray(floor_per_day, dtype=np.float64) / per_day
        if self.floor.shape != (n,):
            raise ValueError("floors need one value per series")
        self.budget = np.array([float(budgets.get(k, np.nan)) for k in batch.keys])
        self.notes: dict[int, list[_Note]] = {}
        for note in notes:
            self.notes.setdefault(note.t, []).append(note)
        self.window = config.scale_days * per_day
        self.level_size = config.level_days * per_day
        self.period = 7 * per_day
        self.season_start = config.season_min_weeks * self.period  # offsets exist from here
        self.warmup = config.warmup_days * per_day
        self.freeze = config.freeze_days * per_day
        self.holdoff = config.holdoff_days * per_day
        self.close_after = config.close_after(batch.bucket_hours)
        self.sustained_after = config.sustained_after(batch.bucket_hours)
        self.elevated_streak = np.zeros(n, dtype=np.int64)
        self.log_escalation = float(np.log(config.escalation_factor))
        self.values = np.maximum(batch.values, 0.0)  # credits and refunds are not spend
        self.logs = np.log(self.values + self.pseudo)
        index = np.arange(width)
        self.is_complete = index[None, :] < complete[:, None]
        self.zero_counts = running_count(self.is_complete & (self.values == 0))
        self.seen_counts = running_count(self.is_complete)
        self.active_counts = running_count(self.is_complete & (self.values > 0))
        self.prev_month = batch.same_bucket_last_month()
        self.days_left = batch.days_left_in_month()
        self.levels = _Ring(n, self.window)
        self.residuals = _Ring(n, self.window)
        self.deviation = np.full((n, width), np.nan)  # y - level of calm buckets, for offsets
        self.offsets = np.zeros((n, width))
        self.excess_history = np.zeros((n, width))
        self.last_level = np.full(n, np.nan)
        self.history_floor = np.full(n, _NEVER, dtype=np.int64)
        self.sigma = np.full(n, config.sigma_prior)
        self.residual_sigma = np.full(n, config.sigma_prior)
        self.last_scores: _Scores | None = None
        self.records: list[_Record] = []
        self.incidents: set[tuple[int, int]] = set()  # (row, opened_at) of every incident
        self.state = _Lifecycle(n)

    def run(self) -> None:
        """Score and advance the lifecycle through every bucket before `limit`."""
        for t in range(self.limit):
            self._apply_feedback(t)
            scores = self._score(t)
            self.last_scores = scores
            self._advance(t, scores)
            self._learn(t, scores)

    # -- scoring ----------------------------------------------------------------------

    def _score(self, t: int) -> _Scores:
        config = self.config
        zeros, seen = (
            self._window_counts(self.zero_counts, t),
            self._window_counts(self.seen_counts, t),
        )
        sparse = (seen > 0) & (zeros >= config.sparse_zero_share * np.maximum(seen, 1))
        dormant = (seen >= self.warmup) & (zeros == seen)
        level, sigma = self._level_and_sigma(t, sparse)
        self.sigma = sigma
        level = np.where(dormant, np.log(self.pseudo), level)
        offset = np.where(dormant, 0.0, self._offset(t))
        self.offsets[:, t] = offset
        sigma = np.where(dormant, config.sparse_sigma, sigma)
        self.last_level = np.where(np.isnan(level), self.last_level, level)
        level = self.last_level
        prediction = level + offset
        value, y = self.values[:, t], self.logs[:, t]
        with np.errstate(invalid="ignore"):
            expected = np.maximum(np.exp(prediction) - self.pseudo, 0.0)
            excess = value - expected
            z = (y - prediction) / sigma
            ratio = np.exp(y - prediction)
            raw_ratio = value / np.maximum(expected, self.pseudo)
        scoreable = (t >= self.warmup) & ~np.isnan(prediction)
        material = scoreable & (value > 0) & (excess >= self.floor)
        statistical = (z >= config.z_open) & (ratio >= config.min_damped_ratio)
        sustained = self._sustained(material & (z >= config.z_sustained), value > 0)
        unusual = material & (dormant | statistical | sustained | (raw_ratio >= config.fast_ratio))
        recurring = unusual & self._recurring(t, excess)
        deseasonalized = y - offset
        anomalous = unusual & ~recurring & ~self._accepted(t, deseasonalized)
        active = (value > 0) & self.is_complete[:, t]
        self.excess_history[:, t] = np.nan_to_num(excess)
        return _Scores(
            value=value,
            expected=expected,
            excess=excess,
            z=z,
            ratio=ratio,
            raw_ratio=raw_ratio,
            deseasonalized=deseasonalized,
            anomalous=anomalous,
            recurring=recurring,
            calm=active & (z < config.z_calm),
            active=active,
            complete=self.is_complete[:, t],
            dormant=dormant,
            level=level,
        )

    def _sustained(self, elevated: Bools, active: Bools) -> Bools:
        """Elevated for `sustained_after` active buckets in a row (zeros neither way)."""
        self.elevated_streak = np.where(
            elevated, self.elevated_streak + 1, np.where(active, 0, self.elevated_streak)
        )
        if self.sustained_after <= 0:
            return np.zeros(elevated.shape, dtype=np.bool_)
        sustained: Bools = self.elevated_streak >= self.sustained_after
        return sustained

    def _offset(self, t: int) -> Floats:
        """The weekday / hour-of-week offset of bucket t: the median of the latest 2-4
        same-phase active buckets, looking back up to `season_lookback_weeks` (so sparse
        series skip their zeros); 0 with fewer than 2.

        A median of k noisy deviations has a sampling variance of about (pi/2) sigma^2 / k,
        so the offset is shrunk by max(0, 1 - that / offset^2): a real weekday or diurnal
        effect keeps nearly all of itself, an offset the size of its own noise goes to 0."""
        config = self.config
        lags = t - self.period * np.arange(1, config.season_lookback_weeks + 1)
        past = self.deviation[:, lags[lags >= 0]]
        found = ~np.isnan(past)
        latest = found & (np.cumsum(found, axis=1) <= config.season_weeks)
        median, count = row_median(np.nan_to_num(past), latest)
        offset = np.where(count >= config.season_min_weeks, median, 0.0)
        if not config.season_shrinkage:
            return offset
        noise = np.pi / 2 * self.sigma**2 / np.maximum(count, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.clip(1 - noise / offset**2, 0.0, 1.0)
        return np.where(offset != 0, offset * keep, 0.0)

    def _window_counts(self, running: Ints, t: int) -> Ints:
        """How many flagged buckets fall in [t - window, t)."""
        return running[:, t] - running[:, max(0, t - self.window)]

    def _level_and_sigma(self, t: int, sparse: Bools) -> tuple[Floats, Floats]:
        """The median of the last 7 days' worth of active levels, and sigma from calm residuals
        over 28 days (wide for a sparse series with only 1-2 active buckets)."""
        config = self.config
        oldest = np.maximum(t - self.window, self.history_floor)[:, None]
        recent, recent_index = self.levels.latest(self.level_size)
        level, _ = row_median(recent, recent_index >= oldest)
        if t % self.batch.buckets_per_day == 0:  # sigma moves slowly: once a day is enough
            residual_ok = self.residuals.index >= t - self.window
            spread, count = row_mad_sigma(self.residuals.values, residual_ok)
            self.residual_sigma = _shrunk_sigma(spread, count, config)
        active = self._window_counts(self.active_counts, t)
        few_active = sparse & (active > 0) & (active <= 2)
        return level, np.where(few_active, config.sparse_sigma, self.residual_sigma)

    # -- lifecycle --------------------------------------------------------------------

    def _advance(self, t: int, s: _Scores) -> None:
        """Continue, escalate or close open incidents, then open new ones."""
        config, state = self.config, self.state
        was_open = state.open.copy()
        counted = was_open & (s.value > 0)
        state.impact += np.where(counted, np.nan_to_num(s.excess), 0.0)
        state.expected_sum += np.where(counted, np.nan_to_num(s.expected), 0.0)
        state.peak_ratio = np.where(counted, np.fmax(state.peak_ratio, s.ratio), state.peak_ratio)
        fast = s.raw_ratio >= config.fast_ratio
        state.fast_streak = np.where(
            counted, np.where(fast, state.fast_streak + 1, 0), state.fast_streak
        )
        streak = np.where(s.calm, state.calm_streak + 1, np.where(s.active, 0, state.calm_streak))
        state.calm_streak = np.where(was_open, streak, 0)
        closing = was_open & (state.calm_streak >= self.close_after)
        doubled = s.anomalous & (s.deseasonalized >= state.ref_level + self.log_escalation)
        may_post = was_open & ~closing & ~state.muted & doubled
        escalating = may_post & state.announced
        announcing = may_post & ~state.announced
        updating = was_open & ~closing & state.announced & ~escalating & (s.value > 0)
        state.ref_ratio = np.where(escalating | announcing, s.ratio, state.ref_ratio)
        state.ref_level = np.where(escalating | announcing, s.deseasonalized, state.ref_level)
        state.announced |= announcing
        self._record(t, s, escalating, EventAction.ESCALATE)
        self._record(t, s, announcing, EventAction.OPEN)
        self._record(t, s, updating, EventAction.UPDATE)
        self._record(t, s, closing & state.announced, EventAction.RESOLVE, reason="recovered")
        state.open &= ~closing
        state.closed_at = np.where(closing, t, state.closed_at)
        self._open(t, s, ~was_open & s.anomalous)

    def _open(self, t: int, s: _Scores, opening: Bools) -> None:
        """Start incidents; one within the holdoff stays quiet unless it doubles the level."""
        config, state = self.config, self.state
        in_holdoff = (t - state.closed_at) <= self.holdoff
        beats_holdoff = s.deseasonalized >= state.ref_level + self.log_escalation
        held = in_holdoff & ~beats_holdoff
        announce = opening & ~held
        rows = np.flatnonzero(opening)
        state.open[rows] = True
        state.opened_at[rows] = t
        state.announced[rows] = announce[rows]
        state.muted[rows] = False
        state.unfrozen[rows] = False
        state.new_spend[rows] = s.dormant[rows]
        state.ref_ratio[rows] = np.where(held, state.ref_ratio, s.ratio)[rows]
        state.ref_level[rows] = np.where(held, state.ref_level, s.deseasonalized)[rows]
        state.peak_ratio[rows] = s.ratio[rows]
        state.impact[rows] = s.excess[rows]
        state.expected_sum[rows] = s.expected[rows]
        state.calm_streak[rows] = 0
        state.fast_streak[rows] = (s.raw_ratio >= config.fast_ratio)[rows]
        self.incidents.update((int(r), t) for r in rows)
        self._record(t, s, announce, EventAction.OPEN)

    def _recurring(self, t: int, excess: Floats) -> Bools:
        """Last month's same bucket had a similar excess above the floor (§4.5 item 1)."""
        before = int(self.prev_month[t])
        if not self.config.recurring_monthly or before < 0:
            return np.zeros(excess.shape, dtype=np.bool_)
        last = self.excess_history[:, before]
        tolerance = self.config.recurring_tolerance
        with np.errstate(invalid="ignore"):
            similar = (excess <= tolerance * last) & (excess * tolerance >= last)
        return (last >= self.floor) & similar

    def _accepted(self, t: int, deseasonalized: Floats) -> Bools:
        """The bucket sits at a level feedback marked as expected (up to the escalation factor)."""
        state = self.state
        ceiling = state.suppress_level + self.log_escalation
        accepted: Bools = (t <= state.suppress_until) & (deseasonalized <= ceiling)
        return accepted

    def _record(
        self, t: int, s: _Scores, mask: Bools, action: EventAction, reason: str = ""
    ) -> None:
        for row in np.flatnonzero(mask):
            self.records.append(_snapshot(self.state, s, int(row), t, action, reason))

    # -- learning ---------------------------------------------------------------------

    def _learn(self, t: int, s: _Scores) -> None:
        """Feed the bucket to the baseline: level unless frozen, sigma only when calm."""
        state = self.state
        usable = s.active & ~s.recurring
        young = state.open & ~state.unfrozen & (t - state.opened_at < self.freeze)
        to_level = np.flatnonzero(usable & ~young)
        self.levels.push(to_level, s.deseasonalized[to_level], t)
        known = usable & ~s.dormant & ~np.isnan(s.level)
        logs = self.logs[:, t]
        self.deviation[:, t] = np.where(known, logs - s.level, np.nan)
        to_sigma = np.flatnonzero(known & ~state.open & (t >= self.season_start))
        with np.errstate(invalid="ignore"):
            residual = logs - (s.level + self.offsets[:, t])
        self.residuals.push(to_sigma, residual[to_sigma], t)

    def _apply_feedback(self, t: int) -> None:
        """Apply feedback that falls on this bucket to the incident it names."""
        state = self.state
        for note in self.notes.get(t, []):
            if state.opened_at[note.row] != note.opened:
                continue
            state.muted[note.row] |= bool(state.open[note.row])
            if note.kind is FeedbackKind.EXPECTED:
                self._rebaseline(note.row, note.opened, t)

    def _rebaseline(self, row: int, opened: int, t: int) -> None:
        """Make the incident's level the baseline: forget older levels, keep it quiet."""
        state = self.state
        span = np.arange(opened, t)
        frozen = span[(span < opened + self.freeze) & self.is_complete[row, span]]
        frozen = frozen[self.values[row, frozen] > 0]
        deseasonalized = self.logs[row, frozen] - self.offsets[row, frozen]
        for at, value in zip(frozen, deseasonalized, strict=True):
            self.levels.push(np.array([row]), np.array([value]), int(at))
        self.history_floor[row] = opened
        state.unfrozen[row] = True
        if deseasonalized.size:
            state.suppress_level[row] = float(np.max(deseasonalized))
            state.suppress_until[row] = t + self.config.suppress_days * self.batch.buckets_per_day


class _Lifecycle:
    """Incident state per series, as arrays (one entry per series)."""

    def __init__(self, n: int) -> None:
        self.open = np.zeros(n, dtype=np.bool_)
        self.opened_at = np.full(n, _NEVER, dtype=np.int64)  # kept after close: the last one
        self.announced = np.zeros(n, dtype=np.bool_)
        self.muted = np.zeros(n, dtype=np.bool_)
        self.unfrozen = np.zeros(n, dtype=np.bool_)
        self.new_spend = np.zeros(n, dtype=np.bool_)
        self.ref_ratio = np.ones(n)  # the last announced ratio, for people
        # the deseasonalized level last announced: escalation and holdoff need 2x above it,
        # which stays meaningful after the baseline has moved (unlike a ratio to it)
        self.ref_level = np.full(n, np.inf)
        self.peak_ratio = np.ones(n)
        self.impact = np.zeros(n)
        self.expected_sum = np.zeros(n)
        self.calm_streak = np.zeros(n, dtype=np.int64)
        self.fast_streak = np.zeros(n, dtype=np.int64)
        self.closed_at = np.full(n, _NEVER, dtype=np.int64)
        self.suppress_level = np.full(n, -np.inf)
        self.suppress_until = np.full(n, _NEVER, dtype=np.int64)


def _snapshot(
    state: _Lifecycle, s: _Scores, row: int, t: int, action: EventAction, reason: str = ""
) -> _Record:
    """One series' incident and bucket figures, as an event record."""
    return _Record(
        row=row,
        t=t,
        action=action,
        opened_at=int(state.opened_at[row]),
        new_spend=bool(state.new_spend[row]),
        peak_ratio=float(state.peak_ratio[row]),
        impact=float(state.impact[row]),
        expected_sum=float(state.expected_sum[row]),
        fast_streak=int(state.fast_streak[row]),
        value=float(s.value[row]),
        expected=float(s.expected[row]),
        excess=float(s.excess[row]),
        ratio=float(s.ratio[row]),
        raw_ratio=float(s.raw_ratio[row]),
        z=float(s.z[row]),
        complete=bool(s.complete[row]),
        reason=reason,
    )


def _shrunk_sigma(spread: Floats, count: Ints, config: DetectorConfig) -> Floats:
    """MAD sigma pulled toward the prior by `sigma_prior_weight` pseudo-observations."""
    weight = config.sigma_prior_weight
    observed = np.where(count > 0, spread, 0.0)
    pooled = (count * observed + weight * config.sigma_prior) / (count + weight)
    return np.maximum(pooled, config.sigma_floor)


# ---------------------------------------------------------------------------------------
# From replay to events and states


def _feedback_rows(
    batch: SeriesBatch, states: Mapping[SeriesKey, SeriesState], limit: int
) -> list[_Note]:
    """Feedback placed on the batch's axis, for incidents that start inside it."""
    notes = []
    rows = {key: row for row, key in enumerate(batch.keys)}
    for key, state in states.items():
        for feedback in state.feedback:
            opened = batch.index_of(feedback.incident_opened_at)
            given = max(opened + 1, -((batch.start - feedback.given_at) // batch.step))
            if key in rows and 0 <= opened < limit:
                notes.append(_Note(rows[key], int(min(given, limit - 1)), opened, feedback.kind))
    return notes


def _event(replayed: _Replay, record: _Record) -> DetectorEvent:
    """A replay record as a DetectorEvent with §4.4 impact and severity."""
    batch, row, t = replayed.batch, record.row, record.t
    per_day = _excess_per_day(replayed, row, t, record.opened_at)
    projected = per_day * float(replayed.days_left[t])
    impact_pct = None
    if not record.new_spend and record.expected_sum > 0:
        impact_pct = round(100 * record.impact / record.expected_sum, 1)
    severity = Severity.INFO
    if record.action is not EventAction.RESOLVE:
        severity = _severity(replayed, row, record, projected, per_day)
    return DetectorEvent(
        key=batch.keys[row],
        action=record.action,
        at=batch.bucket_start(t),
        incident_opened_at=batch.bucket_start(record.opened_at),
        kind=IncidentKind.NEW_SPEND if record.new_spend else IncidentKind.SPIKE,
        observed=to_cents(record.value),
        expected=to_cents(record.expected),
        excess=to_cents(record.excess),
        ratio=round(record.ratio, 3),
        raw_ratio=round(record.raw_ratio, 3),
        z=round(record.z, 2),
        peak_ratio=round(record.peak_ratio, 3),
        impact_so_far=to_cents(record.impact),
        impact_pct=impact_pct,
        projected_impact=to_cents(projected),
        severity=severity,
        complete=record.complete,
        reason=record.reason,
    )


def _excess_per_day(replayed: _Replay, row: int, t: int, opened_at: int) -> float:
    """The incident's current excess per day: the mean over its last day of active buckets."""
    per_day = replayed.batch.buckets_per_day
    start = max(opened_at, t - per_day + 1)
    active = replayed.values[row, start : t + 1] > 0
    excess = replayed.excess_history[row, start : t + 1][active]
    return max(0.0, float(excess.mean()) * per_day) if excess.size else 0.0


def _severity(
    replayed: _Replay, row: int, record: _Record, projected: float, per_day: float
) -> Severity:
    """§4.4 tiers: both an absolute and, when a budget is known, a relative gate."""
    config = replayed.config
    budget = float(replayed.budget[row])
    has_budget = not np.isnan(budget)
    runaway = record.fast_streak >= config.runaway_sustain_buckets
    if (
        projected >= config.critical_usd
        or (has_budget and projected >= config.critical_budget_share * budget)
        or runaway
    ):
        return Severity.CRITICAL
    relative_ok = not has_budget or projected >= config.warning_budget_share * budget
    new_spend_big = record.new_spend and per_day >= config.new_spend_warning_per_day
    if (projected >= config.warning_usd and relative_ok) or new_spend_big:
        return Severity.WARNING
    return Severity.INFO


def _reconcile(
    batch: SeriesBatch,
    replayed: _Replay,
    states: Mapping[SeriesKey, SeriesState],
    config: DetectorConfig,
) -> list[DetectorEvent]:
    """Events new since each series' state, plus late opens and restated resolves."""
    window = timedelta(days=config.restate_days)
    events: list[DetectorEvent] = []
    for record in replayed.records:
        key = batch.keys[record.row]
        state = states.get(key, SeriesState())
        at = batch.bucket_start(record.t)
        through = state.evaluated_through
        if through is None or at > through:
            if not _already_told(state, record, batch):
                events.append(_event(replayed, record))
        elif (
            record.action is EventAction.OPEN
            and at > through - window
            and not _already_announced(state, batch.bucket_start(record.opened_at))
        ):
            events.append(_event(replayed, record))
    resolved = {(e.key, e.incident_opened_at) for e in events if e.action is EventAction.RESOLVE}
    events += _restated(batch, replayed, states, resolved)
    return events


def _already_told(state: SeriesState, record: _Record, batch: SeriesBatch) -> bool:
    """A re-evaluated incomplete bucket repeats an open or escalation already posted."""
    incident = state.incident
    if incident is None or incident.opened_at != batch.bucket_start(record.opened_at):
        return False
    if record.action is EventAction.OPEN:
        return incident.announced
    if record.action is EventAction.ESCALATE:
        return record.ratio <= incident.last_announced_ratio * (1 + 1e-9)
    return False


def _already_announced(state: SeriesState, opened_at: datetime) -> bool:
    """The caller already knows this incident as announced, or as closed."""
    incident = state.incident
    if incident is not None and incident.opened_at == opened_at:
        return incident.announced
    return state.closed_at is not None and opened_at <= state.closed_at


def _restated(
    batch: SeriesBatch,
    replayed: _Replay,
    states: Mapping[SeriesKey, SeriesState],
    resolved: set[tuple[SeriesKey, datetime]],
) -> list[DetectorEvent]:
    """Resolve incidents the caller holds open that the replay no longer has open."""
    lifecycle, last = replayed.state, replayed.last_scores
    events: list[DetectorEvent] = []
    if last is None:
        return events
    rows = {key: row for row, key in enumerate(batch.keys)}
    for key, state in states.items():
        incident = state.incident
        if incident is None or not incident.announced or key not in rows:
            continue
        row, opened = rows[key], batch.index_of(incident.opened_at)
        still_open = bool(lifecycle.open[row]) and int(lifecycle.opened_at[row]) == opened
        if still_open or (key, incident.opened_at) in resolved:
            continue
        record = replace(
            _snapshot(lifecycle, last, row, replayed.limit - 1, EventAction.RESOLVE),
            opened_at=opened,
            new_spend=incident.kind is IncidentKind.NEW_SPEND,
            peak_ratio=incident.peak_ratio,
            impact=float(incident.impact_so_far),
            expected_sum=0.0,
            fast_streak=0,
            reason="recovered" if (row, opened) in replayed.incidents else "restated",
        )
        events.append(_event(replayed, record))
    return events


def _next_states(
    batch: SeriesBatch,
    replayed: _Replay,
    complete: Ints,
    states: Mapping[SeriesKey, SeriesState],
) -> dict[SeriesKey, SeriesState]:
    """The state to keep per series: the open incident, last close, and live feedback."""
    lifecycle = replayed.state
    through = np.minimum(complete, replayed.limit) - 1
    kept: dict[SeriesKey, SeriesState] = {}
    for row, key in enumerate(batch.keys):
        incident = None
        if lifecycle.open[row]:
            incident = IncidentState(
                opened_at=batch.bucket_start(int(lifecycle.opened_at[row])),
                kind=IncidentKind.NEW_SPEND if lifecycle.new_spend[row] else IncidentKind.SPIKE,
                announced=bool(lifecycle.announced[row]),
                last_announced_ratio=float(lifecycle.ref_ratio[row]),
                peak_ratio=float(lifecycle.peak_ratio[row]),
                impact_so_far=to_cents(float(lifecycle.impact[row])),
            )
        closed = int(lifecycle.closed_at[row])
        previous = states.get(key, SeriesState())
        kept[key] = SeriesState(
            evaluated_through=batch.bucket_start(int(through[row])) if through[row] >= 0 else None,
            incident=incident,
            closed_at=batch.bucket_start(closed) if closed >= 0 else None,
            feedback=_live_feedback(previous.feedback, batch.start),
        )
    return kept


def _live_feedback(feedback: Iterable[Feedback], start: datetime) -> tuple[Feedback, ...]:
    """Feedback on incidents that still start inside the batch window."""
    return tuple(f for f in feedback if f.incident_opened_at >= start)
