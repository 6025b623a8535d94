"""Azure OpenAI through the Cost Management query API (provider reference section 5).

azure-identity's credential gives the bearer token; the collector POSTs two queries
(azure_costs: cost by resource and meter, and each resource's team tag), follows each answer's
`properties.nextLink` (a full URL, POSTed the same body), and, for accounts with provisioned
(PTU) cost, reads Azure Monitor's token metrics (azure_metrics) to spread that cost over the
tokens it served (provisioned.py).

Amortized, not actual cost: with ActualCost a PTU reservation is one purchase charge on the
day it is bought, on no resource; AmortizedCost spreads it over the reservation's days onto the
resources that use it, which is what a daily, per-team view needs (and equals ActualCost for
pay-as-you-go meters).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from bot.collectors.azure_costs import (
    COST_GROUPING,
    PROVIDER,
    SOURCE,
    Resource,
    iso,
    labelled,
    merge_lines,
    next_link,
    parse_costs_page,
    parse_resource_id,
    parse_tags_page,
    query_body,
    query_path,
    tag_grouping,
    tags_by_account,
)
from bot.collectors.azure_metrics import TOKEN_METRICS, parse_metrics, provisioned_share
from bot.collectors.http import Pacer, ProviderClient
from bot.collectors.provisioned import Served, spread_provisioned
from bot.domain import CostLine
from bot.errors import CollectorAuthError, CollectorError, CollectorUnavailable, ConfigError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from bot.config import Settings

logger = logging.getLogger(__name__)

MANAGEMENT_URL = "https://management.azure.com"
LOGIN_URL = "https://login.microsoftonline.com"
TOKEN_SCOPE = "https://management.azure.com/.default"
QUERY_API_VERSION = "2023-11-01"
METRICS_API_VERSION = "2023-10-01"
TEAM_TAG = "team"
QUERY_INTERVAL = 15.0  # seconds between queries: ~4 a minute per scope before 429s (UNVERIFIED)


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
            "timespan": f"{iso(start)}/{iso(end)}",
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
    secret: bool = True

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
