"""Prepaid runway: how many days a credit balance lasts at the provider's recent spend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from bot.domain import CreditSnapshot

RUN_RATE_DAYS = 7  # complete days the daily run rate averages over


@dataclass(frozen=True, slots=True)
class Runway:
    balance: CreditSnapshot
    daily_spend: Decimal  # USD per day over the last RUN_RATE_DAYS complete days
    days: Decimal | None  # whole days left; None when nothing is being spent or not in USD
    runs_out: date | None

    @property
    def comparable(self) -> bool:
        """Spend is kept in USD; a balance in another currency cannot be divided by it."""
        return self.balance.currency == "USD"


def runway(balance: CreditSnapshot, daily_costs: Sequence[Decimal], today: date) -> Runway:
    """The balance over the mean daily cost of the complete days given (missing days count as
    zero spend, so pass exactly RUN_RATE_DAYS values). Runs out on `today` + whole days left."""
    rate = sum(daily_costs, Decimal(0)) / len(daily_costs) if daily_costs else Decimal(0)
    if rate <= 0 or balance.currency != "USD":
        return Runway(balance, rate, None, None)
    days = max(Decimal(0), balance.balance / rate).to_integral_value(ROUND_FLOOR)
    return Runway(balance, rate, days, today + timedelta(days=int(days)))
