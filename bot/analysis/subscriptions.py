"""Seats and plans (ChatGPT, Claude, Cursor, Copilot, AI add-ons): their billing cycles, their
cost spread over the days of each cycle, and which of them need a reminder. Pure.

A subscription's cycles are anchored at its renewal date: a monthly plan renewing on the 31st
renews on the last day of shorter months and on the 31st again after them. Each cycle's cost
is spread over its days in whole 1e-10 USD units, so the days of a cycle sum to its cost
exactly; the units that do not divide evenly go one each to the cycle's first days.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from bot.money import to_units
from bot.providers import resolve_provider

RENEWAL_NOTICE_DAYS = (14, 3)  # remind this many days before a renewal, once each
REVIEW_AFTER_DAYS = 90  # an entry nobody reviewed for longer than this gets a reminder
REVIEW_REPEAT_DAYS = 30  # and another every this many days until someone does
PROVIDER_CHARS = 32  # the store's provider column


class Cycle(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is Cycle.MONTHLY else 12


@dataclass(frozen=True, slots=True)
class Subscription:
    """One ledger entry. `cost` is what one cycle costs for all seats, in USD; spend is
    counted from `started_on` until `ends_on` (exclusive) or, while it runs, on and on."""

    vendor: str
    plan: str
    cost: Decimal
    cycle: Cycle
    renews_on: date
    started_on: date
    reviewed_on: date
    seats: int = 1
    owner: str = ""
    team: str = ""
    purpose: str = ""
    ends_on: date | None = None
    id: int | None = None

    @property
    def provider(self) -> str:
        """The provider id its spend is counted under: a known provider's id (ChatGPT seats
        from "OpenAI" count under openai), else the vendor's name in lower case."""
        return provider_of(self.vendor)

    @property
    def label(self) -> str:
        """What it is called in spend by model: "Cursor Business", "GitHub Copilot"."""
        vendor, plan = self.vendor.strip(), self.plan.strip()
        return plan if plan.lower().startswith(vendor.lower()) else f"{vendor} {plan}"

    @property
    def monthly(self) -> Decimal:
        """What it costs a month, to the cent (an annual plan's cost over twelve)."""
        return (self.cost / self.cycle.months).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def provider_of(vendor: str) -> str:
    known = resolve_provider(vendor)
    if known is not None:
        return known
    slug = re.sub(r"[^a-z0-9]+", "-", vendor.strip().lower()).strip("-")
    return slug[:PROVIDER_CHARS] or "subscription"


def shift(anchor: date, cycle: Cycle, n: int) -> date:
    """The anchor moved by n cycles, the day clamped to the month's length."""
    months = anchor.year * 12 + anchor.month - 1 + n * cycle.months
    year, month = divmod(months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor.day, last))


def cycle_index(anchor: date, cycle: Cycle, day: date) -> int:
    """n such that shift(anchor, n) <= day < shift(anchor, n + 1)."""
    n = ((day.year - anchor.year) * 12 + day.month - anchor.month) // cycle.months
    while shift(anchor, cycle, n) > day:
        n -= 1
    while shift(anchor, cycle, n + 1) <= day:
        n += 1
    return n


def cycle_of(sub: Subscription, day: date) -> tuple[date, date]:
    """The [start, end) of the cycle `day` falls in."""
    n = cycle_index(sub.renews_on, sub.cycle, day)
    return shift(sub.renews_on, sub.cycle, n), shift(sub.renews_on, sub.cycle, n + 1)


def next_renewal(sub: Subscription, today: date) -> date | None:
    """The renewal date entered while it is ahead, then each cycle after it: the first on
    or after today. None once the entry has ended by then."""
    if sub.renews_on >= today:
        renewal = sub.renews_on  # the date as entered, however far ahead
    else:
        n = cycle_index(sub.renews_on, sub.cycle, today)
        start = shift(sub.renews_on, sub.cycle, n)
        renewal = start if start == today else shift(sub.renews_on, sub.cycle, n + 1)
    if sub.ends_on is not None and renewal >= sub.ends_on:
        return None
    return renewal


def spread_units(units: int, days: int) -> list[int]:
    """`units` over `days` days, as equal as whole units allow; the remainder goes one unit
    each to the first days. Sums to `units` exactly."""
    if days <= 0:
        raise ValueError(f"a cycle needs at least one day, got {days}")
    base, extra = divmod(units, days)
    return [base + 1 if i < extra else base for i in range(days)]


def daily_units(sub: Subscription, first: date, end: date) -> dict[date, int]:
    """The subscription's cost on each day of [first, end) that it runs, in 1e-10 USD."""
    start = max(first, sub.started_on)
    stop = min(end, sub.ends_on) if sub.ends_on is not None else end
    units = to_units(sub.cost)
    found: dict[date, int] = {}
    day = start
    while day < stop:
        begin, finish = cycle_of(sub, day)
        amounts = spread_units(units, (finish - begin).days)
        for offset in range((day - begin).days, (min(finish, stop) - begin).days):
            found[begin + timedelta(days=offset)] = amounts[offset]
        day = finish
    return found


class ReminderKind(StrEnum):
    RENEWAL = "renewal"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder to post once: `key` is its idempotency key."""

    kind: ReminderKind
    subscription: Subscription
    key: str
    renews_on: date | None = None  # renewal reminders
    days_left: int = 0  # renewal: days until it renews; review: days since the last review


def due_reminders(subs: Iterable[Subscription], today: date) -> list[Reminder]:
    """Renewals within RENEWAL_NOTICE_DAYS (one reminder per notice: the nearest notice a
    renewal is within, so a late first run does not post both), and entries not reviewed for
    more than REVIEW_AFTER_DAYS (again every REVIEW_REPEAT_DAYS while nobody reviews)."""
    found: list[Reminder] = []
    for sub in subs:
        found.extend(_renewal(sub, today))
        found.extend(_review(sub, today))
    return found


def _renewal(sub: Subscription, today: date) -> Iterator[Reminder]:
    renewal = next_renewal(sub, today)
    if renewal is None or sub.id is None:
        return
    left = (renewal - today).days
    within = [n for n in RENEWAL_NOTICE_DAYS if left <= n]
    if within:
        notice = min(within)
        key = f"sub:{sub.id}:renewal:{renewal.isoformat()}:{notice}d"
        yield Reminder(ReminderKind.RENEWAL, sub, key, renewal, left)


def _review(sub: Subscription, today: date) -> Iterator[Reminder]:
    if sub.id is None or (sub.ends_on is not None and sub.ends_on <= today):
        return
    since = (today - sub.reviewed_on).days
    if since > REVIEW_AFTER_DAYS:
        round_ = (since - REVIEW_AFTER_DAYS - 1) // REVIEW_REPEAT_DAYS
        key = f"sub:{sub.id}:review:{sub.reviewed_on.isoformat()}:{round_}"
        yield Reminder(ReminderKind.REVIEW, sub, key, days_left=since)


def monthly_total(subs: Sequence[Subscription], today: date) -> Decimal:
    """What the running subscriptions cost a month."""
    return sum((s.monthly for s in subs if s.ends_on is None or s.ends_on > today), Decimal(0))
