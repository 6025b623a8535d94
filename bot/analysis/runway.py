"""Prepaid runway: how many days a credit balance lasts at the provider's recent spend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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


@dataclass(frozen=True, slots=True)
class Purchase:
    """Prepaid credit bought on a day, recorded by hand; never spend."""

    provider: str
    bought_on: date
    amount: Decimal
    currency: str = "USD"
    note: str = ""
    id: int | None = None


PURCHASED_SOURCE = "{provider} (bought - spent)"


def purchased_balance(
    provider: str,
    purchases: Sequence[Purchase],
    spent: Mapping[date, Decimal],
    today: date,
) -> CreditSnapshot | None:
    """For a provider that reports no balance: what was bought, less its spend on every day
    from the first purchase through today. None without USD purchases for it."""
    bought = [p for p in purchases if p.provider == provider and p.currency == "USD"]
    if not bought:
        return None
    first = min(p.bought_on for p in bought)
    used = sum((c for d, c in spent.items() if first <= d <= today), Decimal(0))
    total = sum((p.amount for p in bought), Decimal(0))
    at = datetime.combine(today, time(0), UTC)
    source = PURCHASED_SOURCE.format(provider=provider)
    return CreditSnapshot(source, provider, at, total - used, "USD", total)
