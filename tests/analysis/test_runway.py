"""Prepaid runway: the balance over the last week's mean daily spend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.analysis.runway import runway
from bot.domain import CreditSnapshot

TODAY = date(2026, 11, 22)
AT = datetime(2026, 11, 22, 9, tzinfo=UTC)


def _balance(amount: str, currency: str = "USD") -> CreditSnapshot:
    return CreditSnapshot("openrouter.credits", "openrouter", AT, Decimal(amount), currency)


def test_runway_is_whole_days_at_the_mean_daily_spend():
    week = [Decimal(10)] * 5 + [Decimal(0)] * 2  # weekends idle: $50 a week, $7.142857.../day
    r = runway(_balance("100"), week, TODAY)
    assert r.daily_spend == Decimal(50) / 7
    assert r.days == 14  # 100 / 7.142857 = 14.0000...
    assert r.runs_out == date(2026, 12, 6)


def test_a_balance_already_spent_runs_out_today():
    r = runway(_balance("-3.50"), [Decimal(1)] * 7, TODAY)
    assert (r.days, r.runs_out) == (Decimal(0), TODAY)


def test_no_spend_or_another_currency_has_no_runway():
    idle = runway(_balance("100"), [Decimal(0)] * 7, TODAY)
    assert (idle.days, idle.runs_out) == (None, None)
    yuan = runway(_balance("100", "CNY"), [Decimal(5)] * 7, TODAY)
    assert yuan.days is None
    assert not yuan.comparable
    assert yuan.daily_spend == 5
