"""Budget status: thresholds crossed this month and the forecast-overrun alert.

Budgets are the `BudgetConfig` entries of aispend.toml: a monthly amount for all spend or for
one team, provider, feature (any dimension) value, with percentage thresholds.

Two signals, both remembered per month in a small `BudgetState` the caller stores between
evaluations and passes back:

* **Thresholds.** Each threshold fires once a month, when month-to-date spend reaches it.
* **Overrun** (detection.md section 5). A *warning* when the point forecast is above budget on
  2 consecutive evaluations; it stays until the forecast drops below 0.95 x budget, so a
  forecast hovering at the line does not flap. *Critical* when the lower end of the forecast
  range is above budget, or month-to-date already is. A level is announced when it rises above
  the one last announced this month; clearing the alert re-arms it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from bot.analysis.forecast import MonthForecast
from bot.config import BudgetConfig
from bot.domain import Filter

WARNING_CONSECUTIVE = 2
WARNING_CLEARS_BELOW = Decimal("0.95")


class BudgetAlert(StrEnum):
    """How worried to be about a budget, least first."""

    NONE = "none"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(BudgetAlert).index(self)


@dataclass(frozen=True, slots=True)
class BudgetState:
    """What one budget's evaluations remember within a month."""

    month: date  # the month's first day; a state from another month starts afresh
    announced: frozenset[int] = frozenset()  # thresholds already posted this month
    over_in_a_row: int = 0  # consecutive evaluations with the point forecast above budget
    warning_open: bool = False
    alert_announced: BudgetAlert = BudgetAlert.NONE


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One evaluation of a budget against a forecast."""

    budget: BudgetConfig
    forecast: MonthForecast
    new_thresholds: tuple[int, ...]  # reached now and not announced before this month: post them
    alert: BudgetAlert
    alert_raised: bool  # `alert` is above what was last announced this month: post it
    state: BudgetState  # store it and pass it to the next evaluation

    @property
    def used(self) -> Decimal | None:
        """Month-to-date as a share of the budget; None for a zero budget."""
        if self.budget.monthly == 0:
            return None
        return self.forecast.mtd / self.budget.monthly


def evaluate_budget(
    budget: BudgetConfig, forecast: MonthForecast, state: BudgetState | None = None
) -> BudgetStatus:
    """Thresholds newly reached and the overrun alert, given the previous evaluation's state
    (None the first time)."""
    month = forecast.month_start
    if state is None or state.month != month:
        state = BudgetState(month=month)
    reached = thresholds_reached(budget, forecast.mtd)
    over_in_a_row, warning_open = _overrun_warning(budget.monthly, forecast.point, state)
    alert = _overrun_alert(budget.monthly, forecast, warning_open)
    raised = alert.rank > state.alert_announced.rank
    return BudgetStatus(
        budget=budget,
        forecast=forecast,
        new_thresholds=tuple(sorted(reached - state.announced)),
        alert=alert,
        alert_raised=raised,
        state=replace(
            state,
            announced=state.announced | reached,
            over_in_a_row=over_in_a_row,
            warning_open=warning_open,
            alert_announced=alert if raised or alert is BudgetAlert.NONE else state.alert_announced,
        ),
    )


def thresholds_reached(budget: BudgetConfig, mtd: Decimal) -> frozenset[int]:
    """The budget's percentage thresholds that month-to-date spend has reached. Nothing is
    reached before anything is spent, even on a zero budget."""
    if mtd <= 0:
        return frozenset()
    return frozenset(t for t in budget.thresholds if mtd * 100 >= budget.monthly * t)


def _overrun_warning(monthly: Decimal, point: Decimal, state: BudgetState) -> tuple[int, bool]:
    """The consecutive-overrun count and whether the warning is open after this evaluation."""
    over_in_a_row = state.over_in_a_row + 1 if point > monthly else 0
    if state.warning_open:
        return over_in_a_row, point >= WARNING_CLEARS_BELOW * monthly
    return over_in_a_row, over_in_a_row >= WARNING_CONSECUTIVE


def _overrun_alert(monthly: Decimal, forecast: MonthForecast, warning_open: bool) -> BudgetAlert:
    """Critical when even the low end of the range, or month-to-date, is over budget."""
    if forecast.low > monthly or forecast.mtd > monthly:
        return BudgetAlert.CRITICAL
    return BudgetAlert.WARNING if warning_open else BudgetAlert.NONE


def budget_filters(budget: BudgetConfig) -> tuple[Filter, ...]:
    """The spend query filters that select what the budget covers."""
    if budget.dimension is None:
        return ()
    return (Filter(budget.dimension, (budget.value,)),)


def describe_budget(budget: BudgetConfig) -> str:
    """What the budget covers, for people: "all spend" or "team search"."""
    if budget.dimension is None:
        return "all spend"
    return f"{budget.dimension.value} {budget.value}"
