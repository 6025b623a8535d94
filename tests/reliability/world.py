"""What the reliability tests run against, all on loopback: the synthetic company's aispend.toml,
a Slack stand-in with its channels, the provider simulators (and the environment that points
the bot at them), a store backfilled by the real collectors, and processes started from the
test with their logs kept in a file, always killed at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select, text

from bot.clock import FixedClock
from bot.collectors.base import Window
from bot.config import TeamFile
from bot.domain import CostLine
from bot.jobs.collect import CollectContext, collect_all
from bot.money import from_units
from bot.pricing import PriceBook
from bot.slack.notifier import METADATA_EVENT
from bot.standins.openai import openai_routes
from bot.standins.providers import DEMO_KEYS, SimulatedProviders
from bot.standins.slack import SlackStandIn, running_slack
from bot.store.attribution import Attribution, sync_rules
from bot.store.models import OutboxItem, table_of
from bot.synthetic import generate_cost_lines, generate_estimated_lines
from bot.synthetic.catalog import TEAMS

ROOT = Path(__file__).resolve().parents[2]
ZONES = {"growth": "America/New_York", "research": "Asia/Tokyo"}  # the others: UTC
ESCALATE_AFTER_HOURS = 3
# the providers the service under test collects from: the direct APIs (the cloud ones need
# SDK credentials a subprocess cannot be handed as simply, and are tested apart)
_KEY_SETTING = {
    "openai": "OPENAI_ADMIN_KEY",
    "anthropic": "ANTHROPIC_ADMIN_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}
COLLECTED = tuple(_KEY_SETTING)  # the providers `provider_env` points the service at


def team_toml() -> str:
    """The synthetic company's aispend.toml: #eng, a channel per team (two far from UTC),
    attribution by project, a budget, and an escalation contact."""
    parts = [
        "[slack]",
        'channel = "#eng"',
        'escalation_contact = "U0PRIYA"',
        f"escalate_after_hours = {ESCALATE_AFTER_HOURS}",
        "",
        "[[budgets]]",
        'monthly = "1600"',
    ]
    for team in TEAMS:
        parts += ["", "[[teams]]", f'id = "{team.name}"', f'channel = "{team.channel}"']
        if team.name in ZONES:
            parts.append(f'timezone = "{ZONES[team.name]}"')
    for team in TEAMS:
        parts += ["", "[[attribution]]", f'project = "{team.project}"', f'team = "{team.name}"']
    return "\n".join(parts) + "\n"


@contextmanager
def workspace() -> Iterator[SlackStandIn]:
    """The Slack stand-in with #eng and every team's channel, the bot in each."""
    with running_slack() as slack:
        slack.add_channel("eng", channel_id="C0ENG")
        for team in TEAMS:
            slack.add_channel(team.channel)
        yield slack


def provider_env(providers: SimulatedProviders) -> dict[str, str]:
    """Keys and base URLs that point every collector at its simulator."""
    env = {}
    for provider, setting in _KEY_SETTING.items():
        env[setting] = DEMO_KEYS[provider]
        env[f"{provider.upper()}_BASE_URL"] = providers.servers[provider].url
    return env


def backfill(engine: Engine, providers: SimulatedProviders, window: Window) -> None:
    """History before the test starts, pulled from the simulators by the real collectors."""
    team_file = TeamFile.model_validate(tomllib.loads(team_toml()))
    with engine.begin() as connection:
        sync_rules(connection, team_file.attribution)
    attribution = Attribution.from_rules(team_file.attribution)
    context = CollectContext(engine, PriceBook(), attribution, FixedClock(window.end))
    with httpx.Client() as http:
        every = providers.collectors(http, (window.end - timedelta(days=1)).date())
        collectors = [c for c in every if c.provider in _KEY_SETTING]
        outcomes = collect_all(context, collectors, window)
    assert all(o.ok for o in outcomes), outcomes


