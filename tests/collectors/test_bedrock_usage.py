"""Decoding Cost Explorer usage types and service names for Bedrock (pure)."""

from __future__ import annotations

import pytest

from bot.collectors.bedrock_usage import (
    PROVISIONED_TIER,
    TokenKind,
    UsageType,
    decode_usage_type,
    is_bedrock_service,
    service_model,
)

IN, OUT, READ, WRITE = (
    TokenKind.INPUT,
    TokenKind.OUTPUT,
    TokenKind.CACHE_READ,
    TokenKind.CACHE_WRITE,
)


@pytest.mark.parametrize(
    ("usage_type", "expected"),
    [
        ("USE1-Claude3.5Sonnet-input-tokens", UsageType("USE1", "Claude3.5Sonnet", IN)),
        ("USE1-Claude3.5Sonnet-output-tokens", UsageType("USE1", "Claude3.5Sonnet", OUT)),
        (
            "USE1-Claude3.5Sonnet-cache-read-input-token-count",
            UsageType("USE1", "Claude3.5Sonnet", READ),
        ),
        (
            "EUC1-Claude3.5Sonnet-cache-write-input-token-count",
            UsageType("EUC1", "Claude3.5Sonnet", WRITE),
        ),
        ("USE1-NovaPro-input-tokens", UsageType("USE1", "NovaPro", IN)),
        ("USW2-NovaLite-output-tokens-batch", UsageType("USW2", "NovaLite", OUT, batch=True)),
        (
            "USE1-NovaPro-mantle-input-tokens-global-flex",
            UsageType("USE1", "NovaPro", IN, "flex", global_inference=True),
        ),
        (
            "USE1-MP:USE1_InputTokenCount-Units",
            UsageType("USE1", "", IN, marketplace=True),
        ),
        (
            "USE1-MP:USE1_OutputTokenCount_Global-Units",
            UsageType("USE1", "", OUT, global_inference=True, marketplace=True),
        ),
        (
            "USE1-MP:USE1_CacheReadInputTokenCount-Units",
            UsageType("USE1", "", READ, marketplace=True),
        ),
        (
            "USE1-MP:USE1_CacheWriteInputTokenCount_Global-Units",
            UsageType("USE1", "", WRITE, global_inference=True, marketplace=True),
        ),
        (
            "USE1-MP:USE1_InputTokenCount_Global_Batch-Units",
            UsageType("USE1", "", IN, batch=True, global_inference=True, marketplace=True),
        ),
        (
            "APS3-MP:APS3_input_tokens_global_standard-Units",
            UsageType("APS3", "", IN, "", global_inference=True, marketplace=True),
        ),
        (
            "USW2-MP:USW2_output_tokens_priority-Units",
            UsageType("USW2", "", OUT, "priority", marketplace=True),
        ),
        (
            "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits",
            UsageType("USE1", "Claude3Haiku", None, PROVISIONED_TIER),
        ),
        ("USE1-MP:USE1_SomethingNew-Units", UsageType("USE1", "", None, marketplace=True)),
        ("USE1-KnowledgeBase-Storage", UsageType("USE1")),
        ("Bedrock-whatever", UsageType()),
    ],
)
def test_usage_types_decode_into_model_kind_tier_and_flags(usage_type, expected):
    assert decode_usage_type(usage_type) == expected


def test_marketplace_quantities_are_millions_and_first_party_thousands():
    assert decode_usage_type("USE1-MP:USE1_InputTokenCount-Units").scale == 1_000_000
    assert decode_usage_type("USE1-NovaPro-input-tokens").scale == 1_000


@pytest.mark.parametrize(
    ("service", "bedrock", "model"),
    [
        ("Amazon Bedrock", True, ""),
        ("Claude 3.5 Sonnet (Amazon Bedrock Edition)", True, "Claude 3.5 Sonnet"),
        ("Claude Sonnet 4.5 (Amazon Bedrock Edition)", True, "Claude Sonnet 4.5"),
        ("Amazon Bedrock AgentCore", False, ""),
        ("Amazon Simple Storage Service", False, ""),
    ],
)
def test_services_are_bedrock_or_a_marketplace_model(service, bedrock, model):
    assert is_bedrock_service(service) is bedrock
    assert service_model(service) == model
