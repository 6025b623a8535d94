"""The collect job over the store: windows replace, failures are recorded and isolated."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import Engine, RowMapping, select

from bot.clock import FixedClock
from bot.collectors.base import Window, trailing_window
from bot.domain import CostLine, DateRange, Dimension, DisplayName, SpendQuery
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


def _context(engine: Engine) -> CollectContext:
    return CollectContext(engine, PriceBook(), Attribution({}), FixedClock(NOW))


def _total(engine: Engine) -> dict[tuple[str, ...], Decimal]:
    with engine.connect() as connection:
        report = spend(
            connection,
            SpendQuery(DateRange(NOV_1, NOV_1 + timedelta(days=3)), (Dimension.PROVIDER,)),
        )
    return {r.keys: r.cost for r in report.rows}


def _states(engine: Engine) -> dict[str, RowMapping]:
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


class Named(ScriptedProvider):
    """A provider that names its ids, counting how often it is asked."""

    def __init__(
        self,
        *answers: Sequence[CostLine] | Exception,
        names: dict[str, str] | Exception | None = None,
    ) -> None:
        super().__init__(*answers)
        self.named = names if names is not None else {"proj_a": "search"}
        self.asked = 0

    def names(self) -> Sequence[DisplayName]:
        self.asked += 1
        if isinstance(self.named, Exception):
            raise self.named
        return [DisplayName("openai", "project", k, v) for k, v in self.named.items()]


def _names(engine: Engine) -> dict[tuple[str, str], str]:
    from bot.store.names import load_names

    with engine.connect() as connection:
        return load_names(connection)


def _at(engine: Engine, moment: datetime) -> CollectContext:
    return CollectContext(engine, PriceBook(), Attribution({}), FixedClock(moment))


def test_names_are_looked_up_once_a_day_or_when_an_unknown_id_appears(engine):
    lines = [line(project="proj_a", cost=Decimal(1))]
    provider = Named(lines, lines, lines, [*lines, line(project="proj_b", cost=Decimal(2))])
    collect_all(_at(engine, NOW), [provider], WINDOW)
    assert _names(engine) == {("project", "proj_a"): "search"}
    collect_all(_at(engine, NOW + timedelta(hours=1)), [provider], WINDOW)
    assert provider.asked == 1  # fresh and every id known: not asked again
    provider.named = {"proj_a": "search-v2"}
    collect_all(_at(engine, NOW + timedelta(hours=25)), [provider], WINDOW)
    assert provider.asked == 2  # a day later: refreshed, and the rename wins
    assert _names(engine) == {("project", "proj_a"): "search-v2"}
    provider.named = {"proj_a": "search-v2", "proj_b": "ranker"}
    collect_all(_at(engine, NOW + timedelta(hours=26)), [provider], WINDOW)
    assert provider.asked == 3  # proj_b was never named: asked at once
    assert _names(engine)[("project", "proj_b")] == "ranker"


def test_a_failed_name_lookup_keeps_the_spend_and_is_recorded(engine):
    provider = Named([line(cost=Decimal(4))], names=CollectorUnavailable("openai", "timed out"))
    (outcome,) = collect_all(_context(engine), [provider], WINDOW)
    assert outcome.ok
    assert _total(engine) == {("openai",): Decimal("4")}
    states = _states(engine)
    assert states["openai.names"]["last_error"] == "openai: timed out"
    assert states["openai.costs"]["last_error"] == ""
    assert _names(engine) == {}


def test_coding_tool_days_are_stored_apart_from_spend_and_restatements_replace(engine):
    from bot.domain import CodingToolDay
    from bot.store.coding_tools import developer_totals

    class Coding(ScriptedProvider):
        provider: ClassVar[str] = "anthropic"
        sources: ClassVar[tuple[str, ...]] = ("anthropic.costs",)
        coding_tool: ClassVar[str] = "claude_code"

        def __init__(self, *days: list[CodingToolDay]) -> None:
            super().__init__(*([[]] * len(days)))
            self.days = list(days)

        def coding_days(self, start: datetime, end: datetime) -> Sequence[CodingToolDay]:
            return self.days.pop(0)

    def day(actor: str, model: str, cost: str, sessions: int = 0) -> CodingToolDay:
        return CodingToolDay(
            "claude_code", NOV_1, actor, model, estimated_cost=Decimal(cost), sessions=sessions
        )

    first = [day("ana@x.io", "claude-sonnet-4-5", "4.12"), day("ana@x.io", "", "0", sessions=3)]
    restated = [day("ana@x.io", "claude-sonnet-4-5", "5.00"), day("bo@x.io", "claude-opus-4", "1")]
    provider = Coding(first, restated)
    collect_all(_at(engine, NOW), [provider], WINDOW)
    period = DateRange(NOV_1, NOV_1 + timedelta(days=3))
    with engine.connect() as connection:
        (ana,) = developer_totals(connection, "claude_code", period)
    assert (ana.actor, ana.estimated_cost, ana.sessions) == ("ana@x.io", Decimal("4.12"), 3)
    collect_all(_at(engine, NOW), [provider], WINDOW)
    with engine.connect() as connection:
        totals = developer_totals(connection, "claude_code", period)
    assert [(t.actor, t.estimated_cost, t.sessions) for t in totals] == [
        ("ana@x.io", Decimal("5.00"), 0),
        ("bo@x.io", Decimal("1"), 0),
    ]
    assert _total(engine) == {}  # never spend
    assert _states(engine)["anthropic.claude_code"]["complete_through"] == DAY2


def test_days_a_provider_cannot_see_are_kept_not_wiped(engine):
    """OpenRouter answers only its last 30 days: a longer window must replace just those."""

    class ThirtyDays(ScriptedProvider):
        def reach(self, window: Window) -> Window | None:
            return Window(DAY2, window.end)

    old = line(cost=Decimal("9"))  # NOV_1: out of reach on the second run
    collect_all(_context(engine), [ScriptedProvider([old, line(bucket_start=DAY2)])], WINDOW)
    collect_all(_context(engine), [ThirtyDays([line(bucket_start=DAY2, cost=Decimal(3))])], WINDOW)
    assert _total(engine) == {("openai",): Decimal("12")}
