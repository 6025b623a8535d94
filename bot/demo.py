"""`aispend demo`: the whole store pipeline on seeded synthetic activity, with no accounts.

It loads providers' billed cost reports, ingests the apps' request events through the same
JSON-lines path as `aispend ingest`, applies a restatement of the last billed days, adds
today's hourly estimates, and prints what the team spent.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from bot.answers import answer_text, days_label
from bot.config import AttributionConfig, TeamConfig, TeamFile
from bot.domain import CostLine, DateRange, Origin, SpendQuery
from bot.errors import UsageError
from bot.ingest.readers import Format
from bot.ingest.writer import Sinks, ingest_stream, open_for_ingest
from bot.money import format_usd
from bot.pricing import PriceBook
from bot.progress import Progress
from bot.render import unpriced_table
from bot.slack.commands import parse_command, resolve_period
from bot.store import queries
from bot.store.attribution import Attribution, sync_rules
from bot.store.cost_lines import store_cost_lines
from bot.store.db import make_engine, upgrade
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

REPORTS = ("month by provider", "30d by model", "30d by team", "30d by feature")


def demo_team_file() -> TeamFile:
    """The fictional company's aispend.toml: teams, channels, owners, attribution."""
    return TeamFile(
        teams=tuple(TeamConfig(id=t.name, channel=t.channel, owners=(t.owner,)) for t in TEAMS),
        attribution=tuple(AttributionConfig(project=t.project, team=t.name) for t in TEAMS),
    )


def run_demo(url: str, *, days: int, events_per_day: int, seed: int, now: datetime) -> int:
    engine = _fresh_store(url)
    team_file = demo_team_file()
    spec = ActivitySpec(
        end=now.date(),
        days=days,
        events_per_day=events_per_day,
        seed=seed,
        now_hour=max(now.hour, 1),
    )
    prices = PriceBook(team_file.prices.overrides, team_file.prices.discounts)
    attribution = Attribution.from_rules(team_file.attribution)
    with engine.begin() as connection:
        sync_rules(connection, team_file.attribution)
    started = time.perf_counter()
    _say(f"aispend demo: {days} days of activity for a {len(TEAMS)}-team company, seed {seed}")
    _load_billed(engine, spec, prices, attribution)
    _load_events(engine, spec, prices, attribution)
    _restate(engine, spec, prices, attribution)
    _load_estimates(engine, spec, prices, attribution)
    _say(f"  loaded in {time.perf_counter() - started:.1f}s\n")
    _print_reports(engine, spec)
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


def _write(
    engine: Engine, lines: list[CostLine], prices: PriceBook, attribution: Attribution
) -> int:
    with engine.begin() as connection:
        return store_cost_lines(
            connection, lines, attribution=attribution, prices=prices, fetched_at=datetime.now(UTC)
        )


def _load_billed(
    engine: Engine, spec: ActivitySpec, prices: PriceBook, attribution: Attribution
) -> None:
    lines = generate_cost_lines(spec)
    _write(engine, lines, prices, attribution)
    _say(f"  1/4 providers' cost reports (billed, daily): {len(lines):,} lines")


def _load_events(
    engine: Engine, spec: ActivitySpec, prices: PriceBook, attribution: Attribution
) -> None:
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


def _restate(
    engine: Engine, spec: ActivitySpec, prices: PriceBook, attribution: Attribution
) -> None:
    before = _billed_total(engine, spec)
    lines = generate_cost_lines(spec, revision=1)
    _write(engine, lines, prices, attribution)
    after = _billed_total(engine, spec)
    _say(
        f"  3/4 providers restated their last 3 days: billed total {format_usd(before)} -> "
        f"{format_usd(after)} (replaced, not added)"
    )


def _load_estimates(
    engine: Engine, spec: ActivitySpec, prices: PriceBook, attribution: Attribution
) -> None:
    lines = generate_estimated_lines(spec)
    _write(engine, lines, prices, attribution)
    _say(f"  4/4 today's hourly usage, priced as estimates until billed: {len(lines):,} lines")


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
    _say(
        f"Planted in this data: {plan.launch_feature} launched {plan.launch_day}; "
        f"{plan.runaway_feature} ran away on {plan.runaway_day} "
        f"{plan.runaway_hours[0]:02d}:00-{plan.runaway_hours[1]:02d}:00 UTC; "
        f"{plan.unpriced_model} has no list price.\n"
    )


def _say(text: str) -> None:
    print(text, flush=True)
