"""The leader lease: a row in `lease` naming which process may run the scheduled jobs, and
until when. Any number of `aispend run` processes may share a store; each tries to take or
renew the lease every RENEW seconds, and exactly one holds it at a time.

Taking and renewing is one atomic statement on both databases: an upsert whose update only
applies when the row is ours or has expired (`INSERT .. ON CONFLICT (name) DO UPDATE ..
WHERE holder = :me OR expires_at <= :now`). PostgreSQL locks the row and evaluates the WHERE
against the latest committed version, and SQLite runs one writer at a time, so two processes
can never both see themselves as holder. The holder is read back in the same transaction.

Time is each process's clock (`bot.clock`), so replicas' clocks must agree to well within the
TTL (NTP does that); a leader that dies stops renewing and another takes over once TTL has
passed, at most TTL + RENEW after its last renewal.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock
from bot.store.models import Lease, table_of

logger = logging.getLogger(__name__)

_TABLE = table_of(Lease)
LEADER = "scheduler"
TTL = 30.0  # seconds a lease lasts unless renewed
RENEW_SHARE = 3  # renewed every TTL / 3 seconds: two renewals may fail before it lapses


def new_holder_id() -> str:
    """This process's name in the lease: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def try_acquire(
    connection: Connection, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take the lease if it is free or expired, renew it if it is ours; whether we hold it."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE).values(
        name=name, holder=holder, acquired_at=now, expires_at=now + ttl
    )
    taken = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "holder": taken.holder,
            "expires_at": taken.expires_at,
            "acquired_at": case(
                (_TABLE.c.holder == taken.holder, _TABLE.c.acquired_at), else_=taken.acquired_at
            ),
        },
        where=or_(_TABLE.c.holder == holder, _TABLE.c.expires_at <= now),
    )
    connection.execute(statement)
    return current_holder(connection, name) == holder


def current_holder(connection: Connection, name: str) -> str | None:
    return connection.execute(
        select(_TABLE.c.holder).where(_TABLE.c.name == name)
    ).scalar_one_or_none()


def release(connection: Connection, name: str, holder: str, now: datetime) -> bool:
    """Give the lease up at once (on shutdown), so another process need not wait for it to
    expire; whether we held it."""
    result = connection.execute(
        update(_TABLE)
        .where(_TABLE.c.name == name, _TABLE.c.holder == holder)
        .values(expires_at=now)
    )
    return bool(result.rowcount)


@dataclass
class Leadership:
    """This process's side of the lease: `check()` takes or renews it (one transaction) and
    says whether we hold it; `start()` keeps doing so every TTL / RENEW_SHARE seconds in a
    thread. A failure to reach the store counts as not holding it."""

    engine: Engine
    clock: Clock
    ttl: float = TTL
    name: str = LEADER
    holder: str = field(default_factory=new_holder_id)
    on_change: Callable[[bool], None] | None = None
    _held: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def held(self) -> bool:
        """Whether the last check found us the holder."""
        return self._held

    def check(self) -> bool:
        with self._lock:
            if self._stop.is_set():  # stopping: never take it again
                return False
            try:
                with self.engine.begin() as connection:
                    held = try_acquire(
                        connection,
                        self.name,
                        self.holder,
                        self.clock.now(),
                        timedelta(seconds=self.ttl),
                    )
            except SQLAlchemyError as e:
                logger.warning("cannot renew the leader lease: %s", type(e).__name__)
                held = False
            self._note(held)
            return held

    def start(self) -> None:
        self.check()
        self._thread = threading.Thread(target=self._loop, name="aispend-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and give the lease up if we hold it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
        with self._lock:
            if not self._held:
                return
            try:
                with self.engine.begin() as connection:
                    release(connection, self.name, self.holder, self.clock.now())
            except SQLAlchemyError as e:
                logger.warning("could not release the leader lease: %s", type(e).__name__)
            self._note(False)

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / RENEW_SHARE):
            self.check()

    def _note(self, held: bool) -> None:
        if held != self._held:
            logger.info(
                "leader lease %s", "taken" if held else "lost", extra={"holder": self.holder}
            )
            self._held = held
            if self.on_change is not None:
                self.on_change(held)
