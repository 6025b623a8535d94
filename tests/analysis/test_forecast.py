"""Month-end forecasts: exact on easy series, robust on hard ones, honest intervals."""

from __future__ import annotations

import logging
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from bot.analysis.forecast import (
    DEFAULT_INTERVALS,
    FloatArray,
    IntervalTable,
    MonthForecast,
    backtest_panel,
    calibrate_intervals,
    daily_cut_needed,
    exhaustion_date,
    forecast_month,
    forecast_months,
    incident_outlook,
    score_backtest,
    series_panel,
)

logger = logging.getLogger(__name__)

MAR_11 = datetime(2026, 3, 11, tzinfo=UTC)  # 10 complete days of March, 21 to go


def _history(as_of: datetime, days: int, cost: object) -> dict[date, Decimal]:
    """`days` complete days before `as_of`; `cost` is a Decimal or a function of the date."""
    today = as_of.date()
    series = {}
    for k in range(1, days + 1):
        day = today - timedelta(days=k)
        series[day] = cost(day) if callable(cost) else Decimal(str(cost))
    return series


def test_forecast_month_projects_a_constant_series_exactly() -> None:
    forecast = forecast_month(_history(MAR_11, 60, 100), MAR_11)

    assert forecast.mtd == Decimal("1000.00")
    assert forecast.point == Decimal("3100.00")
    assert forecast.run_rate == Decimal("100.00")
    assert forecast.days_left == 21
    assert forecast.month_end == date(2026, 3, 31)
    assert forecast.mtd <= forecast.low <= forecast.point <= forecast.high


def _b2b(day: date) -> Decimal:
    return Decimal(20) if day.weekday() >= 5 else Decimal(100)


def test_forecast_month_keeps_the_weekly_total_of_a_b2b_series() -> None:
    as_of = datetime(2026, 2, 8, tzinfo=UTC)  # one week of February done, three whole weeks left

    forecast = forecast_month(_history(as_of, 56, _b2b), as_of)

    assert forecast.mtd == Decimal("540.00")
    assert abs(forecast.point - Decimal("2160.00")) <= Decimal("0.01")


def test_forecast_month_expects_less_when_only_the_weekend_is_left() -> None:
    saturday = datetime(2026, 5, 30, tzinfo=UTC)  # May ends on Sunday the 31st
    wednesday = datetime(2026, 4, 29, tzinfo=UTC)  # April ends on Thursday the 30th

    weekend = forecast_month(_history(saturday, 56, _b2b), saturday)
    weekdays = forecast_month(_history(wednesday, 56, _b2b), wednesday)

    weekend_rest = weekend.point - weekend.mtd
    weekday_rest = weekdays.point - weekdays.mtd
    assert weekend.run_rate == weekdays.run_rate
    assert weekend_rest < weekend.run_rate  # two days at under half the run rate each
    assert weekday_rest > 2 * weekdays.run_rate  # two weekdays above it
    assert abs(weekend_rest - 40) < abs(2 * weekend.run_rate - 40)  # closer than a flat pace


def test_a_resolved_runaway_is_not_projected_forward() -> None:
    runaway = {MAR_11.date() - timedelta(days=k) for k in (6, 7)}

    def cost(day: date) -> Decimal:
        return Decimal(5000) if day in runaway else Decimal(100)

    forecast = forecast_month(_history(MAR_11, 60, cost), MAR_11)

    # clipped at 3x the median: (12 * 100 + 2 * 300) / 14, not the raw mean of about $814
    assert forecast.run_rate == Decimal("128.57")
    assert forecast.point == forecast.mtd + (Decimal(1800) / 14 * 21).quantize(Decimal("0.01"))


def test_a_zero_inflated_series_uses_the_plain_28_day_mean() -> None:
    # active every third day; the store leaves the other days out
    series = {MAR_11.date() - timedelta(days=k): Decimal(90) for k in range(1, 61) if k % 3 == 0}
    active_in_last_28 = sum(1 for k in range(1, 29) if k % 3 == 0)
    mean = Decimal(90 * active_in_last_28) / 28

    forecast = forecast_month(series, MAR_11)

    assert forecast.run_rate == mean.quantize(Decimal("0.01"))
    assert abs(forecast.point - (forecast.mtd + mean * 21)) <= Decimal("0.01")


