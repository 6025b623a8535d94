"""Score the detector on the synthetic corpus: precision, recall, F1, alert rate, delay.

    .venv/bin/python -m tests.analysis.score --seed 7

An alert is an "open" event. It is a true positive when it opens inside a labelled window
not yet detected (one per window), and a false positive otherwise, including alerts on
immaterial events and second alerts inside an already detected window. Delay is buckets
from the window's start to the first alert in it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.analysis.detector import (
    DEFAULT_CONFIG,
    DetectorConfig,
    DetectorEvent,
    EventAction,
    evaluate,
)
from tests.analysis.corpus import Corpus, SyntheticSeries, generate_corpus

GRANULARITIES = {"daily": 24, "hourly": 1}


@dataclass(slots=True)
class Score:
    windows: int = 0
    detected: int = 0
    false_positives: int = 0
    points: int = 0
    escalations: int = 0
    delays_hours: list[float] = field(default_factory=list)

    @property
    def alerts(self) -> int:
        return self.detected + self.false_positives

    @property
    def precision(self) -> float:
        return self.detected / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    @property
    def alerts_per_1000(self) -> float:
        return 1000 * self.alerts / self.points if self.points else 0.0

    @property
    def median_delay_hours(self) -> float | None:
        return statistics.median(self.delays_hours) if self.delays_hours else None

    def add(self, other: Score) -> None:
        self.windows += other.windows
        self.detected += other.detected
        self.false_positives += other.false_positives
        self.points += other.points
        self.escalations += other.escalations
        self.delays_hours += other.delays_hours


def score_corpus(corpus: Corpus, config: DetectorConfig = DEFAULT_CONFIG) -> dict[str, Score]:
    """Scores per granularity, and "combined"."""
    scores = {
        name: _score_granularity(corpus, hours, config) for name, hours in GRANULARITIES.items()
    }
    combined = Score()
    for score in scores.values():
        combined.add(score)
    scores["combined"] = combined
    return scores


def _score_granularity(corpus: Corpus, bucket_hours: int, config: DetectorConfig) -> Score:
    batch = corpus.batch(bucket_hours)
    now = batch.bucket_start(batch.n_buckets)
    events = evaluate(batch, {}, now, config).events
    by_series: dict[str, list[DetectorEvent]] = {}
    for event in events:
        by_series.setdefault(event.key[1], []).append(event)
    score = Score()
    for series in corpus.series(bucket_hours):
        score.add(_score_series(series, by_series.get(series.name, []), corpus))
    return score


def _score_series(
    series: SyntheticSeries, events: Sequence[DetectorEvent], corpus: Corpus
) -> Score:
    """Match one series' alerts to its labelled windows."""
    step = timedelta(hours=series.bucket_hours)
    windows = series.windows
    detected: set[int] = set()
    score = Score(windows=len(windows), points=series.values.size)
    for event in events:
        if event.action is EventAction.ESCALATE:
            score.escalations += 1
        if event.action is not EventAction.OPEN:
            continue
        at = (event.at - corpus.start) // step
        hit = next((i for i, (s, e) in enumerate(windows) if s <= at <= e), None)
        if hit is None or hit in detected:
            score.false_positives += 1
            continue
        detected.add(hit)
        score.detected += 1
        score.delays_hours.append((at - windows[hit][0]) * series.bucket_hours)
    return score


def format_scores(seed: int, scores: dict[str, Score]) -> str:
    """A small table of the figures."""
    lines = [
        f"seed {seed}",
        f"{'':9}{'windows':>8}{'alerts':>8}{'TP':>6}{'FP':>6}{'prec':>7}{'recall':>7}"
        f"{'F1':>7}{'/1000':>7}{'delay_h':>8}{'escal':>7}",
    ]
    for name, s in scores.items():
        delay = s.median_delay_hours
        shown = f"{delay:.0f}" if delay is not None else "-"
        lines.append(
            f"{name:9}{s.windows:8}{s.alerts:8}{s.detected:6}{s.false_positives:6}"
            f"{s.precision:7.3f}{s.recall:7.3f}{s.f1:7.3f}{s.alerts_per_1000:7.2f}"
            f"{shown:>8}{s.escalations:7}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    corpus = generate_corpus(args.seed)
    sys.stdout.write(format_scores(args.seed, score_corpus(corpus)) + "\n")


if __name__ == "__main__":
    main()
