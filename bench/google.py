"""A 90-day backfill of Google's billing export at the demo's volume through google-cloud-bigquery
and the BigQuery stand-in (service-account token, jobs.insert, getQueryResults pages): time,
HTTP requests, result rows and stored lines; then the hourly run over the trailing window."""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bench.data import END, emit
from bot.clock import FixedClock, utc_midnight
from bot.collectors.base import Window, trailing_window
from bot.collectors.http import make_http_client
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.providers import simulated_providers
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.synthetic import ActivitySpec


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="days to backfill (default 90)")


def run(args: argparse.Namespace) -> None:
    spec = ActivitySpec(end=END, days=args.days, events_per_day=4000)
    now = datetime(END.year, END.month, END.day, 15, tzinfo=UTC)
    backfill = Window(utc_midnight(spec.start), utc_midnight(END) + timedelta(days=1))
    with tempfile.TemporaryDirectory() as folder, make_http_client() as http:
        engine = make_engine(f"sqlite:///{folder}/collect.db")
        upgrade(engine)
        context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(now))
        with simulated_providers(spec) as providers:
            [google] = [c for c in providers.collectors(http, END) if c.provider == "google"]
            server, service = providers.bigquery
            started = time.perf_counter()
            [outcome] = collect_all(context, [google], backfill)
            took = time.perf_counter() - started
            assert outcome.ok, outcome
            requests = len(server.requests)
            emit(
                "google_backfill",
                days=args.days,
                seconds=round(took, 2),
                http_requests=requests,
                export_rows=len(service.rows),
                result_rows=sum(len(job.rows) for job in service.jobs.values()),
                lines=outcome.lines,
            )
            collect_all(context, [google], trailing_window(now))
            emit("google_incremental", http_requests=len(server.requests) - requests)
