"""Api keys aispend switched off (paused) or back on at their provider: appended one row per
switch, read back as each key's newest state."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, RowMapping, func, insert, select

from bot.domain import KeySwitch
from bot.store.models import KeySwitchRow, table_of

_TABLE = table_of(KeySwitchRow)

KeyId = tuple[str, str]  # (provider, api_key)


def record_switch(connection: Connection, switch: KeySwitch) -> None:
    connection.execute(
        insert(_TABLE).values(
            provider=switch.provider,
            api_key=switch.api_key,
            active=switch.active,
            by=switch.by,
            at=switch.at,
            incident_id=switch.incident_id,
        )
    )


def latest_switches(
    connection: Connection, keys: Iterable[KeyId] | None = None
) -> dict[KeyId, KeySwitch]:
    """The newest switch of each key (of `keys`, or of every key ever switched)."""
    newest = select(func.max(_TABLE.c.id).label("id")).group_by(_TABLE.c.provider, _TABLE.c.api_key)
    wanted = None if keys is None else set(keys)
    if wanted is not None:
        if not wanted:
            return {}
        newest = newest.where(_TABLE.c.api_key.in_(sorted({key for _, key in wanted})))
    rows = connection.execute(select(_TABLE).where(_TABLE.c.id.in_(newest.scalar_subquery())))
    found = {(row["provider"], row["api_key"]): _switch(row) for row in rows.mappings()}
    return found if wanted is None else {k: v for k, v in found.items() if k in wanted}


def paused_keys(connection: Connection) -> list[KeySwitch]:
    """Keys aispend switched off and has not switched back on, oldest first."""
    return sorted(
        (s for s in latest_switches(connection).values() if not s.active), key=lambda s: s.at
    )


def _switch(row: RowMapping) -> KeySwitch:
    return KeySwitch(
        row["provider"], row["api_key"], row["active"], row["by"], row["at"], row["incident_id"]
    )
