"""The synthetic company's Azure OpenAI: what Cost Management and Azure Monitor would report.

Three Cognitive Services accounts in their own resource groups: support's (tagged team=support)
runs gpt-4o-mini pay-as-you-go with cached prompts and one Speech meter; growth's (tagged
team=growth) runs gpt-4.1 in a data zone, partly through batch; platform's (untagged: its
resource group names the team) holds a reserved PTU deployment of gpt-4o, amortized daily, and
a small gpt-4o-mini pay-as-you-go deployment beside it. Volumes follow the same seeded days as
the rest of the activity (working days busier), prices are Azure's list prices per 1,000
tokens as of this writing (synthetic, not a price source). Data only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np

from bot.clock import utc_midnight
from bot.synthetic.simulation import ActivitySpec, days

SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-00000000a1a1"
_QUANTUM = Decimal("0.0000000001")
_SALT = 0xA2E
SCALE = 0.05  # Azure's share of the synthetic company's spend stays near a tenth


@dataclass(frozen=True, slots=True)
class Account:
    group: str
    name: str
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def resource_id(self) -> str:
        return (
            f"{SUBSCRIPTION}/resourceGroups/{self.group}/providers/"
            f"Microsoft.CognitiveServices/accounts/{self.name}"
        )


SUPPORT = Account("rg-support-ai", "aoai-support-eus", (("team", "support"),))
GROWTH = Account("rg-growth-ai", "aoai-growth-swc", (("team", "growth"),))
PLATFORM = Account("rg-platform-ptu", "aoai-platform-ptu")
ACCOUNTS = (SUPPORT, GROWTH, PLATFORM)
PTU_METER = "Provisioned Managed Global Unit"
PTU_DAILY = Decimal("0.36")  # a reservation's amortized day, at the company's toy scale


@dataclass(frozen=True, slots=True)
class Meter:
    account: Account
    name: str
    per_unit: Decimal  # USD per unit of UsageQuantity (1,000 tokens; a PTU-hour; an hour)
    daily_units: float  # a working day's usual quantity
    model: str = ""  # what Azure Monitor reports the tokens under
    side: str = ""  # "in" or "out": which token metric counts them


METERS: tuple[Meter, ...] = (
    Meter(
        SUPPORT, "gpt-4o-mini-0718-Inp-glbl Tokens", Decimal("0.000165"), 9000, "gpt-4o-mini", "in"
    ),
    Meter(
        SUPPORT,
        "gpt 4o mini 0718 cached Inp glbl Tokens",
        Decimal("0.0000825"),
        6000,
        "gpt-4o-mini",
        "in",
    ),
    Meter(
        SUPPORT, "gpt-4o-mini-0718-Outp-glbl Tokens", Decimal("0.00066"), 1400, "gpt-4o-mini", "out"
    ),
    Meter(SUPPORT, "S1 Speech To Text", Decimal("1"), 0.4),
    Meter(GROWTH, "gpt 4.1 Inp Data Zone Tokens", Decimal("0.0022"), 1500, "gpt-4.1", "in"),
    Meter(GROWTH, "gpt 4.1 Outp Data Zone Tokens", Decimal("0.0088"), 180, "gpt-4.1", "out"),
    Meter(GROWTH, "gpt-4.1-Batch-Inp-DZ Tokens", Decimal("0.0011"), 1200, "gpt-4.1", "in"),
    Meter(
        PLATFORM, "gpt-4o-mini-0718-Inp-glbl Tokens", Decimal("0.000165"), 800, "gpt-4o-mini", "in"
    ),
    Meter(
        PLATFORM, "gpt-4o-mini-0718-Outp-glbl Tokens", Decimal("0.00066"), 120, "gpt-4o-mini", "out"
    ),
)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One Cost Management row: a day, a resource and a meter, amortized."""

    day: date
    account: Account
    meter: str
    cost: Decimal  # USD
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class TokenPoint:
    """Azure Monitor's daily token totals of one model on one account."""

    day: date
    account: Account
    model: str
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class AzureActivity:
    usage: tuple[UsageRow, ...]
    tokens: tuple[TokenPoint, ...]


def _volume(spec: ActivitySpec, day: date, rng: np.random.Generator) -> float:
    weekday = 1.0 if day.weekday() < 5 else 0.45
    scale = spec.events_per_day / 400 * SCALE
    return float(weekday * scale * rng.lognormal(0.0, 0.12))


def generate_azure_activity(spec: ActivitySpec, *, revision: int = 0) -> AzureActivity:
    """Cost Management rows for every day before spec.end and Azure Monitor token totals
    for the same days. A revision > 0 restates the last 3 days by 2-6%, as the other
    providers' bills do."""
    usage: list[UsageRow] = []
    tokens: dict[tuple[date, Account, str], list[int]] = {}
    rng = np.random.default_rng([spec.seed, _SALT])
    billed_days = days(spec)[:-1]
    for day in billed_days:
        volume = _volume(spec, day, rng)
        for meter in METERS:
            units = Decimal(round(meter.daily_units * volume, 3)).quantize(Decimal("0.001"))
            cost = (units * meter.per_unit).quantize(_QUANTUM)
            usage.append(UsageRow(day, meter.account, meter.name, cost, units))
            if meter.model:
                counts = tokens.setdefault((day, meter.account, meter.model), [0, 0])
                counts[meter.side == "out"] += int(units * 1000)
        usage.append(UsageRow(day, PLATFORM, PTU_METER, PTU_DAILY, Decimal(24)))
        ptu = tokens.setdefault((day, PLATFORM, "gpt-4o"), [0, 0])
        ptu[0] += int(80_000_000 * volume)
        ptu[1] += int(12_000_000 * volume)
    if revision:
        usage = _restated(spec, usage, revision)
    points = tuple(TokenPoint(d, a, m, tin, tout) for (d, a, m), (tin, tout) in tokens.items())
    return AzureActivity(tuple(usage), points)


def _restated(spec: ActivitySpec, usage: list[UsageRow], revision: int) -> list[UsageRow]:
    rng = np.random.default_rng([spec.seed, _SALT, revision])
    since = spec.end - timedelta(days=3)
    out = []
    for row in usage:
        if row.day >= since and row.meter != PTU_METER:
            change = Decimal(int(rng.integers(200, 601))).scaleb(-4) * int(rng.choice((-1, 1)))
            row = replace(row, cost=(row.cost * (1 + change)).quantize(_QUANTUM))
        out.append(row)
    return out


def azure_total(activity: AzureActivity, start: datetime, end: datetime) -> Decimal:
    """What the rows bill over [start, end)."""
    return sum((r.cost for r in activity.usage if start <= utc_midnight(r.day) < end), Decimal(0))
