"""Prepaid credit snapshots: written as providers report them, read back as the latest
balance per source and currency. Kept apart from spend, so a top-up is never a cost."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain import CreditSnapshot
from bot.store.models import Credit, table_of

_TABLE = table_of(Credit)


def store_credit_snapshots(connection: Connection, snapshots: Sequence[CreditSnapshot]) -> int:
    """Upsert by (source, at, currency): reading the same balance twice stores it once."""
    if not snapshots:
        return 0
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "source": s.source,
            "provider": s.provider,
            "at": s.at,
            "balance": s.balance,
            "currency": s.currency,
            "purchased": s.purchased,
        }
        for s in snapshots
    ]
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "at", "currency"],
        set_={"balance": statement.excluded.balance, "purchased": statement.excluded.purchased},
    )
    connection.execute(statement, rows)
    return len(rows)


def latest_balances(connection: Connection) -> list[CreditSnapshot]:
    """The newest snapshot of each source and currency."""
    newest = (
        select(_TABLE.c.source, _TABLE.c.currency, func.max(_TABLE.c.at).label("at"))
        .group_by(_TABLE.c.source, _TABLE.c.currency)
        .subquery()
    )
    query = (
        select(_TABLE)
        .join(
            newest,
            (newest.c.source == _TABLE.c.source)
            & (newest.c.currency == _TABLE.c.currency)
            & (newest.c.at == _TABLE.c.at),
        )
        .order_by(_TABLE.c.source, _TABLE.c.currency)
    )
    return [
        CreditSnapshot(r.source, r.provider, r.at, r.balance, r.currency, r.purchased)
        for r in connection.execute(query)
    ]
