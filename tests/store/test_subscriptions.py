from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from bot.analysis.subscriptions import Cycle, Subscription
from bot.domain import DateRange, Dimension, Filter, Origin, SpendQuery
from bot.errors import UsageError
from bot.store.models import RollupDay, RollupDayCore, table_of
from bot.store.queries import daily_series, spend
from bot.store.subscriptions import (
    add_subscription,
    delete_subscription,
    edit_subscription,
    get_subscription,
    list_subscriptions,
    rebuild_subscription_spend,
)
from tests.builders import NOV_1, at, event, line, priced, write_events, write_lines

NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)
NOVEMBER = DateRange(NOV_1, date(2026, 12, 1))


def chatgpt(**changes: object) -> Subscription:
    values: dict[str, object] = {
        "vendor": "OpenAI",
        "plan": "ChatGPT Team",
        "cost": Decimal("300"),  # 30 days of November: $10 a day
        "cycle": Cycle.MONTHLY,
        "renews_on": date(2026, 12, 1),
        "started_on": NOV_1,
        "reviewed_on": NOV_1,
        "seats": 10,
        "owner": "U0MAYA",
        "team": "growth",
        "purpose": "chat for the growth team",
    }
    values.update(changes)
    return Subscription(**values)  # type: ignore[arg-type]


def test_ledger_add_edit_list_delete(engine: Engine) -> None:
    with engine.begin() as connection:
        added = add_subscription(connection, chatgpt(), NOW)
        other = add_subscription(
            connection, chatgpt(vendor="Cursor", plan="Business", cycle=Cycle.ANNUAL), NOW
        )
    assert added.id is not None
    assert other.id is not None
    with engine.begin() as connection:
        edited = edit_subscription(connection, added.id, {"seats": 12, "cost": Decimal("360")}, NOW)
    assert (edited.seats, edited.cost) == (12, Decimal("360"))
    with engine.connect() as connection:
        assert get_subscription(connection, added.id) == edited
        assert [s.vendor for s in list_subscriptions(connection)] == ["Cursor", "OpenAI"]
    with engine.begin() as connection:
        delete_subscription(connection, other.id, NOW.date())
    with engine.connect() as connection:
        assert list_subscriptions(connection) == [edited]
        with pytest.raises(UsageError, match="no subscription"):
            get_subscription(connection, other.id)


def test_ledger_refuses_entries_it_cannot_count(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(UsageError, match="vendor and a plan"):
        add_subscription(connection, chatgpt(plan=" "), NOW)
    with engine.begin() as connection, pytest.raises(UsageError, match="on or before it starts"):
        add_subscription(connection, chatgpt(ends_on=NOV_1), NOW)
    with engine.connect() as connection:
        assert list_subscriptions(connection) == []


def _seed_billed_and_events(engine: Engine) -> None:
    """OpenAI billed $10.00 on each of Nov 1 and Nov 2, and the apps reported $4.00 of it."""
    write_lines(engine, [line(), line(bucket_start=at(NOV_1 + timedelta(days=1), 0))])
    write_events(engine, [priced(event(1, team="growth"), "4.00")])


def test_totals_add_subscriptions_once_beside_the_best_origin(engine: Engine) -> None:
    _seed_billed_and_events(engine)
    with engine.begin() as connection:
        add_subscription(connection, chatgpt(), NOW)
    with engine.connect() as connection:
        total = spend(connection, SpendQuery(NOVEMBER)).total
        by_origin = {o: spend(connection, SpendQuery(NOVEMBER, origin=o)).total for o in Origin}
        by_provider = spend(connection, SpendQuery(NOVEMBER, (Dimension.PROVIDER,)))
        by_model = spend(connection, SpendQuery(NOVEMBER, (Dimension.MODEL,)))
        growth = spend(
            connection, SpendQuery(NOVEMBER, (), (Filter(Dimension.TEAM, ("growth",)),))
        ).total
        days = daily_series(connection, SpendQuery(NOVEMBER)).get((), {})
    # billed $20 wins over the $4 of events; the seats' $300 (Nov 1..30) is added once
    assert by_origin[Origin.SUBSCRIPTION] == Decimal(300)
    assert total == Decimal(20) + Decimal(300)
    assert [(r.keys, r.cost) for r in by_provider.rows] == [(("openai",), Decimal(320))]
    assert {r.keys[0]: r.cost for r in by_model.rows} == {
        "OpenAI ChatGPT Team": Decimal(300),
        "gpt-5": Decimal(20),
    }
    assert growth == Decimal(300)  # the billed lines have no team; the seats are growth's
    assert days[NOV_1] == Decimal(20)  # $10 billed + $10 of seats
    assert days[date(2026, 11, 30)] == Decimal(10)
    assert sum(days.values()) == total


def test_a_provider_with_only_subscriptions_is_counted(engine: Engine) -> None:
    with engine.begin() as connection:
        add_subscription(connection, chatgpt(vendor="Cursor", plan="Business"), NOW)
    with engine.connect() as connection:
        report = spend(connection, SpendQuery(NOVEMBER, (Dimension.PROVIDER,)))
    assert [(r.keys, r.cost) for r in report.rows] == [(("cursor",), Decimal(300))]


def test_spend_is_counted_through_today_and_rebuilt_not_added(engine: Engine) -> None:
    with engine.begin() as connection:
        added = add_subscription(connection, chatgpt(), datetime(2026, 11, 10, tzinfo=UTC))
    with engine.connect() as connection:
        assert spend(connection, SpendQuery(NOVEMBER)).total == Decimal(100)  # Nov 1..10
    with engine.begin() as connection:
        rebuild_subscription_spend(connection, date(2026, 11, 10))
        rebuild_subscription_spend(connection, date(2026, 11, 20))
    with engine.connect() as connection:
        assert spend(connection, SpendQuery(NOVEMBER)).total == Decimal(200)
    assert added.id is not None
    with engine.begin() as connection:  # cancelled: paid through the renewal on Dec 1
        edit_subscription(connection, added.id, {"ends_on": date(2026, 11, 15)}, NOW)
    with engine.connect() as connection:
        assert spend(connection, SpendQuery(NOVEMBER)).total == Decimal(140)
        rows = {
            m.__tablename__: connection.execute(
                select(func.count()).select_from(table_of(m))
            ).scalar_one()
            for m in (RollupDay, RollupDayCore)
        }
    assert rows == {"rollup_day": 14, "rollup_day_core": 14}


def test_api_spend_alone_leaves_the_subscriptions_out(engine: Engine) -> None:
    _seed_billed_and_events(engine)
    with engine.begin() as connection:
        add_subscription(connection, chatgpt(), NOW)
    with engine.connect() as connection:
        api = spend(connection, SpendQuery(NOVEMBER, subscriptions=False)).total
    assert api == Decimal(20)


def test_api_spend_alone_has_no_subscription_only_days(engine: Engine) -> None:
    with engine.begin() as connection:
        add_subscription(connection, chatgpt(vendor="Cursor", plan="Business"), NOW)
    with engine.connect() as connection:
        assert spend(connection, SpendQuery(NOVEMBER, subscriptions=False)).total == 0
        assert spend(connection, SpendQuery(NOVEMBER)).total == Decimal(300)
