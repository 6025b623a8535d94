"""Month-end forecasts with an 80% range, and the budget arithmetic people act on.

The method is the weekday-robust forecast of detection.md section 5:

    point = MTD + sum over the days left of level * wf[weekday]

* `wf`, weekday factors: the median per weekday over the last 8 weeks divided by the overall
  median, shrunk toward 1 by n_weeks / (n_weeks + 2), then normalised to mean 1.
* `level`: the mean of the weekday-adjusted values of the last 14 days, each clipped at 3x
  their median, so a runaway that has ended is not projected forward. The mean is weighted by
  the factors, so that full weeks keep their spend (see `baseline_levels`).
* Zero-inflated series (at least 20% zero days in the last 28) use the plain 28-day mean and
  no weekday factors: a mean, because the target is a sum.
* Zeros in a dense series are data gaps (detection.md 4.2): they stay out of `wf` and `level`.
* The current day counts as what it has spent so far plus level * wf * (1 - fraction elapsed).

The 80% range is split-conformal: the quantiles of log(actual month total / point forecast)
from backtests of other series, pooled, per cutoff (complete days of the month observed).
`DEFAULT_INTERVALS` stands in until enough history exists to run `calibrate_intervals`.

Everything works on many series at once: a panel is a float array with one row per series and
one column per day, NaN where a series was not observed (before it began, or a day left out of
its baseline). Money enters and leaves as Decimal; floats are used only inside.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_UP, Decimal
from typing import TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
K = TypeVar("K", bound=Hashable)

HISTORY_DAYS = 56  # eight weeks feed the weekday factors
LEVEL_DAYS = 14
SPARSE_WINDOW_DAYS = 28
SPARSE_ZERO_SHARE = 0.2
LEVEL_CLIP = 3.0  # values above 3x the median of the level window are clipped
PRIOR_WEEKS = 2.0  # weekday factors are shrunk by n_weeks / (n_weeks + PRIOR_WEEKS)
LAST_CUTOFF = 30  # cutoffs are complete days of the month observed: 0..30
CENT = Decimal("0.01")
_MICROSECONDS_PER_DAY = 86_400_000_000

# 80% interval widths (high - low, as a share of the point forecast) from detection.md 5,
# by complete days observed; the ends (0 and 30 days) are extrapolated.
_DEFAULT_WIDTHS: tuple[tuple[int, float], ...] = (
    (0, 2.5),
    (3, 2.30),
    (7, 1.95),
    (10, 1.45),
    (15, 0.73),
    (20, 0.37),
    (25, 0.19),
    (30, 0.05),
)


# ---------------------------------------------------------------------------------------------
# Intervals


@dataclass(frozen=True, slots=True)
class IntervalTable:
    """Quantiles of log(actual month total / point forecast), one pair per cutoff 0..30.

    `samples` is how many backtest months set each pair; 0 means the built-in default."""

    coverage: float
    low: tuple[float, ...]
    high: tuple[float, ...]
    samples: tuple[int, ...]

    def bounds(self, cutoff: int) -> tuple[float, float]:
        """The (low, high) log ratios for a forecast made after `cutoff` complete days."""
        index = min(max(cutoff, 0), LAST_CUTOFF)
        return self.low[index], self.high[index]


def _default_intervals() -> IntervalTable:
    """The section 5 widths, read as a range symmetric in log space: a width w of the
    forecast means exp(q) - exp(-q) = w, so q = asinh(w / 2)."""
    anchors, widths = zip(*_DEFAULT_WIDTHS, strict=True)
    width = np.interp(np.arange(LAST_CUTOFF + 1), anchors, widths)
    half = np.arcsinh(width / 2)
    return IntervalTable(
        coverage=0.8,
        low=tuple(float(q) for q in -half),
        high=tuple(float(q) for q in half),
        samples=(0,) * (LAST_CUTOFF + 1),
    )


DEFAULT_INTERVALS = _default_intervals()


# ---------------------------------------------------------------------------------------------
# The point forecast on a panel


@dataclass(frozen=True, slots=True)
class PanelForecast:
    """Point forecasts for a panel of series, with what they were built from."""

    point: FloatArray  # month total, $
    rest_of_month: FloatArray  # the projected part of the total, $
    level: FloatArray  # weekday-neutral run rate, $/day
    weekday_factors: FloatArray  # (series, 7), Monday first, mean 1
    sparse: BoolArray  # zero-inflated rows, forecast from the plain 28-day mean


def forecast_panel(
    history: FloatArray, mtd: FloatArray, today: date, fraction_elapsed: float
) -> PanelForecast:
    """Month-end point forecasts for every row of `history`.

    `history` holds complete days, the last column being the day before `today`; `mtd` is
    each series' spend this month including what `today` has spent so far."""
    last_day = today - timedelta(days=1)
    sparse = sparse_rows(history)
    factors = np.where(sparse[:, None], 1.0, weekday_factors(history, last_day))
    level = baseline_levels(history, last_day, factors, sparse)
    days_ahead = weekdays_ahead(today, fraction_elapsed)
    rest = level * (factors @ days_ahead)
    return PanelForecast(
        point=mtd + rest, rest_of_month=rest, level=level, weekday_factors=factors, sparse=sparse
    )


