from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.errors import StoreError
from bot.store.db import current_revision, head_revision, make_engine, require_current, upgrade


def test_migrations_build_exactly_the_tables_the_models_declare(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert current_revision(engine) == head_revision()


def test_require_current_names_the_command_that_fixes_an_unmigrated_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/new.db")
    with pytest.raises(StoreError, match="aispend db upgrade"):
        require_current(engine)
    upgrade(engine)
    require_current(engine)
    upgrade(engine)  # a second upgrade is a no-op
    assert current_revision(engine) == head_revision()


def test_sqlite_store_uses_write_ahead_logging(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
