"""The service's HTTP side over real HTTP on 127.0.0.1: the WSGI app (bot.runtime.web) served
by the production server (waitress, bot.runtime.server), with the real Bolt app behind
/slack/events talking to the Slack stand-in, and a real store behind /v1/events and /metrics.
"""

from __future__ import annotations

import inspect
import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, func, insert, select

from bot.clock import SystemClock
from bot.config import Settings, SlackConfig, TeamFile
from bot.pricing import PriceBook
from bot.runtime import web
from bot.runtime.metrics import Metrics
from bot.runtime.server import Server
from bot.runtime.web import SLACK_MAX_BYTES, EventsSink, WebApp
from bot.slack.app import create_app
from bot.slack.listeners.context import AppContext
from bot.standins.slack import BOT_TOKEN, SlackStandIn, running_slack
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.store.models import CollectorState, UsageEvent, table_of
from tests.runtime.running import EVENTS_TOKEN, METRICS_TOKEN, SIGNING_SECRET, request, wait_for
from tests.slack.test_app import slash_body

MAX_EVENTS_BYTES = 64 * 1024
GOOD = {"ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-5-mini"}


@dataclass
class Site:
    url: str
    slack: SlackStandIn
    engine: Engine
    channel: str
    user: str

    def events(
        self,
        body: bytes,
        *,
        token: str | None = EVENTS_TOKEN,
        content_type: str = "",
        query: str = "",
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": content_type} if content_type else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        status, answer = request(
            f"{self.url}/v1/events{query}", data=body, headers=headers, method="POST"
        )
        return status, json.loads(answer)

    def slack_post(
        self, body: str, *, timestamp: int | None = None, signature: str = ""
    ) -> tuple[int, bytes]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or _sign(body, ts),
        }
        return request(f"{self.url}/slack/events", data=body.encode(), headers=headers)

    def stored(self) -> int:
        table = table_of(UsageEvent)
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _sign(body: str, timestamp: str) -> str:
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    engine = make_engine(f"sqlite:///{tmp_path}/aispend.db")
    upgrade(engine)
    team_file = TeamFile(slack=SlackConfig(channel="#eng"))
    with running_slack() as slack:
        eng = slack.add_channel("eng", channel_id="C0ENG")
        user = slack.add_user("maya", channels=[eng.id])
        settings = Settings.model_validate(
            {"slack_signing_secret": SIGNING_SECRET, "slack_bot_token": BOT_TOKEN}
        )
        context = AppContext(
            engine, team_file, settings, WebClient(token=BOT_TOKEN, base_url=slack.api_url)
        )
        web = WebApp(
            metrics=Metrics(engine, SystemClock()),
            health=lambda: {"role": "all", "slack": "http", "leader": True},
            slack=SlackRequestHandler(create_app(context)),
            signing_secret=SecretStr(SIGNING_SECRET),
            events=EventsSink(
                engine, PriceBook(), Attribution.from_rules(()), max_bytes=MAX_EVENTS_BYTES
            ),
            events_token=SecretStr(EVENTS_TOKEN),
            metrics_token=SecretStr(METRICS_TOKEN),
        )
        server = Server(web, "127.0.0.1", 0, max_body=4 * SLACK_MAX_BYTES)
        server.start()
        try:
            yield Site(f"http://127.0.0.1:{server.port}", slack, engine, eng.id, user.id)
        finally:
            server.stop()
            context.background.shutdown(wait=True)
            engine.dispose()