def sparse_rows(history: FloatArray) -> BoolArray:
    """Rows with at least 20% zero days among the observed days of the last 28."""
    window = history[:, -SPARSE_WINDOW_DAYS:]
    observed = np.sum(~np.isnan(window), axis=1)
    zeros = np.sum(window == 0, axis=1)
    sparse: BoolArray = (observed > 0) & (zeros >= SPARSE_ZERO_SHARE * observed)
    return sparse


def weekday_factors(history: FloatArray, last_day: date) -> FloatArray:
    """Per-row weekday factors (Monday first) from the last 8 weeks, shrunk toward 1 by
    n_weeks / (n_weeks + 2) and normalised to mean 1. Zeros are gaps; a weekday never
    observed gets 1."""
    window = _gaps_as_nan(history[:, -HISTORY_DAYS:])
    weekdays = weekdays_of(last_day, window.shape[1])
    overall = _nanmedian(window)
    ratios = np.ones((window.shape[0], 7))
    for weekday in range(7):
        median = _nanmedian(window[:, weekdays == weekday])
        usable = (overall > 0) & ~np.isnan(median)
        ratios[:, weekday] = np.divide(median, overall, out=ratios[:, weekday], where=usable)
    weeks = np.floor(np.sum(~np.isnan(window), axis=1) / 7)
    shrink = weeks / (weeks + PRIOR_WEEKS)
    factors = 1 + shrink[:, None] * (ratios - 1)
    mean = factors.mean(axis=1, keepdims=True)
    normalised: FloatArray = np.divide(factors, mean, out=np.ones_like(factors), where=mean > 0)
    return normalised


def baseline_levels(
    history: FloatArray, last_day: date, factors: FloatArray, sparse: BoolArray
) -> FloatArray:
    """The run rate per row: the mean of the weekday-adjusted last 14 days, each clipped at
    3x their median; or the plain 28-day mean for sparse rows (and for dense rows with nothing
    left to average).

    The mean is weighted by the weekday factors (sum of clipped spend / sum of factors), so
    two full weeks project exactly their own spend even when the factors were shrunk toward 1:
    a plain mean of v / wf would under-forecast a B2B series by about 7% at 8 weeks."""
    recent = _gaps_as_nan(history[:, -LEVEL_DAYS:])
    recent_factors = factors[:, weekdays_of(last_day, recent.shape[1])]
    adjusted = recent / recent_factors
    ceiling = LEVEL_CLIP * _nanmedian(adjusted)
    clipped_spend = np.minimum(adjusted, ceiling[:, None]) * recent_factors
    weights = np.where(np.isnan(recent), np.nan, recent_factors)
    dense_level = _nanmean(clipped_spend) / _nanmean(weights)
    plain_mean = _nanmean(history[:, -SPARSE_WINDOW_DAYS:])
    level = np.where(sparse | np.isnan(dense_level), plain_mean, dense_level)
    return np.nan_to_num(level, nan=0.0)


