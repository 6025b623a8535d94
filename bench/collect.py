"""A 90-day backfill of OpenAI and Anthropic at the demo's volume through the real collectors
and the loopback simulators: time and HTTP requests, next to the fewest pages the data needs;
then an hourly incremental run over the trailing window (names are fresh by then)."""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.data import END, emit
from bot.clock import FixedClock, utc_midnight
from bot.collectors import anthropic, openai
from bot.collectors.base import Collector, Window, trailing_window
from bot.collectors.http import make_http_client
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.providers import SimulatedProviders, simulated_providers
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.synthetic import ActivitySpec
from bot.synthetic.catalog import TEAMS

BENCHED = ("openai", "anthropic")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="days to backfill (default 90)")


@dataclass(frozen=True)
class Bench:
    """A fresh store and the provider simulators serving `days` of the demo company, with the
    real collectors built on one HTTP client: what every collection benchmark starts from."""

    now: datetime  # 15:00 UTC on the benchmark's last day
    backfill: Window  # every day of the activity, through today
    context: CollectContext
    providers: SimulatedProviders
    collectors: dict[str, Collector]


@contextmanager
def collection_bench(days: int) -> Iterator[Bench]:
    spec = ActivitySpec(end=END, days=days, events_per_day=4000)
    now = datetime(END.year, END.month, END.day, 15, tzinfo=UTC)
    backfill = Window(utc_midnight(spec.start), utc_midnight(END) + timedelta(days=1))
    with tempfile.TemporaryDirectory() as folder, make_http_client() as http:
        engine = make_engine(f"sqlite:///{folder}/collect.db")
        upgrade(engine)
        context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(now))
        with simulated_providers(spec) as providers:
            built = {c.provider: c for c in providers.collectors(http, END)}
            yield Bench(now, backfill, context, providers, built)
        engine.dispose()


def run(args: argparse.Namespace) -> None:
    with collection_bench(args.days) as bench:
        collectors = [bench.collectors[p] for p in BENCHED]
        started = time.perf_counter()
        outcomes = collect_all(bench.context, collectors, bench.backfill)
        took, requests = time.perf_counter() - started, bench.providers.requests
        assert all(o.ok for o in outcomes), outcomes
        emit(
            "collect_backfill",
            days=args.days,
            seconds=round(took, 2),
            http_requests=requests,
            minimum_pages=_minimum_pages(bench.backfill, projects=len(TEAMS)),
            lines=sum(o.lines for o in outcomes),
        )
        incremental = trailing_window(bench.now)
        collect_all(bench.context, collectors, incremental)
        emit(
            "collect_incremental",
            window_days=(incremental.end - incremental.start).days,
            http_requests=bench.providers.requests - requests,
            minimum_pages=_minimum_pages(incremental),  # names are fresh: not asked
        )


def _minimum_pages(window: Window, *, projects: int = 0) -> int:
    """Pages at each endpoint's largest page size: OpenAI's daily costs and each usage kind at
    its bucket width, Anthropic's daily cost and hourly usage reports, its Claude Code report
    (one request per day, by the API's design), and, when names are due (`projects` > 0),
    OpenAI's project list and one key list per project, Anthropic's workspace and key lists."""
    days = (window.end - window.start).days
    hours = days * 24
    usage = sum(
        math.ceil((hours if kind.bucket_width == "1h" else days) / kind.limit)
        for kind in openai.USAGE_KINDS
    )
    names = 1 + projects + 2 if projects else 0
    return (
        math.ceil(days / openai.COSTS_LIMIT)
        + usage
        + math.ceil(days / anthropic.COST_PAGE_MAX)
        + math.ceil(hours / anthropic.USAGE_PAGE_MAX)
        + days
        + names
    )
