"""The demo's providers: simulators on loopback for every provider with a collector, serving
the synthetic company's activity, and the real collectors pointed at them. Google's is a
BigQuery stand-in serving the Cloud Billing export the synthetic Google lines make, queried by
the real client library with a service account whose token the stand-in issues."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import httpx
from google.oauth2 import service_account
from pydantic import SecretStr

from bot.clock import utc_midnight
from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Collector
from bot.collectors.bedrock import (
    BedrockAccess,
    BedrockCollector,
    PullCache,
    bedrock_collector,
)
from bot.collectors.deepseek import DeepSeekCollector, deepseek_client
from bot.collectors.google import SCOPES, GoogleCollector, bigquery_client
from bot.collectors.http import ProviderClient
from bot.collectors.openai import OpenAICollector, openai_client
from bot.collectors.openrouter import OpenRouterCollector, openrouter_client
from bot.domain import CostLine
from bot.standins.anthropic import anthropic_routes
from bot.standins.azure_demo import SimulatedAzure, simulated_azure
from bot.standins.bedrock import (
    cost_explorer_routes,
    foundation_models_routes,
    rows_from_lines,
)
from bot.standins.bigquery import BigQuery, running_bigquery
from bot.standins.cloudwatch import TARGET_PREFIX as CLOUDWATCH_TARGET
from bot.standins.cloudwatch import cloudwatch_routes
from bot.standins.deepseek import deepseek_routes
from bot.standins.openai import openai_routes
from bot.standins.openrouter import openrouter_routes
from bot.standins.server import Request, Response, Route, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines
from bot.synthetic.gcp_export import TABLE, export_rows

SIMULATED = ("openai", "anthropic", "openrouter", "deepseek", "bedrock")
BEDROCK_REGION = "us-east-1"
BILLED_BY_COLLECTORS = (*SIMULATED, "google")  # whose billed lines the demo collects
DEMO_KEYS = {  # loopback only; none of these is anyone's key
    "openai": "sk-admin-demo",
    "anthropic": "sk-ant-admin-demo",
    "openrouter": "sk-or-demo",
    "deepseek": "sk-deepseek-demo",
    "bedrock": "AKIADEMOBEDROCK",  # an access key id; its secret is BEDROCK_DEMO_SECRET
}
BEDROCK_DEMO_SECRET = "demo-secret-access-key"
OPENROUTER_CREDITS = Decimal(10)  # what the fictional company has bought on OpenRouter
DEEPSEEK_BALANCE = Decimal("2.40")  # its DeepSeek balance left today, in USD: running low


@dataclass
class SimulatedProviders:
    spec: ActivitySpec
    servers: dict[str, StandIn]
    bigquery: tuple[StandIn, BigQuery]
    clients: list[ProviderClient] = field(default_factory=list)
    azure: SimulatedAzure | None = None
    bedrock: BedrockCollector | None = None

    def serve(self, revision: int) -> None:
        """Serve the billed lines as of `revision` (1 restates the last days)."""
        billed = generate_cost_lines(self.spec, revision=revision)
        hourly = generate_estimated_lines(self.spec)
        for provider, server in self.servers.items():
            server.routes = _routes(provider, _of(provider, billed), _of(provider, hourly))
        if self.azure is not None:
            self.azure.serve(revision)
        self.bigquery[1].rows = export_rows(_of("google", billed))

    def collectors(self, http: httpx.Client, today: date) -> list[Collector]:
        """The real collectors, talking to the simulators; `today` is the demo's date."""
        self.clients = [
            make(http, DEMO_KEYS[p], base_url=self.servers[p].url)
            for p, make in (
                ("openai", openai_client),
                ("anthropic", anthropic_client),
                ("openrouter", openrouter_client),
                ("deepseek", deepseek_client),
            )
        ]
        openai, anthropic, openrouter, deepseek = self.clients
        aws = self.servers["bedrock"].url  # Cost Explorer and CloudWatch, told apart by target
        access = BedrockAccess(
            SecretStr(DEMO_KEYS["bedrock"]),
            SecretStr(BEDROCK_DEMO_SECRET),
            cost_explorer_url=aws,
            cloudwatch_regions=(BEDROCK_REGION,),
            cloudwatch_url=aws,
            models_region=BEDROCK_REGION,
            models_url=aws,
        )
        end_of_today = utc_midnight(today) + timedelta(days=1)
        self.bedrock = bedrock_collector(access, cache=PullCache(), now=lambda: end_of_today)
        collectors: list[Collector] = [
            OpenAICollector(openai),
            AnthropicCollector(anthropic),
            OpenRouterCollector(openrouter, today=lambda: today),
            DeepSeekCollector(deepseek),
            self.bedrock,
            self._google(),
        ]
        if self.azure is not None:
            collectors.append(self.azure.collector(http))
        return collectors

    def _google(self) -> GoogleCollector:
        server, service = self.bigquery
        account = service.new_account()
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            account.info, scopes=list(SCOPES)
        )
        client = bigquery_client(TABLE.split(".", 1)[0], credentials, server.url)
        return GoogleCollector(client, TABLE)

    @property
    def requests(self) -> int:
        """HTTP requests sent to every simulator (Bedrock's each a billed one in real life)."""
        bedrock = 0 if self.bedrock is None else self.bedrock.requests
        azure = 0 if self.azure is None else self.azure.requests
        bigquery = len(self.bigquery[0].requests)
        return sum(client.requests for client in self.clients) + bedrock + azure + bigquery


