from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot import demo
from bot.clock import utc_midnight
from bot.demo import CHART_FILE, run_demo
from bot.domain import DateRange, Dimension, Filter, Origin, SpendQuery
from bot.store.db import make_engine
from bot.store.incidents import Change, open_incidents, record
from bot.store.queries import spend
from bot.synthetic import ActivitySpec, generate_cost_lines
from bot.synthetic.azure import azure_total, generate_azure_activity
from bot.synthetic.gcp_export import export_rows

NOW = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


def test_demo_loads_and_reports_spend_by_provider_model_team_and_feature(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/demo.db"
    assert (
        run_demo(url, days=14, events_per_day=400, seed=3, now=NOW, replay_days=0, slack=False) == 0
    )
    out = capsys.readouterr().out
    for heading in ("provider", "model", "team", "feature", "What moved most", "no known price"):
        assert heading in out
    assert "(replaced, not added)" in out

    engine = make_engine(url)
    spec = ActivitySpec(end=NOW.date(), days=14, events_per_day=400, seed=3)
    lines = generate_cost_lines(spec, revision=1)
    synthetic = [
        line
        for line in lines
        if line.cost is not None and line.provider != "deepseek"  # DeepSeek has no cost API
    ]
    billed = sum((line.cost for line in synthetic if line.cost is not None), Decimal(0))
    google_credits = sum(  # Google's export credits: stored as their own negative lines
        (Decimal(repr(c["amount"])) for row in export_rows(lines) for c in row["credits"]),
        Decimal(0),
    )
    azure = azure_total(
        generate_azure_activity(spec, revision=1), utc_midnight(spec.start), utc_midnight(spec.end)
    )
    apis = Filter(Dimension.PROVIDER, tuple({line.provider for line in synthetic} | {"azure"}))
    period = DateRange(spec.start, spec.end)
    with engine.connect() as connection:
        stored = spend(connection, SpendQuery(period, (), (apis,), origin=Origin.BILLED))
        teams = spend(connection, SpendQuery(period, (Dimension.TEAM,)))
        google = spend(connection, SpendQuery(period, (Dimension.PROVIDER, Dimension.MODEL)))
    assert google_credits < 0
    # every provider's bill collected through its stand-in; the restatement replaced, exactly
    assert stored.total == billed + google_credits + azure
    google_models = {row.keys[1]: row.cost for row in google.rows if row.keys[0] == "google"}
    assert google_models["gemini-2.5-flash"] > 0
    assert google_models["(credits)"] == google_credits
    assert "Google's billing export in a BigQuery stand-in" in out
    assert "(credits)" in out
    assert "deepseek.balance" in out
    assert "openrouter.credits" in out
    assert {r.keys[0] for r in teams.rows} >= {"growth", "platform", "support"}

    assert "Azure Cost Management (token from a stand-in Entra ID over TLS)" in out
    providers = out[out.index("provider ") : out.index("Total")]
    assert "azure" in providers
    with engine.connect() as connection:
        on_azure = (Filter(Dimension.PROVIDER, ("azure",)),)
        azure_teams = spend(connection, SpendQuery(period, (Dimension.TEAM,), on_azure))
        azure_models = spend(connection, SpendQuery(period, (Dimension.MODEL,), on_azure))
    assert azure_teams.total == azure  # every day pulled through the Cost Management stand-in
    assert {r.keys[0] for r in azure_teams.rows} == {"support", "growth", "platform"}
    assert {r.keys[0] for r in azure_models.rows} >= {"gpt-4o", "gpt-4o-mini", "gpt-4.1"}

    bedrock_billed = sum(
        (x.cost or Decimal(0) for x in lines if x.provider == "bedrock"), Decimal(0)
    )
    with engine.connect() as connection:
        bedrock = spend(
            connection,
            SpendQuery(
                period,
                (Dimension.MODEL, Dimension.TEAM),
                (Filter(Dimension.PROVIDER, ("bedrock",)),),
                origin=Origin.BILLED,
            ),
        )
    assert "AWS Cost Explorer (Bedrock)" in out
    assert bedrock.total == bedrock_billed > 0  # collected through Cost Explorer, exactly
    # Cost Explorer's "Claude Sonnet 4.5" named by id, as the apps' events and CloudWatch name it
    assert {r.keys[0] for r in bedrock.rows} == {"anthropic.claude-sonnet-4-5-20250929-v1:0"}
    assert "" not in {r.keys[1] for r in bedrock.rows}  # every dollar reached a team by its tag

    # beside the APIs: the subscription ledger, a Mistral dashboard export, credit bought
    assert "Subscriptions (aispend subs)" in out
    assert "3 running, $630.00 a month" in out
    assert "mistral (bought - spent)" in out
    for provider in ("cursor", "github", "mistral"):
        assert f"\n{provider} " in out  # a row of month by provider


def test_demo_runs_twice_on_the_same_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/again.db"
    assert (
        run_demo(url, days=14, events_per_day=100, seed=1, now=NOW, replay_days=0, slack=False) == 0
    )
    first = capsys.readouterr().out
    assert (
        run_demo(url, days=14, events_per_day=100, seed=1, now=NOW, replay_days=0, slack=False) == 0
    )
    second = capsys.readouterr().out
    assert _reports(first) == _reports(second)


def _reports(out: str) -> str:
    return out[out.index("AI spend") :]


def test_demo_today_has_estimates_not_billed(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/today.db"
    run_demo(url, days=14, events_per_day=200, seed=5, now=NOW, replay_days=0, slack=False)
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
    assert (
        run_demo(url, days=35, events_per_day=300, seed=7, now=NOW, replay_days=back, slack=False)
        == 0
    )
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


# -- Slack ---------------------------------------------------------------------------------

SPIKE = "feature assistant-chat (team growth)"


def _growth_spike(now: datetime) -> list[Change]:
    """An alert the growth team owns: opened as a warning five hours ago, escalated to
    critical an hour ago (the small demo data is too short for the detector to raise one)."""
    key = ("feature", "team:growth", "feature:assistant-chat")
    opened = now - timedelta(hours=5)
    return [
        Change(
            kind="spike",
            cadence="daily",
            key=key,
            opened_at=opened,
            action=action,
            severity=severity,
            summary=f"{SPIKE}: ${observed} on 2026-11-21 against a usual $9.00 ({ratio})",
            team="growth",
            projected_impact=Decimal(impact),
            observed=Decimal(observed),
        )
        for action, severity, observed, ratio, impact in (
            ("open", "warning", "31.00", "3.4x", "180.00"),
            ("escalate", "critical", "64.00", "7.1x", "520.00"),
        )
    ]


@pytest.fixture
def with_an_alert(monkeypatch):
    """The demo's detection, then a growth alert recorded as the detector would."""
    replay = demo._replay_detection

    def replay_and_alert(run, team_file, days):
        replay(run, team_file, days)
        open_, escalate = _growth_spike(run.now)
        with run.engine.begin() as connection:
            record(connection, [open_], run.now - timedelta(hours=5))
            record(connection, [escalate], run.now - timedelta(hours=1))

    monkeypatch.setattr(demo, "_replay_detection", replay_and_alert)


def test_demo_shows_slack_digest_acknowledged_alert_and_command_answer(
    tmp_path, capsys, with_an_alert
):
    url = f"sqlite:///{tmp_path}/slack.db"
    assert run_demo(url, days=14, events_per_day=200, seed=5, now=NOW, replay_days=0) == 0
    out = capsys.readouterr().out
    slack = out[out.index("Slack, in a stand-in workspace") :]

    digest = slack[slack.index("#eng: the daily digest") :]
    assert "AI spend · Sat 21 Nov" in digest  # the digest's header block
    assert "Month to date:" in digest  # mrkdwn bold markers are gone
    assert "*Month to date*" not in digest
    assert "2026-11-22 15:30 UTC" in digest  # <!date^...|fallback> shown as its fallback
    assert "└ 1 reply" in digest  # the chart, uploaded in the digest's thread
    assert "aispend-all-spend-2026-11-21.png" in digest

    alert = slack[slack.index("#growth-eng: alert #") : slack.index("/aispend week by provider:")]
    assert "Spend spike · critical" in alert
    assert f"🔴 {SPIKE}" in alert
    assert "Acknowledged by @maya 2026-11-22 15:30 UTC" in alert  # pressed by its owner
    assert "[Acknowledge]" not in alert  # the buttons gave way to who pressed
    assert "updated" in alert
    assert "Escalated to critical" in alert  # the escalation reply, in the thread
    assert "@maya this one is yours" in alert
    assert "@priya" in alert  # the channel escalation: nobody acknowledged for hours
    assert "<@U0" not in slack  # every mention drawn as a name

    answer = slack[slack.index("/aispend week by provider:") :]
    assert "AI spend, last 7 days (2026-11-16..2026-11-22)" in answer
    assert "provider" in answer
    assert "[Share to channel]" in answer
    assert "only visible to you" in answer

    chart = Path(tmp_path) / CHART_FILE
    assert f"The digest's chart is saved to {chart}" in slack
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    engine = make_engine(url)
    with engine.connect() as connection:
        [incident] = [i for i in open_incidents(connection) if i.team == "growth"]
    engine.dispose()
    assert f"#growth-eng: alert #{incident.id} and its thread" in slack
    assert (incident.handled, incident.handled_by) == ("acknowledged", "U0MAYA")
