"""A stand-in for the OpenAI Admin API's costs, usage and project/api key list endpoints.

It serves the reference's envelope (section 1.2-1.4): pages of buckets in `limit` units with
opaque `next_page` cursors, `start_time`/`end_time` filtering, `bucket_width`, `group_by`
(null for every dimension not grouped), amounts in dollars, and Bearer admin-key auth.
Billed synthetic lines carry one amount per model, so each is served as one line item,
"<model>, input", with a "<tier> | " prefix for priority and flex. Usage lines of embedding
models are served by usage/embeddings, the rest by usage/completions; the other usage kinds
answer with empty buckets. Projects and their keys are the ids the lines carry, named after
them, in `after`-cursor lists.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain import CostLine
from bot.standins.server import Request, Response, Route

COSTS_PATH = "/v1/organization/costs"
USAGE_PATH = "/v1/organization/usage/completions"
USAGE_ROOT = "/v1/organization/usage/"
PROJECTS_PATH = "/v1/organization/projects"
_WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
_PREFIXED_TIERS = frozenset({"priority", "flex"})

Measures = Callable[[Sequence[CostLine]], dict[str, Any]]


class BadRequest(Exception):
    """A query the real API would answer 400 to."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Endpoint:
    result_object: str
    limits: Mapping[str, tuple[int, int]]  # bucket_width -> (default limit, max limit)
    dimensions: tuple[str, ...]  # what group_by accepts; each is null unless grouped
    measures: Measures


@dataclass(frozen=True)
class Query:
    start: int
    end: int
    width: int
    limit: int
    position: int  # the first bucket's start on this page
    group_by: tuple[str, ...]


def _cost_measures(lines: Sequence[CostLine]) -> dict[str, Any]:
    total = sum((line.cost or Decimal(0) for line in lines), Decimal(0))
    currency = lines[0].currency.lower()
    amount = {"value": float(total), "currency": currency}
    return {"amount": amount, "quantity": None, "quantity_unit": None}


def _token_measures(lines: Sequence[CostLine]) -> dict[str, Any]:
    tin, read, write = (sum(getattr(x, f) for x in lines) for f in _INPUT_FIELDS)
    return {
        "input_tokens": tin,
        "input_cached_tokens": read,
        "input_cache_write_tokens": write,
        "input_uncached_tokens": tin - read - write,
        "output_tokens": sum(line.tokens_out for line in lines),
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": sum(line.requests for line in lines),
    }


_INPUT_FIELDS = ("tokens_in", "cache_read_tokens", "cache_write_tokens")
COSTS = Endpoint(
    "organization.costs.result",
    {"1d": (7, 180)},
    ("project_id", "line_item", "api_key_id"),
    _cost_measures,
)
USAGE = Endpoint(
    "organization.usage.completions.result",
    {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)},
    ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    _token_measures,
)


def _request_measures(lines: Sequence[CostLine]) -> dict[str, Any]:
    return {"num_model_requests": sum(line.requests for line in lines)}


def _embedding_measures(lines: Sequence[CostLine]) -> dict[str, Any]:
    tokens = sum(line.tokens_in for line in lines)
    return {"input_tokens": tokens, **_request_measures(lines)}


def _other(kind: str, measures: Measures, extra: tuple[str, ...] = ()) -> Endpoint:
    dimensions = ("project_id", "user_id", "api_key_id", "model", *extra)
    limits = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
    return Endpoint(f"organization.usage.{kind}.result", limits, dimensions, measures)


OTHER_USAGE: dict[str, Endpoint] = {
    "embeddings": _other("embeddings", _embedding_measures),
    "moderations": _other("moderations", _embedding_measures),
    "images": _other("images", _request_measures, ("size", "source")),
    "audio_speeches": _other("audio_speeches", _request_measures),
    "audio_transcriptions": _other("audio_transcriptions", _request_measures),
}


