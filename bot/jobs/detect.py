"""Detecting: score every watched series, daily on billed cost and hourly on estimated and
reported cost, turn what is new into incidents, evaluate budgets and forecasts, and reconcile
the other alert conditions. One transaction per run; a dry run writes nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from bot.analysis.alerts import AlertKind, Condition
from bot.analysis.budgets import (
    BudgetAlert,
    BudgetState,
    BudgetStatus,
    budget_filters,
    describe_budget,
    evaluate_budget,
)
from bot.analysis.detector import (
    DEFAULT_CONFIG,
    DetectorConfig,
    DetectorEvent,
    EventAction,
    SeriesState,
    Severity,
    default_floors,
    evaluate,
    fold_hierarchy,
)
from bot.analysis.explain import (
    Measured,
    VolumeMeasure,
    explain_change,
    measured_rows,
    top_drivers,
)
from bot.analysis.forecast import forecast_month
from bot.analysis.levels import (
    LEVELS,
    Level,
    budgets_by_key,
    describe,
    filters_of,
    floors_by_team,
    level_of,
    series_key,
    team_of,
)
from bot.analysis.series import SeriesBatch, SeriesKey, combine, parents_of
from bot.clock import Clock, utc_midnight
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, Filter, Origin, SpendQuery
from bot.jobs.outlook import calibrated_intervals
from bot.money import format_usd
from bot.store import queries
from bot.store.freshness import SourceState, list_source_states
from bot.store.incidents import (
    Change,
    IncidentView,
    last_buckets,
    load_budget_states,
    load_states,
    open_incidents,
    record,
    save_budget_states,
    save_states,
)

logger = logging.getLogger(__name__)

DAILY_HISTORY = timedelta(days=120)  # warm-up, weekday offsets and a month of lookback
HOURLY_HISTORY = timedelta(days=35)  # hour-of-week offsets over 2-4 weeks, plus warm-up
FIRST_RUN_REACH = {"daily": timedelta(days=2), "hourly": timedelta(hours=6)}
CADENCES = ("daily", "hourly")
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
DETECTED = (AlertKind.SPIKE.value, AlertKind.NEW_SPEND.value)


@dataclass(frozen=True)
class DetectContext:
    engine: Engine
    team_file: TeamFile
    clock: Clock
    config: DetectorConfig = DEFAULT_CONFIG


@dataclass(frozen=True)
class DetectReport:
    now: datetime
    changes: tuple[Change, ...]
    series: dict[str, int]  # cadence -> series scored
    folded: int  # detector events reported at another series
    budgets: tuple[BudgetStatus, ...] = ()
    written: bool = False


@dataclass
class _Run:
    """What one run has decided so far, before anything is written."""

    changes: list[Change] = field(default_factory=list)
    states: dict[str, dict[SeriesKey, SeriesState]] = field(default_factory=dict)
    budget_states: dict[str, BudgetState] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=dict)
    folded: int = 0
    budgets: list[BudgetStatus] = field(default_factory=list)


def run_detection(
    context: DetectContext,
    conditions: Sequence[Condition] = (),
    *,
    dry_run: bool = False,
) -> DetectReport:
    """Score, decide and (unless `dry_run`) record, in one transaction. `conditions` are the
    other alert kinds, already gathered; they open, update or resolve incidents here."""
    now = context.clock.now()
    run = _Run()
    with context.engine.connect() as connection:
        sources = list_source_states(connection)
        for cadence in CADENCES:
            _detect(connection, context, cadence, sources, now, run)
        open_now = open_incidents(connection)
        budget_conditions = _budgets(connection, context.team_file, now, run)
    all_conditions = [*conditions, *budget_conditions]
    run.changes += reconcile_conditions(all_conditions, open_now, now)
    if not dry_run:
        with context.engine.begin() as connection:
            record(connection, run.changes, now)
            for cadence in CADENCES:
                save_states(connection, cadence, run.states.get(cadence, {}), now)
            save_budget_states(connection, run.budget_states, now)
    return DetectReport(
        now, tuple(run.changes), run.series, run.folded, tuple(run.budgets), not dry_run
    )


def _detect(
    connection: Connection,
    context: DetectContext,
    cadence: str,
    sources: Sequence[SourceState],
    now: datetime,
    run: _Run,
) -> None:
    batch = (daily_batch if cadence == "daily" else hourly_batch)(connection, sources, now)
    run.series[cadence] = batch.n_series
    if not batch.n_series:
        return
    states = load_states(connection, cadence)
    budgets = budgets_by_key(batch.keys, context.team_file.budgets)
    floors = default_floors(batch, context.config, budgets)
    team_floors = {t.id: t.alert_floor for t in context.team_file.teams if t.alert_floor}
    for key, floor in floors_by_team(batch.keys, team_floors).items():
        floors[batch.row_of(key)] = float(floor)
    evaluation = evaluate(batch, states, now, context.config, floors=floors, budgets=budgets)
    fresh = [e for e in evaluation.events if e.key in states or _recent(e, cadence, now)]
    folding = fold_hierarchy(fresh, parents_of(list(batch.keys)))
    run.folded += len(folding.folded)
    run.states[cadence] = dict(evaluation.states)
    for event in folding.events:
        why = _why(connection, cadence, event) if _announces(event) else ""
        run.changes.append(spike_change(cadence, event, why))
    spoken = {(c.key, c.opened_at) for c in run.changes if c.cadence == cadence}
    run.changes += restatements(connection, cadence, batch, spoken)


def restatements(
    connection: Connection,
    cadence: str,
    batch: SeriesBatch,
    spoken: set[tuple[SeriesKey, datetime]],
) -> list[Change]:
    """Open incidents whose last reported bucket the provider has since restated: an update
    with the new figure, so the thread never shows a number the bill no longer says."""
    incidents = [
        i
        for i in open_incidents(connection, kinds=DETECTED)
        if i.cadence == cadence and i.key in batch.keys and (i.key, i.opened_at) not in spoken
    ]
    buckets = last_buckets(connection, [i.id for i in incidents])
    changes = []
    for incident in incidents:
        bucket = buckets.get(incident.id)
        if bucket is None or incident.observed is None:
            continue
        index = batch.index_of(bucket)
        if not 0 <= index < batch.n_buckets:
            continue
        now_says = batch.cost(incident.key, index)
        if now_says == incident.observed:
            continue
        when = bucket.strftime("%Y-%m-%d" if cadence == "daily" else "%Y-%m-%d %H:00 UTC")
        changes.append(
            Change(
                kind=incident.kind,
                cadence=cadence,
                key=incident.key,
                opened_at=incident.opened_at,
                action="update",
                severity=incident.severity,
                summary=f"{describe(incident.key)}: {format_usd(now_says)} {_in(cadence)} "
                f"{when}, restated from {format_usd(incident.observed)}",
                bucket=bucket,
                observed=now_says,
            )
        )
    return changes


def _recent(event: DetectorEvent, cadence: str, now: datetime) -> bool:
    """On a series' first run every past event is reported; only the recent ones matter."""
    return event.at >= now - FIRST_RUN_REACH[cadence]


