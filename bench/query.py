"""`report` latency at scale from the rollups, next to the same answers computed by GROUP BY
over the raw events. Checks that both give the same totals."""

from __future__ import annotations

import argparse
import statistics
import time as clock
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import BigInteger, Engine, func, select

from bench.data import END, OUT, emit, spec_for
from bot.domain import SpendQuery
from bot.ingest.prepare import prepare_batch
from bot.money import from_units
from bot.pricing import PriceBook
from bot.slack.commands import parse_command, to_query
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.store.events import store_events
from bot.store.models import UsageEvent, table_of
from bot.store.queries import spend
from bot.synthetic import generate_events

QUESTIONS = (
    "today by model",
    "yesterday by feature",
    "week by provider",
    "month by model",
    "last month by team",
    "30d by feature and model",
    "30d by customer",
    "90d by key provider:openai",
    "90d by environment team:growth",
    "week",
)
RUNS = 50
REFERENCE_RUNS = 3


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rebuild", action="store_true", help="build the store again")


def run(args: argparse.Namespace) -> None:
    engine = _store(args.events, args.rebuild)
    latencies_all: list[float] = []
    for words in QUESTIONS:
        query = to_query(parse_command(words), END)
        latencies = _time_rollups(engine, query)
        latencies_all += latencies
        reference, same = _time_raw(engine, query)
        emit(
            "report_latency",
            question=words,
            events=args.events,
            p50_ms=_ms(statistics.median(latencies)),
            p99_ms=_ms(_p99(latencies)),
            reference="GROUP BY over the raw usage_event rows",
            reference_ms=_ms(reference),
            speedup_p99=round(reference / _p99(latencies), 1),
            same_answer=same,
        )
    emit(
        "report_latency_all", events=args.events, p99_ms=_ms(_p99(latencies_all)), target_p99_ms=50
    )


def _store(count: int, rebuild: bool) -> Engine:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"query-{count}.db"
    ready = path.with_suffix(".ready")
    if rebuild or not ready.exists():
        _build(path, count)
        ready.touch()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)  # a store built before the latest migrations gets their tables
    return engine


def _build(path: Path, count: int) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    prices, attribution, batch, stored = PriceBook(), Attribution({}), [], 0
    started = clock.perf_counter()
    for event in generate_events(spec_for(count)):
        batch.append(event)
        if len(batch) == 50_000 or stored + len(batch) == count:
            prepared = prepare_batch(
                batch, prices=prices, attribution=attribution, dialect="sqlite"
            )
            with engine.begin() as connection:
                stored += store_events(connection, prepared)
            batch = []
            if stored >= count:
                break
    emit("query_store_built", events=stored, seconds=round(clock.perf_counter() - started, 1))
    engine.dispose()


def _time_rollups(engine: Engine, query: SpendQuery) -> list[float]:
    latencies = []
    with engine.connect() as connection:
        spend(connection, query)  # warm the page cache; not timed
    for _ in range(RUNS):
        started = clock.perf_counter()
        with engine.connect() as connection:
            spend(connection, query)
        latencies.append(clock.perf_counter() - started)
    return latencies


def _time_raw(engine: Engine, query: SpendQuery) -> tuple[float, bool]:
    """The same question straight from the events; also whether both answers agree."""
    table = table_of(UsageEvent)
    keys = [table.c[d.column] for d in query.group_by]
    start, end = (
        datetime.combine(d, time(0), tzinfo=UTC) for d in (query.period.start, query.period.end)
    )
    statement = (
        select(*keys, func.sum(table.c.cost, type_=BigInteger))
        .where(table.c.ts >= start, table.c.ts < end)
        .where(*(table.c[f.dimension.column].in_(f.values) for f in query.filters))
        .group_by(*keys)
    )
    timings, rows = [], []
    for _ in range(REFERENCE_RUNS):
        started = clock.perf_counter()
        with engine.connect() as connection:
            rows = list(connection.execute(statement))
        timings.append(clock.perf_counter() - started)
    with engine.connect() as connection:
        ours = spend(connection, query)
    raw_total = sum((from_units(int(r[-1] or 0)) for r in rows), Decimal(0))
    raw_groups = sum(1 for r in rows if r[-1] is not None or query.group_by)
    return statistics.median(timings), raw_total == ours.total and raw_groups == len(ours.rows)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
