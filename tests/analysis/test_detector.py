from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from bot.analysis.detector import (
    DEFAULT_CONFIG,
    DetectorEvent,
    Evaluation,
    EventAction,
    FeedbackKind,
    IncidentKind,
    SeriesState,
    Severity,
    evaluate,
    fold_hierarchy,
)
from bot.analysis.series import SeriesBatch, SeriesKey, combine, parents_of
from bot.store.incidents import state_from_json, state_to_json
from tests.analysis.corpus import diurnal_shares, generate_corpus
from tests.analysis.score import score_corpus

START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
HISTORY_DAYS = 35
Floats = NDArray[np.float64]


def _batch(
    values: Floats,
    *,
    hours: int = 24,
    keys: Sequence[SeriesKey] = (("total",),),
    complete: int | None = None,
) -> SeriesBatch:
    rows = np.atleast_2d(np.asarray(values, dtype=np.float64))
    through = np.full(rows.shape[0], rows.shape[1] if complete is None else complete)
    return SeriesBatch(tuple(keys), START, hours, rows, through.astype(np.int64))


def _noisy(level: float, buckets: int, sigma: float = 0.1, seed: int = 0) -> Floats:
    rng = np.random.default_rng(seed)
    noisy: Floats = level * np.exp(rng.normal(0.0, sigma, buckets))
    return noisy


def _run(
    batch: SeriesBatch,
    states: Mapping[SeriesKey, SeriesState] | None = None,
    now: datetime | None = None,
) -> Evaluation:
    end = now or batch.bucket_start(batch.n_buckets)
    return evaluate(batch, states or {}, end)


def _actions(events: Iterable[DetectorEvent], action: EventAction) -> list[DetectorEvent]:
    return [e for e in events if e.action is action]


def _day(index: int) -> datetime:
    return START + timedelta(days=index)


# ---- §6 scenarios -----------------------------------------------------------------------


@pytest.mark.parametrize("noise", [0.05, 0.3])
def test_detect_daily_jump_5_to_50_fires_on_the_first_50_day(noise: float) -> None:
    values = np.concatenate([_noisy(5, HISTORY_DAYS, noise), _noisy(50, 5, noise, seed=1)])
    opens = _actions(_run(_batch(values)).events, EventAction.OPEN)
    assert [e.at for e in opens] == [_day(HISTORY_DAYS)]
    assert opens[0].kind is IncidentKind.SPIKE
    assert opens[0].expected < Decimal(8) < Decimal(30) < opens[0].observed


def test_detect_hourly_jump_fires_within_the_first_hour_once() -> None:
    hours = (HISTORY_DAYS + 7) * 24
    jump = HISTORY_DAYS * 24 + 10  # 10:00 UTC
    daily = np.where(np.arange(hours) < jump, 5.0, 50.0)
    values = daily * np.tile(diurnal_shares(24), HISTORY_DAYS + 7) * _noisy(1, hours, 0.1)
    events = _run(_batch(values, hours=1)).events
    opens = _actions(events, EventAction.OPEN)
    assert [e.at for e in opens] == [START + timedelta(hours=jump)]
    assert len(_actions(events, EventAction.ESCALATE)) <= 1


def test_detect_step_below_z4_opens_on_its_second_day() -> None:
    values = np.concatenate([_noisy(100, HISTORY_DAYS), _noisy(150, 6, 0.02, seed=1)])
    events = _run(_batch(values)).events
    assert [e.at for e in _actions(events, EventAction.OPEN)] == [_day(HISTORY_DAYS + 1)]
    assert 3 <= _actions(events, EventAction.OPEN)[0].z < 4


def test_detect_ignores_a_jump_below_the_dollar_floor() -> None:
    values = np.concatenate([_noisy(0.5, HISTORY_DAYS), _noisy(5, 10, seed=1)])
    assert _run(_batch(values)).events == ()


def test_detect_launch_times_three_alerts_once_then_adapts() -> None:
    values = np.concatenate([_noisy(100, HISTORY_DAYS), [200], _noisy(300, 40, seed=1)])
    events = _run(_batch(values)).events
    assert len(_actions(events, EventAction.OPEN)) == 1
    assert len(_actions(events, EventAction.RESOLVE)) == 1  # the new level became normal


def test_detect_sporadic_feature_alerts_at_most_once_after_warmup() -> None:
    rng = np.random.default_rng(3)
    active = rng.random(150) < 0.3
    values = np.where(active, 40 * np.exp(rng.normal(0, 0.5, 150)), 0.0)
    assert len(_actions(_run(_batch(values)).events, EventAction.OPEN)) <= 1


