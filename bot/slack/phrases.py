"""Domain objects as one line of mrkdwn each, shared by answers, digests and the Home tab.

The wording follows `bot.render` (the command line's tables) where it fits, so the CLI and
Slack say the same thing in the same words. Every name that comes from data is escaped here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from bot.analysis.budgets import BudgetAlert, BudgetStatus, describe_budget
from bot.analysis.levels import LEVEL_BY_NAME, describe
from bot.analysis.runway import Runway
from bot.domain import Origin, SpendRow
from bot.jobs.outlook import ScopeForecast, SpikeOutlook
from bot.providers import PROVIDERS
from bot.slack.blocks import (
    DOWN,
    ELLIPSIS,
    UP,
    clip,
    escape,
    link,
    name,
    plural,
    share_bar,
    signed_usd,
    slack_date,
    trend,
    usd,
)
from bot.store.freshness import SourceState
from bot.store.incidents import IncidentView
from bot.store.queries import UnpricedModel

# bot.render's words for where a figure came from
ORIGIN_NOTE = {
    None: "billed cost where providers have reported it, else estimates and app events; "
    "plus subscriptions",
    Origin.BILLED: "billed cost",
    Origin.ESTIMATED: "estimated from provider token usage",
    Origin.REPORTED: "from request events your apps reported",
    Origin.SUBSCRIPTION: "seats and plans from the subscription ledger",
}

SEVERITY_ICON = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}

KIND_LABEL = {
    "spike": "Spend spike",
    "new_spend": "New spend",
    "unowned": "Unowned spend",
    "unpriced": "Unpriced model",
    "stale_source": "Stale source",
    "capture_drop": "Capture drop",
    "prompt_growth": "Prompt growth",
    "error_surge": "Error surge",
    "budget": "Budget",
    "forecast_overrun": "Forecast over budget",
    "runway_low": "Prepaid credit running low",
}

FEEDBACK_WORDS = {"expected": "marked expected", "not_anomaly": "marked not an anomaly"}

STALE_AFTER = timedelta(hours=48)  # data older than this is behind, whatever the source says


def kind_label(kind: str) -> str:
    return KIND_LABEL.get(kind, kind.replace("_", " ").capitalize())


def severity_icon(severity: str) -> str:
    return SEVERITY_ICON.get(severity, ":white_circle:")


def provider_name(provider: str) -> str:
    """OpenAI for "openai"; an unknown id as it is. Not escaped."""
    info = PROVIDERS.get(provider)
    return info.name if info else provider


def keys_label(keys: Sequence[str]) -> str:
    """A row's dimension values joined for one column; not escaped."""
    return " · ".join(k or "(none)" for k in keys) or "all"


def cost_cell(row: SpendRow) -> str:
    """Unpriced usage is never shown as $0: "no price", or the priced part marked with *."""
    if not row.unpriced_requests:
        return usd(row.cost)
    return "no price" if row.cost == 0 else f"{usd(row.cost)}*"


def series_what(incident: IncidentView) -> str | None:
    """ "model gpt-5 on openai" for a detector incident's series; None for other alerts."""
    if incident.kind not in ("spike", "new_spend") or incident.key[:1] == ():
        return None
    if incident.key[0] not in LEVEL_BY_NAME:
        return None
    try:
        return describe(incident.key)
    except (KeyError, ValueError):
        return None


def incident_line(
    incident: IncidentView,
    *,
    url: str | None = None,
    unacknowledged: bool = False,
    width: int = 150,
) -> str:
    """:red_circle: #42 model gpt-5 on openai: $52.10 on 2026-11-18 against a usual $5.20 ..."""
    tag = link(url, f"#{incident.id}")
    words = [f"{severity_icon(incident.severity)} *{tag}* {escape(clip(incident.summary, width))}"]
    if incident.feedback:
        words.append(f"_{FEEDBACK_WORDS.get(incident.feedback, incident.feedback)}_")
    if unacknowledged:
        words.append("*unacknowledged*")
    return " · ".join(words)


def source_line(state: SourceState, now: datetime, stale_after: timedelta = STALE_AFTER) -> str:
    """:white_check_mark: openai.costs: data through Nov 17 18:00 UTC, collected 12 min ago."""
    through = state.complete_through
    behind = through is None or now - through > stale_after
    if state.consecutive_failures:
        icon = ":x:"
    elif behind:
        icon = ":hourglass:"
    else:
        icon = ":white_check_mark:"
    if through is None and state.last_success is None:
        words = [f"{icon} *{name(state.source)}*: never collected"]
    else:
        words = [f"{icon} *{name(state.source)}*: data through {moment(through)}"]
        words.append(f"collected {ago(state.last_success, now)}")
    if state.consecutive_failures:
        error = clip(state.last_error.splitlines()[0] if state.last_error else "", 120)
        failing = f"failing \N{MULTIPLICATION SIGN}{state.consecutive_failures}"
        words.append(f"{failing}: {escape(error)}" if error else failing)
    return ", ".join(words)


