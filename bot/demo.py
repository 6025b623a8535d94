"""`aispend demo`: the whole store pipeline on seeded synthetic activity, with no accounts.

It loads providers' billed cost reports, ingests the apps' request events through the same
JSON-lines path as `aispend ingest`, applies a restatement of the last billed days, adds
today's hourly estimates, and prints what the team spent.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from bot.answers import answer_text, days_label, runways
from bot.clock import FixedClock
from bot.collectors import openrouter
from bot.collectors.base import Collector, Window, trailing_window
from bot.collectors.http import make_http_client
from bot.config import AttributionConfig, BudgetConfig, TeamConfig, TeamFile
from bot.domain import CostLine, DateRange, Dimension, Origin, SpendQuery
from bot.errors import StoreError, UsageError
from bot.ingest.readers import Format
from bot.ingest.writer import Sinks, ingest_stream, open_for_ingest
from bot.jobs.checks import gather_conditions
from bot.jobs.collect import CollectContext, collect_all
from bot.jobs.detect import DetectContext, run_detection
from bot.jobs.outlook import month_outlook
from bot.money import format_usd
from bot.pricing import PriceBook
from bot.progress import Progress
from bot.render import caught_table, outlook_text, runway_table, unpriced_table
from bot.slack.commands import parse_command, resolve_period
from bot.standins.providers import SIMULATED, SimulatedProviders, simulated_providers
from bot.store import queries
from bot.store.attribution import Attribution, sync_rules
from bot.store.cost_lines import store_cost_lines
from bot.store.db import make_engine, upgrade
from bot.store.incidents import incidents_since
from bot.store.models import UsageEvent
from bot.synthetic import (
    ActivitySpec,
    generate_cost_lines,
    generate_estimated_lines,
    generate_events,
    scenario,
    write_jsonl,
)
from bot.synthetic.catalog import TEAMS

REPLAY_DAYS = 7  # the detector runs each morning of the last week, as it would have
REPORTS = ("month by provider", "30d by model", "30d by team", "30d by feature")


def demo_team_file() -> TeamFile:
    """The fictional company's aispend.toml: teams, channels, owners, attribution."""
    return TeamFile(
        teams=tuple(TeamConfig(id=t.name, channel=t.channel, owners=(t.owner,)) for t in TEAMS),
        attribution=tuple(AttributionConfig(project=t.project, team=t.name) for t in TEAMS),
        budgets=(
            BudgetConfig(monthly=Decimal(1600)),
            BudgetConfig(monthly=Decimal(450), dimension=Dimension.TEAM, value="research"),
        ),
    )


@dataclass(frozen=True)
class _Demo:
    engine: Engine
    spec: ActivitySpec
    prices: PriceBook
    attribution: Attribution
    now: datetime

    def write(self, lines: list[CostLine]) -> int:
        with self.engine.begin() as connection:
            return store_cost_lines(
                connection,
                lines,
                attribution=self.attribution,
                prices=self.prices,
                fetched_at=self.now,
            )

    def collect(self, collectors: list[Collector], window: Window) -> int:
        context = CollectContext(self.engine, self.prices, self.attribution, FixedClock(self.now))
        outcomes = collect_all(context, collectors, window)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise StoreError(f"the demo's simulated {failed[0].provider} failed: {failed[0].error}")
        return sum(o.lines for o in outcomes)


def run_demo(
    url: str,
    *,
    days: int,
    events_per_day: int,
    seed: int,
    now: datetime,
    replay_days: int = REPLAY_DAYS,
) -> int:
    team_file = demo_team_file()
    spec = ActivitySpec(
        end=now.date(),
        days=days,
        events_per_day=events_per_day,
        seed=seed,
        now_hour=max(now.hour, 1),
    )
    demo = _Demo(
        _fresh_store(url),
        spec,
        PriceBook(team_file.prices.overrides, team_file.prices.discounts),
        Attribution.from_rules(team_file.attribution),
        now,
    )
    with demo.engine.begin() as connection:
        sync_rules(connection, team_file.attribution)
    started = time.perf_counter()
    _say(f"aispend demo: {days} days of activity for a {len(TEAMS)}-team company, seed {seed}")
    with make_http_client() as http, simulated_providers(spec) as providers:
        collectors = providers.collectors(http, now.date())
        _load_billed(demo, collectors, providers)
        _load_events(demo)
        _restate(demo, collectors, providers)
        _load_estimates(demo)
    _replay_detection(demo, team_file, replay_days)
    _say(f"  loaded in {time.perf_counter() - started:.1f}s\n")
    _print_reports(demo.engine, spec)
    _print_judgment(demo, team_file, replay_days)
    _say(f'Explore it: DATABASE_URL={url} aispend report "last month by team"')
    return 0


def _fresh_store(url: str) -> Engine:
    """A new SQLite file each run; any other database must be empty, never overwritten."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(UsageEvent)):
            raise UsageError("the demo needs an empty store; point --database at a new one")
    return engine


def _direct(lines: list[CostLine], today: date) -> list[CostLine]:
    """Billed lines no collector can fetch, stored as they are: the cloud providers (their
    collectors are not built yet) and OpenRouter days older than its API's 30-day reach.
    DeepSeek has no cost API at all: its spend is what the apps' request events report."""
    oldest_reachable = _midnight(today - timedelta(days=openrouter.ACTIVITY_DAYS))
    return [
        line
        for line in lines
        if line.provider not in SIMULATED
        or (line.provider == "openrouter" and line.bucket_start < oldest_reachable)
    ]


