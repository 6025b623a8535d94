"""Reading collector_state: how fresh each source is and what last went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from bot.store.models import CollectorState, table_of


@dataclass(frozen=True, slots=True)
class SourceState:
    source: str
    last_success: datetime | None
    last_attempt: datetime | None
    complete_through: datetime | None
    last_error: str
    consecutive_failures: int


def list_source_states(connection: Connection) -> list[SourceState]:
    table = table_of(CollectorState)
    rows = connection.execute(select(table).order_by(table.c.source)).mappings()
    return [
        SourceState(
            row["source"],
            row["last_success"],
            row["last_attempt"],
            row["complete_through"],
            row["last_error"],
            row["consecutive_failures"],
        )
        for row in rows
    ]
