"""Bedrock through the Cost Explorer, CloudWatch and Bedrock simulators with real boto3: a
backfill, an hourly run over the trailing window, and the same run again within the refresh
time. Every Cost Explorer request is billed ($0.01, each page), so those are counted apart."""

from __future__ import annotations

import argparse
import time

from bench.collect import collection_bench
from bench.data import emit
from bot.collectors.base import trailing_window
from bot.collectors.bedrock import BedrockCollector
from bot.jobs.collect import collect_all

CE_DOLLARS_PER_REQUEST = 0.01


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="days to backfill (default 90)")


def run(args: argparse.Namespace) -> None:
    with collection_bench(args.days) as bench:
        bedrock = bench.collectors["bedrock"]
        assert isinstance(bedrock, BedrockCollector)
        for name, window in (
            ("bedrock_backfill", bench.backfill),
            ("bedrock_hourly", trailing_window(bench.now)),
            ("bedrock_hourly_again", trailing_window(bench.now)),
        ):
            ce, total = bedrock.ce.requests, bedrock.requests
            started = time.perf_counter()
            (outcome,) = collect_all(bench.context, [bedrock], window)
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
