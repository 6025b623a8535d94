"""The service killed with SIGKILL in the middle of its work, then started again: nothing lost,
nothing counted twice, totals exact (Decimal) against a clean run of the same work.

- collecting: `aispend run` killed once the provider simulators have served half the pages
  of its first collection (the provider restating its last days meanwhile);
- ingesting: `aispend run` killed while it stores a POST /v1/events of several batches, once
  the first batch is in the store; the client sends the same body again;
- the digest: the scheduled jobs (tests/reliability/simday.py) killed while a digest's post
  is out to Slack (stored there, its answer not back yet); started again, the day goes on.

(`aispend collect` and `aispend ingest` killed mid-run are tests/test_crash.py and
tests/test_cli.py.)"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from bot.collectors.base import Window, trailing_window
from bot.ingest.readers import Format, iter_parsed
from bot.ingest.writer import ingest
from bot.pricing import PriceBook
from bot.standins.providers import simulated_providers
from bot.standins.slack import BOT_TOKEN, timeout
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.synthetic import ActivitySpec, generate_events, write_jsonl
from tests.reliability.simday import CompressedClock
from tests.reliability.world import (
    COLLECTED,
    Spawned,
    assert_each_posted_once_in_order,
    at_real,
    backfill,
    count,
    midnight,
    provider_env,
    team_toml,
    totals,
    until,
    workspace,
)
from tests.runtime.running import EVENTS_TOKEN, METRICS_TOKEN, Running, base_env, request, start


def _store(path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    return url, engine


def _ran(running: Running, job: str) -> bool:
    status, body = running.get("/metrics", METRICS_TOKEN)
    return status == 200 and f'aispend_job_runs_total{{job="{job}",outcome="ok"}}' in body.decode()


def _lease_lapsed(engine: Engine) -> bool:
    with engine.connect() as connection:
        expires = connection.execute(text("SELECT expires_at FROM lease")).scalar_one_or_none()
    return expires is None or datetime.fromisoformat(str(expires)).replace(
        tzinfo=UTC
    ) < datetime.now(UTC) - timedelta(seconds=0.2)


def test_a_service_killed_while_collecting_then_restarted_matches_a_clean_collection(tmp_path):
    (tmp_path / "aispend.toml").write_text(team_toml())
    now = datetime.now(UTC)
    spec = ActivitySpec(end=now.date(), days=14, events_per_day=800, seed=5, now_hour=now.hour)
    history = Window(midnight(now) - timedelta(days=13), midnight(now) + timedelta(days=1))
    _, clean = _store(tmp_path / "clean.db")
    killed_url, killed = _store(tmp_path / "killed.db")
    with workspace() as slack, simulated_providers(spec) as providers:
        for engine in (clean, killed):
            backfill(engine, providers, history)
        providers.serve(revision=1)  # the providers restate their last days

        def served() -> int:
            return sum(len(s.requests) for s in providers.servers.values())

        before = served()
        backfill(clean, providers, trailing_window(now))  # what one scheduled collection makes
        pages = served() - before
        assert totals(clean) != totals(killed)

        env = base_env(killed_url, slack, tmp_path) | provider_env(providers)
        env["AISPEND_LEASE_SECONDS"] = "1"  # the dead process's lease lapses at once
        started = served()
        victim = start(env, cwd=tmp_path)  # collects at once
        try:
            until(lambda: served() >= started + pages // 2, "half the pages", 30)
            victim.kill()
        finally:
            victim.kill()
        done = [e["provider"] for e in victim.logs() if e["message"] == "collected"]
        assert len(done) < len(COLLECTED), "killed after the collection finished"

        # A process started while the dead one's lease still runs skips its at-start
        # collection (the job finds another holder) and collects an interval later: restart
        # once the lease has lapsed, as a supervisor with a backoff would.
        until(lambda: _lease_lapsed(killed), "the dead process's lease to lapse", 10)
        again = start(env, cwd=tmp_path)
        try:
            until(lambda: _ran(again, "collect"), "the collection after the restart", 30)
        finally:
            assert again.terminate() == 0
    assert totals(killed) == totals(clean)


def test_a_service_killed_while_storing_posted_events_stores_each_once_when_sent_again(tmp_path):
    url, engine = _store(tmp_path / "killed.db")
    _, clean = _store(tmp_path / "clean.db")
    spec = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=4000, seed=9)
    stream = io.BytesIO()
    lines = write_jsonl(generate_events(spec), stream)
    body = stream.getvalue()
    assert lines > 2 * 20_000  # three batches at least
    with workspace() as slack:
        env = base_env(url, slack, tmp_path) | {"AISPEND_EVENTS_MAX_BYTES": str(len(body) + 1)}
        victim = start(env, cwd=tmp_path)
        headers = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
        try:
            sender = _post_in_background(victim.url + "/v1/events", body, headers)
            until(lambda: count(engine, "SELECT count(*) FROM usage_event") > 0, "a batch", 60)
            victim.kill()
            sender.join(timeout=10)
        finally:
            victim.kill()
        kept = count(engine, "SELECT count(*) FROM usage_event")
        assert 0 < kept < lines  # whole batches only: 20,000 events each
        assert kept % 20_000 == 0

        again = start(env, cwd=tmp_path)
        try:
            status, answer = request(
                again.url + "/v1/events", data=body, headers=headers, method="POST"
            )
        finally:
            assert again.terminate() == 0
    report = json.loads(answer)
    assert status == 200
    assert (report["records"], report["stored"], report["duplicates"]) == (
        lines,
        lines - kept,
        kept,
    )
    parsed = iter_parsed(io.BytesIO(body), Format.AUTO, source="events", name="request")
    ingest(clean, parsed, prices=PriceBook(), attribution=Attribution({}))
    assert totals(engine) == totals(clean)
    assert count(engine, "SELECT count(*) FROM usage_event") == lines


def _post_in_background(url: str, body: bytes, headers: dict[str, str]) -> threading.Thread:
    def send() -> None:
        with contextlib.suppress(OSError):  # the server dies under it: that is the point
            request(url, data=body, headers=headers, method="POST")

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_the_jobs_killed_while_a_digest_is_out_send_each_digest_once_after_a_restart(tmp_path):
    (tmp_path / "aispend.toml").write_text(team_toml())
    url, engine = _store(tmp_path / "aispend.db")
    origin = datetime(2026, 11, 18, 8, 30, tzinfo=UTC)  # #eng's digest is due at 09:00
    spec = ActivitySpec(end=origin.date(), days=35, events_per_day=1000, seed=4, now_hour=8)
    with workspace() as slack, simulated_providers(spec) as providers:
        backfill(engine, providers, Window(midnight(origin) - timedelta(days=34), midnight(origin)))
        clock = CompressedClock(origin, time.time() + 3, 3600.0)  # an hour a second
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": url,
            "AISPEND_CONFIG": str(tmp_path / "aispend.toml"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "AISPEND_LEASE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        }
        env |= provider_env(providers) | clock.env()
        # #research (Tokyo, 17:30) is due at once: its digest reaches Slack, the answer never
        slack.fail(timeout(20, after_effect=True), method="chat.postMessage")
        victim = Spawned("tests.reliability.simday", [], env, tmp_path / "victim.log")
        try:
            until(lambda: len(slack.messages()) >= 1, "a digest post out", 30)
            victim.kill()
        finally:
            victim.kill()
        again = Spawned("tests.reliability.simday", [], env, tmp_path / "again.log")
        try:
            at_real(clock.real(origin + timedelta(hours=6)), 30)  # New York's 09:00 is in
            assert again.terminate() == 0
        finally:
            again.kill()
        rows = assert_each_posted_once_in_order(engine, slack)
    digests = {r.key for r in rows if r.key.startswith("digest:") and r.kind == "post"}
    assert len(digests) == 6  # #eng and five team channels, each once
    assert len(slack.files) == 6  # one chart each
