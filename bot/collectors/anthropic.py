"""Anthropic Admin API: the daily cost report (billed dollars) and the hourly messages usage
report (tokens, unpriced), normalized to CostLine per the provider reference, section 2.

Cost report amounts are cents as decimal strings; they become exact dollars. Usage report
input is split in parts, so tokens_in adds uncached input, cache reads and both cache-write
TTLs (normalization rule 1). A null dimension (not grouped, the default workspace, or
Console usage without a key) becomes "".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.collectors.http import ProviderClient
from bot.collectors.payloads import validated
from bot.domain import CostLine
from bot.errors import CollectorError

PROVIDER = "anthropic"
API_VERSION = "2023-06-01"
COST_PATH = "/v1/organizations/cost_report"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_SOURCE = "anthropic.costs"
USAGE_SOURCE = "anthropic.usage"
COST_GROUPS = ("workspace_id", "description")
USAGE_GROUPS = ("model", "workspace_id", "api_key_id", "service_tier")
COST_PAGE_MAX = 31  # 1d buckets per page
USAGE_PAGE_MAX = 168  # 1h buckets per page


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _CostItem(_Shape):
    amount: Decimal  # cents
    currency: str
    workspace_id: str | None = None
    description: str | None = None
    model: str | None = None
    token_type: str | None = None
    service_tier: str | None = None


class _CacheCreation(_Shape):
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int


class _UsageItem(_Shape):
    uncached_input_tokens: int
    cache_read_input_tokens: int
    cache_creation: _CacheCreation
    output_tokens: int
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None


ItemT = TypeVar("ItemT", _CostItem, _UsageItem)


class _Bucket(_Shape, Generic[ItemT]):
    starting_at: AwareDatetime
    results: list[ItemT]


class _Page(_Shape, Generic[ItemT]):
    data: list[_Bucket[ItemT]]


def parse_cost_page(payload: dict[str, Any]) -> list[CostLine]:
    """One page of GET /v1/organizations/cost_report as billed daily lines."""
    page = _validated(_Page[_CostItem], payload, "cost_report")
    return [_cost_line(b.starting_at, item) for b in page.data for item in b.results]


def parse_usage_page(payload: dict[str, Any]) -> list[CostLine]:
    """One page of GET /v1/organizations/usage_report/messages as unpriced hourly lines."""
    page = _validated(_Page[_UsageItem], payload, "usage_report/messages")
    return [_usage_line(b.starting_at, item) for b in page.data for item in b.results]


def _validated(shape: type[_Page[ItemT]], payload: dict[str, Any], report: str) -> _Page[ItemT]:
    return validated(shape, payload, provider=PROVIDER, what=report)


def _cost_line(start: datetime, item: _CostItem) -> CostLine:
    tier = item.service_tier or ""
    return CostLine(
        source=COST_SOURCE,
        provider=PROVIDER,
        bucket_start=start.astimezone(UTC),
        bucket_hours=24,
        project=item.workspace_id or "",
        model=item.model or "",
        service_tier=tier,
        batch=tier == "batch",
        line_item=_line_item(item),
        cost=item.amount.scaleb(-2),
        currency=item.currency,
        estimated=False,
    )


def _line_item(item: _CostItem) -> str:
    """The description, plus the token type when given, so per-token-type rows stay apart."""
    parts = (item.description, item.token_type)
    return " | ".join(part for part in parts if part)


def _usage_line(start: datetime, item: _UsageItem) -> CostLine:
    writes = item.cache_creation.ephemeral_5m_input_tokens
    writes += item.cache_creation.ephemeral_1h_input_tokens
    tier = item.service_tier or ""
    return CostLine(
        source=USAGE_SOURCE,
        provider=PROVIDER,
        bucket_start=start.astimezone(UTC),
        bucket_hours=1,
        project=item.workspace_id or "",
        api_key=item.api_key_id or "",
        model=item.model or "",
        service_tier=tier,
        batch=tier == "batch",
        tokens_in=item.uncached_input_tokens + item.cache_read_input_tokens + writes,
        tokens_out=item.output_tokens,
        cache_read_tokens=item.cache_read_input_tokens,
        cache_write_tokens=writes,
        cost=None,
        estimated=True,
    )


BASE_URL = "https://api.anthropic.com"


def anthropic_client(
    http: httpx.Client, admin_key: str, *, base_url: str = BASE_URL, **options: Any
) -> ProviderClient:
    """A ProviderClient that sends the admin key and the API version Anthropic expects."""
    headers = {"x-api-key": admin_key, "anthropic-version": API_VERSION}
    return ProviderClient(PROVIDER, http, base_url, headers, **options)


class AnthropicCollector:
    """Pulls both reports over [start, end) through a ProviderClient whose headers carry
    `x-api-key` (an admin key) and `anthropic-version`."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (COST_SOURCE, USAGE_SOURCE)

    def __init__(
        self,
        client: ProviderClient,
        *,
        cost_page_size: int = COST_PAGE_MAX,
        usage_page_size: int = USAGE_PAGE_MAX,
    ) -> None:
        self.client = client
        self.cost_page_size = cost_page_size
        self.usage_page_size = usage_page_size

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        """Billed daily lines, then estimated hourly lines, for every bucket in [start, end)."""
        window = _window(start, end)
        if window is None:
            return []
        cost_query = {**window, "bucket_width": "1d", "limit": self.cost_page_size}
        usage_query = {**window, "bucket_width": "1h", "limit": self.usage_page_size}
        costs = self._pull(COST_PATH, cost_query, COST_GROUPS, parse_cost_page)
        usage = self._pull(USAGE_PATH, usage_query, USAGE_GROUPS, parse_usage_page)
        return costs + usage

    def _pull(
        self,
        path: str,
        query: dict[str, Any],
        groups: tuple[str, ...],
        parse: Callable[[dict[str, Any]], list[CostLine]],
    ) -> list[CostLine]:
        params = {**query, "group_by[]": list(groups)}
        return [line for page in self.client.pages(path, params) for line in parse(page)]


def _window(start: datetime, end: datetime) -> dict[str, str] | None:
    """RFC 3339 UTC bounds for the query, or None for an empty window."""
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "collect needs timezone-aware start and end")
    if end <= start:
        return None
    return {"starting_at": rfc3339(start), "ending_at": rfc3339(end)}


def rfc3339(moment: datetime) -> str:
    """A timezone-aware moment as RFC 3339 UTC with a Z suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
