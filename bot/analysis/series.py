"""Many spend series on one time axis, as one numpy array, for the detector.

A row is one series, named by a key: the hierarchy level first, then the dimension values
from the top of the hierarchy down, e.g. ("total",), ("provider", "openai"),
("model", "openai", "gpt-5"). A column is one bucket (a UTC day or hour). Dollars are
Decimal at the edges and float64 inside the array.

The last buckets of a series may be incomplete (a partial current bucket, a provider that
reports late). Each row has a complete-through count: buckets at or after it never enter a
baseline and never close an incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from bot.money import parse_amount

SeriesKey = tuple[str, ...]
Bucket = date | datetime
AnyBucket = TypeVar("AnyBucket", bound=date)  # date (daily_series) or datetime (hourly_series)

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

_BUCKET_HOURS = (1, 24)
_CENT = Decimal("0.01")
_MAD_TO_SIGMA = 1.4826  # MAD to the standard deviation of a normal distribution


@dataclass(frozen=True, eq=False)
class SeriesBatch:
    """Series aligned on one axis of regular buckets; values in dollars per bucket."""

    keys: tuple[SeriesKey, ...]
    start: datetime  # the first bucket's start, aware UTC
    bucket_hours: int  # 24 (daily) or 1 (hourly)
    values: NDArray[np.float64]  # n_series x n_buckets
    complete_through: NDArray[np.int64]  # per series: buckets [0, k) are complete

    def __post_init__(self) -> None:
        _require_utc(self.start)
        if self.bucket_hours not in _BUCKET_HOURS:
            raise ValueError(f"bucket_hours must be 1 or 24, not {self.bucket_hours}")
        if self.bucket_hours == 24 and (self.start.hour, self.start.minute) != (0, 0):
            raise ValueError("daily buckets start at midnight UTC")
        if self.values.ndim != 2 or self.values.shape[0] != len(self.keys):
            raise ValueError("values must be n_series x n_buckets, one row per key")
        if self.complete_through.shape != (len(self.keys),):
            raise ValueError("complete_through needs one entry per series")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("series keys must be unique")
        if not np.all(np.isfinite(self.values)):
            raise ValueError("series values must be finite")
        values = np.array(self.values, dtype=np.float64)  # a copy: the caller's stays writable
        complete = np.array(self.complete_through, dtype=np.int64)
        values.flags.writeable = complete.flags.writeable = False
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "complete_through", complete)

    @classmethod
    def from_series(
        cls,
        series: Mapping[SeriesKey, Mapping[AnyBucket, Decimal]],
        *,
        level: str,
        start: Bucket,
        end: Bucket,
        bucket_hours: int = 24,
        complete_before: datetime | Mapping[SeriesKey, datetime] | None = None,
    ) -> SeriesBatch:
        """A batch from what daily_series / hourly_series return, buckets in [start, end).

        Keys become (level, *key). A bucket with no entry is $0. complete_before is a data
        watermark: one for every series, or one per (unprefixed) key; buckets that end after
        it are incomplete. None means every bucket is complete.
        """
        first, stop = _as_utc(start), _as_utc(end)
        n_buckets = _bucket_count(first, stop, bucket_hours)
        keys = sorted(series)
        values = np.zeros((len(keys), n_buckets))
        for row, key in enumerate(keys):
            for bucket, cost in series[key].items():
                column = _bucket_index(_as_utc(bucket), first, bucket_hours, n_buckets)
                values[row, column] = float(cost)
        watermarks = [_watermark_for(complete_before, key) for key in keys]
        complete = np.array(
            [_complete_count(w, first, bucket_hours, n_buckets) for w in watermarks],
            dtype=np.int64,
        )
        return cls(tuple((level, *k) for k in keys), first, bucket_hours, values, complete)

    @property
    def n_series(self) -> int:
        return len(self.keys)

    @property
    def n_buckets(self) -> int:
        return int(self.values.shape[1])

    @property
    def buckets_per_day(self) -> int:
        return 24 // self.bucket_hours

    @property
    def step(self) -> timedelta:
        return timedelta(hours=self.bucket_hours)

    def bucket_start(self, index: int) -> datetime:
        """The start of bucket `index`, aware UTC."""
        return self.start + index * self.step

    def bucket_starts(self) -> list[datetime]:
        return [self.bucket_start(i) for i in range(self.n_buckets)]

    def index_of(self, at: datetime) -> int:
        """The bucket that contains `at` (may be outside the batch: negative or past the end)."""
        _require_utc(at)
        return (at - self.start) // self.step

    def same_bucket_last_month(self, first: int = 0) -> Ints:
        """For each bucket (from `first` on; -1 before), the index of the same day of month
        and hour a month earlier, or -1 (before the batch, or no such day: there is no 31
        February)."""
        found = np.full(self.n_buckets, -1, dtype=np.int64)
        for t in range(max(first, 0), self.n_buckets):
            at = self.bucket_start(t)
            year, month = (at.year, at.month - 1) if at.month > 1 else (at.year - 1, 12)
            try:
                earlier = self.index_of(at.replace(year=year, month=month))
            except ValueError:
                continue
            found[t] = max(earlier, -1)
        return found

    def days_left_in_month(self, first: int = 0) -> Floats:
        """Days from each bucket's start (from `first` on; 0 before) to the end of its month
        (the bucket's day counts)."""
        left = np.zeros(self.n_buckets)
        for t in range(max(first, 0), self.n_buckets):
            at = self.bucket_start(t)
            year, month = (at.year, at.month + 1) if at.month < 12 else (at.year + 1, 1)
            left[t] = (at.replace(year=year, month=month, day=1, hour=0) - at) / timedelta(days=1)
        return left

    def row_of(self, key: SeriesKey) -> int:
        return self.keys.index(key)

    def cost(self, key: SeriesKey, index: int) -> Decimal:
        """One bucket's cost as Decimal, to the cent."""
        return to_cents(float(self.values[self.row_of(key), index]))


def combine(batches: Sequence[SeriesBatch]) -> SeriesBatch:
    """One batch from several on the same axis (e.g. one per hierarchy level)."""
    if not batches:
        raise ValueError("nothing to combine")
    first = batches[0]
    if len({(b.start, b.bucket_hours, b.n_buckets) for b in batches}) > 1:
        raise ValueError("batches must share start, bucket size and length")
    return SeriesBatch(
        tuple(k for b in batches for k in b.keys),
        first.start,
        first.bucket_hours,
        np.concatenate([b.values for b in batches]),
        np.concatenate([b.complete_through for b in batches]),
    )


def parents_of(keys: Sequence[SeriesKey]) -> dict[SeriesKey, SeriesKey]:
    """Each key's parent: the key whose dimension path is the longest proper prefix of its own.

    ("provider", "openai") is the parent of ("model", "openai", "gpt-5"), and ("total",) of
    both ("provider", "openai") and ("model", "gpt-5"). Two levels with the same path make
    the hierarchy ambiguous and raise ValueError.
    """
    by_path: dict[tuple[str, ...], SeriesKey] = {}
    for key in keys:
        path = key[1:]
        if path in by_path and by_path[path] != key:
            raise ValueError(f"ambiguous hierarchy: {by_path[path]} and {key} share a path")
        by_path[path] = key
    parents: dict[SeriesKey, SeriesKey] = {}
    for key in keys:
        path = key[1:]
        for length in range(len(path) - 1, -1, -1):
            parent = by_path.get(path[:length])
            if parent is not None:
                parents[key] = parent
                break
    return parents


def row_median(values: NDArray[np.float64], valid: NDArray[np.bool_]) -> tuple[Floats, Ints]:
    """Medians over the last axis of the valid entries, and their counts (NaN where none).

    Vectorized over every other axis: no Python loop per series, no NaN warnings."""
    count = valid.sum(axis=-1)
    if values.shape[-1] == 0:
        return np.full(count.shape, np.nan), count
    ordered = np.sort(np.where(valid, values, np.inf), axis=-1)
    low = np.take_along_axis(ordered, (np.maximum(count - 1, 0) // 2)[..., None], axis=-1)
    high = np.take_along_axis(ordered, (count // 2)[..., None], axis=-1)
    with np.errstate(invalid="ignore"):
        middle = (low[..., 0] + high[..., 0]) / 2
    return np.where(count > 0, middle, np.nan), count


def row_mad_sigma(values: NDArray[np.float64], valid: NDArray[np.bool_]) -> tuple[Floats, Ints]:
    """1.4826 * MAD over the last axis (a robust sigma) of the valid entries, and counts."""
    centre, count = row_median(values, valid)
    safe_centre = np.where(count > 0, centre, 0.0)
    spread, _ = row_median(np.abs(values - safe_centre[..., None]), valid)
    return _MAD_TO_SIGMA * spread, count


def running_count(flags: NDArray[np.bool_]) -> Ints:
    """Cumulative counts per row with a leading 0: flags in [a, b) = c[:, b] - c[:, a]."""
    counts = np.zeros((flags.shape[0], flags.shape[1] + 1), dtype=np.int64)
    np.cumsum(flags, axis=1, out=counts[:, 1:])
    return counts


def to_cents(amount: float) -> Decimal:
    """A float dollar figure as Decimal, rounded half to even to the cent."""
    return parse_amount(amount).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def _require_utc(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() != timedelta(0):
        raise ValueError(f"bucket times must be aware UTC datetimes, not {at!r}")


def _as_utc(bucket: Bucket) -> datetime:
    """A day means its UTC midnight; datetimes must already be aware UTC."""
    if isinstance(bucket, datetime):
        _require_utc(bucket)
        return bucket.astimezone(UTC)
    return datetime(bucket.year, bucket.month, bucket.day, tzinfo=UTC)


def _bucket_count(first: datetime, stop: datetime, bucket_hours: int) -> int:
    span = stop - first
    step = timedelta(hours=bucket_hours)
    if span <= timedelta(0) or span % step:
        raise ValueError(f"[{first}, {stop}) is not a whole number of {bucket_hours}h buckets")
    return span // step


def _bucket_index(at: datetime, first: datetime, bucket_hours: int, n_buckets: int) -> int:
    offset = at - first
    step = timedelta(hours=bucket_hours)
    if offset % step or not 0 <= offset // step < n_buckets:
        raise ValueError(f"bucket {at} is not on the batch's axis")
    return offset // step


def _watermark_for(
    complete_before: datetime | Mapping[SeriesKey, datetime] | None, key: SeriesKey
) -> datetime | None:
    if complete_before is None or isinstance(complete_before, datetime):
        return complete_before
    return complete_before.get(key)


def _complete_count(
    watermark: datetime | None, first: datetime, bucket_hours: int, n_buckets: int
) -> int:
    """How many leading buckets end at or before the watermark."""
    if watermark is None:
        return n_buckets
    _require_utc(watermark)
    whole = (watermark - first) // timedelta(hours=bucket_hours)
    return max(0, min(n_buckets, whole))
