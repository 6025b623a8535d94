"""The Slack outbox: every message the bot sends is written here first, in the same
transaction as the change that caused it, then delivered by the notifier. Enqueuing the same
key twice is a no-op, so a job that runs again never posts twice."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.models import OutboxItem, table_of

_TABLE = table_of(OutboxItem)
PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send. kind: "post" (a new message), "reply" (in the thread of the message
    enqueued as `thread_key`), "update" (rewrite that message), "upload" (a file in the
    thread of `thread_key`, or the channel)."""

    key: str
    kind: str
    channel: str
    payload: Mapping[str, Any]
    thread_key: str = ""


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    key: str
    kind: str
    channel: str
    thread_key: str
    payload: dict[str, Any]
    attempts: int
    ambiguous: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivered:
    channel_id: str
    ts: str


def enqueue(connection: Connection, items: Sequence[Outgoing], at: datetime) -> int:
    """Queue the items; a key already queued (sent or not) is left as it is. Returns how
    many were new."""
    if not items:
        return 0
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    before = _count(connection)
    rows = [
        {
            "key": item.key,
            "kind": item.kind,
            "channel": item.channel,
            "thread_key": item.thread_key,
            "payload": json.dumps(item.payload, separators=(",", ":"), default=str),
            "status": PENDING,
            "attempts": 0,
            "ambiguous": False,
            "next_attempt_at": at,
            "last_error": "",
            "created_at": at,
            "channel_id": "",
            "ts": "",
        }
        for item in items
    ]
    connection.execute(insert(_TABLE).on_conflict_do_nothing(index_elements=["key"]), rows)
    return _count(connection) - before


def _count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(_TABLE)).scalar_one())


def due(connection: Connection, now: datetime, limit: int = 500) -> list[Queued]:
    """Pending items, oldest first (the order they must go out in)."""
    rows = connection.execute(
        select(_TABLE)
        .where(_TABLE.c.status == PENDING, _TABLE.c.next_attempt_at <= now)
        .order_by(_TABLE.c.id)
        .limit(limit)
    ).mappings()
    return [
        Queued(
            r["id"],
            r["key"],
            r["kind"],
            r["channel"],
            r["thread_key"],
            json.loads(r["payload"]),
            r["attempts"],
            r["ambiguous"],
            r["created_at"],
        )
        for r in rows
    ]


def waiting_keys(connection: Connection) -> set[str]:
    """Keys of every pending item, due or not: a thread with one of these must wait."""
    rows = connection.execute(select(_TABLE.c.key).where(_TABLE.c.status == PENDING))
    return {key for (key,) in rows}


def delivered(connection: Connection, keys: Sequence[str]) -> dict[str, Delivered | None]:
    """Where each key's message went: Delivered once sent, None while pending, absent when
    the key was never queued or failed for good."""
    rows = connection.execute(
        select(_TABLE.c.key, _TABLE.c.status, _TABLE.c.channel_id, _TABLE.c.ts).where(
            _TABLE.c.key.in_(list(keys)), _TABLE.c.status != FAILED
        )
    )
    return {
        key: Delivered(channel_id, ts) if status == SENT else None
        for key, status, channel_id, ts in rows
    }


def mark_sent(connection: Connection, item_id: int, sent: Delivered, at: datetime) -> None:
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.id == item_id)
        .values(
            status=SENT,
            sent_at=at,
            channel_id=sent.channel_id,
            ts=sent.ts,
            attempts=_TABLE.c.attempts + 1,
            ambiguous=False,
            last_error="",
        )
    )


def mark_retry(
    connection: Connection, item_id: int, error: str, retry_at: datetime, *, ambiguous: bool
) -> None:
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.id == item_id)
        .values(
            attempts=_TABLE.c.attempts + 1,
            next_attempt_at=retry_at,
            last_error=error,
            ambiguous=ambiguous,
        )
    )


def claim(
    connection: Connection, item_id: int, now: datetime, until: datetime, *, ambiguous: bool
) -> bool:
    """Take a due item for one send: it is not due again before `until`, so no other pass (in
    this process or another) sends it meanwhile; a sender that dies leaves it to be taken
    again after `until`. Whether we got it (False: another pass took it first)."""
    result = connection.execute(
        update(_TABLE)
        .where(_TABLE.c.id == item_id, _TABLE.c.status == PENDING)
        .where(_TABLE.c.next_attempt_at <= now)
        .values(next_attempt_at=until, ambiguous=ambiguous)
    )
    return bool(result.rowcount)


def held_threads(connection: Connection, now: datetime) -> set[str]:
    """Threads (a reply's root key, else the item's own key) with a pending item that is not
    due yet (waiting to be retried, or being sent by another pass): nothing later in them may
    go out before it."""
    rows = connection.execute(
        select(_TABLE.c.key, _TABLE.c.thread_key).where(
            _TABLE.c.status == PENDING, _TABLE.c.next_attempt_at > now
        )
    )
    return {thread_key or key for key, thread_key in rows}


def known_channel_id(connection: Connection, channel: str) -> str | None:
    """The id Slack answered with for an earlier message sent to `channel` (a name)."""
    return connection.execute(
        select(_TABLE.c.channel_id)
        .where(_TABLE.c.channel == channel, _TABLE.c.status == SENT, _TABLE.c.channel_id != "")
        .limit(1)
    ).scalar_one_or_none()


def mark_failed(connection: Connection, item_id: int, error: str) -> None:
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.id == item_id)
        .values(status=FAILED, attempts=_TABLE.c.attempts + 1, last_error=error)
    )


def depth(connection: Connection) -> dict[str, int]:
    """How many items are in each status: the outbox depth for /metrics and status."""
    rows = connection.execute(select(_TABLE.c.status, func.count()).group_by(_TABLE.c.status))
    return {status: int(n) for status, n in rows}


def queued_keys(connection: Connection, keys: Sequence[str]) -> set[str]:
    """Which of these keys were ever queued, whatever became of them (pending, sent or
    failed): a job that must say something once asks before it gathers the figures."""
    if not keys:
        return set()
    rows = connection.execute(select(_TABLE.c.key).where(_TABLE.c.key.in_(list(keys))))
    return {str(key) for (key,) in rows}
