"""AWS Bedrock spend from Cost Explorer (GetCostAndUsage, daily) through boto3.

Every Cost Explorer request is billed ($0.01, each page separately), so a pull is as few
requests as the answer allows: one GetDimensionValues to find the Bedrock services (Amazon
Bedrock and the marketplace "... (Amazon Bedrock Edition)" services of third-party models),
then SERVICE x USAGE_TYPE and, when a tag key is set, SERVICE x TAG, both filtered to those
services and to RECORD_TYPE Usage (no credits, refunds or tax). A window pulled within the
last `refresh` is answered from memory (PullCache) instead of being requested again.

With CloudWatch regions configured, the collector also reads hourly token counts per model
for today and yesterday (bedrock_cloudwatch.py): estimates until Cost Explorer bills the day.

Retries are boto3's own (standard mode, bot/collectors/aws.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr

from bot.collectors.aws import AwsCalls, PageHook, aws_client, aws_session
from bot.collectors.bedrock_cloudwatch import SOURCE as CLOUDWATCH_SOURCE
from bot.collectors.bedrock_cloudwatch import CloudWatchTokens, fresh_span
from bot.collectors.bedrock_models import named_by_id, parse_foundation_models
from bot.collectors.bedrock_parse import (
    PROVIDER,
    SOURCE,
    merged,
    parse_services,
    parse_tag_page,
    parse_usage_page,
    split_by_tag,
)
from bot.collectors.bedrock_usage import is_bedrock_service
from bot.config import Settings
from bot.domain import CostLine
from bot.errors import CollectorError, ConfigError

if TYPE_CHECKING:
    from boto3.session import Session

logger = logging.getLogger(__name__)

CE_REGION = "us-east-1"  # Cost Explorer's one endpoint
DEFAULT_METRIC = "UnblendedCost"
COST_METRICS = ("UnblendedCost", "NetUnblendedCost")
DEFAULT_TAG_KEY = "team"
DEFAULT_REFRESH = timedelta(hours=8)
SEARCH = "Bedrock"  # matches "Amazon Bedrock" and every "(Amazon Bedrock Edition)" service


@dataclass
class PullCache:
    """Lines of windows pulled recently, per process; keyed by everything that shapes the
    answer (the account's key id, the endpoint, the window, the tag key and the metric)."""

    entries: dict[tuple[str, ...], tuple[datetime, list[CostLine]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, ...], now: datetime, refresh: timedelta) -> list[CostLine] | None:
        with self.lock:
            found = self.entries.get(key)
        if found is None or now - found[0] >= refresh:
            return None
        return list(found[1])

    def put(self, key: tuple[str, ...], at: datetime, lines: list[CostLine]) -> None:
        with self.lock:
            self.entries[key] = (at, list(lines))


PROCESS_CACHE = PullCache()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BedrockOptions:
    tag_key: str = DEFAULT_TAG_KEY  # a cost allocation tag key; "" pulls no tag split
    metric: str = DEFAULT_METRIC
    refresh: timedelta = DEFAULT_REFRESH
    account: str = ""  # identifies the cache entries of one set of credentials and endpoint


class BedrockCollector:
    """Billed daily Bedrock spend by model, token kind, tier and tag value."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (SOURCE,)

    def __init__(
        self,
        ce: AwsCalls,
        options: BedrockOptions | None = None,
        *,
        cache: PullCache = PROCESS_CACHE,
        now: Callable[[], datetime] = _utc_now,
        models: AwsCalls | None = None,
    ) -> None:
        self.ce = ce
        self.models = models  # Bedrock's ListFoundationModels, to name models by id
        self.cloudwatch: tuple[CloudWatchTokens, ...] = ()
        self.options = options or BedrockOptions()
        if self.options.metric not in COST_METRICS:
            raise ValueError(f"metric must be one of {', '.join(COST_METRICS)}")
        self.cache = cache
        self.now = now

    @property
    def requests(self) -> int:
        calls = [self.ce, *(c.calls for c in self.cloudwatch)]
        if self.models is not None:
            calls.append(self.models)
        return sum(c.requests for c in calls)

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        """Every Bedrock line of the whole UTC days in [start, end)."""
        return self._billed(start, end)

    def _billed(self, start: datetime, end: datetime) -> list[CostLine]:
        period = _period(start, end)
        opts = self.options
        key = (opts.account, period["Start"], period["End"], opts.tag_key, opts.metric)
        cached = self.cache.get(key, self.now(), opts.refresh)
        if cached is not None:
            return cached
        pulled_at = self.now()
        lines = self._named(self._pull(period))
        self.cache.put(key, pulled_at, lines)
        return lines

    def _named(self, lines: list[CostLine]) -> list[CostLine]:
        """Lines named by model id where Bedrock lists one. Secondary: when the list cannot
        be had (no bedrock:ListFoundationModels permission), the names stay as billed."""
        if self.models is None or not lines:
            return lines
        try:
            ids = parse_foundation_models(self.models.call("ListFoundationModels", {}))
        except CollectorError as e:
            logger.warning("bedrock model names stay as billed: %s", e)
            return lines
        return merged(named_by_id(lines, ids))

    def _pull(self, period: dict[str, str]) -> list[CostLine]:
        services = self._services(period)
        if not services:
            return []
        common = {
            "TimePeriod": period,
            "Granularity": "DAILY",
            "Filter": {
                "And": [
                    {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}},
                    {"Dimensions": {"Key": "SERVICE", "Values": services}},
                ]
            },
        }
        metric, tag_key = self.options.metric, self.options.tag_key
        usage_query = {
            **common,
            "Metrics": [metric, "UsageQuantity"],
            "GroupBy": [
                {"Type": "DIMENSION", "Key": "SERVICE"},
                {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
            ],
        }
        usage = [
            pair
            for page in self.ce.pages("GetCostAndUsage", usage_query)
            for pair in parse_usage_page(page, metric)
        ]
        if not tag_key:
            return merged(line for _, line in usage)
        tag_query = {
            **common,
            "Metrics": [metric],
            "GroupBy": [
                {"Type": "DIMENSION", "Key": "SERVICE"},
                {"Type": "TAG", "Key": tag_key},
            ],
        }
        tags = [
            cost
            for page in self.ce.pages("GetCostAndUsage", tag_query)
            for cost in parse_tag_page(page, metric, tag_key)
        ]
        return split_by_tag(usage, tags)

    def _services(self, period: dict[str, str]) -> list[str]:
        query = {
            "TimePeriod": period,
            "Dimension": "SERVICE",
            "SearchString": SEARCH,
            "Context": "COST_AND_USAGE",
        }
        found = [
            service
            for page in self.ce.pages("GetDimensionValues", query)
            for service in parse_services(page)
        ]
        return sorted({s for s in found if is_bedrock_service(s)})


class BedrockWithCloudWatch(BedrockCollector):
    """Billed daily spend, and hourly token counts from CloudWatch for the days not billed
    yet. A CloudWatch failure fails the run like any other: the store keeps what it had."""

    sources: ClassVar[tuple[str, ...]] = (SOURCE, CLOUDWATCH_SOURCE)

    def __init__(
        self,
        ce: AwsCalls,
        cloudwatch: Sequence[CloudWatchTokens],
        options: BedrockOptions | None = None,
        *,
        cache: PullCache = PROCESS_CACHE,
        now: Callable[[], datetime] = _utc_now,
        models: AwsCalls | None = None,
    ) -> None:
        super().__init__(ce, options, cache=cache, now=now, models=models)
        self.cloudwatch = tuple(cloudwatch)

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        lines = self._billed(start, end)
        span = fresh_span(start, end, self.now())
        if span is not None:
            lines += [line for region in self.cloudwatch for line in region.lines(*span)]
        return lines


def _period(start: datetime, end: datetime) -> dict[str, str]:
    """Cost Explorer's TimePeriod: whole UTC days, Start inclusive, End exclusive."""
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "collect needs timezone-aware start and end")
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    if last <= first:
        raise CollectorError(PROVIDER, "collect needs end after start")
    day_after = last.date() + timedelta(days=1) if last.time() != datetime.min.time() else None
    return {"Start": first.date().isoformat(), "End": (day_after or last.date()).isoformat()}