def test_the_partial_day_counts_what_it_spent_plus_the_rest_at_the_run_rate() -> None:
    noon = MAR_11 + timedelta(hours=12)
    series = _history(MAR_11, 60, 100) | {MAR_11.date(): Decimal(90)}

    forecast = forecast_month(series, noon)

    assert forecast.mtd == Decimal("1090.00")
    assert forecast.days_left == Decimal("20.5")
    assert forecast.point == Decimal("1090.00") + 50 + 2000


def test_forecast_months_matches_one_at_a_time() -> None:
    series = {
        ("search",): _history(MAR_11, 60, 100),
        ("chat",): _history(MAR_11, 40, _b2b),
        ("new",): {},
    }

    together = forecast_months(series, MAR_11)

    assert together == {key: forecast_month(daily, MAR_11) for key, daily in series.items()}
    assert together[("new",)].point == 0


def test_forecasts_need_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        forecast_month({}, datetime(2026, 3, 11))  # noqa: DTZ001 - the point of the test


def test_series_panel_reads_missing_days_as_zero_once_a_series_has_begun() -> None:
    first = date(2026, 3, 1)
    series = {date(2026, 3, 3): Decimal(5), date(2026, 3, 5): Decimal(7)}

    panel = series_panel([series], first, date(2026, 3, 6))

    assert np.isnan(panel[0, :2]).all()
    assert panel[0, 2:].tolist() == [5.0, 0.0, 7.0, 0.0]


def test_the_default_intervals_have_the_widths_of_the_reference_backtest() -> None:
    for cutoff, width in [(3, 2.30), (7, 1.95), (15, 0.73), (25, 0.19)]:
        low, high = DEFAULT_INTERVALS.bounds(cutoff)
        assert math.exp(high) - math.exp(low) == pytest.approx(width)
    assert DEFAULT_INTERVALS.bounds(99) == DEFAULT_INTERVALS.bounds(30)


def test_calibration_keeps_the_default_where_history_is_short() -> None:
    empty = backtest_panel(np.zeros((3, 20)), date(2026, 1, 1))

    table = calibrate_intervals(empty)

    assert table.low == DEFAULT_INTERVALS.low
    assert table.samples == (0,) * 31


FIRST_DAY = date(2026, 1, 1)