def _announces(event: DetectorEvent) -> bool:
    return event.action in (EventAction.OPEN, EventAction.ESCALATE)


def daily_batch(
    connection: Connection, sources: Sequence[SourceState], now: datetime
) -> SeriesBatch:
    """Every level's daily cost (best origin per provider and day) over DAILY_HISTORY, with
    each series complete through its providers' data."""
    today = now.date()
    period = DateRange(today - DAILY_HISTORY, today + timedelta(days=1))
    marks = _daily_watermarks(sources, today)
    batches = []
    for level in LEVELS:
        found = queries.daily_series(connection, SpendQuery(period, level.dimensions))
        series, watermarks = _keyed(level, found, marks, utc_midnight(today))
        batches.append(
            SeriesBatch.from_series(
                series,
                level=level.name,
                start=period.start,
                end=period.end,
                complete_before=watermarks,
            )
        )
    return combine(batches)


def hourly_batch(
    connection: Connection, sources: Sequence[SourceState], now: datetime
) -> SeriesBatch:
    """Every hourly level's cost over HOURLY_HISTORY: for each provider its estimated usage
    if it reports hourly usage, else its apps' reported events (never both)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    first = utc_midnight((now - HOURLY_HISTORY).date())
    period = DateRange(first.date(), now.date() + timedelta(days=1))
    marks = _hourly_watermarks(sources, hour)
    finest = _HourlyCosts.read(connection, period)
    batches = []
    for level in LEVELS:
        if not level.hourly:
            continue
        series, watermarks = _keyed(level, finest.summed(level.dimensions), marks, hour)
        batches.append(
            SeriesBatch.from_series(
                series,
                level=level.name,
                start=first,
                end=utc_midnight(period.end),
                bucket_hours=1,
                complete_before=watermarks,
            )
        )
    return combine(batches)


_FINEST = (Dimension.PROVIDER, Dimension.MODEL, Dimension.TEAM, Dimension.FEATURE)
HourlyCosts = dict[tuple[str, ...], dict[datetime, Decimal]]


@dataclass(frozen=True)
class _HourlyCosts:
    """Hourly cost at the finest hourly grain, read once per run: estimated usage of the
    providers that report it hourly, request events for the others, and request events
    alone for features (which exist only there)."""

    spend: HourlyCosts
    events: HourlyCosts

    @classmethod
    def read(cls, connection: Connection, period: DateRange) -> _HourlyCosts:
        estimated = queries.hourly_series(
            connection, SpendQuery(period, _FINEST, (), Origin.ESTIMATED)
        )
        reported = queries.hourly_series(
            connection, SpendQuery(period, _FINEST, (), Origin.REPORTED)
        )
        covering = _estimating_providers(estimated, period)
        spend = {k: v for k, v in reported.items() if k[0] not in covering}
        spend |= {k: v for k, v in estimated.items() if k[0] in covering}
        return cls(spend, reported)

    def summed(self, dims: Sequence[Dimension]) -> HourlyCosts:
        chosen = self.events if Dimension.FEATURE in dims else self.spend
        positions = [_FINEST.index(d) for d in dims]
        summed: HourlyCosts = {}
        for key, hours in chosen.items():
            target = summed.setdefault(tuple(key[p] for p in positions), {})
            for at, cost in hours.items():
                target[at] = target.get(at, Decimal(0)) + cost
        return summed


ESTIMATE_COVERAGE = 0.8  # share of the window's days a provider's hourly usage must cover


def _estimating_providers(
    estimated: Mapping[tuple[str, ...], Mapping[datetime, Decimal]], period: DateRange
) -> set[str]:
    """Providers whose hourly usage covers the window well enough to be their hourly series;
    the others are watched through their apps' request events (mixing the two would make a
    step where one starts)."""
    days: dict[str, set[date]] = {}
    for key, hours in estimated.items():
        days.setdefault(key[0], set()).update(at.date() for at in hours)
    needed = ESTIMATE_COVERAGE * period.days
    return {provider for provider, seen in days.items() if len(seen) >= needed}


def _keyed(
    level: Level,
    found: Mapping[tuple[str, ...], Mapping[Any, Decimal]],
    marks: Mapping[str, datetime],
    default: datetime,
) -> tuple[dict[tuple[str, ...], Mapping[Any, Decimal]], dict[tuple[str, ...], datetime]]:
    """The level's series under their path keys (unprefixed: from_series adds the level), each
    with its watermark: its provider's, or the earliest fresh provider's for levels across
    providers."""
    across = min(marks.values(), default=default)
    series: dict[tuple[str, ...], Mapping[Any, Decimal]] = {}
    watermarks: dict[tuple[str, ...], datetime] = {}
    for values, points in found.items():
        key = series_key(level, values)
        if key is None:
            continue
        path = key[1:]
        series[path] = points
        name = dict(zip(level.dimensions, values, strict=True)).get(Dimension.PROVIDER)
        watermarks[path] = min(marks.get(name, default), default) if name else min(across, default)
    return series, watermarks


def _daily_watermarks(sources: Sequence[SourceState], today: date) -> dict[str, datetime]:
    """Per provider with collectors: the day its data is complete through (its slowest
    source), never past today's midnight. Providers without collectors are complete through
    midnight (their data is request events, complete for past days)."""
    cap = utc_midnight(today)
    marks: dict[str, datetime] = {}
    for s in sources:
        if s.complete_through is None or s.source.endswith(".names"):
            continue
        provider = s.source.partition(".")[0]
        through = utc_midnight(s.complete_through.astimezone(UTC).date())
        marks[provider] = min(marks.get(provider, cap), through, cap)
    stale = cap - timedelta(days=3)
    return {p: m for p, m in marks.items() if m >= stale}  # stale ones: their own alert


def _hourly_watermarks(sources: Sequence[SourceState], hour: datetime) -> dict[str, datetime]:
    """Per provider with collectors: the hour of its last successful collection."""
    marks: dict[str, datetime] = {}
    for s in sources:
        if s.last_success is None or s.source.endswith(".names"):
            continue
        provider = s.source.partition(".")[0]
        pulled = s.last_success.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        marks[provider] = min(marks.get(provider, hour), pulled, hour)
    return marks


# --- what an incident says -------------------------------------------------------------


def spike_change(cadence: str, event: DetectorEvent, why: str = "") -> Change:
    """A detector event as an incident change, with a one-line summary in words."""
    return Change(
        kind=event.kind.value,
        cadence=cadence,
        key=event.key,
        opened_at=event.incident_opened_at,
        action=event.action.value,
        severity=event.severity.value,
        summary=spike_summary(cadence, event),
        why=why,
        team=team_of(event.key),
        bucket=event.at,
        observed=event.observed,
        expected=event.expected,
        impact_so_far=event.impact_so_far,
        projected_impact=event.projected_impact,
        peak_ratio=event.peak_ratio,
        reason=event.reason,
    )


def spike_summary(cadence: str, event: DetectorEvent) -> str:
    """ "model gpt-5 on openai: $52.10 on 2026-11-18 against a usual $5.20 (10.0x); $1,450
    more by month end if it continues"."""
    what = describe(event.key)
    when = (
        event.at.strftime("%Y-%m-%d")
        if cadence == "daily"
        else event.at.strftime("%Y-%m-%d %H:00 UTC")
    )
    if event.action is EventAction.RESOLVE:
        cause = "the data was restated" if event.reason == "restated" else "back to usual"
        return f"{what}: resolved, {cause} (excess so far {format_usd(event.impact_so_far)})"
    usual = "nothing" if event.expected == 0 else f"a usual {format_usd(event.expected)}"
    ratio = "" if event.expected == 0 else f" ({event.raw_ratio:.1f}x)"
    new = "new spend: " if event.kind.value == AlertKind.NEW_SPEND.value else ""
    head = f"{what}: {new}{format_usd(event.observed)} {_in(cadence)} {when} against {usual}{ratio}"
    if event.projected_impact > 0:
        head += f"; {format_usd(event.projected_impact)} more by month end if it continues"
    if event.context:
        head += f" (explains the rise in {', '.join(describe(k) for k in event.context)})"
    return head