def test_detect_outage_recovery_is_not_an_alert() -> None:
    values = _noisy(100, 60)
    values[40:43] = 0.0
    assert _run(_batch(values)).events == ()


def test_detect_partial_and_lagged_buckets_never_alert_on_the_drop() -> None:
    values = _noisy(100, 45)
    values[-2:] *= 0.7  # provider lag
    values[-1] *= 0.1  # partial current day
    evaluation = _run(_batch(values, complete=43))
    assert evaluation.events == ()
    assert evaluation.states[("total",)].evaluated_through == _day(42)


def test_detect_partial_bucket_already_ten_times_normal_fires_early() -> None:
    values = np.concatenate([_noisy(20, HISTORY_DAYS), [150.0]])  # partial, still 7x
    opens = _actions(_run(_batch(values, complete=HISTORY_DAYS)).events, EventAction.OPEN)
    assert [(e.at, e.complete) for e in opens] == [(_day(HISTORY_DAYS), False)]


def test_detect_holiday_dip_and_credit_line_do_not_alert() -> None:
    values = _noisy(100, 60)
    values[40] = 15.0  # holiday
    values[45] = -250.0  # a credit line nets the day below zero
    assert _run(_batch(values)).events == ()


def test_detect_new_spend_on_a_dormant_series() -> None:
    values = np.concatenate([np.zeros(30), _noisy(12, 5, 0.01)])
    opens = _actions(_run(_batch(values)).events, EventAction.OPEN)
    assert [(e.at, e.kind, e.impact_pct) for e in opens] == [
        (_day(30), IncidentKind.NEW_SPEND, None)
    ]
    assert opens[0].severity is Severity.WARNING


def test_detect_first_of_month_reset_recurs_quietly() -> None:
    days = 100
    values = _noisy(50, days)
    fee_days = [i for i in range(days) if _day(i).day == 1]
    values[fee_days] += 600  # a monthly platform fee on the 1st
    opens = _actions(_run(_batch(values)).events, EventAction.OPEN)
    assert [e.at for e in opens] == [_day(fee_days[0])]  # the first one is news; not after


# ---- lifecycle ----------------------------------------------------------------------------


def test_lifecycle_holdoff_reopens_only_on_a_doubling() -> None:
    values = _noisy(50, 60)
    values[[35, 38]] = 1000.0  # 20x, closes after 36-37, back within the holdoff
    values[50] = 1000.0  # after the holdoff: a new incident
    values[39] = 3000.0  # the held incident doubles: announce
    opens = _actions(_run(_batch(values)).events, EventAction.OPEN)
    assert [e.at for e in opens] == [_day(35), _day(39), _day(50)]


def test_lifecycle_escalates_only_when_the_ratio_doubles() -> None:
    values = np.concatenate([_noisy(50, HISTORY_DAYS), [500, 700, 1200, 2500, 2600]])
    events = _run(_batch(values)).events
    assert [e.at for e in _actions(events, EventAction.ESCALATE)] == [_day(37), _day(38)]
    assert _actions(events, EventAction.OPEN)[0].severity is Severity.CRITICAL


def _on_off(cycles: int) -> Floats:
    """A planned batch job: three days at 4x, then four days of normal, repeatedly."""
    values = [_noisy(100, HISTORY_DAYS)]
    for cycle in range(cycles):
        values += [_noisy(400, 3, seed=cycle + 1), _noisy(100, 4, seed=cycle + 50)]
    return np.concatenate(values)


def _run_day_by_day(
    values: Floats, start_day: int, feedback: FeedbackKind | None = None
) -> list[DetectorEvent]:
    """Evaluate once a day as the bot would, keeping state; feedback on the first alert."""
    batch = _batch(values)
    states: dict[SeriesKey, SeriesState] = {}
    events: list[DetectorEvent] = []
    for day in range(start_day, len(values) + 1):
        evaluation = _run(batch, states, now=_day(day))
        events += evaluation.events
        states = evaluation.states
        if feedback and _actions(evaluation.events, EventAction.OPEN):
            key = ("total",)
            states[key] = states[key].with_feedback(feedback, _day(day))
            feedback = None
    return events


