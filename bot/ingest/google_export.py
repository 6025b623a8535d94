"""A Cloud Billing export file (for teams that give no BigQuery access) as billing rows.

Two layouts, told apart by the first character: JSON lines as BigQuery exports a table
(nested: {"service": {"description": ...}, "labels": [{"key", "value"}], "credits": [...]}),
or CSV with dotted column names (service.description, sku.description, usage.amount, ...) and
labels and credits as JSON text. Only AI services' regular cost rows are kept, as the
collector's query keeps them, so other services never take memory. Every bad line is reported
as FILE:LINE: reason; pure apart from reading the lines it is given, one at a time.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.collectors.google_billing import (
    AI_SERVICES,
    BillingCredit,
    BillingRow,
    BillingRowError,
    parse_decimal,
    to_usd,
)


@dataclass
class ExportFile:
    rows: list[BillingRow] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # "FILE:LINE: reason"
    skipped: int = 0  # rows of other services, taxes and adjustments


def read_export(text: Iterable[str], name: str, label_key: str = "team") -> ExportFile:
    lines = iter(text)
    first = next(lines, "")
    records = _jsonl(first, lines) if first.lstrip().startswith("{") else _csv(first, lines)
    result = ExportFile()
    for number, record in records:
        try:
            if isinstance(record, str):
                raise BillingRowError(record)
            row = export_row(record, label_key)
            if row is not None:
                to_usd(row.cost, row.currency, row.rate)  # a currency it cannot convert
        except BillingRowError as e:
            result.bad.append(f"{name}:{number}: {e}")
            continue
        if row is None:
            result.skipped += 1
        else:
            result.rows.append(row)
    return result


def export_row(record: Mapping[str, Any], label_key: str) -> BillingRow | None:
    """One export row, or None when it is not an AI service's regular cost."""
    service = str(_field(record, "service.description") or "")
    if service not in AI_SERVICES or (_field(record, "cost_type") or "regular") != "regular":
        return None
    start = _moment(_field(record, "usage_start_time"))
    rate = _field(record, "currency_conversion_rate")
    labels = _list(_field(record, "labels"), "labels")
    label = next((str(x.get("value")) for x in labels if x.get("key") == label_key), "")
    return BillingRow(
        day=start.date(),
        project=str(_field(record, "project.id") or ""),
        service=service,
        sku=str(_field(record, "sku.description") or "").strip(),
        cost=parse_decimal(_field(record, "cost"), "cost"),
        currency=str(_field(record, "currency") or "USD"),
        rate=None if rate in (None, "") else parse_decimal(rate, "currency_conversion_rate"),
        usage_amount=parse_decimal(_field(record, "usage.amount") or 0, "usage.amount"),
        usage_unit=str(_field(record, "usage.unit") or ""),
        label=f"{label_key}={label}" if label else "",
        credits=tuple(
            BillingCredit(
                str(c.get("type") or c.get("name") or ""),
                parse_decimal(c.get("amount"), "credits.amount"),
            )
            for c in _list(_field(record, "credits"), "credits")
        ),
    )


def _jsonl(first: str, rest: Iterator[str]) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    for number, line in enumerate(itertools.chain([first], rest), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            yield number, "not valid JSON"
            continue
        yield number, value if isinstance(value, dict) else "not a JSON object"


def _csv(first: str, rest: Iterator[str]) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    reader = csv.DictReader(itertools.chain([first], rest))
    for record in reader:
        yield reader.line_num, record


def _field(record: Mapping[str, Any], path: str) -> Any:
    """A dotted field from a nested JSON row, or the dotted column of a CSV row."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _list(value: Any, what: str) -> list[Mapping[str, Any]]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise BillingRowError(f"{what} is not JSON") from e
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise BillingRowError(f"{what} is not a list of objects")
    return value


def _moment(value: Any) -> datetime:
    text = str(value or "").strip()
    if not text:
        raise BillingRowError("usage_start_time is missing")
    if text.endswith(" UTC"):  # BigQuery's spelling: "2026-11-03 00:00:00[.123] UTC"
        text = text.removesuffix(" UTC") + "+00:00"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise BillingRowError(f"usage_start_time {text[:40]!r} is not a timestamp") from e
    if moment.tzinfo is None:
        raise BillingRowError("usage_start_time has no time zone")
    return moment.astimezone(UTC)