@contextmanager
def simulated_providers(spec: ActivitySpec) -> Iterator[SimulatedProviders]:
    with ExitStack() as stack:
        servers = {p: stack.enter_context(running({})) for p in SIMULATED}
        azure = stack.enter_context(simulated_azure(spec))
        bigquery = stack.enter_context(running_bigquery(TABLE, []))
        providers = SimulatedProviders(spec, servers, bigquery, azure=azure)
        providers.serve(revision=0)
        yield providers


def _aws_routes(key: str, billed: list[CostLine], hourly: list[CostLine]) -> dict[str, Route]:
    """Cost Explorer (billed lines by tag), CloudWatch (hourly tokens) and Bedrock's model
    list on one loopback server: boto3 names the service of each POST in its X-Amz-Target
    header, and the model list has its own path."""
    rows = rows_from_lines(billed, lambda line: bedrock_tag(line.project))
    secret = BEDROCK_DEMO_SECRET
    ce = cost_explorer_routes(access_key_id=key, secret_access_key=secret, rows=rows)["/"]
    cw = cloudwatch_routes(
        access_key_id=key, secret_access_key=secret, region=BEDROCK_REGION, lines=hourly
    )["/"]

    def route(request: Request) -> Response:
        target = request.header("X-Amz-Target") or ""
        return cw(request) if target.startswith(CLOUDWATCH_TARGET) else ce(request)

    models = foundation_models_routes(
        access_key_id=key, secret_access_key=secret, region=BEDROCK_REGION
    )
    return {"/": route, **models}


def bedrock_tag(project: str) -> str:
    """The `team` cost allocation tag on the synthetic company's application inference
    profiles: the team that owns the project ("proj_growth" -> "growth")."""
    return project.removeprefix("proj_")


def _of(provider: str, lines: list[CostLine]) -> list[CostLine]:
    return [line for line in lines if line.provider == provider]


def _routes(provider: str, billed: list[CostLine], hourly: list[CostLine]) -> dict[str, Route]:
    key = DEMO_KEYS[provider]
    if provider == "openrouter":
        return openrouter_routes(key=key, activity=billed, total_credits=OPENROUTER_CREDITS)
    if provider == "deepseek":
        return deepseek_routes(key=key, balances=[("USD", DEEPSEEK_BALANCE)])
    if provider == "bedrock":
        return _aws_routes(key, billed, hourly)
    make = openai_routes if provider == "openai" else anthropic_routes
    return dict(make(admin_key=key, costs=billed, usage=hourly))
