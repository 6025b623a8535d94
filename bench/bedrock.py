"""Bedrock through the Cost Explorer, CloudWatch and Bedrock simulators with real boto3: a
backfill, an hourly run over the trailing window, and the same run again within the refresh
time. Every Cost Explorer request is billed ($0.01, each page), so those are counted apart."""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bench.data import END, emit
from bot.clock import FixedClock, utc_midnight
from bot.collectors.base import Window, trailing_window
from bot.collectors.bedrock import BedrockCollector
from bot.collectors.http import make_http_client
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.providers import simulated_providers
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.synthetic import ActivitySpec

CE_DOLLARS_PER_REQUEST = 0.01


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="days to backfill (default 90)")


def run(args: argparse.Namespace) -> None:
    spec = ActivitySpec(end=END, days=args.days, events_per_day=4000)
    now = datetime(END.year, END.month, END.day, 15, tzinfo=UTC)
    backfill = Window(utc_midnight(spec.start), utc_midnight(END) + timedelta(days=1))
    with tempfile.TemporaryDirectory() as folder, make_http_client() as http:
        engine = make_engine(f"sqlite:///{folder}/bedrock.db")
        upgrade(engine)
        context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(now))
        with simulated_providers(spec) as providers:
            (bedrock,) = [c for c in providers.collectors(http, END) if c.provider == "bedrock"]
            assert isinstance(bedrock, BedrockCollector)
            for name, window in (
                ("bedrock_backfill", backfill),
                ("bedrock_hourly", trailing_window(now)),
                ("bedrock_hourly_again", trailing_window(now)),
            ):
                ce, total = bedrock.ce.requests, bedrock.requests
                started = time.perf_counter()
                (outcome,) = collect_all(context, [bedrock], window)
                assert outcome.ok, outcome
                emit(
                    name,
                    window_days=(window.end - window.start).days,
                    seconds=round(time.perf_counter() - started, 2),
                    cost_explorer_requests=bedrock.ce.requests - ce,
                    cost_explorer_dollars=(bedrock.ce.requests - ce) * CE_DOLLARS_PER_REQUEST,
                    other_requests=bedrock.requests - total - (bedrock.ce.requests - ce),
                    lines=outcome.lines,
                )
