from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.analysis.subscriptions import (
    Cycle,
    ReminderKind,
    Subscription,
    cycle_of,
    daily_units,
    due_reminders,
    next_renewal,
    shift,
    spread_units,
)
from bot.money import from_units, to_units
from tests.builders import subscription


def sub(**changes: object) -> Subscription:
    return subscription(**({"id": 1} | changes))


@given(st.integers(min_value=0, max_value=10**18), st.integers(min_value=1, max_value=400))
def test_spread_sums_exactly_and_differs_by_at_most_one_unit(units: int, days: int) -> None:
    amounts = spread_units(units, days)
    assert sum(amounts) == units
    assert len(amounts) == days
    assert max(amounts) - min(amounts) <= 1
    assert amounts == sorted(amounts, reverse=True)  # the remainder goes to the first days


amounts = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False)
anchors = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(amounts, anchors, st.sampled_from(list(Cycle)), st.integers(min_value=-30, max_value=30))
def test_every_cycle_sums_to_its_cost(cost: Decimal, anchor: date, cycle: Cycle, n: int) -> None:
    entry = sub(cost=cost, cycle=cycle, renews_on=anchor, started_on=date(1900, 1, 1))
    start, end = shift(anchor, cycle, n), shift(anchor, cycle, n + 1)
    days = daily_units(entry, start, end)
    assert sorted(days) == [start + timedelta(days=i) for i in range((end - start).days)]
    assert sum(days.values()) == to_units(cost)


def test_month_ends_clamp_without_drifting() -> None:
    anchor = date(2026, 1, 31)
    assert [shift(anchor, Cycle.MONTHLY, n) for n in range(4)] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert shift(date(2024, 2, 29), Cycle.ANNUAL, 1) == date(2025, 2, 28)
    march = cycle_of(sub(renews_on=anchor), date(2026, 3, 1))
    assert march == (date(2026, 2, 28), date(2026, 3, 31))


def test_a_thirty_day_cycle_splits_the_remainder_over_its_first_days() -> None:
    entry = sub(cost=Decimal("100"), renews_on=date(2026, 11, 1), started_on=date(2026, 11, 1))
    days = daily_units(entry, date(2026, 11, 1), date(2026, 12, 1))
    assert from_units(days[date(2026, 11, 1)]) == Decimal("3.3333333334")
    assert from_units(days[date(2026, 11, 30)]) == Decimal("3.3333333333")
    assert from_units(sum(days.values())) == Decimal(100)


def test_spend_counts_from_start_until_the_end() -> None:
    entry = sub(started_on=date(2026, 11, 20), ends_on=date(2026, 12, 15))
    days = daily_units(entry, date(2026, 11, 1), date(2027, 1, 31))
    assert min(days) == date(2026, 11, 20)
    assert max(days) == date(2026, 12, 14)
    # the first cycle (Nov 15..Dec 15) is only counted from the day it started
    assert len(days) == 25
    # 400 over 30 days: 13.3333333333 a day, the 10 units left over on Nov 15..24
    assert sum(days.values()) == 25 * 133_333_333_333 + 5


def test_next_renewal_rolls_forward_and_stops_when_ended() -> None:
    entry = sub(renews_on=date(2026, 10, 15))
    assert next_renewal(entry, date(2026, 12, 3)) == date(2026, 12, 15)
    assert next_renewal(entry, date(2026, 12, 15)) == date(2026, 12, 15)
    assert next_renewal(entry, date(2026, 12, 16)) == date(2027, 1, 15)
    ended = sub(ends_on=date(2026, 12, 15))
    assert next_renewal(ended, date(2026, 12, 3)) is None


@pytest.mark.parametrize(
    ("today", "notice"),
    [
        (date(2026, 11, 30), None),
        (date(2026, 12, 1), "14d"),
        (date(2026, 12, 11), "14d"),
        (date(2026, 12, 12), "3d"),
        (date(2026, 12, 15), "3d"),
    ],
)
def test_renewal_reminder_uses_the_nearest_notice(today: date, notice: str | None) -> None:
    found = [r for r in due_reminders([sub()], today) if r.kind is ReminderKind.RENEWAL]
    if notice is None:
        assert found == []
    else:
        assert [r.key for r in found] == [f"sub:1:renewal:2026-12-15:{notice}"]
        assert found[0].days_left == (date(2026, 12, 15) - today).days


def test_review_reminder_after_ninety_days_and_then_monthly() -> None:
    entry = sub(reviewed_on=date(2026, 8, 1), renews_on=date(2027, 6, 1), cycle=Cycle.ANNUAL)
    keys = {
        day: [r.key for r in due_reminders([entry], day)]
        for day in (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 29), date(2026, 11, 30))
    }
    assert keys[date(2026, 10, 30)] == []  # 90 days: not yet
    assert keys[date(2026, 10, 31)] == ["sub:1:review:2026-08-01:0"]
    assert keys[date(2026, 11, 29)] == ["sub:1:review:2026-08-01:0"]
    assert keys[date(2026, 11, 30)] == ["sub:1:review:2026-08-01:1"]
    reviewed = sub(reviewed_on=date(2026, 11, 29), renews_on=date(2027, 6, 1), cycle=Cycle.ANNUAL)
    assert due_reminders([reviewed], date(2026, 11, 30)) == []


def test_monthly_equivalent_and_provider() -> None:
    assert sub(cost=Decimal("1000"), cycle=Cycle.ANNUAL).monthly == Decimal("83.33")
    assert sub(vendor="OpenAI").provider == "openai"
    assert sub(vendor="GitHub Copilot").provider == "github-copilot"


def test_the_label_names_vendor_and_plan_once() -> None:
    assert sub(vendor="Cursor", plan="Business").label == "Cursor Business"
    assert sub(vendor="GitHub", plan="GitHub Copilot Business").label == "GitHub Copilot Business"
