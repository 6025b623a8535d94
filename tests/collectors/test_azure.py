"""Azure OpenAI: QueryResult parsing on reference payloads, then the collector end to end,
azure-identity fetching its token from the login stand-in over TLS and the real ProviderClient
querying the Cost Management stand-in fed with the synthetic company's Azure activity."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.clock import FixedClock
from bot.collectors import build_collectors
from bot.collectors.azure import AzureCollector, azure_client, client_secret_credential
from bot.collectors.azure_costs import (
    COST_GROUPING,
    parse_costs_page,
    parse_resource_id,
    parse_tags_page,
    query_body,
)
from bot.collectors.azure_metrics import parse_metrics, provisioned_share
from bot.collectors.base import Window
from bot.collectors.http import Pacer, RetryPolicy, make_http_client
from bot.collectors.provisioned import Served
from bot.config import AttributionConfig, Settings
from bot.domain import CostLine, DateRange, Dimension, SpendQuery
from bot.errors import CollectorAuthError, CollectorDataError, ConfigError
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.azure import QpuBudget, TokenBook, login_routes, management_routes
from bot.standins.server import Fault, Request, Response, Route, StandIn, running
from bot.standins.tls import LoopbackCert, loopback_cert
from bot.store.attribution import Attribution
from bot.store.models import CollectorState
from bot.store.queries import spend
from bot.synthetic import ActivitySpec
from bot.synthetic.azure import (
    GROWTH,
    PLATFORM,
    PTU_DAILY,
    PTU_METER,
    SUBSCRIPTION,
    SUPPORT,
    azure_total,
    generate_azure_activity,
)

TENANT, CLIENT, SECRET = "72f988bf-0000-4000-8000-000000000001", "app-aispend", "s3cret-Azure-42"
SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=400, seed=3)
START = datetime(2026, 11, 8, tzinfo=UTC)
END = datetime(2026, 11, 22, tzinfo=UTC)
ACTIVITY = generate_azure_activity(SPEC)
QPU = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"

# Section 5.3 of the provider reference: a page grouped by ResourceId and Meter.
RID = (
    "/subscriptions/0000/resourcegroups/AI-Prod/providers/"
    "microsoft.cognitiveservices/accounts/aoai-prod"
)
PAGE: dict[str, Any] = {
    "id": "/subscriptions/0000/providers/Microsoft.CostManagement/query/5f1c",
    "name": "5f1c",
    "type": "Microsoft.CostManagement/query",
    "properties": {
        "nextLink": None,
        "columns": [
            {"name": "Cost", "type": "Number"},
            {"name": "UsageQuantity", "type": "Number"},
            {"name": "UsageDate", "type": "Number"},
            {"name": "ResourceId", "type": "String"},
            {"name": "Meter", "type": "String"},
            {"name": "Currency", "type": "String"},
        ],
        "rows": [
            [4.1325, 25045.454, 20260809, RID, "gpt-4o-mini-0718-Inp-glbl Tokens", "USD"],
            [9.88, 14969.697, 20260809, RID, "gpt-4o-mini-0718-Outp-glbl Tokens", "USD"],
            [0.5, 6060.606, 20260809, RID, "gpt 4o mini 0718 cached Inp glbl Tokens", "USD"],
        ],
    },
}


def test_a_query_page_becomes_billed_daily_lines_by_resource_group_account_and_meter():
    inp, out, cached = parse_costs_page(PAGE)
    day = datetime(2026, 8, 9, tzinfo=UTC)
    assert (inp.bucket_start, inp.bucket_hours, inp.project, inp.api_key) == (
        day,
        24,
        "ai-prod",
        "aoai-prod",
    )
    assert (inp.model, inp.service_tier, inp.cost, inp.estimated) == (
        "gpt-4o-mini",
        "global",
        Decimal("4.1325"),
        False,
    )
    assert (inp.tokens_in, out.tokens_out, out.cost) == (25_045_454, 14_969_697, Decimal("9.88"))
    assert (cached.tokens_in, cached.cache_read_tokens) == (6_060_606, 6_060_606)
    assert inp.line_item == "gpt-4o-mini-0718-Inp-glbl Tokens"


def test_columns_are_found_by_name_in_any_order():
    page = copy.deepcopy(PAGE)
    properties = page["properties"]
    order = [5, 4, 3, 2, 1, 0]
    properties["columns"] = [properties["columns"][i] for i in order]
    properties["rows"] = [[row[i] for i in order] for row in properties["rows"]]
    assert parse_costs_page(page) == parse_costs_page(PAGE)


def test_usd_cost_wins_over_billing_currency_and_iso_dates_are_read():
    page = copy.deepcopy(PAGE)
    page["properties"]["columns"].insert(1, {"name": "CostUSD", "type": "Number"})
    for row in page["properties"]["rows"]:
        row.insert(1, 1.5)
        row[-1] = "EUR"
        row[3] = "2026-08-09T00:00:00"
    lines = parse_costs_page(page)
    assert {(x.cost, x.currency, x.bucket_start.day) for x in lines} == {(Decimal("1.5"), "USD", 9)}


def test_an_empty_answer_and_a_204_are_no_lines():
    assert (
        parse_costs_page({"properties": {"columns": PAGE["properties"]["columns"], "rows": []}})
        == []
    )
    assert parse_costs_page({}) == []  # what the client makes of a 204


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["properties"]["columns"][0].update(name="Price"), "no cost column"),
        (
            lambda p: (
                p["properties"]["columns"].pop(4) and [r.pop(4) for r in p["properties"]["rows"]]
            ),
            "no 'Meter' column",
        ),
        (lambda p: p["properties"]["rows"][1].pop(), "row 1 has 5 values for 6 columns"),
        (lambda p: p["properties"]["rows"][0].__setitem__(0, "lots"), "Cost is not a number"),
        (lambda p: p["properties"]["rows"][0].__setitem__(2, 20261350), "UsageDate '20261350'"),
        (lambda p: p.__setitem__("properties", {"rows": "x"}), "properties.rows"),
    ],
)
def test_a_malformed_page_is_a_data_error_naming_what(edit, message):
    page = copy.deepcopy(PAGE)
    edit(page)
    with pytest.raises(CollectorDataError, match=f"^azure: .*{message}"):
        parse_costs_page(page)


def test_tags_are_read_per_resource_from_tag_value_columns():
    page = {
        "properties": {
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "UsageDate", "type": "Number"},
                {"name": "ResourceId", "type": "String"},
                {"name": "TagKey", "type": "String"},
                {"name": "TagValue", "type": "String"},
                {"name": "Currency", "type": "String"},
            ],
            "rows": [
                [1.0, 20260809, RID.upper(), "team", "search", "USD"],
                [
                    1.0,
                    20260809,
                    "/subscriptions/0000/resourcegroups/x/providers/a/b",
                    "team",
                    None,
                    "USD",
                ],
            ],
        }
    }
    assert parse_tags_page(page, "team") == {RID.lower(): "search"}


def test_resource_ids_name_group_and_account():
    resource = parse_resource_id(RID.upper())
    assert (resource.group, resource.account) == ("ai-prod", "aoai-prod")
    assert (parse_resource_id("").group, parse_resource_id("").account) == ("", "")


def test_the_query_asks_for_amortized_daily_cost_of_cognitive_services_in_the_window():
    body = query_body(START, END, COST_GROUPING)
    assert body["type"] == "AmortizedCost"
    assert body["timePeriod"] == {"from": "2026-11-08T00:00:00Z", "to": "2026-11-21T23:59:59Z"}
    assert body["dataset"]["granularity"] == "Daily"
    assert len(body["dataset"]["grouping"]) == 2
    assert body["dataset"]["filter"]["dimensions"]["values"] == [
        "microsoft.cognitiveservices/accounts"
    ]


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCert:
    return loopback_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def book() -> TokenBook:
    return TokenBook(TENANT, CLIENT, SECRET)


@pytest.fixture
def login(book: TokenBook, cert: LoopbackCert) -> Iterator[StandIn]:
    with running(login_routes(book), tls=cert.server_context()) as standin:
        yield standin


@pytest.fixture
def server(book: TokenBook) -> Iterator[StandIn]:
    with running(management_routes(book, ACTIVITY, page_rows=25)) as standin:
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    return []


class _Made:
    """Collectors made for one test; their credential sessions and clients closed after it."""

    def __init__(self) -> None:
        self.closers: list[Any] = []

    def close(self) -> None:
        for close in self.closers:
            close()


@pytest.fixture
def made() -> Iterator[_Made]:
    made = _Made()
    yield made
    made.close()


def _collector(
    made: _Made,
    login: StandIn,
    server: StandIn,
    cert: LoopbackCert,
    sleeps: list[float],
    secret: str = SECRET,
) -> AzureCollector:
    credential = client_secret_credential(
        TENANT,
        CLIENT,
        secret,
        login_url=login.url,
        connection_verify=str(cert.cert_file),
        disable_instance_discovery=True,
    )
    http = make_http_client()
    made.closers += [credential.close, http.close]  # type: ignore[attr-defined]
    client = azure_client(
        http,
        credential,
        base_url=server.url,
        pacer=Pacer(0.0),
        policy=RetryPolicy(attempts=3, base_delay=0.01),
        sleep=sleeps.append,
        jitter=lambda: 0.5,
    )
    return AzureCollector(client, SUBSCRIPTION)


@pytest.fixture
def collector(
    made: _Made, login: StandIn, server: StandIn, cert: LoopbackCert, sleeps: list[float]
) -> AzureCollector:
    return _collector(made, login, server, cert, sleeps)


def _total(lines: list[CostLine]) -> Decimal:
    return sum((x.cost or Decimal(0) for x in lines), Decimal(0))


def test_collect_returns_exactly_what_cost_management_billed(collector, server, login):
    lines = collector.collect(START, END)
    assert _total(lines) == azure_total(ACTIVITY, START, END)
    assert {x.bucket_start for x in lines} == {
        START + timedelta(days=d) for d in range(1, 14)
    }  # 13 billed days
    assert {x.project for x in lines} == {SUPPORT.group, GROWTH.group, PLATFORM.group}
    assert {x.label for x in lines if x.project == SUPPORT.group} == {"team=support"}
    assert {x.label for x in lines if x.project == PLATFORM.group} == {""}
    assert "(other)" in {x.model for x in lines}  # the Speech meter, kept
    # one token for the login, reused for every query and metrics call
    assert [r.method for r in login.requests] == ["GET", "POST"]
    tokens = {r.header("Authorization") for r in server.requests}
    assert len(tokens) == 1
    assert SECRET not in str(tokens)


def test_ptu_cost_becomes_gpt_4o_lines_with_an_effective_cost_per_token(collector):
    lines = collector.collect(START, END)
    provisioned = [x for x in lines if x.service_tier == "provisioned"]
    assert {x.model for x in provisioned} == {"gpt-4o"}  # the pay-as-you-go mini is not PTU's
    assert all(x.cost == PTU_DAILY and x.line_item == PTU_METER for x in provisioned)
    assert all(x.tokens_in > 1_000_000 and x.tokens_out > 100_000 for x in provisioned)
    assert len(provisioned) == 13


def test_collect_follows_next_links_with_the_same_body_and_token(collector, server):
    collector.collect(START, END)
    queries = [r for r in server.requests if r.method == "POST"]
    assert len(queries) > 2  # 25 rows a page: several pages for each of the two queries
    follow = [r for r in queries if r.param("$skiptoken")]
    assert follow
    assert len({r.body for r in queries}) == 2  # the cost query's body, the tag query's body
    assert {r.param("api-version") for r in queries} == {"2023-11-01"}
    metrics = [r for r in server.requests if r.method == "GET"]
    assert [r.path.split("/")[-4] for r in metrics] == [PLATFORM.name.lower()]


def test_throttling_waits_as_long_as_cost_management_asks(collector, server, sleeps):
    server.inject(
        Fault(
            status=429,
            headers={QPU: "7", "Retry-After": "2"},
            body={"error": {"code": "429", "message": "Too many requests. Please retry."}},
        )
    )
    lines = collector.collect(START, END)
    assert sleeps == [7.0]
    assert _total(lines) == azure_total(ACTIVITY, START, END)


def test_a_server_error_midway_through_the_pages_is_retried(collector, server, sleeps):
    server.inject(Fault(rewrite=lambda body: body))  # the first page passes
    server.inject(
        Fault(status=503, body={"error": {"code": "ServiceUnavailable", "message": "try later"}})
    )
    lines = collector.collect(START, END)
    assert sleeps == [0.01]
    assert _total(lines) == azure_total(ACTIVITY, START, END)


def test_a_wrong_secret_is_an_auth_error_that_never_shows_the_secret(
    made, login, server, cert, caplog
):
    wrong = "wrong-Secret-Value-99"
    collector = _collector(made, login, server, cert, [], secret=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorAuthError) as caught:
        collector.collect(START, END)
    assert str(caught.value) == "azure: the token endpoint refused the credentials"
    assert server.requests == []
    assert wrong not in caplog.text
    assert wrong not in str(caught.value)


def test_a_token_the_login_did_not_issue_is_refused(server, book):
    http = make_http_client()
    answer = http.post(
        server.url + SUBSCRIPTION + "/providers/Microsoft.CostManagement/query",
        params={"api-version": "2023-11-01"},
        json=query_body(START, END, COST_GROUPING),
        headers={"Authorization": "Bearer forged"},
    )
    http.close()
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_next_link_to_another_host_is_refused_before_our_token_goes_there(collector, server):
    page = {
        "properties": {"nextLink": "https://evil.example/q?$skiptoken=x", "columns": [], "rows": []}
    }
    server.inject(Fault(status=200, body=page))
    with pytest.raises(CollectorDataError, match="linked to another host"):
        collector.collect(START, END)
    assert len([r for r in server.requests if r.method == "POST"]) == 1


def test_a_next_link_that_repeats_stops_the_collection(collector, server):
    link = server.url + SUBSCRIPTION + "/providers/Microsoft.CostManagement/query?$skiptoken=same"
    page = {"properties": {"nextLink": link, "columns": [], "rows": []}}
    server.inject(*[Fault(status=200, body=page)] * 3)
    with pytest.raises(CollectorDataError, match="repeated its next link"):
        collector.collect(START, END)


def test_the_standin_refuses_three_groupings(collector):
    body = query_body(START, END, [*COST_GROUPING, {"type": "TagKey", "name": "team"}])
    with pytest.raises(Exception, match="at most 2 groupings"):
        collector.client.post_json(
            SUBSCRIPTION + "/providers/Microsoft.CostManagement/query",
            body,
            {"api-version": "2023-11-01"},
        )


# --- into the store: attribution by tag and resource group, failures recorded --------------

RULES = (
    AttributionConfig(provider="azure", label="team=support", team="support"),
    AttributionConfig(provider="azure", label="team=growth", team="growth"),
    AttributionConfig(provider="azure", project=PLATFORM.group, team="platform"),
)


def test_tags_and_resource_groups_attribute_azure_spend_to_teams(engine, collector):
    context = CollectContext(engine, PriceBook(), Attribution.from_rules(RULES), FixedClock(END))
    [outcome] = collect_all(context, [collector], Window(START, END))
    assert outcome.ok
    with engine.connect() as connection:
        teams = spend(
            connection, SpendQuery(DateRange(START.date(), END.date()), (Dimension.TEAM,))
        )
    by_team = {r.keys[0]: r.cost for r in teams.rows}
    assert set(by_team) == {"support", "growth", "platform"}
    assert sum(by_team.values(), Decimal(0)) == azure_total(ACTIVITY, START, END)
    platform = [r for r in ACTIVITY.usage if r.account == PLATFORM]
    assert by_team["platform"] == sum((r.cost for r in platform), Decimal(0))


def test_a_failed_collection_is_recorded_without_the_secret(engine, made, login, server, cert):
    context = CollectContext(engine, PriceBook(), Attribution({}), FixedClock(END))
    server.inject(*[Fault(status=500)] * 3)
    collector = _collector(made, login, server, cert, [])
    [outcome] = collect_all(context, [collector], Window(START, END))
    assert not outcome.ok
    with engine.connect() as connection:
        state = connection.execute(select(CollectorState)).mappings().one()
    assert state["source"] == "azure.costs"
    assert "answered 500" in state["last_error"]
    assert SECRET not in state["last_error"]
    assert "Bearer" not in state["last_error"]


# --- settings and the registry ---------------------------------------------------------------


def test_the_registry_builds_azure_from_a_service_principal_and_a_scope():
    settings = Settings(
        _env_file=None,
        azure_tenant_id=TENANT,
        azure_client_id=CLIENT,
        azure_client_secret=SecretStr(SECRET),
        azure_scope=SUBSCRIPTION,
        azure_team_tag="owner-team",
    )
    http = make_http_client()
    [collector] = build_collectors(settings, http, only="azure")
    http.close()
    assert isinstance(collector, AzureCollector)
    assert (collector.scope, collector.tag_key) == (SUBSCRIPTION, "owner-team")
    assert collector.client.base_url == "https://management.azure.com"
    assert build_collectors(Settings(_env_file=None), http, only="azure") == []


def test_a_secret_without_tenant_client_or_scope_is_a_config_error():
    settings = Settings(_env_file=None, azure_client_secret=SecretStr(SECRET), azure_scope="")
    with (
        make_http_client() as http,
        pytest.raises(ConfigError, match="AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_SCOPE") as e,
    ):
        build_collectors(settings, http, only="azure")
    assert SECRET not in str(e.value)


class _Clock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_query_budget_throttles_and_the_collector_waits_it_out(made, login, book, cert):
    clock = _Clock()
    budget = QpuBudget(capacity=1, per_second=0.25, clock=clock)
    routes = management_routes(book, ACTIVITY, page_rows=500, budget=budget)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    with running(routes) as server:
        collector = _collector(made, login, server, cert, [])
        collector.client.sleep = sleep
        lines = collector.collect(START, END)
        statuses = [r.method for r in server.requests]
    assert _total(lines) == azure_total(ACTIVITY, START, END)
    assert slept == [4.0]  # the second query found the budget empty: 1 query per 4 s
    assert statuses == ["POST", "POST", "POST", "GET"]  # costs, tags refused, again, metrics


def test_metrics_failing_leaves_ptu_cost_whole_and_the_bill_exact(collector, server):
    server.routes = {"/subscriptions/*": _fail_get(server.routes["/subscriptions/*"])}
    lines = collector.collect(START, END)
    provisioned = [x for x in lines if x.service_tier == "provisioned"]
    assert {(x.model, x.tokens_in, x.cost) for x in provisioned} == {("", 0, PTU_DAILY)}
    assert _total(lines) == azure_total(ACTIVITY, START, END)


def _fail_get(route: Route) -> Route:
    """The route, but Azure Monitor (every GET) is down."""

    def answer(request: Request) -> Response:
        if request.method == "GET":
            return Response(503, {"error": {"code": "ServiceUnavailable", "message": "later"}})
        return route(request)

    return answer


# Azure Monitor Metrics - List, interval P1D, split by ModelName (constructed from section 5.6).
METRICS: dict[str, Any] = {
    "cost": 0,
    "timespan": "2026-08-09T00:00:00Z/2026-08-11T00:00:00Z",
    "interval": "P1D",
    "value": [
        {
            "name": {
                "value": "ProcessedPromptTokens",
                "localizedValue": "Processed Inference Tokens",
            },
            "unit": "Count",
            "timeseries": [
                {
                    "metadatavalues": [{"name": {"value": "modelname"}, "value": "gpt-4o"}],
                    "data": [
                        {"timeStamp": "2026-08-09T00:00:00Z", "total": 5000.0},
                        {"timeStamp": "2026-08-10T00:00:00Z", "total": None},
                    ],
                }
            ],
        },
        {
            "name": {"value": "GeneratedTokens"},
            "timeseries": [
                {
                    "metadatavalues": [{"name": {"value": "ModelName"}, "value": "gpt-4o"}],
                    "data": [{"timeStamp": "2026-08-09T00:00:00Z", "total": 700.0}],
                }
            ],
        },
        {"name": {"value": "AzureOpenAIRequests"}, "timeseries": []},
    ],
}


def test_metrics_become_tokens_served_per_model_and_day_less_pay_as_you_go():
    resource = parse_resource_id(RID)
    [served] = parse_metrics(METRICS, resource)
    day = datetime(2026, 8, 9, tzinfo=UTC)
    assert served == Served(day, "ai-prod", "aoai-prod", "gpt-4o", 5000, 700)
    paygo = parse_costs_page(PAGE)  # gpt-4o-mini: a different model, so nothing is taken off
    assert provisioned_share([served], paygo) == [served]
    billed = [replace(line, model="gpt-4o") for line in paygo]
    [left] = provisioned_share([served], billed)
    assert (left.tokens_in, left.tokens_out) == (0, 0)  # never below zero
    with pytest.raises(CollectorDataError, match=r"azure: metrics: field 'value'"):
        parse_metrics({}, resource)
