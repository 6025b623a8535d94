"""A stand-in for AWS Cost Explorer's GetCostAndUsage and GetDimensionValues, as boto3 calls
them: the AWS JSON 1.1 protocol (POST / with X-Amz-Target: AWSInsightsIndexService.<Op>,
errors as {"__type", "message"}), a SigV4 signature checked with the configured key pair
(recomputed over the signed headers with botocore's signer), daily ResultsByTime with Groups
whose Keys follow GroupBy (TAG keys as "key$value"), amounts as strings with ten decimals, and
paging by NextPageToken that must come back with identical parameters
(RequestChangedException).

It serves rows of (day, SERVICE, USAGE_TYPE, tag value, dollars, quantity). `rows_from_lines`
turns the synthetic company's Bedrock lines into them: each line's dollars split over its
four token kinds in proportion to list-price weights, exactly, under the marketplace service
and usage type names of the reference (section 3.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bot.domain import CostLine
from bot.money import SCALE
from bot.standins.server import Fault, Request, Response, Route

TARGET_PREFIX = "AWSInsightsIndexService."
JSON_TYPE = "application/x-amz-json-1.1"
REGION = "USE1"
PAGE_SIZE = 200  # groups per page
_QUANTUM = Decimal(1).scaleb(-SCALE)
_CREDENTIAL = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>[0-9]{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_COST_METRICS = frozenset(
    {"UnblendedCost", "NetUnblendedCost", "BlendedCost", "AmortizedCost", "NetAmortizedCost"}
)
_DIMENSIONS = frozenset({"SERVICE", "USAGE_TYPE", "RECORD_TYPE", "LINKED_ACCOUNT"})
# the synthetic models sold through AWS Marketplace, by the id apps use
MARKETPLACE = {
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "Claude Sonnet 4.5 (Amazon Bedrock Edition)",
}
# $/M tokens (uncached input, cache read, cache write, output): weights for splitting a
# line's dollars over its token kinds
_WEIGHTS = (Decimal(3), Decimal("0.30"), Decimal("3.75"), Decimal(15))
_KINDS = ("InputTokenCount", "CacheReadInputTokenCount", "CacheWriteInputTokenCount")
_KINDS_OUT = "OutputTokenCount"


@dataclass(frozen=True, slots=True)
class Row:
    day: date
    service: str
    usage_type: str
    tag: str  # the cost allocation tag's value; "" untagged
    cost: Decimal
    quantity: Decimal = Decimal(0)


def marketplace_usage_type(kind: str, *, batch: bool = False, region: str = REGION) -> str:
    return f"{region}-MP:{region}_{kind}{'_Batch' if batch else ''}-Units"


def rows_from_lines(lines: Sequence[CostLine], tag_of: Callable[[CostLine], str]) -> list[Row]:
    """Billed synthetic Bedrock lines as Cost Explorer rows, dollars kept exactly per line."""
    rows: list[Row] = []
    for line in lines:
        if line.cost is None:
            continue
        service = MARKETPLACE.get(line.model, "Amazon Bedrock")
        uncached = line.tokens_in - line.cache_read_tokens - line.cache_write_tokens
        counts = (uncached, line.cache_read_tokens, line.cache_write_tokens, line.tokens_out)
        kinds = (*_KINDS, _KINDS_OUT)
        costs = _split(line.cost, [c * w for c, w in zip(counts, _WEIGHTS, strict=True)])
        for kind, count, cost in zip(kinds, counts, costs, strict=True):
            if count or cost:
                usage_type = marketplace_usage_type(kind, batch=line.batch)
                quantity = Decimal(count).scaleb(-6)  # marketplace units: millions of tokens
                rows.append(
                    Row(line.bucket_start.date(), service, usage_type, tag_of(line), cost, quantity)
                )
    return rows


def _split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        return [total, *([Decimal(0)] * (len(weights) - 1))]
    parts = [(total * w / whole).quantize(_QUANTUM) for w in weights]
    largest = max(range(len(parts)), key=lambda i: weights[i])
    parts[largest] += total - sum(parts, Decimal(0))
    return parts


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def response(self, content_type: str = JSON_TYPE) -> Response:
        body = {"__type": self.code, "message": self.message}
        return Response(self.status, body, {"Content-Type": content_type})


def error_fault(code: str, message: str, status: int = 400) -> Fault:
    """The next request answered with this AWS error (ThrottlingException,
    LimitExceededException, InternalServerException with 500, ...)."""
    body = {"__type": code, "message": message}
    return Fault(status=status, body=body, headers={"Content-Type": JSON_TYPE})


THROTTLED = error_fault("LimitExceededException", "Rate exceeded")
UNAVAILABLE = error_fault("InternalServerException", "Internal failure", 500)


def cost_explorer_routes(
    *,
    access_key_id: str,
    secret_access_key: str,
    rows: Sequence[Row],
    tag_key: str = "team",
    page_size: int = PAGE_SIZE,
) -> dict[str, Route]:
    """Routes for StandIn answering Cost Explorer at its root path."""
    held = tuple(rows)
    operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "GetCostAndUsage": lambda body: _cost_and_usage(body, held, tag_key, page_size),
        "GetDimensionValues": lambda body: _dimension_values(body, held),
    }

    def answer(request: Request) -> Response:
        try:
            authenticate(request, Credentials(access_key_id, secret_access_key), "ce", "us-east-1")
            target = request.header("X-Amz-Target") or ""
            operation = operations.get(target.removeprefix(TARGET_PREFIX))
            if operation is None or not target.startswith(TARGET_PREFIX):
                raise ApiError("UnknownOperationException", f"unknown operation {target!r}")
            body = json_body(request)
            result = operation(body)
        except ApiError as e:
            return e.response()
        return Response(200, result, {"Content-Type": JSON_TYPE})

    return {"/": answer}


def authenticate(request: Request, credentials: Credentials, service: str, region: str) -> None:
    """A SigV4-signed request from these credentials for this service and region, or the
    error AWS answers."""
    header = request.header("Authorization")
    when = request.header("X-Amz-Date")
    if not header or not when:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    found = _CREDENTIAL.match(header)
    if found is None:
        raise ApiError("IncompleteSignatureException", "Authorization header is malformed")
    if found["key"] != credentials.access_key:
        raise ApiError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if found["region"] != region or found["service"] != service or found["day"] != when[:8]:
        raise ApiError(
            "InvalidSignatureException", f"Credential should be scoped to {region}/{service}."
        )
    expected = _signature(request, credentials, found["signed"].split(";"), when, (service, region))
    if not hmac.compare_digest(expected, found["signature"]):
        raise ApiError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )


def _signature(
    request: Request,
    credentials: Credentials,
    signed: list[str],
    when: str,
    scope: tuple[str, str],
) -> str:
    """SigV4 over the headers the client says it signed, as AWS recomputes it."""
    headers = {name: request.header(name) or "" for name in signed}
    query = urlencode([(k, v) for k, values in request.query.items() for v in values])
    url = f"http://{headers.get('host', '')}{request.path}" + (f"?{query}" if query else "")
    aws = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    aws.context["timestamp"] = when
    signer = SigV4Auth(credentials, *scope)
    return str(signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws))


def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as e:
        raise ApiError("SerializationException", "request body is not JSON") from e
    if not isinstance(body, dict):
        raise ApiError("SerializationException", "request body is not an object")
    return body


def _days(body: dict[str, Any]) -> tuple[date, date]:
    period = body.get("TimePeriod") or {}
    try:
        start, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    except (KeyError, TypeError, ValueError) as e:
        raise ApiError("ValidationException", "TimePeriod needs Start and End dates") from e
    if end <= start:
        raise ApiError("ValidationException", "Start date must be before End date")
    return start, end


def _selected(body: dict[str, Any], rows: Sequence[Row], start: date, end: date) -> list[Row]:
    keep = _filter(body.get("Filter"))
    return [r for r in rows if start <= r.day < end and keep(r)]


def _filter(expression: dict[str, Any] | None) -> Callable[[Row], bool]:
    """And / Dimensions (SERVICE, USAGE_TYPE, RECORD_TYPE) filters; every row is Usage."""
    if not expression:
        return lambda _: True
    if len(expression) != 1:
        raise ApiError("ValidationException", "an Expression takes exactly one operator")
    ((operator, value),) = expression.items()
    if operator == "And":
        parts = [_filter(part) for part in value]
        return lambda row: all(p(row) for p in parts)
    if operator != "Dimensions":
        raise ApiError("ValidationException", f"the stand-in does not filter by {operator}")
    key, values = value.get("Key"), set(value.get("Values") or ())
    if key == "RECORD_TYPE":
        return lambda _: "Usage" in values
    if key == "SERVICE":
        return lambda row: row.service in values
    if key == "USAGE_TYPE":
        return lambda row: row.usage_type in values
    raise ApiError("ValidationException", f"unsupported dimension {key!r}")


def _group_keys(body: dict[str, Any], tag_key: str) -> Callable[[Row], tuple[str, ...]]:
    groups = body.get("GroupBy") or []
    if len(groups) > 2:
        raise ApiError("ValidationException", "GroupBy takes at most two groups")
    getters: list[Callable[[Row], str]] = []
    for group in groups:
        kind, key = group.get("Type"), group.get("Key")
        if kind == "DIMENSION" and key == "SERVICE":
            getters.append(lambda row: row.service)
        elif kind == "DIMENSION" and key == "USAGE_TYPE":
            getters.append(lambda row: row.usage_type)
        elif kind == "TAG" and isinstance(key, str):
            # an unknown tag key puts everything in the empty group, as Cost Explorer does
            getters.append(_tag_getter(key, tag_key))
        else:
            raise ApiError("ValidationException", f"unsupported GroupBy {kind} {key}")
    return lambda row: tuple(get(row) for get in getters)


def _tag_getter(key: str, tag_key: str) -> Callable[[Row], str]:
    return lambda row: f"{key}${row.tag if key == tag_key else ''}"


def _metrics(body: dict[str, Any]) -> list[str]:
    metrics = body.get("Metrics") or []
    if not metrics:
        raise ApiError("ValidationException", "Metrics is required")
    for metric in metrics:
        if metric not in _COST_METRICS and metric != "UsageQuantity":
            raise ApiError("ValidationException", f"unknown metric {metric}")
    return list(metrics)


def _cost_and_usage(
    body: dict[str, Any], rows: Sequence[Row], tag_key: str, page_size: int
) -> dict[str, Any]:
    if body.get("Granularity") != "DAILY":
        raise ApiError("ValidationException", "the stand-in serves DAILY granularity only")
    start, end = _days(body)
    metrics = _metrics(body)
    keys_of = _group_keys(body, tag_key)
    sums: dict[tuple[date, tuple[str, ...]], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)]
    )
    for row in _selected(body, rows, start, end):
        total = sums[(row.day, keys_of(row))]
        total[0] += row.cost
        total[1] += row.quantity
    ordered = sorted(sums)
    offset = _offset(body)
    chosen = ordered[offset : offset + page_size]
    answer: dict[str, Any] = {
        "GroupDefinitions": body.get("GroupBy") or [],
        "ResultsByTime": _results(start, end, chosen, sums, metrics, first=offset == 0),
        "DimensionValueAttributes": [],
    }
    if offset + page_size < len(ordered):
        answer["NextPageToken"] = _token(body, offset + page_size)
    return answer


def _results(
    start: date,
    end: date,
    chosen: list[tuple[date, tuple[str, ...]]],
    sums: dict[tuple[date, tuple[str, ...]], list[Decimal]],
    metrics: list[str],
    *,
    first: bool,
) -> list[dict[str, Any]]:
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for day, keys in chosen:
        cost, quantity = sums[(day, keys)]
        values = {
            m: {"Amount": _amount(quantity if m == "UsageQuantity" else cost), "Unit": _unit(m)}
            for m in metrics
        }
        by_day[day].append({"Keys": list(keys), "Metrics": values})
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    shown = days if first else sorted(by_day)
    return [
        {
            "TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()},
            "Total": {},
            "Groups": by_day.get(d, []),
            "Estimated": d >= end - timedelta(days=2),
        }
        for d in shown
    ]


def _amount(value: Decimal) -> str:
    return f"{value:.10f}"


def _unit(metric: str) -> str:
    return "N/A" if metric == "UsageQuantity" else "USD"


def _fingerprint(body: dict[str, Any]) -> str:
    fixed = {k: v for k, v in body.items() if k != "NextPageToken"}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:16]


def _token(body: dict[str, Any], offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_fingerprint(body)}:{offset}".encode()).decode()


def _offset(body: dict[str, Any]) -> int:
    token = body.get("NextPageToken")
    if not token:
        return 0
    try:
        fingerprint, offset = base64.urlsafe_b64decode(token).decode().split(":")
        position = int(offset)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError("InvalidNextTokenException", "The next token is invalid") from e
    if fingerprint != _fingerprint(body):
        raise ApiError("RequestChangedException", "The request changed between pages")
    return position


def _dimension_values(body: dict[str, Any], rows: Sequence[Row]) -> dict[str, Any]:
    if body.get("Dimension") != "SERVICE":
        raise ApiError("ValidationException", "the stand-in lists SERVICE values only")
    start, end = _days(body)
    search = str(body.get("SearchString") or "").lower()
    services = sorted({r.service for r in rows if start <= r.day < end})
    found = [s for s in services if search in s.lower()]
    return {
        "DimensionValues": [{"Value": s, "Attributes": {}} for s in found],
        "ReturnSize": len(found),
        "TotalSize": len(found),
    }


def foundation_models(region: str = "us-east-1") -> list[dict[str, Any]]:
    """ListFoundationModels' summaries of the models the stand-in bills, and a few others."""
    named = [
        (model_id, service.removesuffix(" (Amazon Bedrock Edition)"), "Anthropic")
        for model_id, service in MARKETPLACE.items()
    ]
    named += [(f"{model_id}:200k", name, vendor) for model_id, name, vendor in named]
    named += [
        ("amazon.nova-pro-v1:0", "Nova Pro", "Amazon"),
        ("amazon.nova-lite-v1:0", "Nova Lite", "Amazon"),
    ]
    return [
        {
            "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
            "modelId": model_id,
            "modelName": name,
            "providerName": vendor,
        }
        for model_id, name, vendor in named
    ]


def foundation_models_routes(
    *, access_key_id: str, secret_access_key: str, region: str = "us-east-1"
) -> dict[str, Route]:
    """Bedrock's GET /foundation-models (REST JSON), SigV4 for the `bedrock` service."""
    credentials = Credentials(access_key_id, secret_access_key)
    summaries = foundation_models(region)

    def answer(request: Request) -> Response:
        try:
            authenticate(request, credentials, "bedrock", region)
        except ApiError as e:
            return e.response("application/json")
        return Response(200, {"modelSummaries": summaries})

    return {"/foundation-models": answer}