def weekdays_ahead(today: date, fraction_elapsed: float) -> FloatArray:
    """Days left in the month by weekday (Monday first), counting the unelapsed part of today."""
    counts = np.zeros(7)
    counts[today.weekday()] += 1 - fraction_elapsed
    for offset in range(1, days_in_month(today) - today.day + 1):
        counts[(today + timedelta(days=offset)).weekday()] += 1
    return counts


def weekdays_of(last_day: date, length: int) -> IntArray:
    """The weekday (Monday 0) of each of `length` consecutive days ending on `last_day`."""
    first = last_day.toordinal() - length + 1
    return (np.arange(first, first + length, dtype=np.int64) + 6) % 7  # ordinal 1 is a Monday


def days_in_month(day: date) -> int:
    """How many days the month of `day` has."""
    return calendar.monthrange(day.year, day.month)[1]


def _gaps_as_nan(values: FloatArray) -> FloatArray:
    """Zeros in a dense series are missing data, not spend."""
    return np.where(values == 0, np.nan, values)


def _nanmedian(values: FloatArray) -> FloatArray:
    """The median of the non-NaN values along the last axis; NaN where there are none.
    (np.nanmedian warns on an all-NaN row, and warnings fail the tests.)"""
    count = np.sum(~np.isnan(values), axis=-1)
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], np.nan)
    ordered = np.sort(values, axis=-1)  # NaNs sort last
    below = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)
    above = np.take_along_axis(ordered, (count // 2)[..., None], axis=-1)
    median: FloatArray = (below[..., 0] + above[..., 0]) / 2
    return np.where(count > 0, median, np.nan)


def _nanmean(values: FloatArray) -> FloatArray:
    """The mean of the non-NaN values along the last axis; NaN where there are none."""
    count = np.sum(~np.isnan(values), axis=-1)
    total = np.sum(np.nan_to_num(values, nan=0.0), axis=-1)
    mean: FloatArray = np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)
    return mean


# ---------------------------------------------------------------------------------------------
# Backtests and conformal calibration


@dataclass(frozen=True, slots=True)
class Backtest:
    """One sample per series, month and cutoff: what was forecast and what happened."""

    cutoff: IntArray  # complete days of the month observed when the forecast was made
    point: FloatArray
    mtd: FloatArray
    actual: FloatArray


def backtest_panel(panel: FloatArray, first_day: date, *, min_history_days: int = 28) -> Backtest:
    """Forecast every complete month of `panel` (columns are days from `first_day`) at every
    cutoff, as of midnight, for each series observed on at least `min_history_days` before.

    For split-conformal calibration the panel should hold other series (or earlier months)
    than the forecasts the resulting table will be used for."""
    parts: list[tuple[IntArray, FloatArray, FloatArray, FloatArray]] = []
    filled = np.nan_to_num(panel, nan=0.0)
    observed_before = np.concatenate(
        [np.zeros((panel.shape[0], 1)), np.cumsum(~np.isnan(panel), axis=1)], axis=1
    )
    for month_start in _complete_months(first_day, panel.shape[1]):
        start = (month_start - first_day).days
        end = start + days_in_month(month_start)
        actual = filled[:, start:end].sum(axis=1)
        for cutoff in range(end - start):
            today = start + cutoff
            mtd = filled[:, start:today].sum(axis=1)
            history = panel[:, max(0, today - HISTORY_DAYS) : today]
            forecast = forecast_panel(history, mtd, month_start + timedelta(days=cutoff), 0.0)
            keep = (observed_before[:, today] >= min_history_days) & (actual > 0)
            cutoffs = np.full(int(keep.sum()), cutoff, dtype=np.int64)
            parts.append((cutoffs, forecast.point[keep], mtd[keep], actual[keep]))
    if not parts:
        empty = np.zeros(0)
        return Backtest(np.zeros(0, dtype=np.int64), empty, empty, empty)
    cutoff_parts, points, mtds, actuals = zip(*parts, strict=True)
    return Backtest(
        cutoff=np.concatenate(cutoff_parts),
        point=np.concatenate(points),
        mtd=np.concatenate(mtds),
        actual=np.concatenate(actuals),
    )


def _complete_months(first_day: date, length: int) -> list[date]:
    """First days of the months that lie wholly inside `length` days from `first_day`."""
    last_day = first_day + timedelta(days=length - 1)
    month = first_day if first_day.day == 1 else _next_month(first_day)
    months = []
    while month + timedelta(days=days_in_month(month) - 1) <= last_day:
        months.append(month)
        month = _next_month(month)
    return months


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def calibrate_intervals(
    backtest: Backtest, *, coverage: float = 0.8, min_samples: int = 50
) -> IntervalTable:
    """Split-conformal quantiles of log(actual / point) per cutoff, pooled over the backtest's
    series. A cutoff with fewer than `min_samples` usable samples keeps the default (which is
    an 80% range: other coverages should come with enough history)."""
    low, high = list(DEFAULT_INTERVALS.low), list(DEFAULT_INTERVALS.high)
    samples = [0] * (LAST_CUTOFF + 1)
    usable = (backtest.point > 0) & (backtest.actual > 0)
    ratios = np.log(backtest.actual[usable] / backtest.point[usable])
    cutoffs = backtest.cutoff[usable]
    for cutoff in range(LAST_CUTOFF + 1):
        at_cutoff = np.sort(ratios[cutoffs == cutoff])
        if at_cutoff.size >= min_samples:
            low[cutoff], high[cutoff] = _conformal_quantiles(at_cutoff, coverage)
            samples[cutoff] = int(at_cutoff.size)
    return IntervalTable(coverage, tuple(low), tuple(high), tuple(samples))


def _conformal_quantiles(ordered: FloatArray, coverage: float) -> tuple[float, float]:
    """The lower and upper split-conformal quantiles of sorted scores, with the (n + 1)
    finite-sample correction."""
    n = ordered.size
    tail = (1 - coverage) / 2
    upper_rank = min(math.ceil((n + 1) * (1 - tail)), n)
    lower_rank = max(math.floor((n + 1) * tail), 1)
    return float(ordered[lower_rank - 1]), float(ordered[upper_rank - 1])


def interval_bounds(
    point: FloatArray, mtd: FloatArray, cutoff: IntArray, table: IntervalTable
) -> tuple[FloatArray, FloatArray]:
    """The range around each point forecast: never below month-to-date (spend only adds up),
    and always containing the point itself."""
    index = np.clip(cutoff, 0, LAST_CUTOFF)
    low = point * np.exp(np.asarray(table.low)[index])
    high = point * np.exp(np.asarray(table.high)[index])
    low = np.maximum(np.minimum(low, point), mtd)
    return low, np.maximum(high, point)


@dataclass(frozen=True, slots=True)
class BacktestScore:
    """How a backtest's forecasts did: interval coverage and median absolute % error."""

    samples: int
    coverage: float
    mdape: float
    coverage_by_cutoff: dict[int, float]
    mdape_by_cutoff: dict[int, float]


def score_backtest(backtest: Backtest, table: IntervalTable) -> BacktestScore:
    """Coverage of `table`'s ranges and the MdAPE of the point forecasts, overall and per
    cutoff."""
    low, high = interval_bounds(backtest.point, backtest.mtd, backtest.cutoff, table)
    hit = (backtest.actual >= low) & (backtest.actual <= high)
    error = np.abs(backtest.point - backtest.actual) / backtest.actual
    cutoffs = sorted({int(c) for c in backtest.cutoff})
    return BacktestScore(
        samples=int(hit.size),
        coverage=float(hit.mean()) if hit.size else math.nan,
        mdape=float(np.median(error)) if error.size else math.nan,
        coverage_by_cutoff={c: float(hit[backtest.cutoff == c].mean()) for c in cutoffs},
        mdape_by_cutoff={c: float(np.median(error[backtest.cutoff == c])) for c in cutoffs},
    )


# ---------------------------------------------------------------------------------------------
# Forecasts in money, from the store's daily series


DailySeries = Mapping[date, Decimal]


@dataclass(frozen=True, slots=True)
class MonthForecast:
    """Where a series' month is heading, as of a moment. Money is in cents."""

    as_of: datetime  # aware UTC: data is complete up to here
    month_end: date  # the month's last day
    mtd: Decimal  # spent so far this month, including today so far
    point: Decimal  # projected month total
    low: Decimal  # the range that holds the month total with probability `coverage`
    high: Decimal
    run_rate: Decimal  # weekday-neutral spend per day
    days_left: Decimal  # days left in the month, counting the rest of today
    coverage: float

    @property
    def month_start(self) -> date:
        return self.month_end.replace(day=1)


def forecast_month(
    daily: DailySeries,
    as_of: datetime,
    *,
    intervals: IntervalTable = DEFAULT_INTERVALS,
    baseline_excludes: Collection[date] = (),
) -> MonthForecast:
    """The month-end forecast of one daily series (the store's `daily_series` shape, with
    today's partial spend under today's date). Days in `baseline_excludes`, such as an open
    incident's, still count in month-to-date but not in the run rate."""
    return _forecast_rows([daily], as_of, intervals, [baseline_excludes])[0]


def forecast_months(
    series: Mapping[K, DailySeries],
    as_of: datetime,
    *,
    intervals: IntervalTable = DEFAULT_INTERVALS,
) -> dict[K, MonthForecast]:
    """`forecast_month` for many series at once, keyed as given."""
    keys = list(series)
    forecasts = _forecast_rows([series[k] for k in keys], as_of, intervals, [()] * len(keys))
    return dict(zip(keys, forecasts, strict=True))


def series_panel(series: Sequence[DailySeries], first_day: date, last_day: date) -> FloatArray:
    """Rows of daily cost over [first_day, last_day]. The store leaves out days without
    spend, so a missing day is 0 once a series has begun and NaN before its first day."""
    length = (last_day - first_day).days + 1
    panel = np.full((len(series), length), np.nan)
    for row, daily in enumerate(series):
        if not daily:
            continue
        begun = max((min(daily) - first_day).days, 0)
        panel[row, begun:] = 0.0
        for day, cost in daily.items():
            if first_day <= day <= last_day:
                panel[row, (day - first_day).days] = float(cost)
    return panel


def _forecast_rows(
    series: Sequence[DailySeries],
    as_of: datetime,
    intervals: IntervalTable,
    excludes: Sequence[Collection[date]],
) -> list[MonthForecast]:
    """Forecast each series as of a moment; `excludes` are days left out of each baseline."""
    moment = _utc(as_of)
    today = moment.date()
    elapsed = moment - datetime.combine(today, time(), tzinfo=UTC)
    first_day = today - timedelta(days=HISTORY_DAYS)
    history = series_panel(series, first_day, today - timedelta(days=1))
    for row, days in enumerate(excludes):
        for day in days:
            if first_day <= day < today:
                history[row, (day - first_day).days] = np.nan
    month_start = today.replace(day=1)
    mtd = [sum((c for d, c in s.items() if month_start <= d <= today), Decimal(0)) for s in series]
    mtd_floats = np.array([float(m) for m in mtd])
    panel = forecast_panel(history, mtd_floats, today, elapsed / timedelta(days=1))
    cutoff = np.full(len(series), today.day - 1, dtype=np.int64)
    low, high = interval_bounds(panel.point, mtd_floats, cutoff, intervals)
    days_left = _days_left(today, elapsed)
    month_end = today.replace(day=days_in_month(today))
    forecasts = []
    for row, spent in enumerate(mtd):
        point = _cents(spent + Decimal(float(panel.rest_of_month[row])))
        forecasts.append(
            MonthForecast(
                as_of=moment,
                month_end=month_end,
                mtd=_cents(spent),
                point=point,
                low=min(max(_cents(Decimal(float(low[row]))), _cents(spent)), point),
                high=max(_cents(Decimal(float(high[row]))), point),
                run_rate=_cents(Decimal(float(panel.level[row]))),
                days_left=days_left,
                coverage=intervals.coverage,
            )
        )
    return forecasts


def _days_left(today: date, elapsed: timedelta) -> Decimal:
    """Whole days after today plus the unelapsed part of today."""
    rest_of_today = Decimal(_MICROSECONDS_PER_DAY - elapsed // timedelta(microseconds=1))
    return days_in_month(today) - today.day + rest_of_today / _MICROSECONDS_PER_DAY


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("forecasts need an aware datetime")
    return moment.astimezone(UTC)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT)


# ---------------------------------------------------------------------------------------------
# What the numbers mean for a budget and an open incident


def exhaustion_date(forecast: MonthForecast, budget: Decimal) -> date | None:
    """The day the budget runs out at the current run rate: today if month-to-date has
    already reached it, None if it lasts the month (or nothing is being spent)."""
    if forecast.mtd >= budget:
        return forecast.as_of.date()
    if forecast.run_rate <= 0:
        return None
    days = (budget - forecast.mtd) / forecast.run_rate
    runs_out = forecast.as_of + timedelta(microseconds=int(days * _MICROSECONDS_PER_DAY))
    day = (runs_out - timedelta(microseconds=1)).date()  # spent at midnight: the day before
    return day if day <= forecast.month_end else None


def daily_cut_needed(forecast: MonthForecast, budget: Decimal) -> Decimal | None:
    """The $/day (rounded up to the cent) to take off the rest of the month to land on the
    budget: 0 when already on course, None when it cannot be done any more."""
    if forecast.point <= budget:
        return Decimal("0.00")
    if forecast.mtd >= budget or forecast.days_left <= 0:
        return None
    return ((forecast.point - budget) / forecast.days_left).quantize(CENT, rounding=ROUND_UP)


@dataclass(frozen=True, slots=True)
class IncidentOutlook:
    """The month end with an open incident, both ways; the difference is the call to action."""

    if_fixed_today: Decimal
    if_it_continues: Decimal
    excess_per_day: Decimal
    days_left: Decimal


def incident_outlook(
    daily: DailySeries,
    as_of: datetime,
    *,
    incident_start: date,
    excess_per_day: Decimal,
    intervals: IntervalTable = DEFAULT_INTERVALS,
) -> IncidentOutlook:
    """'If it is fixed today' is the forecast with the incident's days left out of the run
    rate; 'if it continues' adds the incident's current excess for every day left
    (detection.md 4.4 projected_impact)."""
    today = _utc(as_of).date()
    incident_days = [
        incident_start + timedelta(days=k) for k in range((today - incident_start).days)
    ]
    fixed = forecast_month(daily, as_of, intervals=intervals, baseline_excludes=incident_days)
    excess = _cents(excess_per_day * fixed.days_left)
    return IncidentOutlook(
        if_fixed_today=fixed.point,
        if_it_continues=fixed.point + excess,
        excess_per_day=excess_per_day,
        days_left=fixed.days_left,
    )
