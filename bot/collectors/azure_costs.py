"""The Cost Management query (provider reference section 5.2-5.3): the QueryDefinition the
Azure collector POSTs, and its QueryResult pages read into cost lines and resource tags.

One query asks for amortized cost and usage quantity per day, grouped by ResourceId and Meter,
filtered to Cognitive Services accounts (where Azure OpenAI lives); a second groups by
ResourceId and the team tag. Cost Management allows two groupings a query, and a ResourceId
names its resource group and account, so the two answer everything a grouping by resource
group, meter and tag would. Columns are read by name: their order is not fixed.

Each meter decodes into a model and token kind (azure_meters); the resource group is the
line's project, the account its api_key, and the team tag its label, which attribution rules
match. Pure; raises only CollectorDataError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.collectors.azure_meters import TokenKind, decode_meter
from bot.collectors.payloads import validated
from bot.domain import CostLine
from bot.errors import CollectorDataError
from bot.money import parse_amount

PROVIDER = "azure"
SOURCE = "azure.costs"
RESOURCE_TYPE = "microsoft.cognitiveservices/accounts"
COST_COLUMNS = ("CostUSD", "PreTaxCostUSD", "Cost", "PreTaxCost")  # first found is read
_USD_COLUMNS = frozenset({"CostUSD", "PreTaxCostUSD"})


def query_path(scope: str) -> str:
    return "/" + scope.strip("/") + "/providers/Microsoft.CostManagement/query"


def query_body(
    start: datetime, end: datetime, grouping: Sequence[Mapping[str, str]]
) -> dict[str, Any]:
    """A QueryDefinition for [start, end): amortized cost and quantity per day, grouped as
    asked, Cognitive Services accounts only. `to` is inclusive, so it is the last second."""
    return {
        "type": "AmortizedCost",
        "timeframe": "Custom",
        "timePeriod": {"from": iso(start), "to": iso(end - timedelta(seconds=1))},
        "dataset": {
            "granularity": "Daily",
            "aggregation": {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
            },
            "grouping": [dict(g) for g in grouping],
            "filter": {
                "dimensions": {"name": "ResourceType", "operator": "In", "values": [RESOURCE_TYPE]}
            },
        },
    }


COST_GROUPING = (
    {"type": "Dimension", "name": "ResourceId"},
    {"type": "Dimension", "name": "Meter"},
)


def tag_grouping(tag_key: str) -> tuple[dict[str, str], ...]:
    return ({"type": "Dimension", "name": "ResourceId"}, {"type": "TagKey", "name": tag_key})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- parsing ---------------------------------------------------------------------------------


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Column(_Shape):
    name: str
    type: str = ""


class _Properties(_Shape):
    columns: list[_Column] = []
    rows: list[list[Any]] = []
    nextLink: str | None = None


class _QueryResult(_Shape):
    properties: _Properties = _Properties()


@dataclass(frozen=True, slots=True)
class Resource:
    """What a ResourceId names (lower case, as Azure compares them)."""

    id: str
    group: str
    account: str


def parse_resource_id(resource_id: str) -> Resource:
    """The resource group and account of ".../resourcegroups/{rg}/providers/
    microsoft.cognitiveservices/accounts/{name}[/...]"; "" for what it does not name."""
    parts = [p for p in resource_id.lower().split("/") if p]
    group = _after(parts, "resourcegroups")
    account = _after(parts, "accounts") or (parts[-1] if group and len(parts) > 2 else "")
    return Resource(resource_id.lower(), group, account)


def _after(parts: list[str], word: str) -> str:
    return parts[parts.index(word) + 1] if word in parts[:-1] else ""


def next_link(payload: dict[str, Any]) -> str | None:
    properties = payload.get("properties")
    link = properties.get("nextLink") if isinstance(properties, dict) else None
    return link if isinstance(link, str) and link else None


def parse_costs_page(payload: dict[str, Any]) -> list[CostLine]:
    """One QueryResult page grouped by ResourceId and Meter as billed daily lines. Columns
    are found by name (their order is not fixed); cost is CostUSD where the page has it, else
    Cost in the page's Currency."""
    table = _table(payload, "costs page")
    if not table.rows:
        return []  # an empty answer (or a 204) may come without columns
    cost_column = next((c for c in COST_COLUMNS if c in table.index), None)
    if cost_column is None:
        raise CollectorDataError(PROVIDER, f"costs page: no cost column (one of {COST_COLUMNS})")
    for needed in ("UsageDate", "ResourceId", "Meter"):
        table.need(needed, "costs page")
    lines = [_cost_line(table, row, cost_column) for row in table.rows]
    return merge_lines(lines)