@dataclass(frozen=True)
class BedrockAccess:
    """One AWS key pair, and the endpoints to reach (AWS's own unless overridden, to test)."""

    access_key_id: SecretStr
    secret_access_key: SecretStr
    cost_explorer_url: str = ""
    cloudwatch_regions: tuple[str, ...] = ()  # none: no CloudWatch estimates
    cloudwatch_url: str = ""
    models_region: str = ""  # where to list foundation models; "": keep billed names
    models_url: str = ""

    @cached_property
    def session(self) -> Session:
        key_id, secret = self.access_key_id, self.secret_access_key
        return aws_session(key_id.get_secret_value(), secret.get_secret_value())

    def calls(self, service: str, region: str, url: str, on_page: PageHook | None) -> AwsCalls:
        client = aws_client(
            service,
            self.access_key_id.get_secret_value(),
            self.secret_access_key.get_secret_value(),
            region=region,
            endpoint_url=url,
            session=self.session,
        )
        return AwsCalls(client, PROVIDER, on_page)


def bedrock_collector(
    access: BedrockAccess,
    *,
    options: BedrockOptions | None = None,
    on_page: PageHook | None = None,
    cache: PullCache = PROCESS_CACHE,
    now: Callable[[], datetime] = _utc_now,
) -> BedrockCollector:
    """The collector for one set of AWS credentials."""
    ce = access.calls("ce", CE_REGION, access.cost_explorer_url, on_page)
    chosen = options or BedrockOptions()
    account = f"{access.access_key_id.get_secret_value()}@{access.cost_explorer_url}"
    opts = BedrockOptions(chosen.tag_key, chosen.metric, chosen.refresh, account)
    models = None
    if access.models_region:
        models = access.calls("bedrock", access.models_region, access.models_url, on_page)
    if not access.cloudwatch_regions:
        return BedrockCollector(ce, opts, cache=cache, now=now, models=models)
    regions = [
        CloudWatchTokens(access.calls("cloudwatch", r, access.cloudwatch_url, on_page), r)
        for r in access.cloudwatch_regions
    ]
    return BedrockWithCloudWatch(ce, regions, opts, cache=cache, now=now, models=models)


def bedrock_from_settings(
    settings: Settings, secret: SecretStr, on_page: PageHook | None
) -> BedrockCollector:
    """The collector the settings describe; the registry calls it when the secret is set."""
    key_id = settings.bedrock_access_key_id
    if key_id is None:
        raise ConfigError("BEDROCK_SECRET_ACCESS_KEY is set but BEDROCK_ACCESS_KEY_ID is not")
    options = BedrockOptions(
        tag_key=settings.bedrock_tag_key,
        metric=settings.bedrock_cost_metric,
        refresh=timedelta(hours=settings.bedrock_refresh_hours),
    )
    regions = tuple(r.strip() for r in settings.bedrock_cloudwatch_regions.split(",") if r.strip())
    access = BedrockAccess(
        key_id,
        secret,
        settings.bedrock_cost_explorer_url,
        regions,
        settings.bedrock_cloudwatch_url,
        settings.bedrock_models_region,
        settings.bedrock_models_url,
    )
    return bedrock_collector(access, options=options, on_page=on_page)
