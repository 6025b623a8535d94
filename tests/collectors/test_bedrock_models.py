"""Naming Bedrock's billed lines by model id (pure), and through the collector against the
Bedrock and Cost Explorer stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from bot.collectors.bedrock import BedrockAccess, PullCache, bedrock_collector
from bot.collectors.bedrock_models import comparable, named_by_id, parse_foundation_models
from bot.domain import CostLine
from bot.errors import CollectorDataError
from bot.standins.bedrock import (
    Row,
    cost_explorer_routes,
    foundation_models,
    foundation_models_routes,
    marketplace_usage_type,
)
from bot.standins.server import StandIn, running

KEY_ID = "AKIAEXAMPLEMODELS"
SECRET = "models-example-secret"
SONNET_ID = "anthropic.claude-sonnet-4-5-20250929-v1:0"
START = datetime(2026, 11, 1, tzinfo=UTC)


def test_names_compare_without_case_spaces_or_punctuation():
    assert comparable("Claude 3.5 Sonnet") == comparable("Claude3.5Sonnet") == "claude35sonnet"
    assert comparable("Nova Pro") == comparable("NovaPro")


def test_the_base_id_wins_over_a_context_window_variant():
    ids = parse_foundation_models({"modelSummaries": foundation_models()})
    assert ids[comparable("Claude Sonnet 4.5")] == SONNET_ID
    assert ids["novapro"] == "amazon.nova-pro-v1:0"


def test_a_summary_without_a_model_id_is_a_data_error():
    with pytest.raises(CollectorDataError, match="modelId"):
        parse_foundation_models({"modelSummaries": [{"modelName": "x"}]})


def _line(model: str, cost: str) -> CostLine:
    return CostLine(
        source="bedrock.ce", provider="bedrock", bucket_start=START, model=model, cost=Decimal(cost)
    )


def test_known_names_become_ids_and_unknown_ones_stay():
    ids = {"claudesonnet45": SONNET_ID}
    renamed = named_by_id([_line("Claude Sonnet 4.5", "1"), _line("Mystery", "2")], ids)
    assert [x.model for x in renamed] == [SONNET_ID, "Mystery"]


@pytest.fixture
def aws() -> Iterator[StandIn]:
    rows = [
        Row(
            date(2026, 11, 1),
            "Claude Sonnet 4.5 (Amazon Bedrock Edition)",
            marketplace_usage_type("InputTokenCount"),
            "growth",
            Decimal(3),
            Decimal(1),
        ),
        Row(
            date(2026, 11, 1),
            "Amazon Bedrock",
            "USE1-NovaPro-input-tokens",
            "",
            Decimal(1),
            Decimal(100),
        ),
    ]
    routes = {
        **cost_explorer_routes(access_key_id=KEY_ID, secret_access_key=SECRET, rows=rows),
        **foundation_models_routes(access_key_id=KEY_ID, secret_access_key=SECRET),
    }
    with running(routes) as server:
        yield server


def _collect(server: StandIn, models_secret: str = SECRET) -> list[CostLine]:
    access = BedrockAccess(
        SecretStr(KEY_ID),
        SecretStr(SECRET),
        server.url,
        models_region="us-east-1",
        models_url=server.url,
    )
    collector = bedrock_collector(access, cache=PullCache())
    if models_secret != SECRET:
        wrong = BedrockAccess(SecretStr(KEY_ID), SecretStr(models_secret))
        collector.models = wrong.calls("bedrock", "us-east-1", server.url, None)
    return collector.collect(START, START + timedelta(days=1))


def test_billed_lines_are_named_by_model_id(aws):
    lines = _collect(aws)
    assert {x.model for x in lines} == {SONNET_ID, "amazon.nova-pro-v1:0"}
    assert sum(x.cost or 0 for x in lines) == 4
    assert "/us-east-1/bedrock/aws4_request" in (aws.requests[-1].header("Authorization") or "")


def test_without_the_model_list_the_billed_names_stay(aws, caplog):
    lines = _collect(aws, models_secret="wrong")
    assert {x.model for x in lines} == {"Claude Sonnet 4.5", "NovaPro"}
    assert "model names stay as billed" in caplog.text
    assert "wrong" not in caplog.text
