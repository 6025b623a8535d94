"""What every collector is: a provider id, the sources it writes, and one call that pulls a
window of billed and reported cost lines (pure parsing inside, I/O through ProviderClient)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol, runtime_checkable

from bot.domain import CodingToolDay, CostLine, CreditSnapshot, DisplayName

DEFAULT_TRAILING_DAYS = 3  # providers restate recent days; every run pulls them again


@dataclass(frozen=True, slots=True)
class Window:
    """Whole UTC days, half-open: [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None or moment != _midnight(moment):
                raise ValueError(f"window bounds must be UTC midnights, got {moment.isoformat()}")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")


def trailing_window(now: datetime, days: int = DEFAULT_TRAILING_DAYS) -> Window:
    """The last `days` whole days plus today so far, which a scheduled run pulls again."""
    tomorrow = _midnight(now) + timedelta(days=1)
    return Window(tomorrow - timedelta(days=days + 1), tomorrow)


def _midnight(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC)


class Collector(Protocol):
    provider: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]  # every CostLine.source it writes

    def collect(self, start: datetime, end: datetime) -> Sequence[CostLine]:
        """Every line the provider reports for [start, end); raises only CollectorError."""
        ...


@runtime_checkable
class ReportsBalances(Protocol):
    """A collector whose provider also reports a prepaid balance (OpenRouter, DeepSeek)."""

    def balances(self, at: datetime) -> Sequence[CreditSnapshot]:
        """The balances as of now; raises only CollectorError."""
        ...


@runtime_checkable
class ReportsNames(Protocol):
    """A collector that can name the ids its lines carry (projects, workspaces, api keys)."""

    def names(self) -> Sequence[DisplayName]:
        """Every id it can name now; raises only CollectorError."""
        ...


@runtime_checkable
class ReportsCodingTools(Protocol):
    """A collector whose provider reports per-developer coding tool use (Claude Code)."""

    coding_tool: ClassVar[str]

    def coding_days(self, start: datetime, end: datetime) -> Sequence[CodingToolDay]:
        """Every developer-day in [start, end); raises only CollectorError."""
        ...


@runtime_checkable
class LimitedReach(Protocol):
    """A collector whose provider answers only part of a window (OpenRouter keeps 30 days).
    Only that part is replaced in the store: days it cannot see are kept as they are."""

    def reach(self, window: Window) -> Window | None:
        """The part of `window` the provider answers for, or None for none of it."""
        ...


@runtime_checkable
class SwitchesKeys(Protocol):
    """A collector whose provider's admin API can switch an api key off and back on again
    (Anthropic): what the "Pause key" button on an alert does."""

    def set_key_active(self, api_key: str, active: bool) -> None:
        """Switch the key on (`active`) or off; raises only CollectorError."""
        ...
