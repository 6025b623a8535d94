"""Two replicas on one PostgreSQL through a simulated day (tests/reliability/simday.py: the real
scheduler, lease, jobs and notifier, the jobs' clock running 7200 times as fast), the leader
killed with SIGKILL in the middle of a post to Slack: the other takes over within the lease's
lifetime, and every digest and alert of the day is posted exactly once, replies in order."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from bot.collectors.base import Window
from bot.standins.providers import simulated_providers
from bot.standins.slack import BOT_TOKEN, timeout
from bot.synthetic import ActivitySpec
from bot.synthetic.catalog import TEAMS
from tests.builders import at, line
from tests.reliability.simday import CompressedClock
from tests.reliability.world import (
    ZONES,
    Spawned,
    assert_each_posted_once_in_order,
    at_real,
    backfill,
    midnight,
    provider_env,
    serve_openai,
    team_toml,
    until,
    workspace,
)

ORIGIN = datetime(2026, 11, 18, 6, tzinfo=UTC)  # the simulated day: 06:00 to 06:00 UTC
DAY = timedelta(hours=24)
SPEED = 7200.0  # simulated seconds per real second: the day takes 12 s
STARTUP = 4.0  # real seconds before the day starts (the clock stands at ORIGIN until then)
LEASE = 2  # seconds
SPIKE_AT = ORIGIN + timedelta(hours=6)  # the provider restates yesterday with a runaway model
DIGEST_HOUR = 9
SPEC = ActivitySpec(end=ORIGIN.date(), days=35, events_per_day=1500, seed=4, now_hour=6)


def _expected_digests(start: datetime, end: datetime) -> set[str]:
    """Each channel's local date once its local 09:00 has come, within [start, end]."""
    zones = {"#eng": "UTC"} | {t.channel: ZONES.get(t.name, "UTC") for t in TEAMS}
    keys = set()
    moment = start
    while moment <= end:
        for channel, zone in zones.items():
            local = moment.astimezone(ZoneInfo(zone))
            if local.hour >= DIGEST_HOUR:
                keys.add(f"digest:{channel}:{local.date().isoformat()}")
        moment += timedelta(minutes=10)
    return keys


def _holder_pid(engine: Engine) -> int | None:
    with engine.connect() as connection:
        holder = connection.execute(text("SELECT holder FROM lease")).scalar_one_or_none()
    return None if holder is None else int(str(holder).split(":")[1])


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_two_replicas_post_a_days_digests_and_alerts_once_and_survive_the_leaders_death(
    tmp_path: Path, engine: Engine
) -> None:
    (tmp_path / "aispend.toml").write_text(team_toml())
    url = engine.url.render_as_string(hide_password=False)
    with workspace() as slack, simulated_providers(SPEC) as providers:
        backfill(engine, providers, Window(midnight(ORIGIN) - timedelta(days=34), midnight(ORIGIN)))
        clock = CompressedClock(ORIGIN, time.time() + STARTUP, SPEED)
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": url,
            "AISPEND_CONFIG": str(tmp_path / "aispend.toml"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "AISPEND_LEASE_SECONDS": str(LEASE),
            "LOG_LEVEL": "INFO",
        }
        env |= provider_env(providers) | clock.env()
        # the day's first post reaches Slack and is stored, and its answer never comes back
        slack.fail(timeout(20, after_effect=True), method="chat.postMessage")
        replicas = [
            Spawned("tests.reliability.simday", [], env, tmp_path / f"replica{n}.log")
            for n in (1, 2)
        ]
        try:
            until(lambda: len(slack.messages()) >= 1, "the first post", 30)
            leader_pid = _holder_pid(engine)
            [leader] = [r for r in replicas if r.pid == leader_pid]
            [survivor] = [r for r in replicas if r is not leader]
            until(lambda: survivor.said("simulated day running"), "the other replica", 15)
            leader.kill()  # mid-post (its answer is 20 s away): the store cannot know
            killed = time.monotonic()
            until(lambda: _holder_pid(engine) == survivor.pid, "the survivor to lead", 15)
            took_over = time.monotonic() - killed

            at_real(clock.real(SPIKE_AT), 30)
            runaway = line(
                bucket_start=at(SPIKE_AT.date() - timedelta(days=1), 0),
                model="gpt-5-pro",
                line_item="gpt-5-pro, input",
                project="proj_growth",
                cost=Decimal(400),
            )
            serve_openai(providers, [runaway])

            at_real(clock.real(ORIGIN + DAY), 30)
            assert survivor.terminate() == 0
            end = clock.now()
        finally:
            for replica in replicas:
                replica.kill()

        rows = assert_each_posted_once_in_order(engine, slack)
    assert took_over < LEASE + LEASE / 3 + 2  # the lease's lifetime, a renewal, and slack
    assert survivor.said("leader lease taken")
    digests = {r.key for r in rows if r.key.startswith("digest:") and r.kind == "post"}
    assert digests == _expected_digests(ORIGIN, end)
    charts = [r for r in rows if r.kind == "upload"]
    assert {r.thread_key for r in charts} == digests  # one chart each, in its digest's thread
    assert len(slack.files) == len(charts)
    roots = [r for r in rows if r.key.startswith("incident:") and r.key.endswith(":root")]
    assert roots, "the runaway model opened no alert"
    escalations = [r for r in rows if ":unacknowledged:" in r.key]
    assert escalations, "no alert was escalated"