def _synthetic_panel(seed: int, series: int = 160, days: int = 181) -> FloatArray:
    """Daily spend, Jan to Jun: lognormal noise, flat / B2B / batch weeks, drift, persistent
    steps, short runaways and some sporadic series (a small cousin of detection.md 6)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    weekly = np.ones((series, 7))
    kind = rng.integers(0, 3, series)
    weekly[kind == 1, 5:] = rng.uniform(0.15, 0.6, (int(np.sum(kind == 1)), 1))
    batch = np.flatnonzero(kind == 2)
    weekly[batch, rng.integers(0, 7, batch.size)] = rng.uniform(1.5, 3, batch.size)
    level = np.exp(rng.uniform(np.log(5), np.log(2000), series))[:, None]
    drift = np.clip(rng.normal(0.003, 0.004, series), -0.01, 0.02)[:, None] * t
    noise = rng.uniform(0.05, 0.35, series)[:, None] * rng.standard_normal((series, days))
    values = level * weekly[:, (FIRST_DAY.weekday() + t) % 7] * np.exp(drift + noise)
    for row in range(series):
        for _ in range(rng.integers(0, 3)):
            values[row, rng.integers(0, days) :] *= rng.uniform(1.5, 4)
        if rng.random() < 0.4:
            start = rng.integers(0, days - 3)
            values[row, start : start + rng.integers(1, 4)] *= rng.uniform(5, 50)
    active_share = rng.choice([1.0, 0.7, 0.3], size=series, p=[0.8, 0.1, 0.1])[:, None]
    values[rng.random((series, days)) > active_share] = 0.0
    return values


def test_intervals_hold_the_truth_at_about_the_nominal_rate_on_other_series() -> None:
    table = calibrate_intervals(backtest_panel(_synthetic_panel(seed=1), FIRST_DAY))
    held_out = backtest_panel(_synthetic_panel(seed=2), FIRST_DAY)

    score = score_backtest(held_out, table)
    default = score_backtest(held_out, DEFAULT_INTERVALS)

    logger.info(
        "backtest: %d forecasts, calibrated 80%% coverage %.3f, default-table coverage %.3f, "
        "MdAPE %.3f; by cutoff (coverage, MdAPE): %s",
        score.samples,
        score.coverage,
        default.coverage,
        score.mdape,
        {
            c: (round(score.coverage_by_cutoff[c], 3), round(score.mdape_by_cutoff[c], 3))
            for c in (0, 3, 7, 10, 15, 20, 25)
        },
    )
    assert isinstance(table, IntervalTable)
    assert min(table.samples) > 0
    assert 0.65 <= score.coverage <= 0.95
    assert all(0.6 <= score.coverage_by_cutoff[c] <= 0.97 for c in (3, 10, 20))
    assert score.mdape < 0.12
    assert score.mdape_by_cutoff[25] < score.mdape_by_cutoff[3]


def _forecast(**changes: object) -> MonthForecast:
    fields: dict[str, object] = {
        "as_of": datetime(2026, 3, 10, tzinfo=UTC),
        "month_end": date(2026, 3, 31),
        "mtd": Decimal(600),
        "point": Decimal(2800),
        "low": Decimal(2000),
        "high": Decimal(3500),
        "run_rate": Decimal(100),
        "days_left": Decimal(22),
        "coverage": 0.8,
    }
    return MonthForecast(**(fields | changes))  # type: ignore[arg-type]


def test_exhaustion_date_is_the_day_the_run_rate_spends_the_rest() -> None:
    # $400 left at $100/day from midnight on the 10th: the 10th to the 13th spend it
    assert exhaustion_date(_forecast(), Decimal(1000)) == date(2026, 3, 13)
    noon = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert exhaustion_date(_forecast(as_of=noon), Decimal(850)) == date(2026, 3, 12)
    assert exhaustion_date(_forecast(as_of=noon), Decimal("850.01")) == date(2026, 3, 13)


def test_exhaustion_date_is_today_once_spent_and_none_if_it_lasts_the_month() -> None:
    assert exhaustion_date(_forecast(mtd=Decimal(1200)), Decimal(1000)) == date(2026, 3, 10)
    assert exhaustion_date(_forecast(), Decimal(5000)) is None
    assert exhaustion_date(_forecast(run_rate=Decimal(0)), Decimal(1000)) is None


def test_daily_cut_needed_lands_exactly_on_the_budget() -> None:
    assert daily_cut_needed(
        _forecast(point=Decimal(3100), days_left=Decimal(20)), Decimal(3000)
    ) == Decimal("5.00")
    # rounded up, so that cutting it is enough: 100 / 20.5 = 4.878...
    assert daily_cut_needed(
        _forecast(point=Decimal(3100), days_left=Decimal("20.5")), Decimal(3000)
    ) == Decimal("4.88")
    assert daily_cut_needed(_forecast(), Decimal(3000)) == 0
    assert (
        daily_cut_needed(_forecast(mtd=Decimal(3200), point=Decimal(5000)), Decimal(3000)) is None
    )


def test_incident_outlook_leaves_the_incident_out_of_the_run_rate() -> None:
    incident_start = MAR_11.date() - timedelta(days=2)

    def cost(day: date) -> Decimal:
        return Decimal(400) if day >= incident_start else Decimal(100)

    outlook = incident_outlook(
        _history(MAR_11, 60, cost),
        MAR_11,
        incident_start=incident_start,
        excess_per_day=Decimal(300),
    )

    mtd = Decimal(8 * 100 + 2 * 400)
    assert outlook.if_fixed_today == mtd + 21 * 100
    assert outlook.if_it_continues == mtd + 21 * 400
    assert outlook.days_left == 21
