"""OpenRouter activity and credits: pure parsers on reference payloads, then the collector end
to end through the real ProviderClient against the OpenRouter stand-in fed synthetic lines."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.collectors.base import Window
from bot.collectors.http import ProviderClient, RetryPolicy, make_http_client
from bot.collectors.openrouter import (
    OpenRouterCollector,
    activity_days,
    openrouter_client,
    parse_activity,
    parse_credits,
)
from bot.domain import CostLine, CreditSnapshot
from bot.errors import CollectorAuthError, CollectorDataError, CollectorError
from bot.standins.openrouter import ACTIVITY_PATH, endpoint_id, openrouter_routes
from bot.standins.server import Fault, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines

KEY = "sk-or-v1-management-0123456789"
SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=150, seed=3)
CREDITS = Decimal("250.5")
AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

# Section 6.1 of the provider reference (constructed values).
ACTIVITY: dict[str, Any] = {
    "data": [
        {
            "date": "2026-08-09",
            "model": "anthropic/claude-sonnet-4.5",
            "model_permaslug": "anthropic/claude-4.5-sonnet-20250929",
            "endpoint_id": "c1f0-endpoint",
            "provider_name": "Anthropic",
            "usage": 1.84,
            "byok_usage_inference": 0.0,
            "requests": 37,
            "prompt_tokens": 412000,
            "completion_tokens": 28800,
            "reasoning_tokens": 0,
        }
    ]
}
CREDITS_ANSWER: dict[str, Any] = {"data": {"total_credits": 100.0, "total_usage": 12.3456}}


def test_an_activity_row_is_one_billed_daily_line():
    assert parse_activity(ACTIVITY) == [
        CostLine(
            source="openrouter.activity",
            provider="openrouter",
            bucket_start=datetime(2026, 8, 9, tzinfo=UTC),
            bucket_hours=24,
            model="anthropic/claude-sonnet-4.5",
            line_item="c1f0-endpoint",
            tokens_in=412000,
            tokens_out=28800,
            requests=37,
            cost=Decimal("1.84"),
            estimated=False,
        )
    ]


def test_without_an_endpoint_id_the_provider_name_is_the_line_item():
    payload = copy.deepcopy(ACTIVITY)
    del payload["data"][0]["endpoint_id"]
    assert parse_activity(payload)[0].line_item == "Anthropic"


@pytest.mark.parametrize(("usage", "cost"), [(0.1, "0.1"), (1234.5678901234, "1234.5678901234")])
def test_usage_is_an_exact_decimal(usage, cost):
    payload = copy.deepcopy(ACTIVITY)
    payload["data"][0]["usage"] = usage
    assert parse_activity(payload)[0].cost == Decimal(cost)


@pytest.mark.parametrize("field", ["date", "model", "usage", "requests", "prompt_tokens"])
def test_a_missing_activity_field_is_named(field):
    payload = copy.deepcopy(ACTIVITY)
    del payload["data"][0][field]
    with pytest.raises(CollectorDataError, match=rf"openrouter: .*data\.0\.{field}"):
        parse_activity(payload)


def test_unknown_fields_are_ignored():
    payload = copy.deepcopy(ACTIVITY)
    payload["brand_new"] = {"nested": [1]}
    payload["data"][0]["also_new"] = True
    credits = copy.deepcopy(CREDITS_ANSWER)
    credits["data"]["new_counter"] = 5
    assert parse_activity(payload) == parse_activity(ACTIVITY)
    assert parse_credits(credits, AT) == parse_credits(CREDITS_ANSWER, AT)


def test_credits_are_a_balance_of_bought_less_spent():
    assert parse_credits(CREDITS_ANSWER, AT) == CreditSnapshot(
        source="openrouter.credits",
        provider="openrouter",
        at=AT,
        balance=Decimal("87.6544"),
        currency="USD",
        purchased=Decimal("100.0"),
    )
    with pytest.raises(CollectorDataError, match=r"data\.total_usage"):
        parse_credits({"data": {"total_credits": 1}}, AT)
    with pytest.raises(CollectorDataError, match="not finite"):
        parse_credits({"data": {"total_credits": "NaN", "total_usage": 0}}, AT)


# End to end: ProviderClient -> HTTP -> stand-in fed with synthetic lines.


@pytest.fixture(scope="module")
def billed() -> list[CostLine]:
    return [x for x in generate_cost_lines(SPEC) if x.provider == "openrouter"]


@pytest.fixture
def server(billed: list[CostLine]) -> Iterator[StandIn]:
    routes = openrouter_routes(key=KEY, activity=billed, total_credits=CREDITS)
    with running(routes) as standin:
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _client(server: StandIn, sleeps: list[float], key: str = KEY) -> Iterator[ProviderClient]:
    http = make_http_client()
    policy = RetryPolicy(attempts=3, base_delay=0.01)
    yield openrouter_client(
        http, key, base_url=server.url, policy=policy, sleep=sleeps.append, jitter=lambda: 0.5
    )
    http.close()


@pytest.fixture
def client(server: StandIn, sleeps: list[float]) -> Iterator[ProviderClient]:
    yield from _client(server, sleeps)


def _collector(client: ProviderClient) -> OpenRouterCollector:
    return OpenRouterCollector(client, today=lambda: SPEC.end)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


START, END = _midnight(SPEC.start), _midnight(SPEC.end + timedelta(days=1))
COMPLETED = (SPEC.end - SPEC.start).days  # days before today in the window


def _total(lines: list[CostLine]) -> Decimal:
    return sum((x.cost or Decimal(0) for x in lines), Decimal(0))


def test_collect_returns_exactly_the_billed_dollars_once_per_day(client, server, billed):
    lines = _collector(client).collect(START, END)
    assert billed
    assert _total(lines) == _total(billed)
    for field in ("tokens_in", "tokens_out", "requests"):
        assert sum(getattr(x, field) for x in lines) == sum(getattr(x, field) for x in billed)
    assert {(x.bucket_start, x.model) for x in lines} == {(x.bucket_start, x.model) for x in billed}
    assert {x.line_item for x in lines} == {endpoint_id(x.model) for x in billed}
    assert all(x.source == "openrouter.activity" and not x.estimated for x in lines)
    days = [(SPEC.start + timedelta(days=i)).isoformat() for i in range(COMPLETED)]
    assert _midnight(SPEC.end) < END  # the window holds today, which is not asked
    assert [r.param("date") for r in server.requests] == days  # once per completed day
    assert {r.path for r in server.requests} == {ACTIVITY_PATH}
    assert client.requests == len(server.requests)


def test_collect_goes_back_only_30_completed_days():
    today = SPEC.end
    asked = list(activity_days(END - timedelta(days=90), END, today))
    assert len(asked) == 30
    assert (asked[0], asked[-1]) == (today - timedelta(days=30), today - timedelta(days=1))
    assert list(activity_days(_midnight(today), END, today)) == []


def test_reach_is_the_completed_days_activity_still_answers(client):
    today, collector = SPEC.end, _collector(client)
    reached = collector.reach(Window(END - timedelta(days=90), END))
    assert reached == Window(_midnight(today - timedelta(days=30)), _midnight(today))
    assert collector.reach(Window(_midnight(today), END)) is None


def test_collect_keeps_to_the_window(client, server, billed):
    day = _midnight(SPEC.end - timedelta(days=3))
    lines = _collector(client).collect(day - timedelta(hours=5), day + timedelta(days=1))
    assert [r.param("date") for r in server.requests] == [day.date().isoformat()]
    assert {x.bucket_start for x in lines} == {day}
    assert _total(lines) == _total([x for x in billed if x.bucket_start == day])


def test_a_wrong_key_is_an_auth_error_and_not_retried(server, sleeps):
    for client in _client(server, sleeps, key="sk-or-wrong"):
        with pytest.raises(CollectorAuthError, match="openrouter"):
            _collector(client).collect(START, END)
        assert client.requests == 1


def test_a_missing_key_gets_the_documented_error_body(server):
    http = make_http_client()
    response = http.get(server.url + ACTIVITY_PATH)
    http.close()
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message"}


def test_a_429_with_retry_after_is_retried(client, server, sleeps, billed):
    server.inject(Fault(status=429, headers={"Retry-After": "2"}))
    lines = _collector(client).collect(START, END)
    assert sleeps == [2.0]
    assert _total(lines) == _total(billed)
    assert client.requests == len(server.requests) == COMPLETED + 1


def test_balances_read_the_credits(client, billed):
    (snapshot,) = _collector(client).balances(AT)
    assert snapshot.purchased == CREDITS
    assert snapshot.balance == CREDITS - _total(billed)
    assert (snapshot.source, snapshot.at, snapshot.currency) == ("openrouter.credits", AT, "USD")


def test_naive_or_empty_windows_are_collector_errors(client):
    with pytest.raises(CollectorError, match="timezone-aware"):
        _collector(client).collect(datetime(2026, 1, 1), END)  # noqa: DTZ001
    with pytest.raises(CollectorError, match="end after start"):
        _collector(client).collect(END, START)
