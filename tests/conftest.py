"""Shared fixtures: a clean environment, and migrated stores on SQLite and PostgreSQL.

The PostgreSQL store lives in a database created for this run and dropped after it. Under
CI=true a missing server fails the run; elsewhere the PostgreSQL half is skipped, loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from bot.store.db import make_engine, upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "AISPEND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_ENV_TO_CLEAR = (
    "DATABASE_URL",
    "AISPEND_CONFIG",
    "LOG_LEVEL",
    "AISPEND_SECRET_KEY",
    "OPENAI_ADMIN_KEY",
    "ANTHROPIC_ADMIN_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "BEDROCK_ACCESS_KEY_ID",
    "BEDROCK_SECRET_ACCESS_KEY",
    "BEDROCK_COST_EXPLORER_URL",
    "BEDROCK_CLOUDWATCH_REGIONS",
    "BEDROCK_CLOUDWATCH_URL",
    "BEDROCK_MODELS_REGION",
    "BEDROCK_MODELS_URL",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CE",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "GOOGLE_BILLING_TABLE",
    "GOOGLE_CREDENTIALS_FILE",
    "GOOGLE_BIGQUERY_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"aispend_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {e.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    names = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated, empty store on each database."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "aispend.db"
        sqlite_engine = make_engine(f"sqlite:///{path}")
        upgrade(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    pg: Engine = request.getfixturevalue("postgres_engine")
    _empty_all_tables(pg)
    yield pg
