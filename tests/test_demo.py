from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from bot.demo import run_demo
from bot.domain import DateRange, Dimension, Origin, SpendQuery
from bot.store.db import make_engine
from bot.store.queries import spend
from bot.synthetic import ActivitySpec, generate_cost_lines

NOW = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


def test_demo_loads_and_reports_spend_by_provider_model_team_and_feature(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/demo.db"
    assert run_demo(url, days=14, events_per_day=400, seed=3, now=NOW, replay_days=0) == 0
    out = capsys.readouterr().out
    for heading in ("provider", "model", "team", "feature", "What moved most", "no known price"):
        assert heading in out
    assert "(replaced, not added)" in out

    engine = make_engine(url)
    spec = ActivitySpec(end=NOW.date(), days=14, events_per_day=400, seed=3)
    billed = sum(
        (
            line.cost
            for line in generate_cost_lines(spec, revision=1)
            if line.cost is not None and line.provider != "deepseek"  # DeepSeek has no cost API
        ),
        Decimal(0),
    )
    with engine.connect() as connection:
        stored = spend(
            connection, SpendQuery(DateRange(spec.start, spec.end), origin=Origin.BILLED)
        )
        teams = spend(connection, SpendQuery(DateRange(spec.start, spec.end), (Dimension.TEAM,)))
    assert stored.total == billed  # the restatement replaced, exactly
    assert "deepseek.balance" in out
    assert "openrouter.credits" in out
    assert {r.keys[0] for r in teams.rows} >= {"growth", "platform", "support"}


def test_demo_runs_twice_on_the_same_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/again.db"
    assert run_demo(url, days=14, events_per_day=100, seed=1, now=NOW, replay_days=0) == 0
    first = capsys.readouterr().out
    assert run_demo(url, days=14, events_per_day=100, seed=1, now=NOW, replay_days=0) == 0
    second = capsys.readouterr().out
    assert _reports(first) == _reports(second)


def _reports(out: str) -> str:
    return out[out.index("AI spend") :]


def test_demo_today_has_estimates_not_billed(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/today.db"
    run_demo(url, days=14, events_per_day=200, seed=5, now=NOW, replay_days=0)
    capsys.readouterr()
    today = DateRange(NOW.date(), NOW.date() + timedelta(days=1))
    engine = make_engine(url)
    with engine.connect() as connection:
        billed = spend(connection, SpendQuery(today, origin=Origin.BILLED)).total
        estimated = spend(connection, SpendQuery(today, origin=Origin.ESTIMATED)).total
    assert billed == 0
    assert estimated > 0
    assert date(2026, 11, 22) == NOW.date()


def test_demo_detector_catches_the_planted_runaway_while_it_runs(tmp_path, capsys):
    from bot.store.incidents import incidents_since
    from bot.synthetic import scenario

    url = f"sqlite:///{tmp_path}/detect.db"
    spec = ActivitySpec(end=NOW.date(), days=35, events_per_day=300, seed=7)
    plan = scenario(spec)
    back = (NOW.date() - plan.runaway_day).days
    assert run_demo(url, days=35, events_per_day=300, seed=7, now=NOW, replay_days=back) == 0
    out = capsys.readouterr().out
    assert "What the detector raised" in out
    assert "Month-end forecast" in out
    first_hour = datetime.combine(plan.runaway_day, time(plan.runaway_hours[0]), UTC)
    last_hour = datetime.combine(plan.runaway_day, time(plan.runaway_hours[1] - 1), UTC)
    engine = make_engine(url)
    with engine.connect() as connection:
        caught = incidents_since(connection, first_hour - timedelta(days=1))
    engine.dispose()
    runaway = [
        i for i in caught if i.cadence == "hourly" and f"feature:{plan.runaway_feature}" in i.key
    ]
    assert len(runaway) == 1  # one incident for the episode, not one per hour
    assert first_hour <= runaway[0].opened_at <= last_hour  # caught while it ran, by the hour
