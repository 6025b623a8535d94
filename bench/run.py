"""`aispend run` as it is deployed: a real process (waitress, the Bolt app, the scheduler) on an
SQLite store backfilled with `--days` of the synthetic company from the provider simulators,
collecting from them every few seconds. `--concurrent` signed /aispend commands are sent at
once, `--rounds` times, each burst the moment a collection starts (the simulators see its
first request), so acks compete with the collection's parsing, storing and detection. The
reference: the same burst to the same process between collections (its last one finished, the
next not begun), in turns with the loaded bursts. Per command: the ack (the HTTP response) and
the answer (its POST to the response URL at the Slack stand-in)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from bench.data import emit
from bench.slack import SECRET, _Client, _Sent, _slack, _summary, _TimedSlack
from bot.clock import FixedClock, utc_midnight
from bot.collectors.base import Window
from bot.collectors.http import make_http_client
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.providers import DEMO_KEYS, SimulatedProviders, simulated_providers
from bot.standins.slack import BOT_TOKEN
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.synthetic import ActivitySpec

METRICS_TOKEN = "bench-metrics-token-0123456789"
COLLECT_MINUTES = 0.1  # a collection every 6 s
STARTUP = 60.0
KEYS = {
    "openai": "OPENAI_ADMIN_KEY",
    "anthropic": "ANTHROPIC_ADMIN_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrent", type=int, default=50, help="commands sent at once")
    parser.add_argument("--rounds", type=int, default=5, help="bursts of each kind")
    parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")


def run(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    spec = ActivitySpec(end=now.date(), days=args.days, events_per_day=4000, now_hour=now.hour)
    overlapped = 0  # loaded bursts whose acks all came before their collection finished
    collections: list[float] = []  # seconds from a collection's first request to its end
    with (
        tempfile.TemporaryDirectory() as folder,
        _slack() as slack,
        simulated_providers(spec) as providers,
    ):
        url = f"sqlite:///{folder}/aispend.db"
        _backfill(url, providers, now)
        with _service(url, slack, providers, Path(folder)) as service:
            client = _Client(service + "/slack/events", slack, args.concurrent)
            client.burst(args.concurrent)  # warm: page cache, first answers; not timed
            loaded: list[_Sent] = []
            idle: list[_Sent] = []
            for _ in range(args.rounds):
                _between_collections(service)
                idle += client.burst(args.concurrent)
                before = _collections(service)
                _collection_starting(providers)
                began = time.perf_counter()
                finished = _watch(partial(_past, service, before))
                burst = client.burst(args.concurrent)
                lasted = finished.result(60) - began
                collections.append(lasted)
                overlapped += max(s.ack for s in burst) < lasted
                loaded += burst
    idle_acks = [s.ack for s in idle]
    emit(
        "run_reference_ack",
        concurrent=args.concurrent,
        commands=len(idle),
        app="the same aispend run between collections, in turns",
        **_summary(idle_acks),
    )
    acks = [s.ack for s in loaded]
    emit(
        "run_ack_during_collection",
        concurrent=args.concurrent,
        commands=len(loaded),
        days=args.days,
        **_summary(acks),
        target_p99_ms=100,
        slack_deadline_ms=3000,
        reference_p99_ms=_summary(idle_acks)["p99_ms"],
        within_deadline=sum(a < 3.0 for a in acks),
        bursts_acked_inside_a_collection=f"{overlapped}/{args.rounds}",
        collection_ms=_summary(collections)["p50_ms"],
    )
    emit(
        "run_answer_during_collection",
        concurrent=args.concurrent,
        commands=len(loaded),
        answered=sum(s.answered for s in loaded),
        **_summary([s.answer for s in loaded]),
    )


def _backfill(url: str, providers: SimulatedProviders, now: datetime) -> None:
    engine = make_engine(url)
    upgrade(engine)
    start = utc_midnight(providers.spec.start)
    window = Window(start, utc_midnight(now.date()) + timedelta(days=1))
    context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(now))
    with make_http_client() as http:
        collect_all(context, providers.collectors(http, now.date()), window)
    engine.dispose()


@contextmanager
def _service(
    url: str, slack: _TimedSlack, providers: SimulatedProviders, cwd: Path
) -> Iterator[str]:
    """`python -m bot run` on a free port; yields its base URL; SIGTERM at the end."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env |= {
        "DATABASE_URL": url,
        "AISPEND_CONFIG": str(cwd / "none.toml"),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "AISPEND_METRICS_TOKEN": METRICS_TOKEN,
        "AISPEND_HOST": "127.0.0.1",
        "PORT": "0",
        "AISPEND_COLLECT_MINUTES": str(COLLECT_MINUTES),
        "LOG_LEVEL": "INFO",  # the port is in the "aispend is running" line
    }
    for provider, setting in KEYS.items():  # the direct APIs: the cloud ones need SDK files
        env[setting] = DEMO_KEYS[provider]
        env[f"{provider.upper()}_BASE_URL"] = providers.servers[provider].url
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    port: list[int] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if '"aispend is running"' in line:
                port.append(int(json.loads(line)["port"]))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(STARTUP) or not port:
            raise RuntimeError("aispend run did not start")
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _collections(service: str) -> int:
    prepared = urllib.request.Request(
        service + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(prepared, timeout=10) as answer:
        body = answer.read()
    found = re.search(rb'aispend_job_runs_total\{job="collect",outcome="ok"\} (\d+)', body)
    return int(found.group(1)) if found else 0


def _past(service: str, collections: int) -> bool:
    return _collections(service) > collections


def _served(providers: SimulatedProviders) -> int:
    return sum(len(server.requests) for server in providers.servers.values())


def _between_collections(service: str) -> None:
    """The moment a collection job (collect, detect, deliver) has finished: the next begins
    COLLECT_MINUTES after the last one began."""
    done = _collections(service)
    _until(lambda: _collections(service) > done, 60)


def _collection_starting(providers: SimulatedProviders) -> None:
    """The moment the next collection's first request reaches a simulator."""
    served = _served(providers)
    _until(lambda: _served(providers) > served, 60, step=0.001)


def _watch(done: Callable[[], bool]) -> Future[float]:
    """When `done` first holds (perf_counter), polled every 10 ms from a thread."""
    found: Future[float] = Future()

    def poll() -> None:
        try:
            _until(done, 60)
            found.set_result(time.perf_counter())
        except RuntimeError as e:
            found.set_exception(e)

    threading.Thread(target=poll, daemon=True).start()
    return found


def _until(check: Callable[[], bool], timeout: float, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(step)
