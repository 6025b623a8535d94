"""The month's outlook: month-end forecasts for all spend, each team and each budget, what
each budget allows, and for every open spike what the month costs if it continues against
if it is fixed today. Read-only; `aispend forecast` prints it and the digest will show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from bot.analysis.budgets import budget_filters, describe_budget
from bot.analysis.forecast import (
    IncidentOutlook,
    MonthForecast,
    daily_cut_needed,
    exhaustion_date,
    forecast_month,
    incident_outlook,
)
from bot.analysis.levels import describe, filters_of
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, Filter, SpendQuery
from bot.store import queries
from bot.store.incidents import open_incidents

HISTORY = timedelta(days=70)  # eight weeks of weekday factors before the month


@dataclass(frozen=True, slots=True)
class ScopeForecast:
    scope: str  # "all spend", "team growth"
    forecast: MonthForecast
    budget: Decimal | None = None
    runs_out: date | None = None  # the day the budget is spent at the run rate
    cut_per_day: Decimal | None = None  # what a day must cost less to land on budget


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


def month_outlook(connection: Connection, team_file: TeamFile, now: datetime) -> MonthOutlook:
    period = DateRange(now.date().replace(day=1) - HISTORY, now.date() + timedelta(days=1))
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
        forecast = forecast_month(daily, now)
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
    return MonthOutlook(now, tuple(found), tuple(_spikes(connection, period, now)))


def _spikes(connection: Connection, period: DateRange, now: datetime) -> list[SpikeOutlook]:
    spikes = []
    for incident in open_incidents(connection, kinds=("spike", "new_spend")):
        if incident.projected_impact is None:
            continue
        query = SpendQuery(period, (), filters_of(incident.key))
        daily = queries.daily_series(connection, query).get((), {})
        days_left = _days_left(now)
        excess = incident.projected_impact / days_left if days_left else Decimal(0)
        outlook = incident_outlook(
            daily, now, incident_start=incident.opened_at.date(), excess_per_day=excess
        )
        spikes.append(SpikeOutlook(incident.id, describe(incident.key), outlook))
    return spikes


def _days_left(now: datetime) -> Decimal:
    """Days left in the month, counting the rest of today, as the detector projects them."""
    first_next = (now.date().replace(day=28) + timedelta(days=4)).replace(day=1)
    return Decimal((first_next - now.date()).days)
