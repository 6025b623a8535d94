"""The daily digest job: each channel at its own local hour, once a local day, the weekly
summary on Mondays; the figures it gathers (the day against the usual for its weekday, what
moved and why, providers, alerts of the channel's scope); and the digest plus its chart in
the outbox, delivered into one thread."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlalchemy import Connection, Engine, insert

from bot.clock import FixedClock
from bot.config import AttributionConfig, BudgetConfig, SlackConfig, TeamConfig, TeamFile
from bot.domain import CostLine, Dimension
from bot.jobs.digest import (
    DigestPlan,
    digests_due,
    enqueue_digests,
    gather_digest,
    gather_weekly,
    report_day,
    usual_for,
)
from bot.slack.limits import block_problems
from bot.slack.notifier import Notifier
from bot.standins.slack import BOT_TOKEN, running_slack
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.store.incidents import Change, record
from bot.store.models import CollectorState, table_of
from bot.store.outbox import Queued, due
from tests.builders import at, event, line, priced, write_events, write_lines

D = Decimal
NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)  # a Wednesday: the digest reports Tue 17 Nov
DAY = date(2026, 11, 17)
TUESDAYS = [DAY - timedelta(weeks=k) for k in (4, 3, 2, 1)]  # 20 Oct .. 10 Nov

TEAM_FILE = TeamFile(
    slack=SlackConfig(channel="#eng", timezone="Europe/London", digest_hour=9),
    teams=(
        TeamConfig(id="growth", channel="#growth", timezone="America/New_York"),
        TeamConfig(id="search", channel="#search", timezone="Asia/Tokyo"),
        TeamConfig(id="infra", channel="#eng"),  # already in #eng's digest
        TeamConfig(id="ml"),  # no channel: no digest of its own
    ),
    attribution=(
        AttributionConfig(project="p-growth", team="growth"),
        AttributionConfig(project="p-search", team="search"),
    ),
    budgets=(
        BudgetConfig(monthly=Decimal(3000)),
        BudgetConfig(monthly=Decimal(900), dimension=Dimension.TEAM, value="growth"),
    ),
)
ENG = DigestPlan("#eng", (), date(2026, 11, 18), weekly=False)
GROWTH = DigestPlan("#growth", ("growth",), date(2026, 11, 18), weekly=False)


def _never(key: str) -> bool:
    return False


def _due(now: datetime, sent: Sequence[str] = ()) -> dict[str, DigestPlan]:
    return {p.channel: p for p in digests_due(TEAM_FILE, now, lambda key: key in sent)}


# --- when ---------------------------------------------------------------------------------


def test_each_channel_is_due_at_its_own_local_hour() -> None:
    # 09:30 UTC: London 09:30 (due), New York 04:30 (not yet), Tokyo 18:30 (due)
    plans = _due(NOW)
    assert set(plans) == {"#eng", "#search"}
    assert plans["#eng"] == DigestPlan("#eng", (), date(2026, 11, 18), False, "Europe/London")
    assert plans["#search"].teams == ("search",)
    assert plans["#search"].timezone == "Asia/Tokyo"
    # 14:00 UTC is 09:00 in New York
    assert "#growth" in _due(datetime(2026, 11, 18, 14, tzinfo=UTC))
    assert "#growth" not in _due(datetime(2026, 11, 18, 13, 59, tzinfo=UTC))
    # 23:30 UTC Wednesday is 08:30 Thursday in Tokyo: Thursday's is not due yet
    assert "#search" not in _due(datetime(2026, 11, 18, 23, 30, tzinfo=UTC))
    thursday = _due(datetime(2026, 11, 19, 0, 30, tzinfo=UTC))["#search"]
    assert thursday.local_date == date(2026, 11, 19)
    assert thursday.key == "digest:#search:2026-11-19"


def test_a_digest_queued_for_the_local_date_is_not_due_again() -> None:
    sent = ["digest:#eng:2026-11-18"]
    assert "#eng" not in _due(NOW, sent)
    assert "#eng" not in _due(datetime(2026, 11, 18, 23, 59, tzinfo=UTC), sent)
    assert "#eng" in _due(datetime(2026, 11, 19, 9, tzinfo=UTC), sent)  # the next local day


def test_monday_brings_the_weekly_summary_by_local_date() -> None:
    monday = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    plans = _due(monday)
    assert plans["#eng"].weekly
    assert plans["#search"].weekly  # 18:30 Monday in Tokyo
    assert plans["#eng"].key == "digest:#eng:2026-11-16"  # it takes the daily's place
    # 01:00 UTC Monday is still Sunday 20:00 in New York: a daily digest
    sunday_evening = _due(datetime(2026, 11, 16, 1, tzinfo=UTC), ["digest:#eng:2026-11-15"])
    assert not sunday_evening["#growth"].weekly
    assert not _due(NOW)["#eng"].weekly


def test_teams_sharing_a_channel_get_one_digest_for_both() -> None:
    team_file = TeamFile(
        teams=(TeamConfig(id="a", channel="#ml"), TeamConfig(id="b", channel="#ml")),
    )
    plans = digests_due(team_file, NOW, _never)
    assert [(p.channel, p.teams, p.scope) for p in plans] == [
        ("#eng", (), "all spend"),
        ("#ml", ("a", "b"), "teams a, b"),
    ]


def test_the_report_day_is_the_last_complete_utc_day() -> None:
    assert report_day(NOW) == DAY
    tokyo = datetime(2026, 11, 18, 9, 30, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert report_day(tokyo) == DAY  # 18:30 on the 18th there: the 17th is the last UTC day
    assert report_day(datetime(2026, 11, 18, 0, 0, tzinfo=UTC)) == DAY


def test_the_usual_is_the_median_weekday_since_the_series_began() -> None:
    series = {d: Decimal(v) for d, v in zip(TUESDAYS, (120, 90, 100, 110), strict=True)}
    assert usual_for(series, DAY) == Decimal(105)
    # begun two weeks ago: two Tuesdays count, a missing one after the start is $0
    young = {TUESDAYS[2]: Decimal(100), TUESDAYS[2] + timedelta(days=1): Decimal(5)}
    assert usual_for(young, DAY) == Decimal(50)
    assert usual_for({TUESDAYS[3]: Decimal(100)}, DAY) is None  # one week: too little
    assert usual_for({}, DAY) is None


# --- the figures ----------------------------------------------------------------------------


def _cost(
    day: date, model: str, cost: int, project: str = "", provider: str = "openai"
) -> CostLine:
    return line(
        source=f"{provider}.costs",
        provider=provider,
        bucket_start=at(day, 0),
        model=model,
        project=project,
        cost=Decimal(cost),
        tokens_in=cost * 1000,
    )


def _history(engine: Engine) -> None:
    """gpt-5 on openai, growth's share moving (70, 40, 50, 60, then 250) while search stays
    at 50; claude on anthropic steady at 50 and untagged. Growth's app also reports feature
    chat (10 requests of $1 a week ago, 40 yesterday) and one request of an unpriced model."""
    growth = (70, 40, 50, 60, 250)
    lines = []
    for day, cost in zip([*TUESDAYS, DAY], growth, strict=True):
        lines += [
            _cost(day, "gpt-5", cost, "p-growth"),
            _cost(day, "gpt-5", 50, "p-search"),
            _cost(day, "claude-sonnet-4", 50, provider="anthropic"),
        ]
    write_lines(engine, lines, Attribution.from_rules(TEAM_FILE.attribution))
    chat = [(TUESDAYS[3], n) for n in range(10)] + [(DAY, 100 + n) for n in range(40)]
    events = [
        priced(event(n, ts=at(day), team="growth", feature="chat"), "1.00") for day, n in chat
    ]
    events.append(
        event(999, ts=at(DAY), provider="openrouter", model="mystery/model-x", team="growth")
    )
    write_events(engine, events)


def _incidents(connection: Connection) -> None:
    def spike(key: tuple[str, ...], team: str, severity: str) -> Change:
        return Change(
            kind="spike",
            cadence="daily",
            key=key,
            opened_at=at(DAY, 0),
            action="open",
            severity=severity,
            summary=f"{key[-1]} spiked",
            team=team,
        )

    record(
        connection,
        [
            spike(("team", "team:growth"), "growth", "warning"),
            spike(("model", "provider:anthropic", "model:claude-sonnet-4"), "", "info"),
        ],
        NOW,
    )


def _sources(connection: Connection) -> None:
    fresh = NOW - timedelta(hours=3)
    rows = [
        ("openai.costs", fresh, 0),
        ("anthropic.costs", NOW - timedelta(days=3), 0),  # behind
        ("openrouter.activity", fresh, 2),  # failing
        ("openai.names", None, 0),  # name lookups: never stale
    ]
    connection.execute(
        insert(table_of(CollectorState)),
        [
            {
                "source": source,
                "complete_through": through,
                "last_success": fresh,
                "last_attempt": fresh,
                "last_error": "timeout" if failures else "",
                "consecutive_failures": failures,
            }
            for source, through, failures in rows
        ],
    )


@pytest.fixture
def store(engine: Engine) -> Engine:
    _history(engine)
    with engine.begin() as connection:
        _incidents(connection)
        _sources(connection)
    return engine


def test_the_eng_digest_reports_all_spend(store: Engine) -> None:
    with store.connect() as connection:
        data = gather_digest(connection, TEAM_FILE, ENG, NOW)
    assert (data.scope, data.day, data.as_of) == ("all spend", DAY, NOW)
    assert data.spent == Decimal(350)  # 250 + 50 on gpt-5, 50 on claude
    assert data.usual == Decimal(155)  # median of 170, 140, 150, 160
    providers = {t.name: (t.now, t.before) for t in data.providers}
    assert providers == {"openai": (Decimal(300), Decimal(105)), "anthropic": (D(50), D(50))}
    (moved,) = data.movers  # claude did not move
    assert (moved.what, moved.before, moved.after) == ("model gpt-5 on openai", D(110), D(300))
    assert moved.why.startswith("Against last Tuesday: team growth: +$190.00, 100% of the rise")
    assert "volume \N{MULTIPLICATION SIGN}4.2" in moved.why
    assert data.month is not None
    assert (data.month.scope, data.month.budget) == ("all spend", Decimal(3000))
    assert [a.summary for a in data.alerts] == [
        "team:growth spiked",
        "model:claude-sonnet-4 spiked",
    ]
    assert data.unacknowledged == {data.alerts[0].id}  # the info alert was never posted
    assert [s.source for s in data.stale] == ["anthropic.costs", "openrouter.activity"]
    assert [(m.provider, m.model, m.requests) for m in data.unpriced] == [
        ("openrouter", "mystery/model-x", 1)
    ]


def test_a_team_digest_reports_only_that_team(store: Engine) -> None:
    with store.connect() as connection:
        data = gather_digest(connection, TEAM_FILE, GROWTH, NOW)
    assert data.scope == "team growth"
    assert (data.spent, data.usual) == (Decimal(250), Decimal(55))  # billed, not the events
    assert [(t.name, t.now) for t in data.providers] == [("openai", D(250))]
    (moved,) = data.movers  # by provider and model: its events hold too little of its spend
    assert (moved.what, moved.before, moved.after) == ("model gpt-5 on openai", D(60), D(250))
    assert (
        moved.why == "Against last Tuesday: tokens \N{MULTIPLICATION SIGN}4.2, same cost per token"
    )
    assert data.month is not None
    assert (data.month.scope, data.month.budget) == ("team growth", Decimal(900))
    assert [a.team for a in data.alerts] == ["growth"]
    assert [s.source for s in data.stale] == ["openrouter.activity"]  # anthropic is not theirs
    assert [m.model for m in data.unpriced] == ["mystery/model-x"]


def test_a_team_whose_spend_is_its_events_moves_by_feature(engine: Engine) -> None:
    chat = [(TUESDAYS[3], "summarize", 5), (DAY, "summarize", 20)]
    chat += [(TUESDAYS[3], "search", 3), (DAY, "search", 3)]
    events = [
        priced(
            event(
                n,
                ts=at(day),
                provider="deepseek",
                model="deepseek-chat",
                team="ml",
                feature=feature,
            ),
            "1.00",
        )
        for n, (day, feature, count) in enumerate(chat)
        for _ in range(count)
    ]
    write_events(engine, [dataclasses.replace(e, request_id=f"r{i}") for i, e in enumerate(events)])
    plan = DigestPlan("#ml", ("ml",), date(2026, 11, 18), weekly=False)
    with engine.connect() as connection:
        data = gather_digest(connection, TEAM_FILE, plan, NOW)
    assert data.spent == Decimal(23)
    assert [(m.what, m.before, m.after, m.why) for m in data.movers] == [
        (
            "feature summarize on deepseek-chat",
            D(5),
            D(20),
            "Against last Tuesday: tokens \N{MULTIPLICATION SIGN}4.0, same cost per token",
        )
    ]
    assert data.month is not None
    assert (data.month.scope, data.month.budget) == ("team ml", None)


def test_the_weekly_summary_compares_the_week_with_four_weeks_earlier(engine: Engine) -> None:
    monday = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    attribution = Attribution.from_rules(TEAM_FILE.attribution)
    write_lines(
        engine,
        [
            _cost(date(2026, 10, 13), "gpt-5", 100, "p-growth"),
            _cost(date(2026, 11, 10), "gpt-5", 300, "p-growth"),
            _cost(date(2026, 11, 11), "claude-sonnet-4", 50, provider="anthropic"),
        ],
        attribution,
    )
    plan = DigestPlan("#eng", (), date(2026, 11, 16), weekly=True)
    with engine.connect() as connection:
        data = gather_weekly(connection, plan, monday)
    assert (data.week.start, data.week.end) == (date(2026, 11, 9), date(2026, 11, 16))
    assert (data.compared.start, data.compared.end) == (date(2026, 10, 12), date(2026, 10, 19))
    assert (data.total, data.total_before) == (Decimal(350), Decimal(100))
    providers = {t.name: (t.now, t.before) for t in data.providers}
    assert providers == {"openai": (D(300), D(100)), "anthropic": (D(50), None)}  # anthropic is new
    assert {t.name: (t.now, t.before) for t in data.teams} == {
        "growth": (D(300), D(100)),
        "": (D(50), None),
    }
    assert [(m.what, m.before, m.after) for m in data.movers] == [
        ("model gpt-5 on openai", D(100), D(300)),
        ("model claude-sonnet-4 on anthropic", D(0), D(50)),
    ]
    assert data.movers[0].why == "tokens \N{MULTIPLICATION SIGN}3.0, same cost per token"


# --- queueing -------------------------------------------------------------------------------


def _queued(engine: Engine, now: datetime) -> dict[str, Queued]:
    with engine.connect() as connection:
        return {item.key: item for item in due(connection, now)}


def test_enqueue_puts_the_digest_and_its_chart_in_its_thread_once(store: Engine) -> None:
    with store.begin() as connection:
        assert enqueue_digests(connection, TEAM_FILE, NOW) == 2  # #eng and Tokyo's #search
    queued = _queued(store, NOW)
    post, chart = queued["digest:#eng:2026-11-18"], queued["digest:#eng:2026-11-18:chart"]
    assert (post.kind, post.channel, post.thread_key) == ("post", "#eng", "")
    assert post.payload["text"].startswith("AI spend Tue 17 Nov: $350.00")
    assert block_problems(post.payload["blocks"]) == []
    assert (chart.kind, chart.channel, chart.thread_key) == ("upload", "#eng", post.key)
    assert base64.b64decode(chart.payload["content_base64"]).startswith(b"\x89PNG")
    assert chart.payload["title"] == "AI spend, last 30 days"
    assert chart.payload["filename"] == "aispend-all-spend-2026-11-17.png"
    assert "$100.00 a day" in chart.payload["initial_comment"]  # 3,000 over November's 30 days
    assert {q.key for q in queued.values()} >= {"digest:#search:2026-11-18:chart"}
    with store.begin() as connection:
        assert enqueue_digests(connection, TEAM_FILE, NOW + timedelta(hours=2)) == 0
    later = datetime(2026, 11, 18, 14, 5, tzinfo=UTC)  # 09:05 in New York
    with store.begin() as connection:
        assert enqueue_digests(connection, TEAM_FILE, later) == 1
    growth = _queued(store, later)["digest:#growth:2026-11-18"]
    assert growth.payload["metadata"]["event_payload"]["scope"] == "team growth"
    assert block_problems(growth.payload["blocks"]) == []


def test_on_monday_the_weekly_summary_and_its_chart_land_in_one_slack_thread(
    tmp_path: Path,
) -> None:
    """End to end on SQLite: queued, then delivered by the notifier to the Slack stand-in."""
    engine = make_engine(f"sqlite:///{tmp_path}/digest.db")
    upgrade(engine)
    write_lines(engine, [_cost(date(2026, 11, 10), "gpt-5", 120)])
    team_file = TeamFile(slack=SlackConfig(channel="#eng"))
    monday = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    with running_slack() as slack:
        slack.add_channel("eng", channel_id="C0ENG")
        with engine.begin() as connection:
            assert enqueue_digests(connection, team_file, monday) == 1
        queued = _queued(engine, monday)
        post = queued["digest:#eng:2026-11-16"]
        assert post.payload["metadata"]["event_type"] == "aispend_weekly"
        assert block_problems(post.payload["blocks"]) == []
        assert "initial_comment" not in queued[f"{post.key}:chart"].payload  # no budget
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
        report = Notifier(engine, client, FixedClock(monday)).deliver()
        assert (report.sent, report.failed) == (2, 0), report.errors
        (root,) = [m for m in slack.messages("C0ENG") if not m.is_reply]
        assert root.text.startswith("Weekly AI spend, 9\N{EN DASH}15 Nov: $120.00")
        (chart,) = slack.files.values()
        assert (chart.channel, chart.thread_ts) == ("C0ENG", root.ts)
        assert chart.content is not None
        assert chart.content.startswith(b"\x89PNG")
