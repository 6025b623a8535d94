"""The store read for each /aispend answer and for the Home tab. I/O only: every function
takes a connection, gathers figures, and hands them to a pure builder (bot.slack.answers,
bot.slack.home), so what Slack shows is decided in one place."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection

from bot.analysis.budgets import BudgetStatus, budget_filters, evaluate_budget
from bot.analysis.forecast import forecast_month
from bot.answers import days_label, runways, with_names
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, Filter, SpendQuery
from bot.errors import UsageError
from bot.jobs.outlook import HISTORY, calibrated_intervals, month_outlook
from bot.slack import answers
from bot.slack.blocks import Message, clip, code_safe, context, escape, finish, mention
from bot.slack.commands import Command, Verb, parse_command, to_query
from bot.slack.digest import Trend
from bot.slack.home import HomeData
from bot.slack.subs import subs_answer
from bot.store import queries
from bot.store.freshness import list_source_states
from bot.store.incidents import open_incidents
from bot.store.names import load_names
from bot.store.subscriptions import list_subscriptions

MAX_SHARE_VALUE = 2000  # characters of a button's value
SHARED_TEXT = 200  # characters of the command quoted under a shared answer


@dataclass(frozen=True, slots=True)
class Asked:
    """One /aispend question: the words, who asked, and the day it was asked on (a shared
    answer is computed for that day again, so it shows the period the asker saw)."""

    text: str
    user: str
    day: date

    def share_key(self) -> str | None:
        """The Share to channel button's value: `2026-11-20|week by team`, or None when it
        would not fit in a button."""
        key = f"{self.day.isoformat()}|{self.text}"
        return key if len(key) <= MAX_SHARE_VALUE else None

    @classmethod
    def from_share_key(cls, key: str, user: str) -> Asked:
        day, _, text = key.partition("|")
        try:
            return cls(text, user, date.fromisoformat(day))
        except ValueError:
            raise UsageError("that Share button is from an older version; ask again") from None


AlertLinks = Callable[[Connection, Sequence[int]], Mapping[int, str]]


@dataclass(frozen=True, slots=True)
class Answering:
    """What an answer may depend on besides the question."""

    team_file: TeamFile
    now: datetime
    is_admin: Callable[[str], bool]
    alert_links: AlertLinks  # links to alerts' Slack threads (AppContext.alert_links)


def answer(connection: Connection, asked: Asked, how: Answering, *, share: bool = True) -> Message:
    """The answer to a /aispend question. Bad words get help led by the closest valid word,
    or the error in the person's own terms; neither has a Share button."""
    try:
        command = parse_command(asked.text)
    except UsageError as e:
        return (
            answers.help_answer(e.suggestion) if e.suggestion else answers.error_answer(e.message)
        )
    key = asked.share_key() if share else None
    try:
        return _answer(connection, command, asked, how, key)
    except UsageError as e:
        return answers.error_answer(e.message, suggestion=e.suggestion)


def shared(message: Message, asked: Asked) -> Message:
    """An answer as posted to the channel: no Share button, and a line saying who shared it
    and what they asked."""
    words = escape(clip(code_safe(asked.text.strip()), SHARED_TEXT))
    asked_for = f"`/aispend {words}`" if words else "`/aispend`"
    line = context(f"Shared by {mention(asked.user)} · {asked_for}")
    return Message(message.text, finish([*message.blocks, line]))


def _answer(
    connection: Connection, command: Command, asked: Asked, how: Answering, key: str | None
) -> Message:
    verb = command.verb
    if verb is Verb.HELP:
        return answers.help_answer()
    if verb in (Verb.REPORT, Verb.TOP):
        return spend_answer(connection, command, asked.day, key)
    if verb is Verb.ALERTS:
        incidents = open_incidents(connection)
        waiting = {i.id for i in incidents if not i.handled}
        urls = how.alert_links(connection, [i.id for i in incidents])
        return answers.alerts_answer(incidents, urls=urls, unacknowledged=waiting, share_key=key)
    if verb is Verb.STATUS:
        sources = list_source_states(connection)
        found = runways(connection, how.now.date())
        return answers.status_answer(sources, found, how.now, share_key=key)
    if verb is Verb.FORECAST:
        return answers.forecast_answer(
            month_outlook(connection, how.team_file, how.now), share_key=key
        )
    if verb is Verb.BUDGET:
        if command.args[:1] == ("set",):
            return budget_set(command, asked.user, how)
        return answers.budget_answer(
            budget_statuses(connection, how.team_file, how.now), share_key=key
        )
    if verb is Verb.SUBS:
        return subs_answer(list_subscriptions(connection), asked.day, share_key=key)
    raise UsageError(
        f'"{verb.value}" is not in Slack yet; /aispend answers report, top, forecast, budget, '
        "alerts, status, subs and help"
    )


