"""The alert checks over a real store: data written by the store's own functions, conditions
read back by gather_conditions, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any, ClassVar

from sqlalchemy import Engine

from bot.analysis.alerts import AlertKind, Condition
from bot.analysis.detector import Severity
from bot.clock import FixedClock
from bot.collectors.base import Window
from bot.config import AttributionConfig, TeamFile
from bot.domain import CostLine, CreditSnapshot, DisplayName, EventStatus, UsageEvent
from bot.errors import CollectorUnavailable
from bot.jobs.checks import gather_conditions
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.credits import store_credit_snapshots
from bot.store.names import store_names
from tests.builders import at, event, line, priced, write_events, write_lines

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)
RULES = TeamFile(
    attribution=(AttributionConfig(project="proj_search", team="growth"),),
)
_ids = count()


def _ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def _conditions(engine: Engine, team_file: TeamFile = RULES) -> list[Condition]:
    with engine.connect() as connection:
        return gather_conditions(connection, team_file, NOW)


def _of(kind: AlertKind, conditions: list[Condition]) -> list[Condition]:
    return [c for c in conditions if c.kind is kind]


def _events(day: date, n: int, **fields: Any) -> list[UsageEvent]:
    return [event(next(_ids), ts=at(day), **fields) for _ in range(n)]


def _billed(provider: str, days: Sequence[date], cost: str, **fields: Any) -> list[CostLine]:
    return [
        line(
            provider=provider,
            source=f"{provider}.costs",
            bucket_start=at(d, 0),
            cost=Decimal(cost),
            **fields,
        )
        for d in days
    ]


def _last(days: int, skip: int = 0) -> list[date]:
    """The `days` complete days before the last `skip` ones."""
    return [_ago(i) for i in range(1 + skip, 1 + skip + days)]


def test_an_empty_store_has_no_conditions(engine):
    assert _conditions(engine) == []


def test_unowned_spend_on_a_key_nobody_owns(engine):
    attribution = Attribution.from_rules(RULES.attribution)
    write_lines(
        engine,
        [
            line(
                project="proj_old",
                api_key="key_legacy",
                bucket_start=at(_ago(2), 0),
                cost=Decimal("30.00"),
            ),
            line(
                project="proj_old",
                api_key="key_legacy",
                bucket_start=at(_ago(5), 0),
                cost=Decimal("12.10"),
            ),
            line(
                project="proj_old",
                api_key="key_legacy",
                bucket_start=at(_ago(8), 0),
                cost=Decimal("500"),
            ),
            line(
                project="proj_old",
                api_key="key_legacy",
                bucket_start=at(TODAY, 0),
                cost=Decimal("500"),
            ),
            line(project="proj_search", bucket_start=at(_ago(2), 0), cost=Decimal("900")),
            line(bucket_start=at(_ago(2), 0), model="gpt-5-mini", cost=Decimal("900")),
        ],
        attribution,
    )
    with engine.begin() as connection:
        store_names(connection, [DisplayName("openai", "api_key", "key_legacy", "old cron")], NOW)
    [found] = _of(AlertKind.UNOWNED, _conditions(engine))
    assert found.key == ("openai", "proj_old", "key_legacy")
    assert found.severity is Severity.WARNING
    assert found.amount == Decimal("42.10")
    assert found.summary == (
        "api key old cron (key_legacy) on openai (project proj_old) spent $42.10 in the last "
        "7 days and no attribution rule owns it"
    )


def test_a_rule_added_after_the_spend_was_stored_owns_it(engine):
    write_lines(engine, [line(project="proj_new", bucket_start=at(_ago(1), 0), cost=Decimal(50))])
    assert [c.key for c in _of(AlertKind.UNOWNED, _conditions(engine))] == [
        ("openai", "proj_new", "")
    ]
    added = TeamFile(attribution=(AttributionConfig(project="proj_new", team="growth"),))
    assert _of(AlertKind.UNOWNED, _conditions(engine, added)) == []


def test_unpriced_model_in_request_events(engine):
    write_events(engine, _events(_ago(1), 3, model="acme-v2") + _events(_ago(1), 3))
    [found] = _of(AlertKind.UNPRICED, _conditions(engine))
    assert found.key == ("openai", "acme-v2")
    assert found.severity is Severity.INFO
    assert "3 requests (3,000 input, 300 output tokens)" in found.summary


class _Provider:
    """A collector answering each run with lines or an error."""

    provider: ClassVar[str] = "openai"
    sources: ClassVar[tuple[str, ...]] = ("openai.costs",)

    def __init__(self, answer: Sequence[CostLine] | Exception) -> None:
        self.answer = answer

    def collect(self, start: datetime, end: datetime) -> Sequence[CostLine]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class _Other(_Provider):
    provider: ClassVar[str] = "anthropic"
    sources: ClassVar[tuple[str, ...]] = ("anthropic.costs",)


def _collect(engine: Engine, when: datetime, *collectors: _Provider) -> None:
    midnight = datetime.combine(when.date(), datetime.min.time(), UTC)
    window = Window(midnight - timedelta(days=2), midnight + timedelta(days=1))
    context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(when))
    collect_all(context, list(collectors), window)


def test_a_source_that_keeps_failing_is_stale(engine):
    yesterdays = [line(bucket_start=at(YESTERDAY, 0))]
    others = [line(provider="anthropic", source="anthropic.costs", bucket_start=at(YESTERDAY, 0))]
    _collect(engine, NOW - timedelta(hours=3), _Provider(yesterdays), _Other(others))
    outage = CollectorUnavailable("openai", "/v1/organization/costs answered 503")
    for hours in (2, 1, 0):
        _collect(engine, NOW - timedelta(hours=hours), _Provider(outage), _Other(others))
    [found] = _of(AlertKind.STALE_SOURCE, _conditions(engine))
    assert found.key == ("openai.costs",)
    assert found.severity is Severity.WARNING
    assert found.summary == "source openai.costs failed 3 times in a row"
    assert "503" in found.why


def test_a_source_without_a_success_for_a_day_is_critical(engine):
    _collect(engine, NOW - timedelta(hours=30), _Provider([line(bucket_start=at(_ago(2), 0))]))
    [found] = _of(AlertKind.STALE_SOURCE, _conditions(engine))
    assert found.severity is Severity.CRITICAL
    assert "last pulled successfully 30 h ago" in found.summary


def _capture_data(engine: Engine, recent_share: str) -> None:
    """openai billed $10 a day for 35 days; events cover 90% before, `recent_share` lately."""
    write_lines(engine, _billed("openai", _last(35), "10"))
    events = [priced(e, "9.00") for d in _last(28, skip=7) for e in _events(d, 1)]
    cost = str(Decimal(10) * Decimal(recent_share))
    events += [priced(e, cost) for d in _last(7) for e in _events(d, 1)]
    write_events(engine, events)


def test_capture_drop_when_events_stop_covering_the_bill(engine):
    _capture_data(engine, "0.50")
    [found] = _of(AlertKind.CAPTURE_DROP, _conditions(engine))
    assert found.key == ("openai",)
    assert found.severity is Severity.WARNING
    assert found.amount == Decimal("28.00")
    assert "cover 50% of billed cost in the last 7 days, down from 90%" in found.summary


def test_steady_capture_is_quiet(engine):
    _capture_data(engine, "0.85")
    assert _conditions(engine) == []


def _feature_data(engine: Engine, prompt: int, errors: int) -> None:
    """search: 50 requests of 1,000 tokens a day for two weeks, then 60 of `prompt` tokens
    yesterday; chat: 50 requests a day with 1 error, then 100 with `errors` yesterday."""
    events = []
    for d in _last(14, skip=1):
        events += _events(d, 50, feature="search", team="growth", tokens_in=1000)
        events += _events(d, 49, feature="chat", team="support")
        events += _events(d, 1, feature="chat", team="support", status=EventStatus.ERROR)
    events += _events(YESTERDAY, 60, feature="search", team="growth", tokens_in=prompt)
    events += _events(YESTERDAY, 100 - errors, feature="chat", team="support")
    events += _events(YESTERDAY, errors, feature="chat", team="support", status=EventStatus.ERROR)
    write_events(engine, [priced(e, "0.20") for e in events])


def test_prompt_growth_and_error_surge_by_feature(engine):
    _feature_data(engine, prompt=4000, errors=30)
    conditions = _conditions(engine)
    [grown] = _of(AlertKind.PROMPT_GROWTH, conditions)
    assert grown.key == ("search",)
    assert grown.team == "growth"
    assert grown.severity is Severity.CRITICAL  # 4x, $12 that day
    assert grown.summary == (
        "feature search: average prompt 4,000 tokens on 2026-11-19 (60 requests), 4.0x its "
        "14-day median of 1,000; $12.00 spent that day"
    )
    [surge] = _of(AlertKind.ERROR_SURGE, conditions)
    assert surge.key == ("chat",)
    assert surge.team == "support"
    assert surge.severity is Severity.CRITICAL
    assert surge.summary == (
        "feature chat: 30 of 100 requests failed on 2026-11-19 (30.0%; 14-day median 2.0%)"
    )


def test_steady_features_are_quiet(engine):
    _feature_data(engine, prompt=1100, errors=2)
    assert _conditions(engine) == []


def _runway_data(engine: Engine, balance: str) -> None:
    write_lines(engine, _billed("openrouter", _last(7), "10"))
    snapshot = CreditSnapshot("openrouter.credits", "openrouter", NOW, Decimal(balance))
    with engine.begin() as connection:
        store_credit_snapshots(connection, [snapshot])


def test_runway_low_on_a_prepaid_balance(engine):
    _runway_data(engine, "50")
    [found] = _of(AlertKind.RUNWAY_LOW, _conditions(engine))
    assert found.key == ("openrouter", "openrouter.credits")
    assert found.severity is Severity.WARNING
    assert found.amount == Decimal("50")
    assert "lasts about 5 days at $10.00/day" in found.summary


def test_a_long_runway_is_quiet(engine):
    _runway_data(engine, "500")
    assert _conditions(engine) == []
