"""Stand-ins for Microsoft Entra ID's token endpoint and Azure Resource Manager's Cost
Management query and Azure Monitor metrics (provider reference section 5).

The login stand-in is what azure-identity's ClientSecretCredential talks to: the tenant's
OpenID configuration (GET /{tenant}/v2.0/.well-known/openid-configuration) and the OAuth2
client-credentials grant (POST /{tenant}/oauth2/v2.0/token), which checks the client id and
secret and issues a bearer token. It must be served over https (azure-identity refuses other
authorities): run it with a LoopbackCert's context.

The management stand-in accepts only tokens the login stand-in issued. The query endpoint
(POST {scope}/providers/Microsoft.CostManagement/query?api-version=...) reads the
QueryDefinition (Custom timeframe, Daily granularity, at most two groupings of ResourceId,
ResourceGroupName, Meter or a TagKey, Sum aggregations of Cost and UsageQuantity, a
ResourceType filter), answers a QueryResult whose columns come in the API's order (aggregations,
UsageDate, groupings, Currency), and pages by a nextLink carrying a $skiptoken. Errors are ARM's
{"error": {"code", "message"}}. The metrics endpoint (GET {resourceId}/providers/
Microsoft.Insights/metrics) answers daily ProcessedPromptTokens and GeneratedTokens totals
split by ModelName.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

from bot.standins.server import Request, Response, Route
from bot.synthetic.azure import AzureActivity, UsageRow

QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"
METRICS_SUFFIX = "/providers/Microsoft.Insights/metrics"
PAGE_ROWS = 1000  # rows a page, as the API's documented default page size (UNVERIFIED)
_GROUPABLE = {"ResourceId", "ResourceGroupName", "Meter"}


@dataclass
class TokenBook:
    """The tokens the login stand-in has issued, which the management stand-in accepts."""

    tenant: str
    client_id: str
    client_secret: str
    issued: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self) -> str:
        token = "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(24)
        with self._lock:
            self.issued.add(token)
        return token

    def accepts(self, request: Request) -> bool:
        sent = request.header("Authorization") or ""
        token = sent.removeprefix("Bearer ")
        with self._lock:
            return sent.startswith("Bearer ") and token in self.issued


def login_routes(book: TokenBook) -> dict[str, Route]:
    prefix = f"/{book.tenant}"

    def configuration(request: Request) -> Response:
        base = f"https://{request.header('Host')}{prefix}"
        return Response(
            body={
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    def token(request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "AADSTS70003")
        if form.get("client_id") != book.client_id:
            return _oauth_error(400, "unauthorized_client", "AADSTS700016")
        sent = form.get("client_secret", "").encode()
        if not hmac.compare_digest(sent, book.client_secret.encode()):
            return _oauth_error(401, "invalid_client", "AADSTS7000215")
        return Response(
            body={
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": book.issue(),
            }
        )

    return {
        f"{prefix}/v2.0/.well-known/openid-configuration": configuration,
        f"{prefix}/oauth2/v2.0/token": token,
    }


def _oauth_error(status: int, error: str, code: str) -> Response:
    description = f"{code}: the request was refused ({error})."
    return Response(status, {"error": error, "error_description": description})


QPU_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-"


@dataclass
class QpuBudget:
    """Cost Management's query budget, as a bucket of `capacity` queries refilled at `per_second`:
    a query finding it empty is answered 429 with how long until the next one is free, in
    the QPU retry-after header and Retry-After. `clock` is injectable so tests can let time
    pass in their sleep."""

    capacity: int
    per_second: float
    clock: Callable[[], float] = time.monotonic
    _left: float = -1.0
    _at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> float | None:
        """None when a query may run now, else the seconds to wait."""
        with self._lock:
            now = self.clock()
            if self._left < 0:
                self._left, self._at = float(self.capacity), now
            self._left = min(self.capacity, self._left + (now - self._at) * self.per_second)
            self._at = now
            if self._left >= 1:
                self._left -= 1
                return None
            return (1 - self._left) / self.per_second

    def remaining(self) -> int:
        with self._lock:
            return max(0, int(self._left))


def management_routes(
    book: TokenBook,
    activity: AzureActivity,
    *,
    page_rows: int = PAGE_ROWS,
    budget: QpuBudget | None = None,
) -> dict[str, Route]:
    """One route for every path under /subscriptions: the query (within `budget`, when one
    is given) and the metrics."""

    def answer(request: Request) -> Response:
        if not request.header("Authorization"):
            return _arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if not book.accepts(request):
            return _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if not request.param("api-version"):
            return _arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required.",
            )
        try:
            if request.method == "POST" and request.path.endswith(QUERY_SUFFIX):
                scope = request.path.removesuffix(QUERY_SUFFIX)
                wait = budget.take() if budget is not None else None
                if wait is not None:
                    return _throttled(wait)
                body = _query(request, scope, activity, page_rows)
                left = {QPU_HEADER + "remaining": str(budget.remaining())} if budget else {}
                return Response(body=body, headers={QPU_HEADER + "consumed": "1", **left})
            if request.method == "GET" and request.path.endswith(METRICS_SUFFIX):
                return Response(body=_metrics(request, activity))
        except _BadRequest as e:
            return _arm_error(400, e.code, str(e))
        return _arm_error(404, "NotFound", f"no route {request.method} {request.path}")

    return {"/subscriptions/*": answer}


def _throttled(wait: float) -> Response:
    seconds = str(max(1, math.ceil(wait)))
    headers = {QPU_HEADER + "retry-after": seconds, "Retry-After": seconds}
    body = {"error": {"code": "429", "message": "Too many requests. Please retry."}}
    return Response(429, body, headers)


class _BadRequest(Exception):
    def __init__(self, message: str, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.code = code


def _arm_error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


@dataclass(frozen=True)
class _Definition:
    start: date
    end: date  # inclusive
    groupings: tuple[tuple[str, str], ...]  # (type, name)
    aggregations: tuple[str, ...]  # column names, in the body's order


def _definition(body: bytes) -> _Definition:
    try:
        query = json.loads(body)
        kind, timeframe = query["type"], query["timeframe"]
        dataset = query["dataset"]
        period = query.get("timePeriod") or {}
    except (ValueError, KeyError, TypeError) as e:
        raise _BadRequest(
            "Invalid query definition: type, timeframe and dataset are required"
        ) from e
    if kind not in ("Usage", "ActualCost", "AmortizedCost"):
        raise _BadRequest(f"Invalid query type {kind!r}")
    if timeframe != "Custom" or "from" not in period or "to" not in period:
        raise _BadRequest("This stand-in answers only a Custom timeframe with a timePeriod")
    if dataset.get("granularity") != "Daily":
        raise _BadRequest("This stand-in answers only Daily granularity")
    groupings = tuple((g.get("type", ""), g.get("name", "")) for g in dataset.get("grouping", []))
    if len(groupings) > 2:
        raise _BadRequest("Invalid query definition: at most 2 groupings are allowed")
    for kind_, name in groupings:
        if not (kind_ == "TagKey" and name) and not (kind_ == "Dimension" and name in _GROUPABLE):
            raise _BadRequest(f"Invalid grouping {kind_} {name!r}")
    aggregations = tuple(a.get("name", "") for a in dataset.get("aggregation", {}).values())
    if not aggregations or len(aggregations) > 2 or set(aggregations) - {"Cost", "UsageQuantity"}:
        raise _BadRequest("Invalid aggregation: Sum of Cost and UsageQuantity are supported")
    try:
        start = datetime.fromisoformat(period["from"].replace("Z", "+00:00")).astimezone(UTC).date()
        end = datetime.fromisoformat(period["to"].replace("Z", "+00:00")).astimezone(UTC).date()
    except (ValueError, AttributeError) as e:
        raise _BadRequest("timePeriod from and to must be ISO date-times") from e
    return _Definition(start, end, groupings, aggregations)


def _group_value(row: UsageRow, kind: str, name: str) -> list[Any]:
    if kind == "TagKey":
        value = dict(row.account.tags).get(name)
        return [name, value]  # TagKey and TagValue columns
    if name == "ResourceId":
        return [row.account.resource_id.lower()]
    if name == "ResourceGroupName":
        return [row.account.group]
    return [row.meter]


def _columns(definition: _Definition) -> list[dict[str, str]]:
    columns = [{"name": a, "type": "Number"} for a in definition.aggregations]
    columns.append({"name": "UsageDate", "type": "Number"})
    for kind, name in definition.groupings:
        if kind == "TagKey":
            columns += [
                {"name": "TagKey", "type": "String"},
                {"name": "TagValue", "type": "String"},
            ]
        else:
            columns.append({"name": name, "type": "String"})
    columns.append({"name": "Currency", "type": "String"})
    return columns


def _rows(definition: _Definition, scope: str, activity: AzureActivity) -> list[list[Any]]:
    sums: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    within = scope.lower()
    for row in activity.usage:
        if not definition.start <= row.day <= definition.end:
            continue
        if not row.account.resource_id.lower().startswith(within):
            continue
        groups = [v for kind, name in definition.groupings for v in _group_value(row, kind, name)]
        key = (int(row.day.strftime("%Y%m%d")), *groups)
        sums[key][0] += row.cost
        sums[key][1] += row.quantity
    rows = []
    for key in sorted(sums, key=repr):
        cost, quantity = sums[key]
        measures = {"Cost": float(cost), "UsageQuantity": float(quantity)}
        rows.append([measures[a] for a in definition.aggregations] + list(key) + ["USD"])
    return rows


def _query(request: Request, scope: str, activity: AzureActivity, page_rows: int) -> dict[str, Any]:
    definition = _definition(request.body)
    rows = _rows(definition, scope, activity)
    offset = _skip(request.param("$skiptoken"), len(rows))
    page = rows[offset : offset + page_rows]
    link = None
    if offset + page_rows < len(rows):
        token = base64.urlsafe_b64encode(f"o{offset + page_rows}".encode()).decode()
        query = urlencode({"api-version": request.param("api-version"), "$skiptoken": token})
        link = f"http://{request.header('Host')}{request.path}?{query}"
    return {
        "id": f"{scope}{QUERY_SUFFIX}/{secrets.token_hex(8)}",
        "name": secrets.token_hex(8),
        "type": "Microsoft.CostManagement/query",
        "location": None,
        "sku": None,
        "eTag": None,
        "properties": {"nextLink": link, "columns": _columns(definition), "rows": page},
    }


def _skip(token: str | None, total: int) -> int:
    if token is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token).decode().removeprefix("o"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise _BadRequest("The $skiptoken is not valid", "InvalidSkipToken") from e
    if not 0 <= offset < total:
        raise _BadRequest("The $skiptoken is not valid", "InvalidSkipToken")
    return offset


_METRIC_SIDES = {"ProcessedPromptTokens": 0, "GeneratedTokens": 1}


def _metrics(request: Request, activity: AzureActivity) -> dict[str, Any]:
    resource = request.path.removesuffix(METRICS_SUFFIX).lower()
    names = (request.param("metricnames") or "").split(",")
    if not names or set(names) - set(_METRIC_SIDES):
        raise _BadRequest(f"metricnames {names} are not metrics of this resource")
    try:
        first, last = (request.param("timespan") or "").split("/")
        start = datetime.fromisoformat(first.replace("Z", "+00:00")).date()
        end = datetime.fromisoformat(last.replace("Z", "+00:00")).date()
    except ValueError as e:
        raise _BadRequest("timespan must be start/end ISO date-times") from e
    values = []
    for name in names:
        by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for point in activity.tokens:
            if point.account.resource_id.lower() == resource and start <= point.day < end:
                total = (point.tokens_in, point.tokens_out)[_METRIC_SIDES[name]]
                stamp = f"{point.day.isoformat()}T00:00:00Z"
                by_model[point.model].append({"timeStamp": stamp, "total": float(total)})
        series = [
            {
                "metadatavalues": [
                    {"name": {"value": "modelname", "localizedValue": "modelname"}, "value": m}
                ],
                "data": sorted(data, key=lambda d: d["timeStamp"]),
            }
            for m, data in sorted(by_model.items())
        ]
        values.append(
            {
                "id": f"{resource}/providers/Microsoft.Insights/metrics/{name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": name},
                "unit": "Count",
                "timeseries": series,
                "errorCode": "Success",
            }
        )
    return {
        "cost": 0,
        "timespan": request.param("timespan"),
        "interval": "P1D",
        "value": values,
        "namespace": "Microsoft.CognitiveServices/accounts",
        "resourceregion": "eastus",
    }