def _in(cadence: str) -> str:
    return "on" if cadence == "daily" else "in the hour of"


def _why(connection: Connection, cadence: str, event: DetectorEvent) -> str:
    """What drove the change: the bucket against the same bucket a week earlier, split by
    the dimensions under the series, with volume, price and mix where tokens are known."""
    level = level_of(event.key)
    dims = level.explained_by
    filters = filters_of(event.key)
    week = timedelta(days=7)
    if cadence == "daily":
        day = event.at.date()
        now_rows = _day_costs(connection, day, dims, filters)
        then_rows = _day_costs(connection, day - week, dims, filters)
    else:  # only hourly levels have hourly incidents, and their dimensions are kept hourly
        now_rows = _hour_costs(connection, event.at, dims, filters)
        then_rows = _hour_costs(connection, event.at - week, dims, filters)
    explanation = explain_change(then_rows, now_rows, dims)
    drivers = top_drivers(explanation, limit=2)
    if not drivers:
        return ""
    return "Against the same time last week: " + "; ".join(d.sentence for d in drivers)


def _day_costs(
    connection: Connection, day: date, dims: tuple[Dimension, ...], filters: tuple[Filter, ...]
) -> dict[tuple[str, ...], Measured]:
    query = SpendQuery(DateRange(day, day + timedelta(days=1)), dims, filters)
    return measured_rows(queries.spend(connection, query).rows, VolumeMeasure.TOKENS)


