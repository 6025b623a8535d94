"""The scheduler's wiring: the service's jobs, each coalesced and never overlapping itself,
run only under the leader lease; and the jobs themselves against real stand-ins (the OpenAI
simulator, the Slack stand-in) and a real store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, select

from bot.clock import FixedClock, SystemClock
from bot.config import Settings, TeamFile
from bot.runtime.lease import Leadership
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import (
    Cadence,
    Jobs,
    Scheduled,
    build_scheduler,
    job_table,
    led,
    run_soon,
)
from bot.standins.openai import openai_routes
from bot.standins.server import running
from bot.standins.slack import BOT_TOKEN, SlackStandIn, running_slack
from bot.store.models import CollectorState, table_of
from bot.store.outbox import Outgoing, depth, enqueue
from bot.store.subscriptions import add_subscription
from tests.builders import at, line, subscription

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with running_slack() as standin:
        standin.add_channel("eng", channel_id="C0ENG")
        yield standin


def _jobs(engine: Engine, slack: SlackStandIn, **settings: object) -> Jobs:
    values = {"slack_bot_token": BOT_TOKEN, "slack_api_url": slack.api_url} | settings
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    return Jobs(
        engine, Settings.model_validate(values), TeamFile(), client, FixedClock(NOW), Metrics()
    )


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_the_service_runs_four_jobs_each_coalesced_and_never_overlapping(engine, slack):
    jobs = _jobs(engine, slack)
    leadership = Leadership(engine, FixedClock(NOW), holder="me")
    table = job_table(jobs, Cadence(collect=3600))
    scheduler = build_scheduler(table, leadership, jobs.metrics, NOW)
    scheduler.start(paused=True)  # jobs get their defaults when the scheduler starts
    found = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown()
    assert set(found) == {"collect", "digest", "reminders", "deliver"}
    assert all(job.coalesce and job.max_instances == 1 for job in found.values())
    assert found["collect"].trigger.interval == timedelta(hours=1)
    assert found["collect"].next_run_time == NOW  # a fresh deployment collects at once
    assert found["digest"].next_run_time == NOW + timedelta(minutes=1)


def test_a_slow_job_never_runs_twice_at_once_and_missed_runs_are_not_made_up(engine):
    """A job every 20 ms that blocks for 600 ms, on a real scheduler: no second run starts
    while it runs (30 intervals pass), and none of those is queued to run after it."""
    running_now, most, runs = 0, 0, 0
    lock, release = threading.Lock(), threading.Event()

    def slow() -> None:
        nonlocal running_now, most, runs
        with lock:
            running_now += 1
            runs += 1
            most = max(most, running_now)
        release.wait(5)
        with lock:
            running_now -= 1

    clock = SystemClock()
    leadership = Leadership(engine, clock, holder="me")
    table = [Scheduled("slow", slow, 0.02, at_start=True)]
    scheduler = build_scheduler(table, leadership, Metrics(), clock.now())
    scheduler.start()
    try:
        time.sleep(0.6)
        with lock:
            while_blocked = runs
        release.set()
        time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert while_blocked == 1
    assert most == 1
    assert runs > 1  # and it goes on at its pace afterwards


def test_shutdown_lets_the_running_job_finish(engine):
    started, finished = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    clock = SystemClock()
    scheduler = build_scheduler(
        [Scheduled("job", job, 60, at_start=True)],
        Leadership(engine, clock, holder="me"),
        Metrics(),
        clock.now(),
    )
    scheduler.start()
    assert started.wait(5)
    scheduler.shutdown(wait=True)
    assert finished.is_set()


def test_a_takeover_brings_the_jobs_that_run_at_start_forward(engine):
    runs: list[float] = []
    clock = SystemClock()
    table = [Scheduled("collect", lambda: runs.append(time.monotonic()), 3600, at_start=True)]
    scheduler = build_scheduler(
        table, Leadership(engine, clock, holder="me"), Metrics(), clock.now()
    )
    scheduler.start()
    try:
        wait_until = time.monotonic() + 5
        while not runs and time.monotonic() < wait_until:
            time.sleep(0.02)
        run_soon(scheduler, table, clock.now())  # as on taking the lease over
        while len(runs) < 2 and time.monotonic() < wait_until:
            time.sleep(0.02)
    finally:
        scheduler.shutdown(wait=True)
    assert len(runs) == 2  # not an hour later


def test_jobs_run_only_while_this_process_holds_the_lease(engine):
    clock = FixedClock(NOW)
    metrics = Metrics()
    ran: list[str] = []
    other = Leadership(engine, clock, holder="other")
    mine = Leadership(engine, clock, holder="mine")
    assert other.check()
    led("collect", lambda: ran.append("collect"), mine, metrics)()
    assert ran == []
    assert _sample(metrics, "aispend_job_runs_total", job="collect", outcome="skipped") == 1
    other.stop()
    led("collect", lambda: ran.append("collect"), mine, metrics)()
    assert ran == ["collect"]
    assert _sample(metrics, "aispend_job_runs_total", job="collect", outcome="ok") == 1


def test_a_failing_job_is_logged_and_counted_and_the_next_run_goes_ahead(engine, caplog):
    metrics = Metrics()
    leadership = Leadership(engine, FixedClock(NOW), holder="me")

    def broken() -> None:
        raise RuntimeError("the job broke")

    led("digest", broken, leadership, metrics)()
    led("digest", broken, leadership, metrics)()
    assert _sample(metrics, "aispend_job_runs_total", job="digest", outcome="failed") == 2
    assert "job digest failed" in caplog.text
    assert "RuntimeError: the job broke" in caplog.text


def test_deliver_flushes_a_thread_root_first_then_its_reply(engine, slack):
    jobs = _jobs(engine, slack)
    with engine.begin() as connection:
        enqueue(
            connection,
            [
                Outgoing("t:root", "post", "C0ENG", {"text": "root"}),
                Outgoing("t:reply", "reply", "C0ENG", {"text": "reply"}, thread_key="t:root"),
            ],
            NOW,
        )
    assert jobs.deliver() == 2
    [root] = [m for m in slack.messages("C0ENG") if not m.is_reply]
    assert root.text == "root"
    assert [m.text for m in slack.thread("C0ENG", root.ts)] == ["reply"]
    with engine.connect() as connection:
        assert depth(connection) == {"sent": 2}


def test_collect_pulls_every_keyed_provider_then_detects_and_delivers(engine, slack):
    day = NOW.date() - timedelta(days=1)
    billed = [line(bucket_start=at(day, 0), cost=Decimal("12.50"))]
    routes = openai_routes(admin_key="sk-admin-test", costs=billed, usage=[])
    with running(routes) as openai:
        jobs = _jobs(engine, slack, openai_admin_key="sk-admin-test", openai_base_url=openai.url)
        jobs.collect()
    with engine.connect() as connection:
        states = {r.source: r for r in connection.execute(select(table_of(CollectorState)))}
    assert states["openai.costs"].consecutive_failures == 0
    assert states["openai.costs"].last_success == NOW
    metrics = jobs.metrics
    assert _sample(metrics, "aispend_collector_runs_total", provider="openai", outcome="ok") == 1


def test_collect_with_no_provider_key_still_runs_detection(engine, slack, caplog):
    caplog.set_level("INFO")
    _jobs(engine, slack).collect()
    assert "no provider key is set" in caplog.text
    assert "detection ran" in caplog.text


def test_reminders_call_out_a_subscription_due_for_renewal_once(engine, slack):
    due = subscription(renews_on=(NOW + timedelta(days=3)).date(), reviewed_on=NOW.date())
    with engine.begin() as connection:
        add_subscription(connection, due, NOW - timedelta(days=20))
    jobs = _jobs(engine, slack)
    jobs.reminders()
    jobs.reminders()  # the next run, minutes later: nothing said twice
    [posted] = slack.messages("C0ENG")
    assert "Cursor" in posted.text
    assert "renews" in posted.text.lower()
