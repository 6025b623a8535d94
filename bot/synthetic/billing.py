"""Billed and estimated cost lines: the provider's view of the simulated days.

Billed lines sum a day's requests per provider, project, key, model, service tier and batch
flag, and price them at list price (genai-prices) or at a model's negotiated rate. Estimated
lines are the provider's hourly token usage for the current day, unpriced.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from genai_prices import Usage, calc_price
from numpy.typing import NDArray

from bot.clock import utc_midnight
from bot.domain import CostLine
from bot.money import SCALE
from bot.providers import PROVIDERS
from bot.synthetic.catalog import BILLING_UPLIFT, ENVIRONMENTS, MODELS, TEAMS, Model
from bot.synthetic.simulation import (
    TIERS,
    TOKENS,
    US_PER_HOUR,
    ActivitySpec,
    Columns,
    Scenario,
    days,
    scenario,
    simulate,
    tables,
)

_RESTATE_SALT = 0xB111
_RESTATED_DAYS = 3
_DAY = timedelta(days=1)
_PROBE = 100_000  # tokens per price probe: below every long-context tier, so prices are linear
_QUANTUM = Decimal(1).scaleb(-SCALE)


def _aggregate(parts: dict[str, tuple[NDArray[Any], int]], sim: Columns) -> list[list[int]]:
    """Per distinct combination of the coded parts: the codes, then token sums and requests."""
    sizes = tuple(size for _, size in parts.values())
    key = np.ravel_multi_index(tuple(codes for codes, _ in parts.values()), sizes)
    uniq, inverse = np.unique(key, return_inverse=True)
    sums = [np.bincount(inverse, weights=sim[c], minlength=uniq.size) for c in TOKENS]
    columns = [*np.unravel_index(uniq, sizes), *sums, np.bincount(inverse, minlength=uniq.size)]
    rows: list[list[int]] = np.rint(np.stack(columns, axis=1)).astype(np.int64).tolist()
    return rows


def _line(model: Model, start: datetime, totals: list[int], **fields: Any) -> CostLine:
    """The provider's view of summed usage. Billing sees more than the apps report, so tokens
    and requests are scaled by BILLING_UPLIFT (floors keep cache_read + cache_write <= in)."""
    tin, tout, read, write, requests = (int(v * BILLING_UPLIFT[model.provider]) for v in totals)
    return CostLine(
        provider=model.provider,
        bucket_start=start,
        model=model.name,
        tokens_in=tin,
        tokens_out=tout,
        cache_read_tokens=read,
        cache_write_tokens=write,
        requests=requests,
        **fields,
    )


@functools.lru_cache(maxsize=4096)
def _unit_prices(model: Model, day: date, context: tuple[tuple[str, str], ...]) -> list[Decimal]:
    """$ per token for uncached input, cache read, cache write and output, at noon UTC."""
    if model.negotiated_mtok is not None:
        rate_in, rate_out = (rate.scaleb(-6) for rate in model.negotiated_mtok)
        return [rate_in, rate_in, rate_in, rate_out]
    probes = (
        Usage(input_tokens=_PROBE),
        Usage(input_tokens=_PROBE, cache_read_tokens=_PROBE),
        Usage(input_tokens=_PROBE, cache_write_tokens=_PROBE),
        Usage(output_tokens=_PROBE),
    )
    at, prices_id = datetime.combine(day, time(12), UTC), PROVIDERS[model.provider].prices_id
    price_context = dict(context) or None
    prices = (
        calc_price(
            p,
            model.name,
            provider_id=prices_id,
            genai_request_timestamp=at,
            price_context=price_context,
        )
        for p in probes
    )
    return [price.total_price / _PROBE for price in prices]


def _cost(model: Model, line: CostLine) -> Decimal:
    """List price of the line's summed tokens, priced by token kind (see _unit_prices)."""
    tier, batch = line.service_tier, line.batch
    context = (("processing", "batch"),) if batch else (("service_tier", tier),) if tier else ()
    units = _unit_prices(model, line.bucket_start.date(), context)
    uncached = line.tokens_in - line.cache_read_tokens - line.cache_write_tokens
    counts = (uncached, line.cache_read_tokens, line.cache_write_tokens, line.tokens_out)
    return sum((c * u for c, u in zip(counts, units, strict=True)), Decimal(0)).quantize(_QUANTUM)


