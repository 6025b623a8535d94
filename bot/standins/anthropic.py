"""A stand-in for the Anthropic Admin API: cost report, messages usage report, Claude Code
usage report, and the workspace and api key lists.

It serves given CostLines the way the provider reference (section 2) documents: admin-key
and version headers, RFC 3339 `starting_at`/`ending_at`, `bucket_width`, `group_by[]` (an
ungrouped dimension is null and its rows are summed), `limit` buckets per page with an
opaque `next_page`, cost amounts as cents in decimal strings, and the documented error body.

The lists name every workspace and key the lines carry (the default workspace, null in the
reports, is not listed), plus an archived workspace, a retired key and the key Claude Code
runs under in CI; they page by `after_id`/`before_id` with `first_id`/`last_id`. The Claude
Code report serves given CodingToolDays, by default `claude_code_days(costs, usage)`: a few
developers on the billed days, using the models the lines use. `date` alternates between
its two documented forms, and estimated costs are cents as JSON numbers.

Faults beyond server.Fault's transport ones: `error_fault` gives a status the documented body
(429 with Retry-After, 529 overloaded_error, ...); `with_unknown_fields` and `without_field`
rewrite a real answer; `repeating_cursor` is a page whose cursor never moves on.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.domain import CodingToolDay, CostLine
from bot.standins.server import Fault, Request, Response, Route

API_VERSION = "2023-06-01"
COST_PATH = "/v1/organizations/cost_report"
USAGE_PATH = "/v1/organizations/usage_report/messages"
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
WORKSPACES_PATH = "/v1/organizations/workspaces"
API_KEYS_PATH = "/v1/organizations/api_keys"
ORGANIZATION_ID = "2b7f0c4e-5d1a-4c3b-9e8f-0a1b2c3d4e5f"
ARCHIVED_WORKSPACE = ("wrkspc_01ArchivedPrototype", "prototype")  # listed if include_archived
RETIRED_KEY = ("apikey_01RetiredBatchJob", "retired batch job")  # status "archived"
CI_KEY = ("apikey_01ClaudeCodeCI", "claude-code-ci")  # the api_actor of the Claude Code report
DEVELOPERS = (
    "arjun@example.com",
    "kim@example.com",
    "lena@example.com",
    "maya@example.com",
    "omar@example.com",
)
_KEY_STATUSES = frozenset({"active", "inactive", "archived", "expired"})
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
    *,
    admin_key: str,
    costs: list[CostLine],
    usage: list[CostLine],
    coding: Sequence[CodingToolDay] | None = None,
) -> dict[str, Route]:
    """Routes for StandIn: the cost report serves `costs`, the usage report serves `usage`,
    the lists name their workspaces and keys, and the Claude Code report serves `coding`
    (by default `claude_code_days(costs, usage)`)."""
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
    lines = [*costs, *usage]
    records = _records(claude_code_days(costs, usage) if coding is None else coding)
    workspaces, keys = _workspaces(lines), _api_keys(lines)
    return {
        COST_PATH: _route(admin_key, lambda r: _page(cost_report, r)),
        USAGE_PATH: _route(admin_key, lambda r: _page(usage_report, r)),
        CLAUDE_CODE_PATH: _route(admin_key, lambda r: _claude_code_page(records, r)),
        WORKSPACES_PATH: _route(admin_key, lambda r: _list_page(workspaces, r, _workspace_shown)),
        API_KEYS_PATH: _route(admin_key, lambda r: _list_page(keys, r, _key_shown)),
        f"{API_KEYS_PATH}/*": _route(admin_key, lambda r: _one_key(keys, r)),
    }


def _route(admin_key: str, page: Callable[[Request], dict[str, object]]) -> Route:
    def answer(request: Request) -> Response:
        try:
            _authenticate(request, admin_key)
            return Response(body=page(request))
        except _Invalid as e:
            return _error(e)

    return answer


def _error(error: _Invalid) -> Response:
    return Response(error.status, _error_body(error.kind, error.message))


def _error_body(kind: str, message: str) -> dict[str, object]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


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
    return size, _limit(request, default, most)


def _limit(request: Request, default: int, most: int) -> int:
    raw = request.param("limit")
    try:
        limit = default if raw is None else int(raw)
    except ValueError:
        raise _bad("limit: not an integer") from None
    if not 1 <= limit <= most:
        raise _bad(f"limit: must be between 1 and {most}")
    return limit


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


# Workspaces and api keys: lists paged by after_id / before_id.

Item = dict[str, Any]
_CREATED = "2025-03-04T09:30:00Z"
_COLORS = ("#6C5BB9", "#3B82F6", "#10B981", "#F59E0B", "#EF4444", "#8B5CF6")
_DEFAULT_WORKSPACE_ID = "wrkspc_01DefaultWorkspace"  # what api key scopes call the default


def display_name(identifier: str) -> str:
    """The name the stand-in gives an id the lines carry, as the OpenAI stand-in does:
    "proj_search" is "search", "key_search_prod" is "search prod"."""
    return identifier.partition("_")[2].replace("_", " ") or identifier


def _workspaces(lines: Iterable[CostLine]) -> list[Item]:
    ids = sorted({line.project for line in lines if line.project})
    named: list[tuple[str, str, str | None]] = [(i, display_name(i), None) for i in ids]
    named.append((*ARCHIVED_WORKSPACE, "2026-06-30T17:00:00Z"))
    return [
        {
            "id": identifier,
            "type": "workspace",
            "name": name,
            "created_at": _CREATED,
            "archived_at": archived_at,
            "display_color": _COLORS[n % len(_COLORS)],
        }
        for n, (identifier, name, archived_at) in enumerate(named)
    ]


def _api_keys(lines: Iterable[CostLine]) -> list[Item]:
    homes: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        if line.api_key:
            homes[line.api_key][line.project] += 1
    keys = [(k, display_name(k), _home(homes[k]), "active") for k in sorted(homes)]
    first = next((line.project for line in lines if line.project), "")
    keys.append((*CI_KEY, first, "active"))
    keys.append((*RETIRED_KEY, "", "archived"))
    return [_api_key(*key) for key in keys]


def _home(projects: Counter[str]) -> str:
    """The workspace a key's lines mostly come from (the first by id on a tie)."""
    return min(projects.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _api_key(identifier: str, name: str, workspace: str, status: str) -> Item:
    hint = base64.b32encode(identifier.encode()).decode().rstrip("=")
    return {
        "id": identifier,
        "type": "api_key",
        "name": name,
        "status": status,
        "created_at": _CREATED,
        "created_by": {"id": "user_01AdminPerson", "type": "user"},
        "partial_key_hint": f"sk-ant-api03-{hint[:3]}...{hint[-4:]}",
        "expires_at": None,
        "workspace_id": workspace or None,  # deprecated; null for the default workspace
        "scope": {"type": "workspace", "workspace_id": workspace or _DEFAULT_WORKSPACE_ID},
    }


def _workspace_shown(item: Item, request: Request) -> bool:
    archived = _flag(request, "include_archived")
    return archived or item["archived_at"] is None


def _key_shown(item: Item, request: Request) -> bool:
    status, workspace = request.param("status"), request.param("workspace_id")
    if status is not None and status not in _KEY_STATUSES:
        raise _bad(f"status: unsupported value {status!r}")
    return (status is None or item["status"] == status) and (
        workspace is None or item["scope"]["workspace_id"] == workspace
    )


_WRITABLE_STATUSES = ("active", "inactive", "archived")


def _one_key(keys: list[Item], request: Request) -> dict[str, object]:
    """GET /v1/organizations/api_keys/{id} answers the key; POST updates its name or status
    the way the Admin API does: archiving is final, and an expired key stays expired."""
    identifier = request.path.removeprefix(API_KEYS_PATH + "/")
    key = next((k for k in keys if k["id"] == identifier), None)
    if key is None:
        raise _Invalid(404, "not_found_error", f"api key {identifier!r} not found")
    if request.method == "POST":
        change = _json_object(request)
        status, name = change.get("status"), change.get("name")
        if status is not None and status not in _WRITABLE_STATUSES:
            raise _bad(f"status: must be one of {', '.join(_WRITABLE_STATUSES)}")
        if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 500):
            raise _bad("name: must be a string of 1 to 500 characters")
        final = key["status"] in ("archived", "expired")
        if status is not None and final and status != key["status"]:
            raise _bad(f"api key {identifier!r} is {key['status']} and cannot change")
        if status is not None:
            key["status"] = status
        if name is not None:
            key["name"] = name
    return dict(key)


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise _bad("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _flag(request: Request, name: str) -> bool:
    value = request.param(name)
    if value not in (None, "true", "false"):
        raise _bad(f"{name}: must be true or false")
    return value == "true"


def _list_page(
    items: Sequence[Item], request: Request, shown: Callable[[Item, Request], bool]
) -> dict[str, object]:
    listed = [item for item in items if shown(item, request)]
    limit = _limit(request, 20, 1000)
    after, before = request.param("after_id"), request.param("before_id")
    if after is not None and before is not None:
        raise _bad("after_id and before_id: give one or the other")
    if before is not None:
        stop = _position(listed, before, "before_id")
        first = max(0, stop - limit)
        page, more = listed[first:stop], first > 0
    else:
        first = 0 if after is None else _position(listed, after, "after_id") + 1
        page, more = listed[first : first + limit], first + limit < len(listed)
    return {
        "data": page,
        "has_more": more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def _position(items: Sequence[Item], identifier: str, name: str) -> int:
    for n, item in enumerate(items):
        if item["id"] == identifier:
            return n
    raise _bad(f"{name}: no such object in this list")


# The Claude Code usage report: one record per actor and day, one day per request.

CODING_TOOL = "claude_code"
Records = Mapping[date, list[Item]]
_RATES = {  # $ per million tokens: input, output, cache read, cache write (5 minutes)
    "opus": (Decimal(5), Decimal(25), Decimal("0.50"), Decimal("6.25")),
    "sonnet": (Decimal(3), Decimal(15), Decimal("0.30"), Decimal("3.75")),
    "haiku": (Decimal(1), Decimal(5), Decimal("0.10"), Decimal("1.25")),
}
_TOOLS = ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
_TERMINALS = ("vscode", "iTerm.app", "jetbrains", "tmux")


def claude_code_days(costs: Sequence[CostLine], usage: Sequence[CostLine]) -> list[CodingToolDay]:
    """Deterministic developer days: on each day the cost report bills (whole days only; Claude
    Code holds back the last hour), DEVELOPERS on most weekdays and few weekend days, plus the
    CI key every day, mostly on the model the lines use most."""
    days = sorted({line.bucket_start.astimezone(UTC).date() for line in costs})
    models = _models_by_volume([*costs, *usage]) or ("claude-sonnet-4-5",)
    rows: list[CodingToolDay] = []
    for day in days:
        for developer in DEVELOPERS:
            rows += _developer_day(day, developer, models)
        rows += _ci_day(day, models[0])
    return rows


def _models_by_volume(lines: Iterable[CostLine]) -> tuple[str, ...]:
    volume: Counter[str] = Counter()
    for line in lines:
        if line.model:
            volume[line.model] += line.tokens_in + line.tokens_out
    return tuple(sorted(volume, key=lambda m: (-volume[m], m)))


def _developer_day(day: date, actor: str, models: Sequence[str]) -> list[CodingToolDay]:
    rng = random.Random(f"{day.isoformat()}|{actor}")
    if rng.random() > (0.15 if day.weekday() >= 5 else 0.85):
        return []
    sessions = rng.randint(1, 9)
    used = [models[0], *(m for m in models[1:] if rng.random() < 0.35)]
    added = sessions * rng.randint(15, 220)
    commits = rng.randint(0, sessions)
    activity = CodingToolDay(
        CODING_TOOL,
        day,
        actor,
        "",
        "subscription",
        sessions=sessions,
        lines_added=added,
        lines_removed=rng.randint(0, added // 2),
        commits=commits,
        pull_requests=rng.randint(0, (commits + 1) // 2),
    )
    shares = [100] + [30] * (len(used) - 1)
    return [
        activity,
        *(_model_use(activity, m, sessions * s, rng) for m, s in zip(used, shares, strict=True)),
    ]


def _ci_day(day: date, model: str) -> list[CodingToolDay]:
    rng = random.Random(f"{day.isoformat()}|{CI_KEY[1]}")
    sessions = rng.randint(4, 16)
    activity = CodingToolDay(CODING_TOOL, day, CI_KEY[1], "", "api", sessions=sessions)
    return [activity, _model_use(activity, model, sessions * 40, rng)]


def _model_use(
    activity: CodingToolDay, model: str, scale: int, rng: random.Random
) -> CodingToolDay:
    """One model's tokens for `scale` hundredths of a session, and their list-price cost."""
    fresh, output, read, write = (
        scale * rng.randint(low, high) // 100
        for low, high in ((3_000, 15_000), (2_000, 9_000), (150_000, 600_000), (10_000, 60_000))
    )
    return CodingToolDay(
        CODING_TOOL,
        activity.day,
        activity.actor,
        model,
        activity.customer_type,
        tokens_in=fresh + read + write,
        tokens_out=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        estimated_cost=_estimate(model, (fresh, output, read, write)),
    )


def _estimate(model: str, tokens: tuple[int, int, int, int]) -> Decimal:
    """Dollars at list price, rounded to a hundredth of a cent as the report's cents are."""
    rates = next((r for family, r in _RATES.items() if family in model), _RATES["sonnet"])
    dollars = sum((n * rate for n, rate in zip(tokens, rates, strict=True)), Decimal(0))
    cents = dollars.scaleb(-6 + 2).quantize(Decimal("0.01"))
    return cents.scaleb(-2)


def _records(days: Iterable[CodingToolDay]) -> dict[date, list[Item]]:
    """The report's records by day: one per actor, sorted by actor."""
    grouped: dict[date, dict[str, list[CodingToolDay]]] = defaultdict(lambda: defaultdict(list))
    for row in days:
        grouped[row.day][row.actor].append(row)
    return {
        day: [_record(day, actor, rows) for actor, rows in sorted(actors.items())]
        for day, actors in grouped.items()
    }


def _record(day: date, actor: str, rows: Sequence[CodingToolDay]) -> Item:
    activity = next((r for r in rows if not r.model), CodingToolDay(CODING_TOOL, day, actor, ""))
    customer = activity.customer_type or ("subscription" if "@" in actor else "api")
    rng = random.Random(f"{day.isoformat()}|{actor}|record")
    return {
        "date": _report_date(day),
        "actor": _actor(actor),
        "organization_id": ORGANIZATION_ID,
        "customer_type": customer,
        "subscription_type": "team" if customer == "subscription" else None,
        "terminal_type": rng.choice(_TERMINALS),
        "core_metrics": {
            "num_sessions": activity.sessions,
            "lines_of_code": {"added": activity.lines_added, "removed": activity.lines_removed},
            "commits_by_claude_code": activity.commits,
            "pull_requests_by_claude_code": activity.pull_requests,
        },
        "tool_actions": {
            tool: {"accepted": rng.randint(0, 40), "rejected": rng.randint(0, 5)} for tool in _TOOLS
        },
        "model_breakdown": [
            _model_breakdown(r) for r in sorted(rows, key=lambda r: r.model) if r.model
        ],
    }


def _report_date(day: date) -> str:
    """Both documented forms, alternating by day: YYYY-MM-DD and RFC 3339."""
    return day.isoformat() if day.toordinal() % 2 else f"{day.isoformat()}T00:00:00Z"


def _actor(actor: str) -> Item:
    if "@" in actor:
        return {"type": "user_actor", "email_address": actor}
    return {"type": "api_actor", "api_key_name": actor}


def _model_breakdown(row: CodingToolDay) -> Item:
    fresh = row.tokens_in - row.cache_read_tokens - row.cache_write_tokens
    return {
        "model": row.model,
        "tokens": {
            "input": fresh,
            "output": row.tokens_out,
            "cache_read": row.cache_read_tokens,
            "cache_creation": row.cache_write_tokens,
        },
        "estimated_cost": {"currency": "USD", "amount": _cents(row.estimated_cost)},
    }


def _cents(dollars: Decimal) -> int | float:
    """Cents as a JSON number; a float's shortest repr carries up to 15 digits exactly."""
    cents = dollars.scaleb(2)
    return int(cents) if cents == cents.to_integral_value() else float(cents)


def _claude_code_page(records: Records, request: Request) -> dict[str, object]:
    text = request.param("starting_at")
    if text is None:
        raise _bad("starting_at: field required")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _bad("starting_at: must be a UTC date, YYYY-MM-DD") from None
    if len(text) != len("YYYY-MM-DD"):
        raise _bad("starting_at: must be a UTC date, YYYY-MM-DD")
    limit = _limit(request, 20, 1000)
    offset = _decode(request.param("page"))
    day_records = records.get(day, [])
    more = offset + limit < len(day_records)
    return {
        "data": day_records[offset : offset + limit],
        "has_more": more,
        "next_page": _encode(offset + limit) if more else None,
    }


# Faults on top of server.Fault: the documented error bodies, and rewritten answers.

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_fault(status: int, *, retry_after: str | None = None, delay: float = 0.0) -> Fault:
    """An error answer with the documented body: 429 rate_limit_error (with Retry-After when
    given), 529 overloaded_error, 5xx api_error, and so on."""
    kind = _ERROR_TYPES.get(status, "api_error")
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    body = _error_body(kind, f"simulated {kind}")
    return Fault(status=status, headers=headers, body=body, delay=delay)


def with_unknown_fields() -> Fault:
    """The real answer with a field the reference does not know added to every object."""
    return Fault(rewrite=_sprinkled)


def without_field(*path: str | int) -> Fault:
    """The real answer without the field at `path` (e.g. "data", 0, "actor"); unchanged
    when the answer has no such field."""
    return Fault(rewrite=lambda body: _dropped(body, path))


def repeating_cursor() -> Fault:
    """An empty page that says there is more behind a cursor that never changes, for the
    reports (`next_page`) and the lists (`last_id`) alike; inject it twice to loop."""
    stuck = _encode(0)
    body = {"data": [], "has_more": True, "next_page": stuck, "first_id": None, "last_id": stuck}
    return Fault(status=200, body=body)


def _sprinkled(value: Any) -> Any:
    if isinstance(value, dict):
        for child in value.values():
            _sprinkled(child)
        value["added_in_a_later_version"] = {"nested": [1, 2]}
    elif isinstance(value, list):
        for child in value:
            _sprinkled(child)
    return value


def _dropped(body: Any, path: Sequence[str | int]) -> Any:
    parent = body
    try:
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
    except (KeyError, IndexError, TypeError):
        pass
    return body
