"""Unit prices from genai-prices, resolved once per (provider, model, day, context) and applied
to whole columns of token counts at once.

A rate is an integer count of 1e-14 USD per token (price per million tokens times 1e8), so a
request's cost is an exact integer sum divided once by 1e4 into the store's 1e-10 USD units.
Long-context tiers follow genai-prices' cliff rule: past a tier's start, all of that request's
tokens of that kind take the tier's price. A model with no price is unpriced, never $0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt
from genai_prices import data_snapshot
from genai_prices.types import ModelPrice, TieredPrices

from bot.config import DiscountConfig, PriceOverrideConfig, PricesConfig
from bot.money import from_units
from bot.providers import PROVIDERS, resolve_provider

RATE_PER_MTOK = Decimal(10) ** 8  # a rate unit is 1e-14 USD per token
RATE_TO_MONEY_UNITS = 10**4  # 1e-14 USD -> the store's 1e-10 USD
PRICES_VERSION = f"genai-prices {version('genai-prices')}"

Int64s = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Rate:
    """Rate units per token, with cliff tiers as (input tokens above, rate) pairs."""

    base: int
    tiers: tuple[tuple[int, int], ...] = ()

    def at(self, tokens_in: int) -> Rate:
        """This rate fixed at the tier a request of `tokens_in` input tokens falls in."""
        rate = self.base
        for start, tier_rate in self.tiers:
            if tokens_in > start:
                rate = tier_rate
        return Rate(rate)

    def per_request(self, tokens_in: Int64s) -> Int64s:
        rates = np.full(tokens_in.shape, self.base, dtype=np.int64)
        for start, tier_rate in self.tiers:  # ascending, so the highest tier passed wins
            rates[tokens_in > start] = tier_rate
        return rates


@dataclass(frozen=True, slots=True)
class Rates:
    input: Rate
    output: Rate
    cache_read: Rate
    cache_write: Rate
    version: str

    def at(self, tokens_in: int) -> Rates:
        return Rates(
            self.input.at(tokens_in),
            self.output.at(tokens_in),
            self.cache_read.at(tokens_in),
            self.cache_write.at(tokens_in),
            self.version,
        )


@dataclass(frozen=True, slots=True)
class PriceKey:
    provider: str
    model: str
    day: date
    service_tier: str = ""
    batch: bool = False


@dataclass(frozen=True, slots=True)
class TokenColumns:
    """Token counts of many requests; tokens_in includes cache reads and writes."""

    tokens_in: Int64s
    tokens_out: Int64s
    cache_read: Int64s
    cache_write: Int64s


@dataclass(frozen=True, slots=True)
class TokenTotals:
    """Token counts summed over `requests` requests."""

    tokens_in: int
    tokens_out: int
    cache_read: int = 0
    cache_write: int = 0
    requests: int = 0

    def tokens(self) -> tuple[int, int, int, int]:
        return self.tokens_in, self.tokens_out, self.cache_read, self.cache_write


class PriceBook:
    """List prices from genai-prices with aispend.toml's overrides and discounts, memoized."""

    def __init__(
        self,
        overrides: Sequence[PriceOverrideConfig] = (),
        discounts: Sequence[DiscountConfig] = (),
    ) -> None:
        self._config = (tuple(overrides), tuple(discounts))
        self._overrides = {(resolve_provider(o.provider), o.model.lower()): o for o in overrides}
        self._discounts = {
            (resolve_provider(d.provider), d.model.lower()): d.percent for d in discounts
        }
        self.rates = functools.lru_cache(maxsize=65536)(self._resolve)

    @classmethod
    def from_config(cls, prices: PricesConfig) -> PriceBook:
        """The book aispend.toml's [prices] describes."""
        return cls(prices.overrides, prices.discounts)

    def __reduce__(self) -> tuple[type[PriceBook], tuple[Any, ...]]:
        """Pickled as its configuration; the memo is rebuilt where it is unpickled."""
        return PriceBook, self._config

    def _resolve(self, key: PriceKey) -> Rates | None:
        """The rates for one key, or None when nobody knows a price for the model."""
        override = self._overrides.get((key.provider, key.model.lower()))
        if override is not None:
            return _override_rates(override, self._discount(key))
        model_price = _list_price(key)
        if model_price is None:
            return None
        return _list_rates(model_price, self._discount(key))

    def _discount(self, key: PriceKey) -> Decimal:
        exact = self._discounts.get((key.provider, key.model.lower()))
        percent = exact if exact is not None else self._discounts.get((key.provider, ""))
        return Decimal(0) if percent is None else percent

    def price(self, key: PriceKey, tokens: TokenColumns) -> Int64s | None:
        """Cost of each request in 1e-10 USD units, or None when the model is unpriced."""
        rates = self.rates(key)
        return None if rates is None else apply_rates(rates, tokens)

    def price_total(self, key: PriceKey, usage: TokenTotals) -> Decimal | None:
        """List-price estimate for summed usage. The long-context tier is judged on the
        average request, since a sum no longer knows its requests one by one."""
        rates = self.rates(key)
        if rates is None:
            return None
        average_in = usage.tokens_in // max(usage.requests, 1)
        tokens = TokenColumns(*(np.array([n], dtype=np.int64) for n in usage.tokens()))
        return from_units(int(apply_rates(rates.at(average_in), tokens)[0]))


