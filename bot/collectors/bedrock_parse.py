"""Cost Explorer GetCostAndUsage pages as Bedrock cost lines. Pure; raises only
CollectorDataError.

Two groupings are pulled (Cost Explorer allows two GroupBy entries per request): SERVICE x
USAGE_TYPE gives the model, the token kind, tier and batch of every dollar; SERVICE x TAG gives
each tag value's (team's, or application inference profile's) dollars per service and day.
`split_by_tag` joins them: each usage line of a (day, service) is shared among that service's
tag values in proportion to their dollars, exactly (the remainder goes to the largest share),
so a team's daily total per model is what Cost Explorer says and only its mix of token kinds
within that model is proportional.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.clock import utc_midnight
from bot.collectors.bedrock_usage import TokenKind, decode_usage_type, service_model
from bot.collectors.payloads import decimal_field, validated
from bot.domain import CostLine
from bot.errors import CollectorDataError
from bot.money import SCALE

PROVIDER = "bedrock"
SOURCE = "bedrock.ce"
QUANTITY = "UsageQuantity"
_QUANTUM = Decimal(1).scaleb(-SCALE)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Metric(_Shape):
    Amount: str
    Unit: str = ""


class _Group(_Shape):
    Keys: list[str]
    Metrics: dict[str, _Metric]


class _Period(_Shape):
    Start: date
    End: date


class _Result(_Shape):
    TimePeriod: _Period
    Groups: list[_Group] = []
    Estimated: bool = False


class _Page(_Shape):
    ResultsByTime: list[_Result] = []
    NextPageToken: str | None = None


class _DimensionValue(_Shape):
    Value: str


class _DimensionPage(_Shape):
    DimensionValues: list[_DimensionValue] = []


@dataclass(frozen=True, slots=True)
class TagCost:
    """One tag value's dollars for a service on a day ("" = untagged)."""

    day: date
    service: str
    value: str
    cost: Decimal


def parse_usage_page(payload: dict[str, Any], metric: str) -> list[tuple[str, CostLine]]:
    """One SERVICE x USAGE_TYPE page as billed daily lines, each with its SERVICE."""
    page = validated(_Page, payload, provider=PROVIDER, what="GetCostAndUsage page")
    return [
        _usage_line(result.TimePeriod, group, metric)
        for result in page.ResultsByTime
        for group in result.Groups
    ]


def parse_tag_page(payload: dict[str, Any], metric: str, tag_key: str) -> list[TagCost]:
    """One SERVICE x TAG page as dollars per tag value. Keys come back as "key$value"."""
    page = validated(_Page, payload, provider=PROVIDER, what="GetCostAndUsage tag page")
    costs = []
    for result in page.ResultsByTime:
        for group in result.Groups:
            service, tagged = _keys(group, 2)
            key, dollar, value = tagged.partition("$")
            if not dollar or key != tag_key:
                raise CollectorDataError(PROVIDER, f"group key {tagged!r} is not {tag_key}$VALUE")
            costs.append(TagCost(result.TimePeriod.Start, service, value, _cost(group, metric)[0]))
    return costs


def parse_services(payload: dict[str, Any]) -> list[str]:
    """The SERVICE values of a GetDimensionValues page."""
    page = validated(_DimensionPage, payload, provider=PROVIDER, what="GetDimensionValues page")
    return [value.Value for value in page.DimensionValues]


def _keys(group: _Group, count: int) -> list[str]:
    if len(group.Keys) != count:
        raise CollectorDataError(PROVIDER, f"a group has {len(group.Keys)} keys, not {count}")
    return group.Keys


def _decimal(amount: str, where: str) -> Decimal:
    return decimal_field(amount, provider=PROVIDER, where=where)


def _cost(group: _Group, metric: str) -> tuple[Decimal, str]:
    found = group.Metrics.get(metric)
    if found is None:
        raise CollectorDataError(PROVIDER, f"a group lacks the metric {metric}")
    return _decimal(found.Amount, f"{metric}.Amount"), found.Unit or "USD"


