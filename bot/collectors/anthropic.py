"""Anthropic Admin API: the daily cost report (billed dollars) and the hourly messages usage
report (tokens, unpriced), normalized to CostLine per the provider reference, section 2; the
names of workspaces and api keys (2.6); and the Claude Code usage report (2.5), one
CodingToolDay per developer, day and model.

Cost report amounts are cents as decimal strings; they become exact dollars. Usage report
input is split in parts, so tokens_in adds uncached input, cache reads and both cache-write
TTLs (normalization rule 1). A null dimension (not grouped, the default workspace, or
Console usage without a key) becomes "", and "" is named "Default Workspace".

Claude Code estimated costs are cents as JSON numbers; they become exact dollars too. Its
token counts follow the same rule: tokens_in = input + cache_read + cache_creation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, model_validator

from bot.clock import utc_midnight
from bot.collectors.http import ProviderClient
from bot.collectors.payloads import validated
from bot.domain import CodingToolDay, CostLine, DisplayName
from bot.errors import CollectorDataError, CollectorError

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
WORKSPACES_PATH = "/v1/organizations/workspaces"
API_KEYS_PATH = "/v1/organizations/api_keys"
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
CODING_TOOL = "claude_code"
CLAUDE_CODE_PAGE_MAX = 1000  # records per page (one actor per day each)
LIST_PAGE_SIZE = 100  # workspaces and keys per page; the API documents 1..1000
DEFAULT_WORKSPACE = "Default Workspace"  # the reports' null workspace_id, stored as ""


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


class _Named(_Shape):
    """A workspace or an api key in a list page; only what naming needs."""

    id: str
    name: str


class _ListPage(_Shape):
    data: list[_Named]


def parse_workspaces_page(payload: dict[str, Any]) -> list[DisplayName]:
    """One page of GET /v1/organizations/workspaces as project names (archived ones too)."""
    page = validated(_ListPage, payload, provider=PROVIDER, what="workspaces")
    return [DisplayName(PROVIDER, "project", item.id, item.name) for item in page.data]


def parse_api_keys_page(payload: dict[str, Any]) -> list[DisplayName]:
    """One page of GET /v1/organizations/api_keys as api key names."""
    page = validated(_ListPage, payload, provider=PROVIDER, what="api_keys")
    return [DisplayName(PROVIDER, "api_key", item.id, item.name) for item in page.data]


class _KeyStatus(_Shape):
    id: str
    status: str


def parse_key_status(payload: dict[str, Any]) -> str:
    """The status an api key object says it has (active, inactive, archived, expired)."""
    return validated(_KeyStatus, payload, provider=PROVIDER, what="api key").status


def default_workspace() -> DisplayName:
    """The default workspace: the reports give it a null id (stored as ""), the list omits it."""
    return DisplayName(PROVIDER, "project", "", DEFAULT_WORKSPACE)


def _utc_day(value: object) -> object:
    """A record's `date`, documented both as RFC 3339 and as YYYY-MM-DD: the UTC day."""
    if not isinstance(value, str):
        return value  # pydantic refuses it as a date, naming the field
    if len(value) == len("YYYY-MM-DD"):
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 date needs a UTC offset")
    return moment.astimezone(UTC).date()


_Day = Annotated[date, BeforeValidator(_utc_day)]


class _Actor(_Shape):
    email_address: str | None = None  # user_actor
    api_key_name: str | None = None  # api_actor

    @model_validator(mode="after")
    def _named(self) -> _Actor:
        if not (self.email_address or self.api_key_name):
            raise ValueError("an actor needs an email_address or an api_key_name")
        return self

    @property
    def name(self) -> str:
        return self.email_address or self.api_key_name or ""


class _LinesOfCode(_Shape):
    added: int
    removed: int


class _CoreMetrics(_Shape):
    num_sessions: int
    lines_of_code: _LinesOfCode
    commits_by_claude_code: int
    pull_requests_by_claude_code: int


class _CodeTokens(_Shape):
    input: int
    output: int
    cache_read: int
    cache_creation: int


class _EstimatedCost(_Shape):
    amount: Decimal  # cents, a JSON number; finite (pydantic refuses NaN and infinity)
    currency: str

    @model_validator(mode="after")
    def _usd(self) -> _EstimatedCost:
        if self.currency.upper() != "USD":
            raise ValueError("currency is not USD")
        return self


class _ModelUse(_Shape):
    model: str
    tokens: _CodeTokens
    estimated_cost: _EstimatedCost


class _CodeRecord(_Shape):
    date: _Day
    actor: _Actor
    customer_type: str | None = None
    core_metrics: _CoreMetrics
    model_breakdown: list[_ModelUse]


class _CodePage(_Shape):
    data: list[_CodeRecord]


def parse_claude_code_page(payload: dict[str, Any]) -> list[CodingToolDay]:
    """One page of GET /v1/organizations/usage_report/claude_code: per record, a row per
    model (tokens and estimated dollars) and a row with model "" (the actor's activity)."""
    page = validated(_CodePage, payload, provider=PROVIDER, what="usage_report/claude_code")
    return merge_coding_days(row for record in page.data for row in _coding_rows(record))


def _coding_rows(record: _CodeRecord) -> list[CodingToolDay]:
    core = record.core_metrics
    activity = CodingToolDay(
        tool=CODING_TOOL,
        day=record.date,
        actor=record.actor.name,
        model="",
        customer_type=record.customer_type or "",
        sessions=core.num_sessions,
        lines_added=core.lines_of_code.added,
        lines_removed=core.lines_of_code.removed,
        commits=core.commits_by_claude_code,
        pull_requests=core.pull_requests_by_claude_code,
    )
    return [activity, *(_model_row(activity, use) for use in record.model_breakdown)]