def parse_tags_page(payload: dict[str, Any], tag_key: str) -> dict[str, str]:
    """One QueryResult page grouped by ResourceId and a TagKey: each resource id's value of
    the tag (resources without it are left out). The tag's value is read from a TagValue
    column, or from a column named after the key (UNVERIFIED which the API sends)."""
    table = _table(payload, "tags page")
    if not table.rows:
        return {}
    table.need("ResourceId", "tags page")
    value_column = "TagValue" if "TagValue" in table.index else tag_key
    table.need(value_column, "tags page")
    tags: dict[str, str] = {}
    for row in table.rows:
        value = row[table.index[value_column]]
        if isinstance(value, str) and value.strip():
            resource = str(row[table.index["ResourceId"]] or "").lower()
            if resource:
                tags[resource] = value.strip()
    return tags


@dataclass(frozen=True)
class _Table:
    index: dict[str, int]
    rows: list[list[Any]]

    def need(self, column: str, what: str) -> None:
        if column not in self.index:
            raise CollectorDataError(PROVIDER, f"{what}: no {column!r} column")


def _table(payload: dict[str, Any], what: str) -> _Table:
    result = validated(_QueryResult, payload, provider=PROVIDER, what=what)
    index = {c.name: i for i, c in enumerate(result.properties.columns)}
    for number, row in enumerate(result.properties.rows):
        if len(row) != len(index):
            raise CollectorDataError(
                PROVIDER, f"{what}: row {number} has {len(row)} values for {len(index)} columns"
            )
    return _Table(index, result.properties.rows)


def _cost_line(table: _Table, row: list[Any], cost_column: str) -> CostLine:
    def value(name: str) -> Any:
        return row[table.index[name]] if name in table.index else None

    meter = decode_meter(str(value("Meter") or ""))
    resource = parse_resource_id(str(value("ResourceId") or ""))
    currency = "USD" if cost_column in _USD_COLUMNS else str(value("Currency") or "USD").upper()
    quantity = _number(value("UsageQuantity") or 0, "UsageQuantity")
    tokens = int(quantity * meter.tokens_per_unit) if meter.kind in _TOKEN_KINDS else 0
    return CostLine(
        source=SOURCE,
        provider=PROVIDER,
        bucket_start=usage_day(value("UsageDate")),
        project=resource.group,
        api_key=resource.account,
        model=meter.model,
        service_tier=meter.service_tier,
        batch=meter.batch,
        line_item=meter.name,
        tokens_in=tokens if meter.kind in (TokenKind.INPUT, TokenKind.CACHED_INPUT) else 0,
        tokens_out=tokens if meter.kind is TokenKind.OUTPUT else 0,
        cache_read_tokens=tokens if meter.kind is TokenKind.CACHED_INPUT else 0,
        cost=_number(value(cost_column), cost_column),
        currency=currency,
        estimated=False,
    )


_TOKEN_KINDS = frozenset({TokenKind.INPUT, TokenKind.CACHED_INPUT, TokenKind.OUTPUT})


def _number(raw: Any, column: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise CollectorDataError(PROVIDER, f"{column} is not a number")
    try:
        return parse_amount(raw)
    except ValueError as e:
        raise CollectorDataError(PROVIDER, f"{column} is not a number") from e


def usage_day(raw: Any) -> datetime:
    """UsageDate as the UTC midnight it starts: an integer yyyymmdd, or an ISO date string."""
    text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    try:
        if text.isdigit() and len(text) == 8:
            return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
        day = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise CollectorDataError(PROVIDER, f"UsageDate {text[:20]!r} is not a day") from e
    if day.tzinfo is not None:
        day = day.astimezone(UTC).replace(tzinfo=None)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def merge_lines(lines: Sequence[CostLine]) -> list[CostLine]:
    """Lines with the same natural key summed into one (Azure may spell one resource id in
    two cases across rows or pages)."""
    merged: dict[tuple[Any, ...], CostLine] = {}
    for line in lines:
        key = (
            line.source,
            line.bucket_start,
            line.project,
            line.api_key,
            line.model,
            line.service_tier,
            line.batch,
            line.line_item,
        )
        seen = merged.get(key)
        merged[key] = line if seen is None else _sum(seen, line)
    return list(merged.values())


def _sum(a: CostLine, b: CostLine) -> CostLine:
    cost = None if a.cost is None and b.cost is None else (a.cost or 0) + (b.cost or 0)
    return replace(
        a,
        tokens_in=a.tokens_in + b.tokens_in,
        tokens_out=a.tokens_out + b.tokens_out,
        cache_read_tokens=a.cache_read_tokens + b.cache_read_tokens,
        cost=None if cost is None else Decimal(cost),
    )


def labelled(
    lines: Sequence[CostLine], tags: Mapping[tuple[str, str], str], key: str
) -> list[CostLine]:
    """Each line with its resource's tag as label "key=value", where the resource has one."""
    out = []
    for line in lines:
        value = tags.get((line.project, line.api_key))
        out.append(replace(line, label=f"{key}={value}") if value else line)
    return out


def tags_by_account(tags: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Resource id -> tag value, as (resource group, account) -> tag value."""
    out = {}
    for resource_id, value in tags.items():
        resource = parse_resource_id(resource_id)
        out[(resource.group, resource.account)] = value
    return out
