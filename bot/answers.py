"""A parsed command answered as text, shared by `aispend report` and the demo."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from bot import render
from bot.analysis.runway import RUN_RATE_DAYS, Runway, purchased_balance, runway
from bot.domain import DateRange, Dimension, Filter, SpendQuery, SpendReport
from bot.errors import UsageError
from bot.slack.commands import Command, Verb, to_query
from bot.store import queries
from bot.store.credits import latest_balances
from bot.store.names import NameBook, load_names
from bot.store.purchases import list_purchases

FORMATS = ("table", "csv", "json")


def answer_text(connection: Connection, command: Command, today: date, fmt: str = "table") -> str:
    """The answer to a report or top command, as a table, CSV or JSON."""
    query = to_query(command, today)
    label, days = command.period.label(), days_label(query.period)
    title = f"AI spend, {label}" if label == days else f"AI spend, {label} ({days})"
    if command.verb is Verb.TOP:
        return _top(connection, query, title)
    spent = queries.spend(connection, query)
    if fmt == "csv":
        return render.report_csv(spent).rstrip("\n")
    if fmt == "json":
        return render.report_json(spent, title)
    return render.report_table(with_names(spent, load_names(connection)), title)


def with_names(report: SpendReport, names: NameBook) -> SpendReport:
    """Project and key ids shown as "name (id)" where the provider named them; machine
    formats (CSV, JSON) keep the bare ids."""
    kinds = [d.column if d in _NAMED else "" for d in report.query.group_by]
    if not any(kinds):
        return report
    rows = tuple(
        replace(row, keys=tuple(_label(names, k, v) for k, v in zip(kinds, row.keys, strict=True)))
        for row in report.rows
    )
    return replace(report, rows=rows)


_NAMED = frozenset({Dimension.PROJECT, Dimension.KEY})


def _label(names: NameBook, kind: str, value: str) -> str:
    name = names.get((kind, value)) if kind and value else None
    return f"{name} ({value})" if name and name != value else value


def runways(connection: Connection, today: date) -> list[Runway]:
    """Every prepaid balance with the days it lasts at its provider's last complete week of
    API spend (seats and plans are not paid from credit): balances providers report, and for
    the others credit bought by hand (`aispend credits add`) less what was spent since."""
    period = DateRange(today - timedelta(days=RUN_RATE_DAYS), today)
    balances = latest_balances(connection)
    purchases = list_purchases(connection)
    for provider in sorted({p.provider for p in purchases} - {b.provider for b in balances}):
        since = min(p.bought_on for p in purchases if p.provider == provider)
        spent = _api_spend(connection, provider, DateRange(since, today + timedelta(days=1)))
        estimate = purchased_balance(provider, purchases, spent, today)
        if estimate is not None:
            balances.append(estimate)
    found = []
    for balance in balances:
        by_day = _api_spend(connection, balance.provider, period)
        days = [
            by_day.get(period.start + timedelta(days=n), Decimal(0)) for n in range(period.days)
        ]
        found.append(runway(balance, days, today))
    return found


def _api_spend(connection: Connection, provider: str, period: DateRange) -> dict[date, Decimal]:
    only = Filter(Dimension.PROVIDER, (provider,))
    query = SpendQuery(period, (), (only,), subscriptions=False)
    return queries.daily_series(connection, query).get((), {})


def days_label(period: DateRange) -> str:
    """2026-11-01..2026-11-07, or one date for a one-day period."""
    last = period.end - timedelta(days=1)
    return period.start.isoformat() if last == period.start else f"{period.start}..{last}"


def _top(connection: Connection, query: SpendQuery, title: str) -> str:
    if not query.group_by:
        raise UsageError("top needs a dimension, e.g. `top week by feature`")
    span = query.period.end - query.period.start
    previous = DateRange(query.period.start - span, query.period.start)
    movers = queries.top_movers(connection, query, previous)
    heading = f"What moved most: {title}, against {days_label(previous)}"
    return render.movers_table(movers, query, heading)
