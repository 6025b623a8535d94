"""The demo's providers: simulators on loopback for every provider with a collector, serving
the synthetic company's activity, and the real collectors pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import httpx

from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Collector
from bot.collectors.deepseek import DeepSeekCollector, deepseek_client
from bot.collectors.http import ProviderClient
from bot.collectors.openai import OpenAICollector, openai_client
from bot.collectors.openrouter import OpenRouterCollector, openrouter_client
from bot.domain import CostLine
from bot.standins.anthropic import anthropic_routes
from bot.standins.azure_demo import SimulatedAzure, simulated_azure
from bot.standins.deepseek import deepseek_routes
from bot.standins.openai import openai_routes
from bot.standins.openrouter import openrouter_routes
from bot.standins.server import Route, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

SIMULATED = ("openai", "anthropic", "openrouter", "deepseek")
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
    clients: list[ProviderClient] = field(default_factory=list)
    azure: SimulatedAzure | None = None

    def serve(self, revision: int) -> None:
        """Serve the billed lines as of `revision` (1 restates the last days)."""
        billed = generate_cost_lines(self.spec, revision=revision)
        hourly = generate_estimated_lines(self.spec)
        for provider, server in self.servers.items():
            server.routes = _routes(provider, _of(provider, billed), _of(provider, hourly))
        if self.azure is not None:
            self.azure.serve(revision)

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
        collectors: list[Collector] = [
            OpenAICollector(openai),
            AnthropicCollector(anthropic),
            OpenRouterCollector(openrouter, today=lambda: today),
            DeepSeekCollector(deepseek),
        ]
        if self.azure is not None:
            collectors.append(self.azure.collector(http))
        return collectors

    @property
    def requests(self) -> int:
        azure = self.azure.requests if self.azure is not None else 0
        return sum(client.requests for client in self.clients) + azure


@contextmanager
def simulated_providers(spec: ActivitySpec) -> Iterator[SimulatedProviders]:
    with ExitStack() as stack:
        servers = {p: stack.enter_context(running({})) for p in SIMULATED}
        azure = stack.enter_context(simulated_azure(spec))
        providers = SimulatedProviders(spec, servers, azure=azure)
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
