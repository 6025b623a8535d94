"""The demo's providers: OpenAI and Anthropic simulators on loopback, serving the synthetic
company's activity, and the real collectors pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx

from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Collector
from bot.collectors.http import ProviderClient
from bot.collectors.openai import OpenAICollector, openai_client
from bot.domain import CostLine
from bot.standins.anthropic import anthropic_routes
from bot.standins.openai import openai_routes
from bot.standins.server import Route, StandIn, running
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

SIMULATED = ("openai", "anthropic")
DEMO_KEYS = {"openai": "sk-admin-demo", "anthropic": "sk-ant-admin-demo"}  # loopback only


@dataclass
class SimulatedProviders:
    spec: ActivitySpec
    servers: dict[str, StandIn]
    clients: list[ProviderClient]

    def serve(self, revision: int) -> None:
        """Serve the billed lines as of `revision` (1 restates the last days)."""
        billed = generate_cost_lines(self.spec, revision=revision)
        hourly = generate_estimated_lines(self.spec)
        for provider, server in self.servers.items():
            server.routes = _routes(provider, _of(provider, billed), _of(provider, hourly))

    def collectors(self, http: httpx.Client) -> list[Collector]:
        openai = openai_client(http, DEMO_KEYS["openai"], base_url=self.servers["openai"].url)
        anthropic = anthropic_client(
            http, DEMO_KEYS["anthropic"], base_url=self.servers["anthropic"].url
        )
        self.clients = [openai, anthropic]
        return [OpenAICollector(openai), AnthropicCollector(anthropic)]

    @property
    def requests(self) -> int:
        return sum(client.requests for client in self.clients)


@contextmanager
def simulated_providers(spec: ActivitySpec) -> Iterator[SimulatedProviders]:
    with ExitStack() as stack:
        servers = {p: stack.enter_context(running({})) for p in SIMULATED}
        providers = SimulatedProviders(spec, servers, [])
        providers.serve(revision=0)
        yield providers


def _of(provider: str, lines: list[CostLine]) -> list[CostLine]:
    return [line for line in lines if line.provider == provider]


def _routes(provider: str, billed: list[CostLine], hourly: list[CostLine]) -> dict[str, Route]:
    make = openai_routes if provider == "openai" else anthropic_routes
    return dict(make(admin_key=DEMO_KEYS[provider], costs=billed, usage=hourly))
