"""Google billing export rows to cost lines: SKU decoding, units, credits, currencies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bot.collectors.google_billing import (
    CREDITS_MODEL,
    BillingCredit,
    BillingRow,
    BillingRowError,
    cost_lines,
    token_factor,
)
from bot.collectors.google_skus import OTHER_MODEL, UsageKind, decode_sku

DAY = date(2026, 11, 3)

# (description, model, kind, batch, characters); the first seven are verbatim from a live export
# per a third-party test (providers.md 4.2), leading spaces included
SKUS = [
    (
        "Gemini 2.5 Flash GA Text Input - Predictions",
        "gemini-2.5-flash",
        UsageKind.INPUT,
        False,
        False,
    ),
    (
        "Gemini 2.5 Flash GA Thinking Text Output - Predictions",
        "gemini-2.5-flash",
        UsageKind.OUTPUT,
        False,
        False,
    ),
    (
        "Gemini 2.5 Flash GA Text Output (Thinking On) - Predictions",
        "gemini-2.5-flash",
        UsageKind.OUTPUT,
        False,
        False,
    ),
    (
        " Gemini 2.5 Flash GA Input Text Caching",
        "gemini-2.5-flash",
        UsageKind.CACHED_INPUT,
        False,
        False,
    ),
    (
        "Gemini 2.5 Flash Lite Text Input - Predictions",
        "gemini-2.5-flash-lite",
        UsageKind.INPUT,
        False,
        False,
    ),
    (
        "Gemini 2.5 Flash Lite Text Output - Predictions",
        "gemini-2.5-flash-lite",
        UsageKind.OUTPUT,
        False,
        False,
    ),
    (
        " Gemini 2.5 Flash Lite Input Text Caching",
        "gemini-2.5-flash-lite",
        UsageKind.CACHED_INPUT,
        False,
        False,
    ),
    ("Gemini 2.5 Pro Input Text Tokens", "gemini-2.5-pro", UsageKind.INPUT, False, False),
    ("Gemini 2.5 Pro Output Text Tokens", "gemini-2.5-pro", UsageKind.OUTPUT, False, False),
    ("Gemini 3 Pro GA Text Input - Predictions", "gemini-3-pro", UsageKind.INPUT, False, False),
    (
        "Gemini 2.5 Flash GA Batch Text Input - Predictions",
        "gemini-2.5-flash",
        UsageKind.INPUT,
        True,
        False,
    ),
    ("Gemini 1.0 Pro Text Input Characters", "gemini-1.0-pro", UsageKind.INPUT, False, True),
    (
        "Gemini 2.5 Pro Context Caching Storage",
        "gemini-2.5-pro",
        UsageKind.CACHE_STORAGE,
        False,
        False,
    ),
    (
        "Gemini 2.5 Flash Cached Input Tokens",
        "gemini-2.5-flash",
        UsageKind.CACHED_INPUT,
        False,
        False,
    ),
    ("Claude Sonnet 4.5 Input Tokens", "claude-sonnet-4.5", UsageKind.INPUT, False, False),
    ("Jobs CPU in europe-central2", OTHER_MODEL, UsageKind.OTHER, False, False),
]


@pytest.mark.parametrize(("sku", "model", "kind", "batch", "characters"), SKUS)
def test_sku_descriptions_decode_into_model_and_kind(sku, model, kind, batch, characters):
    assert decode_sku(sku) == decode_sku(sku.strip())
    decoded = decode_sku(sku)
    assert (decoded.model, decoded.kind, decoded.batch, decoded.characters) == (
        model,
        kind,
        batch,
        characters,
    )


def test_flash_lite_never_folds_into_flash():
    lite = decode_sku("Gemini 2.5 Flash Lite Text Input - Predictions").model
    assert lite != decode_sku("Gemini 2.5 Flash GA Text Input - Predictions").model


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("count", 1),
        ("tokens", 1),
        ("[tokens]", 1),
        ("Tokens", 1),
        ("1000 count", 1000),
        ("[tokens]/1000", 1000),
        ("characters", None),
        ("requests", None),
        ("byte-seconds", None),
    ],
)
def test_units_that_are_token_counts(unit, factor):
    assert token_factor(unit) == factor


def _row(sku: str, cost: str, amount: str = "0", unit: str = "count", **fields: Any) -> BillingRow:
    return BillingRow(
        day=DAY,
        project="acme-ai-prod",
        service="Vertex AI",
        sku=sku,
        cost=Decimal(cost),
        usage_amount=Decimal(amount),
        usage_unit=unit,
        **fields,
    )


def test_rows_of_one_key_sum_into_one_line_with_tokens_by_kind():
    rows = [
        _row("Gemini 2.5 Pro Input Text Tokens", "1.25", "1000000"),
        _row("Gemini 2.5 Pro Input Text Tokens", "0.25", "200000"),
        _row(" Gemini 2.5 Pro Input Text Caching", "0.03", "100000"),
        _row("Gemini 2.5 Pro Output Text Tokens", "1.0", "100", unit="1000 count"),
    ]
    lines = {x.line_item: x for x in cost_lines(rows)}
    inputs = lines["Vertex AI: Gemini 2.5 Pro Input Text Tokens"]
    assert (inputs.tokens_in, inputs.cost, inputs.model) == (
        1_200_000,
        Decimal("1.5"),
        "gemini-2.5-pro",
    )
    cached = lines["Vertex AI: Gemini 2.5 Pro Input Text Caching"]
    assert (cached.tokens_in, cached.cache_read_tokens) == (100_000, 100_000)
    output = lines["Vertex AI: Gemini 2.5 Pro Output Text Tokens"]
    assert (output.tokens_out, output.tokens_in) == (100_000, 0)
    assert all(x.bucket_start == datetime(2026, 11, 3, tzinfo=UTC) for x in lines.values())
    assert all(
        (x.source, x.provider, x.estimated) == ("google.billing", "google", False)
        for x in lines.values()
    )


def test_character_and_storage_skus_keep_their_cost_and_count_no_tokens():
    rows = [
        _row("Gemini 1.0 Pro Text Input Characters", "0.5", "4000", unit="count"),
        _row("Gemini 2.5 Pro Context Caching Storage", "0.2", "7200", unit="count"),
        _row("Grounding with Google Search", "0.35", "10", unit="requests"),
    ]
    lines = cost_lines(rows)
    assert sum(x.cost or 0 for x in lines) == Decimal("1.05")
    assert all(x.tokens_in == x.tokens_out == 0 for x in lines)
    assert sum(x.requests for x in lines) == 10


def test_credits_are_kept_apart_as_negative_lines_by_type():
    rows = [
        _row(
            "Gemini 2.5 Pro Input Text Tokens",
            "2.00",
            "1600000",
            credits=(
                BillingCredit("FREE_TIER", Decimal("-0.50")),
                BillingCredit("PROMOTION", Decimal("-0.25")),
            ),
        ),
        _row(
            "Gemini 2.5 Pro Output Text Tokens",
            "1.00",
            "100000",
            credits=(BillingCredit("PROMOTION", Decimal("-0.10")),),
        ),
    ]
    lines = cost_lines(rows)
    gross = [x for x in lines if x.model != CREDITS_MODEL]
    credits = {x.line_item: x.cost for x in lines if x.model == CREDITS_MODEL}
    assert sum(x.cost or 0 for x in gross) == Decimal("3.00")  # gross, not netted
    assert credits == {
        "Vertex AI: credit FREE_TIER": Decimal("-0.50"),
        "Vertex AI: credit PROMOTION": Decimal("-0.35"),
    }
    assert all(x.tokens_in == 0 for x in lines if x.model == CREDITS_MODEL)


def test_a_label_keeps_lines_apart_and_travels_for_attribution():
    rows = [
        _row("Gemini 2.5 Pro Input Text Tokens", "1", label="team=growth"),
        _row("Gemini 2.5 Pro Input Text Tokens", "2", label="team=research"),
        _row("Gemini 2.5 Pro Input Text Tokens", "4"),
    ]
    lines = {x.line_item: x for x in cost_lines(rows)}
    assert set(lines) == {
        "Vertex AI: Gemini 2.5 Pro Input Text Tokens [team=growth]",
        "Vertex AI: Gemini 2.5 Pro Input Text Tokens [team=research]",
        "Vertex AI: Gemini 2.5 Pro Input Text Tokens",
    }
    assert lines["Vertex AI: Gemini 2.5 Pro Input Text Tokens [team=growth]"].label == "team=growth"


def test_non_usd_is_converted_with_the_exports_rate():
    rows = [
        _row(
            "Gemini 2.5 Pro Input Text Tokens",
            "9.20",
            currency="EUR",
            rate=Decimal("0.92"),
            credits=(BillingCredit("FREE_TIER", Decimal("-0.92")),),
        ),
    ]
    costs = {x.model: (x.cost, x.currency) for x in cost_lines(rows)}
    assert costs == {"gemini-2.5-pro": (Decimal(10), "USD"), CREDITS_MODEL: (Decimal(-1), "USD")}


@pytest.mark.parametrize("rate", [None, Decimal(0), Decimal(-1)])
def test_non_usd_without_a_usable_rate_is_refused(rate):
    with pytest.raises(BillingRowError, match="JPY"):
        cost_lines([_row("Gemini 2.5 Pro Input Text Tokens", "100", currency="JPY", rate=rate)])
