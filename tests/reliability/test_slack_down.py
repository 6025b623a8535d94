"""Slack down for the length of several jobs, then back: `aispend run` (collecting every 0.6 s,
each collection followed by a delivery) keeps every message in the outbox while every call
fails (503, 502 and connection resets, some after the post took effect, and 429s), then
delivers each message once, replies in their thread in order, edits applied."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from bot.standins.slack import connection_reset, ratelimited, server_error
from bot.store.db import make_engine, upgrade
from bot.store.outbox import Outgoing, depth, enqueue
from tests.reliability.world import assert_each_posted_once_in_order, until, workspace
from tests.runtime.running import METRICS_TOKEN, Running, base_env, start

ALERTS = 12
OUTAGE_JOBS = 3  # collections (each with a delivery) while Slack is down
FAULTS = (
    server_error(503),
    server_error(502, after_effect=True),  # posted, but the answer is an error page
    connection_reset(),
    connection_reset(after_effect=True),  # posted, and the connection dropped
    ratelimited(1),
)


def _collections(running: Running) -> int:
    status, body = running.get("/metrics", METRICS_TOKEN)
    found = re.search(rb'aispend_job_runs_total\{job="collect",outcome="ok"\} (\d+)', body)
    return int(found.group(1)) if status == 200 and found else 0


def _alerts() -> list[Outgoing]:
    items = []
    for n in range(ALERTS):
        root = f"incident:{n}:root"
        channel = "#eng" if n % 2 else "C0ENG"  # by name as aispend.toml has it, or by id
        items += [
            Outgoing(root, "post", channel, {"text": f"alert {n}"}),
            Outgoing(f"incident:{n}:escalated", "reply", "", {"text": f"{n} escalated"}, root),
            Outgoing(f"incident:{n}:ack", "update", "", {"text": f"alert {n} (acked)"}, root),
            Outgoing(f"incident:{n}:resolved", "reply", "", {"text": f"{n} resolved"}, root),
        ]
    return items


def _pending(engine: Engine) -> int:
    with engine.connect() as connection:
        return depth(connection).get("pending", 0)


def test_slack_down_for_several_jobs_then_back_delivers_every_message_once_in_order(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/aispend.db"
    engine = make_engine(url)
    upgrade(engine)
    with workspace() as slack:
        env = base_env(url, slack, tmp_path) | {"AISPEND_COLLECT_MINUTES": "0.01"}
        running = start(env, cwd=tmp_path)  # Slack answers auth.test at the start
        try:
            slack.chaos(1.0, seed=5, faults=FAULTS)  # then every call fails
            with engine.begin() as connection:
                enqueue(connection, _alerts(), datetime.now(UTC))
            down_from = _collections(running)
            until(
                lambda: _collections(running) >= down_from + OUTAGE_JOBS,
                f"{OUTAGE_JOBS} collections while Slack is down",
                30,
            )
            failed = [c for c in slack.calls() if c.fault is not None]
            assert _pending(engine) == len(_alerts())  # nothing given up, nothing marked sent
            slack.calm()
            until(lambda: _pending(engine) == 0, "the outbox to empty once Slack is back", 30)
        finally:
            assert running.terminate() == 0
        rows = assert_each_posted_once_in_order(engine, slack)
        for n in range(ALERTS):
            [root] = [r for r in rows if r.key == f"incident:{n}:root"]
            [message] = [m for m in slack.messages() if m.ts == root.ts]
            assert message.text == f"alert {n} (acked)"
    assert len({c.method for c in failed}) >= 2  # posts and the lookups after them failed
    assert any(c.fault is not None and c.fault.after_effect for c in failed)
