"""Load on `aispend run` while a collection runs (the provider simulators answer slowly, so
the collection lasts through it): 50 signed /aispend commands at once are each acknowledged
within Slack's 3 seconds and answered at their response URL; bursts of POST /v1/events at
once, bad lines mixed in, store every good line and report every bad one by its number.

Speed is measured by `python -m bench run`, not asserted here: the 3 s is Slack's deadline,
past which it shows the user an error, so it is what the service must do, not a figure."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from bot.standins.providers import simulated_providers
from bot.standins.server import Fault
from bot.standins.slack import SlackStandIn
from bot.store.db import make_engine, upgrade
from bot.synthetic import ActivitySpec
from tests.reliability.world import (
    COLLECTED,
    count,
    provider_env,
    team_toml,
    until,
    workspace,
)
from tests.runtime.running import EVENTS_TOKEN, SIGNING_SECRET, Running, base_env, start
from tests.slack.test_app import slash_body

COMMANDS = 50
SLACK_DEADLINE = 3.0  # seconds Slack waits for the acknowledgement
BURSTS, POSTS, LINES = 3, 8, 400  # bursts of POSTS bodies at once, LINES lines each
QUESTIONS = ("week by provider", "month by team", "top week by feature", "status", "wek")


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
    """POST on a connection of its own: status, body, seconds to the answer."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        return answer.status, data, time.perf_counter() - started
    finally:
        connection.close()


def _at_once(calls: list[Call], url: str) -> list[tuple[int, bytes, float]]:
    """Every call from its own thread, released together."""
    gate = threading.Barrier(len(calls))

    def send(call: Call) -> tuple[int, bytes, float]:
        gate.wait(timeout=30)
        return _post(url, *call)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(send, calls))


Call = tuple[str, bytes, dict[str, str]]  # path, body, headers


def _commands(slack: SlackStandIn, channel: str) -> tuple[list[Call], list[str]]:
    """COMMANDS signed /aispend commands, each from another person: the calls and the
    response URLs their answers go to."""
    ts = str(int(time.time()))
    verifier = SignatureVerifier(SIGNING_SECRET)
    calls, hooks = [], []
    for n in range(COMMANDS):
        user = slack.add_user(f"asker{n}", channels=[channel]).id
        hook = slack.response_url(channel, user)
        body = slash_body(QUESTIONS[n % len(QUESTIONS)], user=user, channel=channel, url=hook)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": str(verifier.generate_signature(timestamp=ts, body=body)),
        }
        calls.append(("/slack/events", body.encode(), headers))
        hooks.append(hook)
    return calls, hooks


def _event_bodies(burst: int) -> tuple[list[bytes], list[set[int]]]:
    """POSTS bodies of LINES lines; in each, some lines bad in different ways."""
    bodies, bad = [], []
    day = datetime(2026, 11, 20, tzinfo=UTC)
    for post in range(POSTS):
        lines, wrong = [], set()
        for n in range(1, LINES + 1):
            event = {
                "ts": (day + timedelta(seconds=n)).isoformat(),
                "provider": "openai",
                "model": "gpt-5-mini",
                "request_id": f"b{burst}-p{post}-{n}",
                "tokens_in": 1000 + n,
                "tokens_out": 50,
                "feature": "search",
            }
            kind = (n + post) % 9
            if kind == 3:
                event.pop("model")
            elif kind == 5:
                event["tokens_in"] = "many"
            elif kind == 7:
                lines.append(b'{"ts": "2026-11-20T00:00:00Z", "provider": "open')  # cut short
                wrong.add(n)
                continue
            if kind in (3, 5):
                wrong.add(n)
            lines.append(json.dumps(event).encode())
        bodies.append(b"\n".join(lines) + b"\n")
        bad.append(wrong)
    return bodies, bad


def test_commands_and_event_bursts_during_a_collection(tmp_path: Path) -> None:
    (tmp_path / "aispend.toml").write_text(team_toml())
    url = f"sqlite:///{tmp_path}/aispend.db"
    now = datetime.now(UTC)
    spec = ActivitySpec(end=now.date(), days=14, events_per_day=800, seed=6, now_hour=now.hour)
    with workspace() as slack, simulated_providers(spec) as providers:
        for provider in COLLECTED:  # every page takes a while: a long collection
            providers.servers[provider].inject(*[Fault(delay=0.4, after_effect=True)] * 12)
        env = base_env(url, slack, tmp_path) | provider_env(providers)
        engine = make_engine(url)
        upgrade(engine)
        running = start(env, cwd=tmp_path)  # collects at once
        try:
            until(lambda: any(s.requests for s in providers.servers.values()), "collecting", 30)
            calls, hooks = _commands(slack, "C0ENG")
            acks = _at_once(calls, running.url)
            collecting = not _collected(running, len(COLLECTED))
            event_answers = []
            for burst in range(BURSTS):
                bodies, bad = _event_bodies(burst)
                headers = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
                calls = [("/v1/events?format=jsonl", body, headers) for body in bodies]
                answers = _at_once(calls, running.url)
                event_answers.append((answers, bad))
            until(lambda: all(_answered(slack, h) for h in hooks), "every answer", 60)
            until(lambda: _collected(running, len(COLLECTED)), "the collection", 60)
            stored = count(engine, "SELECT count(*) FROM usage_event")
            errors = [e["message"] for e in running.logs() if e["level"] == "ERROR"]
        finally:
            assert running.terminate() == 0
            engine.dispose()
    assert collecting, "the collection was over before the commands came"
    assert [status for status, _, _ in acks] == [200] * COMMANDS
    slowest = max(seconds for _, _, seconds in acks)
    assert slowest < SLACK_DEADLINE, f"an ack took {slowest:.2f} s"
    good_total = 0
    for answers, bad in event_answers:
        for (status, body, _), wrong in zip(answers, bad, strict=True):
            report = json.loads(body)
            assert status == 200
            assert report["records"] == LINES
            assert report["stored"] == LINES - len(wrong)
            assert {e["line"] for e in report["errors"]} == wrong
            assert all(e["reason"] for e in report["errors"])
            good_total += LINES - len(wrong)
    assert stored == good_total
    assert errors == []


def _answered(slack: SlackStandIn, hook: str) -> bool:
    return any(r.url == hook and r.status == 200 for r in list(slack.responses))


def _collected(running: Running, providers: int) -> bool:
    return len([e for e in running.logs() if e["message"] == "collected"]) >= providers
