"""The Anthropic collector: pure parsers on reference payloads, then end to end through the real
ProviderClient against the loopback stand-in with injected faults."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bot.collectors.anthropic import (
    COST_PATH,
    USAGE_PATH,
    AnthropicCollector,
    default_workspace,
    merge_coding_days,
    parse_api_keys_page,
    parse_claude_code_page,
    parse_cost_page,
    parse_usage_page,
    parse_workspaces_page,
)
from bot.collectors.base import ReportsCodingTools, ReportsNames
from bot.collectors.http import ProviderClient, RetryPolicy, make_http_client
from bot.domain import CodingToolDay, CostLine, DisplayName
from bot.errors import CollectorAuthError, CollectorDataError
from bot.standins.anthropic import anthropic_routes
from bot.standins.server import Fault, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

ADMIN_KEY = "sk-ant-admin01-test-SECRET"
SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=300, seed=3)
START = datetime.combine(SPEC.start, time(), UTC)
END = datetime.combine(SPEC.end, time(), UTC) + timedelta(days=1)
COST_PAGE, USAGE_PAGE = 5, 168  # 14 daily buckets -> 3 pages; 336 hourly buckets -> 2 pages
PAGES = 5


def _bucket(results: list[dict[str, object]]) -> dict[str, object]:
    return {
        "data": [
            {
                "starting_at": "2026-08-10T00:00:00Z",
                "ending_at": "2026-08-11T00:00:00Z",
                "results": results,
            }
        ],
        "has_more": False,
        "next_page": None,
    }


COST_ITEM: dict[str, object] = {
    "amount": "123.690",
    "currency": "USD",
    "workspace_id": "wrkspc_01XyZ",
    "description": "Claude Sonnet 4.5 Usage - Input Tokens",
    "cost_type": "tokens",
    "model": "claude-sonnet-4-5-20250929",
    "token_type": "uncached_input_tokens",
    "service_tier": "standard",
    "context_window": "0-200k",
    "inference_geo": None,
}
USAGE_ITEM: dict[str, object] = {
    "uncached_input_tokens": 412300,
    "cache_creation": {"ephemeral_5m_input_tokens": 18000, "ephemeral_1h_input_tokens": 500},
    "cache_read_input_tokens": 1930000,
    "output_tokens": 88410,
    "server_tool_use": {"web_search_requests": 12},
    "api_key_id": "apikey_01AbCdEf",
    "workspace_id": None,
    "account_id": None,
    "service_account_id": None,
    "model": "claude-sonnet-4-5-20250929",
    "service_tier": "batch",
    "context_window": "0-200k",
    "inference_geo": None,
}


def test_cost_amounts_are_cents_converted_to_exact_dollars():
    code = {**COST_ITEM, "amount": "57.900", "description": "Code Execution Usage"}
    code.update(cost_type="code_execution", model=None, token_type=None, workspace_id=None)
    first, second = parse_cost_page(_bucket([COST_ITEM, code]))
    assert first.cost == Decimal("1.2369")
    assert second.cost == Decimal("0.579")
    assert first.bucket_start == datetime(2026, 8, 10, tzinfo=UTC)
    assert (first.source, first.bucket_hours, first.estimated) == ("anthropic.costs", 24, False)
    assert first.model == "claude-sonnet-4-5-20250929"
    assert first.line_item == "Claude Sonnet 4.5 Usage - Input Tokens | uncached_input_tokens"
    assert (first.project, first.service_tier, first.currency) == (
        "wrkspc_01XyZ",
        "standard",
        "USD",
    )
    assert (second.project, second.model, second.line_item) == ("", "", "Code Execution Usage")


def test_usage_adds_cache_reads_and_both_cache_writes_into_tokens_in():
    (line,) = parse_usage_page(_bucket([USAGE_ITEM]))
    assert line.tokens_in == 412300 + 1930000 + 18000 + 500
    assert (line.cache_read_tokens, line.cache_write_tokens) == (1930000, 18500)
    assert line.tokens_out == 88410
    assert (line.source, line.bucket_hours, line.estimated, line.cost) == (
        "anthropic.usage",
        1,
        True,
        None,
    )
    assert (line.project, line.api_key, line.service_tier, line.batch) == (
        "",
        "apikey_01AbCdEf",
        "batch",
        True,
    )


def test_extra_fields_are_ignored_and_missing_dimensions_are_empty():
    item = {k: v for k, v in USAGE_ITEM.items() if k not in {"api_key_id", "model"}}
    payload = _bucket([{**item, "speed": "fast", "brand_new_field": {"x": 1}}])
    payload["unexpected"] = True
    (line,) = parse_usage_page(payload)
    assert (line.api_key, line.model) == ("", "")


@pytest.mark.parametrize(
    ("parse", "item", "field"),
    [
        (parse_cost_page, {**COST_ITEM, "amount": None}, "results.0.amount"),
        (parse_cost_page, {k: v for k, v in COST_ITEM.items() if k != "currency"}, "currency"),
        (parse_usage_page, {k: v for k, v in USAGE_ITEM.items() if k != "output_tokens"}, "output"),
        (parse_usage_page, {**USAGE_ITEM, "cache_creation": {}}, "ephemeral_5m_input_tokens"),
    ],
)
def test_a_missing_required_field_is_named(parse, item, field):
    with pytest.raises(CollectorDataError, match=field) as error:
        parse(_bucket([item]))
    assert error.value.provider == "anthropic"


def test_a_page_without_data_or_with_a_naive_timestamp_is_a_data_error():
    with pytest.raises(CollectorDataError, match="'data': Field required"):
        parse_cost_page({"has_more": False})
    naive = _bucket([COST_ITEM])
    naive["data"][0]["starting_at"] = "2026-08-10T00:00:00"  # type: ignore[index]
    with pytest.raises(CollectorDataError, match="starting_at"):
        parse_cost_page(naive)


# Section 2.5 of the provider reference: one record of the Claude Code usage report.
CODE_RECORD: dict[str, Any] = {
    "date": "2026-08-10T00:00:00Z",
    "actor": {"type": "user_actor", "email_address": "dev@example.com"},
    "organization_id": "2b7f0c4e-0000-0000-0000-000000000000",
    "customer_type": "subscription",
    "subscription_type": "team",
    "terminal_type": "vscode",
    "core_metrics": {
        "num_sessions": 4,
        "lines_of_code": {"added": 310, "removed": 95},
        "commits_by_claude_code": 3,
        "pull_requests_by_claude_code": 1,
    },
    "tool_actions": {"edit_tool": {"accepted": 20, "rejected": 2}},
    "model_breakdown": [
        {
            "model": "claude-sonnet-4-5-20250929",
            "tokens": {
                "input": 52000,
                "output": 14000,
                "cache_read": 610000,
                "cache_creation": 30000,
            },
            "estimated_cost": {"currency": "USD", "amount": 412},
        }
    ],
}


def _code_page(*records: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(records), "has_more": False, "next_page": None}


def _record(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CODE_RECORD), **changes}


def test_a_claude_code_record_is_an_activity_row_and_a_row_per_model():
    activity, sonnet = parse_claude_code_page(_code_page(CODE_RECORD))
    assert activity == CodingToolDay(
        tool="claude_code",
        day=date(2026, 8, 10),
        actor="dev@example.com",
        model="",
        customer_type="subscription",
        sessions=4,
        lines_added=310,
        lines_removed=95,
        commits=3,
        pull_requests=1,
    )
    assert sonnet == CodingToolDay(
        tool="claude_code",
        day=date(2026, 8, 10),
        actor="dev@example.com",
        model="claude-sonnet-4-5-20250929",
        customer_type="subscription",
        tokens_in=52000 + 610000 + 30000,
        tokens_out=14000,
        cache_read_tokens=610000,
        cache_write_tokens=30000,
        estimated_cost=Decimal("4.12"),
    )


@pytest.mark.parametrize(
    ("cents", "dollars"),
    [(412, "4.12"), (412.5, "4.125"), (0.1, "0.001"), (1234567.89, "12345.6789"), (0, "0")],
)
def test_estimated_cost_is_cents_converted_to_exact_dollars(cents, dollars):
    record = _record()
    record["model_breakdown"][0]["estimated_cost"]["amount"] = cents
    _, model = parse_claude_code_page(_code_page(record))
    assert model.estimated_cost == Decimal(dollars)


@pytest.mark.parametrize(
    "day",
    [
        "2026-08-10",
        "2026-08-10T00:00:00Z",
        "2026-08-10T00:00:00+00:00",
        "2026-08-10T02:00:00+02:00",
    ],
)
def test_both_documented_date_forms_give_the_utc_day(day):
    rows = parse_claude_code_page(_code_page(_record(date=day)))
    assert {row.day for row in rows} == {date(2026, 8, 10)}


def test_an_api_actor_is_known_by_its_key_name():
    actor = {"type": "api_actor", "api_key_name": "ci-review-bot"}
    rows = parse_claude_code_page(_code_page(_record(actor=actor, customer_type="api")))
    assert {(row.actor, row.customer_type) for row in rows} == {("ci-review-bot", "api")}


def test_a_record_without_models_still_counts_the_activity_and_extras_are_ignored():
    record = _record(model_breakdown=[], brand_new={"x": 1})
    record["core_metrics"]["new_counter"] = 9
    (activity,) = parse_claude_code_page({**_code_page(record), "unexpected": True})
    assert (activity.model, activity.sessions, activity.estimated_cost) == ("", 4, Decimal(0))


def test_repeated_records_and_models_are_summed_not_overwritten():
    twice = _record()
    twice["model_breakdown"] = twice["model_breakdown"] * 2
    activity, model = parse_claude_code_page(_code_page(twice, CODE_RECORD))
    assert activity.sessions == 8
    assert (model.tokens_out, model.estimated_cost) == (42000, Decimal("12.36"))
    assert merge_coding_days([activity, model]) == [activity, model]


def _without(path: tuple[str | int, ...]) -> dict[str, Any]:
    record = _record()
    parent: Any = record
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return record


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("date",), "data.0.date"),
        (("core_metrics",), "data.0.core_metrics"),
        (("core_metrics", "lines_of_code", "added"), "data.0.core_metrics.lines_of_code.added"),
        (("model_breakdown",), "data.0.model_breakdown"),
        (("model_breakdown", 0, "tokens", "output"), "data.0.model_breakdown.0.tokens.output"),
        (("model_breakdown", 0, "estimated_cost", "amount"), "estimated_cost.amount"),
        (("model_breakdown", 0, "model"), "data.0.model_breakdown.0.model"),
        (("actor", "email_address"), "data.0.actor"),
    ],
)
def test_a_claude_code_record_missing_a_field_names_it(path, named):
    with pytest.raises(CollectorDataError, match=named.replace(".", r"\.")) as error:
        parse_claude_code_page(_code_page(_without(path)))
    assert error.value.provider == "anthropic"
    assert "usage_report/claude_code" in str(error.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"amount": "lots"}, "estimated_cost.amount"),
        ({"amount": None}, "estimated_cost.amount"),
        ({"amount": "NaN"}, "estimated_cost.amount"),
        ({"currency": "EUR"}, "estimated_cost"),
    ],
)
def test_an_estimated_cost_that_is_not_usd_cents_is_a_data_error(change, named):
    record = _record()
    record["model_breakdown"][0]["estimated_cost"].update(change)
    with pytest.raises(CollectorDataError, match=named):
        parse_claude_code_page(_code_page(record))


@pytest.mark.parametrize("day", ["2026-08-10T00:00:00", "yesterday", "2026-13-01", 20260810])
def test_a_date_that_is_not_a_utc_day_is_a_data_error(day):
    with pytest.raises(CollectorDataError, match=r"data\.0\.date"):
        parse_claude_code_page(_code_page(_record(date=day)))


# Section 2.6: the workspace and api key lists (cursor pages with first_id / last_id).
WORKSPACES_PAGE: dict[str, Any] = {
    "data": [
        {
            "id": "wrkspc_01XyZ",
            "type": "workspace",
            "name": "search-backend",
            "created_at": "2025-10-30T23:58:27.427722Z",
            "archived_at": None,
            "display_color": "#6C5BB9",
            "tags": {},
            "data_residency": {"workspace_geo": "us"},
        },
        {
            "id": "wrkspc_01Old",
            "type": "workspace",
            "name": "old-prototype",
            "created_at": "2024-10-30T23:58:27.427722Z",
            "archived_at": "2024-11-01T23:59:27.427722Z",
            "display_color": "#3B82F6",
        },
    ],
    "has_more": True,
    "first_id": "wrkspc_01XyZ",
    "last_id": "wrkspc_01Old",
}
API_KEYS_PAGE: dict[str, Any] = {
    "data": [
        {
            "id": "apikey_01AbCdEf",
            "type": "api_key",
            "name": "search prod",
            "status": "active",
            "created_at": "2025-10-30T23:58:27.427722Z",
            "created_by": {"id": "user_01WCz1FkmYMm4gnmykNKUu3Q", "type": "user"},
            "partial_key_hint": "sk-ant-api03-R2D...igAA",
            "expires_at": None,
            "workspace_id": None,
            "scope": {"type": "workspace", "workspace_id": "wrkspc_01Default"},
        }
    ],
    "has_more": False,
    "first_id": "apikey_01AbCdEf",
    "last_id": "apikey_01AbCdEf",
}


def test_workspaces_and_api_keys_become_display_names():
    assert parse_workspaces_page(WORKSPACES_PAGE) == [
        DisplayName("anthropic", "project", "wrkspc_01XyZ", "search-backend"),
        DisplayName("anthropic", "project", "wrkspc_01Old", "old-prototype"),
    ]
    assert parse_api_keys_page(API_KEYS_PAGE) == [
        DisplayName("anthropic", "api_key", "apikey_01AbCdEf", "search prod")
    ]


def test_the_null_default_workspace_of_the_reports_has_a_name():
    (line,) = parse_usage_page(_bucket([USAGE_ITEM]))  # workspace_id null
    assert line.project == ""
    assert default_workspace() == DisplayName("anthropic", "project", "", "Default Workspace")


@pytest.mark.parametrize(
    ("parse", "page", "field"),
    [
        (parse_workspaces_page, WORKSPACES_PAGE, "name"),
        (parse_workspaces_page, WORKSPACES_PAGE, "id"),
        (parse_api_keys_page, API_KEYS_PAGE, "name"),
    ],
)
def test_a_list_item_missing_its_id_or_name_is_named(parse, page, field):
    broken = copy.deepcopy(page)
    del broken["data"][0][field]
    with pytest.raises(CollectorDataError, match=rf"anthropic: .*'data\.0\.{field}'"):
        parse(broken)
    with pytest.raises(CollectorDataError, match="'data'"):
        parse({"has_more": False})


@pytest.fixture(scope="module")
def truth() -> tuple[list[CostLine], list[CostLine]]:
    costs = [x for x in generate_cost_lines(SPEC) if x.provider == "anthropic"]
    usage = [x for x in generate_estimated_lines(SPEC) if x.provider == "anthropic"]
    assert costs
    assert usage
    return costs, usage


@pytest.fixture
def server(truth: tuple[list[CostLine], list[CostLine]]) -> Iterator[StandIn]:
    costs, usage = truth
    with running(anthropic_routes(admin_key=ADMIN_KEY, costs=costs, usage=usage)) as standin:
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _client(server: StandIn, sleeps: list[float], key: str = ADMIN_KEY) -> ProviderClient:
    http = make_http_client()
    http.timeout = httpx.Timeout(2.0)
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    policy = RetryPolicy(attempts=4, base_delay=0.01)
    return ProviderClient(
        "anthropic", http, server.url, headers, policy=policy, sleep=sleeps.append
    )


@pytest.fixture
def collector(server: StandIn, sleeps: list[float]) -> Iterator[AnthropicCollector]:
    client = _client(server, sleeps)
    yield AnthropicCollector(client, cost_page_size=COST_PAGE, usage_page_size=USAGE_PAGE)
    client.http.close()


def _total(lines: list[CostLine]) -> Decimal:
    return sum((x.cost or Decimal(0) for x in lines), Decimal(0))


def test_collected_cost_and_tokens_equal_the_simulators_input(collector, server, truth):
    costs, usage = truth
    lines = collector.collect(START, END)
    billed = [x for x in lines if x.source == "anthropic.costs"]
    estimated = [x for x in lines if x.source == "anthropic.usage"]
    assert _total(billed) == _total(costs)
    assert all(x.cost is None and x.estimated for x in estimated)
    for name in ("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens"):
        assert sum(getattr(x, name) for x in estimated) == sum(getattr(x, name) for x in usage)
    assert {x.project for x in billed} == {x.project for x in costs}
    assert collector.client.requests == PAGES
    assert [r.path for r in server.requests] == [COST_PATH] * 3 + [USAGE_PATH] * 2


def test_queries_follow_the_reference(collector, server):
    collector.collect(START, END)
    first, later = server.requests[0], server.requests[1]
    assert first.param("starting_at") == "2026-11-09T00:00:00Z"
    assert first.param("ending_at") == "2026-11-23T00:00:00Z"
    assert first.query["group_by[]"] == ["workspace_id", "description"]
    assert later.param("page") is not None
    assert later.param("starting_at") == first.param("starting_at")
    usage = server.requests[3]
    assert (usage.param("bucket_width"), usage.param("limit")) == ("1h", "168")
    assert usage.query["group_by[]"] == ["model", "workspace_id", "api_key_id", "service_tier"]


def test_a_window_filters_buckets(collector, truth):
    costs, _ = truth
    day = datetime(2026, 11, 12, tzinfo=UTC)
    lines = collector.collect(day, day + timedelta(days=2))
    billed = [x for x in lines if x.source == "anthropic.costs"]
    expected = [x for x in costs if day <= x.bucket_start < day + timedelta(days=2)]
    assert _total(billed) == _total(expected)
    assert {x.bucket_start for x in billed} == {x.bucket_start for x in expected}


def test_a_wrong_key_is_refused_with_the_documented_body(server, sleeps):
    client = _client(server, sleeps, key="sk-ant-admin01-wrong")
    with pytest.raises(CollectorAuthError):
        AnthropicCollector(client).collect(START, END)
    assert client.requests == 1
    answer = client.http.get(server.url + COST_PATH, params={"starting_at": "2026-11-09T00:00:00Z"})
    body = answer.json()
    assert answer.status_code == 401
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert body["request_id"].startswith("req_")
    client.http.close()


@pytest.mark.parametrize(
    ("fault", "slept"),
    [
        (Fault(status=529, body={"type": "error", "error": {"type": "overloaded_error"}}), None),
        (Fault(status=429, headers={"Retry-After": "2"}), [2.0]),
        (Fault(reset=True), None),
    ],
)
def test_transient_faults_are_retried(collector, server, sleeps, truth, fault, slept):
    server.inject(fault)
    lines = collector.collect(START, END)
    assert _total(lines) == _total(truth[0])
    assert collector.client.requests == PAGES + 1
    assert len(sleeps) == 1
    if slept is not None:
        assert sleeps == slept


def test_bad_queries_get_invalid_request_errors(server):
    with httpx.Client() as http:
        headers = {"x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"}
        bad: list[dict[str, str | int]] = [
            {},
            {"starting_at": "yesterday"},
            {"starting_at": "2026-11-09T00:00:00Z", "limit": 99},
        ]
        for params in bad:
            answer = http.get(server.url + COST_PATH, params=params, headers=headers)
            assert answer.status_code == 400
            assert answer.json()["error"]["type"] == "invalid_request_error"


def test_the_collector_reports_names_and_claude_code(collector):
    assert isinstance(collector, ReportsNames)
    assert isinstance(collector, ReportsCodingTools)
    assert collector.coding_tool == "claude_code"
