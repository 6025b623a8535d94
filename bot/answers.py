"""A parsed command answered as text, shared by `aispend report` and the demo."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection

from bot import render
from bot.domain import DateRange, SpendQuery
from bot.errors import UsageError
from bot.slack.commands import Command, Verb, to_query
from bot.store import queries

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
    return render.report_table(spent, title)


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
