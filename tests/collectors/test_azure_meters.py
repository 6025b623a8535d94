"""Azure OpenAI meter names decoded into model, token kind, scope and unit."""

from __future__ import annotations

import pytest

from bot.collectors.azure_meters import OTHER_MODEL, Scope, TokenKind, decode_meter

IN, CACHED, OUT, PTU, OTHER = (
    TokenKind.INPUT,
    TokenKind.CACHED_INPUT,
    TokenKind.OUTPUT,
    TokenKind.PROVISIONED,
    TokenKind.OTHER,
)
G, D, R, U = Scope.GLOBAL, Scope.DATA_ZONE, Scope.REGIONAL, Scope.UNKNOWN


@pytest.mark.parametrize(
    ("meter", "model", "kind", "scope", "batch", "unit"),
    [
        ("gpt-4o-0513 Inp glbl Tokens", "gpt-4o", IN, G, False, 1_000),
        ("gpt 4o 0513 Outp regnl Tokens", "gpt-4o", OUT, R, False, 1_000),
        ("gpt-4o-mini-0718-Inp-glbl Tokens", "gpt-4o-mini", IN, G, False, 1_000),
        ("gpt-4o-mini-0718-Outp-glbl Tokens", "gpt-4o-mini", OUT, G, False, 1_000),
        ("gpt 4o 1120 cached Inp glbl Tokens", "gpt-4o", CACHED, G, False, 1_000),
        ("gpt 4o mini 0718 cd inp glbl Tokens", "gpt-4o-mini", CACHED, G, False, 1_000),
        ("gpt 4.1 Inp Data Zone Tokens", "gpt-4.1", IN, D, False, 1_000),
        ("gpt-4.1-Batch-Inp-DZ Tokens", "gpt-4.1", IN, D, True, 1_000),
        ("GPT 5.1 opt Gl 1M Tokens", "gpt-5.1", OUT, G, False, 1_000_000),  # opt is output
        ("o3 mini 0131 Inp DZn Tokens", "o3-mini", IN, D, False, 1_000),
        ("text-embedding-3-small Tokens", "text-embedding-3-small", IN, U, False, 1_000),
        ("Provisioned Managed Global Unit", "", PTU, G, False, 1_000),
        ("Provisioned Managed Data Zone Unit", "", PTU, D, False, 1_000),
        ("S1 Speech To Text", OTHER_MODEL, OTHER, U, False, 1_000),
        ("", OTHER_MODEL, OTHER, U, False, 1_000),
    ],
)
def test_meter_names_decode(meter, model, kind, scope, batch, unit):
    decoded = decode_meter(meter)
    assert (decoded.model, decoded.kind, decoded.scope, decoded.batch) == (
        model,
        kind,
        scope,
        batch,
    )
    assert decoded.tokens_per_unit == unit
    assert decoded.name == meter


@pytest.mark.parametrize(
    ("meter", "tier"),
    [
        ("gpt-4o-0513 Inp glbl Tokens", "global"),
        ("gpt 4.1 Inp Data Zone Tokens", "datazone"),
        ("gpt 4o 0513 Outp regnl Tokens", "regional"),
        ("gpt 4o Priority Inp glbl Tokens", "priority"),
        ("Provisioned Managed Global Unit", "provisioned"),
    ],
)
def test_the_service_tier_is_the_scope_priority_or_provisioned(meter, tier):
    assert decode_meter(meter).service_tier == tier
    assert decode_meter(meter).model != "priority"
