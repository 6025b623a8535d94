"""The subscription ledger in the store, and its spend in the rollups.

Every change to the ledger rebuilds the rollups' "subscription" origin in the same
transaction, through the day given (today): each entry's cycles spread over their days, under
provider = the vendor's provider id, model = vendor and plan, team = the entry's team.
Rebuilding the whole origin is exact and cheap (tens of entries, a few hundred days each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from bot.analysis.subscriptions import Cycle, Subscription, daily_units, shift
from bot.config import SubscriptionConfig
from bot.domain import Origin
from bot.errors import UsageError
from bot.store.models import RollupDay, RollupDayCore, SubscriptionRow, table_of
from bot.store.rollups import RollupSums, add_rollups

_TABLE = table_of(SubscriptionRow)
_ORIGIN = Origin.SUBSCRIPTION.value
EDITABLE = frozenset(
    {
        "vendor",
        "plan",
        "seats",
        "cost",
        "cycle",
        "renews_on",
        "started_on",
        "ends_on",
        "owner",
        "team",
        "purpose",
        "reviewed_on",
    }
)


def list_subscriptions(connection: Connection) -> list[Subscription]:
    """Every entry, ended ones included, by vendor and plan."""
    rows = connection.execute(select(_TABLE).order_by(_TABLE.c.vendor, _TABLE.c.plan, _TABLE.c.id))
    return [_from_row(r) for r in rows.mappings()]


def get_subscription(connection: Connection, sub_id: int) -> Subscription:
    row = connection.execute(select(_TABLE).where(_TABLE.c.id == sub_id)).mappings().first()
    if row is None:
        raise UsageError(f"no subscription {sub_id} (`aispend subs` lists them)")
    return _from_row(row)


def add_subscription(connection: Connection, sub: Subscription, now: datetime) -> Subscription:
    """Store a new entry and count its spend through today; returns it with its id."""
    values = _values(sub)
    result = connection.execute(insert(_TABLE).values(**values, updated_at=now))
    sub_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    rebuild_subscription_spend(connection, now.date())
    return replace(sub, id=sub_id)


def edit_subscription(
    connection: Connection, sub_id: int, changes: Mapping[str, Any], now: datetime
) -> Subscription:
    """Change some fields of an entry (its spend is counted again with the new values)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise UsageError(f"cannot change {', '.join(sorted(unknown))}")
    current = get_subscription(connection, sub_id)
    changed = replace(current, **changes)
    check(changed)
    connection.execute(
        update(_TABLE).where(_TABLE.c.id == sub_id).values(**_values(changed), updated_at=now)
    )
    rebuild_subscription_spend(connection, now.date())
    return changed


def delete_subscription(connection: Connection, sub_id: int, today: date) -> Subscription:
    """Erase an entry entered by mistake, and its spend."""
    current = get_subscription(connection, sub_id)
    connection.execute(delete(_TABLE).where(_TABLE.c.id == sub_id))
    rebuild_subscription_spend(connection, today)
    return current


def seed_subscriptions(
    connection: Connection, configs: Iterable[SubscriptionConfig], now: datetime
) -> list[Subscription]:
    """Add the aispend.toml entries the ledger does not hold yet (same vendor, plan and
    team); entries already there are left as the ledger has them. Returns those added."""
    held = {_identity(s) for s in list_subscriptions(connection)}
    added = []
    for config in configs:
        cycle = Cycle(config.cycle)
        entry = Subscription(
            vendor=config.vendor,
            plan=config.plan,
            cost=config.cost,
            cycle=cycle,
            renews_on=config.renews,
            started_on=config.started or shift(config.renews, cycle, -1),
            reviewed_on=now.date(),
            seats=config.seats,
            owner=config.owner,
            team=config.team,
            purpose=config.purpose,
        )
        if _identity(entry) not in held:
            added.append(add_subscription(connection, entry, now))
            held.add(_identity(entry))
    return added


def _identity(sub: Subscription) -> tuple[str, str, str]:
    return (sub.vendor.strip().lower(), sub.plan.strip().lower(), sub.team)


def check(sub: Subscription) -> None:
    """Refuse an entry that cannot be counted."""
    if not sub.vendor.strip() or not sub.plan.strip():
        raise UsageError("a subscription needs a vendor and a plan")
    if sub.cost < 0 or sub.seats < 0:
        raise UsageError("cost and seats must be zero or more")
    if sub.ends_on is not None and sub.ends_on <= sub.started_on:
        raise UsageError(f"it ends ({sub.ends_on}) on or before it starts ({sub.started_on})")


def rebuild_subscription_spend(connection: Connection, through: date) -> int:
    """Replace the rollups' subscription origin with the ledger's spend on every day up to
    and including `through`. Returns the number of (entry, day) amounts written."""
    for model in (RollupDay, RollupDayCore):
        table = table_of(model)
        connection.execute(delete(table).where(table.c.origin == _ORIGIN))
    sums = RollupSums()
    written = 0
    for sub in list_subscriptions(connection):
        for day, units in daily_units(sub, sub.started_on, through + timedelta(days=1)).items():
            key = (day, _ORIGIN, sub.provider, sub.label[:256], "", "", sub.team, "", "", "")
            sums.add(key, None, (units, 0, 0, 0, 0, 0, 0, 0))
            written += 1
    add_rollups(connection, sums)
    return written


def _values(sub: Subscription) -> dict[str, Any]:
    check(sub)
    return {
        "vendor": sub.vendor.strip(),
        "plan": sub.plan.strip(),
        "seats": sub.seats,
        "cost": sub.cost,
        "currency": "USD",
        "cycle": sub.cycle.value,
        "renews_on": sub.renews_on,
        "started_on": sub.started_on,
        "ends_on": sub.ends_on,
        "owner": sub.owner,
        "team": sub.team,
        "purpose": sub.purpose,
        "reviewed_on": sub.reviewed_on,
    }


def _from_row(row: Any) -> Subscription:
    return Subscription(
        vendor=row["vendor"],
        plan=row["plan"],
        cost=row["cost"],
        cycle=Cycle(row["cycle"]),
        renews_on=_day(row["renews_on"]),
        started_on=_day(row["started_on"]),
        reviewed_on=_day(row["reviewed_on"]),
        seats=row["seats"],
        owner=row["owner"],
        team=row["team"],
        purpose=row["purpose"],
        ends_on=None if row["ends_on"] is None else _day(row["ends_on"]),
        id=row["id"],
    )


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
