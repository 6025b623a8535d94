"""`aispend run` as a real process against the Slack stand-in and a real store: it starts and
answers, SIGTERM flushes the outbox and exits 0, two replicas on PostgreSQL share one leader
lease and the survivor takes over when the leader is killed, and every missing or wrong
setting stops the start with one clear line and exit status 2."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from bot.config import Settings, TeamFile
from bot.errors import AispendError, ConfigError
from bot.runtime.service import Service, plan_for
from bot.standins.openai import openai_routes
from bot.standins.server import Fault, running
from bot.standins.slack import BOT_TOKEN, SlackStandIn, running_slack
from bot.store.db import make_engine, upgrade
from bot.store.models import CollectorState, Lease, table_of
from bot.store.outbox import Outgoing, enqueue
from tests.builders import at, line
from tests.runtime.running import (
    METRICS_TOKEN,
    Running,
    base_env,
    start,
    wait_for,
)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with running_slack() as standin:
        standin.add_channel("eng", channel_id="C0ENG")
        yield standin


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path}/aispend.db"
    engine = make_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()


def _ran(running: Running, job: str) -> bool:
    status, body = running.get("/metrics", METRICS_TOKEN)
    return status == 200 and f'aispend_job_runs_total{{job="{job}",outcome="ok"}}' in body.decode()


def test_run_serves_health_and_sigterm_flushes_the_outbox_before_exit_0(tmp_path, slack, store):
    url, engine = store
    running = start(base_env(url, slack, tmp_path), cwd=tmp_path)
    try:
        assert running.health() == {"status": "ok", "role": "all", "slack": "http", "leader": True}
        wait_for(lambda: _ran(running, "collect") and _ran(running, "deliver"), "the first jobs")
        # queued after the first delivery: only the flush on SIGTERM can send it (the next
        # scheduled delivery is 15 s away)
        with engine.begin() as connection:
            item = Outgoing("test:flush", "post", "C0ENG", {"text": "flushed on the way out"})
            enqueue(connection, [item], datetime.now(UTC))
        assert slack.messages("C0ENG") == []
    finally:
        status = running.terminate()
    assert status == 0
    assert [m.text for m in slack.messages("C0ENG")] == ["flushed on the way out"]
    logs = [json.loads(line) for line in running.lines]  # every line is JSON: not a terminal
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in logs)
    flushed = [entry["sent"] for entry in logs if entry["message"] == "outbox flushed"]
    assert flushed == [1]
    assert logs[-1]["message"] == "aispend stopped"


def test_sigterm_lets_the_running_collection_finish_before_exit(tmp_path, slack, store):
    """The OpenAI simulator answers its first request after 2 s; SIGTERM arrives while the
    collection waits for it. The process finishes the collection (and the detection after
    it), records it, then exits 0."""
    url, engine = store
    billed = [line(bucket_start=at(datetime.now(UTC).date() - timedelta(days=1), 0))]
    routes = openai_routes(admin_key="sk-admin-test", costs=billed, usage=[])
    with running(routes) as openai:
        openai.inject(Fault(delay=2.0))
        env = base_env(url, slack, tmp_path) | {
            "OPENAI_ADMIN_KEY": "sk-admin-test",
            "OPENAI_BASE_URL": openai.url,
        }
        process = start(env, cwd=tmp_path)
        wait_for(lambda: bool(openai.requests), "the collection to be under way")
        assert process.terminate() == 0
    messages = [json.loads(line)["message"] for line in process.lines]
    stopping = messages.index("stopping: answering requests in flight, finishing the running job")
    assert "detection ran" in messages[stopping:]
    with engine.connect() as connection:
        states = {r.source: r for r in connection.execute(select(table_of(CollectorState)))}
    assert states["openai.costs"].last_success is not None
    assert states["openai.costs"].consecutive_failures == 0


def test_two_replicas_on_postgres_have_one_leader_and_the_other_takes_over_when_it_dies(
    tmp_path, slack, postgres_url, postgres_engine
):
    with postgres_engine.begin() as connection:
        connection.execute(delete(Lease))
    env = base_env(postgres_url, slack, tmp_path) | {"AISPEND_LEASE_SECONDS": "2"}
    first = start(env, cwd=tmp_path, listen=False)
    second = start(env, cwd=tmp_path, listen=False)
    try:
        first.listening(), second.listening()
        wait_for(lambda: first.health() is not None and second.health() is not None, "both")
        leaders = [r for r in (first, second) if (r.health() or {}).get("leader")]
        assert len(leaders) == 1
        [leader] = leaders
        survivor = second if leader is first else first
        leader.kill()  # no SIGTERM: the lease is not given up, it has to expire
        wait_for(lambda: (survivor.health() or {}).get("leader") is True, "a takeover", 10)
        wait_for(lambda: _ran(survivor, "collect"), "the new leader's collection", 10)
    finally:
        for running in (first, second):
            if running.process.poll() is None:
                assert running.terminate() == 0


def test_a_replica_that_stops_gives_the_lease_up_at_once(tmp_path, slack, store):
    url, _ = store
    env = base_env(url, slack, tmp_path) | {"AISPEND_LEASE_SECONDS": "9"}
    first = start(env, cwd=tmp_path, listen=False)
    second = start(env, cwd=tmp_path, listen=False)
    try:
        first.listening(), second.listening()
        wait_for(lambda: (first.health() or {}).get("leader") is not None, "the first")
        wait_for(lambda: (second.health() or {}).get("leader") is not None, "the second")
        leaders = [r for r in (first, second) if (r.health() or {}).get("leader")]
        assert len(leaders) == 1
        [leader] = leaders
        survivor = second if leader is first else first
        assert leader.terminate() == 0  # gives the lease up: no wait for it to expire
        wait_for(lambda: (survivor.health() or {}).get("leader") is True, "a takeover", 6)
    finally:
        for running in (first, second):
            if running.process.poll() is None:
                running.terminate()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxp-a-user-token"}, "SLACK_BOT_TOKEN must be a bot token"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_APP_TOKEN": "xoxb-not-an-app-token"}, "SLACK_APP_TOKEN must be an app-level"),
        ({"AISPEND_EVENTS_TOKEN": "short"}, "AISPEND_EVENTS_TOKEN must be at least 16"),
        ({"AISPEND_METRICS_TOKEN": "short"}, "AISPEND_METRICS_TOKEN must be at least 16"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
    ],
)
def test_a_missing_or_wrong_setting_is_named(tmp_path, change, message):
    env = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": "secret",
        "aispend_events_token": "e" * 20,
        "log_level": "INFO",
    }
    env |= {k.lower(): v for k, v in change.items()}
    settings = Settings.model_validate({k: v for k, v in env.items() if v})
    with pytest.raises(ConfigError, match=message):
        plan_for(settings, "all")


def test_slack_mode_and_jobs_follow_the_settings_and_the_role():
    http = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    socket = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    assert (plan_for(http, "all").slack, plan_for(http, "all").scheduler) == ("http", True)
    assert (plan_for(socket, "all").slack, plan_for(socket, "web").scheduler) == ("socket", False)
    worker = Settings(_env_file=None, slack_bot_token="xoxb-1")  # no secret: serves no Slack
    assert (plan_for(worker, "worker").slack, plan_for(worker, "worker").scheduler) == ("", True)
    with pytest.raises(ConfigError, match="--role must be one of"):
        plan_for(http, "leader")


def _failed_start(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    running = start(env, cwd=cwd, listen=False)
    status = running.wait(60)
    return status, running.lines


def test_a_wrong_setting_stops_the_process_with_one_line_and_status_2(tmp_path, slack, store):
    url, _ = store
    env = base_env(url, slack, tmp_path) | {"SLACK_SIGNING_SECRET": ""}
    status, lines = _failed_start(env, tmp_path)
    assert status == 2
    assert lines == [
        "aispend: SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's Signing Secret "
        "(Basic Information), or set SLACK_APP_TOKEN for Socket Mode"
    ]


def _settings(url: str, slack: SlackStandIn, **changes: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": "runtime-test-signing-secret",
        "slack_api_url": slack.api_url,
        "aispend_host": "127.0.0.1",
        "aispend_port": 0,
    }
    return Settings.model_validate(values | changes)


def _start_fails(settings: Settings, role: str = "all") -> str:
    """Start the service in this process; the error it stops with (it must stop)."""
    service = Service(settings, TeamFile(), plan_for(settings, role))
    try:
        service.start()
    except AispendError as e:
        return str(e)
    finally:
        service.stop()
    raise AssertionError("the service started")


def test_a_bot_token_slack_refuses_stops_the_start(slack, store):
    url, _ = store
    settings = _settings(url, slack, slack_bot_token="xoxb-revoked-long-ago")
    assert _start_fails(settings) == "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)"


def test_socket_mode_is_chosen_when_an_app_token_is_set(slack, store):
    """The stand-in has no Socket Mode, so the connection is refused; what this shows is that
    the service asked Slack for a WebSocket URL with the app token, and said so clearly."""
    url, _ = store
    settings = _settings(url, slack, slack_app_token="xapp-1-A0APP-standin")
    assert _start_fails(settings).startswith("Socket Mode: Slack refused SLACK_APP_TOKEN")
    assert slack.unknown_methods == ["apps.connections.open"]


def test_an_unmigrated_store_names_the_command_that_fixes_it(tmp_path, slack):
    settings = _settings(f"sqlite:///{tmp_path}/none.db", slack)
    assert "run `aispend db upgrade`" in _start_fails(settings)


def test_a_port_in_use_is_named(slack, store):
    url, _ = store
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = _start_fails(_settings(url, slack, aispend_port=port))
    assert message.startswith(f"cannot listen on 127.0.0.1:{port}")
