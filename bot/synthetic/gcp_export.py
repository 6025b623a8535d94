"""What Google's Cloud Billing export would hold for the synthetic company's Google lines.

Each billed Google line (a day, a team, an environment, a model) becomes export rows in the
standard export's nested JSON shape (providers.md section 4.2): one row per SKU (uncached
input, cached input, output), whose costs sum to the line's cost exactly. Production runs on
Vertex AI in the project acme-ai-prod, staging on the Gemini API (Generative Language API) in
acme-ai-staging; both carry a `team` label. Vertex rows get a 5% promotional credit and Gemini
API rows a 10% free tier credit, so credits show up apart from cost. A Cloud Storage row and a
tax row a day sit beside them, which an AI spend query must leave out. SKU names for the Gemini
API and for batch, and both usage units, are UNVERIFIED guesses.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from bot.domain import CostLine
from bot.money import SCALE

TABLE = "acme-billing.billing_export.gcp_billing_export_v1_01ABCD_234567_89EFGH"
BILLING_ACCOUNT = "01ABCD-234567-89EFGH"
LABEL_KEY = "team"
PROJECTS = {"prod": "acme-ai-prod", "staging": "acme-ai-staging"}
_SERVICES = {
    "prod": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
    "staging": {"id": "AEFD-7695-64FA", "description": "Generative Language API"},
}
_UNITS = {"prod": "count", "staging": "tokens"}
_CREDITS = {
    "prod": ("PROMOTION", "Vertex AI launch credit", Decimal("0.05")),
    "staging": ("FREE_TIER", "Gemini API free tier", Decimal("0.10")),
}
_WEIGHTS = {"input": Decimal(1), "cached": Decimal("0.1"), "output": Decimal(8)}  # $ per token
_QUANTUM = Decimal(1).scaleb(-SCALE)
_PACIFIC = timedelta(hours=-8)  # invoice months follow Pacific time (no daylight saving here)
_EXPORT_LAG = timedelta(hours=4)


def export_rows(lines: Iterable[CostLine]) -> list[dict[str, Any]]:
    """The export rows of every priced Google line, and one storage and one tax row a day."""
    rows: list[dict[str, Any]] = []
    days: set[datetime] = set()
    for line in lines:
        if line.provider != "google" or line.cost is None:
            continue
        days.add(line.bucket_start)
        rows += _line_rows(line)
    for day in sorted(days):
        rows.append(_other_row(day, "95FF-2EF5-5EA1", "Cloud Storage", "Standard Storage", ""))
        rows.append(_other_row(day, "C7E2-9256-1C43", "Vertex AI", "Tax", "tax"))
    return rows


def sku_names(model: str, env: str, batch: bool) -> dict[str, str]:
    """The SKU descriptions of a model's input, cached input and output (see the module)."""
    name = " ".join(part.capitalize() if part.isalpha() else part for part in model.split("-"))
    if env == "prod":
        mode = "GA Batch" if batch else "GA"
        return {
            "input": f"{name} {mode} Text Input - Predictions",
            "cached": f" {name} {mode} Input Text Caching",  # the leading space is real
            "output": f"{name} {mode} Text Output (Thinking On) - Predictions",
        }
    mode = "Batch " if batch else ""
    return {
        "input": f"{mode}{name} Input Tokens",
        "cached": f"{mode}{name} Cached Input Tokens",
        "output": f"{mode}{name} Output Tokens",
    }


def _line_rows(line: CostLine) -> list[dict[str, Any]]:
    env = "staging" if line.api_key.endswith("_staging") else "prod"
    uncached = line.tokens_in - line.cache_read_tokens - line.cache_write_tokens
    tokens = {"input": uncached, "cached": line.cache_read_tokens, "output": line.tokens_out}
    parts = [(kind, count) for kind, count in tokens.items() if count > 0] or [("input", 0)]
    costs = _split(line.cost or Decimal(0), parts)
    names = sku_names(line.model, env, line.batch)
    team = line.project.removeprefix("proj_")
    return [
        _row(line.bucket_start, env, names[kind], count, cost, team)
        for (kind, count), cost in zip(parts, costs, strict=True)
    ]


def _split(total: Decimal, parts: list[tuple[str, int]]) -> list[Decimal]:
    """The total in proportion to each part's tokens times its weight; exact in sum."""
    weights = [_WEIGHTS[kind] * count for kind, count in parts]
    whole = sum(weights, Decimal(0))
    if not whole:
        return [total] + [Decimal(0)] * (len(parts) - 1)
    shares = [(total * w / whole).quantize(_QUANTUM, ROUND_HALF_EVEN) for w in weights[:-1]]
    return [*shares, total - sum(shares, Decimal(0))]


def _row(
    day: datetime, env: str, sku: str, amount: int, cost: Decimal, team: str
) -> dict[str, Any]:
    kind, name, share = _CREDITS[env]
    credit = (cost * share).quantize(_QUANTUM, ROUND_HALF_EVEN)
    credits = [
        {"name": name, "amount": -float(credit), "full_name": name, "id": kind, "type": kind}
    ]
    row = _base(day, _SERVICES[env], sku, PROJECTS[env], "regular")
    row |= {
        "labels": [{"key": LABEL_KEY, "value": team}, {"key": "env", "value": env}],
        "cost": float(cost),
        "usage": {"amount": float(amount), "unit": _UNITS[env], "pricing_unit": _UNITS[env]},
        "credits": credits if credit else [],
    }
    return row


def _other_row(day: datetime, service_id: str, service: str, sku: str, kind: str) -> dict[str, Any]:
    row = _base(day, {"id": service_id, "description": service}, sku, PROJECTS["prod"], "regular")
    if kind == "tax":
        row["cost_type"] = "tax"
    return row


def _base(
    day: datetime, service: dict[str, str], sku: str, project: str, cost_type: str
) -> dict[str, Any]:
    end = day + timedelta(days=1)
    return {
        "billing_account_id": BILLING_ACCOUNT,
        "service": service,
        "sku": {
            "id": f"{service['id']}-{zlib.crc32(sku.encode()) % 10_000:04d}",
            "description": sku,
        },
        "usage_start_time": _timestamp(day),
        "usage_end_time": _timestamp(end),
        "project": {"id": project, "name": project, "labels": []},
        "labels": [],
        "location": {"location": "us-central1", "region": "us-central1"},
        "export_time": _timestamp(end + _EXPORT_LAG),
        "cost": 0.01,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "usage": {"amount": 1.0, "unit": "byte-seconds", "pricing_unit": "gibibyte month"},
        "credits": [],
        "invoice": {"month": (day + _PACIFIC).strftime("%Y%m")},
        "cost_type": cost_type,
    }


def _timestamp(moment: datetime) -> str:
    """BigQuery's JSON export spelling of a TIMESTAMP."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