def serve_openai(providers: SimulatedProviders, extra: list[CostLine]) -> None:
    """The OpenAI simulator serves the synthetic company's lines plus `extra`."""
    spec = providers.spec
    billed = [x for x in generate_cost_lines(spec) if x.provider == "openai"] + extra
    hourly = [x for x in generate_estimated_lines(spec) if x.provider == "openai"]
    providers.servers["openai"].routes = openai_routes(
        admin_key=DEMO_KEYS["openai"], costs=billed, usage=hourly
    )


@dataclass(frozen=True)
class Sent:
    """One outbox row, as the store has it after a run."""

    id: int
    key: str
    kind: str
    thread_key: str
    status: str
    ts: str


def outbox(engine: Engine) -> list[Sent]:
    table = table_of(OutboxItem)
    columns = (table.c.id, table.c.key, table.c.kind, table.c.thread_key, table.c.status)
    with engine.connect() as connection:
        rows = connection.execute(select(*columns, table.c.ts).order_by(table.c.id))
        return [Sent(*row) for row in rows]


def posted(slack: SlackStandIn, key: str) -> list[str]:
    """The ts of every message at Slack carrying this outbox key."""
    return [m.ts for m in slack.messages_with_metadata(METADATA_EVENT, key=key)]


def assert_each_posted_once_in_order(engine: Engine, slack: SlackStandIn) -> list[Sent]:
    """Every outbox row sent; every post and reply at Slack exactly once, replies in their
    root's thread in the order they were queued; no message at Slack that the outbox did not
    send. Returns the rows."""
    rows = outbox(engine)
    assert rows, "nothing was queued"
    assert {r.status for r in rows} == {"sent"}, [r for r in rows if r.status != "sent"]
    by_key = {r.key: r for r in rows}
    messages = [r for r in rows if r.kind in ("post", "reply")]
    for row in messages:
        found = posted(slack, row.key)
        assert found == [row.ts], f"{row.key}: posted {len(found)} times"
    threads: dict[str, list[str]] = {}
    for row in rows:
        if row.kind == "reply":
            threads.setdefault(row.thread_key, []).append(row.ts)
    for root_key, replies in threads.items():
        root = by_key[root_key]
        [message] = [m for m in slack.messages() if m.ts == root.ts]
        assert [m.ts for m in slack.thread(message.channel, root.ts)] == replies, root_key
    ours = {r.ts for r in messages}
    strays = [m for m in slack.messages() if m.via == "chat.postMessage" and m.ts not in ours]
    assert strays == [], [m.text[:60] for m in strays]
    return rows


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def totals(engine: Engine) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """Cost (exact) and rows per source and origin, straight from cost_line and rollup_day."""
    found: dict[tuple[str, str], tuple[Decimal, int]] = {}
    with engine.connect() as connection:
        for source, units, rows in connection.execute(
            text("SELECT source, sum(cost), count(*) FROM cost_line GROUP BY source")
        ):
            found[("cost_line", source)] = (from_units(int(units or 0)), int(rows))
        for origin, units, rows in connection.execute(
            text("SELECT origin, sum(cost), count(*) FROM rollup_day GROUP BY origin")
        ):
            found[("rollup_day", origin)] = (from_units(int(units or 0)), int(rows))
    return found


class Spawned:
    """A process of ours (`python -m MODULE ARGS`), its stderr kept in a file."""

    def __init__(self, module: str, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env={**env, "PYTHONPATH": str(ROOT)},
                cwd=log.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def said(self, message: str) -> bool:
        return any(entry.get("message") == message for entry in self.logs())

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def until(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `check` (every 5 ms) until it holds; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def at_real(moment: float, timeout: float) -> None:
    """Sleep until the real time `moment` (Unix seconds), at most `timeout` seconds."""
    wait = moment - time.time()
    assert wait <= timeout, f"{wait:.1f} s is longer than {timeout} s"
    if wait > 0:
        time.sleep(wait)


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