def test_feedback_expected_stops_repeat_alerts_at_that_level() -> None:
    values = _on_off(5)
    without = _run_day_by_day(values, HISTORY_DAYS)
    with_feedback = _run_day_by_day(values, HISTORY_DAYS, FeedbackKind.EXPECTED)
    assert len(_actions(without, EventAction.OPEN)) >= 3
    assert len(_actions(with_feedback, EventAction.OPEN)) == 1


def test_feedback_expected_still_alerts_well_above_the_accepted_level() -> None:
    values = _on_off(3)
    values[-3] = 4000.0  # 10x the accepted level
    events = _run_day_by_day(values, HISTORY_DAYS, FeedbackKind.EXPECTED)
    assert [e.at for e in _actions(events, EventAction.OPEN)][-1] == _day(len(values) - 3)


def test_feedback_not_anomaly_silences_the_rest_of_the_episode() -> None:
    values = np.concatenate([_noisy(50, HISTORY_DAYS), [500, 1200, 3000, 50, 50, 50]])
    loud = _run_day_by_day(values, HISTORY_DAYS)
    quiet = _run_day_by_day(values, HISTORY_DAYS, FeedbackKind.NOT_ANOMALY)
    assert len(_actions(loud, EventAction.ESCALATE)) == 2
    assert _actions(quiet, EventAction.ESCALATE) == []
    assert len(_actions(quiet, EventAction.RESOLVE)) == 1


def test_incremental_runs_report_what_one_run_reports() -> None:
    values = _on_off(4)
    values[60] = 5000.0
    once = [(e.action, e.at) for e in _run(_batch(values)).events]
    daily = [(e.action, e.at) for e in _run_day_by_day(values, 30)]
    assert daily == once


def _persisted(states: Mapping[SeriesKey, SeriesState]) -> dict[SeriesKey, SeriesState]:
    """States as the detect job keeps them: through JSON and back."""
    return {
        key: state_from_json(json.loads(json.dumps(state_to_json(state))))
        for key, state in states.items()
    }


def _without_checkpoints(states: Mapping[SeriesKey, SeriesState]) -> dict[SeriesKey, SeriesState]:
    return {key: replace(state, checkpoint=None) for key, state in states.items()}


