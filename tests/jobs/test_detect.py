"""The detect job over a real store: spikes become incidents with their why, reruns add
nothing, feedback quiets a series, budgets and other conditions open and resolve."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from bot.analysis.alerts import AlertKind, Condition
from bot.analysis.detector import FeedbackKind, Severity
from bot.clock import FixedClock
from bot.config import AttributionConfig, BudgetConfig, TeamConfig, TeamFile
from bot.jobs.detect import DetectContext, DetectReport, reconcile_conditions, run_detection
from bot.store.attribution import Attribution
from bot.store.incidents import give_feedback, incident_events, open_incidents
from tests.builders import event, line, write_events, write_lines

FIRST = date(2026, 8, 1)
JUMP = date(2026, 10, 14)
MODEL_KEY = ("model", "provider:openai", "model:gpt-5")
TEAMS = TeamFile(
    teams=(TeamConfig(id="growth"),),
    attribution=(AttributionConfig(project="proj_a", team="growth"),),
)


def _morning(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 7, tzinfo=UTC)


def _daily_cost(day: date, jump_from: date | None) -> Decimal:
    usual = Decimal(20) + Decimal(day.toordinal() % 5)  # $20-24, no weekly pattern
    return usual * 10 if jump_from is not None and day >= jump_from else usual


def _bill(engine: Engine, last: date, jump_from: date | None = JUMP) -> None:
    days = [FIRST + timedelta(days=n) for n in range((last - FIRST).days + 1)]
    lines = [
        line(
            bucket_start=datetime(d.year, d.month, d.day, tzinfo=UTC),
            project="proj_a",
            cost=_daily_cost(d, jump_from),
            tokens_in=1000,
            tokens_out=100,
        )
        for d in days
    ]
    write_lines(engine, lines, Attribution.from_rules(TEAMS.attribution))


def _run(
    engine: Engine, day: date, team_file: TeamFile = TEAMS, *, dry_run: bool = False
) -> DetectReport:
    context = DetectContext(engine, team_file, FixedClock(_morning(day)))
    return run_detection(context, dry_run=dry_run)


def test_a_tenfold_day_opens_one_incident_at_the_model_with_its_why(engine: Engine) -> None:
    _bill(engine, JUMP)
    report = _run(engine, JUMP + timedelta(days=1))
    opened = [c for c in report.changes if c.action == "open"]
    assert MODEL_KEY in {c.key for c in opened}
    assert ("total",) not in {c.key for c in opened}  # folded into its cause
    assert ("provider", "provider:openai") not in {c.key for c in opened}
    model = next(c for c in opened if c.key == MODEL_KEY)
    assert model.bucket == datetime(2026, 10, 14, tzinfo=UTC)
    assert model.observed == _daily_cost(JUMP, JUMP)
    assert "10.0x" in model.summary or "x)" in model.summary
    assert "team growth" in model.why  # what drove it: the team under the model
    assert report.folded >= 2
    with engine.connect() as connection:
        stored = {i.key for i in open_incidents(connection)}
    assert MODEL_KEY in stored


def test_a_rerun_at_the_same_time_adds_nothing(engine: Engine) -> None:
    _bill(engine, JUMP)
    _run(engine, JUMP + timedelta(days=1))
    again = _run(engine, JUMP + timedelta(days=1))
    assert [c for c in again.changes if c.cadence == "daily"] == []


def test_a_dry_run_records_nothing(engine: Engine) -> None:
    _bill(engine, JUMP)
    report = _run(engine, JUMP + timedelta(days=1), dry_run=True)
    assert any(c.action == "open" for c in report.changes)
    assert not report.written
    with engine.connect() as connection:
        assert open_incidents(connection) == []
    later = _run(engine, JUMP + timedelta(days=1))  # still new: nothing was remembered
    assert any(c.action == "open" for c in later.changes)


def test_a_quiet_month_opens_nothing(engine: Engine) -> None:
    _bill(engine, JUMP, jump_from=None)
    report = _run(engine, JUMP + timedelta(days=1))
    assert [c for c in report.changes if c.cadence] == []


def test_feedback_expected_keeps_the_new_level_quiet(engine: Engine) -> None:
    _bill(engine, JUMP)
    _run(engine, JUMP + timedelta(days=1))
    with engine.begin() as connection:
        incident = next(i for i in open_incidents(connection) if i.key == MODEL_KEY)
        give_feedback(connection, incident.id, FeedbackKind.EXPECTED, "maya", _morning(JUMP))
    _bill(engine, JUMP + timedelta(days=6))  # the new level holds for a week
    said = []
    for n in range(2, 8):
        report = _run(engine, JUMP + timedelta(days=n))
        said += [c for c in report.changes if c.key == MODEL_KEY]
    assert [c.action for c in said if c.action in ("open", "escalate")] == []
    with engine.connect() as connection:
        actions = [a for _, a, _ in incident_events(connection, incident.id)]
    assert actions[:2] == ["open", "feedback"]


def test_a_runaway_hour_opens_an_hourly_incident_at_the_feature(engine: Engine) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(35 * 24)]
    calm = [
        event(n, ts=at, feature="search", team="growth", cost=Decimal("0.40"))
        for n, at in enumerate(hours)
    ]
    runaway_hour = hours[-1] + timedelta(hours=1)
    loop = [
        event(100_000 + n, ts=runaway_hour, feature="search", team="growth", cost=Decimal("0.40"))
        for n in range(60)
    ]
    write_events(engine, calm + loop)
    now = runaway_hour + timedelta(hours=1, minutes=5)
    report = run_detection(DetectContext(engine, TEAMS, FixedClock(now)))
    hourly = [c for c in report.changes if c.cadence == "hourly" and c.action == "open"]
    keys = {c.key for c in hourly}
    assert ("feature", "team:growth", "feature:search") in keys
    feature = next(c for c in hourly if c.key[0] == "feature")
    assert feature.bucket == runaway_hour
    assert feature.observed == Decimal("24.00")


def _budgeted(monthly: int) -> TeamFile:
    budget = BudgetConfig(monthly=Decimal(monthly))
    return TeamFile(teams=TEAMS.teams, attribution=TEAMS.attribution, budgets=(budget,))


def test_a_budget_far_behind_its_pace_is_critical_at_once(engine: Engine) -> None:
    _bill(engine, date(2026, 11, 10), jump_from=None)  # about $22 a day: $660 a month
    report = _run(engine, date(2026, 11, 10), _budgeted(300))
    found = {c.kind: c for c in report.changes}
    assert found["budget"].summary == "all spend passed 50% of its $300.00 monthly budget"
    assert found["forecast_overrun"].severity == "critical"  # even the low end is over


def test_a_projected_overrun_warns_after_two_runs_in_a_row(engine: Engine) -> None:
    _bill(engine, date(2026, 11, 10), jump_from=None)
    first = _run(engine, date(2026, 11, 10), _budgeted(640))
    assert "forecast_overrun" not in {c.kind for c in first.changes}
    second = _run(engine, date(2026, 11, 11), _budgeted(640))
    overrun = [c for c in second.changes if c.kind == "forecast_overrun"]
    assert [(c.action, c.severity) for c in overrun] == [("open", "warning")]
    assert "projected to exceed its $640.00 budget" in overrun[0].summary


def test_conditions_open_escalate_update_and_resolve() -> None:
    now = datetime(2026, 11, 20, 7, tzinfo=UTC)
    stale = Condition(AlertKind.STALE_SOURCE, ("openai.costs",), Severity.WARNING, "behind 1 day")
    first = reconcile_conditions([stale], [], now)
    assert [(c.action, c.kind) for c in first] == [("open", "stale_source")]

    from bot.store.incidents import IncidentView

    seen = IncidentView(
        1,
        "stale_source",
        "",
        ("openai.costs",),
        now,
        "open",
        "warning",
        "behind 1 day",
        "",
        "",
        now,
        None,
        "",
    )
    assert reconcile_conditions([stale], [seen], now) == []  # unchanged: nothing to say
    worse = Condition(AlertKind.STALE_SOURCE, ("openai.costs",), Severity.CRITICAL, "behind 3 days")
    assert [c.action for c in reconcile_conditions([worse], [seen], now)] == ["escalate"]
    moved = Condition(AlertKind.STALE_SOURCE, ("openai.costs",), Severity.WARNING, "behind 2 days")
    assert [c.action for c in reconcile_conditions([moved], [seen], now)] == ["update"]
    cleared = reconcile_conditions([], [seen], now)
    assert [(c.action, c.reason, c.opened_at) for c in cleared] == [("resolve", "cleared", now)]


def test_a_restated_day_updates_its_incident(engine: Engine) -> None:
    _bill(engine, JUMP)
    _run(engine, JUMP + timedelta(days=1))
    restated = _daily_cost(JUMP, JUMP) + Decimal(30)  # the provider revises the day upward
    write_lines(
        engine,
        [
            line(
                bucket_start=datetime(2026, 10, 14, tzinfo=UTC),
                project="proj_a",
                cost=restated,
                tokens_in=1000,
                tokens_out=100,
            )
        ],
        Attribution.from_rules(TEAMS.attribution),
    )
    report = _run(engine, JUMP + timedelta(days=1), dry_run=False)
    said = [c for c in report.changes if c.key == MODEL_KEY]
    assert [c.action for c in said] == ["update"]
    assert said[0].observed == restated
    with engine.connect() as connection:
        incident = next(i for i in open_incidents(connection) if i.key == MODEL_KEY)
    assert f"${restated:,.2f}" in incident.summary