def openai_routes(
    *,
    admin_key: str,
    costs: list[CostLine],
    usage: list[CostLine],
    archived: frozenset[str] = frozenset(),
) -> dict[str, Route]:
    """Routes for StandIn: costs serves `costs` (billed), usage serves `usage` (tokens), and
    the projects the lines name (those in `archived` only with include_archived=true)."""
    embeddings = tuple(x for x in usage if _is_embedding(x))
    completions = tuple(x for x in usage if not _is_embedding(x))
    served = {"embeddings": embeddings}
    routes = {
        COSTS_PATH: _route(COSTS, tuple(costs), admin_key),
        USAGE_PATH: _route(USAGE, completions, admin_key),
    }
    for kind, endpoint in OTHER_USAGE.items():
        routes[USAGE_ROOT + kind] = _route(endpoint, served.get(kind, ()), admin_key)
    return routes | _project_routes([*costs, *usage], archived, admin_key)


def _is_embedding(line: CostLine) -> bool:
    return "embedding" in line.model


def _project_routes(
    lines: Sequence[CostLine], archived: frozenset[str], admin_key: str
) -> dict[str, Route]:
    keys: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        if line.project:
            keys[line.project].update([line.api_key] if line.api_key else [])
    projects = [_project(p, p in archived) for p in sorted(keys)]
    routes = {PROJECTS_PATH: _list_route(projects, admin_key, hidden=archived)}
    for project, key_ids in keys.items():
        path = f"{PROJECTS_PATH}/{project}/api_keys"
        routes[path] = _list_route([_api_key(k) for k in sorted(key_ids)], admin_key)
    return routes


def display_name(identifier: str) -> str:
    """The name the stand-in gives an id: "proj_search" is "search", "key_search_prod" is
    "search prod"."""
    return identifier.partition("_")[2].replace("_", " ") or identifier


def _project(identifier: str, archived: bool) -> dict[str, Any]:
    return {
        "id": identifier,
        "object": "organization.project",
        "name": display_name(identifier),
        "created_at": 1716200000,
        "archived_at": 1750000000 if archived else None,
        "status": "archived" if archived else "active",
    }


def _api_key(identifier: str) -> dict[str, Any]:
    return {
        "object": "organization.project.api_key",
        "id": identifier,
        "name": display_name(identifier),
        "redacted_value": "sk-proj-****" + identifier[-4:],
        "created_at": 1716200000,
        "last_used_at": None,
        "owner": {"type": "service_account", "service_account": {"id": "svc_1", "name": "ci"}},
    }


def _list_route(
    items: list[dict[str, Any]], admin_key: str, hidden: frozenset[str] = frozenset()
) -> Route:
    """A list endpoint paged by `after` = the last id of the previous page."""

    def answer(request: Request) -> Response:
        if not _authorized(request, admin_key):
            message = "Incorrect API key provided. An admin key is required."
            return _error(401, message, None, "invalid_api_key")
        shown = items
        if request.param("include_archived") != "true":
            shown = [item for item in items if item["id"] not in hidden]
        try:
            limit = _integer(request, "limit", 20)
            if not 1 <= limit <= 100:
                raise BadRequest("limit must be within 1..100", "limit")
            first = _after(shown, request.param("after"))
        except BadRequest as e:
            return _error(400, str(e), e.param, None)
        page = shown[first : first + limit]
        return Response(
            body={
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": first + limit < len(shown),
            }
        )

    return answer


def _after(items: Sequence[Mapping[str, Any]], after: str | None) -> int:
    if after is None:
        return 0
    ids = [item["id"] for item in items]
    if after not in ids:
        raise BadRequest(f"after {after!r} is not an id in this list", "after")
    return ids.index(after) + 1


def line_item(line: CostLine) -> str:
    """The line item a billed line is served under."""
    if line.line_item:
        return line.line_item
    prefix = f"{line.service_tier} | " if line.service_tier in _PREFIXED_TIERS else ""
    return f"{prefix}{line.model}, input"


def _route(endpoint: Endpoint, lines: tuple[CostLine, ...], admin_key: str) -> Route:
    def answer(request: Request) -> Response:
        if not _authorized(request, admin_key):
            message = "Incorrect API key provided. An admin key is required."
            return _error(401, message, None, "invalid_api_key")
        try:
            query = _query(request, endpoint, lines)
        except BadRequest as e:
            return _error(400, str(e), e.param, None)
        return Response(body=_page(endpoint, lines, query))

    return answer


def _authorized(request: Request, admin_key: str) -> bool:
    sent = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    return hmac.compare_digest(sent.encode(), f"Bearer {admin_key}".encode())