def _resume_runs(batch: SeriesBatch, nows: Sequence[datetime], seed: int) -> list[DetectorEvent]:
    """Run at each `now` from the previous run's persisted states, with feedback on the first
    alert of each series and data restated within the window now and then; every run must
    report, and keep, exactly what a full replay from the batch start does."""
    rng = np.random.default_rng(seed)
    values = np.array(batch.values)
    states: dict[SeriesKey, SeriesState] = {}
    told: set[SeriesKey] = set()
    events: list[DetectorEvent] = []
    for run, now in enumerate(nows):
        if run % 4 == 3:  # restate the last complete bucket(s) of some series, up or down
            last = np.minimum(batch.complete_through, batch.index_of(now)) - 1
            for row in rng.choice(batch.n_series, size=max(1, batch.n_series // 3), replace=False):
                values[row, last[row] - rng.integers(0, 2)] *= rng.choice([0.2, 6.0])
            batch = SeriesBatch(
                batch.keys, batch.start, batch.bucket_hours, values, batch.complete_through
            )
        resumed = evaluate(batch, states, now)
        replayed = evaluate(batch, _without_checkpoints(states), now)
        assert resumed.events == replayed.events
        assert resumed.states == replayed.states  # checkpoints too: the same replay state
        events += resumed.events
        states = _persisted(resumed.states)
        for event in _actions(resumed.events, EventAction.OPEN):
            state = states[event.key]
            if event.key not in told and state.incident is not None:
                kind = FeedbackKind.EXPECTED if len(told) % 2 else FeedbackKind.NOT_ANOMALY
                states[event.key] = state.with_feedback(kind, now)
                told.add(event.key)
    assert all(state.checkpoint is not None for state in states.values())
    # a resumed run reads the batch from its checkpoint's windows on, not from the start
    first_read = (
        int(np.min(batch.complete_through)) - 2 * batch.buckets_per_day - 28 * batch.buckets_per_day
    )
    scrambled = np.array(values)
    scrambled[:, : first_read - 1] = rng.uniform(0, 1e4, (batch.n_series, first_read - 1))
    again = SeriesBatch(
        batch.keys, batch.start, batch.bucket_hours, scrambled, batch.complete_through
    )
    assert evaluate(again, states, nows[-1]) == evaluate(batch, states, nows[-1])
    return events


def test_resumed_daily_runs_report_and_keep_what_a_full_replay_does() -> None:
    corpus = generate_corpus(7, n_daily=12, n_hourly=0)
    daily = corpus.batch(24)  # incidents, and series whose data ends on different days
    cadence = np.cumsum(np.tile([1, 3, 4], 40))  # daily runs, some days missed
    days = [daily.bucket_start(30 + int(d)) for d in cadence if 30 + d <= daily.n_buckets]
    events = _resume_runs(daily, days, seed=1)
    assert {EventAction.OPEN, EventAction.UPDATE, EventAction.RESOLVE} <= {e.action for e in events}
    assert any(e.reason == "restated" for e in events)


def test_resumed_hourly_runs_report_and_keep_what_a_full_replay_does() -> None:
    full = generate_corpus(7, n_daily=0, n_hourly=2).batch(1)
    span = 40 * 24
    hourly = SeriesBatch(
        full.keys, full.start, 1, full.values[:, :span], np.minimum(full.complete_through, span)
    )
    hours = [hourly.bucket_start(h) for h in range(span - 65, span + 1, 13)]
    assert _resume_runs(hourly, hours, seed=2)


def test_resumed_runs_on_a_sliding_batch_report_what_one_long_batch_does() -> None:
    full = generate_corpus(7, n_daily=12, n_hourly=0).batch(24)

    def days(first: int, end: int) -> SeriesBatch:
        through = np.clip(full.complete_through - first, 0, end - first)
        return SeriesBatch(
            full.keys, full.bucket_start(first), 24, full.values[:, first:end], through
        )

    def runs(first_of: Callable[[int], int]) -> list[DetectorEvent]:
        states: dict[SeriesKey, SeriesState] = {}
        events: list[DetectorEvent] = []
        for end in range(60, full.n_buckets + 1, 3):
            batch = days(first_of(end), end)
            evaluation = evaluate(batch, states, batch.bucket_start(batch.n_buckets))
            events += evaluation.events
            states = _persisted(evaluation.states)
        return events

    sliding = runs(lambda end: max(0, end - 90))  # as the detect job reads: the last 90 days
    assert sliding == runs(lambda end: 0)
    assert _actions(sliding, EventAction.OPEN)


def test_a_checkpoint_made_under_other_floors_or_thresholds_is_not_resumed_from() -> None:
    batch = generate_corpus(7, n_daily=12, n_hourly=0).batch(24)
    day = batch.bucket_start(110)
    states = evaluate(batch, {}, day).states
    later = day + timedelta(days=1)
    floors = np.full(batch.n_series, 10.0)
    floors[::2] = 1e4  # half the series got a (much) higher team floor
    stricter = replace(DEFAULT_CONFIG, z_open=3.5)
    for config, run_floors in ((DEFAULT_CONFIG, floors), (stricter, None)):
        resumed = evaluate(batch, states, later, config, floors=run_floors)
        replayed = evaluate(batch, _without_checkpoints(states), later, config, floors=run_floors)
        assert resumed == replayed


def test_restated_down_resolves_the_alert_as_restated() -> None:
    values = _noisy(100, 40)
    values[38] = 2000.0
    first = _run(_batch(values[:39]))
    assert len(_actions(first.events, EventAction.OPEN)) == 1
    values[38] = 100.0  # the provider restated the day
    second = _run(_batch(values), first.states)
    resolves = _actions(second.events, EventAction.RESOLVE)
    assert [(e.incident_opened_at, e.reason) for e in resolves] == [(_day(38), "restated")]


def test_restated_up_reports_the_alert_late() -> None:
    values = _noisy(100, 40)
    first = _run(_batch(values[:39]))
    assert first.events == ()
    values[38] = 2000.0  # a day revised upward a day later
    second = _run(_batch(values), first.states)
    assert [e.at for e in _actions(second.events, EventAction.OPEN)] == [_day(38)]


def test_impact_figures_follow_the_incident() -> None:
    values = np.concatenate([_noisy(100, HISTORY_DAYS, 0.01), [600, 600]])
    events = _run(_batch(values)).events
    update = _actions(events, EventAction.UPDATE)[0]
    assert Decimal(990) < update.impact_so_far < Decimal(1010)
    assert update.impact_pct == pytest.approx(500, rel=0.05)
    days_left = 31 - _day(HISTORY_DAYS + 1).day + 1  # April 5 through 30
    assert float(update.projected_impact) == pytest.approx(500 * days_left, rel=0.05)


def test_impact_figures_of_old_events_are_those_of_their_day() -> None:
    values = _noisy(100, 120, 0.01)
    values[[HISTORY_DAYS, HISTORY_DAYS + 1]] = 600  # months before the batch ends
    update = _actions(_run(_batch(values)).events, EventAction.UPDATE)[0]
    days_left = 31 - _day(HISTORY_DAYS + 1).day + 1  # April 5 through 30
    assert float(update.projected_impact) == pytest.approx(500 * days_left, rel=0.05)
    assert update.severity is Severity.CRITICAL


def test_severity_tiers_use_the_budget_when_given() -> None:
    values = np.concatenate([_noisy(20, HISTORY_DAYS, 0.01), [35.0]])  # $15/day over
    batch, now = _batch(values), _day(HISTORY_DAYS + 1)
    plain = _actions(evaluate(batch, {}, now).events, EventAction.OPEN)
    small_budget: dict[SeriesKey, Decimal] = {("total",): Decimal(1500)}  # $15 x 24 = 24%
    tight = _actions(evaluate(batch, {}, now, budgets=small_budget).events, EventAction.OPEN)
    assert float(plain[0].projected_impact) == pytest.approx(15 * 24, rel=0.05)
    assert plain[0].severity is Severity.WARNING
    assert tight[0].severity is Severity.CRITICAL


def test_budget_raises_the_dollar_floor() -> None:
    values = np.concatenate([_noisy(100, HISTORY_DAYS, 0.01), [170.0]])
    batch, now = _batch(values), _day(HISTORY_DAYS + 1)
    big_budget: dict[SeriesKey, Decimal] = {("total",): Decimal(1_000_000)}  # floor $166.67
    assert len(_actions(evaluate(batch, {}, now).events, EventAction.OPEN)) == 1
    assert evaluate(batch, {}, now, budgets=big_budget).events == ()


# ---- hierarchy ----------------------------------------------------------------------------


def _price_change_fleet() -> tuple[SeriesBatch, int]:
    """total > provider > model > feature; one model's price triples on one date."""
    days, change = 60, 45
    features: dict[SeriesKey, Floats] = {
        ("feature", "openai", "gpt-5", name): _noisy(level, days, seed=i)
        for i, (name, level) in enumerate([("chat", 300), ("search", 250), ("agent", 200)])
    }
    for series in features.values():
        series[change:] *= 3
    models: dict[SeriesKey, Floats] = {
        ("model", "openai", "gpt-5"): np.sum(list(features.values()), axis=0),
        ("model", "openai", "gpt-4o"): _noisy(80, days, seed=7),
        ("model", "anthropic", "claude"): _noisy(400, days, seed=8),
    }
    providers: dict[SeriesKey, Floats] = {
        ("provider", "openai"): models[("model", "openai", "gpt-5")]
        + models[("model", "openai", "gpt-4o")],
        ("provider", "anthropic"): models[("model", "anthropic", "claude")],
    }
    everything: dict[SeriesKey, Floats] = {("total",): np.sum(list(providers.values()), axis=0)}
    everything |= providers | models | features
    return _batch(np.stack(list(everything.values())), keys=list(everything)), change


def test_fold_hierarchy_reports_a_correlated_step_once_at_its_root_cause() -> None:
    batch, change = _price_change_fleet()
    events = _run(batch).events
    opens = _actions(events, EventAction.OPEN)
    assert len(opens) == 6  # total, provider, model and its three features
    folding = fold_hierarchy(events, parents_of(batch.keys))
    reported = _actions(folding.events, EventAction.OPEN)
    assert [(e.key, e.at) for e in reported] == [(("model", "openai", "gpt-5"), _day(change))]
    assert reported[0].context == (("total",), ("provider", "openai"))
    assert len(reported[0].contributors) == 3
    assert {f.reported_at for f in folding.folded} == {("model", "openai", "gpt-5")}
    assert all(e.key == ("model", "openai", "gpt-5") for e in folding.events)


def test_fold_hierarchy_keeps_a_parent_no_child_explains() -> None:
    def opened(key: SeriesKey, excess: int) -> DetectorEvent:
        return DetectorEvent(
            key=key,
            action=EventAction.OPEN,
            at=START,
            incident_opened_at=START,
            kind=IncidentKind.SPIKE,
            observed=Decimal(excess),
            expected=Decimal(0),
            excess=Decimal(excess),
            ratio=5.0,
            raw_ratio=5.0,
            z=9.0,
            peak_ratio=5.0,
            impact_so_far=Decimal(excess),
            impact_pct=None,
            projected_impact=Decimal(0),
            severity=Severity.INFO,
        )

    parent, left, right = ("provider", "x"), ("model", "x", "a"), ("model", "x", "b")
    events = [opened(parent, 100), opened(left, 50), opened(right, 40)]
    folding = fold_hierarchy(events, parents_of([parent, left, right]))
    assert [e.key for e in folding.events] == [parent]
    assert folding.events[0].contributors == (left, right)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.one_of(st.just(0.0), st.floats(-50, 0), st.floats(0, 1e6)), min_size=1, max_size=60
    ),
    st.integers(1, 60),
)
def test_evaluate_any_series_without_warnings_and_opens_clear_the_floor(
    values: list[float], complete: int
) -> None:
    series = np.array(values)
    evaluation = _run(_batch(series, complete=min(complete, series.size)))
    for event in _actions(evaluation.events, EventAction.OPEN):
        assert event.excess >= Decimal("9.99")
    assert set(evaluation.states) == {("total",)}


