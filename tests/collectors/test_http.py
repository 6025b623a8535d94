"""The shared provider client against a real loopback server with injected faults."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from bot.collectors.http import Pacer, ProviderClient, RetryPolicy, make_http_client
from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorError,
    CollectorRateLimited,
    CollectorUnavailable,
)
from bot.standins.server import Fault, Request, Response, StandIn, running

SECRET = "sk-admin-test-SECRET-0123456789"


def _pages(request: Request) -> Response:
    page = int(request.param("page") or "0")
    more = page < 2
    return Response(
        body={
            "object": "page",
            "data": [page],
            "has_more": more,
            "next_page": str(page + 1) if more else None,
        }
    )


def _looping(request: Request) -> Response:
    return Response(body={"data": [1], "has_more": True, "next_page": "same"})


@pytest.fixture
def server() -> Iterator[StandIn]:
    routes = {"/pages": _pages, "/loop": _looping, "/list": lambda r: Response(body=[1, 2])}
    with running(routes) as standin:
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server: StandIn, sleeps: list[float]) -> Iterator[ProviderClient]:
    http = make_http_client()
    http.timeout = httpx.Timeout(0.5)
    yield ProviderClient(
        "openai",
        http,
        server.url,
        {"Authorization": f"Bearer {SECRET}"},
        policy=RetryPolicy(attempts=4, base_delay=0.01),
        sleep=sleeps.append,
        jitter=lambda: 0.5,
    )
    http.close()


def test_pages_follows_the_cursor_with_the_same_query(client, server):
    pages = list(client.pages("/pages", {"limit": 7}))
    assert [p["data"] for p in pages] == [[0], [1], [2]]
    assert [r.param("page") for r in server.requests] == [None, "1", "2"]
    assert {r.param("limit") for r in server.requests} == {"7"}
    assert all(r.headers["Authorization"] == f"Bearer {SECRET}" for r in server.requests)


def test_pages_stops_on_a_repeating_cursor(client):
    with pytest.raises(CollectorDataError, match="repeated page cursor 'same'"):
        list(client.pages("/loop", {}))


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),
        Fault(status=502),
        Fault(status=503),
        Fault(status=529),
        Fault(reset=True),
        Fault(truncate=True),
        Fault(delay=1.0),  # longer than the client's timeout
    ],
)
def test_transient_faults_are_retried(client, server, fault):
    server.inject(fault)
    assert client.get_json("/pages")["data"] == [0]
    assert client.requests == 2


def test_retry_after_is_honoured(client, server, sleeps):
    server.inject(Fault(status=429, headers={"Retry-After": "3"}))
    client.get_json("/pages")
    assert sleeps == [3.0]


@pytest.mark.parametrize(
    ("headers", "slept"),
    [
        ({"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "5"}, [5.0]),
        (
            {"x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "4", "Retry-After": "6"},
            [6.0],
        ),
        ({"x-ms-ratelimit-remaining-subscription-reads": "11999"}, [0.01]),  # not a wait
    ],
)
def test_services_own_retry_after_headers_are_honoured(client, server, sleeps, headers, slept):
    server.inject(Fault(status=429, headers=headers))
    client.get_json("/pages")
    assert sleeps == slept


def test_post_sends_a_json_body_and_a_204_is_an_empty_object(client, server):
    server.routes["/query"] = lambda r: Response(204, b"")
    assert client.post_json("/query", {"type": "AmortizedCost"}, {"api-version": "1"}) == {}
    [request] = server.requests
    assert (request.method, request.body, request.param("api-version")) == (
        "POST",
        b'{"type":"AmortizedCost"}',
        "1",
    )


def test_next_links_are_followed_on_the_same_host_only(client, server):
    def linked(request: Request) -> Response:
        skip = int(request.param("skip") or "0")
        link = f"{server.url}/linked?skip={skip + 1}" if skip < 2 else None
        return Response(body={"properties": {"nextLink": link}, "page": skip})

    server.routes["/linked"] = linked
    pages = client.linked_pages("/linked", {}, {"q": 1}, lambda p: p["properties"]["nextLink"])
    assert [p["page"] for p in pages] == [0, 1, 2]
    assert {r.body for r in server.requests} == {b'{"q":1}'}
    assert all(r.headers["Authorization"] == f"Bearer {SECRET}" for r in server.requests)


def test_backoff_grows_without_retry_after(client, server, sleeps):
    server.inject(Fault(status=503), Fault(status=503), Fault(status=503))
    client.get_json("/pages")
    assert sleeps == [0.01, 0.02, 0.04]


def test_rate_limit_that_never_lifts_is_reported_with_retry_after(client, server):
    server.inject(*[Fault(status=429, headers={"Retry-After": "7"})] * 4)
    with pytest.raises(CollectorRateLimited) as error:
        client.get_json("/pages")
    assert error.value.retry_after == 7.0
    assert error.value.provider == "openai"


def test_outage_is_reported_after_every_attempt(client, server):
    server.inject(*[Fault(status=500)] * 4)
    with pytest.raises(CollectorUnavailable, match="openai: /pages answered 500"):
        client.get_json("/pages")
    assert client.requests == 4


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_not_retried(client, server, status):
    server.inject(Fault(status=status, body={"error": {"message": "bad key"}}))
    with pytest.raises(CollectorAuthError):
        client.get_json("/pages")
    assert client.requests == 1


def test_client_errors_carry_the_providers_message(client, server):
    server.inject(Fault(status=400, body={"error": {"message": "bad group_by"}}))
    with pytest.raises(CollectorError, match="bad group_by"):
        client.get_json("/pages")


def test_a_body_that_is_not_an_object_is_a_data_error(client):
    with pytest.raises(CollectorDataError, match="list, not an object"):
        client.get_json("/list")


def test_no_error_or_log_line_holds_the_secret(client, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.inject(*[Fault(status=500)] * 4, Fault(status=401))
    messages = []
    for _ in range(2):
        with pytest.raises(CollectorError) as error:
            client.get_json("/pages", {"api_key_hint": "x"})
        messages += [str(error.value), repr(error.value), str(error.value.__cause__)]
    assert all(SECRET not in m for m in messages)
    assert SECRET not in caplog.text


def test_pacer_spaces_requests():
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(2.0, sleep=sleep, clock=lambda: now[0])
    pacer.wait()
    now[0] += 0.5
    pacer.wait()
    pacer.wait()
    assert slept == [1.5, 2.0]
