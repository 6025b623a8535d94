from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import numpy as np
import pytest
from genai_prices import Usage, calc_price
from genai_prices.types import PriceContext
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import DiscountConfig, PriceOverrideConfig
from bot.money import from_units, to_units
from bot.pricing import PriceBook, PriceKey, TokenColumns, TokenTotals

DAY = date(2026, 11, 10)
KNOWN = [
    ("openai", "openai", "gpt-5"),
    ("openai", "openai", "gpt-4.1-mini"),
    ("openai", "openai", "text-embedding-3-small"),
    ("anthropic", "anthropic", "claude-sonnet-4-5"),
    ("anthropic", "anthropic", "claude-haiku-4-5"),
    ("google", "google", "gemini-2.5-pro"),
    ("google", "google", "gemini-2.5-flash"),
    ("deepseek", "deepseek", "deepseek-chat"),
]


def _columns(*rows: tuple[int, int, int, int]) -> TokenColumns:
    return TokenColumns(*(np.array(col, dtype=np.int64) for col in zip(*rows, strict=True)))


def _reference(
    prices_id: str, model: str, row: tuple[int, int, int, int], context: PriceContext | None = None
) -> Decimal:
    tin, tout, cr, cw = row
    usage = Usage(input_tokens=tin, output_tokens=tout, cache_read_tokens=cr, cache_write_tokens=cw)
    at = datetime.combine(DAY, time(0), tzinfo=UTC)
    total = calc_price(
        usage, model, provider_id=prices_id, genai_request_timestamp=at, price_context=context
    ).total_price
    return from_units(to_units(total))


@pytest.mark.parametrize(("provider", "prices_id", "model"), KNOWN)
def test_price_matches_genai_prices_with_cache_and_long_context(provider, prices_id, model):
    rows = [
        (1000, 200, 0, 0),
        (50_000, 1_000, 40_000, 5_000),
        (250_000, 3_000, 100_000, 0),
        (0, 0, 0, 0),
    ]
    costs = PriceBook().price(PriceKey(provider, model, DAY), _columns(*rows))
    assert costs is not None
    assert [from_units(int(c)) for c in costs] == [_reference(prices_id, model, r) for r in rows]


@pytest.mark.parametrize(
    ("tier", "batch", "context"),
    [
        ("flex", False, {"service_tier": "flex"}),
        ("priority", False, {"service_tier": "priority"}),
        ("", True, {"processing": "batch"}),
    ],
)
def test_price_applies_service_tier_and_batch_context(tier, batch, context):
    row = (10_000, 2_000, 4_000, 0)
    costs = PriceBook().price(PriceKey("openai", "gpt-5", DAY, tier, batch), _columns(row))
    assert costs is not None
    assert from_units(int(costs[0])) == _reference("openai", "gpt-5", row, context)
    default = PriceBook().price(PriceKey("openai", "gpt-5", DAY), _columns(row))
    assert default is not None
    assert int(costs[0]) != int(default[0])


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(KNOWN),
    st.integers(0, 2_000_000),
    st.integers(0, 200_000),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_price_agrees_with_genai_prices_for_any_usage(
    known, tokens_in, tokens_out, read_share, write_share
):
    provider, prices_id, model = known
    cache_read = int(tokens_in * read_share)
    cache_write = int((tokens_in - cache_read) * write_share)
    row = (tokens_in, tokens_out, cache_read, cache_write)
    costs = PriceBook().price(PriceKey(provider, model, DAY), _columns(row))
    assert costs is not None
    assert from_units(int(costs[0])) == _reference(prices_id, model, row)


def test_unknown_model_is_unpriced_not_free():
    book = PriceBook()
    assert book.price(PriceKey("openai", "acme-ranker-v2", DAY), _columns((10, 10, 0, 0))) is None
    assert book.rates(PriceKey("nonesuch", "gpt-5", DAY)) is None


def test_override_prices_a_model_genai_prices_does_not_know():
    override = PriceOverrideConfig(
        provider="openrouter",
        model="Acme-Ranker-V2",
        input_mtok=Decimal("0.50"),
        output_mtok=Decimal("1.50"),
    )
    costs = PriceBook([override]).price(
        PriceKey("openrouter", "acme-ranker-v2", DAY), _columns((2_000_000, 1_000_000, 0, 0))
    )
    assert costs is not None
    assert from_units(int(costs[0])) == Decimal("2.50")


def test_discount_applies_to_every_model_of_a_provider_and_exact_model_wins():
    book = PriceBook(
        discounts=[
            DiscountConfig(provider="anthropic", percent=Decimal("10")),
            DiscountConfig(provider="anthropic", model="claude-haiku-4-5", percent=Decimal("25")),
        ]
    )
    row = _columns((100_000, 0, 0, 0))
    sonnet = book.price(PriceKey("anthropic", "claude-sonnet-4-5", DAY), row)
    haiku = book.price(PriceKey("anthropic", "claude-haiku-4-5", DAY), row)
    assert sonnet is not None
    assert haiku is not None
    assert from_units(int(sonnet[0])) == Decimal("0.27")  # $3 per million, less 10%
    assert from_units(int(haiku[0])) == Decimal("0.075")  # $1 per million, less 25%
    rates = book.rates(PriceKey("anthropic", "claude-sonnet-4-5", DAY))
    assert rates is not None
    assert "less 10%" in rates.version


def test_price_total_judges_the_long_context_tier_on_the_average_request():
    book = PriceBook()
    key = PriceKey("anthropic", "claude-sonnet-4-5", DAY)
    small = book.price_total(key, TokenTotals(1_000_000, 0, requests=10))  # 100k per request
    large = book.price_total(key, TokenTotals(1_000_000, 0, requests=4))  # 250k per request
    assert (small, large) == (Decimal("3"), Decimal("6"))


def test_rates_are_memoized_per_key():
    book = PriceBook()
    key = PriceKey("openai", "gpt-5", DAY)
    assert book.rates(key) is book.rates(key)