# ---- series batch ---------------------------------------------------------------------------


def test_series_batch_from_series_fills_gaps_and_prefixes_keys() -> None:
    series: dict[SeriesKey, dict[date, Decimal]] = {
        ("openai",): {date(2025, 3, 3): Decimal("1.50"), date(2025, 3, 5): Decimal("2")},
        ("anthropic",): {date(2025, 3, 4): Decimal("3")},
    }
    batch = SeriesBatch.from_series(
        series,
        level="provider",
        start=date(2025, 3, 3),
        end=date(2025, 3, 6),
        complete_before={("openai",): datetime(2025, 3, 5, tzinfo=UTC)},
    )
    assert batch.keys == (("provider", "anthropic"), ("provider", "openai"))
    assert batch.values.tolist() == [[0, 3, 0], [1.5, 0, 2]]
    assert batch.complete_through.tolist() == [3, 2]
    assert batch.cost(("provider", "openai"), 0) == Decimal("1.50")


def test_series_batch_rejects_naive_times_and_off_axis_buckets() -> None:
    naive: dict[SeriesKey, dict[datetime, Decimal]] = {
        ("x",): {datetime(2025, 3, 3, 1): Decimal(1)}  # noqa: DTZ001 - the point
    }
    aware: dict[SeriesKey, dict[datetime, Decimal]] = {
        ("x",): {datetime(2025, 3, 3, 1, 30, tzinfo=UTC): Decimal(1)}
    }
    end = START + timedelta(hours=3)
    with pytest.raises(ValueError, match="aware UTC"):
        SeriesBatch.from_series(naive, level="x", start=START, end=end, bucket_hours=1)
    with pytest.raises(ValueError, match="not on the batch's axis"):
        SeriesBatch.from_series(aware, level="x", start=START, end=end, bucket_hours=1)