def _billed_line(day: date, row: list[int]) -> CostLine:
    m, team, env, tier, batch, *totals = row
    model, owner = MODELS[m], TEAMS[team]
    line = _line(
        model,
        utc_midnight(day),
        totals,
        source=f"{model.provider}.costs",
        project=owner.project,
        api_key=owner.keys[env],
        service_tier=TIERS[tier],
        batch=bool(batch),
    )
    return replace(line, cost=_cost(model, line))


def _billed_day(spec: ActivitySpec, plan: Scenario, day: date) -> list[CostLine]:
    sim = simulate(spec, plan, day)
    parts = {
        "model": (sim["model"], len(MODELS)),
        "team": (tables()["feature_team"][sim["feature"]], len(TEAMS)),
        "env": (sim["env"], len(ENVIRONMENTS)),
        "tier": (sim["tier"], len(TIERS)),
        "batch": (sim["batch"].astype(np.intp), 2),
    }
    return [_billed_line(day, row) for row in _aggregate(parts, sim)]


def _nudge(line: CostLine, rng: np.random.Generator) -> CostLine:
    """A restated amount: 2-6% up or down."""
    change = Decimal(int(rng.integers(200, 601))).scaleb(-4) * int(rng.choice((-1, 1)))
    cost = line.cost if line.cost is not None else Decimal(0)
    return replace(line, cost=(cost * (1 + change)).quantize(_QUANTUM))


def _late_line(spec: ActivitySpec) -> CostLine:
    """A line the first pull did not have: tool calls billed a day late."""
    calls = max(spec.events_per_day // 4, 1)
    growth = TEAMS[0]
    return CostLine(
        source="openai.costs",
        provider="openai",
        bucket_start=utc_midnight(spec.end - _DAY),
        project=growth.project,
        api_key=growth.keys[0],
        model="gpt-5",
        service_tier="default",
        line_item="web search tool calls",
        requests=calls,
        cost=Decimal(calls) / 100,
    )


def generate_cost_lines(spec: ActivitySpec, *, revision: int = 0) -> list[CostLine]:
    """Billed truth per day x provider x project x key x model x tier x batch, up to the day
    before spec.end. A revision > 0 restates the last 3 billed days and adds one line."""
    if revision < 0:
        raise ValueError("revision must be >= 0")
    plan = scenario(spec)
    lines = [line for day in days(spec)[:-1] for line in _billed_day(spec, plan, day)]
    if not revision:
        return lines
    rng = np.random.default_rng([spec.seed, _RESTATE_SALT, revision])
    since = utc_midnight(spec.end - timedelta(days=_RESTATED_DAYS))
    return [_nudge(x, rng) if x.bucket_start >= since else x for x in lines] + [_late_line(spec)]


def _estimated_line(day: date, row: list[int]) -> CostLine:
    hour, m, *totals = row
    model, start = MODELS[m], utc_midnight(day) + timedelta(hours=hour)
    source = f"{model.provider}.usage"
    return _line(model, start, totals, source=source, bucket_hours=1, estimated=True)


def generate_estimated_lines(spec: ActivitySpec) -> list[CostLine]:
    """The provider's hourly token usage for spec.end before now_hour; unpriced (cost None)."""
    sim = simulate(spec, scenario(spec), spec.end)
    parts = {"hour": (sim["ts_us"] // US_PER_HOUR, 24), "model": (sim["model"], len(MODELS))}
    return [_estimated_line(spec.end, row) for row in _aggregate(parts, sim)]
