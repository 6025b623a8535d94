"""Column types that keep money exact and times aware UTC on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from bot.money import from_units, to_units


class Money(TypeDecorator[Decimal]):
    """Decimal dollars stored as a BIGINT count of 1e-10 USD."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:  # noqa: ARG002 (fixed signature)
        return None if value is None else to_units(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:  # noqa: ARG002
        return None if value is None else from_units(int(value))


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; times must be aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bind_datetime(dialect_name: str) -> Callable[[datetime], object]:
    """The fast path's binder for aware datetimes: the exact text SQLAlchemy stores on SQLite
    (so SQL comparisons and reads agree), the aware value itself on PostgreSQL."""
    if dialect_name == "sqlite":
        return _sqlite_text
    return _as_utc


def _sqlite_text(value: datetime) -> str:
    if value.tzinfo is UTC:  # the common case, and the fast one
        return value.isoformat(" ", "microseconds")[:26]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