def source_is_fine(state: SourceState, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
    through = state.complete_through
    return not state.consecutive_failures and through is not None and now - through <= stale_after


def runway_line(r: Runway) -> str:
    """deepseek: $42.10 left at $6.00/day (7 days): 6 days, until 2026-11-24."""
    b = r.balance
    amount = usd(b.balance) if r.comparable else f"{b.balance:,.2f} {escape(b.currency)}"
    if not r.comparable:
        lasts = f"runway unknown (balance in {escape(b.currency)}, spend in USD)"
    elif r.days is None:
        lasts = "no recent spend"
    else:
        lasts = f"*{r.days} days*, until {r.runs_out}"
    icon = ":warning: " if r.days is not None and r.days <= 7 else ""
    return f"{icon}*{name(b.source)}*: {amount} left at {usd(r.daily_spend)}/day: {lasts}"


def forecast_line(s: ScopeForecast) -> str:
    """*all spend*: $1,204.00 so far, *$2,950.00* by month end ($2,700.00-$3,300.00) ..."""
    f = s.forecast
    words = [
        f"*{name(s.scope)}*: {usd(f.mtd)} so far, *{usd(f.point)}* by month end "
        f"({range_words(f.low, f.high)}), {usd(f.run_rate)}/day"
    ]
    if s.budget is not None:
        icon = ":white_check_mark:" if f.point <= s.budget else ":warning:"
        words.append(f"budget {usd(s.budget)}: {icon} {s.verdict()}")
    return " · ".join(words)


def spike_line(s: SpikeOutlook) -> str:
    """#42 model gpt-5 on openai: $3,100.00 if it continues, $1,900.00 if fixed today."""
    return (
        f"*#{s.incident_id}* {name(s.what, 80)}: *{usd(s.outlook.if_it_continues)}* if it "
        f"continues, {usd(s.outlook.if_fixed_today)} if fixed today"
    )


_ALERT_ICON = {
    BudgetAlert.NONE: ":white_check_mark:",
    BudgetAlert.WARNING: ":warning:",
    BudgetAlert.CRITICAL: ":red_circle:",
}


def budget_line(status: BudgetStatus) -> str:
    """:white_check_mark: *team growth* ▓▓▓▓▓▓░░░░ 62%: $1,240.00 of $2,000.00 ..."""
    f, used = status.forecast, status.used
    share = f" {used:.0%}" if used is not None else ""
    bar = share_bar(used)
    verdict = _budget_verdict(status)
    return (
        f"{_ALERT_ICON[status.alert]} *{name(describe_budget(status.budget))}* {bar}{share}: "
        f"{usd(f.mtd)} of {usd(status.budget.monthly)}, month end {usd(f.point)} "
        f"({range_words(f.low, f.high)}), {verdict}"
    )


def _budget_verdict(status: BudgetStatus) -> str:
    if status.alert is BudgetAlert.NONE:
        return "on track"
    if status.alert is BudgetAlert.WARNING:
        return "*forecast over budget*"
    over = status.forecast.mtd > status.budget.monthly
    return "*over budget*" if over else "*will go over budget*"


def unpriced_words(models: Sequence[UnpricedModel], most: int = 3) -> str:
    """1,234 requests on 2 models have no price and are not in the totals: x on y, ..."""
    requests = sum(m.requests for m in models)
    named = [f"{name(m.model)} on {name(provider_name(m.provider))}" for m in models[:most]]
    if len(models) > most:
        named.append(f"{len(models) - most} more")
    counted = f"{plural(requests, 'request')} on {plural(len(models), 'model')}"
    verb = "has" if requests == 1 else "have"
    return (
        f":grey_question: {counted} {verb} no price and are not in the totals: {', '.join(named)}"
    )


def trend_cell(label: str, now: Decimal, before: Decimal | None) -> str:
    """A field: *OpenAI*\\n$800.00 ▲ 12%. `label` is escaped here."""
    return f"*{name(label)}*\n{usd(now)} {trend(now, before)}"


def moved_line(what: str, before: Decimal, after: Decimal, why: str = "") -> str:
    """▲ *+$412.00* openai · gpt-5 ($88.10 → $500.10), then the why sentence under it."""
    arrow = UP if after >= before else DOWN
    line = f"{arrow} *{signed_usd(after - before)}* {name(what, 60)} ({usd(before)} → {usd(after)})"
    if why:
        line += f"\n      ↳ {escape(clip(why, 240))}"
    return line


def range_words(low: Decimal, high: Decimal) -> str:
    return f"{usd(low)}\N{EN DASH}{usd(high)}"


def moment(at: datetime | None) -> str:
    return "never" if at is None else slack_date(at, "{date_short} {time}")


def ago(at: datetime | None, now: datetime) -> str:
    """bot.render's wording: 12 min ago, 3 h ago, 4 days ago, never."""
    if at is None:
        return "never"
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min ago"
    return f"{minutes // 60} h ago" if minutes < 48 * 60 else f"{minutes // 1440} days ago"


def and_more(noun: str) -> Callable[[int], str]:
    """ "… and 12 more alerts", for fit_lines and capped."""

    def more(count: int) -> str:
        return f"{ELLIPSIS} and {count:,} more {noun}"

    return more