def _hour_costs(
    connection: Connection,
    hour: datetime,
    dims: tuple[Dimension, ...],
    filters: tuple[Filter, ...],
) -> dict[tuple[str, ...], Measured]:
    day = hour.date()
    query = SpendQuery(DateRange(day, day + timedelta(days=1)), dims, filters)
    found = queries.hourly_series(connection, query)
    return {k: Measured(v[hour]) for k, v in found.items() if hour in v}


# --- budgets and forecasts -----------------------------------------------------------------


def _budgets(
    connection: Connection, team_file: TeamFile, now: datetime, run: _Run
) -> list[Condition]:
    """Each budget's forecast and thresholds: a condition for the thresholds reached this
    month and one for a projected overrun (after two evaluations in a row)."""
    states = load_budget_states(connection)
    intervals = calibrated_intervals(connection, now.date()) if team_file.budgets else None
    month = now.date().replace(day=1)
    period = DateRange(month - timedelta(days=70), now.date() + timedelta(days=1))
    found: list[Condition] = []
    for budget in team_file.budgets:
        scope = describe_budget(budget)
        daily = queries.daily_series(connection, SpendQuery(period, (), budget_filters(budget)))
        assert intervals is not None
        forecast = forecast_month(daily.get((), {}), now, intervals=intervals)
        status = evaluate_budget(budget, forecast, states.get(scope))
        run.budget_states[scope] = status.state
        run.budgets.append(status)
        team = (
            budget.value
            if budget.dimension is not None and budget.dimension.value == "team"
            else ""
        )
        found += budget_conditions(status, scope, month, team)
    return found


