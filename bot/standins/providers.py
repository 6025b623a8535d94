"""The demo's providers: simulators on loopback for every provider with a collector, serving
the synthetic company's activity, and the real collectors pointed at them. Google's is a
BigQuery stand-in serving the Cloud Billing export the synthetic Google lines make, queried by
the real client library with a service account whose token the stand-in issues."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import httpx
from google.oauth2 import service_account

from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Collector
from bot.collectors.deepseek import DeepSeekCollector, deepseek_client
from bot.collectors.google import SCOPES, GoogleCollector, bigquery_client
from bot.collectors.http import ProviderClient
from bot.collectors.openai import OpenAICollector, openai_client
from bot.collectors.openrouter import OpenRouterCollector, openrouter_client
from bot.domain import CostLine
from bot.standins.anthropic import anthropic_routes
from bot.standins.bigquery import BigQuery, running_bigquery
from bot.standins.deepseek import deepseek_routes
from bot.standins.openai import openai_routes
from bot.standins.openrouter import openrouter_routes
from bot.standins.server import Route, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines
from bot.synthetic.gcp_export import TABLE, export_rows

SIMULATED = ("openai", "anthropic", "openrouter", "deepseek")
BILLED_BY_COLLECTORS = (*SIMULATED, "google")  # whose billed lines the demo collects
DEMO_KEYS = {  # loopback only; none of these is anyone's key
    "openai": "sk-admin-demo",
    "anthropic": "sk-ant-admin-demo",
    "openrouter": "sk-or-demo",
    "deepseek": "sk-deepseek-demo",
}
OPENROUTER_CREDITS = Decimal(10)  # what the fictional company has bought on OpenRouter
DEEPSEEK_BALANCE = Decimal("2.40")  # its DeepSeek balance left today, in USD: running low


@dataclass
class SimulatedProviders:
    spec: ActivitySpec
    servers: dict[str, StandIn]
    bigquery: tuple[StandIn, BigQuery]
    clients: list[ProviderClient] = field(default_factory=list)

    def serve(self, revision: int) -> None:
        """Serve the billed lines as of `revision` (1 restates the last days)."""
        billed = generate_cost_lines(self.spec, revision=revision)
        hourly = generate_estimated_lines(self.spec)
        for provider, server in self.servers.items():
            server.routes = _routes(provider, _of(provider, billed), _of(provider, hourly))
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
        return [
            OpenAICollector(openai),
            AnthropicCollector(anthropic),
            OpenRouterCollector(openrouter, today=lambda: today),
            DeepSeekCollector(deepseek),
            self._google(),
        ]

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
        return sum(client.requests for client in self.clients) + len(self.bigquery[0].requests)


@contextmanager
def simulated_providers(spec: ActivitySpec) -> Iterator[SimulatedProviders]:
    with ExitStack() as stack:
        servers = {p: stack.enter_context(running({})) for p in SIMULATED}
        bigquery = stack.enter_context(running_bigquery(TABLE, []))
        providers = SimulatedProviders(spec, servers, bigquery)
        providers.serve(revision=0)
        yield providers


def _of(provider: str, lines: list[CostLine]) -> list[CostLine]:
    return [line for line in lines if line.provider == provider]


def _routes(provider: str, billed: list[CostLine], hourly: list[CostLine]) -> dict[str, Route]:
    key = DEMO_KEYS[provider]
    if provider == "openrouter":
        return openrouter_routes(key=key, activity=billed, total_credits=OPENROUTER_CREDITS)
    if provider == "deepseek":
        return deepseek_routes(key=key, balances=[("USD", DEEPSEEK_BALANCE)])
    make = openai_routes if provider == "openai" else anthropic_routes
    return dict(make(admin_key=key, costs=billed, usage=hourly))
