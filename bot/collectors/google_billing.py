"""Google Cloud Billing export rows (Vertex AI, the Gemini API) as cost lines. Pure; no I/O.

Both the BigQuery collector and the export file importer read rows into BillingRow and call
`cost_lines`. What it decides (providers.md sections 0 and 4.4):

- One line per UTC day, project, service, SKU and team label. `line_item` names the service,
  the SKU and the label, so two labels or two services never share a natural key.
- Cost is the gross cost, before credits. Credits (free tier, promotions, committed use
  discounts) are kept apart as their own negative lines, one per day, project, service, label
  and credit type, with model CREDITS_MODEL: totals are what the invoice charges, and a
  report by model shows the gross per model and the credits as their own row. Nothing is
  netted silently.
- Money is converted to USD with the export's own rate: cost / currency_conversion_rate (the
  rate is US dollars to the billing currency). A non-USD row without a usable rate is refused.
- usage.amount becomes tokens only for token SKUs (input, cached input, output) whose unit is
  a token count ("count", "tokens", or per 1000 of them). Character-priced SKUs, cache storage
  and everything else keep their cost and carry no tokens; units named "requests" count as
  requests. Which units the export really uses for each SKU is UNVERIFIED.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from bot.clock import utc_midnight
from bot.collectors.google_skus import UsageKind, decode_sku
from bot.domain import CostLine
from bot.money import SCALE, parse_amount

PROVIDER = "google"
SOURCE = "google.billing"
CREDITS_MODEL = "(credits)"
AI_SERVICES = ("Vertex AI", "Gemini API", "Generative Language API")  # naming UNVERIFIED
_QUANTUM = Decimal(1).scaleb(-SCALE)
_TOKEN_UNIT = re.compile(r"^\[?(?:count|tokens?)\]?$")
_KILO_TOKEN_UNIT = re.compile(r"^(?:\[?(?:count|tokens?)\]?\s*/\s*1000|1000 (?:count|tokens?))$")
_REQUEST_UNIT = re.compile(r"^requests?$")
MAX_LINE_ITEM = 256  # the store's dimension width


class BillingRowError(ValueError):
    """A row that cannot become a cost line; the message names the field, never a secret."""


@dataclass(frozen=True, slots=True)
class BillingCredit:
    type: str  # FREE_TIER, PROMOTION, COMMITTED_USAGE_DISCOUNT, ...; the name when absent
    amount: Decimal  # negative, in the row's currency


@dataclass(frozen=True, slots=True)
class BillingRow:
    """One export row (or a group of them) as the collector and the importer read it."""

    day: date  # UTC day of usage_start_time
    project: str
    service: str
    sku: str
    cost: Decimal  # gross, in `currency`
    currency: str = "USD"
    rate: Decimal | None = None  # currency_conversion_rate: US dollars to `currency`
    usage_amount: Decimal = Decimal(0)
    usage_unit: str = ""
    label: str = ""  # the team label as "key=value", "" when the row has none
    credits: tuple[BillingCredit, ...] = field(default_factory=tuple)


def cost_lines(rows: Iterable[BillingRow]) -> list[CostLine]:
    """Usage lines (gross, USD) and credit lines for every row, rows of one key summed."""
    usage: dict[tuple[str, ...], _Sums] = {}
    credits: dict[tuple[str, ...], Decimal] = {}
    for row in rows:
        key = (row.day.isoformat(), row.project, row.service, row.sku.strip(), row.label)
        usage.setdefault(key, _Sums()).add(row, to_usd(row.cost, row.currency, row.rate))
        for credit in row.credits:
            credit_key = (*key[:3], credit.type or "credit", row.label)
            usd = to_usd(credit.amount, row.currency, row.rate)
            credits[credit_key] = credits.get(credit_key, Decimal(0)) + usd
    lines = [_usage_line(key, sums) for key, sums in usage.items()]
    lines += [_credit_line(key, amount) for key, amount in credits.items() if amount]
    return lines


def to_usd(amount: Decimal, currency: str, rate: Decimal | None) -> Decimal:
    """An amount in the billing currency as US dollars, with the export's own rate."""
    if currency.upper() == "USD":
        return amount
    if rate is None or not rate.is_finite() or rate <= 0:
        raise BillingRowError(
            f"cost is in {currency} with no usable currency_conversion_rate to convert it"
        )
    return amount / rate


def parse_decimal(value: object, what: str) -> Decimal:
    """A number from the export (a float, a numeric string or a Decimal), exactly."""
    if value is None:
        raise BillingRowError(f"{what} is missing")
    if not isinstance(value, str | int | float | Decimal):
        raise BillingRowError(f"{what} is not a number")
    try:
        return parse_amount(value)
    except ValueError as e:
        raise BillingRowError(f"{what} {str(value)[:40]!r} is not a number") from e


def token_factor(unit: str) -> int | None:
    """How many tokens one unit of usage.amount is, or None when the unit is not tokens."""
    text = unit.strip().lower()
    if _TOKEN_UNIT.match(text):
        return 1
    if _KILO_TOKEN_UNIT.match(text):
        return 1000
    return None


def line_item(service: str, sku: str, label: str) -> str:
    text = f"{service}: {sku}" + (f" [{label}]" if label else "")
    if len(text) > MAX_LINE_ITEM:
        raise BillingRowError(f"service, SKU and label are longer than {MAX_LINE_ITEM} characters")
    return text


@dataclass
class _Sums:
    cost: Decimal = Decimal(0)
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    requests: int = 0

    def add(self, row: BillingRow, usd: Decimal) -> None:
        self.cost += usd
        sku = decode_sku(row.sku)
        factor = token_factor(row.usage_unit)
        if sku.counts_tokens and factor is not None:
            tokens = int((row.usage_amount * factor).to_integral_value(ROUND_HALF_EVEN))
            if sku.kind is UsageKind.OUTPUT:
                self.tokens_out += tokens
            else:
                self.tokens_in += tokens  # a cache read is input too (normalization rule 1)
                self.cache_read += tokens if sku.kind is UsageKind.CACHED_INPUT else 0
        elif _REQUEST_UNIT.match(row.usage_unit.strip().lower()):
            self.requests += int(row.usage_amount.to_integral_value(ROUND_HALF_EVEN))


def _usage_line(key: tuple[str, ...], sums: _Sums) -> CostLine:
    day, project, service, sku_text, label = key
    sku = decode_sku(sku_text)
    return CostLine(
        source=SOURCE,
        provider=PROVIDER,
        bucket_start=utc_midnight(date.fromisoformat(day)),
        project=project,
        model=sku.model,
        batch=sku.batch,
        line_item=line_item(service, sku_text, label),
        tokens_in=sums.tokens_in,
        tokens_out=sums.tokens_out,
        cache_read_tokens=sums.cache_read,
        requests=sums.requests,
        cost=sums.cost.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN),
        label=label,
    )


def _credit_line(key: tuple[str, ...], amount: Decimal) -> CostLine:
    day, project, service, kind, label = key
    return CostLine(
        source=SOURCE,
        provider=PROVIDER,
        bucket_start=utc_midnight(date.fromisoformat(day)),
        project=project,
        model=CREDITS_MODEL,
        line_item=line_item(service, f"credit {kind}", label),
        cost=amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN),
        label=label,
    )
