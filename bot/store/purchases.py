"""Prepaid credit bought, recorded by hand (`aispend credits add`). Kept apart from spend and
from balance snapshots: a purchase is never a cost, and it only moves a balance estimate."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, insert, select

from bot.analysis.runway import Purchase
from bot.store.models import CreditPurchase, table_of

_TABLE = table_of(CreditPurchase)


def record_purchase(connection: Connection, purchase: Purchase, now: datetime) -> Purchase:
    """Store one purchase (recording it twice records two purchases)."""
    result = connection.execute(
        insert(_TABLE).values(
            provider=purchase.provider,
            bought_on=purchase.bought_on,
            amount=purchase.amount,
            currency=purchase.currency,
            note=purchase.note,
            recorded_at=now,
        )
    )
    return Purchase(
        purchase.provider,
        purchase.bought_on,
        purchase.amount,
        purchase.currency,
        purchase.note,
        int(result.inserted_primary_key[0]),  # type: ignore[index]
    )


def list_purchases(connection: Connection) -> list[Purchase]:
    """Every purchase, oldest first."""
    rows = connection.execute(select(_TABLE).order_by(_TABLE.c.bought_on, _TABLE.c.id))
    return [
        Purchase(
            r.provider,
            r.bought_on if isinstance(r.bought_on, date) else date.fromisoformat(r.bought_on),
            r.amount,
            r.currency,
            r.note,
            r.id,
        )
        for r in rows
    ]