def _usage_line(period: _Period, group: _Group, metric: str) -> tuple[str, CostLine]:
    service, usage_type = _keys(group, 2)
    decoded = decode_usage_type(usage_type)
    cost, unit = _cost(group, metric)
    quantity = group.Metrics.get(QUANTITY)
    count = 0
    if quantity is not None and decoded.kind is not None:
        tokens = _decimal(quantity.Amount, f"{QUANTITY}.Amount") * decoded.scale
        count = int(tokens.to_integral_value())
    kind = decoded.kind
    return service, CostLine(
        source=SOURCE,
        provider=PROVIDER,
        bucket_start=utc_midnight(period.Start),
        bucket_hours=24,
        model=service_model(service) or decoded.model,
        service_tier=decoded.tier,
        batch=decoded.batch,
        line_item=usage_type,
        tokens_in=count
        if kind in (TokenKind.INPUT, TokenKind.CACHE_READ, TokenKind.CACHE_WRITE)
        else 0,
        tokens_out=count if kind is TokenKind.OUTPUT else 0,
        cache_read_tokens=count if kind is TokenKind.CACHE_READ else 0,
        cache_write_tokens=count if kind is TokenKind.CACHE_WRITE else 0,
        cost=cost,
        currency=unit.upper(),
        estimated=False,
    )


def split_by_tag(usage: Sequence[tuple[str, CostLine]], tags: Sequence[TagCost]) -> list[CostLine]:
    """Usage lines (each with its service) shared among the tag values of its (day, service),
    `project` set to the tag value. Lines of a (day, service) with no tagged dollars, or with
    a single tag value, are not split."""
    shares: dict[tuple[date, str], dict[str, Decimal]] = defaultdict(dict)
    for tag in tags:
        bucket = shares[(tag.day, tag.service)]
        bucket[tag.value] = bucket.get(tag.value, Decimal(0)) + tag.cost
    lines: list[CostLine] = []
    for service, line in usage:
        weights = shares.get((line.bucket_start.date(), service), {})
        lines.extend(_shared(line, weights))
    return merged(lines)


def _shared(line: CostLine, weights: dict[str, Decimal]) -> list[CostLine]:
    positive = {value: w for value, w in weights.items() if w > 0}
    total = sum(positive.values(), Decimal(0))
    if not positive or total <= 0:
        return [line]
    if len(positive) == 1:
        return [dataclasses.replace(line, project=next(iter(positive)))]
    order = sorted(positive, key=lambda v: (-positive[v], v))
    largest, rest = order[0], order[1:]
    parts = {v: _part(line, positive[v] / total) for v in rest}
    parts[largest] = _remainder(line, list(parts.values()))
    return [dataclasses.replace(parts[v], project=v) for v in order]


_COUNTS = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens", "requests")


def _part(line: CostLine, share: Decimal) -> CostLine:
    cost = None if line.cost is None else (line.cost * share).quantize(_QUANTUM)
    counts: dict[str, Any] = {f: int(getattr(line, f) * share) for f in _COUNTS}
    return dataclasses.replace(line, cost=cost, **counts)


def _remainder(line: CostLine, parts: list[CostLine]) -> CostLine:
    cost = line.cost
    if cost is not None:
        cost -= sum((p.cost or Decimal(0) for p in parts), Decimal(0))
    counts: dict[str, Any] = {
        f: getattr(line, f) - sum(getattr(p, f) for p in parts) for f in _COUNTS
    }
    return dataclasses.replace(line, cost=cost, **counts)


def _natural_key(line: CostLine) -> tuple[Any, ...]:
    return (
        line.source,
        line.bucket_start,
        line.bucket_hours,
        line.project,
        line.api_key,
        line.model,
        line.service_tier,
        line.batch,
        line.line_item,
    )


def merged(lines: Iterable[CostLine]) -> list[CostLine]:
    """Lines with the same natural key summed into one (two services can share a marketplace
    usage type name; the store's upsert needs each key once)."""
    by_key: dict[tuple[Any, ...], CostLine] = {}
    for line in lines:
        key = _natural_key(line)
        seen = by_key.get(key)
        by_key[key] = line if seen is None else _sum(seen, line)
    return list(by_key.values())


def _sum(a: CostLine, b: CostLine) -> CostLine:
    cost = None
    if a.cost is not None or b.cost is not None:
        cost = (a.cost or Decimal(0)) + (b.cost or Decimal(0))
    counts: dict[str, Any] = {f: getattr(a, f) + getattr(b, f) for f in _COUNTS}
    return dataclasses.replace(a, cost=cost, **counts)
