"""Bedrock through Cost Explorer: the pure parsers, and the collector talking real boto3 to the
Cost Explorer stand-in (paging, retries, errors, the pull cache, the store)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr
from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.collectors import COLLECTORS, build_collectors
from bot.collectors.aws import AwsCalls, aws_client, translate_client_error
from bot.collectors.base import Window
from bot.collectors.bedrock import BedrockCollector, BedrockOptions, PullCache
from bot.collectors.bedrock_parse import (
    SOURCE,
    TagCost,
    parse_tag_page,
    parse_usage_page,
    split_by_tag,
)
from bot.collectors.http import make_http_client
from bot.config import AttributionConfig, Settings
from bot.domain import CostLine, DateRange, Dimension, Origin, SpendQuery
from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorRateLimited,
    CollectorUnavailable,
    ConfigError,
)
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.bedrock import (
    THROTTLED,
    UNAVAILABLE,
    Row,
    cost_explorer_routes,
    error_fault,
    marketplace_usage_type,
)
from bot.standins.server import StandIn, running
from bot.store.attribution import Attribution
from bot.store.queries import spend

KEY_ID = "AKIAEXAMPLEBEDROCK"
SECRET = "wJalrXUtnFEMI-example-secret"
SONNET = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"
NOV_1 = date(2026, 11, 1)
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 4, tzinfo=UTC)
IN_TYPE = marketplace_usage_type("InputTokenCount")
OUT_TYPE = marketplace_usage_type("OutputTokenCount")
NOVA_TYPE = "USE1-NovaPro-input-tokens"


def _group(keys: list[str], cost: str, quantity: str | None = None) -> dict[str, Any]:
    metrics = {"UnblendedCost": {"Amount": cost, "Unit": "USD"}}
    if quantity is not None:
        metrics["UsageQuantity"] = {"Amount": quantity, "Unit": "N/A"}
    return {"Keys": keys, "Metrics": metrics}


def _page(*groups: dict[str, Any], day: str = "2026-08-10") -> dict[str, Any]:
    return {
        "GroupDefinitions": [],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day, "End": "2026-08-11"},
                "Total": {},
                "Groups": list(groups),
                "Estimated": True,
            }
        ],
        "DimensionValueAttributes": [],
    }


REFERENCE_PAGE = _page(
    _group(
        ["Claude Sonnet 4.5 (Amazon Bedrock Edition)", "USE1-MP:USE1_InputTokenCount_Global-Units"],
        "18.4410000000",
        "6.147",
    ),
    _group(["Amazon Bedrock", "USE1-NovaPro-output-tokens"], "0.9600000000", "300.0"),
)


def test_the_reference_page_becomes_billed_lines_with_model_tokens_and_exact_dollars():
    pairs = parse_usage_page(REFERENCE_PAGE, "UnblendedCost")
    (service, sonnet), (_, nova) = pairs
    assert service == "Claude Sonnet 4.5 (Amazon Bedrock Edition)"
    assert sonnet.model == "Claude Sonnet 4.5"
    assert sonnet.tokens_in == 6_147_000
    assert sonnet.cost == Decimal("18.4410000000")
    assert sonnet.line_item == "USE1-MP:USE1_InputTokenCount_Global-Units"
    assert sonnet.bucket_start == datetime(2026, 8, 10, tzinfo=UTC)
    assert (sonnet.source, sonnet.provider, sonnet.estimated) == (SOURCE, "bedrock", False)
    assert (nova.model, nova.tokens_out, nova.tokens_in) == ("NovaPro", 300_000, 0)


def test_cache_reads_are_inside_tokens_in():
    page = _page(_group([SONNET, "USE1-MP:USE1_CacheReadInputTokenCount-Units"], "0.3", "1"))
    ((_, line),) = parse_usage_page(page, "UnblendedCost")
    assert (line.tokens_in, line.cache_read_tokens, line.cache_write_tokens) == (10**6, 10**6, 0)


def test_provisioned_throughput_keeps_its_dollars_and_counts_no_tokens():
    usage_type = "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits"
    page = _page(_group(["Amazon Bedrock", usage_type], "39.6000000000", "1"))
    ((_, line),) = parse_usage_page(page, "UnblendedCost")
    assert (line.service_tier, line.model, line.cost) == (
        "provisioned",
        "Claude3Haiku",
        Decimal("39.6"),
    )
    assert line.tokens_in == line.tokens_out == 0


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda g: g["Metrics"].pop("UnblendedCost"), "UnblendedCost"),
        (lambda g: g["Metrics"]["UnblendedCost"].update(Amount="lots"), "'lots'"),
        (lambda g: g["Keys"].pop(), "1 keys"),
        (lambda g: g.pop("Keys"), "Keys"),
    ],
)
def test_a_page_not_in_the_documented_shape_is_a_named_data_error(edit, named):
    page = copy.deepcopy(REFERENCE_PAGE)
    edit(page["ResultsByTime"][0]["Groups"][0])
    with pytest.raises(CollectorDataError, match="bedrock") as caught:
        parse_usage_page(page, "UnblendedCost")
    assert named in str(caught.value)


def test_tag_groups_are_key_dollar_value_and_untagged_is_empty():
    page = _page(_group([SONNET, "team$growth"], "2"), _group([SONNET, "team$"], "1"))
    assert [(t.value, t.cost) for t in parse_tag_page(page, "UnblendedCost", "team")] == [
        ("growth", Decimal(2)),
        ("", Decimal(1)),
    ]
    with pytest.raises(CollectorDataError, match=r"team\$VALUE"):
        parse_tag_page(_page(_group([SONNET, "growth"], "2")), "UnblendedCost", "team")


def _usage_line(cost: str, tokens: int, line_item: str = IN_TYPE) -> CostLine:
    return CostLine(
        source=SOURCE,
        provider="bedrock",
        bucket_start=START,
        model="Claude Sonnet 4.5",
        line_item=line_item,
        tokens_in=tokens,
        cost=Decimal(cost),
    )


def test_a_split_by_tag_keeps_every_dollar_and_token_exactly():
    line = _usage_line("1.0000000000", 1_000_001)
    tags = [TagCost(NOV_1, SONNET, v, Decimal(1)) for v in ("a", "b", "c")]
    parts = split_by_tag([(SONNET, line)], tags)
    assert sorted(p.project for p in parts) == ["a", "b", "c"]
    assert sum((p.cost or Decimal(0)) for p in parts) == Decimal(1)
    assert sum(p.tokens_in for p in parts) == 1_000_001
    assert {p.cost for p in parts} == {Decimal("0.3333333333"), Decimal("0.3333333334")}


def test_a_service_with_one_tag_value_or_none_is_not_split():
    line = _usage_line("5", 10)
    only = split_by_tag([(SONNET, line)], [TagCost(NOV_1, SONNET, "growth", Decimal(5))])
    assert [(p.project, p.cost) for p in only] == [("growth", Decimal(5))]
    untouched = split_by_tag([(SONNET, line)], [TagCost(NOV_1, "Amazon Bedrock", "x", Decimal(1))])
    assert untouched == [line]


# --- the collector against the stand-in, through real boto3 ---------------------------------


def _rows() -> list[Row]:
    rows = []
    for offset in range(3):
        day = NOV_1 + timedelta(days=offset)
        rows += [
            Row(day, SONNET, IN_TYPE, "growth", Decimal("3.0000000001"), Decimal("1")),
            Row(day, SONNET, OUT_TYPE, "growth", Decimal("1.5"), Decimal("0.1")),
            Row(day, SONNET, IN_TYPE, "research", Decimal("0.75"), Decimal("0.25")),
            Row(
                day,
                "Amazon Bedrock",
                "USE1-NovaPro-input-tokens",
                "",
                Decimal("0.8"),
                Decimal(1000),
            ),
            Row(day, "Amazon Bedrock AgentCore", "USE1-Runtime-vCPU-Hours", "", Decimal(9)),
            Row(day, "Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs", "", Decimal(4)),
        ]
    return rows


BEDROCK_PER_DAY = Decimal("3.0000000001") + Decimal("1.5") + Decimal("0.75") + Decimal("0.8")


@pytest.fixture
def server() -> Iterator[StandIn]:
    with running(
        cost_explorer_routes(
            access_key_id=KEY_ID, secret_access_key=SECRET, rows=_rows(), page_size=2
        )
    ) as s:
        yield s


def _ce(server: StandIn, key_id: str, secret: str) -> Any:
    return aws_client("ce", key_id, secret, region="us-east-1", endpoint_url=server.url, timeout=5)


def _collector(
    server: StandIn,
    *,
    key_id: str = KEY_ID,
    tag_key: str = "team",
    cache: PullCache | None = None,
    refresh: timedelta = timedelta(hours=8),
    now: datetime = END,
    pages: list[str] | None = None,
) -> BedrockCollector:
    client = _ce(server, key_id, SECRET)
    hook = None if pages is None else pages.append
    return BedrockCollector(
        AwsCalls(client, "bedrock", on_page=hook),
        BedrockOptions(tag_key=tag_key, refresh=refresh),
        cache=cache if cache is not None else PullCache(),
        now=lambda: now,
    )


def _total(lines: list[CostLine]) -> Decimal:
    return sum((x.cost or Decimal(0) for x in lines), Decimal(0))


def _targets(server: StandIn) -> list[str]:
    return [(r.header("X-Amz-Target") or "").split(".")[-1] for r in server.requests]


def test_collect_pages_through_bedrock_services_only_and_keeps_every_dollar(server):
    pages: list[str] = []
    collector = _collector(server, pages=pages)
    lines = collector.collect(START, END)
    assert _total(lines) == 3 * BEDROCK_PER_DAY
    assert {x.model for x in lines} == {"Claude Sonnet 4.5", "NovaPro"}
    assert {x.project for x in lines} == {"growth", "research", ""}
    # 3 groups a day by usage type and 3 by tag, over 3 days, in pages of 2
    assert _targets(server) == ["GetDimensionValues"] + ["GetCostAndUsage"] * (5 + 5)
    assert collector.requests == len(server.requests) == len(pages) == 11
    assert pages == ["bedrock"] * 11


def test_every_request_is_signed_with_the_key_id_for_ce_in_us_east_1(server):
    _collector(server).collect(START, END)
    for request in server.requests:
        authorization = request.header("Authorization") or ""
        assert f"Credential={KEY_ID}/" in authorization
        assert "/us-east-1/ce/aws4_request" in authorization
        assert SECRET not in authorization


def test_each_tag_value_gets_its_own_dollars_per_model_and_day(server):
    lines = _collector(server).collect(START, START + timedelta(days=1))
    by_tag: dict[str, Decimal] = {}
    for line in lines:
        by_tag[line.project] = by_tag.get(line.project, Decimal(0)) + (line.cost or Decimal(0))
    assert by_tag == {
        "growth": Decimal("4.5000000001"),
        "research": Decimal("0.75"),
        "": Decimal("0.8"),
    }


def test_without_a_tag_key_one_grouping_is_pulled(server):
    lines = _collector(server, tag_key="").collect(START, END)
    assert _total(lines) == 3 * BEDROCK_PER_DAY
    assert {x.project for x in lines} == {""}
    assert _targets(server).count("GetCostAndUsage") == 5


def test_a_window_pulled_recently_is_not_requested_again(server):
    cache = PullCache()
    first = _collector(server, cache=cache).collect(START, END)
    sent = len(server.requests)
    again = _collector(server, cache=cache, now=END + timedelta(hours=7)).collect(START, END)
    assert again == first
    assert len(server.requests) == sent
    _collector(server, cache=cache, now=END + timedelta(hours=8)).collect(START, END)
    assert len(server.requests) == 2 * sent


def test_throttling_and_server_errors_are_retried_by_boto3(server):
    server.inject(THROTTLED, UNAVAILABLE)
    lines = _collector(server, tag_key="").collect(START, END)
    assert _total(lines) == 3 * BEDROCK_PER_DAY
    assert len(server.requests) == 1 + 5 + 2


def test_errors_that_outlast_the_retries_name_provider_and_operation_never_a_secret(server):
    server.inject(*[UNAVAILABLE] * 4)
    with pytest.raises(CollectorUnavailable) as caught:
        _collector(server).collect(START, END)
    message = str(caught.value)
    assert message.startswith("bedrock: GetDimensionValues answered InternalServerException")
    assert KEY_ID not in message
    assert SECRET not in message
    assert len(server.requests) == 4


def test_a_wrong_secret_fails_the_signature_and_is_not_retried(server):
    client = _ce(server, KEY_ID, "not-the-secret")
    collector = BedrockCollector(AwsCalls(client, "bedrock"), cache=PullCache())
    with pytest.raises(CollectorAuthError) as caught:
        collector.collect(START, END)
    assert "InvalidSignatureException" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    assert len(server.requests) == 1


def test_a_key_id_cost_explorer_does_not_know_is_refused_without_retries(server):
    with pytest.raises(CollectorAuthError) as caught:
        _collector(server, key_id="AKIAUNKNOWN").collect(START, END)
    assert "UnrecognizedClientException" in str(caught.value)
    assert "AKIAUNKNOWN" not in str(caught.value)
    assert len(server.requests) == 1


def test_persistent_throttling_is_rate_limited():
    error = ClientError(
        {
            "Error": {"Code": "LimitExceededException", "Message": "Rate exceeded"},
            "ResponseMetadata": {
                "HTTPStatusCode": 400,
                "HTTPHeaders": {},
                "HostId": "",
                "RequestId": "r-1",
                "RetryAttempts": 3,
            },
        },
        "GetCostAndUsage",
    )
    translated = translate_client_error("bedrock", "GetCostAndUsage", error)
    assert isinstance(translated, CollectorRateLimited)
    assert (
        str(translated)
        == "bedrock: GetCostAndUsage answered LimitExceededException after every retry"
    )


def test_a_validation_error_carries_aws_message(server):
    server.inject(error_fault("DataUnavailableException", "Data is not available yet"))
    with pytest.raises(Exception, match="DataUnavailableException: Data is not available yet"):
        _collector(server).collect(START, END)


def test_a_changed_request_between_pages_is_refused_by_the_stand_in(server):
    client = _ce(server, KEY_ID, SECRET)
    query: dict[str, Any] = {
        "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-04"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    token = client.get_cost_and_usage(**query)["NextPageToken"]
    changed = {**query, "Metrics": ["UsageQuantity"], "NextPageToken": token}
    with pytest.raises(ClientError, match="RequestChangedException"):
        client.get_cost_and_usage(**changed)


def test_the_registry_builds_bedrock_only_when_its_secret_is_set(server):
    settings = Settings(
        bedrock_access_key_id=SecretStr(KEY_ID),
        bedrock_secret_access_key=SecretStr(SECRET),
        bedrock_cost_explorer_url=server.url,
        bedrock_refresh_hours=0,
        bedrock_models_region="",
    )
    with make_http_client() as http:
        assert build_collectors(Settings(), http, only="bedrock") == []
        (collector,) = build_collectors(settings, http, only="bedrock")
    assert collector.provider == "bedrock"
    assert _total(list(collector.collect(START, END))) == 3 * BEDROCK_PER_DAY
    assert COLLECTORS["bedrock"].key_setting == "bedrock_secret_access_key"
    assert SECRET not in repr(settings)


def _team_spend(engine: Engine) -> tuple[Decimal, dict[tuple[str, ...], Decimal]]:
    period = DateRange(NOV_1, NOV_1 + timedelta(days=3))
    with engine.connect() as connection:
        total = spend(connection, SpendQuery(period, origin=Origin.BILLED)).total
        teams = spend(connection, SpendQuery(period, (Dimension.TEAM,)))
    return total, {r.keys: r.cost for r in teams.rows}


def test_stored_by_team_through_attribution_rules_and_a_repull_replaces(engine):
    rules = [
        AttributionConfig(provider="bedrock", project="growth", team="growth"),
        AttributionConfig(provider="bedrock", project="research", team="research"),
    ]
    context = CollectContext(
        engine, PriceBook(), Attribution.from_rules(rules), FixedClock(END + timedelta(hours=1))
    )
    window = Window(START, END)
    rows = _rows()
    with running(
        cost_explorer_routes(access_key_id=KEY_ID, secret_access_key=SECRET, rows=rows)
    ) as first:
        (outcome,) = collect_all(context, [_collector(first, refresh=timedelta(0))], window)
    assert outcome.ok
    total, teams = _team_spend(engine)
    assert total == 3 * BEDROCK_PER_DAY
    assert teams[("growth",)] == 3 * Decimal("4.5000000001")
    assert teams[("research",)] == 3 * Decimal("0.75")

    restated = [
        Row(r.day, r.service, r.usage_type, r.tag, r.cost * 2, r.quantity)
        if r.day == NOV_1 + timedelta(days=2)
        else r
        for r in rows
    ]
    with running(
        cost_explorer_routes(access_key_id=KEY_ID, secret_access_key=SECRET, rows=restated)
    ) as second:
        collect_all(context, [_collector(second, refresh=timedelta(0))], window)
    total, _ = _team_spend(engine)
    assert total == 4 * BEDROCK_PER_DAY


def test_a_secret_without_its_key_id_is_a_config_error():
    settings = Settings(bedrock_secret_access_key=SecretStr(SECRET))
    with make_http_client() as http, pytest.raises(ConfigError, match="BEDROCK_ACCESS_KEY_ID"):
        build_collectors(settings, http, only="bedrock")
