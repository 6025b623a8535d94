"""OpenAI costs and usage: pure parsers on reference payloads, then the collector end to end
through the real ProviderClient against the OpenAI stand-in fed with synthetic lines."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.collectors.http import ProviderClient, RetryPolicy, make_http_client
from bot.collectors.openai import (
    OpenAICollector,
    openai_client,
    parse_api_keys_page,
    parse_costs_page,
    parse_other_usage_page,
    parse_projects_page,
    parse_usage_page,
    split_line_item,
)
from bot.domain import CostLine, DisplayName
from bot.errors import CollectorAuthError, CollectorDataError, CollectorError
from bot.standins.openai import (
    COSTS_PATH,
    PROJECTS_PATH,
    USAGE_PATH,
    USAGE_ROOT,
    display_name,
    openai_routes,
)
from bot.standins.server import Fault, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

KEY = "sk-admin-test-0123456789"
SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=150, seed=3)

# Section 1.2 of the provider reference, grouped by project_id + line_item.
COSTS_PAGE: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1754006400,
            "end_time": 1754092800,
            "results": [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": 3.4125, "currency": "usd"},
                    "line_item": "gpt-4.1-2025-04-14, input",
                    "project_id": "proj_9Xk2",
                    "api_key_id": None,
                    "quantity": 1706250,
                    "quantity_unit": "tokens",
                },
                {
                    "object": "organization.costs.result",
                    "amount": {"value": 0.21, "currency": "usd"},
                    "line_item": "web search tool calls",
                    "project_id": "proj_9Xk2",
                    "api_key_id": None,
                    "quantity": None,
                    "quantity_unit": None,
                },
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}

# Section 1.3, hourly, grouped by model + project + batch + service_tier.
USAGE_PAGE: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1754650800,
            "end_time": 1754654400,
            "results": [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": 82000,
                    "input_cached_tokens": 51000,
                    "input_cache_write_tokens": 0,
                    "input_uncached_tokens": 31000,
                    "output_tokens": 9400,
                    "input_audio_tokens": 0,
                    "output_audio_tokens": 0,
                    "num_model_requests": 212,
                    "project_id": "proj_9Xk2",
                    "user_id": None,
                    "api_key_id": None,
                    "model": "gpt-4.1-mini-2025-04-14",
                    "batch": False,
                    "service_tier": "default",
                }
            ],
        }
    ],
    "has_more": True,
    "next_page": "page_AAAAAGiWrEMAAAAAaJa6UA==",
}


def _first_result(page: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = page["data"][0]["results"][0]
    return result


def test_costs_page_is_dollars_per_day_with_the_model_from_the_line_item():
    first, tool = parse_costs_page(COSTS_PAGE)
    assert first == CostLine(
        source="openai.costs",
        provider="openai",
        bucket_start=datetime(2025, 8, 1, tzinfo=UTC),
        bucket_hours=24,
        project="proj_9Xk2",
        model="gpt-4.1-2025-04-14",
        line_item="gpt-4.1-2025-04-14, input",
        cost=Decimal("3.4125"),
        currency="USD",
        estimated=False,
    )
    assert (tool.model, tool.cost, tool.api_key) == ("(other)", Decimal("0.21"), "")


def test_usage_page_keeps_cached_tokens_inside_input_tokens():
    (line,) = parse_usage_page(USAGE_PAGE)
    assert line == CostLine(
        source="openai.usage",
        provider="openai",
        bucket_start=datetime(2025, 8, 8, 11, tzinfo=UTC),
        bucket_hours=1,
        project="proj_9Xk2",
        model="gpt-4.1-mini-2025-04-14",
        service_tier="default",
        tokens_in=82000,
        tokens_out=9400,
        cache_read_tokens=51000,
        requests=212,
        cost=None,
        estimated=True,
    )


def test_ungrouped_dimensions_are_null_or_absent_and_become_empty():
    usage = copy.deepcopy(USAGE_PAGE)
    result = _first_result(usage)
    result.update(model=None, project_id=None, batch=None, service_tier=None)
    del result["api_key_id"], result["input_cache_write_tokens"]
    costs = copy.deepcopy(COSTS_PAGE)
    _first_result(costs).update(line_item=None, project_id=None)
    (line,) = parse_usage_page(usage)
    assert (line.model, line.project, line.api_key, line.service_tier) == ("", "", "", "")
    assert (line.batch, line.cache_write_tokens) == (False, 0)
    assert (parse_costs_page(costs)[0].model, parse_costs_page(costs)[0].line_item) == ("", "")


@pytest.mark.parametrize(
    ("page", "path", "field"),
    [
        (COSTS_PAGE, ("amount",), "value"),
        (COSTS_PAGE, (), "amount"),
        (USAGE_PAGE, (), "input_tokens"),
        (USAGE_PAGE, (), "num_model_requests"),
    ],
)
def test_a_missing_required_field_is_named(page, path, field):
    broken = copy.deepcopy(page)
    parent = _first_result(broken)
    for key in path:
        parent = parent[key]
    del parent[field]
    parse = parse_costs_page if page is COSTS_PAGE else parse_usage_page
    with pytest.raises(
        CollectorDataError, match=re.escape(f"results.0.{'.'.join((*path, field))}")
    ):
        parse(broken)


def test_a_missing_start_time_or_data_is_named():
    no_start = copy.deepcopy(COSTS_PAGE)
    del no_start["data"][0]["start_time"]
    with pytest.raises(CollectorDataError, match=r"data\.0\.start_time"):
        parse_costs_page(no_start)
    with pytest.raises(CollectorDataError, match="'data'"):
        parse_usage_page({"object": "page"})


def test_unknown_fields_are_ignored():
    costs, usage = copy.deepcopy(COSTS_PAGE), copy.deepcopy(USAGE_PAGE)
    for page in (costs, usage):
        page["brand_new"] = {"nested": [1]}
        page["data"][0]["also_new"] = True
        _first_result(page)["new_counter"] = 5
    assert parse_costs_page(costs) == parse_costs_page(COSTS_PAGE)
    assert parse_usage_page(usage) == parse_usage_page(USAGE_PAGE)


@pytest.mark.parametrize(
    ("value", "cost"),
    [
        (0.1, "0.1"),
        (1234.5678901234, "1234.5678901234"),
        ("12.0000000001", "12.0000000001"),
        (2, "2"),
    ],
)
def test_amounts_are_exact_decimals(value, cost):
    page = copy.deepcopy(COSTS_PAGE)
    _first_result(page)["amount"]["value"] = value
    assert parse_costs_page(page)[0].cost == Decimal(cost)


@pytest.mark.parametrize("value", ["lots", "NaN", None])
def test_an_amount_that_is_not_a_number_is_a_data_error(value):
    page = copy.deepcopy(COSTS_PAGE)
    _first_result(page)["amount"]["value"] = value
    with pytest.raises(CollectorDataError, match=r"amount\.value"):
        parse_costs_page(page)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("gpt-4.1-2025-04-14, input", ("gpt-4.1-2025-04-14", "")),
        ("gpt-4.1, cached input", ("gpt-4.1", "")),
        ("priority | gpt-5, output, long context", ("gpt-5", "priority")),
        ("gpt-4o audio, input", ("gpt-4o", "")),
        ("ft-gpt-4o-mini-2024-07-18, input", ("ft-gpt-4o-mini-2024-07-18", "")),
        ("whisper-1, audio", ("whisper-1", "")),
        ("Vector storage", ("(other)", "")),
        (", input", ("(other)", "")),
    ],
)
def test_line_items_split_into_model_and_tier(item, expected):
    assert split_line_item(item) == expected


# End to end: ProviderClient -> HTTP -> stand-in fed with synthetic lines.


@pytest.fixture(scope="module")
def billed() -> list[CostLine]:
    return [x for x in generate_cost_lines(SPEC) if x.provider == "openai"]


@pytest.fixture(scope="module")
def usage() -> list[CostLine]:
    return [x for x in generate_estimated_lines(SPEC) if x.provider == "openai"]


@pytest.fixture
def server(billed: list[CostLine], usage: list[CostLine]) -> Iterator[StandIn]:
    with running(openai_routes(admin_key=KEY, costs=billed, usage=usage)) as standin:
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _client(server: StandIn, sleeps: list[float], key: str = KEY) -> Iterator[ProviderClient]:
    http = make_http_client()
    policy = RetryPolicy(attempts=3, base_delay=0.01)
    yield openai_client(
        http, key, base_url=server.url, policy=policy, sleep=sleeps.append, jitter=lambda: 0.5
    )
    http.close()


@pytest.fixture
def client(server: StandIn, sleeps: list[float]) -> Iterator[ProviderClient]:
    yield from _client(server, sleeps)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


START, END = _midnight(SPEC.start), _midnight(SPEC.end + timedelta(days=1))
# 15 days: one costs page, two hourly pages each of completions and embeddings, and one daily
# page of each of the four other usage kinds.
PAGES = 1 + 2 * 2 + 4


def _split(lines: list[CostLine]) -> tuple[list[CostLine], list[CostLine]]:
    return [x for x in lines if not x.estimated], [x for x in lines if x.estimated]


def _total(lines: list[CostLine]) -> Decimal:
    return sum((x.cost or Decimal(0) for x in lines), Decimal(0))


def test_collect_returns_exactly_the_billed_dollars_and_the_tokens(client, billed, usage):
    costs, tokens = _split(OpenAICollector(client).collect(START, END))
    assert _total(costs) == _total(billed)
    assert {x.bucket_start for x in costs} == {x.bucket_start for x in billed}
    for field in ("tokens_in", "tokens_out", "cache_read_tokens", "requests"):
        assert sum(getattr(x, field) for x in tokens) == sum(getattr(x, field) for x in usage)
    assert {(x.bucket_start, x.model) for x in tokens} == {(x.bucket_start, x.model) for x in usage}
    assert {x.model for x in costs} == {x.model for x in billed}
    assert all(x.project and x.line_item and x.currency == "USD" for x in costs)


def test_collect_pages_through_buckets_with_the_cursor(client, server):
    OpenAICollector(client).collect(START, END)
    hours = (END - START) // timedelta(hours=1)
    usage_pages = -(-hours // 168)
    assert usage_pages == 2  # 14 days of hours, 168 buckets a page
    paths = [r.path for r in server.requests]
    hourly = [USAGE_PATH] * usage_pages + [USAGE_ROOT + "embeddings"] * usage_pages
    daily = [USAGE_ROOT + k for k in ("moderations", "images", "audio_speeches")]
    assert paths == [COSTS_PATH, *hourly, *daily, USAGE_ROOT + "audio_transcriptions"]
    assert client.requests == len(server.requests)
    usage_requests = server.requests[1 : 1 + usage_pages]
    assert usage_requests[0].param("page") is None
    assert all(r.param("page") for r in usage_requests[1:])
    assert server.requests[0].query["group_by"] == ["project_id", "line_item"]
    assert {r.param("limit") for r in usage_requests} == {"168"}
    assert {r.param("end_time") for r in server.requests} == {str(int(END.timestamp()))}


def test_a_long_costs_window_takes_more_than_one_page(client, server, billed):
    start = END - timedelta(days=200)
    costs, _ = _split(OpenAICollector(client).collect(start, END))
    assert [r.path for r in server.requests].count(COSTS_PATH) == 2
    assert _total(costs) == _total(billed)


def test_collect_keeps_to_the_window(client, billed):
    day = _midnight(SPEC.end - timedelta(days=3))
    costs, tokens = _split(OpenAICollector(client).collect(day, day + timedelta(days=1)))
    assert {x.bucket_start for x in costs} == {day}
    assert tokens == []
    assert _total(costs) == _total([x for x in billed if x.bucket_start == day])


def test_a_wrong_key_is_an_auth_error_and_not_retried(server, sleeps):
    for client in _client(server, sleeps, key="sk-admin-wrong"):
        with pytest.raises(CollectorAuthError, match="openai"):
            OpenAICollector(client).collect(START, END)
        assert client.requests == 1


def test_a_missing_key_is_refused_with_the_documented_error_body(server):
    http = make_http_client()
    response = http.get(server.url + COSTS_PATH, params={"start_time": 0})
    http.close()
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("fault", "slept"),
    [
        (Fault(status=429, headers={"Retry-After": "2"}), [2.0]),
        (Fault(status=500), [0.01]),
        (Fault(truncate=True), [0.01]),
    ],
)
def test_transient_failures_are_retried(client, server, sleeps, billed, fault, slept):
    server.inject(fault)
    costs, _ = _split(OpenAICollector(client).collect(START, END))
    assert sleeps == slept
    assert _total(costs) == _total(billed)
    assert client.requests == len(server.requests) == 1 + PAGES  # the failure, then each page


def test_the_standin_nulls_ungrouped_dimensions(client):
    page = client.get_json(
        USAGE_PATH, {"start_time": int(START.timestamp()), "bucket_width": "1d", "limit": 31}
    )
    results = [r for bucket in page["data"] for r in bucket["results"]]
    assert len(results) == 1
    assert all(results[0][d] is None for d in ("model", "project_id", "batch", "service_tier"))
    assert page["data"][0]["object"] == "bucket"


def test_the_standin_refuses_a_limit_past_the_documented_max(client):
    with pytest.raises(CollectorError, match=r"limit must be within 1\.\.180"):
        client.get_json(COSTS_PATH, {"start_time": 0, "limit": 181})


def test_naive_or_empty_windows_are_collector_errors(client):
    with pytest.raises(CollectorError, match="timezone-aware"):
        OpenAICollector(client).collect(datetime(2026, 1, 1), END)  # noqa: DTZ001
    with pytest.raises(CollectorError, match="end after start"):
        OpenAICollector(client).collect(END, START)


def test_a_live_answer_missing_a_required_field_names_provider_and_field(client, server):
    broken = {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": 1763856000, "end_time": 1763942400, "results": [{}]}
        ],
        "has_more": False,
        "next_page": None,
    }
    server.inject(Fault(status=200, body=broken))
    with pytest.raises(CollectorDataError, match=r"openai: .*amount"):
        OpenAICollector(client).collect(
            _midnight(SPEC.end), _midnight(SPEC.end) + timedelta(days=1)
        )


def test_a_live_answer_with_unknown_extra_fields_is_read(client, server):
    page = {
        "object": "page",
        "data": [],
        "has_more": False,
        "next_page": None,
        "brand_new_field": {"nested": [1, 2]},
    }
    server.inject(Fault(status=200, body=page))
    lines = OpenAICollector(client).collect(
        _midnight(SPEC.end), _midnight(SPEC.end) + timedelta(days=1)
    )
    assert all(line.source == "openai.usage" for line in lines)  # costs page was empty


def test_a_live_cursor_that_repeats_stops_the_collection(client, server):
    looping = {"object": "page", "data": [], "has_more": True, "next_page": "page_same"}
    server.inject(*[Fault(status=200, body=looping)] * 3)
    with pytest.raises(CollectorDataError, match="repeated page cursor 'page_same'"):
        OpenAICollector(client).collect(
            _midnight(SPEC.end), _midnight(SPEC.end) + timedelta(days=1)
        )


# Section 1.3: embeddings results carry input tokens and requests, images only requests.
EMBEDDINGS_PAGE: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1754650800,
            "end_time": 1754654400,
            "results": [
                {
                    "object": "organization.usage.embeddings.result",
                    "input_tokens": 16000,
                    "num_model_requests": 40,
                    "project_id": "proj_9Xk2",
                    "user_id": None,
                    "api_key_id": None,
                    "model": "text-embedding-3-small",
                }
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}


def test_other_usage_kinds_keep_their_kind_and_counts():
    (line,) = parse_other_usage_page(EMBEDDINGS_PAGE, "embeddings", bucket_hours=1)
    assert (line.line_item, line.model, line.project, line.api_key) == (
        "embeddings",
        "text-embedding-3-small",
        "proj_9Xk2",
        "",
    )
    assert (line.tokens_in, line.tokens_out, line.requests) == (16000, 0, 40)
    assert line.estimated
    assert line.cost is None
    assert line.bucket_hours == 1
    images = copy.deepcopy(EMBEDDINGS_PAGE)
    result = _first_result(images)
    del result["input_tokens"]
    result |= {"images": 3, "model": "gpt-image-1"}
    (image,) = parse_other_usage_page(images, "images")
    assert (image.line_item, image.tokens_in, image.requests, image.bucket_hours) == (
        "images",
        0,
        40,
        24,
    )


def test_other_usage_without_request_counts_is_named():
    page = copy.deepcopy(EMBEDDINGS_PAGE)
    del _first_result(page)["num_model_requests"]
    with pytest.raises(CollectorDataError, match=r"openai: usage/embeddings .*num_model_requests"):
        parse_other_usage_page(page, "embeddings")


# Section 1.5, constructed examples.
PROJECTS_PAGE: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "proj_9Xk2",
            "object": "organization.project",
            "name": "search-backend",
            "created_at": 1716200000,
            "archived_at": None,
            "status": "active",
        }
    ],
    "first_id": "proj_9Xk2",
    "last_id": "proj_9Xk2",
    "has_more": False,
}


def test_projects_and_keys_become_display_names():
    assert parse_projects_page(PROJECTS_PAGE) == [
        DisplayName("openai", "project", "proj_9Xk2", "search-backend")
    ]
    keys = {
        "object": "list",
        "data": [
            {"id": "key_a", "name": "ci bot", "redacted_value": "sk-...abcd"},
            {"id": "key_b", "name": "", "redacted_value": "sk-...wxyz"},
        ],
        "has_more": False,
    }
    assert [n.name for n in parse_api_keys_page(keys)] == ["ci bot", "sk-...wxyz"]
    with pytest.raises(CollectorDataError, match=r"openai: projects page: .*id"):
        parse_projects_page({"data": [{"name": "no id"}]})


def test_names_cover_every_project_and_key_including_archived(billed, usage):
    archived = frozenset({billed[0].project})
    routes = openai_routes(admin_key=KEY, costs=billed, usage=usage, archived=archived)
    with running(routes) as server:
        for client in _client(server, []):
            names = OpenAICollector(client).names()
    projects = {x.project for x in [*billed, *usage] if x.project}
    keys = {x.api_key for x in [*billed, *usage] if x.api_key}
    assert {(n.kind, n.id) for n in names} == {("project", p) for p in projects} | {
        ("api_key", k) for k in keys
    }
    assert all(n.name == display_name(n.id) for n in names)
    listed = [r for r in server.requests if r.path == PROJECTS_PATH]
    assert [r.param("include_archived") for r in listed] == ["true"]


def test_names_page_through_long_lists_with_the_after_cursor():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    many = [
        CostLine("openai.costs", "openai", day, project=f"proj_{i:03}", cost=Decimal(1))
        for i in range(230)
    ]
    with running(openai_routes(admin_key=KEY, costs=many, usage=[])) as server:
        for client in _client(server, []):
            names = OpenAICollector(client).names()
    assert sorted(n.id for n in names) == sorted(x.project for x in many)
    listed = [r for r in server.requests if r.path == PROJECTS_PATH]
    assert [r.param("after") for r in listed] == [None, "proj_099", "proj_199"]
