"""The month's outlook: month-end forecasts for all spend, each team and each budget, what
each budget allows, and for every open spike what the month costs if it continues against
if it is fixed today. Read-only; `aispend forecast` prints it and the digest will show it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, Connection, func, select

from bot.analysis.budgets import budget_filters, describe_budget
from bot.analysis.forecast import (
    DEFAULT_INTERVALS,
    IncidentOutlook,
    IntervalTable,
    MonthForecast,
    backtest_panel,
    calibrate_intervals,
    daily_cut_needed,
    exhaustion_date,
    forecast_month,
    incident_outlook,
    series_panel,
)
from bot.analysis.levels import describe, filters_of
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, Filter, SpendQuery
from bot.money import format_usd
from bot.store import queries
from bot.store.incidents import open_incidents
from bot.store.models import RollupDayCore, table_of

HISTORY = timedelta(days=70)  # eight weeks of weekday factors before the month


@dataclass(frozen=True, slots=True)
class ScopeForecast:
    scope: str  # "all spend", "team growth"
    forecast: MonthForecast
    budget: Decimal | None = None
    runs_out: date | None = None  # the day the budget is spent at the run rate
    cut_per_day: Decimal | None = None  # what a day must cost less to land on budget

    def verdict(self) -> str:
        """On track, or over budget with the day it is spent and the daily cut; "" without a
        budget."""
        if self.budget is None:
            return ""
        if self.forecast.point <= self.budget:
            return "on track"
        words = "over budget"
        if self.runs_out is not None:
            words += f", spent by {self.runs_out}"
        if self.cut_per_day is not None:
            words += f"; cut {format_usd(self.cut_per_day)}/day to land on it"
        return words


@dataclass(frozen=True, slots=True)
class SpikeOutlook:
    incident_id: int
    what: str
    outlook: IncidentOutlook


@dataclass(frozen=True, slots=True)
class MonthOutlook:
    as_of: datetime
    scopes: tuple[ScopeForecast, ...]
    spikes: tuple[SpikeOutlook, ...]
    calibration_samples: int = 0  # backtest forecasts the interval was calibrated on; 0: default


CALIBRATION_HISTORY = timedelta(days=400)  # complete months to backtest the interval on


_CALIBRATED: dict[tuple[str, date, tuple[int, int]], IntervalTable] = {}
_CALIBRATED_LOCK = threading.Lock()


def calibrated_intervals(connection: Connection, today: date) -> IntervalTable:
    """The 80% interval calibrated on this store's own history: every complete past month of
    every provider-model series forecast at every cutoff (split conformal). Cutoffs with too
    few samples, as in a young store, keep the built-in table.

    The backtest takes a few hundred milliseconds, so its result is kept per store and day
    while the history before today is unchanged (a cheap fingerprint of the daily rollup)."""
    key = (connection.engine.url.render_as_string(), today, _history_fingerprint(connection, today))
    with _CALIBRATED_LOCK:
        found = _CALIBRATED.get(key)
    if found is None:
        found = _calibrate(connection, today)
        with _CALIBRATED_LOCK:
            if len(_CALIBRATED) > 64:
                _CALIBRATED.clear()
            _CALIBRATED[key] = found
    return found


def _history_fingerprint(connection: Connection, today: date) -> tuple[int, int]:
    """Rows and total cost of the daily rollup before today: any change to history shows."""
    table = table_of(RollupDayCore)
    rows, cost = connection.execute(
        select(func.count(), func.coalesce(func.sum(table.c.cost, type_=BigInteger), 0)).where(
            table.c.day < today
        )
    ).one()
    return int(rows), int(cost)


def _calibrate(connection: Connection, today: date) -> IntervalTable:
    first = today - CALIBRATION_HISTORY
    query = SpendQuery(DateRange(first, today), (Dimension.PROVIDER, Dimension.MODEL))
    series = list(queries.daily_series(connection, query).values())
    if not series:
        return DEFAULT_INTERVALS
    panel = series_panel(series, first, today - timedelta(days=1))
    return calibrate_intervals(backtest_panel(panel, first))


def month_outlook(connection: Connection, team_file: TeamFile, now: datetime) -> MonthOutlook:
    period = DateRange(now.date().replace(day=1) - HISTORY, now.date() + timedelta(days=1))
    intervals = calibrated_intervals(connection, now.date())
    budgets = {describe_budget(b): b.monthly for b in team_file.budgets}
    scopes: list[tuple[str, tuple[Filter, ...]]] = [("all spend", ())]
    scopes += [(f"team {t.id}", (Filter(Dimension.TEAM, (t.id,)),)) for t in team_file.teams]
    scopes += [
        (describe_budget(b), budget_filters(b))
        for b in team_file.budgets
        if describe_budget(b) not in {name for name, _ in scopes}
    ]
    found = []
    for name, filters in scopes:
        daily = queries.daily_series(connection, SpendQuery(period, (), filters)).get((), {})
        forecast = forecast_month(daily, now, intervals=intervals)
        budget = budgets.get(name)
        found.append(
            ScopeForecast(
                name,
                forecast,
                budget,
                None if budget is None else exhaustion_date(forecast, budget),
                None if budget is None else daily_cut_needed(forecast, budget),
            )
        )
    spikes = _spikes(connection, period, now, intervals)
    return MonthOutlook(now, tuple(found), tuple(spikes), sum(intervals.samples))


def _spikes(
    connection: Connection, period: DateRange, now: datetime, intervals: IntervalTable
) -> list[SpikeOutlook]:
    spikes = []
    for incident in open_incidents(connection, kinds=("spike", "new_spend")):
        if incident.projected_impact is None:
            continue
        query = SpendQuery(period, (), filters_of(incident.key))
        daily = queries.daily_series(connection, query).get((), {})
        days_left = _days_left(now)
        excess = incident.projected_impact / days_left if days_left else Decimal(0)
        outlook = incident_outlook(
            daily,
            now,
            incident_start=incident.opened_at.date(),
            excess_per_day=excess,
            intervals=intervals,
        )
        spikes.append(SpikeOutlook(incident.id, describe(incident.key), outlook))
    return spikes


def _days_left(now: datetime) -> Decimal:
    """Days left in the month, counting the rest of today, as the detector projects them."""
    first_next = (now.date().replace(day=28) + timedelta(days=4)).replace(day=1)
    return Decimal((first_next - now.date()).days)
