"""The alert checks as pure functions: each fires past its gates and stays quiet short of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.analysis.alerts import AlertKind
from bot.analysis.checks import (
    DayUsage,
    FeatureUsage,
    KeySpend,
    ModelUsage,
    ProviderCosts,
    SourceHealth,
    capture_drops,
    error_surge,
    prompt_growth,
    runway_low,
    stale_sources,
    unowned_spend,
    unpriced_models,
)
from bot.analysis.detector import Severity
from bot.analysis.runway import Runway, runway
from bot.domain import CreditSnapshot

TODAY = date(2026, 11, 20)
YESTERDAY = TODAY - timedelta(days=1)
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _days_before(day: date, n: int) -> list[date]:
    return [day - timedelta(days=i) for i in range(1, n + 1)]


# --- unowned ----------------------------------------------------------------------------------


def test_unowned_key_names_key_provider_project_and_amount():
    spend = KeySpend("openai", "proj_old", "key_legacy", Decimal("42.10"))
    [found] = unowned_spend([spend])
    assert found.kind is AlertKind.UNOWNED
    assert found.key == ("openai", "proj_old", "key_legacy")
    assert found.severity is Severity.WARNING
    assert found.summary == (
        "api key key_legacy on openai (project proj_old) spent $42.10 in the last 7 days "
        "and no attribution rule owns it"
    )
    assert "[[attribution]]" in found.why
    assert "revoke" in found.why
    assert found.amount == Decimal("42.10")
    assert found.team == ""


@pytest.mark.parametrize(
    ("cost", "severity"),
    [
        ("0.99", None),
        ("1.00", Severity.INFO),
        ("9.99", Severity.INFO),
        ("10.00", Severity.WARNING),
        ("99.99", Severity.WARNING),
        ("100.00", Severity.CRITICAL),
    ],
)
def test_unowned_severity_follows_the_dollar_gates(cost, severity):
    found = unowned_spend([KeySpend("openai", "proj_a", "", Decimal(cost))])
    assert [c.severity for c in found] == ([severity] if severity else [])


def test_unowned_ignores_spend_with_neither_project_nor_key():
    assert unowned_spend([KeySpend("openai", "", "", Decimal(500))]) == []


def test_unowned_says_workspace_for_anthropic_and_shows_display_names():
    workspace = KeySpend("anthropic", "wrkspc_1", "", Decimal(20), project_name="batch jobs")
    key = KeySpend("openai", "", "key_9", Decimal(30), key_name="old cron")
    found = unowned_spend([workspace, key])
    assert [c.key for c in found] == [("openai", "", "key_9"), ("anthropic", "wrkspc_1", "")]
    assert found[0].summary.startswith("api key old cron (key_9) on openai spent $30.00")
    assert found[1].summary.startswith("workspace batch jobs (wrkspc_1) on anthropic spent")


# --- unpriced ---------------------------------------------------------------------------------


def test_unpriced_model_is_info_until_it_has_many_requests():
    few = ModelUsage("openai", "acme-v2", 12, 34_000, 5_000)
    many = ModelUsage("anthropic", "claude-next", 1000, 2_500_000, 100)
    found = unpriced_models([few, many])
    assert [(c.key, c.severity) for c in found] == [
        (("anthropic", "claude-next"), Severity.WARNING),
        (("openai", "acme-v2"), Severity.INFO),
    ]
    assert found[1].summary == (
        "model acme-v2 on openai has no price: 12 requests (34K input, 5,000 output tokens) "
        "in the last 7 days are left out of every total"
    )
    assert "[[prices.overrides]]" in found[1].why
    assert found[0].amount is None


def test_unpriced_ignores_models_with_no_unpriced_requests():
    assert unpriced_models([ModelUsage("openai", "gpt-5", 0)]) == []


# --- stale sources ----------------------------------------------------------------------------


def _source(**changes: Any) -> SourceHealth:
    healthy = SourceHealth(
        source="openai.costs",
        last_success=NOW - timedelta(hours=1),
        last_attempt=NOW - timedelta(hours=1),
        complete_through=datetime(2026, 11, 19, tzinfo=UTC),
    )
    return replace(healthy, **changes)


def test_a_healthy_source_is_quiet():
    assert stale_sources([_source()], NOW) == []


def test_failing_three_times_in_a_row_is_a_warning_with_the_error():
    failing = _source(consecutive_failures=3, last_error="401 Unauthorized")
    [found] = stale_sources([failing], NOW)
    assert found.kind is AlertKind.STALE_SOURCE
    assert found.key == ("openai.costs",)
    assert found.severity is Severity.WARNING
    assert found.summary == "source openai.costs failed 3 times in a row"
    assert "401 Unauthorized" in found.why


def test_two_failures_are_not_yet_stale():
    assert stale_sources([_source(consecutive_failures=2)], NOW) == []


def test_no_success_for_over_6_hours_is_a_warning_and_over_24_critical():
    late = _source(last_success=NOW - timedelta(hours=7))
    very_late = _source(source="anthropic.costs", last_success=NOW - timedelta(hours=25))
    exactly = _source(source="x.costs", last_success=NOW - timedelta(hours=6))
    found = stale_sources([late, very_late, exactly], NOW)
    assert [(c.key, c.severity) for c in found] == [
        (("anthropic.costs",), Severity.CRITICAL),
        (("openai.costs",), Severity.WARNING),
    ]
    assert found[1].summary == (
        "source openai.costs last pulled successfully 7 h ago (2026-11-20 02:00 UTC)"
    )


def test_data_more_than_2_days_behind_is_reported_only_for_a_source_that_had_data():
    behind = _source(complete_through=NOW - timedelta(days=3))
    within = _source(source="b", complete_through=NOW - timedelta(days=2))
    never_had_data = _source(source="deepseek.balance", complete_through=None)
    [found] = stale_sources([behind, within, never_had_data], NOW)
    assert found.key == ("openai.costs",)
    assert found.severity is Severity.WARNING
    assert found.summary == (
        "source openai.costs has data only through 2026-11-17 09:00 UTC (3.0 days behind)"
    )


def test_a_source_that_never_succeeded_reports_its_failures():
    new = _source(last_success=None, complete_through=None, consecutive_failures=5)
    [found] = stale_sources([new], NOW)
    assert found.summary == "source openai.costs failed 5 times in a row and has never succeeded"
    assert found.severity is Severity.WARNING


def test_a_source_no_longer_tried_says_so():
    untried = _source(
        last_attempt=NOW - timedelta(hours=30), last_success=NOW - timedelta(hours=30)
    )
    [found] = stale_sources([untried], NOW)
    assert found.severity is Severity.CRITICAL
    assert found.summary.endswith("(2026-11-19 03:00 UTC) and has not been tried since")
    assert "no longer collected" in found.why


def test_data_behind_suggests_a_lagging_provider():
    [found] = stale_sources([_source(complete_through=NOW - timedelta(days=3))], NOW)
    assert "reported nothing newer" in found.why


def test_a_source_not_tried_for_two_weeks_is_retired():
    retired = _source(
        last_attempt=NOW - timedelta(days=15),
        last_success=NOW - timedelta(days=15),
        complete_through=NOW - timedelta(days=16),
    )
    assert stale_sources([retired], NOW) == []


# --- capture drop -----------------------------------------------------------------------------


def _costs(recent_share: str, before_share: str, billed: str = "10") -> ProviderCosts:
    """$billed a day for 35 days; reported covers the given share, this week and before."""
    days = _days_before(TODAY, 35)
    recent = set(days[:7])
    share = {d: Decimal(recent_share if d in recent else before_share) for d in days}
    return ProviderCosts(
        "openai",
        billed={d: Decimal(billed) for d in days},
        reported={d: Decimal(billed) * share[d] for d in days},
    )


def test_capture_drop_of_20_points_is_a_warning_with_the_uncovered_dollars():
    [found] = capture_drops([_costs("0.70", "0.90")], TODAY)
    assert found.kind is AlertKind.CAPTURE_DROP
    assert found.key == ("openai",)
    assert found.severity is Severity.WARNING
    assert found.summary == (
        "openai: request events cover 70% of billed cost in the last 7 days, down from 90% "
        "over the 28 before ($70.00 billed)"
    )
    assert found.amount == Decimal("14.00")


def test_capture_drop_of_half_is_critical():
    [found] = capture_drops([_costs("0.30", "0.90")], TODAY)
    assert found.severity is Severity.CRITICAL


def test_a_smaller_capture_drop_is_quiet():
    assert capture_drops([_costs("0.71", "0.90")], TODAY) == []


def test_capture_above_100_percent_counts_as_full():
    assert capture_drops([_costs("0.95", "1.30")], TODAY) == []


def test_capture_drop_needs_20_dollars_billed_a_week():
    assert capture_drops([_costs("0.00", "0.90", billed="2.80")], TODAY) == []
    assert capture_drops([_costs("0.00", "0.90", billed="2.86")], TODAY) != []


def test_capture_drop_needs_a_week_of_earlier_billed_days():
    costs = _costs("0.10", "0.90")
    recent_and_6 = _days_before(TODAY, 13)
    costs = replace(costs, billed={d: c for d, c in costs.billed.items() if d in recent_and_6})
    assert capture_drops([costs], TODAY) == []


def test_days_the_bill_has_not_reached_are_left_out_of_both_sides():
    costs = _costs("0.90", "0.90")
    lagging = {d: c for d, c in costs.billed.items() if d < YESTERDAY - timedelta(days=1)}
    extra_events = dict(costs.reported) | {YESTERDAY: Decimal(500)}
    assert capture_drops([replace(costs, billed=lagging, reported=extra_events)], TODAY) == []


def test_today_is_not_counted():
    costs = _costs("0.90", "0.90")
    partial = replace(costs, billed=dict(costs.billed) | {TODAY: Decimal(1000)})
    assert capture_drops([partial], TODAY) == []


# --- prompt growth ----------------------------------------------------------------------------


def _feature(
    yesterday_mean: int,
    usual_mean: int = 2000,
    requests: int = 100,
    cost: str = "20",
    baseline_days: int = 14,
    baseline_requests: int = 100,
    errors: tuple[int, int] = (0, 0),
) -> FeatureUsage:
    """`errors`: failed requests yesterday and on each baseline day."""
    days = {
        d: DayUsage(baseline_requests, baseline_requests * usual_mean, errors[1], Decimal(cost))
        for d in _days_before(YESTERDAY, baseline_days)
    }
    days[YESTERDAY] = DayUsage(requests, requests * yesterday_mean, errors[0], Decimal(cost))
    return FeatureUsage("search", days, team="growth")


def test_prompt_growth_names_the_feature_sizes_and_team():
    [found] = prompt_growth([_feature(5000)], TODAY)
    assert found.kind is AlertKind.PROMPT_GROWTH
    assert found.key == ("search",)
    assert found.severity is Severity.WARNING
    assert found.team == "growth"
    assert found.summary == (
        "feature search: average prompt 5,000 tokens on 2026-11-19 (100 requests), 2.5x its "
        "14-day median of 2,000; $20.00 spent that day"
    )


@pytest.mark.parametrize(
    ("mean", "cost", "severity"),
    [
        (2999, "20", None),  # under 1.5x
        (3000, "20", Severity.WARNING),
        (6000, "20", Severity.CRITICAL),
        (6000, "9.99", Severity.INFO),  # a cheap feature stays in the digest
    ],
)
def test_prompt_growth_severity(mean, cost, severity):
    found = prompt_growth([_feature(mean, cost=cost)], TODAY)
    assert [c.severity for c in found] == ([severity] if severity else [])


def test_prompt_growth_needs_500_more_tokens():
    assert prompt_growth([_feature(1499, usual_mean=1000)], TODAY) == []
    assert prompt_growth([_feature(1500, usual_mean=1000)], TODAY) != []


def test_prompt_growth_needs_50_requests_on_the_day():
    assert prompt_growth([_feature(5000, requests=49)], TODAY) == []


def test_prompt_growth_needs_7_baseline_days_with_50_requests():
    assert prompt_growth([_feature(5000, baseline_days=6)], TODAY) == []
    assert prompt_growth([_feature(5000, baseline_requests=49)], TODAY) == []
    assert prompt_growth([_feature(5000, baseline_days=7)], TODAY) != []


def test_prompt_growth_reads_yesterday_not_today():
    feature = _feature(2000)
    grown = dict(feature.days) | {TODAY: DayUsage(100, 100 * 9000)}
    assert prompt_growth([replace(feature, days=grown)], TODAY) == []


# --- error surge ------------------------------------------------------------------------------


def test_error_surge_names_the_feature_and_shares():
    [found] = error_surge([_feature(2000, requests=400, errors=(40, 2))], TODAY)
    assert found.kind is AlertKind.ERROR_SURGE
    assert found.key == ("search",)
    assert found.severity is Severity.WARNING
    assert found.team == "growth"
    assert found.summary == (
        "feature search: 40 of 400 requests failed on 2026-11-19 (10.0%; 14-day median 2.0%)"
    )


@pytest.mark.parametrize(
    ("requests", "errors", "baseline_errors", "severity"),
    [
        (400, 19, 0, None),  # fewer than 20 errors
        (1000, 49, 0, None),  # under 5%
        (400, 20, 0, Severity.WARNING),  # 5%, against a median of 0
        (400, 40, 4, None),  # 10% against a 4% median: under 3x
        (400, 48, 4, Severity.WARNING),  # 12%: 3x
        (400, 100, 2, Severity.CRITICAL),  # 25%
    ],
)
def test_error_surge_gates(requests, errors, baseline_errors, severity):
    feature = _feature(2000, requests=requests, errors=(errors, baseline_errors))
    found = error_surge([feature], TODAY)
    assert [c.severity for c in found] == ([severity] if severity else [])


def test_error_surge_on_a_new_feature_has_a_zero_median():
    feature = FeatureUsage("", {YESTERDAY: DayUsage(40, errors=30)})
    [found] = error_surge([feature], TODAY)
    assert found.key == ("",)
    assert found.summary.startswith("requests with no feature: 30 of 40 requests failed")
    assert found.severity is Severity.CRITICAL


# --- runway -----------------------------------------------------------------------------------


def _runway(balance: str, daily: str, currency: str = "USD") -> Runway:
    snapshot = CreditSnapshot("openrouter.credits", "openrouter", NOW, Decimal(balance), currency)
    return runway(snapshot, [Decimal(daily)] * 7, TODAY)


@pytest.mark.parametrize(
    ("balance", "severity"),
    [
        ("140", None),  # 14 days
        ("139", Severity.WARNING),  # 13
        ("30", Severity.WARNING),  # 3
        ("29", Severity.CRITICAL),  # 2
        ("0", Severity.CRITICAL),
    ],
)
def test_runway_gates(balance, severity):
    found = runway_low([_runway(balance, "10")])
    assert [c.severity for c in found] == ([severity] if severity else [])


def test_runway_summary_and_amount():
    [found] = runway_low([_runway("42.10", "8.20")])
    assert found.kind is AlertKind.RUNWAY_LOW
    assert found.key == ("openrouter", "openrouter.credits")
    assert found.summary == (
        "openrouter prepaid balance $42.10 lasts about 5 days at $8.20/day (runs out 2026-11-25)"
    )
    assert found.amount == Decimal("42.10")


def test_runway_ignores_other_currencies_and_idle_balances():
    assert runway_low([_runway("10", "10", currency="CNY"), _runway("10", "0")]) == []
