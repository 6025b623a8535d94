"""Golden files for every Slack message the bot sends (bot.slack.answers, incidents, digest,
home), in several cases each: normal, spike, no data, very long names, many rows.

Each case renders to tests/slack/golden/<case>.json ({"text": ..., "blocks": [...]}, plus
"metadata" / "reply_broadcast" when the message has them; the Home tab's golden is the view,
{"type": "home", "blocks": [...]}). The test renders again and compares. After an intended
change, rewrite the goldens and review the diff:

    AISPEND_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/slack/test_blocks.py

Every golden also passes `block_problems` (Slack's limits) and has a non-empty text fallback.
Dates and times are fixed, so the files are deterministic. The rules behind the goldens
(escaping, the double press, caps) are tested in test_blocks_rules.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.analysis.budgets import BudgetAlert, BudgetState, BudgetStatus
from bot.analysis.forecast import IncidentOutlook, MonthForecast
from bot.analysis.runway import Runway
from bot.config import BudgetConfig
from bot.domain import (
    CreditSnapshot,
    DateRange,
    Dimension,
    KeySwitch,
    Origin,
    SpendQuery,
    SpendReport,
    SpendRow,
)
from bot.jobs.outlook import MonthOutlook, ScopeForecast, SpikeOutlook
from bot.slack import answers, digest, home, incidents
from bot.slack.blocks import Message
from bot.slack.digest import DigestData, Moved, Trend, WeeklyData
from bot.slack.home import HomeData
from bot.slack.incidents import Handled, Handling
from bot.slack.limits import block_problems
from bot.store.freshness import SourceState
from bot.store.incidents import IncidentView
from bot.store.queries import Mover, UnpricedModel

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("AISPEND_UPDATE_GOLDEN") == "1"

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)  # a Wednesday
YESTERDAY = date(2026, 11, 17)
WEEK = DateRange(date(2026, 11, 11), date(2026, 11, 18))
EVIL = "<script>&"  # a model name that must render escaped
LONG = "fine-tuned-" + "very-long-model-name-" * 8 + "v2"
USER = "U024BE7LH"


def usd(text: str) -> Decimal:
    return Decimal(text)


# --- domain samples ----------------------------------------------------------------------


def report(
    rows: list[SpendRow],
    group_by: tuple[Dimension, ...] = (Dimension.PROVIDER,),
    origin: Origin | None = None,
) -> SpendReport:
    total = sum((r.cost for r in rows), Decimal(0))
    unpriced = sum(r.unpriced_requests for r in rows)
    return SpendReport(SpendQuery(WEEK, group_by), origin, tuple(rows), total, unpriced)


def incident(
    n: int = 42,
    *,
    kind: str = "spike",
    cadence: str = "daily",
    key: tuple[str, ...] = ("model", "provider:openai", "model:gpt-5"),
    severity: str = "critical",
    summary: str | None = None,
    why: str = "",
    team: str = "growth",
    status: str = "open",
    projected: str | None = "1450.00",
    feedback: str = "",
) -> IncidentView:
    return IncidentView(
        id=n,
        kind=kind,
        cadence=cadence,
        key=key,
        opened_at=datetime(2026, 11, 17, 6, 0, tzinfo=UTC),
        status=status,
        severity=severity,
        summary=summary
        or (
            "model gpt-5 on openai: $52.10 on 2026-11-17 against a usual $5.20 (10.0x); "
            "$1,450.00 more by month end if it continues"
        ),
        why=why,
        team=team,
        updated_at=datetime(2026, 11, 18, 7, 0, tzinfo=UTC),
        projected_impact=None if projected is None else usd(projected),
        feedback=feedback,
        observed=usd("52.10"),
    )


TIMES = "\N{MULTIPLICATION SIGN}"
WHY = (
    f"Against the same time last week: team growth: +$44.80, 96% of the rise, volume {TIMES}9.8; "
    "team search: +$2.10, 4% of the rise"
)


def evil_incident() -> IncidentView:
    what = f"model {EVIL}{LONG} on openai"
    return incident(
        7,
        key=("model", "provider:openai", f"model:{EVIL}{LONG}"),
        summary=f"{what}: $900.00 on 2026-11-17 against a usual $12.00 (75.0x)",
        why=f"Against the same time last week: feature {EVIL}: +$888.00, 100% of the rise",
        team=f"team-{EVIL}-" + "x" * 80,
    )


def stale_incident() -> IncidentView:
    return incident(
        9,
        kind="stale_source",
        cadence="",
        key=("anthropic.usage",),
        severity="warning",
        summary="source anthropic.usage has sent no data for 30 hours",
        why="Check the admin key; the last error was 401 Unauthorized.",
        team="",
        projected=None,
    )


def forecast(mtd: str, point: str, low: str, high: str, rate: str) -> MonthForecast:
    return MonthForecast(
        as_of=NOW,
        month_end=date(2026, 11, 30),
        mtd=usd(mtd),
        point=usd(point),
        low=usd(low),
        high=usd(high),
        run_rate=usd(rate),
        days_left=Decimal("12.6"),
        coverage=0.8,
    )


ALL_SPEND = ScopeForecast(
    "all spend", forecast("7400.00", "12900.00", "12100.00", "13900.00", "430.00"), usd("15000")
)
OVER = ScopeForecast(
    "team growth",
    forecast("2300.00", "4100.00", "3800.00", "4500.00", "140.00"),
    usd("3000"),
    date(2026, 11, 23),
    usd("87.30"),
)
NO_BUDGET = ScopeForecast(
    "team search", forecast("800.00", "1400.00", "1300.00", "1550.00", "48.00")
)


def outlook(scopes: tuple[ScopeForecast, ...], spikes: int = 1, samples: int = 0) -> MonthOutlook:
    spike = SpikeOutlook(
        42,
        "model gpt-5 on openai",
        IncidentOutlook(usd("11450.00"), usd("12900.00"), usd("115.00"), Decimal("12.6")),
    )
    return MonthOutlook(NOW, scopes, (spike,) * spikes, samples)


def ranged(mtd: str, point: str) -> MonthForecast:
    """A forecast with a range of 10% either way."""
    low, high = usd(point) * Decimal("0.9"), usd(point) * Decimal("1.1")
    return forecast(mtd, point, str(low), str(high), "1")


def budget(value: str, monthly: str, mtd: str, point: str, alert: BudgetAlert) -> BudgetStatus:
    config = BudgetConfig(monthly=usd(monthly), dimension=Dimension.TEAM, value=value)
    f = ranged(mtd, point)
    return BudgetStatus(config, f, (), alert, False, BudgetState(date(2026, 11, 1)))


def all_budget(monthly: str, mtd: str, point: str) -> BudgetStatus:
    config = BudgetConfig(monthly=usd(monthly))
    f = ranged(mtd, point)
    return BudgetStatus(config, f, (50,), BudgetAlert.NONE, False, BudgetState(date(2026, 11, 1)))


BUDGETS = [
    all_budget("15000", "7400.00", "12900.00"),
    budget("growth", "3000", "2300.00", "4100.00", BudgetAlert.WARNING),
    budget("search", "1000", "1100.00", "1900.00", BudgetAlert.CRITICAL),
]


def source(
    name: str, hours_behind: float | None, failures: int = 0, error: str = ""
) -> SourceState:
    through = None if hours_behind is None else NOW - timedelta(hours=hours_behind)
    success = None if hours_behind is None else NOW - timedelta(minutes=12)
    return SourceState(name, success, NOW, through, error, failures)


SOURCES = [
    source("openai.costs", 10),
    source("anthropic.usage", 30, 3, "401 Unauthorized: <html>invalid x-api-key</html>"),
    source("openrouter.activity", 72),
    source("deepseek.balance", None),
]


def credit(source_name: str, balance: str, rate: str, currency: str = "USD") -> Runway:
    snapshot = CreditSnapshot(source_name, source_name.split(".")[0], NOW, usd(balance), currency)
    if currency != "USD" or usd(rate) == 0:
        return Runway(snapshot, usd(rate), None, None)
    days = (usd(balance) / usd(rate)).to_integral_value(rounding="ROUND_FLOOR")
    return Runway(snapshot, usd(rate), days, NOW.date() + timedelta(days=int(days)))


RUNWAYS = [
    credit("deepseek.balance", "42.10", "6.00"),
    credit("openrouter.credits", "910.00", "0"),
    credit("moonshot.balance", "300.00", "5.00", "CNY"),
]

PROVIDER_TRENDS = [
    Trend("openai", usd("210.40"), usd("180.00")),
    Trend("anthropic", usd("160.00"), usd("171.00")),
    Trend("bedrock", usd("40.00"), None),
    Trend("openrouter", usd("12.50"), usd("12.49")),
]

MOVED = [
    Moved("model gpt-5 on openai", usd("5.20"), usd("52.10"), WHY),
    Moved("feature search (team search)", usd("80.00"), usd("61.00")),
]


# --- cases -------------------------------------------------------------------------------

Case = Callable[[], dict[str, Any]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Callable[[], Message | dict[str, Any]]], Case]:
    def register(build: Callable[[], Message | dict[str, Any]]) -> Case:
        def render() -> dict[str, Any]:
            found = build()
            return found.payload() if isinstance(found, Message) else found

        CASES[name] = render
        return render

    return register


TITLE = "AI spend, week (2026-11-11..2026-11-17)"


@case("report_normal")
def _report_normal() -> Message:
    rows = [
        SpendRow(("openai",), usd("1204.50"), 0, unpriced_requests=0),
        SpendRow(("anthropic",), usd("880.10")),
        SpendRow(("openrouter",), usd("12.25"), unpriced_requests=40),
        SpendRow(("deepseek",), Decimal(0), unpriced_requests=1200),
    ]
    return answers.report_answer(report(rows), TITLE, share_key="a1b2c3")


@case("report_reported_requests")
def _report_reported() -> Message:
    rows = [
        SpendRow(("search", "gpt-5"), usd("310.00"), 120_400),
        SpendRow(("support", "claude-sonnet-4-5"), usd("95.75"), 20_100),
        SpendRow(("", "gpt-5-mini"), usd("0.004"), 12),
    ]
    group = (Dimension.FEATURE, Dimension.MODEL)
    return answers.report_answer(report(rows, group, Origin.REPORTED), TITLE, share_key="k")


@case("report_no_data")
def _report_empty() -> Message:
    return answers.report_answer(report([]), TITLE, share_key="k-empty")


@case("report_long_names")
def _report_long() -> Message:
    rows = [
        SpendRow((f"team-{EVIL}", f"{EVIL}{LONG}"), usd("99999.99")),
        SpendRow(("growth", LONG), usd("12.00"), unpriced_requests=3),
        SpendRow(("growth`s", "gpt`5"), usd("1.00")),
    ]
    return answers.report_answer(report(rows, (Dimension.TEAM, Dimension.MODEL)), TITLE)


@case("report_many_rows")
def _report_many() -> Message:
    rows = [SpendRow((f"model-{n:03d}",), usd(str(1000 - n * 7))) for n in range(80)]
    return answers.report_answer(report(rows, (Dimension.MODEL,)), TITLE, share_key="many")


TOP_TITLE = "What moved most: AI spend, week, against 2026-11-04..2026-11-10"


@case("top_normal")
def _top_normal() -> Message:
    movers = [
        Mover(("openai", "gpt-5"), usd("88.10"), usd("500.10")),
        Mover(("anthropic", "claude-haiku-4-5"), usd("140.00"), usd("60.00")),
        Mover(("deepseek", "deepseek-chat"), Decimal(0), usd("14.00")),
    ]
    sentence = f"feature search on gpt-5: +$412.00, 100% of the rise, volume {TIMES}5.7"
    why: dict[tuple[str, ...], str] = {("openai", "gpt-5"): sentence}
    group = (Dimension.PROVIDER, Dimension.MODEL)
    return answers.top_answer(movers, group, TOP_TITLE, why=why, share_key="top1")


@case("top_no_data")
def _top_empty() -> Message:
    return answers.top_answer([], (Dimension.MODEL,), TOP_TITLE, share_key="top0")


@case("top_long_names")
def _top_long() -> Message:
    movers = [Mover((f"{EVIL}{LONG}",), usd("1.00"), usd("2000.00"))]
    why: dict[tuple[str, ...], str] = {
        (f"{EVIL}{LONG}",): f"feature {EVIL}{LONG}: +$1,999.00, 100% of the rise, new"
    }
    return answers.top_answer(movers, (Dimension.MODEL,), TOP_TITLE, why=why, share_key="t")


@case("top_many_rows")
def _top_many() -> Message:
    movers = [Mover((f"model-{n:02d}",), usd("10"), usd(str(500 - n))) for n in range(30)]
    why: dict[tuple[str, ...], str] = {
        m.keys: f"{m.keys[0]}: volume {TIMES}{n + 2}" for n, m in enumerate(movers)
    }
    return answers.top_answer(movers, (Dimension.MODEL,), TOP_TITLE, why=why, share_key="t")


@case("help")
def _help() -> Message:
    return answers.help_answer(share_key="help")


@case("help_suggestion")
def _help_suggestion() -> Message:
    return answers.help_answer("week")


@case("error")
def _error() -> Message:
    return answers.error_answer('unknown word "wek" — did you mean "week"?', suggestion="week")


@case("error_escaped")
def _error_escaped() -> Message:
    return answers.error_answer(f'unknown filter "{EVIL}:" — try model:NAME', suggestion="model:")


@case("alerts_normal")
def _alerts() -> Message:
    found = [incident(), stale_incident(), incident(43, severity="warning", feedback="expected")]
    urls = {42: "https://example.slack.com/archives/C1/p1763359200000100"}
    return answers.alerts_answer(found, urls=urls, unacknowledged={42, 9}, share_key="al")


@case("alerts_no_data")
def _alerts_empty() -> Message:
    return answers.alerts_answer([], share_key="al0")


@case("alerts_many_long")
def _alerts_many() -> Message:
    found = [evil_incident()] + [
        incident(100 + n, summary=f"model {LONG}-{n} on openai: " + "$1.00 more " * 30)
        for n in range(60)
    ]
    return answers.alerts_answer(found, unacknowledged={7}, share_key="al2")


@case("status_normal")
def _status() -> Message:
    return answers.status_answer(SOURCES, RUNWAYS, NOW, share_key="st")


@case("status_no_data")
def _status_empty() -> Message:
    return answers.status_answer([], [], NOW, share_key="st0")


@case("status_many_rows")
def _status_many() -> Message:
    many = [source(f"{EVIL}-{n:02d}.{LONG}", 5, n % 2, f"error <{n}> " * 40) for n in range(40)]
    return answers.status_answer(many, RUNWAYS * 10, NOW, share_key="st2")


@case("forecast_normal")
def _forecast() -> Message:
    found = outlook((ALL_SPEND, OVER, NO_BUDGET), samples=1312)
    return answers.forecast_answer(found, share_key="f")


@case("forecast_no_data")
def _forecast_empty() -> Message:
    zero = ScopeForecast("all spend", forecast("0", "0", "0", "0", "0"))
    return answers.forecast_answer(outlook((zero,), spikes=0), share_key="f0")


@case("forecast_many_rows")
def _forecast_many() -> Message:
    teams = tuple(
        ScopeForecast(f"team {EVIL}-{n}-{LONG}", OVER.forecast, usd("3000"), None, None)
        for n in range(40)
    )
    return answers.forecast_answer(outlook((ALL_SPEND, *teams), spikes=30), share_key="f2")


@case("budget_normal")
def _budgets() -> Message:
    return answers.budget_answer(BUDGETS, share_key="b")


@case("budget_no_data")
def _budgets_empty() -> Message:
    return answers.budget_answer([], share_key="b0")


@case("budget_many_rows")
def _budgets_many() -> Message:
    many = [
        budget(f"{EVIL}{n}{LONG}", "100", "50.00", "90.00", BudgetAlert.NONE) for n in range(50)
    ]
    return answers.budget_answer(many, share_key="b2")


# incidents

ACK = Handled(Handling.ACKNOWLEDGED, USER, datetime(2026, 11, 18, 9, 41, tzinfo=UTC))


def spike_root(handled: Handled | None = None) -> Message:
    return incidents.incident_root(
        incident(why=WHY),
        owner=f"<@{USER}>",
        if_it_continues=usd("12900.00"),
        pause_key="sk-svcacct-search-prod",
        handled=handled,
    )


@case("incident_root_spike")
def _root() -> Message:
    return spike_root()


@case("incident_root_acknowledged")
def _root_ack() -> Message:
    return spike_root(ACK)


PAUSED = KeySwitch("anthropic", "apikey_01Search", False, USER, ACK.at, 1)


@case("incident_root_key_paused")
def _root_key_paused() -> Message:
    return incidents.incident_root(
        incident(why=WHY), pause_key="search-prod (apikey_01Search)", key_switch=PAUSED
    )


@case("incident_root_key_resumed_acknowledged")
def _root_key_resumed() -> Message:
    resumed = KeySwitch("anthropic", "apikey_01Search", True, USER, ACK.at + timedelta(hours=1))
    return incidents.incident_root(
        incident(why=WHY), pause_key=f"{EVIL}{LONG}", key_switch=resumed, handled=ACK
    )


@case("incident_key_paused_reply")
def _key_paused_reply() -> Message:
    return incidents.key_reply(incident(), "search-prod (apikey_01Search)", PAUSED)


@case("incident_root_snoozed")
def _root_snoozed() -> Message:
    return spike_root(Handled(Handling.SNOOZED, USER, ACK.at))


@case("incident_root_expected")
def _root_expected() -> Message:
    return spike_root(Handled(Handling.EXPECTED, f"<@{USER}>", ACK.at))


@case("incident_root_resolved")
def _root_resolved() -> Message:
    return incidents.incident_root(incident(status="resolved", why=WHY), handled=ACK)


@case("incident_root_new_spend")
def _root_new() -> Message:
    found = incident(
        kind="new_spend",
        key=("feature", "team:search", "feature:rerank"),
        severity="warning",
        summary=(
            "feature rerank (team search): new spend: $31.00 on 2026-11-17 against nothing; "
            "$390.00 more by month end if it continues"
        ),
        projected="390.00",
    )
    return incidents.incident_root(found)


@case("incident_root_stale_source")
def _root_stale() -> Message:
    return incidents.incident_root(stale_incident(), owner="not-a-user <!channel>")


@case("incident_root_long_names")
def _root_long() -> Message:
    return incidents.incident_root(
        evil_incident(), owner=USER, if_it_continues=usd("99000"), pause_key=f"{EVIL}{LONG}"
    )


@case("incident_update")
def _update() -> Message:
    said = (
        "model gpt-5 on openai: $61.40 on 2026-11-18 against a usual $5.20 (11.8x); "
        "$1,620.00 more by month end if it continues"
    )
    return incidents.update_reply(incident(), summary=said, why=WHY)


@case("incident_escalation")
def _escalation() -> Message:
    said = "model gpt-5 on openai: $130.00 on 2026-11-18 against a usual $5.20 (25.0x)"
    return incidents.escalation_reply(incident(), summary=said, owner=USER)


@case("incident_resolution")
def _resolution() -> Message:
    said = "model gpt-5 on openai: resolved, back to usual (excess so far $180.40)"
    return incidents.resolution_reply(incident(status="resolved"), summary=said)


@case("incident_channel_escalation")
def _channel_escalation() -> Message:
    return incidents.channel_escalation(
        incident(),
        contact="<!subteam^S0614TZR7>",
        waiting_since=datetime(2026, 11, 17, 6, 5, tzinfo=UTC),
        if_it_continues=usd("12900.00"),
        url="https://example.slack.com/archives/C1/p1763359200000100",
    )


# digest

UNPRICED = [
    UnpricedModel("openrouter", "mystery/model-x", 1200, 3_000_000, 400_000),
    UnpricedModel("deepseek", "deepseek-r2", 34, 90_000, 12_000),
]


def digest_data(**changes: Any) -> DigestData:
    values: dict[str, Any] = {
        "scope": "all spend",
        "day": YESTERDAY,
        "spent": usd("422.90"),
        "usual": usd("371.00"),
        "month": ALL_SPEND,
        "movers": MOVED,
        "providers": PROVIDER_TRENDS,
        "alerts": [stale_incident()],
        "unacknowledged": frozenset({9}),
        "stale": [SOURCES[1]],
        "as_of": NOW,
    }
    values.update(changes)
    return DigestData(**values)


@case("digest_normal")
def _digest() -> Message:
    return digest.daily_digest(digest_data())


@case("digest_spike")
def _digest_spike() -> Message:
    return digest.daily_digest(
        digest_data(
            spent=usd("1422.90"),
            month=OVER,
            scope="team growth",
            alerts=[incident(), incident(43, severity="warning")],
            unacknowledged=frozenset({42}),
            alert_urls={42: "https://example.slack.com/archives/C1/p1763359200000100"},
            unpriced=UNPRICED[:1],
        )
    )


@case("digest_no_data")
def _digest_empty() -> Message:
    return digest.daily_digest(
        DigestData(scope="all spend", day=YESTERDAY, spent=Decimal(0), usual=None)
    )


@case("digest_long_names")
def _digest_long() -> Message:
    return digest.daily_digest(
        digest_data(
            scope=f"team {EVIL}",
            movers=[Moved(f"model {EVIL}{LONG}", usd("1"), usd("900"), f"{EVIL} {LONG}")],
            providers=[Trend(f"{EVIL}{LONG}", usd("900"), usd("1"))],
            alerts=[evil_incident()],
            unpriced=[UnpricedModel("openrouter", f"{EVIL}{LONG}", 5, 10, 10)],
            usual=None,
        )
    )


@case("digest_many_rows")
def _digest_many() -> Message:
    return digest.daily_digest(
        digest_data(
            movers=MOVED * 10,
            providers=[Trend(f"provider-{n:02d}", usd(str(100 + n)), usd("90")) for n in range(25)],
            alerts=[incident(200 + n, severity="warning") for n in range(30)],
            unacknowledged=frozenset(range(200, 230)),
            stale=[source(f"source-{n}", 80, 2, "timeout") for n in range(12)],
            unpriced=UNPRICED * 5,
        )
    )


def weekly_data(**changes: Any) -> WeeklyData:
    values: dict[str, Any] = {
        "scope": "all spend",
        "week": DateRange(date(2026, 11, 9), date(2026, 11, 16)),
        "compared": DateRange(date(2026, 10, 12), date(2026, 10, 19)),
        "total": usd("2980.00"),
        "total_before": usd("2410.00"),
        "providers": [
            Trend("openai", usd("1400.00"), usd("1100.00")),
            Trend("anthropic", usd("900.00"), usd("950.00")),
            Trend("bedrock", usd("400.00"), usd("200.00")),
            Trend("google", usd("180.00"), None),
            Trend("cursor", usd("100.00"), usd("100.00")),
        ],
        "teams": [
            Trend("growth", usd("1700.00"), usd("1200.00")),
            Trend("search", usd("1000.00"), usd("1010.00")),
            Trend("", usd("280.00"), usd("200.00")),
        ],
        "movers": MOVED,
        "as_of": NOW,
    }
    values.update(changes)
    return WeeklyData(**values)


@case("weekly_normal")
def _weekly() -> Message:
    buckets = {**digest.PROVIDER_BUCKETS, "cursor": "subscription"}
    return digest.weekly_summary(weekly_data(), buckets=buckets)


@case("weekly_no_data")
def _weekly_empty() -> Message:
    return digest.weekly_summary(
        weekly_data(total=Decimal(0), total_before=None, providers=[], teams=[], movers=[])
    )


@case("weekly_many_rows")
def _weekly_many() -> Message:
    teams = [Trend(f"team-{EVIL}-{n:02d}-{LONG}", usd(str(50 + n)), usd("40")) for n in range(30)]
    return digest.weekly_summary(weekly_data(teams=teams, movers=MOVED * 8))


# home


@case("home_normal")
def _home() -> dict[str, Any]:
    return home.home_view(
        HomeData(
            now=NOW,
            outlook=outlook((ALL_SPEND, OVER, NO_BUDGET), samples=1312),
            budgets=BUDGETS,
            providers=PROVIDER_TRENDS,
            incidents=[incident(), stale_incident()],
            unacknowledged=frozenset({42}),
            incident_urls={42: "https://example.slack.com/archives/C1/p1763359200000100"},
            sources=SOURCES,
            runways=RUNWAYS,
        )
    )


@case("home_no_data")
def _home_empty() -> dict[str, Any]:
    return home.home_view(HomeData(now=NOW))


@case("home_many_rows")
def _home_many() -> dict[str, Any]:
    return home.home_view(
        HomeData(
            now=NOW,
            outlook=outlook((ALL_SPEND, *(NO_BUDGET,) * 40), spikes=20),
            budgets=BUDGETS * 20,
            providers=[Trend(f"p{n}-{EVIL}", usd(str(n)), usd("3")) for n in range(30)],
            incidents=[evil_incident()] * 50,
            sources=[source(f"s{n}.{LONG}", 3) for n in range(60)],
            runways=RUNWAYS * 10,
        )
    )


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_matches_its_golden_file(name: str) -> None:
    rendered = CASES[name]()
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert path.exists(), f"no golden file {path.name}: run with AISPEND_UPDATE_GOLDEN=1"
    assert json.loads(path.read_text("utf-8")) == rendered


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_is_inside_slack_limits(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text("utf-8"))
    view = golden.get("type") == "home"
    assert block_problems(golden["blocks"], view=view) == []
    if view:
        return  # a view has no fallback text
    assert golden["text"].strip()
    assert len(golden["text"]) <= 4000  # what chat.update accepts


def test_every_golden_file_has_a_case() -> None:
    assert {p.stem for p in GOLDEN.glob("*.json")} == set(CASES)
