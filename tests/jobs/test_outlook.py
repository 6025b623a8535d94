"""The month outlook: the forecast interval is calibrated on the store's own past months once
there are enough of them; before that the built-in width is used, and said so."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from bot.analysis.forecast import DEFAULT_INTERVALS
from bot.config import TeamFile
from bot.jobs.outlook import calibrated_intervals, month_outlook
from bot.store.db import make_engine, upgrade
from tests.builders import line, write_lines

TODAY = date(2026, 11, 20)


def _history(engine: Engine, models: int, days: int) -> None:
    first = TODAY - timedelta(days=days)
    lines = [
        line(
            bucket_start=datetime.combine(first + timedelta(days=d), datetime.min.time(), UTC),
            model=f"model-{m}",
            cost=Decimal(10 + m) + Decimal((d * (m + 3)) % 7),
        )
        for m in range(models)
        for d in range(days)
    ]
    write_lines(engine, lines)


def test_a_young_store_keeps_the_built_in_interval(engine: Engine) -> None:
    _history(engine, models=3, days=40)
    with engine.connect() as connection:
        assert calibrated_intervals(connection, TODAY) == DEFAULT_INTERVALS


def test_enough_past_months_calibrate_the_interval(tmp_path: Path) -> None:
    """On SQLite only: the queries are tested on both databases elsewhere, and writing this
    much history to PostgreSQL takes several seconds."""
    engine = make_engine(f"sqlite:///{tmp_path}/history.db")
    upgrade(engine)
    _history(engine, models=30, days=130)  # two complete months (and most of a third) of 30
    with engine.connect() as connection:
        table = calibrated_intervals(connection, TODAY)
        outlook = month_outlook(connection, TeamFile(), datetime(2026, 11, 20, 9, tzinfo=UTC))
    assert min(table.samples[:28]) >= 50
    assert table != DEFAULT_INTERVALS
    assert outlook.calibration_samples == sum(table.samples)
    total = outlook.scopes[0].forecast
    assert total.low <= total.point <= total.high


def test_the_calibration_is_kept_until_history_changes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/growing.db")
    upgrade(engine)
    _history(engine, models=3, days=40)
    with engine.connect() as connection:
        assert calibrated_intervals(connection, TODAY) == DEFAULT_INTERVALS
    _history(engine, models=30, days=130)  # months of history arrive (a backfill)
    with engine.connect() as connection:
        assert calibrated_intervals(connection, TODAY) != DEFAULT_INTERVALS