def spend_answer(connection: Connection, command: Command, today: date, key: str | None) -> Message:
    """A report (spend by the dimensions asked), or top (what moved most against the period
    before), with the same titles as `aispend report`."""
    query = to_query(command, today)
    label, days = command.period.label(), days_label(query.period)
    title = f"AI spend, {label}" if label == days else f"AI spend, {label} ({days})"
    if command.verb is Verb.REPORT:
        report = with_names(queries.spend(connection, query), load_names(connection))
        return answers.report_answer(report, title, share_key=key)
    if not query.group_by:
        raise UsageError("top needs a dimension, e.g. `top week by feature`")
    span = query.period.end - query.period.start
    previous = DateRange(query.period.start - span, query.period.start)
    movers = queries.top_movers(connection, query, previous, limit=answers.MOVERS)
    heading = f"What moved most: {title}, against {days_label(previous)}"
    return answers.top_answer(movers, query.group_by, heading, share_key=key)


def budget_statuses(
    connection: Connection, team_file: TeamFile, now: datetime
) -> list[BudgetStatus]:
    """Each budget of aispend.toml against its month-end forecast, as the detect job
    evaluates it but without its stored state (which only decides what to announce)."""
    if not team_file.budgets:
        return []
    intervals = calibrated_intervals(connection, now.date())
    period = _forecast_history(now)
    found = []
    for budget in team_file.budgets:
        query = SpendQuery(period, (), budget_filters(budget))
        daily = queries.daily_series(connection, query).get((), {})
        found.append(evaluate_budget(budget, forecast_month(daily, now, intervals=intervals)))
    return found


def budget_set(command: Command, user: str, how: Answering) -> Message:
    """Budgets live in aispend.toml, which the bot reads and never writes: an admin is shown
    the entry to add, anyone else refused. Nothing is stored either way."""
    if not how.is_admin(user):
        return answers.error_answer(NOT_ADMIN)
    scope, amount = _budget_words(command)
    entry = [f"monthly = {amount}"]
    if scope is not None:
        entry += [
            f'dimension = "{scope.dimension.value}"',
            f"value = {json.dumps(scope.values[0])}",
        ]
    lines = "\n".join(["[[budgets]]", *entry])
    return answers.error_answer(
        "Budgets are read from aispend.toml; the bot does not change that file, so nothing "
        f"was set. Add this entry (or edit the existing one) and restart the bot:\n```{lines}```"
    )


NOT_ADMIN = (
    "only the admins listed in aispend.toml under [slack] admins may set budgets; "
    "`/aispend budget` shows them"
)
_BUDGET_USAGE = "e.g. `/aispend budget set team:search 500` or `/aispend budget set all 2000`"


def _budget_words(command: Command) -> tuple[Filter | None, Decimal]:
    """The scope (None: all spend) and the amount of `budget set SCOPE AMOUNT`."""
    words = list(command.args[1:])
    if len(command.filters) > 1 or (command.filters and command.filters[0].values[1:]):
        raise UsageError(f"a budget covers one scope; {_BUDGET_USAGE}")
    scope = command.filters[0] if command.filters else None
    if scope is None and words[:1] == ["all"]:
        words = words[1:]
    elif scope is None:
        raise UsageError(f"budget set needs a scope and an amount, {_BUDGET_USAGE}")
    if len(words) != 1:
        raise UsageError(f"budget set needs a scope and an amount, {_BUDGET_USAGE}")
    try:
        amount = Decimal(words[0].removeprefix("$").replace(",", ""))
    except InvalidOperation:
        raise UsageError(f'"{words[0]}" is not an amount in USD; {_BUDGET_USAGE}') from None
    if not amount.is_finite() or amount < 0:
        raise UsageError(f'"{words[0]}" is not an amount in USD; {_BUDGET_USAGE}')
    return scope, amount


def home_data(
    connection: Connection,
    team_file: TeamFile,
    now: datetime,
    alert_links: AlertLinks | None = None,
) -> HomeData:
    """Everything the Home tab shows, as of `now`, with links to alerts' threads."""
    incidents = open_incidents(connection)
    links = alert_links(connection, [i.id for i in incidents]) if alert_links else {}
    return HomeData(
        now=now,
        outlook=month_outlook(connection, team_file, now),
        budgets=budget_statuses(connection, team_file, now),
        providers=provider_trends(connection, now.date()),
        incidents=incidents,
        unacknowledged=frozenset(i.id for i in incidents if not i.handled),
        incident_urls=links,
        sources=list_source_states(connection),
        runways=runways(connection, now.date()),
    )


def provider_trends(connection: Connection, today: date) -> list[Trend]:
    """Month to date by provider, against last month up to the same day."""
    first = today.replace(day=1)
    before_first = (first - timedelta(days=1)).replace(day=1)
    before_end = min(before_first + (today - first) + timedelta(days=1), first)
    by = (Dimension.PROVIDER,)
    now = queries.spend(connection, SpendQuery(DateRange(first, today + timedelta(days=1)), by))
    then = queries.spend(connection, SpendQuery(DateRange(before_first, before_end), by))
    earlier = {row.keys[0]: row.cost for row in then.rows}
    return [Trend(row.keys[0], row.cost, earlier.get(row.keys[0])) for row in now.rows]


def _forecast_history(now: datetime) -> DateRange:
    """The days a month-end forecast reads: weekday factors before the month, and today."""
    return DateRange(now.date().replace(day=1) - HISTORY, now.date() + timedelta(days=1))
