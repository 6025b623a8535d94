"""OpenRouter: billed daily spend from /api/v1/activity (one UTC day per request, last 30
completed days only) and the prepaid balance from /api/v1/credits. Payload shapes follow
section 6.1 of the provider reference; the parsers are pure and raise only CollectorDataError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from bot.clock import utc_midnight
from bot.collectors.base import Window
from bot.collectors.http import ProviderClient
from bot.collectors.payloads import validated
from bot.domain import CostLine, CreditSnapshot
from bot.errors import CollectorDataError, CollectorError

PROVIDER = "openrouter"
BASE_URL = "https://openrouter.ai"
ACTIVITY_PATH = "/api/v1/activity"
CREDITS_PATH = "/api/v1/credits"
ACTIVITY_SOURCE = "openrouter.activity"
CREDITS_SOURCE = "openrouter.credits"
ACTIVITY_DAYS = 30  # /activity answers only the last 30 completed UTC days


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _ActivityRow(_Shape):
    day: date = Field(alias="date")
    model: str
    usage: float | str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    endpoint_id: str | None = None
    provider_name: str | None = None


class _Activity(_Shape):
    data: list[_ActivityRow]


class _CreditsData(_Shape):
    total_credits: float | str
    total_usage: float | str


class _Credits(_Shape):
    data: _CreditsData


_S = TypeVar("_S", _Activity, _Credits)


def parse_activity(payload: dict[str, Any]) -> list[CostLine]:
    """One /activity answer as billed daily lines, one per row (dollars, Decimal)."""
    return [_activity_line(row) for row in _validated(_Activity, payload, "activity").data]


def parse_credits(payload: dict[str, Any], at: datetime) -> CreditSnapshot:
    """The /credits answer as a balance: everything bought less everything spent."""
    data = _validated(_Credits, payload, "credits").data
    credits = _dollars(data.total_credits, "data.total_credits")
    usage = _dollars(data.total_usage, "data.total_usage")
    return CreditSnapshot(
        source=CREDITS_SOURCE,
        provider=PROVIDER,
        at=at,
        balance=credits - usage,
        currency="USD",
        purchased=credits,
    )


def _validated(shape: type[_S], payload: dict[str, Any], what: str) -> _S:
    return validated(shape, payload, provider=PROVIDER, what=what)


def _dollars(value: float | str, where: str) -> Decimal:
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as e:
        raise CollectorDataError(PROVIDER, f"{where} {value!r} is not a number") from e
    if not amount.is_finite():
        raise CollectorDataError(PROVIDER, f"{where} {value!r} is not finite")
    return amount


def _activity_line(row: _ActivityRow) -> CostLine:
    return CostLine(
        source=ACTIVITY_SOURCE,
        provider=PROVIDER,
        bucket_start=utc_midnight(row.day),
        bucket_hours=24,
        model=row.model,
        line_item=row.endpoint_id or row.provider_name or "",
        tokens_in=row.prompt_tokens,
        tokens_out=row.completion_tokens,
        requests=row.requests,
        cost=_dollars(row.usage, "usage"),
        currency="USD",
        estimated=False,
    )


def openrouter_client(
    http: httpx.Client, key: str, *, base_url: str = BASE_URL, **options: Any
) -> ProviderClient:
    """A ProviderClient that sends the (management) key as a Bearer token."""
    headers = {"Authorization": f"Bearer {key}"}
    return ProviderClient(PROVIDER, http, base_url, headers, **options)


def _utc_today() -> date:
    return datetime.now(UTC).date()


class OpenRouterCollector:
    """Billed daily spend by model and endpoint, plus the prepaid credit balance."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (ACTIVITY_SOURCE,)

    def __init__(self, client: ProviderClient, *, today: Callable[[], date] = _utc_today) -> None:
        self.client = client
        self.today = today

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        """Every activity line whose day starts in [start, end), as far back as /activity goes."""
        lines: list[CostLine] = []
        for day in activity_days(start, end, self.today()):
            answer = self.client.get_json(ACTIVITY_PATH, {"date": day.isoformat()})
            lines.extend(parse_activity(answer))
        return lines

    def balances(self, at: datetime) -> list[CreditSnapshot]:
        return [parse_credits(self.client.get_json(CREDITS_PATH), at)]

    def reach(self, window: Window) -> Window | None:
        """The completed days of the window that /activity still answers for."""
        days = list(activity_days(window.start, window.end, self.today()))
        if not days:
            return None
        return Window(utc_midnight(days[0]), utc_midnight(days[-1] + timedelta(days=1)))


def activity_days(start: datetime, end: datetime, today: date) -> Iterator[date]:
    """Completed UTC days starting in [start, end) and within the last 30 before `today`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise CollectorError(PROVIDER, "collect needs timezone-aware start and end")
    if end <= start:
        raise CollectorError(PROVIDER, "collect needs end after start")
    first = start.astimezone(UTC).date()
    if utc_midnight(first) < start:
        first += timedelta(days=1)
    day = max(first, today - timedelta(days=ACTIVITY_DAYS))
    while day < today and utc_midnight(day) < end:
        yield day
        day += timedelta(days=1)
