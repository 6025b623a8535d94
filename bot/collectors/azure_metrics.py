"""Azure Monitor's token metrics (Metrics - List, provider reference section 5.6): the tokens an
account's deployments served per model and day, and the part of them its provisioned (PTU)
deployments served, over which provisioned.py spreads the PTU cost. Pure; raises only
CollectorDataError.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.collectors.azure_costs import PROVIDER, Resource, usage_day
from bot.collectors.payloads import validated
from bot.collectors.provisioned import Served
from bot.domain import CostLine

TOKEN_METRICS = {"ProcessedPromptTokens": "in", "GeneratedTokens": "out"}


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _MetricName(_Shape):
    value: str


class _MetadataValue(_Shape):
    name: _MetricName
    value: str | None = None


class _Point(_Shape):
    timeStamp: str
    total: float | None = None


class _Series(_Shape):
    metadatavalues: list[_MetadataValue] = []
    data: list[_Point] = []


class _Metric(_Shape):
    name: _MetricName
    timeseries: list[_Series] = []


class _MetricsAnswer(_Shape):
    value: list[_Metric]


def parse_metrics(payload: dict[str, Any], resource: Resource) -> list[Served]:
    """Azure Monitor's daily token totals of one account (Metrics - List, interval P1D, split
    by ModelName) as tokens served per model and day; ProcessedPromptTokens are input and
    GeneratedTokens output (UNVERIFIED that every deployment type reports both)."""
    answer = validated(_MetricsAnswer, payload, provider=PROVIDER, what="metrics")
    totals: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0])
    for metric in answer.value:
        side = TOKEN_METRICS.get(metric.name.value)
        if side is None:
            continue
        for series in metric.timeseries:
            model = next(
                (
                    m.value or ""
                    for m in series.metadatavalues
                    if m.name.value.lower() == "modelname"
                ),
                "",
            )
            for point in series.data:
                if point.total:
                    totals[(usage_day(point.timeStamp), model)][side == "out"] += int(point.total)
    return [
        Served(day, resource.group, resource.account, model, tin, tout)
        for (day, model), (tin, tout) in sorted(totals.items())
    ]


def provisioned_share(served: Sequence[Served], lines: Sequence[CostLine]) -> list[Served]:
    """What the provisioned deployments served: the account's metered tokens per model and day
    less the tokens billed pay-as-you-go on the same account, model and day (never below 0)."""
    billed: dict[tuple[datetime, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        if line.service_tier != "provisioned":
            key = (line.bucket_start, line.project, line.api_key, line.model)
            billed[key][0] += line.tokens_in
            billed[key][1] += line.tokens_out
    out = []
    for s in served:
        paid_in, paid_out = billed.get((s.day, s.project, s.account, s.model), (0, 0))
        out.append(
            replace(
                s,
                tokens_in=max(0, s.tokens_in - paid_in),
                tokens_out=max(0, s.tokens_out - paid_out),
            )
        )
    return out
