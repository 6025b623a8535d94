"""Bedrock token estimates from CloudWatch: the pure parser, and the collector talking real
boto3 to the CloudWatch and Cost Explorer stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from bot.clock import FixedClock
from bot.collectors import build_collectors
from bot.collectors.base import Window
from bot.collectors.bedrock import (
    BedrockAccess,
    BedrockWithCloudWatch,
    PullCache,
    bedrock_collector,
)
from bot.collectors.bedrock_cloudwatch import (
    SOURCE,
    Query,
    fresh_span,
    parse_metric_data,
    queries_for,
)
from bot.collectors.http import make_http_client
from bot.config import Settings
from bot.domain import CostLine, DateRange, Origin, SpendQuery
from bot.errors import CollectorDataError
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.bedrock import Row, cost_explorer_routes, marketplace_usage_type
from bot.standins.cloudwatch import cloudwatch_routes, throttled
from bot.standins.server import StandIn, running
from bot.store.attribution import Attribution
from bot.store.queries import spend

KEY_ID = "AKIAEXAMPLECLOUDWATCH"
SECRET = "cloudwatch-example-secret"
REGION = "eu-central-1"
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TODAY = date(2026, 11, 22)
MIDNIGHT = datetime(2026, 11, 22, tzinfo=UTC)
NOW = MIDNIGHT + timedelta(hours=15, minutes=30)


def _hourly(hour: int, model: str = MODEL) -> CostLine:
    return CostLine(
        source="bedrock.usage",
        provider="bedrock",
        bucket_start=MIDNIGHT + timedelta(hours=hour),
        bucket_hours=1,
        model=model,
        tokens_in=10_000 + hour,
        tokens_out=500,
        cache_read_tokens=6_000,
        cache_write_tokens=1_000,
        requests=7,
        estimated=True,
    )


HOURLY = [_hourly(h) for h in range(15)] + [_hourly(h, "amazon.nova-pro-v1:0") for h in (3, 9)]


def test_pages_merge_into_one_line_per_model_and_hour_with_cache_inside_input():
    queries = [Query("a", MODEL, "InputTokenCount"), Query("b", MODEL, "CacheReadInputTokenCount")]
    hour = int(MIDNIGHT.timestamp())
    pages = [
        {"MetricDataResults": [{"Id": "a", "Timestamps": [hour], "Values": [100.0]}]},
        {"MetricDataResults": [{"Id": "b", "Timestamps": [hour], "Values": [40.0]}]},
    ]
    (line,) = parse_metric_data(pages, queries, region=REGION)
    assert (line.tokens_in, line.cache_read_tokens) == (140, 40)
    assert (line.source, line.bucket_start, line.bucket_hours) == (SOURCE, MIDNIGHT, 1)
    assert (line.estimated, line.cost, line.line_item) == (True, None, REGION)


@pytest.mark.parametrize(
    ("result", "named"),
    [
        ({"Id": "zz", "Timestamps": [], "Values": []}, "unknown id 'zz'"),
        ({"Id": "a", "Timestamps": [0], "Values": []}, "Timestamps and Values differ"),
        ({"Id": "a", "Timestamps": ["soon"], "Values": [1.0]}, "Timestamps"),
    ],
)
def test_a_result_not_in_the_documented_shape_is_a_data_error(result, named):
    with pytest.raises(CollectorDataError, match=named):
        parse_metric_data([{"MetricDataResults": [result]}], [Query("a", MODEL, "Invocations")])


def test_the_fresh_span_is_the_last_two_days_of_whole_hours_before_now():
    start, end = MIDNIGHT - timedelta(days=5), MIDNIGHT + timedelta(days=1)
    assert fresh_span(start, end, NOW) == (
        MIDNIGHT + timedelta(hours=15) - timedelta(days=2),
        MIDNIGHT + timedelta(hours=15),
    )
    assert fresh_span(start, MIDNIGHT - timedelta(days=3), NOW) is None


def test_each_model_asks_for_five_metrics():
    assert len(queries_for(["a", "b"])) == 10


@pytest.fixture
def aws() -> Iterator[tuple[StandIn, StandIn]]:
    rows = [
        Row(
            TODAY - timedelta(days=1),
            "Claude Sonnet 4.5 (Amazon Bedrock Edition)",
            marketplace_usage_type("InputTokenCount"),
            "growth",
            Decimal(12),
            Decimal(4),
        ),
    ]
    ce_routes = cost_explorer_routes(access_key_id=KEY_ID, secret_access_key=SECRET, rows=rows)
    cw_routes = cloudwatch_routes(
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        region=REGION,
        lines=HOURLY,
        metrics_per_page=1,
        points_per_page=7,
    )
    with running(ce_routes) as ce, running(cw_routes) as cw:
        yield ce, cw


def _access(ce: StandIn, cw: StandIn) -> BedrockAccess:
    return BedrockAccess(SecretStr(KEY_ID), SecretStr(SECRET), ce.url, (REGION,), cw.url)


def _sums(lines: list[CostLine]) -> tuple[int, int, int, int]:
    return (
        sum(x.tokens_in for x in lines),
        sum(x.cache_read_tokens for x in lines),
        sum(x.tokens_out for x in lines),
        sum(x.requests for x in lines),
    )


def test_collect_adds_hourly_token_lines_per_model_from_cloudwatch(aws):
    ce, cw = aws
    collector = bedrock_collector(_access(ce, cw), cache=PullCache(), now=lambda: NOW)
    assert isinstance(collector, BedrockWithCloudWatch)
    assert collector.sources == ("bedrock.ce", SOURCE)
    lines = collector.collect(MIDNIGHT - timedelta(days=3), MIDNIGHT + timedelta(days=1))
    billed = [x for x in lines if x.source == "bedrock.ce"]
    hourly = [x for x in lines if x.source == SOURCE]
    assert sum(x.cost or 0 for x in billed) == 12
    assert len(hourly) == len(HOURLY)
    assert _sums(hourly) == _sums(HOURLY)
    assert {x.model for x in hourly} == {MODEL, "amazon.nova-pro-v1:0"}
    targets = [(r.header("X-Amz-Target") or "").split(".")[-1] for r in cw.requests]
    # 2 models listed one a page; (15 + 2) hours x 5 metrics = 85 datapoints, 7 a page
    assert targets == ["ListMetrics"] * 2 + ["GetMetricData"] * 13
    assert collector.requests == len(ce.requests) + len(cw.requests)
    assert all(
        f"/{REGION}/monitoring/aws4_request" in (r.header("Authorization") or "")
        for r in cw.requests
    )


def test_cloudwatch_throttling_is_retried(aws):
    ce, cw = aws
    cw.inject(throttled())
    collector = bedrock_collector(_access(ce, cw), cache=PullCache(), now=lambda: NOW)
    lines = collector.collect(MIDNIGHT, MIDNIGHT + timedelta(days=1))
    assert _sums([x for x in lines if x.source == SOURCE]) == _sums(HOURLY)
    assert len(cw.requests) == 1 + 2 + 13  # the throttled one, then every page


def test_stored_as_priced_estimates_for_today(aws, engine):
    ce, cw = aws
    collector = bedrock_collector(_access(ce, cw), cache=PullCache(), now=lambda: NOW)
    context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(NOW))
    window = Window(MIDNIGHT - timedelta(days=2), MIDNIGHT + timedelta(days=1))
    (outcome,) = collect_all(context, [collector], window)
    assert outcome.ok
    today = DateRange(TODAY, TODAY + timedelta(days=1))
    with engine.connect() as connection:
        estimated = spend(connection, SpendQuery(today, origin=Origin.ESTIMATED)).total
        billed = spend(connection, SpendQuery(today, origin=Origin.BILLED)).total
    assert billed == 0
    assert estimated > 0


def test_the_registry_reads_cloudwatch_regions_from_settings(aws):
    ce, cw = aws
    settings = Settings(
        bedrock_access_key_id=SecretStr(KEY_ID),
        bedrock_secret_access_key=SecretStr(SECRET),
        bedrock_cost_explorer_url=ce.url,
        bedrock_cloudwatch_regions=f" {REGION} ,",
        bedrock_cloudwatch_url=cw.url,
        bedrock_models_region="",
    )
    with make_http_client() as http:
        (collector,) = build_collectors(settings, http, only="bedrock")
    assert isinstance(collector, BedrockWithCloudWatch)
    assert [c.region for c in collector.cloudwatch] == [REGION]
