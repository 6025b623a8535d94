"""CSV exports from providers' dashboards (Mistral, Groq, Together, Fireworks, Cursor, ...),
read through a column mapping from aispend.toml into daily cost lines.

Rows are summed per day and natural key (a dashboard may list a day in several rows), so the
lines are upserted under source "csv:SOURCE": importing the same file again stores the same
values, and a later export of the same days replaces them. Rows with a cost are billed; rows
with only tokens are priced at list price by the store and marked estimated. Every bad row is
reported with its line number and reason; the good rows are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import BinaryIO

from bot.clock import utc_midnight
from bot.config import ImportConfig
from bot.domain import CostLine
from bot.errors import InputError
from bot.ingest.readers import csv_rows
from bot.money import parse_amount
from bot.providers import resolve_provider

MAX_ROWS = 1_000_000  # a dashboard export is days x models; more is not one
_THOUSANDS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")
_SYMBOLS = str.maketrans("", "", "$€£ \u00a0")
_DIMENSIONS = ("model", "project", "api_key", "line_item")


def source_name(config: ImportConfig) -> str:
    return f"csv:{config.source}"


@dataclass
class _Sum:
    cost: Decimal | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    requests: int = 0
    rows: int = 0


@dataclass
class ImportResult:
    """What a file holds under its mapping: the lines to store and the bad rows."""

    lines: list[CostLine] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    rows: int = 0  # data rows read, good and bad


def read_import(
    stream: BinaryIO, config: ImportConfig, on_bad: Callable[[int, str], None] | None = None
) -> ImportResult:
    """Every row of the CSV under `config`, summed into one line per day and key."""
    result = ImportResult()
    rows = csv_rows(stream)
    start, header, problem = next(rows, (0, [], None))
    names = [h.strip() for h in header]
    error = (problem or _header_error(names, config)) if start else "the file is empty"
    if error:
        _bad(result, on_bad, start or 1, error)
        return result
    index = {name.lower(): i for i, name in enumerate(names)}
    sums: dict[tuple[datetime, str, str, str, str], _Sum] = {}
    for start, cells, problem in rows:
        result.rows += 1
        if result.rows > MAX_ROWS:
            _bad(result, on_bad, start, f"more than {MAX_ROWS:,} rows; split the file")
            break
        try:
            if problem:
                raise InputError(problem)
            if len(cells) != len(names):
                raise InputError(f"expected {len(names)} cells as in the header, got {len(cells)}")
            _add(sums, _Row(config, index, cells))
        except InputError as e:
            _bad(result, on_bad, start, str(e))
    provider = resolve_provider(config.provider) or config.provider
    result.lines = [
        CostLine(
            source=source_name(config),
            provider=provider,
            bucket_start=day,
            model=model,
            project=project,
            api_key=api_key,
            line_item=line_item,
            tokens_in=s.tokens_in,
            tokens_out=s.tokens_out,
            requests=s.requests,
            cost=s.cost,
        )
        for (day, model, project, api_key, line_item), s in sorted(sums.items())
    ]
    return result


def _bad(
    result: ImportResult, on_bad: Callable[[int, str], None] | None, line: int, reason: str
) -> None:
    result.bad.append((line, reason))
    if on_bad is not None:
        on_bad(line, reason)


def _header_error(names: list[str], config: ImportConfig) -> str | None:
    lowered = {n.lower() for n in names}
    mapped = [
        getattr(config, f)
        for f in ("date", "cost", "currency", *_DIMENSIONS, "tokens_in", "tokens_out", "requests")
    ]
    missing = [f'"{c}"' for c in mapped if c and c.lower() not in lowered]
    if missing:
        return f"the header has no {', '.join(missing)} column (mapping {config.source!r})"
    return None


class _Row:
    """One CSV row read through the mapping; each accessor raises InputError naming the
    column and the value."""

    def __init__(self, config: ImportConfig, index: dict[str, int], cells: list[str]) -> None:
        self.config, self.index, self.cells = config, index, cells

    def text(self, name: str) -> str:
        column = getattr(self.config, name)
        if column:
            return self.cells[self.index[column.lower()]].strip()
        return self.config.constants.get(name, "")

    def day(self) -> datetime:
        raw = self.text("date")
        if not raw:
            raise InputError(f'"{self.config.date}" is empty')
        try:
            if self.config.date_format:
                moment = datetime.strptime(raw, self.config.date_format)  # noqa: DTZ007 (a naive day is a UTC day)
            else:
                moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            wanted = self.config.date_format or "ISO 8601 (2026-11-03)"
            raise InputError(f'"{self.config.date}" is not a date like {wanted}: {raw!r}') from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        if not 2000 <= moment.year <= 2100:
            raise InputError(f'"{self.config.date}" year must be between 2000 and 2100: {raw!r}')
        return utc_midnight(moment.date())

    def cost(self) -> Decimal | None:
        if not self.config.cost:
            return None
        raw = self.text("cost")
        amount = _amount(raw, self.config.cost)
        currency = (self.text("currency") or "USD").upper()
        if currency == "USD":
            return amount
        rate = self.config.usd_rates.get(currency)
        if rate is None:
            raise InputError(
                f"cost in {currency}: add usd_rates.{currency} to the [[imports]] mapping "
                f"{self.config.source!r}"
            )
        return amount * rate

    def count(self, name: str) -> int:
        column = getattr(self.config, name)
        raw = self.text(name)
        if not column or not raw:
            return 0
        text = raw.replace(",", "") if _THOUSANDS.fullmatch(raw) else raw
        try:
            number = Decimal(text)
        except ArithmeticError:
            raise InputError(f'"{column}" must be a whole number >= 0, got {raw!r}') from None
        if not number.is_finite() or number < 0 or number != number.to_integral_value():
            raise InputError(f'"{column}" must be a whole number >= 0, got {raw!r}')
        return int(number)


def _amount(raw: str, column: str) -> Decimal:
    text = raw.translate(_SYMBOLS)
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    if not text:
        raise InputError(f'"{column}" is empty')
    try:
        amount = parse_amount(text)
    except ValueError:
        raise InputError(f'"{column}" is not an amount: {raw!r}') from None
    if amount < 0:
        raise InputError(f'"{column}" is negative ({raw}); credits and refunds are not spend')
    return amount


def _add(sums: dict[tuple[datetime, str, str, str, str], _Sum], row: _Row) -> None:
    day, cost = row.day(), row.cost()
    tokens_in, tokens_out = row.count("tokens_in"), row.count("tokens_out")
    requests = row.count("requests")
    dims = tuple(row.text(d) for d in _DIMENSIONS)
    for name, value in zip(_DIMENSIONS, dims, strict=True):
        if len(value) > 256:
            raise InputError(f"{name} is longer than 256 characters")
    key = (day, *dims)
    current = sums.setdefault(key, _Sum())  # type: ignore[arg-type]
    if cost is not None:
        current.cost = (current.cost or Decimal(0)) + cost
    current.tokens_in += tokens_in
    current.tokens_out += tokens_out
    current.requests += requests
    current.rows += 1
