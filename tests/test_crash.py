"""A collection killed with SIGKILL at any moment leaves the store as it was before the run or
exactly as the finished run leaves it, never in between; a later run completes it exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from bot.domain import DateRange, Origin, SpendQuery
from bot.standins.openai import openai_routes
from bot.standins.server import StandIn, running
from bot.store.queries import spend
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

KEY = "sk-admin-crash-test"
SPEC = ActivitySpec(end=datetime.now(UTC).date(), days=30, events_per_day=1500, seed=4)
PERIOD = DateRange(SPEC.start, SPEC.end + timedelta(days=1))


def _serve(server: StandIn, revision: int) -> Decimal:
    billed = [x for x in generate_cost_lines(SPEC, revision=revision) if x.provider == "openai"]
    hourly = [x for x in generate_estimated_lines(SPEC) if x.provider == "openai"]
    server.routes = openai_routes(admin_key=KEY, costs=billed, usage=hourly)
    return sum((x.cost for x in billed if x.cost is not None), Decimal(0))


def _command(url: str, server: StandIn) -> tuple[list[str], dict[str, str]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": url,
        "OPENAI_ADMIN_KEY": KEY,
        "OPENAI_BASE_URL": server.url,
        "AISPEND_CONFIG": os.devnull,
    }
    command = [sys.executable, "-m", "bot", "collect", "--provider", "openai", "--since", "35d"]
    return command, env


def _collect(url: str, server: StandIn) -> None:
    """A run to the end, which must succeed."""
    command, env = _command(url, server)
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()


def _start(url: str, server: StandIn) -> subprocess.Popen[bytes]:
    command, env = _command(url, server)
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _total(engine: Engine) -> Decimal:
    with engine.connect() as connection:
        return spend(connection, SpendQuery(PERIOD, origin=Origin.BILLED)).total


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM cost_line").scalar_one())


def test_a_collection_killed_mid_window_leaves_nothing_half_written(engine):
    url = engine.url.render_as_string(hide_password=False)
    with running({}) as server:
        before = _serve(server, revision=0)
        _collect(url, server)
        pages = len(server.requests)
        rows_before = _rows(engine)
        assert _total(engine) == before

        after = _serve(server, revision=1)  # the provider restates its last days
        assert after != before
        victim = _start(url, server)
        deadline = time.monotonic() + 60
        while len(server.requests) < 2 * pages and victim.poll() is None:
            assert time.monotonic() < deadline, "the collection never fetched its pages"
            time.sleep(0.002)
        time.sleep(0.02)  # now storing: kill it inside the window's transaction
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        survived = (_total(engine), _rows(engine))

        _collect(url, server)
        finished = (_total(engine), _rows(engine))
    assert finished[0] == after
    assert survived in {(before, rows_before), finished}  # one state or the other, never a mix
