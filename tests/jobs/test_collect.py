"""The collect job over the store: windows replace, failures are recorded and isolated."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import select

from bot.clock import FixedClock
from bot.collectors.base import Window, trailing_window
from bot.domain import CostLine, DateRange, Dimension, SpendQuery
from bot.errors import CollectorUnavailable
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.models import CollectorState
from bot.store.queries import spend
from tests.builders import NOV_1, at, line

NOW = datetime(2026, 11, 4, 9, tzinfo=UTC)
WINDOW = Window(at(NOV_1, 0), at(NOV_1 + timedelta(days=3), 0))


class ScriptedProvider:
    """A provider's answers, one per run: a list of lines or an error."""

    provider: ClassVar[str] = "openai"
    sources: ClassVar[tuple[str, ...]] = ("openai.costs",)

    def __init__(self, *answers: Sequence[CostLine] | Exception) -> None:
        self.answers = list(answers)

    def collect(self, start: datetime, end: datetime) -> Sequence[CostLine]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class OtherProvider(ScriptedProvider):
    provider: ClassVar[str] = "anthropic"
    sources: ClassVar[tuple[str, ...]] = ("anthropic.costs",)


def _context(engine) -> CollectContext:
    return CollectContext(engine, PriceBook(), Attribution({}), FixedClock(NOW))


def _total(engine) -> dict[tuple[str, ...], Decimal]:
    with engine.connect() as connection:
        report = spend(
            connection,
            SpendQuery(DateRange(NOV_1, NOV_1 + timedelta(days=3)), (Dimension.PROVIDER,)),
        )
    return {r.keys: r.cost for r in report.rows}


def _states(engine) -> dict[str, CollectorState]:
    with engine.connect() as connection:
        rows = connection.execute(select(CollectorState)).mappings().all()
    return {row["source"]: row for row in rows}


DAY2 = at(NOV_1 + timedelta(days=1), 0)


def test_a_rerun_window_replaces_restated_and_vanished_lines(engine):
    first = [
        line(cost=Decimal("5")),
        line(bucket_start=DAY2, cost=Decimal("7")),
        line(bucket_start=DAY2, model="gpt-5-mini", cost=Decimal("1")),
    ]
    restated = [line(cost=Decimal("5")), line(bucket_start=DAY2, cost=Decimal("7.25"))]
    collect_all(_context(engine), [ScriptedProvider(first)], WINDOW)
    assert _total(engine) == {("openai",): Decimal("13")}
    collect_all(_context(engine), [ScriptedProvider(restated)], WINDOW)
    assert _total(engine) == {("openai",): Decimal("12.25")}


def test_one_provider_failing_leaves_its_data_and_the_others_run(engine):
    collect_all(_context(engine), [ScriptedProvider([line(cost=Decimal("5"))])], WINDOW)
    outage = CollectorUnavailable("openai", "/v1/organization/costs answered 503")
    other = [
        line(
            source="anthropic.costs",
            provider="anthropic",
            model="claude-haiku-4-5",
            cost=Decimal("2"),
        )
    ]
    outcomes = collect_all(
        _context(engine), [ScriptedProvider(outage), OtherProvider(other)], WINDOW
    )
    assert [o.ok for o in outcomes] == [False, True]
    assert _total(engine) == {("openai",): Decimal("5"), ("anthropic",): Decimal("2")}
    states = _states(engine)
    assert "503" in states["openai.costs"]["last_error"]
    assert states["openai.costs"]["consecutive_failures"] == 1
    assert states["anthropic.costs"]["last_error"] == ""
    assert states["anthropic.costs"]["complete_through"] == DAY2


def test_a_crashing_collector_is_recorded_not_raised(engine):
    outcomes = collect_all(_context(engine), [ScriptedProvider(KeyError("bug"))], WINDOW)
    assert outcomes[0].error == "internal error: KeyError"


def test_a_line_outside_the_window_rolls_back_the_whole_window(engine):
    collect_all(_context(engine), [ScriptedProvider([line(cost=Decimal("5"))])], WINDOW)
    stray = line(bucket_start=at(NOV_1 + timedelta(days=9), 0), cost=Decimal("99"))
    outcomes = collect_all(
        _context(engine), [ScriptedProvider([line(cost=Decimal("6")), stray])], WINDOW
    )
    assert not outcomes[0].ok
    assert _total(engine) == {("openai",): Decimal("5")}


def test_trailing_window_covers_the_last_days_and_today():
    window = trailing_window(NOW, days=3)
    assert (window.start, window.end) == (at(NOV_1, 0), at(NOV_1 + timedelta(days=4), 0))


def test_status_lists_failing_sources_first_with_their_error(engine):
    from bot.render import status_table
    from bot.store.freshness import list_source_states

    collect_all(
        _context(engine),
        [OtherProvider([line(source="anthropic.costs", provider="anthropic", cost=Decimal(1))])],
        WINDOW,
    )
    collect_all(
        _context(engine), [ScriptedProvider(CollectorUnavailable("openai", "timed out"))], WINDOW
    )
    with engine.connect() as connection:
        text = status_table(list_source_states(connection), NOW + timedelta(minutes=5))
    lines = text.splitlines()
    assert lines[1].startswith("openai.costs")
    assert "failing x1" in lines[1]
    assert "never" in lines[1]
    assert "timed out" in lines[1]
    assert lines[2].startswith("anthropic.costs")
    assert "5 min ago" in lines[2]


def test_providers_are_fetched_at_the_same_time(engine):
    """Each provider waits at a barrier for the other: fetched one after the other, the first
    would time out there and fail."""
    meeting = threading.Barrier(2, timeout=10)

    class Waiting(ScriptedProvider):
        def collect(self, start: datetime, end: datetime) -> Sequence[CostLine]:
            meeting.wait()
            return super().collect(start, end)

    class OtherWaiting(Waiting):
        provider: ClassVar[str] = "anthropic"
        sources: ClassVar[tuple[str, ...]] = ("anthropic.costs",)

    other = [line(source="anthropic.costs", provider="anthropic", cost=Decimal("2"))]
    outcomes = collect_all(
        _context(engine), [Waiting([line(cost=Decimal("1"))]), OtherWaiting(other)], WINDOW
    )
    assert [o.ok for o in outcomes] == [True, True]


def test_balances_are_stored_beside_spend_and_the_latest_one_wins(engine):
    from bot.domain import CreditSnapshot
    from bot.store.credits import latest_balances

    class Prepaid(ScriptedProvider):
        provider: ClassVar[str] = "deepseek"
        sources: ClassVar[tuple[str, ...]] = ("deepseek.balance",)

        def __init__(self, balance: str) -> None:
            super().__init__([])
            self.balance = Decimal(balance)

        def balances(self, at: datetime) -> Sequence[CreditSnapshot]:
            return [CreditSnapshot("deepseek.balance", "deepseek", at, self.balance, "USD")]

    first = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(NOW))
    later = CollectContext(
        engine, PriceBook(), Attribution({}), FixedClock(NOW + timedelta(hours=1))
    )
    collect_all(first, [Prepaid("40.50")], WINDOW)
    collect_all(later, [Prepaid("38.25")], WINDOW)
    collect_all(later, [Prepaid("38.25")], WINDOW)  # the same reading twice is stored once
    with engine.connect() as connection:
        latest = latest_balances(connection)
    assert [(b.source, b.balance, b.at) for b in latest] == [
        ("deepseek.balance", Decimal("38.25"), NOW + timedelta(hours=1))
    ]
    assert _total(engine) == {}  # a balance is never spend
