"""Score N daily series of D days with the detector, as the scheduler does each day: given
the state a run kept yesterday, evaluate with today's bucket added ("run"); and a first run
from no state at all ("first_run"). Then the same at other multiples of N, to show how time
grows. Reference: one vectorized 7-day rolling median over every point of the batch."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from bench.data import emit
from bot.analysis.detector import evaluate
from bot.analysis.series import SeriesBatch

START = datetime(2026, 1, 1, tzinfo=UTC)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--series", type=int, default=10_000, help="series (default 10,000)")
    parser.add_argument("--days", type=int, default=180, help="days per series (default 180)")
    parser.add_argument(
        "--scaling",
        default="0.1,1,10",
        help="multiples of --series to time, to show growth (default 0.1,1,10)",
    )


def run(args: argparse.Namespace) -> None:
    for factor in (float(f) for f in args.scaling.split(",")):
        n = max(1, round(args.series * factor))
        _measure(n, args.days, repeats=3 if n <= args.series else 1)


def _measure(n: int, days: int, repeats: int) -> None:
    batch = _batch(n, days, seed=n)
    now = START + timedelta(days=days)
    yesterday = now - timedelta(days=1)
    first = _best_of(lambda: evaluate(batch, {}, yesterday), repeats)
    kept = evaluate(batch, {}, yesterday).states
    took = _best_of(lambda: evaluate(batch, kept, now), repeats)
    reference = _best_of(lambda: _windowed_medians(batch.values), repeats)
    emit(
        "detect",
        series=n,
        days=days,
        run_ms=round(took * 1000, 1),
        first_run_ms=round(first * 1000, 1),
        us_per_series=round(took * 1e6 / n, 2),
        reference_ms=round(reference * 1000, 1),
        run_to_reference=round(took / reference, 2),
    )


def _best_of(work: Callable[[], object], times: int) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _batch(n: int, days: int, seed: int) -> SeriesBatch:
    """Log-uniform levels, a B2B weekly shape on a third, lognormal noise, sparse series,
    and a handful of spikes."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(np.log(0.5), np.log(3000), size=(n, 1)))
    weekday = np.arange(days) % 7
    weekend = np.where(weekday >= 5, rng.uniform(0.2, 0.6, size=(n, 1)), 1.0)
    shape = np.where(rng.random((n, 1)) < 1 / 3, weekend, 1.0)
    values = level * shape * rng.lognormal(0, 0.2, size=(n, days))
    values[rng.random((n, days)) < 0.02] = 0.0
    spikes = rng.random((n, days)) < 0.002
    values[spikes] *= rng.uniform(3, 30, size=int(spikes.sum()))
    complete = np.full(n, days, dtype=np.int64)
    keys = tuple(("series", f"s{i}") for i in range(n))
    return SeriesBatch(keys, START, 24, np.round(values, 2), complete)


def _windowed_medians(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """One 7-bucket rolling median over every point, vectorized."""
    windows = np.lib.stride_tricks.sliding_window_view(values, 7, axis=1)
    medians: NDArray[np.float64] = np.median(windows, axis=2)
    return medians
