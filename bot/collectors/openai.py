"""OpenAI Admin API: billed dollars from /v1/organization/costs (daily), usage from
/v1/organization/usage/{kind} (completions and embeddings hourly, the other kinds daily;
unpriced), and project and api key names. Payload shapes follow section 1 of the provider
reference; the parsers are pure and raise only CollectorDataError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from bot.collectors.http import ProviderClient
from bot.collectors.payloads import validated
from bot.domain import CostLine, DisplayName
from bot.errors import CollectorDataError, CollectorError

PROVIDER = "openai"
BASE_URL = "https://api.openai.com"
COSTS_PATH = "/v1/organization/costs"
USAGE_PATH = "/v1/organization/usage/completions"
USAGE_ROOT = "/v1/organization/usage/"
PROJECTS_PATH = "/v1/organization/projects"
LIST_LIMIT = 100  # the documented maximum for list endpoints
COSTS_SOURCE = "openai.costs"
USAGE_SOURCE = "openai.usage"
COSTS_LIMIT = 180  # daily buckets per page, the documented maximum
USAGE_HOURLY_LIMIT = 168  # hourly buckets per page, the documented maximum
USAGE_DAILY_LIMIT = 31  # daily buckets per page, the documented maximum
COSTS_GROUP_BY = ("project_id", "line_item")
USAGE_GROUP_BY = ("model", "project_id", "api_key_id", "batch", "service_tier")
MODEL_GROUP_BY = ("model", "project_id", "api_key_id")


@dataclass(frozen=True, slots=True)
class UsageKind:
    """One /organization/usage/{kind} endpoint: how finely to pull it and how to group it.

    Token kinds are pulled hourly, for the same-day nowcast; the kinds billed per image,
    character or second carry only request counts, so daily buckets are enough."""

    name: str
    bucket_width: str
    group_by: tuple[str, ...]

    @property
    def path(self) -> str:
        return USAGE_ROOT + self.name

    @property
    def limit(self) -> int:
        return USAGE_HOURLY_LIMIT if self.bucket_width == "1h" else USAGE_DAILY_LIMIT


USAGE_KINDS: tuple[UsageKind, ...] = (
    UsageKind("completions", "1h", USAGE_GROUP_BY),
    UsageKind("embeddings", "1h", MODEL_GROUP_BY),
    UsageKind("moderations", "1d", MODEL_GROUP_BY),
    UsageKind("images", "1d", MODEL_GROUP_BY),
    UsageKind("audio_speeches", "1d", MODEL_GROUP_BY),
    UsageKind("audio_transcriptions", "1d", MODEL_GROUP_BY),
)
OTHER_MODEL = "(other)"  # a line item the reference's format does not fit


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Amount(_Shape):
    value: float | str
    currency: str


class _CostResult(_Shape):
    amount: _Amount
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None


class _UsageResult(_Shape):
    input_tokens: int
    output_tokens: int
    num_model_requests: int
    input_cached_tokens: int = 0
    input_cache_write_tokens: int = 0  # added to the spec 2026-07-15; older answers lack it
    model: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    service_tier: str | None = None
    batch: bool | None = None


class _OtherUsageResult(_Shape):
    """Embeddings, moderations, images and audio: requests, and input tokens where counted."""

    num_model_requests: int
    input_tokens: int = 0
    model: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None


class _Named(_Shape):
    id: str
    name: str | None = None
    redacted_value: str | None = None


class _ListPage(_Shape):
    data: list[_Named]


class _CostBucket(_Shape):
    start_time: int
    results: list[_CostResult]


class _UsageBucket(_Shape):
    start_time: int
    results: list[_UsageResult]


class _OtherUsageBucket(_Shape):
    start_time: int
    results: list[_OtherUsageResult]


class _OtherUsagePage(_Shape):
    data: list[_OtherUsageBucket]


class _CostPage(_Shape):
    data: list[_CostBucket]


class _UsagePage(_Shape):
    data: list[_UsageBucket]


_P = TypeVar("_P", _CostPage, _UsagePage, _OtherUsagePage, _ListPage)


def parse_costs_page(payload: dict[str, Any]) -> list[CostLine]:
    """One /organization/costs page as billed daily lines (dollars, Decimal)."""
    page = _validated(_CostPage, payload, "costs page")
    return [_cost_line(b.start_time, r) for b in page.data for r in b.results]


def parse_usage_page(payload: dict[str, Any]) -> list[CostLine]:
    """One hourly /organization/usage/completions page as unpriced, estimated token lines."""
    page = _validated(_UsagePage, payload, "usage page")
    return [_usage_line(b.start_time, r) for b in page.data for r in b.results]


def parse_other_usage_page(
    payload: dict[str, Any], kind: str, bucket_hours: int = 24
) -> list[CostLine]:
    """One page of a non-completions usage kind as estimated lines; `line_item` names the kind,
    so an embeddings line never collides with a completions line of the same model."""
    page = _validated(_OtherUsagePage, payload, f"usage/{kind} page")
    return [
        _other_usage_line(b.start_time, r, kind, bucket_hours) for b in page.data for r in b.results
    ]


def parse_projects_page(payload: dict[str, Any]) -> list[DisplayName]:
    """One /organization/projects page as project names (archived ones too)."""
    return _names(payload, "projects page", "project")


def parse_api_keys_page(payload: dict[str, Any]) -> list[DisplayName]:
    """One /organization/projects/{id}/api_keys page as key names; a key without a name is
    known by its redacted value, which OpenAI shows in its own dashboard."""
    return _names(payload, "api_keys page", "api_key")


def _names(payload: dict[str, Any], what: str, kind: str) -> list[DisplayName]:
    page = _validated(_ListPage, payload, what)
    return [
        DisplayName(PROVIDER, kind, item.id, item.name or item.redacted_value or item.id)
        for item in page.data
    ]


def split_line_item(line_item: str) -> tuple[str, str]:
    """(model, service tier) from a free-text line item such as "priority | gpt-5, output".

    The format is not specified; the reference's observed forms are "<model>, <kind>" with an
    optional "<tier> | " prefix and "<model> audio, input". Anything else is "(other)"."""
    tier, bar, rest = line_item.partition(" | ")
    if not bar:
        tier, rest = "", line_item
    model, comma, _ = rest.partition(",")
    model = model.strip().removesuffix(" audio").strip()
    return (model if comma and model else OTHER_MODEL), tier.strip()


def _validated(shape: type[_P], payload: dict[str, Any], what: str) -> _P:
    return validated(shape, payload, provider=PROVIDER, what=what)


def _bucket_start(epoch: int) -> datetime:
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise CollectorDataError(PROVIDER, f"bucket start_time {epoch} is out of range") from e


def _dollars(value: float | str) -> Decimal:
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as e:
        raise CollectorDataError(PROVIDER, f"amount.value {value!r} is not a number") from e
    if not amount.is_finite():
        raise CollectorDataError(PROVIDER, f"amount.value {value!r} is not finite")
    return amount


def _cost_line(start_time: int, result: _CostResult) -> CostLine:
    item = result.line_item or ""
    model, tier = split_line_item(item) if item else ("", "")
    return CostLine(
        source=COSTS_SOURCE,
        provider=PROVIDER,
        bucket_start=_bucket_start(start_time),
        bucket_hours=24,
        project=result.project_id or "",
        api_key=result.api_key_id or "",
        model=model,
        service_tier=tier,
        line_item=item,
        cost=_dollars(result.amount.value),
        currency=result.amount.currency.upper(),
        estimated=False,
    )


def _usage_line(start_time: int, result: _UsageResult) -> CostLine:
    return CostLine(
        source=USAGE_SOURCE,
        provider=PROVIDER,
        bucket_start=_bucket_start(start_time),
        bucket_hours=1,
        project=result.project_id or "",
        api_key=result.api_key_id or "",
        model=result.model or "",
        service_tier=result.service_tier or "",
        batch=bool(result.batch),
        tokens_in=result.input_tokens,  # includes cached and cache-write tokens
        tokens_out=result.output_tokens,
        cache_read_tokens=result.input_cached_tokens,
        cache_write_tokens=result.input_cache_write_tokens,
        requests=result.num_model_requests,
        cost=None,
        estimated=True,
    )


def _other_usage_line(
    start_time: int, result: _OtherUsageResult, kind: str, bucket_hours: int
) -> CostLine:
    return CostLine(
        source=USAGE_SOURCE,
        provider=PROVIDER,
        bucket_start=_bucket_start(start_time),
        bucket_hours=bucket_hours,
        project=result.project_id or "",
        api_key=result.api_key_id or "",
        model=result.model or "",
        line_item=kind,
        tokens_in=result.input_tokens,
        requests=result.num_model_requests,
        cost=None,
        estimated=True,
    )


def openai_client(
    http: httpx.Client, admin_key: str, *, base_url: str = BASE_URL, **options: Any
) -> ProviderClient:
    """A ProviderClient that sends the admin key as a Bearer token."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    return ProviderClient(PROVIDER, http, base_url, headers, **options)