def _error(status: int, message: str, param: str | None, code: str | None) -> Response:
    kind = "invalid_request_error"
    return Response(
        status, {"error": {"message": message, "type": kind, "param": param, "code": code}}
    )


def _integer(request: Request, name: str, default: int | None = None) -> int:
    raw = request.param(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError as e:
        raise BadRequest(f"{name} must be an integer", name) from e


def _query(request: Request, endpoint: Endpoint, lines: Sequence[CostLine]) -> Query:
    width_name = request.param("bucket_width") or "1d"
    if width_name not in endpoint.limits:
        raise BadRequest(f"bucket_width {width_name!r} is not supported", "bucket_width")
    width, (default, most) = _WIDTHS[width_name], endpoint.limits[width_name]
    start = _integer(request, "start_time") // width * width
    end = _integer(request, "end_time", max(_latest_end(lines), start + width))
    limit = _integer(request, "limit", default)
    if not 1 <= limit <= most:
        raise BadRequest(f"limit must be within 1..{most}", "limit")
    group_by = tuple(request.query.get("group_by", []))
    if unknown := set(group_by) - set(endpoint.dimensions):
        raise BadRequest(f"cannot group_by {sorted(unknown)}", "group_by")
    position = _cursor(request.param("page"), start, end)
    return Query(start, end, width, limit, position, group_by)


def _latest_end(lines: Sequence[CostLine]) -> int:
    ends = (int(x.bucket_start.timestamp()) + x.bucket_hours * 3600 for x in lines)
    return max(ends, default=0)


def _cursor(page: str | None, start: int, end: int) -> int:
    if page is None:
        return start
    try:
        position = int(base64.urlsafe_b64decode(page.removeprefix("page_")).decode())
    except (binascii.Error, ValueError) as e:
        raise BadRequest("page is not a cursor this query returned", "page") from e
    if not start <= position < end:
        raise BadRequest("page is not a cursor this query returned", "page")
    return position


def _next_page(position: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(position).encode()).decode()


def _page(endpoint: Endpoint, lines: Sequence[CostLine], query: Query) -> dict[str, Any]:
    stop = min(query.end, query.position + query.limit * query.width)
    starts = range(query.position, stop, query.width)
    grouped = _grouped(endpoint, lines, query, stop)
    more = stop < query.end
    return {
        "object": "page",
        "data": [_bucket(endpoint, b, min(b + query.width, query.end), grouped) for b in starts],
        "has_more": more,
        "next_page": _next_page(stop) if more else None,
    }


Groups = dict[int, dict[tuple[tuple[str, Any], ...], list[CostLine]]]


def _grouped(endpoint: Endpoint, lines: Sequence[CostLine], query: Query, stop: int) -> Groups:
    """Lines in [position, stop) and [start, end), by bucket start and grouped dimensions."""
    groups: Groups = defaultdict(lambda: defaultdict(list))
    low = max(query.position, query.start)
    for line in lines:
        at = int(line.bucket_start.timestamp())
        if low <= at < min(stop, query.end):
            bucket = query.position + (at - query.position) // query.width * query.width
            key = tuple(
                (d, _dimension(line, d)) for d in endpoint.dimensions if d in query.group_by
            )
            groups[bucket][key].append(line)
    return groups


def _dimension(line: CostLine, name: str) -> Any:
    if name == "batch":
        return line.batch
    values = {
        "project_id": line.project,
        "api_key_id": line.api_key,
        "model": line.model,
        "service_tier": line.service_tier,
        "line_item": line_item(line),
    }
    return values.get(name) or None


def _bucket(endpoint: Endpoint, start: int, end: int, groups: Groups) -> dict[str, Any]:
    by_key = groups.get(start, {})
    results = [_result(endpoint, dict(key), by_key[key]) for key in sorted(by_key, key=repr)]
    return {"object": "bucket", "start_time": start, "end_time": end, "results": results}


def _result(endpoint: Endpoint, dims: dict[str, Any], lines: Sequence[CostLine]) -> dict[str, Any]:
    nulls = dict.fromkeys(endpoint.dimensions)
    return {"object": endpoint.result_object, **nulls, **dims, **endpoint.measures(lines)}
