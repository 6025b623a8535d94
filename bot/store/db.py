"""Engines, sessions and migrations. One engine per process, built by the caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from bot.config import normalize_database_url
from bot.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout) or PostgreSQL (psycopg 3, UTC sessions)."""
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})


def _sqlite_engine(url: str) -> Engine:
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: engine.begin(), on SQLite holding the write lock from
    its first statement (BEGIN IMMEDIATE). A deferred transaction that reads and then writes
    fails at once with "database is locked" when another writer committed in between (the
    busy timeout does not apply to that upgrade); an immediate one waits its turn."""
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to `revision`."""
    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as e:
        raise StoreError(f"cannot migrate the store at {_safe_url(engine)}: {e.orig}") from e


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def require_current(engine: Engine) -> None:
    """Refuse to work on a store that is missing migrations, with the command that fixes it.
    A SQLite file that does not exist is not created by asking."""
    if _missing_sqlite_file(engine):
        raise StoreError(
            f"there is no store at {_safe_url(engine)}: run `aispend db upgrade` to create it, "
            "or set DATABASE_URL"
        )
    try:
        current = current_revision(engine)
    except OperationalError as e:
        raise StoreError(f"cannot open the store at {_safe_url(engine)}: {e.orig}") from e
    if current != head_revision():
        raise StoreError(
            f"the store at {_safe_url(engine)} is at revision {current or 'none'}, "
            f"not {head_revision()}: run `aispend db upgrade`"
        )


def _missing_sqlite_file(engine: Engine) -> bool:
    database = engine.url.database
    in_a_file = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
    return in_a_file and not Path(str(database)).exists()


def _safe_url(engine: Engine) -> str:
    """The URL with any password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)