class OpenAICollector:
    """Billed daily costs by project and line item, usage of every model kind, and the names
    of projects and api keys."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (COSTS_SOURCE, USAGE_SOURCE)

    def __init__(self, client: ProviderClient) -> None:
        self.client = client

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        """Every costs line and every usage line of each kind for [start, end)."""
        window = _window(start, end)
        costs = {**window, "bucket_width": "1d", "limit": COSTS_LIMIT}
        lines = self.client.parsed(
            COSTS_PATH, {**costs, "group_by": list(COSTS_GROUP_BY)}, parse_costs_page
        )
        for kind in USAGE_KINDS:
            lines += self.client.parsed(kind.path, _usage_query(window, kind), _usage_parser(kind))
        return lines

    def names(self) -> list[DisplayName]:
        """Every project, archived ones included so old ids still resolve, and the keys of
        each (OpenAI has no organization-wide key list)."""
        projects = self._list(PROJECTS_PATH, {"include_archived": "true"}, parse_projects_page)
        keys = [
            name
            for project in projects
            for name in self._list(
                f"{PROJECTS_PATH}/{project.id}/api_keys", {}, parse_api_keys_page
            )
        ]
        return projects + keys

    def _list(
        self,
        path: str,
        params: Mapping[str, Any],
        parse: Callable[[dict[str, Any]], list[DisplayName]],
    ) -> list[DisplayName]:
        """A list endpoint paged by `after` = the previous page's `last_id`."""
        query = {**params, "limit": LIST_LIMIT}
        return self.client.parsed(path, query, parse, cursor_param="after", next_field="last_id")


def _usage_query(window: Mapping[str, int], kind: UsageKind) -> dict[str, Any]:
    width = {"bucket_width": kind.bucket_width, "limit": kind.limit}
    return {**window, **width, "group_by": list(kind.group_by)}


def _usage_parser(kind: UsageKind) -> Callable[[dict[str, Any]], list[CostLine]]:
    if kind.name == "completions":
        return parse_usage_page
    hours = 1 if kind.bucket_width == "1h" else 24
    return lambda page: parse_other_usage_page(page, kind.name, hours)


def _window(start: datetime, end: datetime) -> dict[str, int]:
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "collect needs timezone-aware start and end")
    if end <= start:
        raise CollectorError(PROVIDER, "collect needs end after start")
    return {"start_time": int(start.timestamp()), "end_time": int(end.timestamp())}
