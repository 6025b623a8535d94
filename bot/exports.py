"""Spend exports for finance: a month's spend as CSV by team or cost center, or in the FinOps
FOCUS layout (FOCUS 1.0 column names) that cost tools load as they are. Pure: the callers read
the daily usage (`queries.daily_usage` with `EXPORT_QUERY_DIMENSIONS`) and the names, and
upload or print what is built here.

Costs are exact decimal strings, never floats or rounded cents, so the rows sum to the same
total `aispend report` shows. Feature is not a column: only request events carry it, and asking
for it would read reported events instead of billed cost."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from bot.config import TeamFile
from bot.domain import DateRange, Dimension, SpendQuery
from bot.errors import UsageError
from bot.providers import PROVIDERS
from bot.slack.commands import Verb, parse_command
from bot.slack.periods import DEFAULT_PERIOD, PeriodKind, PeriodSpec
from bot.slack.suggest import closest, unknown
from bot.store.queries import DailyUsage

ExportBy = Literal["team", "cost-center"]
NONE = "(none)"  # a team with no cost center, or spend no team owns
EXPORT_PERIOD = PeriodSpec(PeriodKind.LAST_MONTH)
# the order of the keys of `queries.daily_usage` for an export
EXPORT_DIMENSIONS = (Dimension.TEAM, Dimension.PROVIDER, Dimension.MODEL, Dimension.PROJECT)

SPEND_COLUMNS = (
    "period_start",
    "period_end",
    "provider",
    "model",
    "cost_usd",
    "requests",
    "tokens_in",
    "tokens_out",
)
# FOCUS 1.0 column names (FinOps Open Cost and Usage Specification), in the spec's
# alphabetical order; the columns we have no figure for (commitment discounts, regions, SKUs,
# billing accounts) are left out rather than filled with made-up values.
FOCUS_COLUMNS = (
    "BilledCost",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ServiceCategory",
    "ServiceName",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One day's usage of one model, in one project, by one team."""

    day: date
    team: str
    provider: str
    model: str
    project: str
    cost: Decimal
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_center: str = ""
    project_name: str = ""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What `export` was asked for: the period, the grouping and the layout."""

    period: PeriodSpec = EXPORT_PERIOD
    by: ExportBy = "team"
    focus: bool = False

    @property
    def kind(self) -> str:
        return "focus" if self.focus else f"by-{self.by}"


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    title: str
    content: str
    rows: int
    total: Decimal


_COST_CENTER = re.compile(r"\bcost[\s_-]*cent(?:er|re)s?\b", re.IGNORECASE)
_ARGS = ("focus", "cost-center")


def parse_export(text: str) -> ExportRequest:
    """`export [focus] [PERIOD] [by team|by cost center]`, with or without the verb; the period
    defaults to last month. Raises UsageError for anything else."""
    words = _COST_CENTER.sub("cost-center", text).split()
    if words[:1] and words[0].lower() == Verb.EXPORT.value:
        words = words[1:]
    rest = re.sub(r"\bby\s+cost-center\b", "cost-center", " ".join(words), flags=re.IGNORECASE)
    command = parse_command(f"{Verb.EXPORT.value} {rest}")
    if command.filters:
        raise UsageError("export takes no filters: it holds every team; filter in the sheet")
    if command.group_by not in ((), (Dimension.TEAM,)):
        by = ", ".join(d.value for d in command.group_by)
        raise UsageError(f'export goes by team or by cost center, not by "{by}"')
    args = [a.lower() for a in command.args]
    for arg in args:
        if arg not in _ARGS:
            guess = closest(arg, _ARGS)
            raise UsageError(unknown("export option", arg, guess), suggestion=guess)
    typed_week = any(w.lower() == "week" for w in words)
    period = command.period if command.period != DEFAULT_PERIOD or typed_week else EXPORT_PERIOD
    return ExportRequest(
        period, "cost-center" if "cost-center" in args else "team", "focus" in args
    )


def export_query(period: DateRange) -> SpendQuery:
    """The daily usage an export reads: the counted origin per provider and day, as every
    report does."""
    return SpendQuery(period=period, group_by=EXPORT_DIMENSIONS)


def export_rows(
    usage: Mapping[tuple[str, ...], Mapping[date, DailyUsage]],
    team_file: TeamFile,
    names: Mapping[tuple[str, str], str] | None = None,
) -> list[ExportRow]:
    """`queries.daily_usage(connection, export_query(period))` as rows, with each team's cost
    center from aispend.toml and each project's provider name."""
    centers = {t.id: t.cost_center for t in team_file.teams}
    names = names or {}
    rows = [
        ExportRow(
            day=day,
            team=team,
            provider=provider,
            model=model,
            project=project,
            cost=measures.cost,
            requests=measures.requests,
            tokens_in=measures.tokens_in,
            tokens_out=measures.tokens_out,
            cost_center=centers.get(team, ""),
            project_name=names.get((Dimension.PROJECT.column, project), "") if project else "",
        )
        for (team, provider, model, project), days in usage.items()
        for day, measures in days.items()
        if measures.cost or measures.requests or measures.tokens_in or measures.tokens_out
    ]
    rows.sort(key=lambda r: (r.day, r.team, r.provider, r.model, r.project))
    return rows