def _model_row(activity: CodingToolDay, use: _ModelUse) -> CodingToolDay:
    tokens = use.tokens
    return CodingToolDay(
        tool=CODING_TOOL,
        day=activity.day,
        actor=activity.actor,
        model=use.model,
        customer_type=activity.customer_type,
        tokens_in=tokens.input + tokens.cache_read + tokens.cache_creation,
        tokens_out=tokens.output,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_creation,
        estimated_cost=use.estimated_cost.amount.scaleb(-2),
    )


_CODING_KEY = ("tool", "day", "actor", "model")
_CODING_SUMS = tuple(
    f.name for f in fields(CodingToolDay) if f.name not in {*_CODING_KEY, "customer_type"}
)


def merge_coding_days(rows: Iterable[CodingToolDay]) -> list[CodingToolDay]:
    """Rows sharing tool, day, actor and model summed into one, so a record repeated across
    pages (or a model listed twice) is counted rather than overwritten in the store."""
    merged: dict[tuple[object, ...], CodingToolDay] = {}
    for row in rows:
        key = tuple(getattr(row, name) for name in _CODING_KEY)
        before = merged.get(key)
        if before is None:
            merged[key] = row
            continue
        sums = {name: getattr(before, name) + getattr(row, name) for name in _CODING_SUMS}
        merged[key] = replace(before, **sums)
    return list(merged.values())


BASE_URL = "https://api.anthropic.com"


def anthropic_client(
    http: httpx.Client, admin_key: str, *, base_url: str = BASE_URL, **options: Any
) -> ProviderClient:
    """A ProviderClient that sends the admin key and the API version Anthropic expects."""
    headers = {"x-api-key": admin_key, "anthropic-version": API_VERSION}
    return ProviderClient(PROVIDER, http, base_url, headers, **options)


class AnthropicCollector:
    """Pulls both reports over [start, end), the names of workspaces and api keys, and Claude
    Code's developer days, through a ProviderClient whose headers carry `x-api-key` (an admin
    key) and `anthropic-version`."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (COST_SOURCE, USAGE_SOURCE)
    coding_tool: ClassVar[str] = CODING_TOOL

    def __init__(
        self,
        client: ProviderClient,
        *,
        cost_page_size: int = COST_PAGE_MAX,
        usage_page_size: int = USAGE_PAGE_MAX,
        list_page_size: int = LIST_PAGE_SIZE,
        coding_page_size: int = CLAUDE_CODE_PAGE_MAX,
    ) -> None:
        self.client = client
        self.cost_page_size = cost_page_size
        self.usage_page_size = usage_page_size
        self.list_page_size = list_page_size
        self.coding_page_size = coding_page_size

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

    def names(self) -> list[DisplayName]:
        """The default workspace, every workspace (archived ones too, so old ids still
        resolve) and every api key, whatever its status."""
        workspaces = self._list(
            WORKSPACES_PATH, {"include_archived": "true"}, parse_workspaces_page
        )
        keys = self._list(API_KEYS_PATH, {}, parse_api_keys_page)
        return [default_workspace(), *workspaces, *keys]

    def set_key_active(self, api_key: str, active: bool) -> None:
        """Switch an api key on or off (POST /v1/organizations/api_keys/{id} with its new
        status). Setting a status is idempotent, so a retried request is harmless."""
        wanted = "active" if active else "inactive"
        path = f"{API_KEYS_PATH}/{quote(api_key, safe='')}"
        answer = parse_key_status(self.client.post_json(path, {"status": wanted}))
        if answer != wanted:
            raise CollectorDataError(PROVIDER, f"{API_KEYS_PATH}/{{id}} left the key {answer}")

    def coding_days(self, start: datetime, end: datetime) -> list[CodingToolDay]:
        """Claude Code rows for every UTC day that starts in [start, end), one request (and
        its pages) per day. Anthropic holds back data under an hour old; a day it has not
        reported yet simply comes back empty."""
        rows: list[CodingToolDay] = []
        for day in _days(start, end):
            query = {"starting_at": day.isoformat(), "limit": self.coding_page_size}
            rows += self.client.parsed(CLAUDE_CODE_PATH, query, parse_claude_code_page)
        return merge_coding_days(rows)

    def _pull(
        self,
        path: str,
        query: dict[str, Any],
        groups: tuple[str, ...],
        parse: Callable[[dict[str, Any]], list[CostLine]],
    ) -> list[CostLine]:
        return self.client.parsed(path, {**query, "group_by[]": list(groups)}, parse)

    def _list(
        self,
        path: str,
        params: Mapping[str, Any],
        parse: Callable[[dict[str, Any]], list[DisplayName]],
    ) -> list[DisplayName]:
        """A list endpoint paged by `after_id` = the previous page's `last_id`."""
        query = {**params, "limit": self.list_page_size}
        return self.client.parsed(path, query, parse, cursor_param="after_id", next_field="last_id")


def _window(start: datetime, end: datetime) -> dict[str, str] | None:
    """RFC 3339 UTC bounds for the query, or None for an empty window."""
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "collect needs timezone-aware start and end")
    if end <= start:
        return None
    return {"starting_at": rfc3339(start), "ending_at": rfc3339(end)}


def _days(start: datetime, end: datetime) -> list[date]:
    """Each UTC day that starts in [start, end), and the day `start` falls in."""
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "coding_days needs timezone-aware start and end")
    day = start.astimezone(UTC).date()
    days: list[date] = []
    while utc_midnight(day) < end:
        days.append(day)
        day += timedelta(days=1)
    return days


def rfc3339(moment: datetime) -> str:
    """A timezone-aware moment as RFC 3339 UTC with a Z suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
