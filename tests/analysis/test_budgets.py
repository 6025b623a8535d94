"""Budget status: thresholds fire once a month; the overrun alert has hysteresis."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.analysis.budgets import (
    BudgetAlert,
    BudgetState,
    BudgetStatus,
    budget_filters,
    describe_budget,
    evaluate_budget,
    thresholds_reached,
)
from bot.analysis.forecast import MonthForecast
from bot.config import BudgetConfig
from bot.domain import Dimension, Filter

BUDGET = BudgetConfig(monthly=Decimal(1000))


def _forecast(
    mtd: str = "100", point: str = "900", low: str | None = None, month: int = 3
) -> MonthForecast:
    """A forecast as of the 10th; the range starts at MTD unless `low` says otherwise."""
    return MonthForecast(
        as_of=datetime(2026, month, 10, tzinfo=UTC),
        month_end=date(2026, month, 28),
        mtd=Decimal(mtd),
        point=Decimal(point),
        low=Decimal(low if low is not None else mtd),
        high=Decimal(point) * 2,
        run_rate=Decimal(30),
        days_left=Decimal(19),
        coverage=0.8,
    )


def _run(forecasts: list[MonthForecast], budget: BudgetConfig = BUDGET) -> list[BudgetStatus]:
    """Evaluate a budget on each forecast in turn, carrying the state along."""
    statuses, state = [], None
    for forecast in forecasts:
        status = evaluate_budget(budget, forecast, state)
        statuses.append(status)
        state = status.state
    return statuses


def test_each_threshold_fires_once_a_month() -> None:
    spent = ["100", "550", "600", "850", "1200", "1300"]

    statuses = _run([_forecast(mtd=m, point="1300") for m in spent])

    assert [s.new_thresholds for s in statuses] == [(), (50,), (), (80,), (100,), ()]
    assert statuses[-1].state.announced == {50, 80, 100}


def test_a_jump_past_several_thresholds_fires_them_together_and_a_new_month_rearms_them() -> None:
    march, april = _run([_forecast(mtd="1000", point="1000"), _forecast(mtd="600", month=4)])

    assert march.new_thresholds == (50, 80, 100)
    assert april.new_thresholds == (50,)
    assert april.state.month == date(2026, 4, 1)


def test_thresholds_follow_the_budget_config_and_need_some_spend() -> None:
    budget = BudgetConfig(monthly=Decimal(200), thresholds=(25, 90))

    assert thresholds_reached(budget, Decimal("49.99")) == frozenset()
    assert thresholds_reached(budget, Decimal(50)) == {25}
    assert thresholds_reached(BudgetConfig(monthly=Decimal(0)), Decimal(0)) == frozenset()
    assert thresholds_reached(BudgetConfig(monthly=Decimal(0)), Decimal("0.01")) == {50, 80, 100}


def test_the_overrun_warning_needs_two_evaluations_in_a_row() -> None:
    statuses = _run([_forecast(point=p) for p in ["1010", "990", "1010", "1020", "1030"]])

    assert [s.alert for s in statuses] == [
        BudgetAlert.NONE,
        BudgetAlert.NONE,
        BudgetAlert.NONE,
        BudgetAlert.WARNING,
        BudgetAlert.WARNING,
    ]
    assert [s.alert_raised for s in statuses] == [False, False, False, True, False]


def test_the_overrun_warning_clears_only_under_95_percent_and_then_rearms() -> None:
    points = ["1010", "1020", "990", "951", "950", "949", "1010", "1010"]

    statuses = _run([_forecast(point=p) for p in points])

    warning, none = BudgetAlert.WARNING, BudgetAlert.NONE
    assert [s.alert for s in statuses] == [
        none,
        warning,
        warning,
        warning,
        warning,
        none,
        none,
        warning,
    ]
    assert [s.alert_raised for s in statuses] == [
        False,
        True,
        False,
        False,
        False,
        False,
        False,
        True,
    ]


def test_critical_when_the_low_end_or_month_to_date_is_over_budget() -> None:
    low_over = evaluate_budget(BUDGET, _forecast(point="1500", low="1001"))
    spent_over = evaluate_budget(BUDGET, _forecast(mtd="1001", point="1200"))
    low_at_budget = evaluate_budget(BUDGET, _forecast(point="1500", low="1000"))

    assert (low_over.alert, low_over.alert_raised) == (BudgetAlert.CRITICAL, True)
    assert (spent_over.alert, spent_over.alert_raised) == (BudgetAlert.CRITICAL, True)
    assert low_at_budget.alert is BudgetAlert.NONE  # first evaluation over: no warning yet


def test_critical_is_announced_once_even_if_it_dips_to_a_warning() -> None:
    statuses = _run(
        [
            _forecast(point="1500", low="1100"),
            _forecast(point="1500", low="900"),
            _forecast(point="1500", low="1100"),
            _forecast(point="900"),
            _forecast(point="1500", low="1100"),
        ]
    )

    assert [s.alert for s in statuses] == [
        BudgetAlert.CRITICAL,
        BudgetAlert.WARNING,
        BudgetAlert.CRITICAL,
        BudgetAlert.NONE,
        BudgetAlert.CRITICAL,
    ]
    assert [s.alert_raised for s in statuses] == [True, False, False, False, True]


def test_a_state_from_last_month_is_ignored() -> None:
    old = BudgetState(month=date(2026, 2, 1), announced=frozenset({50}), over_in_a_row=1)

    status = evaluate_budget(BUDGET, _forecast(mtd="600", point="1100"), old)

    assert status.new_thresholds == (50,)
    assert status.alert is BudgetAlert.NONE
    assert status.state.over_in_a_row == 1


def test_used_share_and_scope() -> None:
    team = BudgetConfig(monthly=Decimal(400), dimension=Dimension.TEAM, value="search")

    status = evaluate_budget(team, _forecast(mtd="100"))

    assert status.used == Decimal("0.25")
    assert evaluate_budget(BudgetConfig(monthly=Decimal(0)), _forecast()).used is None
    assert budget_filters(team) == (Filter(Dimension.TEAM, ("search",)),)
    assert budget_filters(BUDGET) == ()
    assert describe_budget(team) == "team search"
    assert describe_budget(BUDGET) == "all spend"