def test_combine_and_parents_of_build_the_hierarchy() -> None:
    def empty(key: SeriesKey, level: str) -> SeriesBatch:
        nothing: dict[SeriesKey, dict[date, Decimal]] = {key: {}}
        return SeriesBatch.from_series(
            nothing, level=level, start=date(2025, 3, 3), end=date(2025, 3, 4)
        )

    total, providers = empty((), "total"), empty(("openai",), "provider")
    batch = combine([total, providers, empty(("openai", "gpt-5"), "model")])
    assert parents_of(batch.keys) == {
        ("provider", "openai"): ("total",),
        ("model", "openai", "gpt-5"): ("provider", "openai"),
    }


def test_evaluate_state_round_trip_keeps_the_open_incident() -> None:
    values = np.concatenate([_noisy(50, HISTORY_DAYS), [900, 900]])
    state = _run(_batch(values)).states[("total",)]
    assert state.incident is not None
    assert state.incident.opened_at == _day(HISTORY_DAYS)
    assert state.incident.announced
    assert isinstance(state, SeriesState)


# ---- corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "floors"),
    [
        (7, {"daily": 0.75, "hourly": 0.75, "combined": 0.75}),  # the tuning seed: 0.78 each
        # held out, never tuned on; measured daily 0.79, hourly 0.50 (13 windows), all 0.74
        (11, {"daily": 0.75, "hourly": 0.45, "combined": 0.70}),
    ],
)
def test_corpus_f1_stays_above_its_floor(seed: int, floors: dict[str, float]) -> None:
    scores = score_corpus(generate_corpus(seed))
    measured = {name: round(scores[name].f1, 3) for name in floors}
    assert {name: f1 for name, f1 in measured.items() if f1 < floors[name]} == {}