def budget_conditions(status: BudgetStatus, scope: str, month: date, team: str) -> list[Condition]:
    """The conditions one budget evaluation raises. Summaries stay the same while nothing
    new happens (the changing figures are in `why`), so a run does not re-post them."""
    budget, forecast = status.budget, status.forecast
    figures = (
        f"{format_usd(forecast.mtd)} spent so far; month-end forecast "
        f"{format_usd(forecast.point)} ({format_usd(forecast.low)} to "
        f"{format_usd(forecast.high)}), run rate {format_usd(forecast.run_rate)} a day"
    )
    conditions: list[Condition] = []
    reached = sorted(status.state.announced)
    if reached:
        top = reached[-1]
        conditions.append(
            Condition(
                AlertKind.BUDGET,
                (scope, month.isoformat()),
                _threshold_severity(top),
                f"{scope} passed {top}% of its {format_usd(budget.monthly)} monthly budget",
                figures,
                forecast.mtd,
                team,
            )
        )
    if status.alert is not BudgetAlert.NONE:
        critical = status.alert is BudgetAlert.CRITICAL
        over = max(forecast.point - budget.monthly, Decimal(0))
        conditions.append(
            Condition(
                AlertKind.FORECAST_OVERRUN,
                (scope, month.isoformat()),
                Severity.CRITICAL if critical else Severity.WARNING,
                f"{scope} is projected to exceed its {format_usd(budget.monthly)} budget "
                "this month",
                f"{figures}; {format_usd(over)} over at this pace",
                over,
                team,
            )
        )
    return conditions


def _threshold_severity(percent: int) -> Severity:
    if percent >= 100:
        return Severity.CRITICAL
    return Severity.WARNING if percent >= 80 else Severity.INFO


# --- conditions ----------------------------------------------------------------------------


def reconcile_conditions(
    conditions: Sequence[Condition], open_now: Sequence[IncidentView], now: datetime
) -> list[Change]:
    """Open what is new, escalate what got more severe, update what changed, resolve what
    cleared. Detector incidents are not touched here."""
    current = {(c.kind.value, c.key): c for c in conditions}
    existing = {(v.kind, v.key): v for v in open_now if v.cadence == "" and v.kind not in DETECTED}
    changes: list[Change] = []
    for identity, condition in current.items():
        seen = existing.get(identity)
        if seen is None:
            changes.append(_condition_change(condition, now, "open"))
        elif _RANK[condition.severity] > _RANK[Severity(seen.severity)]:
            changes.append(_condition_change(condition, seen.opened_at, "escalate"))
        elif condition.summary != seen.summary or condition.severity.value != seen.severity:
            changes.append(_condition_change(condition, seen.opened_at, "update"))
    for identity, seen in existing.items():
        if identity not in current:
            changes.append(
                Change(
                    kind=seen.kind,
                    cadence="",
                    key=seen.key,
                    opened_at=seen.opened_at,
                    action="resolve",
                    severity=seen.severity,
                    summary=f"cleared: {seen.summary}",
                    reason="cleared",
                )
            )
    return changes


def _condition_change(condition: Condition, opened_at: datetime, action: str) -> Change:
    return Change(
        kind=condition.kind.value,
        cadence="",
        key=condition.key,
        opened_at=opened_at,
        action=action,
        severity=condition.severity.value,
        summary=condition.summary,
        why=condition.why,
        team=condition.team,
        projected_impact=condition.amount,
    )
