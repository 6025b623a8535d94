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

evaluate() is the entry point. It replays the batch bucket by bucket (pure and deterministic)
and reports what is new against the state the caller kept from the previous run. Each state
carries a checkpoint: the replay's memory of its series `restate_days` before the last bucket
evaluated (baseline windows, weekday offsets, last month's excess, the lifecycle). A run given
those states resumes there instead of replaying from the batch start, so a daily run scores a
few buckets, and reports what one replay of the whole batch would. Buckets from the checkpoint
on are read again, so data restated within `restate_days` is seen; earlier data is not re-read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from bot.analysis.series import SeriesBatch, SeriesKey, to_cents

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
    """What a caller keeps per series between runs; immutable and JSON-friendly."""

    evaluated_through: datetime | None = None  # the last complete bucket already evaluated
    incident: IncidentState | None = None
    closed_at: datetime | None = None
    feedback: tuple[Feedback, ...] = ()
    # The replay's memory of the series just before a bucket `restate_days` before the last
    # one evaluated: what scoring that bucket and later ones reads from earlier ones, so the
    # next run resumes there. Opaque: hex of float64s (about 2.5 kB a daily series, 51 kB an
    # hourly one), in the layout of the configuration and bucket size that wrote it (another
    # is ignored). None: the next run replays the series from the batch start.
    checkpoint: str | None = None

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

    Replays each series from its state's checkpoint, or from the batch start without one
    (the result does not depend on how runs were split), then keeps events after each
    series' evaluated_through, re-checks the last `restate_days` for alerts that restated
    data created or disproved, and returns the states to keep. A series without state
    reports every event in the batch. floors are dollars per day per series
    (default_floors); budgets are monthly and only sharpen floors and severity.
    """
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise ValueError("now must be an aware UTC datetime")
    limit = int(min(batch.n_buckets, max(0, -((batch.start - now) // batch.step))))
    ended = int(min(batch.n_buckets, max(0, (now - batch.start) // batch.step)))
    complete = np.minimum(batch.complete_through, ended)
    floor_per_day = default_floors(batch, config, budgets) if floors is None else floors
    floor = np.asarray(floor_per_day, dtype=np.float64) / batch.buckets_per_day
    if floor.shape != (batch.n_series,):
        raise ValueError("floors need one value per series")
    budget = np.full(batch.n_series, np.nan)
    for key, amount in (budgets or {}).items():
        if key in batch.keys:
            budget[batch.row_of(key)] = float(amount)
    layout = _Layout(config, batch.buckets_per_day)
    notes = _feedback_rows(batch, states, limit)
    run = _Run(batch, config, layout, limit, complete, floor, budget)
    for row, state in _states_by_row(batch, states):
        if state.feedback:
            run.feedback[row] = _live_feedback(state.feedback, batch.start)
            run.seen[row] = len(run.feedback[row])
    for group in _groups(batch, states, notes, limit, layout, floor):
        run.replays.append(_Replay(run, group, notes))
    for replay in run.replays:
        replay.run()
    events = _reconcile(run, states)
    return Evaluation(tuple(events), _next_states(run))


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


# ---------------------------------------------------------------------------------------
# The replay: baseline, scores and lifecycle, bucket by bucket, for every series at once.
# Arrays are time-major (bucket x series): one bucket of every series is contiguous.


@dataclass(slots=True)
class _Scores:
    """One bucket's scores for every series."""

    value: Floats
    expected: Floats
    excess: Floats
    z: Floats
    ratio: Floats
    raw_ratio: Floats
    offset: Floats  # the weekday / hour-of-week offset
    deseasonalized: Floats  # y - offset: the bucket's level
    anomalous: Bools
    recurring: Bools  # unusual, but last month's same bucket was too: a known charge
    calm: Bools
    active: Bools  # non-zero and complete: counts for or against calm
    complete: Bools
    dormant: Bools
    level: Floats  # the level before offsets (NaN while there is none)


# the order of the actions a bucket records, for merging the records of several replays
_PHASES = {
    EventAction.ESCALATE: 0,
    EventAction.OPEN: 1,
    EventAction.UPDATE: 2,
    EventAction.RESOLVE: 3,
}
_OPEN_PHASE = 4  # incidents opened in the bucket come last


@dataclass(slots=True)
class _Record:
    """An event as the replay saw it, before it becomes a DetectorEvent (replay positions)."""

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
    phase: int = 0
    excess_per_day: float = 0.0  # the incident's, as of this bucket (_excess_per_day)


@dataclass(frozen=True, slots=True)
class _Note:
    """Feedback placed on the batch's axis: applied at bucket t to the incident opened at
    `opened`; `index` is its place in the state's feedback."""

    row: int
    t: int
    opened: int
    kind: FeedbackKind
    index: int


# A checkpoint's numbers (SeriesState.checkpoint): these per-series figures, then the latest
# level pushes (values, then their positions), and by age (1 = the bucket before the
# checkpoint) the calm residuals of the scale window, the deviations of the offset look-back,
# the excess of the last 31 days; then the latest incident's frozen buckets. Positions are
# relative to the checkpoint and NaN for "never"; NaN also marks an empty entry.
_SCALARS = (
    "at",  # the bucket it was taken before: its start, in seconds since the epoch
    "feedback",  # how many of the state's feedback entries it has seen (the first ones)
    "config",  # the configuration its decisions were made with (_Layout.config)
    "floor",  # the dollar floor per bucket they were made with
    "age",  # buckets since the series' replay began: warm-up and once-a-day sigma
    "open",
    "announced",
    "muted",
    "unfrozen",
    "new_spend",
    "ref_ratio",
    "ref_level",
    "peak_ratio",
    "impact",
    "expected_sum",
    "calm_streak",
    "fast_streak",
    "elevated_streak",
    "opened_at",
    "closed_at",
    "suppress_level",
    "suppress_until",
    "history_floor",
    "last_level",
    "residual_sigma",
)
_MONTH_DAYS = 31  # the same day last month is at most this many days back
_CHECKPOINT_VERSION = 1  # bump when the replay decides differently: old checkpoints go unused


class _Layout:
    """Sizes of the replay's windows, and where each part of a checkpoint sits."""

    def __init__(self, config: DetectorConfig, per_day: int) -> None:
        self.per_day = per_day
        self.level_size = config.level_days * per_day
        self.window = config.scale_days * per_day
        self.period = 7 * per_day
        self.lookback = config.season_lookback_weeks * self.period
        self.month = _MONTH_DAYS * per_day
        self.freeze = config.freeze_days * per_day
        self.restate = config.restate_days * per_day
        # 48 bits of a digest of every threshold (and of the replay's version): a checkpoint
        # made under other ones is not used
        digest = hashlib.sha256(repr((_CHECKPOINT_VERSION, config, per_day)).encode())
        self.config = float(int(digest.hexdigest()[:12], 16))
        # the batch buckets a resumed replay reads before its first: the window counts, and
        # the last day for the excess per day (the rest of its history is the checkpoint's)
        self.history = max(self.window, per_day)
        sizes = {
            "scalars": len(_SCALARS),
            "levels": self.level_size,
            "level_at": self.level_size,
            "residuals": self.window,
            "deviations": self.lookback,
            "excess": self.month,
            "frozen": self.freeze,
        }
        self.parts: dict[str, slice] = {}
        end = 0
        for name, size in sizes.items():
            self.parts[name] = slice(end, end + size)
            end += size
        self.size = end
        self.chars = self.size * 16  # hex characters


@dataclass(frozen=True, slots=True)
class _Group:
    """Series replayed together. Without checkpoints (`numbers` None) from the batch start;
    with them, each series joins at its checkpoint's bucket (`joins`, sorted rows' order)."""

    begin: int  # the first bucket scored
    rows: Ints
    numbers: Floats | None = None
    joins: Ints | None = None


# A replay costs about this many series' worth of work per bucket whatever its size: series
# whose checkpoints are a few buckets apart resume in one replay rather than one each.
_REPLAY_OVERHEAD = 1000


class _Run:
    """What every replay of one evaluation shares."""

    def __init__(
        self,
        batch: SeriesBatch,
        config: DetectorConfig,
        layout: _Layout,
        limit: int,
        complete: Ints,
        floor: Floats,
        budget: Floats,
    ) -> None:
        self.batch, self.config, self.layout, self.limit = batch, config, layout, limit
        self.complete, self.floor, self.budget = complete, floor, budget
        # the feedback each state keeps (on incidents inside the batch), and how much of it
        self.feedback: dict[int, tuple[Feedback, ...]] = {}
        self.seen = np.zeros(batch.n_series)
        self.replays: list[_Replay] = []
        self._starts: dict[int, datetime] = {}

    def bucket_start(self, index: int) -> datetime:
        """The start of bucket `index` of the batch (cached: many series share a bucket)."""
        at = self._starts.get(index)
        if at is None:
            at = self._starts[index] = self.batch.bucket_start(index)
        return at


def _groups(
    batch: SeriesBatch,
    states: Mapping[SeriesKey, SeriesState],
    notes: Sequence[_Note],
    limit: int,
    layout: _Layout,
    floor: Floats,
) -> list[_Group]:
    """Series with a usable checkpoint, in replays of nearby checkpoints; the others in one
    replay from the batch start."""
    members, numbers, given = _checkpoints(batch, states, layout)
    groups: list[_Group] = []
    resumed = np.zeros(batch.n_series, dtype=np.bool_)
    if members.size:
        seen = numbers[_SCALARS.index("feedback")]
        offset = numbers[_SCALARS.index("at")] - batch.start.timestamp()
        step = batch.step.total_seconds()
        with np.errstate(invalid="ignore"):
            begins = np.floor_divide(offset, step)
            usable = (
                (begins * step == offset)  # on the batch's axis, inside it
                & (begins >= 0)
                & (begins < limit)
                & (seen <= given)  # feedback it saw is still there
                # decided as this run would: same thresholds, same floor
                & (numbers[_SCALARS.index("config")] == layout.config)
                & (numbers[_SCALARS.index("floor")] == floor[members])
            )
        for note in notes:  # feedback it has not seen, before it: only a full replay
            usable &= ~((members == note.row) & (seen <= note.index) & (begins > note.t))
        starts = np.where(usable, begins, 0).astype(np.int64)
        distinct = np.unique(starts[usable])
        sizes = [int(np.count_nonzero(usable & (starts == b))) for b in distinct]
        for segment in _segments(distinct.tolist(), sizes, limit):
            chosen = np.flatnonzero(usable & np.isin(starts, distinct[segment]))
            chosen = chosen[np.argsort(members[chosen], kind="stable")]
            everything = chosen.size == members.size and (chosen == np.arange(chosen.size)).all()
            group_numbers = numbers if everything else numbers[:, chosen]
            group = _Group(
                int(distinct[segment[0]]), members[chosen], group_numbers, starts[chosen]
            )
            groups.append(group)
            resumed[group.rows] = True
    if not resumed.all():
        groups.append(_Group(0, np.flatnonzero(~resumed).astype(np.int64)))
    return groups


def _checkpoints(
    batch: SeriesBatch, states: Mapping[SeriesKey, SeriesState], layout: _Layout
) -> tuple[Ints, Floats, Floats]:
    """The batch rows whose states have a checkpoint of this layout, its numbers (a row per
    number, a column per series; NaN for one that does not decode), and how much feedback
    each state has."""
    rows: list[int] = []
    packed: list[str] = []
    given: list[int] = []
    for row, state in _states_by_row(batch, states):
        if state.checkpoint is not None:
            rows.append(row)
            packed.append(state.checkpoint)
            given.append(len(state.feedback))
    if set(map(len, packed)) - {layout.chars}:  # another layout: not usable
        kept = [i for i, text in enumerate(packed) if len(text) == layout.chars]
        rows, packed, given = (
            [rows[i] for i in kept],
            [packed[i] for i in kept],
            [given[i] for i in kept],
        )
    return (
        np.asarray(rows, dtype=np.int64),
        _decode(packed, layout),
        np.asarray(given, dtype=np.float64),
    )


def _states_by_row(
    batch: SeriesBatch, states: Mapping[SeriesKey, SeriesState]
) -> Iterable[tuple[int, SeriesState]]:
    """(row, state) for the states of the batch's series."""
    if list(states) == list(batch.keys):  # as the previous run returned them: no look-ups
        return enumerate(states.values())
    rows = {key: row for row, key in enumerate(batch.keys)}
    return [(rows[key], state) for key, state in states.items() if key in rows]


def _segments(begins: Sequence[int], sizes: Sequence[int], limit: int) -> list[list[int]]:
    """Consecutive runs of the (sorted) begins to replay together, cheapest first: a replay
    from `begin` of n series costs (limit - begin) x (n + _REPLAY_OVERHEAD)."""
    best = [0.0]
    cut = [0]
    for end in range(1, len(begins) + 1):
        cost, size, choice = float("inf"), 0, 0
        for first in range(end - 1, -1, -1):
            size += sizes[first]
            total = best[first] + (limit - begins[first]) * (size + _REPLAY_OVERHEAD)
            if total < cost:
                cost, choice = total, first
        best.append(cost)
        cut.append(choice)
    segments: list[list[int]] = []
    end = len(begins)
    while end:
        segments.append(list(range(cut[end], end)))
        end = cut[end]
    return segments[::-1]


_CODEC_CHUNK = 512  # series encoded or decoded at once: text that stays in cache


def _encode(numbers: Floats) -> list[str]:
    """Each series (a column of `numbers`) as hex of its little-endian float64s."""
    width = numbers.shape[0] * 16
    packed: list[str] = []
    for first in range(0, numbers.shape[1], _CODEC_CHUNK):
        chunk = numbers[:, first : first + _CODEC_CHUNK]
        text = np.ascontiguousarray(chunk.T, dtype="<f8").tobytes().hex()
        packed += [text[i : i + width] for i in range(0, len(text), width)]
    return packed


def _decode(packed: Sequence[str], layout: _Layout) -> Floats:
    """_encode's inverse: a row per number, a column per series (all NaN if it is corrupt)."""
    numbers = np.empty((layout.size, len(packed)))
    for first in range(0, len(packed), _CODEC_CHUNK):
        chunk = packed[first : first + _CODEC_CHUNK]
        try:
            raw = bytes.fromhex("".join(chunk))
        except ValueError:
            raw = b""
        if len(raw) != len(chunk) * layout.size * 8:  # one at a time, to find the corrupt ones
            raw = b"".join(_unhex(text, layout) for text in chunk)
        rows = np.frombuffer(raw, dtype="<f8").reshape(len(chunk), layout.size)
        numbers[:, first : first + len(chunk)] = rows.T
    return numbers


def _unhex(text: str, layout: _Layout) -> bytes:
    """One checkpoint's bytes; NaN (so not usable) if it does not decode."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    return raw if len(raw) == layout.size * 8 else np.full(layout.size, np.nan).tobytes()


class _Replay:
    """Runs the detector over a group of series, from their checkpoints or the batch start.

    A replay's bucket t is the batch's bucket origin + t. It scores from `start`: a resumed
    replay reads the batch from `layout.history` buckets before (the window counts), and
    takes the rest of its past from the checkpoints; otherwise origin and start are 0.
    """

    def __init__(self, run: _Run, group: _Group, notes: Sequence[_Note]) -> None:
        batch, config, layout = run.batch, run.config, run.layout
        self.run_context, self.config, self.layout = run, config, layout
        self.rows = group.rows
        n = self.n = int(group.rows.size)
        # the batch rows, as a slice when they are consecutive (views, not copies)
        first_row = int(group.rows[0]) if n else 0
        consecutive = n > 0 and int(group.rows[-1]) - first_row + 1 == n
        self.select: slice | Ints = slice(first_row, first_row + n) if consecutive else group.rows
        per_day = batch.buckets_per_day
        self.per_day = per_day
        self.start = layout.history if group.numbers is not None else 0
        self.origin = group.begin - self.start
        self.width = width = run.limit - self.origin
        self.pseudo = config.pseudo_count_per_day / per_day
        self.log_pseudo = np.log(self.pseudo)
        self.floor = run.floor[self.select]
        self.budget = run.budget[self.select]
        self.window = layout.window
        self.level_size = layout.level_size
        self.period = layout.period
        self.season_start = config.season_min_weeks * self.period  # offsets exist from here
        self.warmup = config.warmup_days * per_day
        self.freeze = layout.freeze
        self.holdoff = config.holdoff_days * per_day
        self.close_after = config.close_after(batch.bucket_hours)
        self.sustained_after = config.sustained_after(batch.bucket_hours)
        self.log_escalation = float(np.log(config.escalation_factor))
        lags = self.period * np.arange(1, config.season_lookback_weeks + 1)
        self.lags = lags.astype(np.int64)
        # the batch's values, from origin (buckets before the batch are empty and incomplete)
        first = max(self.origin, 0)
        block = batch.values[self.select, first : run.limit]
        self.values = np.zeros((width, n))
        self.values[first - self.origin :] = np.maximum(block.T, 0.0)  # credits are not spend
        self.logs = np.log(self.values[self.start :] + self.pseudo)  # of buckets from `start`
        index = np.arange(self.origin, run.limit)
        complete = run.complete[self.select]
        self.is_complete = (index[:, None] < complete[None, :]) & (index >= 0)[:, None]
        self.zero_flags = self.is_complete & (self.values == 0)
        self.active_flags = self.is_complete & (self.values > 0)
        # flagged buckets in [t - window, t), kept as t moves
        before = slice(max(0, self.start - self.window), self.start)
        self.zeros = np.count_nonzero(self.zero_flags[before], axis=0)
        self.seen = np.count_nonzero(self.is_complete[before], axis=0)
        self.active = np.count_nonzero(self.active_flags[before], axis=0)
        self.prev_month, self.days_left = _month_context(batch, self.origin, self.start, width)
        # what the replay learns
        self.level_values = np.zeros((self.level_size, n))  # a ring of the latest level pushes
        self.level_at = np.full((self.level_size, n), _NEVER, dtype=np.int64)
        self.level_count = np.zeros(n, dtype=np.int64)
        # rings of bucket t's figure at t % their length, NaN for none (or not yet)
        self.residuals = np.full((self.window, n), np.nan)  # calm residuals
        self.deviation = np.full((layout.lookback, n), np.nan)  # y - level, for offsets
        self.excess_history = np.full((layout.month, n), np.nan)
        self.frozen = np.full((n, self.freeze), np.nan)  # the latest incident's first buckets
        self.elevated_streak = np.zeros(n, dtype=np.int64)
        self.last_level = np.full(n, np.nan)
        self.history_floor = np.full(n, _NEVER, dtype=np.int64)
        self.sigma = np.full(n, config.sigma_prior)
        self.residual_sigma = np.full(n, config.sigma_prior)
        self.scratch: Floats | None = None
        self.age_shift: int | Ints = 0  # a series' age at bucket t is t + age_shift
        self.state = _Lifecycle(n)
        self.opened_before = np.full(n, _NEVER, dtype=np.int64)  # as the checkpoint knew it
        # series join the replay at their checkpoints; before, their figures are discarded
        self.joins: dict[int, tuple[Ints, Floats]] = {}
        self.joined: Bools | None = None  # None: all of them
        join_at = np.full(n, self.origin, dtype=np.int64)  # where each series starts
        if group.numbers is not None and group.joins is not None:
            self.age_shift = np.zeros(n, dtype=np.int64)
            join_at = group.joins
            for begin in np.unique(group.joins):
                rows = np.flatnonzero(group.joins == begin)
                numbers = group.numbers if rows.size == n else group.numbers[:, rows]
                self.joins[int(begin) - self.origin] = (rows, numbers)
            self.joined = np.zeros(n, dtype=np.bool_)
            self._join(self.start)
        self.last_scores: _Scores | None = None
        self.records: list[_Record] = []
        self.incidents: set[tuple[int, int]] = set()  # (row, opened_at) opened in this replay
        self.notes: dict[int, list[_Note]] = {}
        local = {int(row): i for i, row in enumerate(group.rows)} if notes else {}
        for note in notes:
            row = local.get(note.row)
            if row is not None and note.t >= join_at[row]:
                t = note.t - self.origin
                self.notes.setdefault(t, []).append(
                    _Note(row, t, note.opened - self.origin, note.kind, note.index)
                )
        self.capture = self._capture_plan(join_at)
        self.captured: list[tuple[Ints, list[str]]] = []  # (rows, their checkpoints)

    def _capture_plan(self, join_at: Ints) -> dict[int, Ints]:
        """Where to take each series' checkpoint: `restate_days` before its first bucket not
        yet evaluated (the next run re-reads from there), and before the last bucket."""
        run = self.run_context
        complete = run.complete[self.select]
        through = np.minimum(complete, run.limit) - 1
        at = np.minimum(through + 1 - self.layout.restate, run.limit - 1)
        taken = at >= np.maximum(join_at, 1)
        plan: dict[int, Ints] = {}
        if taken.all() and at.size and (at == at[0]).all():
            plan[int(at[0]) - self.origin] = np.arange(self.n, dtype=np.int64)
            return plan
        for value in np.unique(at[taken]):
            plan[int(value) - self.origin] = np.flatnonzero(taken & (at == value))
        return plan

    def run(self) -> None:
        """Score and advance the lifecycle through every bucket to the run's limit."""
        for t in range(self.start, self.width):
            if t in self.joins and t > self.start:
                self._join(t)
            rows = self.capture.get(t)
            if rows is not None:
                self.captured.append((rows, self._checkpoints(t, rows)))
            self._apply_feedback(t)
            scores = self._score(t)
            self.last_scores = scores
            self._advance(t, scores)
            self._learn(t, scores)
            self._slide(t)

    def bucket_start(self, t: int) -> datetime:
        return self.run_context.bucket_start(self.origin + t)

    # -- scoring ----------------------------------------------------------------------

    def _score(self, t: int) -> _Scores:
        config = self.config
        zeros, seen = self.zeros, self.seen
        sparse = (seen > 0) & (zeros >= config.sparse_zero_share * np.maximum(seen, 1))
        dormant = (seen >= self.warmup) & (zeros == seen)
        level, sigma = self._level_and_sigma(t, sparse)
        self.sigma = sigma
        level = np.where(dormant, self.log_pseudo, level)
        offset = np.where(dormant, 0.0, self._offset(t))
        sigma = np.where(dormant, config.sparse_sigma, sigma)
        self.last_level = np.where(np.isnan(level), self.last_level, level)
        level = self.last_level
        prediction = level + offset
        value, y = self.values[t], self.logs[t - self.start]
        with np.errstate(invalid="ignore"):
            expected = np.maximum(np.exp(prediction) - self.pseudo, 0.0)
            excess = value - expected
            z = (y - prediction) / sigma
            ratio = np.exp(y - prediction)
            raw_ratio = value / np.maximum(expected, self.pseudo)
        scoreable = (t + self.age_shift >= self.warmup) & ~np.isnan(prediction)
        material = scoreable & (value > 0) & (excess >= self.floor)
        statistical = (z >= config.z_open) & (ratio >= config.min_damped_ratio)
        sustained = self._sustained(material & (z >= config.z_sustained), value > 0)
        unusual = material & (dormant | statistical | sustained | (raw_ratio >= config.fast_ratio))
        recurring = unusual & self._recurring(t, excess)
        deseasonalized = y - offset
        anomalous = unusual & ~recurring & ~self._accepted(t, deseasonalized)
        complete = self.is_complete[t]
        active = self.active_flags[t]  # non-zero and complete
        self.excess_history[t % self.layout.month] = np.nan_to_num(excess)
        return _Scores(
            value=value,
            expected=expected,
            excess=excess,
            z=z,
            ratio=ratio,
            raw_ratio=raw_ratio,
            offset=offset,
            deseasonalized=deseasonalized,
            anomalous=anomalous,
            recurring=recurring,
            calm=active & (z < config.z_calm),
            active=active,
            complete=complete,
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
        past = self.deviation[(t - self.lags) % self.layout.lookback]  # NaN before the replay
        found = ~np.isnan(past)
        latest = found & (np.cumsum(found, axis=0) <= config.season_weeks)
        median, count = _median(past, latest)
        offset = np.where(count >= config.season_min_weeks, median, 0.0)
        if not config.season_shrinkage:
            return offset
        noise = np.pi / 2 * self.sigma**2 / np.maximum(count, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.clip(1 - noise / offset**2, 0.0, 1.0)
        return np.where(offset != 0, offset * keep, 0.0)

    def _slide(self, t: int) -> None:
        """Move the window counts on from [t - window, t) to [t + 1 - window, t + 1)."""
        self.zeros = self.zeros + self.zero_flags[t]
        self.seen = self.seen + self.is_complete[t]
        self.active = self.active + self.active_flags[t]
        if t >= self.window:
            self.zeros -= self.zero_flags[t - self.window]
            self.seen -= self.is_complete[t - self.window]
            self.active -= self.active_flags[t - self.window]

    def _level_and_sigma(self, t: int, sparse: Bools) -> tuple[Floats, Floats]:
        """The median of the last 7 days' worth of active levels, and sigma from calm residuals
        over 28 days (wide for a sparse series with only 1-2 active buckets)."""
        config = self.config
        oldest = np.maximum(t - self.window, self.history_floor)
        level, _ = _median(self.level_values, self.level_at >= oldest)
        age = t + self.age_shift
        if isinstance(age, int):
            if age % self.per_day == 0:  # sigma moves slowly: once a day is enough
                self.residual_sigma = self._residual_sigma(self.residuals)
        else:
            due = np.flatnonzero(age % self.per_day == 0)
            if due.size == self.n:
                self.residual_sigma = self._residual_sigma(self.residuals)
            elif due.size:
                self.residual_sigma[due] = self._residual_sigma(self.residuals[:, due])
        active = self.active
        few_active = sparse & (active > 0) & (active <= 2)
        return level, np.where(few_active, config.sparse_sigma, self.residual_sigma)

    def _residual_sigma(self, residuals: Floats) -> Floats:
        """1.4826 * MAD of the calm residuals (NaN: none), shrunk toward the prior."""
        count = np.count_nonzero(~np.isnan(residuals), axis=0)
        ordered = self._scratch(residuals.shape)  # sorted in place: no new window-sized arrays
        np.copyto(ordered, residuals)
        ordered.sort(axis=0)  # NaN sorts last
        centre = _sorted_median(ordered, count)
        safe_centre = np.where(count > 0, centre, 0.0)
        np.subtract(residuals, safe_centre, out=ordered)
        np.abs(ordered, out=ordered)
        ordered.sort(axis=0)
        spread = _sorted_median(ordered, count)
        return _shrunk_sigma(_MAD_TO_SIGMA * spread, count, self.config)

    def _scratch(self, shape: tuple[int, ...]) -> Floats:
        """A window-sized work array, kept between buckets."""
        if self.scratch is None or self.scratch.shape != shape:
            self.scratch = np.empty(shape)
        return self.scratch

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
        rows = np.flatnonzero(opening)
        if not rows.size:
            return
        in_holdoff = (t - state.closed_at) <= self.holdoff
        beats_holdoff = s.deseasonalized >= state.ref_level + self.log_escalation
        held = in_holdoff & ~beats_holdoff
        announce = opening & ~held
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
        self.frozen[rows] = np.nan
        joined = rows if self.joined is None else rows[self.joined[rows]]
        self.incidents.update((int(r), t) for r in joined)
        self._record(t, s, announce, EventAction.OPEN, phase=_OPEN_PHASE)

    def _recurring(self, t: int, excess: Floats) -> Bools:
        """Last month's same bucket had a similar excess above the floor (§4.5 item 1)."""
        before = int(self.prev_month[t])
        if not self.config.recurring_monthly or before == _NEVER:
            return np.zeros(excess.shape, dtype=np.bool_)
        last = self.excess_history[before % self.layout.month]  # NaN before the replay
        tolerance = self.config.recurring_tolerance
        with np.errstate(invalid="ignore"):
            similar = (excess <= tolerance * last) & (excess * tolerance >= last)
            recurring: Bools = (last >= self.floor) & similar
        return recurring

    def _accepted(self, t: int, deseasonalized: Floats) -> Bools:
        """The bucket sits at a level feedback marked as expected (up to the escalation factor)."""
        state = self.state
        ceiling = state.suppress_level + self.log_escalation
        accepted: Bools = (t <= state.suppress_until) & (deseasonalized <= ceiling)
        return accepted

    def _record(
        self,
        t: int,
        s: _Scores,
        mask: Bools,
        action: EventAction,
        reason: str = "",
        phase: int | None = None,
    ) -> None:
        at = _PHASES[action] if phase is None else phase
        if self.joined is not None:
            mask = mask & self.joined
        rows = np.flatnonzero(mask)
        if rows.size:
            records = _snapshots(self.state, s, rows, t, action, reason, at)
            for record in records:  # now: the excess history is a ring that moves on
                record.excess_per_day = _excess_per_day(self, record.row, t, record.opened_at)
            self.records += records

    # -- learning ---------------------------------------------------------------------

    def _learn(self, t: int, s: _Scores) -> None:
        """Feed the bucket to the baseline: level unless frozen, sigma only when calm."""
        state = self.state
        usable = s.active & ~s.recurring
        since_open = t - state.opened_at
        young = state.open & ~state.unfrozen & (since_open < self.freeze)
        to_level = np.flatnonzero(usable & ~young)
        self._push_levels(to_level, s.deseasonalized[to_level], t)
        known = usable & ~s.dormant & ~np.isnan(s.level)
        logs = self.logs[t - self.start]
        self.deviation[t % self.layout.lookback] = np.where(known, logs - s.level, np.nan)
        to_sigma = known & ~state.open & (t + self.age_shift >= self.season_start)
        with np.errstate(invalid="ignore"):
            residual = logs - (s.level + s.offset)
        self.residuals[t % self.window] = np.where(to_sigma, residual, np.nan)
        freezing = np.flatnonzero((since_open >= 0) & (since_open < self.freeze))
        if freezing.size:  # what feedback "expected" re-baselines on
            at = since_open[freezing]
            self.frozen[freezing, at] = np.where(s.active, s.deseasonalized, np.nan)[freezing]

    def _push_levels(self, rows: Ints, values: Floats, at: int | Ints) -> None:
        slots = self.level_count[rows] % self.level_size
        self.level_values[slots, rows] = values
        self.level_at[slots, rows] = at
        self.level_count[rows] += 1

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
        span = np.arange(min(t - opened, self.freeze))
        frozen = self.frozen[row, span]
        kept = ~np.isnan(frozen)
        deseasonalized = frozen[kept]
        for at, value in zip(opened + span[kept], deseasonalized, strict=True):
            self._push_levels(np.array([row]), np.array([value]), int(at))
        self.history_floor[row] = opened
        state.unfrozen[row] = True
        if deseasonalized.size:
            state.suppress_level[row] = float(np.max(deseasonalized))
            state.suppress_until[row] = t + self.config.suppress_days * self.per_day

    # -- checkpoints ------------------------------------------------------------------

    def _checkpoints(self, t: int, rows: Ints) -> list[str]:
        """The checkpoints of `rows` just before bucket t, encoded, a chunk at a time."""
        run = self.run_context
        at = run.batch.start.timestamp() + (self.origin + t) * run.batch.step.total_seconds()
        consecutive = rows.size > 0 and int(rows[-1]) - int(rows[0]) + 1 == rows.size
        texts: list[str] = []
        for first in range(0, rows.size, _CODEC_CHUNK):
            part = rows[first : first + _CODEC_CHUNK]
            select = slice(int(part[0]), int(part[-1]) + 1) if consecutive else part
            numbers = self._pack(t, select, part)
            numbers[_SCALARS.index("at")] = at
            numbers[_SCALARS.index("feedback")] = run.seen[self.rows[part]]
            texts += _encode(numbers)
        return texts

    def _pack(self, t: int, select: slice | Ints, rows: Ints) -> Floats:
        """The checkpoint numbers of `rows` (`select` picks them) just before bucket t, a row
        per number and a column per series (see _SCALARS; "at" and "feedback" left out)."""
        layout, state, parts = self.layout, self.state, self.layout.parts

        def since(values: Ints) -> Floats:
            picked = values[select]
            return np.where(picked == _NEVER, np.nan, picked - t)

        out = np.empty((layout.size, rows.size))
        shift = self.age_shift
        scalars: dict[str, float | NDArray[np.generic]] = {
            "at": np.nan,
            "feedback": np.nan,
            "config": layout.config,
            "floor": self.floor[select],
            "age": t + (shift if isinstance(shift, int) else shift[select]),
            "open": state.open[select],
            "announced": state.announced[select],
            "muted": state.muted[select],
            "unfrozen": state.unfrozen[select],
            "new_spend": state.new_spend[select],
            "ref_ratio": state.ref_ratio[select],
            "ref_level": state.ref_level[select],
            "peak_ratio": state.peak_ratio[select],
            "impact": state.impact[select],
            "expected_sum": state.expected_sum[select],
            "calm_streak": state.calm_streak[select],
            "fast_streak": state.fast_streak[select],
            "elevated_streak": self.elevated_streak[select],
            "opened_at": since(state.opened_at),
            "closed_at": since(state.closed_at),
            "suppress_level": state.suppress_level[select],
            "suppress_until": since(state.suppress_until),
            "history_floor": since(self.history_floor),
            "last_level": self.last_level[select],
            "residual_sigma": self.residual_sigma[select],
        }
        first = parts["scalars"].start
        for i, name in enumerate(_SCALARS):
            out[first + i] = scalars[name]
        count = self.level_count[select]
        levels, level_at = parts["levels"].start, parts["level_at"].start
        for j in range(self.level_size):  # newest first
            slot = (count - 1 - j) % self.level_size
            filled = j < count
            out[levels + j] = np.where(filled, self.level_values[slot, rows], np.nan)
            out[level_at + j] = np.where(filled, self.level_at[slot, rows] - t, np.nan)
        for name, ring in (
            ("residuals", self.residuals),
            ("deviations", self.deviation),
            ("excess", self.excess_history),
        ):
            by_age = (t - np.arange(1, ring.shape[0] + 1)) % ring.shape[0]
            out[parts[name]] = ring[:, select][by_age]
        out[parts["frozen"]] = self.frozen[select].T
        return out

    def _join(self, t: int) -> None:
        """Series whose checkpoints were taken just before bucket t start from them here."""
        rows, numbers = self.joins[t]
        self._restore(rows, numbers, t)
        if self.joined is not None:
            self.joined[rows] = True
            if self.joined.all():
                self.joined = None

    def _restore(self, rows: Ints, numbers: Floats, t: int) -> None:
        """Set `rows` to checkpoint numbers taken just before bucket t (as _pack makes them:
        a row per number, a column per series)."""
        state, parts = self.state, self.layout.parts
        first = parts["scalars"].start
        scalars = {name: numbers[first + i] for i, name in enumerate(_SCALARS)}

        def at(name: str) -> Ints:
            value = scalars[name]
            return np.where(np.isnan(value), _NEVER, t + np.nan_to_num(value)).astype(np.int64)

        assert not isinstance(self.age_shift, int)
        self.age_shift[rows] = scalars["age"].astype(np.int64) - t
        state.open[rows] = scalars["open"] != 0
        state.announced[rows] = scalars["announced"] != 0
        state.muted[rows] = scalars["muted"] != 0
        state.unfrozen[rows] = scalars["unfrozen"] != 0
        state.new_spend[rows] = scalars["new_spend"] != 0
        state.ref_ratio[rows] = scalars["ref_ratio"]
        state.ref_level[rows] = scalars["ref_level"]
        state.peak_ratio[rows] = scalars["peak_ratio"]
        state.impact[rows] = scalars["impact"]
        state.expected_sum[rows] = scalars["expected_sum"]
        state.calm_streak[rows] = scalars["calm_streak"]
        state.fast_streak[rows] = scalars["fast_streak"]
        self.elevated_streak[rows] = scalars["elevated_streak"]
        state.opened_at[rows] = self.opened_before[rows] = at("opened_at")
        state.closed_at[rows] = at("closed_at")
        state.suppress_level[rows] = scalars["suppress_level"]
        state.suppress_until[rows] = at("suppress_until")
        self.history_floor[rows] = at("history_floor")
        self.last_level[rows] = scalars["last_level"]
        self.residual_sigma[rows] = scalars["residual_sigma"]
        levels = numbers[parts["levels"]]
        level_at = numbers[parts["level_at"]]
        count = (~np.isnan(level_at)).sum(axis=0)  # the newest pushes, newest first
        self.level_values[:, rows] = 0.0
        self.level_at[:, rows] = _NEVER
        for j in range(self.level_size):
            kept = np.flatnonzero(j < count)
            slot = count[kept] - 1 - j  # the oldest kept push in slot 0, as pushed
            self.level_values[slot, rows[kept]] = levels[j, kept]
            self.level_at[slot, rows[kept]] = t + level_at[j, kept].astype(np.int64)
        self.level_count[rows] = count
        every = rows.size == self.n
        for name, ring in (
            ("residuals", self.residuals),
            ("deviations", self.deviation),
            ("excess", self.excess_history),
        ):
            slots = (t - np.arange(1, ring.shape[0] + 1)) % ring.shape[0]
            if every:
                ring[slots] = numbers[parts[name]]
            else:
                ring[slots[:, None], rows[None, :]] = numbers[parts[name]]
        self.frozen[rows] = numbers[parts["frozen"]].T


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
    return _snapshots(state, s, np.array([row]), t, action, reason)[0]


def _snapshots(
    state: _Lifecycle,
    s: _Scores,
    rows: Ints,
    t: int,
    action: EventAction,
    reason: str = "",
    phase: int = 0,
) -> list[_Record]:
    """Some series' incident and bucket figures, as event records."""
    columns = zip(
        rows.tolist(),
        state.opened_at[rows].tolist(),
        state.new_spend[rows].tolist(),
        state.peak_ratio[rows].tolist(),
        state.impact[rows].tolist(),
        state.expected_sum[rows].tolist(),
        state.fast_streak[rows].tolist(),
        s.value[rows].tolist(),
        s.expected[rows].tolist(),
        s.excess[rows].tolist(),
        s.ratio[rows].tolist(),
        s.raw_ratio[rows].tolist(),
        s.z[rows].tolist(),
        s.complete[rows].tolist(),
        strict=True,
    )
    return [
        _Record(
            row=row,
            t=t,
            action=action,
            opened_at=opened_at,
            new_spend=new_spend,
            peak_ratio=peak_ratio,
            impact=impact,
            expected_sum=expected_sum,
            fast_streak=fast_streak,
            value=value,
            expected=expected,
            excess=excess,
            ratio=ratio,
            raw_ratio=raw_ratio,
            z=z,
            complete=complete,
            reason=reason,
            phase=phase,
        )
        for (
            row,
            opened_at,
            new_spend,
            peak_ratio,
            impact,
            expected_sum,
            fast_streak,
            value,
            expected,
            excess,
            ratio,
            raw_ratio,
            z,
            complete,
        ) in columns
    ]


_MAD_TO_SIGMA = 1.4826  # MAD to the standard deviation of a normal distribution


def _median(values: Floats, valid: Bools) -> tuple[Floats, Ints]:
    """Medians over the first axis (time) of the valid entries, and their counts (NaN where
    none): the mean of the two middle ones, as series.row_median."""
    count = np.count_nonzero(valid, axis=0)
    if values.shape[0] == 0:
        return np.full(count.shape, np.nan), count
    return _sorted_median(np.sort(np.where(valid, values, np.inf), axis=0), count), count


def _sorted_median(ordered: Floats, count: Ints) -> Floats:
    """The median of the first `count` entries of each column of `ordered` (sorted down
    the columns), NaN where there are none."""
    columns = np.arange(ordered.shape[1])
    low = ordered[np.maximum(count - 1, 0) // 2, columns]
    high = ordered[count // 2, columns]
    with np.errstate(invalid="ignore"):
        middle = (low + high) / 2
    median: Floats = np.where(count > 0, middle, np.nan)
    return median


def _shrunk_sigma(spread: Floats, count: Ints, config: DetectorConfig) -> Floats:
    """MAD sigma pulled toward the prior by `sigma_prior_weight` pseudo-observations."""
    weight = config.sigma_prior_weight
    observed = np.where(count > 0, spread, 0.0)
    pooled = (count * observed + weight * config.sigma_prior) / (count + weight)
    return np.maximum(pooled, config.sigma_floor)


def _month_context(batch: SeriesBatch, origin: int, start: int, width: int) -> tuple[Ints, Floats]:
    """For replay buckets from `start` (the batch's from origin + start): the replay bucket
    of the same day of month and hour a month earlier (_NEVER: none in the batch) and the
    days left in the month, as SeriesBatch has them."""
    first = origin + start
    earlier = batch.same_bucket_last_month(first)[first : origin + width]
    previous = np.full(width, _NEVER, dtype=np.int64)
    previous[start:] = np.where(earlier >= 0, earlier - origin, _NEVER)
    left = np.zeros(width)
    left[start:] = batch.days_left_in_month(first)[first : origin + width]
    return previous, left


# ---------------------------------------------------------------------------------------
# From replay to events and states


def _feedback_rows(
    batch: SeriesBatch, states: Mapping[SeriesKey, SeriesState], limit: int
) -> list[_Note]:
    """Feedback placed on the batch's axis, for incidents that start inside it."""
    notes = []
    rows: dict[SeriesKey, int] | None = None
    for key, state in states.items():
        if not state.feedback:
            continue
        rows = rows if rows is not None else {k: row for row, k in enumerate(batch.keys)}
        for index, feedback in enumerate(state.feedback):
            opened = batch.index_of(feedback.incident_opened_at)
            given = max(opened + 1, -((batch.start - feedback.given_at) // batch.step))
            if key in rows and 0 <= opened < limit:
                t = int(min(given, limit - 1))
                notes.append(_Note(rows[key], t, opened, feedback.kind, index))
    return notes


def _event(replay: _Replay, record: _Record) -> DetectorEvent:
    """A replay record as a DetectorEvent with §4.4 impact and severity."""
    run, row, t = replay.run_context, record.row, record.t
    per_day = record.excess_per_day
    projected = per_day * float(replay.days_left[t])
    impact_pct = None
    if not record.new_spend and record.expected_sum > 0:
        impact_pct = round(100 * record.impact / record.expected_sum, 1)
    severity = Severity.INFO
    if record.action is not EventAction.RESOLVE:
        severity = _severity(replay, row, record, projected, per_day)
    return DetectorEvent(
        key=run.batch.keys[int(replay.rows[row])],
        action=record.action,
        at=replay.bucket_start(t),
        incident_opened_at=replay.bucket_start(record.opened_at),
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


def _excess_per_day(replay: _Replay, row: int, t: int, opened_at: int) -> float:
    """The incident's current excess per day: the mean over its last day of active buckets
    (bucket t is the replay's latest: the excess ring holds the month before it)."""
    per_day, month = replay.per_day, replay.layout.month
    start = max(opened_at, t - per_day + 1)
    if start == t:  # one bucket (daily): no arrays
        value = float(replay.values[t, row])
        return (
            max(0.0, float(replay.excess_history[t % month, row]) * per_day) if value > 0 else 0.0
        )
    active = replay.values[start : t + 1, row] > 0
    excess = replay.excess_history[np.arange(start, t + 1) % month, row][active]
    return max(0.0, float(excess.mean()) * per_day) if excess.size else 0.0


def _severity(
    replay: _Replay, row: int, record: _Record, projected: float, per_day: float
) -> Severity:
    """§4.4 tiers: both an absolute and, when a budget is known, a relative gate."""
    config = replay.config
    budget = float(replay.budget[row])
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


_NO_STATE = SeriesState()


def _records(run: _Run) -> list[tuple[_Replay, _Record]]:
    """Every replay's records, in the order one replay of every series makes them."""
    found = [(replay, record) for replay in run.replays for record in replay.records]
    if len(run.replays) > 1:
        found.sort(
            key=lambda pair: (
                pair[0].origin + pair[1].t,
                pair[1].phase,
                int(pair[0].rows[pair[1].row]),
            )
        )
    return found


def _reconcile(run: _Run, states: Mapping[SeriesKey, SeriesState]) -> list[DetectorEvent]:
    """Events new since each series' state, plus late opens and restated resolves."""
    batch = run.batch
    window = timedelta(days=run.config.restate_days)
    events: list[DetectorEvent] = []
    for replay, record in _records(run):
        key = batch.keys[int(replay.rows[record.row])]
        state = states.get(key, _NO_STATE)
        at = replay.bucket_start(record.t)
        through = state.evaluated_through
        if through is None or at > through:
            if not _already_told(state, record, replay):
                events.append(_event(replay, record))
        elif (
            record.action is EventAction.OPEN
            and at > through - window
            and not _already_announced(state, replay.bucket_start(record.opened_at))
        ):
            events.append(_event(replay, record))
    resolved = {(e.key, e.incident_opened_at) for e in events if e.action is EventAction.RESOLVE}
    events += _restated(run, states, resolved)
    return events


def _already_told(state: SeriesState, record: _Record, replay: _Replay) -> bool:
    """A re-evaluated incomplete bucket repeats an open or escalation already posted."""
    incident = state.incident
    if incident is None or incident.opened_at != replay.bucket_start(record.opened_at):
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
    run: _Run,
    states: Mapping[SeriesKey, SeriesState],
    resolved: set[tuple[SeriesKey, datetime]],
) -> list[DetectorEvent]:
    """Resolve incidents the caller holds open that the replay no longer has open."""
    batch = run.batch
    events: list[DetectorEvent] = []
    if run.limit == 0:
        return events
    rows: dict[SeriesKey, int] | None = None
    for key, state in states.items():
        incident = state.incident
        if incident is None or not incident.announced:
            continue
        rows = rows if rows is not None else {k: row for row, k in enumerate(batch.keys)}
        if key not in rows:
            continue
        replay, row = _replay_of(run, rows[key])
        last, lifecycle = replay.last_scores, replay.state
        if last is None:
            continue
        opened = batch.index_of(incident.opened_at) - replay.origin
        still_open = bool(lifecycle.open[row]) and int(lifecycle.opened_at[row]) == opened
        if still_open or (key, incident.opened_at) in resolved:
            continue
        known = (row, opened) in replay.incidents or int(replay.opened_before[row]) == opened
        record = replace(
            _snapshot(lifecycle, last, row, replay.width - 1, EventAction.RESOLVE),
            opened_at=opened,
            new_spend=incident.kind is IncidentKind.NEW_SPEND,
            peak_ratio=incident.peak_ratio,
            impact=float(incident.impact_so_far),
            expected_sum=0.0,
            fast_streak=0,
            reason="recovered" if known else "restated",
        )
        record.excess_per_day = _excess_per_day(replay, row, record.t, opened)
        events.append(_event(replay, record))
    return events


def _replay_of(run: _Run, row: int) -> tuple[_Replay, int]:
    """The replay that ran a batch row, and the row's place in it."""
    for replay in run.replays:
        place = int(np.searchsorted(replay.rows, row))
        if place < replay.rows.size and replay.rows[place] == row:
            return replay, place
    raise KeyError(row)


def _next_states(run: _Run) -> dict[SeriesKey, SeriesState]:
    """The state to keep per series: the open incident, last close, live feedback, and the
    checkpoint the next run resumes from."""
    batch, n = run.batch, run.batch.n_series
    is_open = np.zeros(n, dtype=np.bool_)
    closed = np.full(n, _NEVER, dtype=np.int64)
    packed: list[str | None] = [None] * n
    for replay in run.replays:
        lifecycle, rows, origin = replay.state, replay.rows, replay.origin
        is_open[rows] = lifecycle.open
        closed[rows] = np.where(lifecycle.closed_at == _NEVER, _NEVER, lifecycle.closed_at + origin)
        for taken, texts in replay.captured:
            for row, text in zip(rows[taken].tolist(), texts, strict=True):
                packed[row] = text
    through = np.minimum(run.complete, run.limit) - 1
    incidents: list[IncidentState | None] = [None] * n
    for row in np.flatnonzero(is_open).tolist():
        incidents[row] = _incident_state(run, row)
    notes: list[tuple[Feedback, ...]] = [()] * n
    for row, live in run.feedback.items():
        notes[row] = live
    return dict(
        zip(
            batch.keys,
            map(
                SeriesState,
                _moments(run, through, through < 0),
                incidents,
                _moments(run, closed, closed == _NEVER),
                notes,
                packed,
            ),
            strict=True,
        )
    )


def _moments(run: _Run, index: Ints, none: Bools) -> list[datetime | None]:
    """Bucket starts of batch indexes (None where `none`): few distinct ones, many series."""
    found: dict[int, datetime | None] = {}
    for value in np.unique(index[~none]).tolist():
        found[value] = run.bucket_start(value)
    missing = _NEVER if none.any() else None
    if missing is not None:
        found[missing] = None
    return [found[i] for i in np.where(none, _NEVER, index).tolist()]


def _incident_state(run: _Run, row: int) -> IncidentState:
    replay, place = _replay_of(run, row)
    lifecycle = replay.state
    return IncidentState(
        opened_at=replay.bucket_start(int(lifecycle.opened_at[place])),
        kind=IncidentKind.NEW_SPEND if lifecycle.new_spend[place] else IncidentKind.SPIKE,
        announced=bool(lifecycle.announced[place]),
        last_announced_ratio=float(lifecycle.ref_ratio[place]),
        peak_ratio=float(lifecycle.peak_ratio[place]),
        impact_so_far=to_cents(float(lifecycle.impact[place])),
    )


def _live_feedback(feedback: Iterable[Feedback], start: datetime) -> tuple[Feedback, ...]:
    """Feedback on incidents that still start inside the batch window."""
    return tuple(f for f in feedback if f.incident_opened_at >= start)