def apply_rates(rates: Rates, tokens: TokenColumns) -> Int64s:
    """Exact per-request cost in 1e-10 USD, rounded half to even once at the end."""
    uncached = tokens.tokens_in - tokens.cache_read - tokens.cache_write
    numerator = (
        uncached * rates.input.per_request(tokens.tokens_in)
        + tokens.cache_read * rates.cache_read.per_request(tokens.tokens_in)
        + tokens.cache_write * rates.cache_write.per_request(tokens.tokens_in)
        + tokens.tokens_out * rates.output.per_request(tokens.tokens_in)
    )
    return _divide_half_even(numerator, RATE_TO_MONEY_UNITS)


def _divide_half_even(numerator: Int64s, divisor: int) -> Int64s:
    quotient, remainder = np.divmod(numerator, divisor)
    twice = 2 * remainder
    round_up = (twice > divisor) | ((twice == divisor) & (quotient % 2 == 1))
    result: Int64s = (quotient + round_up).astype(np.int64)
    return result


def _price_context(key: PriceKey) -> Mapping[str, str] | None:
    context: dict[str, str] = {}
    if key.service_tier:
        context["service_tier"] = key.service_tier
    if key.batch:
        context["processing"] = "batch"
    return context or None


def _list_price(key: PriceKey) -> ModelPrice | None:
    info = PROVIDERS.get(key.provider)
    if info is None or info.prices_id is None:
        return None
    try:
        _, model = data_snapshot.get_snapshot().find_provider_model(
            key.model, None, info.prices_id, None
        )
    except LookupError:
        return None
    at = datetime.combine(key.day, time(0), tzinfo=UTC)
    return model.get_prices(at, _price_context(key))


def _to_rate(price: Decimal | TieredPrices | None, discount: Decimal) -> Rate | None:
    if price is None:
        return None
    if isinstance(price, TieredPrices):
        tiers = tuple((t.start, _rate_units(t.price, discount)) for t in price.tiers)
        return Rate(_rate_units(price.base, discount), tiers)
    return Rate(_rate_units(price, discount))


def _rate_units(price_per_mtok: Decimal, discount: Decimal) -> int:
    net = price_per_mtok * (100 - discount) / 100
    return int((net * RATE_PER_MTOK).to_integral_value(rounding=ROUND_HALF_EVEN))


def _list_rates(price: ModelPrice, discount: Decimal) -> Rates:
    """Cached tokens with no price of their own pay the input price, as in genai-prices."""
    input_rate = _to_rate(price.input_mtok, discount) or Rate(0)
    return Rates(
        input=input_rate,
        output=_to_rate(price.output_mtok, discount) or Rate(0),
        cache_read=_to_rate(price.cache_read_mtok, discount) or input_rate,
        cache_write=_to_rate(price.cache_write_mtok, discount) or input_rate,
        version=_version(PRICES_VERSION, discount),
    )


def _override_rates(override: PriceOverrideConfig, discount: Decimal) -> Rates:
    input_rate = Rate(_rate_units(override.input_mtok, discount))
    cache_read, cache_write = override.cache_read_mtok, override.cache_write_mtok
    return Rates(
        input=input_rate,
        output=Rate(_rate_units(override.output_mtok, discount)),
        cache_read=input_rate if cache_read is None else Rate(_rate_units(cache_read, discount)),
        cache_write=input_rate if cache_write is None else Rate(_rate_units(cache_write, discount)),
        version=_version("aispend.toml override", discount),
    )


def _version(base: str, discount: Decimal) -> str:
    return base if discount == 0 else f"{base} less {discount.normalize():f}%"
