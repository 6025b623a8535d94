"""The App Home tab: the month so far, budgets and forecasts, open incidents and how fresh
each source is. Pure: `HomeData` holds figures already gathered; `home_view` returns the
view for views.publish (type "home", at most 100 blocks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.analysis.budgets import BudgetStatus, describe_budget
from bot.analysis.runway import Runway
from bot.jobs.outlook import MonthOutlook, ScopeForecast
from bot.slack import limits, phrases
from bot.slack.blocks import (
    Block,
    context,
    divider,
    fields,
    finish,
    header,
    section,
    sections,
    slack_date,
    usd,
)
from bot.slack.digest import Trend
from bot.store.freshness import SourceState
from bot.store.incidents import IncidentView

PROVIDER_CELLS = 9
LIST_LINES = 25


@dataclass(frozen=True, slots=True)
class HomeData:
    now: datetime
    outlook: MonthOutlook | None = None  # the first scope is all spend
    budgets: Sequence[BudgetStatus] = ()
    providers: Sequence[Trend] = ()  # month so far by provider, against last month to date
    incidents: Sequence[IncidentView] = ()  # open, most projected impact first
    unacknowledged: frozenset[int] = frozenset()
    incident_urls: Mapping[int, str] = field(default_factory=dict)
    sources: Sequence[SourceState] = ()
    runways: Sequence[Runway] = ()


def home_view(data: HomeData) -> dict[str, Any]:
    blocks: list[Block] = [
        header("AI spend"),
        context(f"Updated {slack_date(data.now)} · `/aispend help` for questions"),
        *_month(data),
        divider(),
        *_budgets(data),
        divider(),
        *_incidents(data),
        divider(),
        *_sources(data),
    ]
    return {"type": "home", "blocks": finish(blocks, most=limits.BLOCKS_PER_VIEW)}


def _month(data: HomeData) -> list[Block]:
    found = [header(f"{data.now:%B %Y} so far")]
    outlook = data.outlook
    if outlook is None or not outlook.scopes:
        return [*found, section("No spend recorded this month.")]
    total = outlook.scopes[0]
    found.append(section(_total_words(total)))
    if data.providers:
        cells = [
            phrases.trend_cell(phrases.provider_name(t.name), t.now, t.before)
            for t in sorted(data.providers, key=lambda t: (-t.now, t.name))
        ]
        title = "*By provider* · against last month to the same day"
        found.append(fields(cells, text=title, more=lambda n: f"*{n:,} more providers*"))
    if outlook.spikes:
        spikes = [phrases.spike_line(s) for s in outlook.spikes]
        title = "*Open spikes*: the month if it continues, and if it is fixed today"
        found += sections(spikes, most_lines=10, title=title)
    return found


def _total_words(s: ScopeForecast) -> str:
    f = s.forecast
    words = (
        f"*{usd(f.mtd)}* spent · forecast *{usd(f.point)}* by month end "
        f"({phrases.range_words(f.low, f.high)}, {f.coverage:.0%} range) · "
        f"{usd(f.run_rate)}/day"
    )
    if s.budget is not None:
        icon = ":white_check_mark:" if f.point <= s.budget else ":warning:"
        words += f"\nBudget {usd(s.budget)}: {icon} {s.verdict()}"
    return words


def _budgets(data: HomeData) -> list[Block]:
    found = [header("Budgets and forecasts")]
    lines = [phrases.budget_line(b) for b in data.budgets]
    budgeted = {describe_budget(b.budget) for b in data.budgets}
    scopes = data.outlook.scopes[1:] if data.outlook else ()
    lines += [phrases.forecast_line(s) for s in scopes if s.scope not in budgeted]
    if not lines:
        return [*found, section("No budgets set: add a `[[budgets]]` entry to aispend.toml.")]
    return found + sections(lines, most_lines=LIST_LINES, more=phrases.and_more("budgets"))


def _incidents(data: HomeData) -> list[Block]:
    found = [header("Open alerts")]
    if not data.incidents:
        return [*found, section(":white_check_mark: No open alerts.")]
    lines = [
        phrases.incident_line(
            i,
            url=data.incident_urls.get(i.id),
            unacknowledged=i.id in data.unacknowledged,
            width=140,
        )
        for i in data.incidents
    ]
    return found + sections(lines, most_lines=LIST_LINES, more=phrases.and_more("alerts"))


def _sources(data: HomeData) -> list[Block]:
    found = [header("Sources")]
    if not data.sources:
        return [*found, section("No source has been collected yet.")]
    ordered = sorted(data.sources, key=lambda s: (s.consecutive_failures == 0, s.source))
    lines = [phrases.source_line(s, data.now) for s in ordered]
    found += sections(lines, most_lines=LIST_LINES, more=phrases.and_more("sources"))
    if data.runways:
        credit = [phrases.runway_line(r) for r in data.runways]
        found += sections(credit, most_lines=10, title="*Prepaid credit*")
    return found
