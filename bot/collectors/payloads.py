"""Validating a provider's JSON against the small pydantic shape a parser expects. A mismatch
names the provider, the report and the field, never the offending value."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import CollectorDataError

ShapeT = TypeVar("ShapeT", bound=BaseModel)


def validated(shape: type[ShapeT], payload: dict[str, Any], *, provider: str, what: str) -> ShapeT:
    try:
        return shape.model_validate(payload)
    except ValidationError as e:
        raise CollectorDataError(provider, f"{what}: {describe(e)}") from e


def describe(error: ValidationError) -> str:
    """The first problem's field path and pydantic's reason, and how many more there are."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = error.error_count() - 1
    return f"field {where!r}: {first['msg']}" + (f" (and {more} more)" if more else "")


def decimal_field(value: str, *, provider: str, where: str) -> Decimal:
    """A finite decimal from a provider's string, or an error naming the field."""
    try:
        amount = Decimal(value)
    except InvalidOperation as e:
        raise CollectorDataError(provider, f"{where} {value!r} is not a number") from e
    if not amount.is_finite():
        raise CollectorDataError(provider, f"{where} {value!r} is not finite")
    return amount
