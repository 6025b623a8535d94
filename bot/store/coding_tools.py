"""Coding tool usage per developer and day (Claude Code): stored beside spend, never in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import BigInteger, Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain import CodingToolDay, DateRange
from bot.money import from_units
from bot.store.models import CodingToolUsage, table_of

_TABLE = table_of(CodingToolUsage)
_KEY = ("tool", "day", "actor", "model")


def replace_coding_days(
    connection: Connection, tool: str, window: DateRange, days: Sequence[CodingToolDay]
) -> int:
    """The tool's rows for the window become exactly `days`: a restated day replaces."""
    table = _TABLE
    connection.execute(
        delete(table).where(
            table.c.tool == tool, table.c.day >= window.start, table.c.day < window.end
        )
    )
    rows = {tuple(getattr(d, k) for k in _KEY): asdict(d) for d in days if d.tool == tool}
    if not rows:
        return 0
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    replaced = {c: statement.excluded[c] for c in rows[next(iter(rows))] if c not in _KEY}
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(_KEY), set_=replaced),
        list(rows.values()),
    )
    return len(rows)


@dataclass(frozen=True, slots=True)
class DeveloperTotal:
    actor: str
    estimated_cost: Decimal
    tokens: int
    sessions: int
    lines_added: int
    pull_requests: int


def developer_totals(connection: Connection, tool: str, window: DateRange) -> list[DeveloperTotal]:
    """Each developer's totals over the window, costliest first."""
    t = _TABLE
    statement = (
        select(
            t.c.actor,
            func.sum(t.c.estimated_cost, type_=BigInteger),
            func.sum(t.c.tokens_in + t.c.tokens_out),
            func.sum(t.c.sessions),
            func.sum(t.c.lines_added),
            func.sum(t.c.pull_requests),
        )
        .where(t.c.tool == tool, t.c.day >= window.start, t.c.day < window.end)
        .group_by(t.c.actor)
    )
    totals = [
        DeveloperTotal(actor, from_units(int(cost)), int(tokens), int(s), int(lines), int(prs))
        for actor, cost, tokens, s, lines, prs in connection.execute(statement)
    ]
    return sorted(totals, key=lambda d: (-d.estimated_cost, d.actor))
