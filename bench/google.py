"""A 90-day backfill of Google's billing export at the demo's volume through google-cloud-bigquery
and the BigQuery stand-in (service-account token, jobs.insert, getQueryResults pages): time,
HTTP requests, result rows and stored lines; then the hourly run over the trailing window."""

from __future__ import annotations

import argparse
import time

from bench.collect import collection_bench
from bench.data import emit
from bot.collectors.base import trailing_window
from bot.jobs.collect import collect_all


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="days to backfill (default 90)")


def run(args: argparse.Namespace) -> None:
    with collection_bench(args.days) as bench:
        google = bench.collectors["google"]
        server, service = bench.providers.bigquery
        started = time.perf_counter()
        [outcome] = collect_all(bench.context, [google], bench.backfill)
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
        collect_all(bench.context, [google], trailing_window(bench.now))
        emit("google_incremental", http_requests=len(server.requests) - requests)
