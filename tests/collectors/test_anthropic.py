"""The Anthropic collector: pure parsers on reference payloads, then end to end through the real
ProviderClient against the loopback stand-in with injected faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest

from bot.collectors.anthropic import (
    COST_PATH,
    USAGE_PATH,
    AnthropicCollector,
    parse_cost_page,
    parse_usage_page,
)
from bot.collectors.http import ProviderClient, RetryPolicy, make_http_client
from bot.domain import CostLine
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


@pytest.fixture(scope="module")
def truth() -> tuple[list[CostLine], list[CostLine]]:
    costs = [x for x in generate_cost_lines(SPEC) if x.provider == "anthropic"]
    usage = [x for x in generate_estimated_lines(SPEC) if x.provider == "anthropic"]
    assert costs
    assert usage
    return costs, usage


@pytest.fixture
def server(truth) -> Iterator[StandIn]:
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
def collector(server, sleeps) -> Iterator[AnthropicCollector]:
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
