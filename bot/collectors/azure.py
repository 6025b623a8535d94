"""Azure OpenAI through the Cost Management query API (provider reference section 5).

One query, POSTed to {scope}/providers/Microsoft.CostManagement/query, asks for amortized cost
and usage quantity per day, grouped by ResourceId and Meter, filtered to Cognitive Services
accounts (where Azure OpenAI lives); a second groups by ResourceId and the team tag to learn
each resource's tag. Cost Management allows two groupings a query, and a ResourceId names its
resource group and account, so the two answer everything a grouping by resource group, meter
and tag would. Answers page by `properties.nextLink`, a full URL POSTed the same body.

Amortized, not actual cost: with ActualCost a PTU reservation is one purchase charge on the
day it is bought, on no resource; AmortizedCost spreads it over the reservation's days onto the
resources that use it, which is what a daily, per-team view needs (and equals ActualCost for
pay-as-you-go meters).

Each meter decodes into a model and token kind (azure_meters); the resource group is the
line's project, the account its api_key, and the team tag its label, which attribution rules
match. A day's provisioned (PTU) cost on an account is spread over the tokens its deployments
served that day, from Azure Monitor's token metrics less the tokens billed pay-as-you-go
(provisioned.py). The parsers are pure and raise only CollectorDataError.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from bot.collectors.azure_meters import TokenKind, decode_meter
from bot.collectors.http import Pacer, ProviderClient
from bot.collectors.payloads import validated
from bot.collectors.provisioned import Served, spread_provisioned
from bot.domain import CostLine
from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorError,
    CollectorUnavailable,
    ConfigError,
)
from bot.money import parse_amount

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from bot.config import Settings

logger = logging.getLogger(__name__)

PROVIDER = "azure"
SOURCE = "azure.costs"
MANAGEMENT_URL = "https://management.azure.com"
LOGIN_URL = "https://login.microsoftonline.com"
TOKEN_SCOPE = "https://management.azure.com/.default"
QUERY_API_VERSION = "2023-11-01"
METRICS_API_VERSION = "2023-10-01"
RESOURCE_TYPE = "microsoft.cognitiveservices/accounts"
TEAM_TAG = "team"
QUERY_INTERVAL = 15.0  # seconds between queries: ~4 a minute per scope before 429s (UNVERIFIED)
COST_COLUMNS = ("CostUSD", "PreTaxCostUSD", "Cost", "PreTaxCost")  # first found is read
TOKEN_METRICS = {"ProcessedPromptTokens": "in", "GeneratedTokens": "out"}
_USD_COLUMNS = frozenset({"CostUSD", "PreTaxCostUSD"})
_DAY = timedelta(days=1)


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
        "timePeriod": {"from": _iso(start), "to": _iso(end - timedelta(seconds=1))},
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


def _iso(moment: datetime) -> str:
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
        bucket_start=_usage_day(value("UsageDate")),
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


def _usage_day(raw: Any) -> datetime:
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
                    totals[(_usage_day(point.timeStamp), model)][side == "out"] += int(point.total)
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


# --- auth and the collector ------------------------------------------------------------------


class BearerHeaders(Mapping[str, str]):
    """The Authorization header with a fresh Entra ID token each time it is read (the
    credential caches tokens and renews them before they expire)."""

    def __init__(self, credential: TokenCredential, scope: str = TOKEN_SCOPE) -> None:
        self.credential = credential
        self.scope = scope

    def __getitem__(self, name: str) -> str:
        if name != "Authorization":
            raise KeyError(name)
        return f"Bearer {self._token()}"

    def __iter__(self) -> Iterator[str]:
        return iter(("Authorization",))

    def __len__(self) -> int:
        return 1

    def _token(self) -> str:
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

        try:
            return self.credential.get_token(self.scope).token
        except ClientAuthenticationError as e:
            raise CollectorAuthError(PROVIDER, "the token endpoint refused the credentials") from e
        except ServiceRequestError as e:
            raise CollectorUnavailable(PROVIDER, "the token endpoint could not be reached") from e


def azure_client(
    http: httpx.Client,
    credential: TokenCredential,
    *,
    base_url: str = MANAGEMENT_URL,
    **options: Any,
) -> ProviderClient:
    """A ProviderClient that sends an Entra ID bearer token, paced to Cost Management's
    per-scope limit unless a pacer is given."""
    options.setdefault("pacer", Pacer(QUERY_INTERVAL))
    return ProviderClient(
        PROVIDER, http, base_url.rstrip("/"), BearerHeaders(credential), **options
    )


def client_secret_credential(
    tenant_id: str, client_id: str, secret: str, *, login_url: str = LOGIN_URL, **options: Any
) -> TokenCredential:
    """azure-identity's service principal credential against `login_url` (its authority);
    `options` go to azure-identity (connection_verify, disable_instance_discovery, ...)."""
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(tenant_id, client_id, secret, authority=login_url, **options)


class AzureCollector:
    """Daily amortized Azure OpenAI cost per resource group, account and meter, labelled with
    each resource's team tag, PTU cost spread over the tokens it served."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (SOURCE,)

    def __init__(self, client: ProviderClient, scope: str, *, tag_key: str = TEAM_TAG) -> None:
        if not scope.strip("/"):
            raise CollectorError(PROVIDER, "a scope is needed (/subscriptions/{id}, ...)")
        self.client = client
        self.scope = scope
        self.tag_key = tag_key

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise CollectorError(
                PROVIDER, "collect needs an aware window that ends after it starts"
            )
        lines = [
            line
            for page in self._query(query_body(start, end, COST_GROUPING))
            for line in parse_costs_page(page)
            if start <= line.bucket_start < end
        ]
        lines = merge_lines(lines)
        tags: dict[str, str] = {}
        for page in self._query(query_body(start, end, tag_grouping(self.tag_key))):
            tags |= parse_tags_page(page, self.tag_key)
        lines = labelled(lines, tags_by_account(tags), self.tag_key)
        served = [s for r in self._provisioned(lines, tags) for s in self._served(r, start, end)]
        return spread_provisioned(lines, provisioned_share(served, lines))

    def _query(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        params = {"api-version": QUERY_API_VERSION}
        return self.client.linked_pages(query_path(self.scope), params, body, next_link)

    def _provisioned(self, lines: Sequence[CostLine], tags: Mapping[str, str]) -> list[Resource]:
        """The accounts with provisioned cost in the window, by their full resource ids (from
        the tag query, which lists every resource; else built from the scope)."""
        accounts = {(x.project, x.api_key) for x in lines if x.service_tier == "provisioned"}
        known = {(r.group, r.account): r for r in map(parse_resource_id, tags)}
        return [known.get(a) or self._resource(*a) for a in sorted(accounts) if all(a)]

    def _resource(self, group: str, account: str) -> Resource:
        subscription = (
            self.scope.strip("/").split("/resourceGroups/")[0].split("/resourcegroups/")[0]
        )
        resource_id = (
            f"/{subscription}/resourcegroups/{group}/providers/"
            f"microsoft.cognitiveservices/accounts/{account}"
        )
        return Resource(resource_id.lower(), group, account)

    def _served(self, resource: Resource, start: datetime, end: datetime) -> list[Served]:
        params = {
            "api-version": METRICS_API_VERSION,
            "metricnames": ",".join(TOKEN_METRICS),
            "aggregation": "Total",
            "interval": "P1D",
            "timespan": f"{_iso(start)}/{_iso(end)}",
            "$filter": "ModelName eq '*'",
        }
        path = "/" + resource.id.strip("/") + "/providers/Microsoft.Insights/metrics"
        try:
            return parse_metrics(self.client.get_json(path, params), resource)
        except CollectorAuthError:
            raise
        except CollectorError as e:  # the bill is still right: PTU cost stays whole, unspread
            logger.warning("azure token metrics unavailable, PTU cost not spread: %s", e)
            return []


@dataclass(frozen=True)
class AzureRegistration:
    """How COLLECTORS builds the Azure collector: a service principal's secret (with its
    tenant and client id) and a scope turn it on. The secret is its key: `aispend credentials`
    can keep it in the store like any provider's."""

    key_setting: str = "azure_client_secret"

    def build(
        self, settings: Settings, http: httpx.Client, on_page: Callable[[str], None] | None
    ) -> AzureCollector | None:
        secret = settings.azure_client_secret
        if secret is None:
            return None
        if not (settings.azure_tenant_id and settings.azure_client_id and settings.azure_scope):
            raise ConfigError(
                "AZURE_CLIENT_SECRET is set: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_SCOPE "
                "are needed too"
            )
        credential = client_secret_credential(
            settings.azure_tenant_id,
            settings.azure_client_id,
            secret.get_secret_value(),
            login_url=settings.azure_login_url,
        )
        client = azure_client(
            http, credential, base_url=settings.azure_management_url, on_page=on_page
        )
        return AzureCollector(client, settings.azure_scope, tag_key=settings.azure_team_tag)