def _lines(*events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


# -- what is open, and what is not -------------------------------------------------------------


def test_only_healthz_answers_without_credentials(site):
    status, body = request(site.url + "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "role": "all", "slack": "http", "leader": True}
    for path in ("/metrics", "/v1/events", "/slack/events", "/", "/slack/install", "/admin"):
        for method, data in (("GET", None), ("POST", b"{}")):
            status, _ = request(site.url + path, data=data, method=method)
            assert status >= 400, (method, path, status)
    assert request(site.url + "/healthz", data=b"x", method="POST")[0] == 405


def test_metrics_need_the_bearer_token(site):
    assert request(site.url + "/metrics")[0] == 401
    wrong = {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}x"}
    assert request(site.url + "/metrics", headers=wrong)[0] == 401
    basic = {"Authorization": f"Basic {METRICS_TOKEN}"}
    assert request(site.url + "/metrics", headers=basic)[0] == 401
    events_token = {"Authorization": f"Bearer {EVENTS_TOKEN}"}  # each token opens its own door
    assert request(site.url + "/metrics", headers=events_token)[0] == 401


def test_an_endpoint_without_its_token_is_not_served(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/aispend.db")
    upgrade(engine)
    web = WebApp(metrics=Metrics(), health=dict)
    server = Server(web, "127.0.0.1", 0, max_body=1024)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        anything = {"Authorization": "Bearer "}  # an empty token never matches anything
        assert request(url + "/metrics", headers=anything)[0] == 404
        assert request(url + "/v1/events", data=b"{}", headers=anything)[0] == 404
        assert request(url + "/slack/events", data=b"{}")[0] == 404
        assert request(url + "/healthz")[0] == 200
    finally:
        server.stop()
        engine.dispose()


def test_metrics_show_collectors_incidents_outbox_and_command_latency(site):
    now = datetime.now(UTC)
    with site.engine.begin() as connection:
        connection.execute(
            insert(table_of(CollectorState)).values(
                source="openai.costs",
                last_success=now - timedelta(minutes=5),
                complete_through=now - timedelta(hours=2),
                last_attempt=now - timedelta(minutes=5),
                last_error="",
                consecutive_failures=0,
            )
        )
    hook = site.slack.response_url(site.channel, site.user)
    assert site.slack_post(slash_body("help", user=site.user, channel=site.channel, url=hook))[0]
    status, body = request(
        site.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200
    text = body.decode()
    lag = next(
        line for line in text.splitlines() if line.startswith("aispend_collector_lag_seconds{")
    )
    assert lag.startswith('aispend_collector_lag_seconds{source="openai.costs"}')
    assert 7190 < float(lag.split()[-1]) < 7300
    for series in (
        'aispend_collector_last_success_timestamp_seconds{source="openai.costs"}',
        'aispend_collector_consecutive_failures{source="openai.costs"} 0.0',
        'aispend_incidents_open{severity="critical"} 0.0',
        'aispend_outbox_items{status="pending"} 0.0',
        'aispend_slack_request_seconds_count{kind="command"} 1.0',
        "aispend_store_up 1.0",
    ):
        assert series in text


# -- /v1/events --------------------------------------------------------------------------------


def test_events_need_the_bearer_token_and_store_nothing_without_it(site):
    body = _lines(GOOD | {"request_id": "r1"})
    assert site.events(body, token=None)[0] == 401
    assert site.events(body, token=EVENTS_TOKEN + "x")[0] == 401
    assert site.events(body, token=METRICS_TOKEN)[0] == 401
    assert site.stored() == 0


def test_events_store_good_lines_and_answer_each_bad_line_with_its_number(site):
    body = (
        _lines(
            GOOD | {"request_id": "r1", "tokens_in": 1000, "tokens_out": 200},
            {"ts": "2026-11-20T10:01:00Z", "provider": "openai"},  # no model
            GOOD | {"request_id": "r3"},
        )
        + b"not json at all\n"
    )
    status, answer = site.events(body, content_type="application/x-ndjson")
    assert status == 200
    assert (answer["records"], answer["stored"], answer["bad"]) == (4, 2, 2)
    assert [e["line"] for e in answer["errors"]] == [2, 4]
    assert "model" in answer["errors"][0]["reason"]
    assert site.stored() == 2
    status, again = site.events(body)  # the same lines again change nothing
    assert (status, again["stored"], again["duplicates"]) == (200, 0, 2)
    assert site.stored() == 2


def test_events_read_csv_by_its_media_type(site):
    body = b"ts,provider,model,request_id,cost\n2026-11-20T10:00:00Z,openai,gpt-5,c1,0.25\n"
    status, answer = site.events(body, content_type="text/csv")
    assert (status, answer["stored"], answer["bad"]) == (200, 1, 0)


def test_events_over_the_size_limit_are_refused_whole(site):
    one = _lines(GOOD | {"request_id": "r" * 60})
    body = one * (MAX_EVENTS_BYTES // len(one) + 1)
    status, answer = site.events(body)
    assert status == 413
    assert str(MAX_EVENTS_BYTES) in answer["error"]
    assert site.stored() == 0


def test_events_refuse_a_bad_format_or_source(site):
    assert site.events(_lines(GOOD), query="?format=xml")[0] == 400
    assert site.events(_lines(GOOD), query="?source=" + urllib.parse.quote("a b"))[0] == 400
    assert site.stored() == 0


# -- /slack/events -----------------------------------------------------------------------------


def _command(site: Site, text: str = "help") -> tuple[str, str]:
    hook = site.slack.response_url(site.channel, site.user)
    return slash_body(text, user=site.user, channel=site.channel, url=hook), hook


def test_a_signed_slash_command_is_answered(site):
    body, hook = _command(site)
    status, _ = site.slack_post(body)
    assert status == 200
    wait_for(lambda: any(r.url == hook for r in site.slack.responses), "the answer", 10)


def test_forged_stale_and_replayed_slack_requests_are_refused(site):
    body, hook = _command(site)
    forged = "v0=" + "0" * 64
    assert site.slack_post(body, signature=forged)[0] == 401
    stale = int(time.time()) - 6 * 60  # signed with the right secret, 6 minutes ago
    assert site.slack_post(body, timestamp=stale)[0] == 401
    other_secret = body + "&x=1"  # a valid signature of another body
    ts = str(int(time.time()))
    assert site.slack_post(body, timestamp=int(ts), signature=_sign(other_secret, ts))[0] == 401
    assert site.slack_post(body, timestamp=int(ts))[0] == 200
    assert site.slack_post(body, timestamp=int(ts))[0] == 401  # the same request again
    unsigned = request(site.url + "/slack/events", data=body.encode())
    assert unsigned[0] == 401
    wait_for(lambda: any(r.url == hook for r in site.slack.responses), "the one answer", 10)
    time.sleep(0.3)
    assert sum(r.url == hook for r in site.slack.responses) == 1


def test_a_slack_request_over_the_limit_is_refused(site):
    body = "x" * (SLACK_MAX_BYTES + 1)
    assert site.slack_post(body)[0] == 413


def test_bearer_tokens_are_compared_in_constant_time():
    """hmac.compare_digest takes as long wherever the first difference is; timing it here
    would make a flaky test, so the comparison itself is checked."""
    source = inspect.getsource(web._authorize)
    assert "hmac.compare_digest(" in source


def test_a_body_over_the_servers_bound_is_refused_before_it_is_sent(site):
    """A declared length past every limit is answered 413 from the headers alone: the server
    never waits for (or buffers) the body."""
    host, port = site.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n"
            + f"Authorization: Bearer {EVENTS_TOKEN}\r\n\r\n".encode()
        )
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
    assert site.stored() == 0
