"""AWS Bedrock spend from Cost Explorer (GetCostAndUsage, daily) through boto3.

Every Cost Explorer request is billed ($0.01, each page separately), so a pull is as few
requests as the answer allows: one GetDimensionValues to find the Bedrock services (Amazon
Bedrock and the marketplace "... (Amazon Bedrock Edition)" services of third-party models),
then SERVICE x USAGE_TYPE and, when a tag key is set, SERVICE x TAG, both filtered to those
services and to RECORD_TYPE Usage (no credits, refunds or tax). A window pulled within the
last `refresh` is answered from memory (PullCache) instead of being requested again.

Retries are boto3's own (standard mode); what is left after them becomes the CollectorError
tree here, naming the provider and the operation, never a key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)
from pydantic import SecretStr

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
from bot.domain import CostLine
from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorError,
    CollectorRateLimited,
    CollectorUnavailable,
)

if TYPE_CHECKING:
    from mypy_boto3_ce.client import CostExplorerClient

REGION = "us-east-1"  # Cost Explorer's one endpoint
DEFAULT_METRIC = "UnblendedCost"
COST_METRICS = ("UnblendedCost", "NetUnblendedCost")
DEFAULT_TAG_KEY = "team"
DEFAULT_REFRESH = timedelta(hours=8)
MAX_ATTEMPTS = 4  # boto3 standard mode: the first try and three retries
SEARCH = "Bedrock"  # matches "Amazon Bedrock" and every "(Amazon Bedrock Edition)" service
_THROTTLED = frozenset(
    {"ThrottlingException", "Throttling", "LimitExceededException", "TooManyRequestsException"}
)
_REFUSED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)

PageHook = Callable[[str], None]


def ce_client(
    access_key_id: str, secret_access_key: str, *, endpoint_url: str = "", timeout: float = 30.0
) -> CostExplorerClient:
    """A boto3 Cost Explorer client with explicit credentials (never the ambient AWS chain:
    Cost Explorer bills every request), standard-mode retries and timeouts."""
    import boto3  # a quarter second to import: only runs that use Bedrock pay for it
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=REGION,
    )
    config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        user_agent_extra="aispend",
    )
    return session.client("ce", endpoint_url=endpoint_url or None, config=config)


@dataclass
class CostExplorer:
    """The boto3 client, the count of requests it sent (each one billed), and error
    translation. `on_page` is told the provider after each answer."""

    client: CostExplorerClient
    on_page: PageHook | None = None
    requests: int = 0

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(self.client, _snake(operation))
        self.requests += 1
        try:
            answer: dict[str, Any] = dict(method(**params))
        except ClientError as e:
            raise translate_client_error(operation, e) from e
        except BotoCoreError as e:
            raise translate_botocore_error(operation, e) from e
        if self.on_page is not None:
            self.on_page(PROVIDER)
        return answer

    def pages(self, operation: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page, re-sending identical parameters with each NextPageToken (Cost Explorer
        answers RequestChangedException otherwise); a token seen twice stops with an error."""
        seen: set[str] = set()
        query = dict(params)
        while True:
            page = self.call(operation, query)
            yield page
            token = page.get("NextPageToken")
            if not token:
                return
            if token in seen:
                raise CollectorDataError(PROVIDER, f"{operation} repeated its NextPageToken")
            seen.add(token)
            query["NextPageToken"] = token


def translate_client_error(operation: str, error: ClientError) -> CollectorError:
    """An error AWS answered, as our error tree: the code, and AWS's message only when it
    cannot be about the credentials."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "") or "Unknown")
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    where = f"{operation} answered {code}"
    if code in _THROTTLED:
        return CollectorRateLimited(PROVIDER, f"{where} after every retry", retry_after=None)
    if code in _REFUSED or status in (401, 403):
        return CollectorAuthError(PROVIDER, f"{where}: the credentials were refused")
    if status >= 500:
        return CollectorUnavailable(PROVIDER, f"{where} ({status}) after every retry")
    message = str(details.get("Message", ""))[:200]
    return CollectorError(PROVIDER, f"{where}: {message}" if message else where)


def translate_botocore_error(operation: str, error: BotoCoreError) -> CollectorError:
    if isinstance(error, NoCredentialsError):
        return CollectorAuthError(PROVIDER, f"{operation}: no credentials")
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return CollectorUnavailable(PROVIDER, f"{operation} timed out after every retry")
    return CollectorUnavailable(PROVIDER, f"{operation}: {type(error).__name__}")


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


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
        ce: CostExplorer,
        options: BedrockOptions | None = None,
        *,
        cache: PullCache = PROCESS_CACHE,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.ce = ce
        self.options = options or BedrockOptions()
        if self.options.metric not in COST_METRICS:
            raise ValueError(f"metric must be one of {', '.join(COST_METRICS)}")
        self.cache = cache
        self.now = now

    @property
    def requests(self) -> int:
        return self.ce.requests

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        """Every Bedrock line of the whole UTC days in [start, end)."""
        period = _period(start, end)
        opts = self.options
        key = (opts.account, period["Start"], period["End"], opts.tag_key, opts.metric)
        cached = self.cache.get(key, self.now(), opts.refresh)
        if cached is not None:
            return cached
        pulled_at = self.now()
        lines = self._pull(period)
        self.cache.put(key, pulled_at, lines)
        return lines

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


def _period(start: datetime, end: datetime) -> dict[str, str]:
    """Cost Explorer's TimePeriod: whole UTC days, Start inclusive, End exclusive."""
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "collect needs timezone-aware start and end")
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    if last <= first:
        raise CollectorError(PROVIDER, "collect needs end after start")
    day_after = last.date() + timedelta(days=1) if last.time() != datetime.min.time() else None
    return {"Start": first.date().isoformat(), "End": (day_after or last.date()).isoformat()}


def bedrock_collector(
    access_key_id: SecretStr,
    secret_access_key: SecretStr,
    *,
    endpoint_url: str = "",
    options: BedrockOptions | None = None,
    on_page: PageHook | None = None,
    cache: PullCache = PROCESS_CACHE,
) -> BedrockCollector:
    """The collector for one set of AWS credentials (and, to test, another endpoint)."""
    key_id = access_key_id.get_secret_value()
    client = ce_client(key_id, secret_access_key.get_secret_value(), endpoint_url=endpoint_url)
    chosen = options or BedrockOptions()
    account = f"{key_id}@{endpoint_url}"
    opts = BedrockOptions(chosen.tag_key, chosen.metric, chosen.refresh, account)
    return BedrockCollector(CostExplorer(client, on_page), opts, cache=cache)