def spend_csv(rows: Iterable[ExportRow], period: DateRange, by: ExportBy) -> str:
    """One line per team (or cost center), provider and model over the period, largest group
    first; exact costs."""
    groups: dict[tuple[str, str, str], list[ExportRow]] = {}
    for row in rows:
        owner = row.team if by == "team" else row.cost_center
        groups.setdefault((owner or NONE, row.provider, row.model), []).append(row)
    owner_total: dict[str, Decimal] = {}
    for (owner, _, _), members in groups.items():
        owner_total[owner] = owner_total.get(owner, Decimal(0)) + sum(
            (r.cost for r in members), Decimal(0)
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([by.replace("-", "_"), *SPEND_COLUMNS])
    for owner, provider, model in sorted(groups, key=lambda k: (-owner_total[k[0]], k)):
        members = groups[(owner, provider, model)]
        writer.writerow(
            [
                owner,
                period.start.isoformat(),
                period.end.isoformat(),
                provider,
                model,
                _decimal(sum((r.cost for r in members), Decimal(0))),
                sum(r.requests for r in members),
                sum(r.tokens_in for r in members),
                sum(r.tokens_out for r in members),
            ]
        )
    return buffer.getvalue()


def focus_csv(rows: Iterable[ExportRow], period: DateRange) -> str:
    """FOCUS rows: one per day, provider, model, project and team, each a usage charge whose
    charge period is that UTC day and whose billing period is the export's period."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        provider = PROVIDERS[row.provider].name if row.provider in PROVIDERS else row.provider
        cost = _decimal(row.cost)
        tags = {"team": row.team, "cost_center": row.cost_center}
        resource = row.project or row.model
        writer.writerow(
            {
                "BilledCost": cost,
                "BillingCurrency": "USD",
                "BillingPeriodEnd": _utc(period.end),
                "BillingPeriodStart": _utc(period.start),
                "ChargeCategory": "Usage",
                "ChargeClass": "",  # null: not a correction of an earlier period
                "ChargeDescription": _description(row),
                "ChargeFrequency": "Usage-Based",
                "ChargePeriodEnd": _utc(row.day + timedelta(days=1)),
                "ChargePeriodStart": _utc(row.day),
                "ConsumedQuantity": row.tokens_in + row.tokens_out,
                "ConsumedUnit": "Tokens",
                "ContractedCost": cost,
                "EffectiveCost": cost,
                "InvoiceIssuerName": provider,
                "ListCost": cost,
                "ProviderName": provider,
                "PublisherName": provider,
                "ResourceId": resource,
                "ResourceName": row.project_name or resource,
                "ServiceCategory": "AI and Machine Learning",
                "ServiceName": f"{provider} API",
                "SubAccountId": row.project,
                "SubAccountName": row.project_name or row.project,
                "Tags": json.dumps(
                    {k: v for k, v in tags.items() if v}, sort_keys=True, separators=(",", ":")
                ),
            }
        )
    return buffer.getvalue()


def build_export(rows: list[ExportRow], period: DateRange, request: ExportRequest) -> Export:
    """The file to upload or print."""
    content = focus_csv(rows, period) if request.focus else spend_csv(rows, period, request.by)
    label = request.period.label()
    last = period.end - timedelta(days=1)
    span = f"{period.start.isoformat()}_{last.isoformat()}"
    if request.focus:
        filename, title = f"aispend-focus-{span}.csv", f"AI spend, {label} (FOCUS)"
    else:
        words = "team" if request.by == "team" else "cost center"
        filename, title = f"aispend-{request.kind}-{span}.csv", f"AI spend by {words}, {label}"
    total = sum((r.cost for r in rows), Decimal(0))
    lines = sum(1 for _ in csv.reader(io.StringIO(content))) - 1
    return Export(filename, title, content, lines, total)


def _description(row: ExportRow) -> str:
    words = f"{row.model or 'unknown model'} usage"
    if row.project:
        words += f" in project {row.project_name or row.project}"
    return words + (f", team {row.team}" if row.team else "")


def _decimal(amount: Decimal) -> str:
    """Fixed-point, never exponent form (Decimal('0E-10') would print as 0E-10)."""
    return format(amount, "f")


def _utc(day: date) -> str:
    """Midnight UTC of `day`, ISO 8601 with Z."""
    return f"{day.isoformat()}T00:00:00Z"
