"""Display names for provider ids (projects, workspaces, api keys): written by collectors,
read when answers are rendered, so people see "search-backend" rather than "proj_9Xk2"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain import DisplayName
from bot.store.models import DisplayNameRow, table_of

_TABLE = table_of(DisplayNameRow)

NameBook = Mapping[tuple[str, str], str]  # (kind, id) -> name


def store_names(connection: Connection, names: Sequence[DisplayName], seen_at: datetime) -> int:
    """Upsert by (provider, kind, id): a renamed project shows its new name from now on."""
    if not names:
        return 0
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = {
        (n.provider, n.kind, n.id): {
            "provider": n.provider,
            "kind": n.kind,
            "id": n.id,
            "name": n.name,
            "seen_at": seen_at,
        }
        for n in names
    }
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=["provider", "kind", "id"],
        set_={"name": statement.excluded.name, "seen_at": statement.excluded.seen_at},
    )
    connection.execute(statement, list(rows.values()))
    return len(rows)


def load_names(connection: Connection) -> dict[tuple[str, str], str]:
    """Every known name by (kind, id). Provider ids carry their provider's prefix (proj_,
    wrkspc_, key_, apikey_), so one id never means two things."""
    rows = connection.execute(select(_TABLE.c.kind, _TABLE.c.id, _TABLE.c.name))
    return {(kind, id_): name for kind, id_, name in rows}


def name_of(connection: Connection, provider: str, identifier: str) -> str | None:
    """The name the provider gives one of its ids, if known."""
    row = connection.execute(
        select(_TABLE.c.name)
        .where((_TABLE.c.provider == provider) & (_TABLE.c.id == identifier))
        .order_by(_TABLE.c.kind)
        .limit(1)
    ).first()
    return None if row is None else str(row[0])