def _load_billed(demo: _Demo, collectors: list[Collector], providers: SimulatedProviders) -> None:
    spec = demo.spec
    window = Window(_midnight(spec.start), _midnight(spec.end + timedelta(days=1)))
    collected = demo.collect(collectors, window)
    direct = demo.write(_direct(generate_cost_lines(spec), demo.now.date()))
    _say(
        f"  1/4 collected {collected:,} cost and usage lines from the OpenAI, Anthropic, "
        f"OpenRouter and DeepSeek simulators in {providers.requests:,} HTTP requests; "
        f"{direct:,} billed lines loaded directly (Bedrock, Google, and OpenRouter days "
        "older than its API keeps)"
    )


def _load_events(demo: _Demo) -> None:
    engine, spec, prices, attribution = demo.engine, demo.spec, demo.prices, demo.attribution
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        with path.open("wb") as out:
            count = write_jsonl(generate_events(spec), out)
        started = time.perf_counter()
        size = path.stat().st_size
        with path.open("rb") as raw, Progress("ingesting events", size) as bar:
            reader = open_for_ingest(raw)
            report = ingest_stream(
                engine,
                reader,
                Format.JSONL,
                name=path.name,
                source="demo-apps",
                prices=prices,
                attribution=attribution,
                sinks=Sinks(on_batch=lambda _r: bar.update(reader.tell())),
            )
        took = time.perf_counter() - started
    _say(
        f"  2/4 request events from apps: {report.stored:,} of {count:,} stored "
        f"({report.stored / took:,.0f}/s), {report.unpriced:,} with no known price"
    )


def _restate(demo: _Demo, collectors: list[Collector], providers: SimulatedProviders) -> None:
    before = _billed_total(demo.engine, demo.spec)
    providers.serve(revision=1)
    demo.collect(collectors, trailing_window(demo.now))
    demo.write(_direct(generate_cost_lines(demo.spec, revision=1), demo.now.date()))
    after = _billed_total(demo.engine, demo.spec)
    _say(
        f"  3/4 providers restated their last 3 days and the hourly run pulled them again: "
        f"billed total {format_usd(before)} -> {format_usd(after)} (replaced, not added)"
    )


def _load_estimates(demo: _Demo) -> None:
    lines = [x for x in generate_estimated_lines(demo.spec) if x.provider not in SIMULATED]
    demo.write(lines)
    _say(
        "  4/4 today's hourly usage, priced as estimates until billed: from the OpenAI and "
        f"Anthropic usage reports, and {len(lines):,} lines of the cloud providers"
    )


def _replay_detection(demo: _Demo, team_file: TeamFile, days: int) -> None:
    """Run detection as the scheduler would have: each morning at 07:00 UTC of the last
    `days`, then now. Each run sees only the buckets before its own time."""
    mornings = [
        _midnight(demo.now.date() - timedelta(days=back)) + timedelta(hours=7)
        for back in range(days, 0, -1)
    ]
    opened = resolved = 0
    for moment in [*mornings, demo.now]:
        with demo.engine.connect() as connection:
            conditions = gather_conditions(connection, team_file, moment)
        context = DetectContext(demo.engine, team_file, FixedClock(moment))
        report = run_detection(context, conditions)
        opened += sum(c.action == "open" for c in report.changes)
        resolved += sum(c.action == "resolve" for c in report.changes)
    _say(
        f"  5/5 the detector ran each morning of the last {days} days and now: "
        f"{opened} alerts opened, {resolved} resolved"
    )


def _print_judgment(demo: _Demo, team_file: TeamFile, days: int) -> None:
    since = _midnight(demo.now.date() - timedelta(days=days + 1))
    with demo.engine.connect() as connection:
        caught = incidents_since(connection, since)
        outlook = month_outlook(connection, team_file, demo.now)
    _say(caught_table(caught) + "\n")
    _say(outlook_text(outlook) + "\n")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _billed_total(engine: Engine, spec: ActivitySpec) -> Decimal:
    period = DateRange(spec.start, spec.end)
    with engine.connect() as connection:
        return queries.spend(connection, SpendQuery(period, origin=Origin.BILLED)).total


def _print_reports(engine: Engine, spec: ActivitySpec) -> None:
    plan = scenario(spec)
    with engine.connect() as connection:
        for words in REPORTS:
            _say(answer_text(connection, parse_command(words), spec.end) + "\n")
        _say(answer_text(connection, parse_command("top week by feature"), spec.end) + "\n")
        period = resolve_period(parse_command("30d").period, spec.end)
        _say(unpriced_table(queries.unpriced_models(connection, period), days_label(period)) + "\n")
        _say(runway_table(runways(connection, spec.end)) + "\n")
    _say(
        f"Planted in this data: {plan.launch_feature} launched {plan.launch_day}; "
        f"{plan.runaway_feature} ran away on {plan.runaway_day} "
        f"{plan.runaway_hours[0]:02d}:00-{plan.runaway_hours[1]:02d}:00 UTC; "
        f"{plan.unpriced_model} has no list price.\n"
    )


def _say(text: str) -> None:
    print(text, flush=True)
