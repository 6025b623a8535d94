"""A stand-in for the Anthropic Admin API's cost report and messages usage report.

It serves given CostLines the way the provider reference (section 2) documents: admin-key
and version headers, RFC 3339 `starting_at`/`ending_at`, `bucket_width`, `group_by[]` (an
ungrouped dimension is null and its rows are summed), `limit` buckets per page with an
opaque `next_page`, cost amounts as cents in decimal strings, and the documented error body.
"""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.domain import CostLine
from bot.standins.server import Request, Response, Route

API_VERSION = "2023-06-01"
COST_PATH = "/v1/organizations/cost_report"
USAGE_PATH = "/v1/organizations/usage_report/messages"
_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)
_DESCRIPTION_FIELDS = ("description", "cost_type", "model", "token_type", "service_tier")
_USAGE_DIMENSIONS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
)

_COST_GROUPS = {
    "workspace_id": frozenset({"workspace_id"}),
    "description": frozenset(_DESCRIPTION_FIELDS),
}

Dims = tuple[tuple[str, str | None], ...]
Amounts = tuple[Decimal, ...]


class _Invalid(Exception):
    """A request the real API would refuse: status, error type and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass(frozen=True)
class _Row:
    start: datetime
    dims: Dims
    amounts: Amounts


@dataclass(frozen=True)
class _Report:
    widths: Mapping[str, tuple[timedelta, int, int]]  # width -> size, default, max limit
    groups: Mapping[str, frozenset[str]]  # group_by[] value -> the fields it fills
    rows: tuple[_Row, ...]
    render: Callable[[Amounts], dict[str, object]]


def anthropic_routes(
    *, admin_key: str, costs: list[CostLine], usage: list[CostLine]
) -> dict[str, Route]:
    """Routes for StandIn: the cost report serves `costs`, the usage report serves `usage`."""
    cost_report = _Report(
        {"1d": (_DAY, 7, 31)},
        _COST_GROUPS,
        tuple(_cost_row(line) for line in costs),
        _render_cost,
    )
    usage_report = _Report(
        {"1h": (_HOUR, 24, 168), "1d": (_DAY, 7, 31)},
        {name: frozenset({name}) for name in _USAGE_DIMENSIONS},
        tuple(_usage_row(line) for line in usage),
        _render_usage,
    )
    return {
        COST_PATH: _route(admin_key, cost_report),
        USAGE_PATH: _route(admin_key, usage_report),
    }


def _route(admin_key: str, report: _Report) -> Route:
    def answer(request: Request) -> Response:
        try:
            _authenticate(request, admin_key)
            return Response(body=_page(report, request))
        except _Invalid as e:
            return _error(e)

    return answer


def _error(error: _Invalid) -> Response:
    body = {
        "type": "error",
        "error": {"type": error.kind, "message": error.message},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }
    return Response(error.status, body)


def _authenticate(request: Request, admin_key: str) -> None:
    headers = {name.lower(): value for name, value in request.headers.items()}
    if headers.get("x-api-key") != admin_key:
        raise _Invalid(401, "authentication_error", "invalid x-api-key")
    if headers.get("anthropic-version") != API_VERSION:
        raise _Invalid(401, "authentication_error", "missing or unknown anthropic-version")


def _bad(message: str) -> _Invalid:
    return _Invalid(400, "invalid_request_error", message)


def _page(report: _Report, request: Request) -> dict[str, object]:
    width, limit = _width_and_limit(report, request)
    grouped = _grouped(report, request)
    buckets = _buckets(report, request, width)
    offset = _decode(request.param("page"))
    shown = buckets[offset : offset + limit]
    sums = _sums(report.rows, width, set(shown), grouped)
    more = offset + limit < len(buckets)
    return {
        "data": [_bucket(start, width, sums.get(start, {}), report) for start in shown],
        "has_more": more,
        "next_page": _encode(offset + limit) if more else None,
    }


def _width_and_limit(report: _Report, request: Request) -> tuple[timedelta, int]:
    name = request.param("bucket_width") or "1d"
    if name not in report.widths:
        raise _bad(f"bucket_width: unsupported value {name!r}")
    size, default, most = report.widths[name]
    raw = request.param("limit")
    try:
        limit = default if raw is None else int(raw)
    except ValueError:
        raise _bad("limit: not an integer") from None
    if not 1 <= limit <= most:
        raise _bad(f"limit: must be between 1 and {most}")
    return size, limit


def _grouped(report: _Report, request: Request) -> frozenset[str]:
    fields: set[str] = set()
    for name in request.query.get("group_by[]", []):
        if name not in report.groups:
            raise _bad(f"group_by[]: unsupported value {name!r}")
        fields |= report.groups[name]
    return frozenset(fields)


def _buckets(report: _Report, request: Request, width: timedelta) -> list[datetime]:
    """Bucket starts from starting_at (snapped down) while before ending_at; without
    ending_at, through the last bucket that holds data."""
    starting = request.param("starting_at")
    if starting is None:
        raise _bad("starting_at: field required")
    first = _floor(_moment("starting_at", starting), width)
    ending = request.param("ending_at")
    if ending is not None:
        stop = _moment("ending_at", ending)
    else:
        stop = max((_floor(row.start, width) + width for row in report.rows), default=first)
    count = max(0, -(-(stop - first) // width))
    return [first + i * width for i in range(count)]


def _moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name}: not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise _bad(f"{name}: RFC 3339 needs a UTC offset")
    return moment.astimezone(UTC)


def _floor(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (moment - epoch) // width * width


def _encode(offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"offset={offset}".encode()).decode()


def _decode(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.removeprefix("page_")).decode()
        offset = int(text.removeprefix("offset="))
    except ValueError:
        raise _bad("page: invalid cursor") from None
    if offset < 0:
        raise _bad("page: invalid cursor")
    return offset


def _sums(
    rows: Iterable[_Row], width: timedelta, shown: set[datetime], grouped: frozenset[str]
) -> dict[datetime, dict[Dims, Amounts]]:
    """Amounts summed per bucket and per combination of the grouped dimensions."""
    sums: dict[datetime, dict[Dims, Amounts]] = defaultdict(dict)
    for row in rows:
        start = _floor(row.start, width)
        if start not in shown:
            continue
        dims = tuple((name, value if name in grouped else None) for name, value in row.dims)
        before = sums[start].get(dims, tuple(Decimal(0) for _ in row.amounts))
        sums[start][dims] = tuple(a + b for a, b in zip(before, row.amounts, strict=True))
    return sums


def _bucket(
    start: datetime, width: timedelta, sums: Mapping[Dims, Amounts], report: _Report
) -> dict[str, object]:
    ordered = sorted(sums.items(), key=lambda kv: [value or "" for _, value in kv[0]])
    return {
        "starting_at": _rfc3339(start),
        "ending_at": _rfc3339(start + width),
        "results": [{**report.render(amounts), **dict(dims)} for dims, amounts in ordered],
    }


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tier(line: CostLine) -> str | None:
    return "batch" if line.batch else line.service_tier or None


def _cost_row(line: CostLine) -> _Row:
    description = line.line_item or f"{line.model} Usage"
    dims: Dims = (
        ("workspace_id", line.project or None),
        ("description", description),
        ("cost_type", "tokens" if line.model else None),
        ("model", line.model or None),
        ("token_type", None),
        ("service_tier", _tier(line)),
        ("context_window", None),
        ("inference_geo", None),
    )
    return _Row(line.bucket_start, dims, (line.cost or Decimal(0),))


def _render_cost(amounts: Amounts) -> dict[str, object]:
    return {"amount": format(amounts[0].scaleb(2), "f"), "currency": "USD"}


def _usage_row(line: CostLine) -> _Row:
    """Tokens split the way the report does: uncached input, reads, 5m and 1h writes."""
    one_hour = line.cache_write_tokens // 3
    uncached = line.tokens_in - line.cache_read_tokens - line.cache_write_tokens
    parts = (uncached, line.cache_read_tokens, line.cache_write_tokens - one_hour, one_hour)
    known = {"api_key_id": line.api_key, "workspace_id": line.project, "model": line.model}
    known["service_tier"] = _tier(line) or ""
    dims = tuple((name, known.get(name) or None) for name in _USAGE_DIMENSIONS)
    amounts = tuple(Decimal(n) for n in (*parts, line.tokens_out))
    return _Row(line.bucket_start, dims, amounts)


def _render_usage(amounts: Amounts) -> dict[str, object]:
    uncached, read, five_minutes, one_hour, output = (int(n) for n in amounts)
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {
            "ephemeral_5m_input_tokens": five_minutes,
            "ephemeral_1h_input_tokens": one_hour,
        },
        "cache_read_input_tokens": read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": 0},
    }
