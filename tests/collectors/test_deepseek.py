"""DeepSeek balance: the pure parser on the reference payload, then the collector end to end
through the real ProviderClient against the DeepSeek stand-in."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bot.collectors.deepseek import DeepSeekCollector, deepseek_client, parse_balance
from bot.collectors.http import ProviderClient, RetryPolicy, make_http_client
from bot.domain import CreditSnapshot
from bot.errors import CollectorAuthError, CollectorDataError
from bot.standins.deepseek import BALANCE_PATH, deepseek_routes
from bot.standins.server import Fault, StandIn, running

KEY = "sk-deepseek-test-0123456789"
AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
BALANCES = [("CNY", Decimal("110.00")), ("USD", Decimal("12.3456789"))]

# Section 6.2 of the provider reference (constructed values).
BALANCE: dict[str, Any] = {
    "is_available": True,
    "balance_infos": [
        {
            "currency": "CNY",
            "total_balance": "110.00",
            "granted_balance": "10.00",
            "topped_up_balance": "100.00",
        }
    ],
}


def test_each_balance_entry_is_one_snapshot():
    assert parse_balance(BALANCE, AT) == [
        CreditSnapshot(
            source="deepseek.balance",
            provider="deepseek",
            at=AT,
            balance=Decimal("110.00"),
            currency="CNY",
            purchased=None,
        )
    ]


@pytest.mark.parametrize("field", ["currency", "total_balance"])
def test_a_missing_field_is_named(field):
    payload = copy.deepcopy(BALANCE)
    del payload["balance_infos"][0][field]
    with pytest.raises(CollectorDataError, match=rf"deepseek: .*balance_infos\.0\.{field}"):
        parse_balance(payload, AT)


def test_unknown_fields_are_ignored_and_bad_amounts_refused():
    payload = copy.deepcopy(BALANCE)
    payload["brand_new"] = [1]
    payload["balance_infos"][0]["also_new"] = {"x": 1}
    assert parse_balance(payload, AT) == parse_balance(BALANCE, AT)
    payload["balance_infos"][0]["total_balance"] = "lots"
    with pytest.raises(CollectorDataError, match="total_balance"):
        parse_balance(payload, AT)


@pytest.fixture
def server() -> Iterator[StandIn]:
    with running(deepseek_routes(key=KEY, balances=BALANCES)) as standin:
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _client(server: StandIn, sleeps: list[float], key: str = KEY) -> Iterator[ProviderClient]:
    http = make_http_client()
    policy = RetryPolicy(attempts=3, base_delay=0.01)
    yield deepseek_client(http, key, base_url=server.url, policy=policy, sleep=sleeps.append)
    http.close()


@pytest.fixture
def client(server: StandIn, sleeps: list[float]) -> Iterator[ProviderClient]:
    yield from _client(server, sleeps)


def test_balances_are_read_exactly(client, server):
    snapshots = DeepSeekCollector(client).balances(AT)
    assert [(s.currency, s.balance) for s in snapshots] == BALANCES
    assert all(s.source == "deepseek.balance" and s.purchased is None for s in snapshots)
    assert [r.path for r in server.requests] == [BALANCE_PATH]


def test_collect_finds_nothing_and_asks_nothing(client, server):
    assert DeepSeekCollector(client).collect(AT, AT.replace(day=23)) == []
    assert server.requests == []


def test_the_standin_sends_strings_and_availability(client):
    answer = client.get_json(BALANCE_PATH)
    assert answer["is_available"] is True
    assert answer["balance_infos"][1]["total_balance"] == "12.3456789"


def test_a_wrong_key_is_an_auth_error_and_not_retried(server, sleeps):
    for client in _client(server, sleeps, key="sk-wrong"):
        with pytest.raises(CollectorAuthError, match="deepseek"):
            DeepSeekCollector(client).balances(AT)
        assert client.requests == 1


def test_a_429_with_retry_after_is_retried(client, server, sleeps):
    server.inject(Fault(status=429, headers={"Retry-After": "3"}))
    snapshots = DeepSeekCollector(client).balances(AT)
    assert sleeps == [3.0]
    assert len(snapshots) == 2
    assert client.requests == len(server.requests) == 2
