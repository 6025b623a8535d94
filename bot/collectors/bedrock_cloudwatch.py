"""Fresher Bedrock token counts from CloudWatch (namespace AWS/Bedrock, per ModelId, hourly
sums), for the days Cost Explorer has not billed yet. Lines are estimated and unpriced here;
the store prices them with bot/pricing.py until the day's billed cost lands.

ListMetrics finds the ModelIds that published InputTokenCount; GetMetricData asks for five
metrics per model (500 queries per request at most), paged by NextToken. Metric names follow
provider reference section 3.2; whether InputTokenCount excludes cached tokens is UNVERIFIED
(taken here as uncached, Anthropic's convention, so tokens_in = input + cache read + write).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from bot.collectors.bedrock_parse import PROVIDER
from bot.collectors.payloads import validated
from bot.domain import CostLine
from bot.errors import CollectorDataError

if TYPE_CHECKING:
    from bot.collectors.aws import AwsCalls

SOURCE = "bedrock.cloudwatch"
NAMESPACE = "AWS/Bedrock"
PERIOD = 3600
QUERIES_PER_REQUEST = 500  # GetMetricData's documented maximum
FRESH_DAYS = 2  # Cost Explorer lags about a day: estimate today and yesterday
METRICS = (
    "Invocations",
    "InputTokenCount",
    "OutputTokenCount",
    "CacheReadInputTokenCount",
    "CacheWriteInputTokenCount",
)
_HOUR = timedelta(hours=1)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Dimension(_Shape):
    Name: str
    Value: str


class _Metric(_Shape):
    Dimensions: list[_Dimension] = []


class _MetricsPage(_Shape):
    Metrics: list[_Metric] = []


class _Result(_Shape):
    Id: str
    Timestamps: list[datetime] = []
    Values: list[float] = []


class _DataPage(_Shape):
    MetricDataResults: list[_Result] = []


@dataclass(frozen=True, slots=True)
class Query:
    id: str
    model: str
    metric: str


def parse_model_ids(payload: dict[str, Any]) -> list[str]:
    """The ModelIds of a ListMetrics page (metrics with ModelId as their only dimension)."""
    page = validated(_MetricsPage, payload, provider=PROVIDER, what="ListMetrics page")
    return [
        m.Dimensions[0].Value
        for m in page.Metrics
        if len(m.Dimensions) == 1 and m.Dimensions[0].Name == "ModelId"
    ]


def queries_for(models: list[str]) -> list[Query]:
    return [
        Query(f"m{index}_{number}", model, metric)
        for index, model in enumerate(models)
        for number, metric in enumerate(METRICS)
    ]


def parse_metric_data(
    payloads: list[dict[str, Any]], queries: list[Query], *, region: str = ""
) -> list[CostLine]:
    """GetMetricData pages as one estimated, unpriced line per model and hour."""
    by_id = {q.id: q for q in queries}
    sums: dict[tuple[str, datetime], dict[str, int]] = defaultdict(dict)
    for payload in payloads:
        page = validated(_DataPage, payload, provider=PROVIDER, what="GetMetricData page")
        for result in page.MetricDataResults:
            query = by_id.get(result.Id)
            if query is None:
                raise CollectorDataError(
                    PROVIDER, f"GetMetricData answered unknown id {result.Id!r}"
                )
            if len(result.Timestamps) != len(result.Values):
                raise CollectorDataError(PROVIDER, f"{result.Id}: Timestamps and Values differ")
            for at, value in zip(result.Timestamps, result.Values, strict=True):
                hour = _hour(at)
                counts = sums[(query.model, hour)]
                counts[query.metric] = counts.get(query.metric, 0) + round(value)
    return [_line(model, hour, counts, region) for (model, hour), counts in sorted(sums.items())]


def _hour(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise CollectorDataError(PROVIDER, "a CloudWatch timestamp has no time zone")
    utc = at.astimezone(UTC)
    return utc.replace(minute=0, second=0, microsecond=0)


def _line(model: str, hour: datetime, counts: dict[str, int], region: str) -> CostLine:
    read = counts.get("CacheReadInputTokenCount", 0)
    write = counts.get("CacheWriteInputTokenCount", 0)
    return CostLine(
        source=SOURCE,
        provider=PROVIDER,
        bucket_start=hour,
        bucket_hours=1,
        model=model,
        line_item=region,
        tokens_in=counts.get("InputTokenCount", 0) + read + write,
        tokens_out=counts.get("OutputTokenCount", 0),
        cache_read_tokens=read,
        cache_write_tokens=write,
        requests=counts.get("Invocations", 0),
        cost=None,
        estimated=True,
    )


def fresh_span(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime] | None:
    """The whole hours of [start, end) within the last FRESH_DAYS days before `now`."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first, last = max(start, hour - timedelta(days=FRESH_DAYS)), min(end, hour)
    return (first, last) if first < last else None


@dataclass
class CloudWatchTokens:
    """One region's Bedrock token metrics through a CloudWatch client."""

    calls: AwsCalls
    region: str

    def lines(self, start: datetime, end: datetime) -> list[CostLine]:
        listed = self.calls.pages(
            "ListMetrics",
            {"Namespace": NAMESPACE, "MetricName": "InputTokenCount"},
            token="NextToken",
        )
        models = sorted({m for page in listed for m in parse_model_ids(page)})
        queries = queries_for(models)
        pages = [page for chunk in _chunks(queries) for page in self._data(chunk, start, end)]
        return parse_metric_data(pages, queries, region=self.region)

    def _data(
        self, queries: list[Query], start: datetime, end: datetime
    ) -> Iterator[dict[str, Any]]:
        request = {
            "MetricDataQueries": [_query(q) for q in queries],
            "StartTime": start,
            "EndTime": end,
        }
        return self.calls.pages("GetMetricData", request, token="NextToken")


def _query(query: Query) -> dict[str, Any]:
    metric = {
        "Namespace": NAMESPACE,
        "MetricName": query.metric,
        "Dimensions": [{"Name": "ModelId", "Value": query.model}],
    }
    return {"Id": query.id, "MetricStat": {"Metric": metric, "Period": PERIOD, "Stat": "Sum"}}


def _chunks(queries: list[Query]) -> Iterator[list[Query]]:
    for first in range(0, len(queries), QUERIES_PER_REQUEST):
        yield queries[first : first + QUERIES_PER_REQUEST]
