"""Money is Decimal in Python and an integer count of 1e-10 USD in SQL.

Integers sum exactly on SQLite and PostgreSQL alike (SQLite has no decimal type), and ten
decimal places hold any per-request cost priced from per-million-token rates exactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SCALE = 10
UNITS_PER_USD = 10**SCALE
_QUANTUM = Decimal(1).scaleb(-SCALE)


def to_units(amount: Decimal) -> int:
    """Dollars to integer units of 1e-10 USD, rounding half to even past the tenth place."""
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {amount}")
    try:
        return int(amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN).scaleb(SCALE))
    except InvalidOperation as e:
        raise ValueError(f"amount out of range: {amount}") from e


def from_units(units: int) -> Decimal:
    """Integer units of 1e-10 USD back to dollars, exactly."""
    return Decimal(units).scaleb(-SCALE)


def parse_amount(text: str | int | float | Decimal) -> Decimal:
    """A money value from input; floats go through their shortest repr, never binary noise."""
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, bool):
        raise ValueError("a money amount cannot be true or false")
    elif isinstance(text, float):
        value = Decimal(repr(text))
    else:
        try:
            value = Decimal(str(text).strip())
        except InvalidOperation as e:
            raise ValueError(f"not a number: {text!r}") from e
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return value


def format_usd(amount: Decimal) -> str:
    """$1,234.56 for people; amounts under a cent show as <$0.01, never as $0.00."""
    if amount == 0:
        return "$0.00"
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    if magnitude < Decimal("0.01"):
        return f"{sign}<$0.01"
    return f"{sign}${magnitude.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"
