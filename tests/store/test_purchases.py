"""Prepaid credit bought by hand: stored apart from spend, and for a provider that reports no
balance, a balance estimate (bought less spent since) with its runway at the last week's API
spend; seats in the subscription ledger are not paid from credit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from bot.analysis.runway import Purchase, purchased_balance
from bot.analysis.subscriptions import Cycle, Subscription
from bot.answers import runways
from bot.domain import CreditSnapshot, DateRange, SpendQuery
from bot.store.credits import store_credit_snapshots
from bot.store.purchases import list_purchases, record_purchase
from bot.store.queries import spend
from bot.store.subscriptions import add_subscription
from tests.builders import at, line, write_lines

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 8, tzinfo=UTC)


def _together_spend(engine: Engine) -> None:
    """$5 a day of Together billed from Nov 1 through Nov 19 ($95)."""
    write_lines(
        engine,
        [
            line(
                source="csv:together",
                provider="together",
                model="llama",
                bucket_start=at(date(2026, 11, 1) + timedelta(days=n), 0),
                cost=Decimal(5),
            )
            for n in range(19)
        ],
    )


def test_purchases_are_kept_apart_from_spend(engine: Engine) -> None:
    with engine.begin() as connection:
        first = record_purchase(
            connection, Purchase("together", date(2026, 11, 1), Decimal(100)), NOW
        )
        record_purchase(
            connection, Purchase("together", date(2026, 11, 10), Decimal(50), note="x"), NOW
        )
    with engine.connect() as connection:
        bought = list_purchases(connection)
        total = spend(connection, SpendQuery(DateRange(date(2026, 11, 1), TODAY))).total
    assert first.id is not None
    assert [(p.bought_on, p.amount, p.note) for p in bought] == [
        (date(2026, 11, 1), Decimal(100), ""),
        (date(2026, 11, 10), Decimal(50), "x"),
    ]
    assert total == 0


def test_a_balance_is_estimated_from_purchases_less_spend_with_its_runway(engine: Engine) -> None:
    _together_spend(engine)
    with engine.begin() as connection:
        record_purchase(connection, Purchase("together", date(2026, 11, 1), Decimal(100)), NOW)
        record_purchase(connection, Purchase("together", date(2026, 11, 10), Decimal(50)), NOW)
        # seats billed by a vendor the credit does not pay for: not in the run rate
        add_subscription(
            connection,
            Subscription(
                vendor="Together",
                plan="Enterprise seats",
                cost=Decimal(3000),
                cycle=Cycle.MONTHLY,
                renews_on=date(2026, 12, 1),
                started_on=date(2026, 11, 1),
                reviewed_on=date(2026, 11, 1),
            ),
            NOW,
        )
    with engine.connect() as connection:
        [found] = runways(connection, TODAY)
    assert found.balance.source == "together (bought - spent)"
    assert found.balance.balance == Decimal(150 - 95)
    assert found.balance.purchased == Decimal(150)
    assert found.daily_spend == Decimal(5)
    assert found.days == 11
    assert found.runs_out == date(2026, 12, 1)


def test_a_reported_balance_wins_over_an_estimate(engine: Engine) -> None:
    _together_spend(engine)
    with engine.begin() as connection:
        record_purchase(connection, Purchase("together", date(2026, 11, 1), Decimal(100)), NOW)
        store_credit_snapshots(
            connection, [CreditSnapshot("together.balance", "together", NOW, Decimal(40))]
        )
    with engine.connect() as connection:
        [found] = runways(connection, TODAY)
    assert (found.balance.source, found.balance.balance) == ("together.balance", Decimal(40))
    assert found.days == 8


def test_the_estimate_counts_spend_from_the_first_purchase_only() -> None:
    spent = {date(2026, 10, 31): Decimal(7), date(2026, 11, 1): Decimal(3)}
    purchases = [
        Purchase("groq", date(2026, 11, 1), Decimal(10)),
        Purchase("groq", date(2026, 11, 1), Decimal(5), currency="EUR"),  # not comparable
        Purchase("mistral", date(2026, 10, 1), Decimal(99)),
    ]
    estimate = purchased_balance("groq", purchases, spent, date(2026, 11, 2))
    assert estimate is not None
    assert estimate.balance == Decimal(7)
    assert purchased_balance("together", purchases, spent, date(2026, 11, 2)) is None
