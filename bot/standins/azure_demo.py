"""The demo's Azure: the login stand-in over TLS (a certificate made for the run), the Cost
Management stand-in serving the synthetic company's Azure activity, and the real collector,
azure-identity and all, pointed at them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.collectors.azure import AzureCollector, azure_client, client_secret_credential
from bot.collectors.http import Pacer, ProviderClient
from bot.standins.azure import TokenBook, login_routes, management_routes
from bot.standins.server import StandIn, running
from bot.standins.tls import LoopbackCert, loopback_cert
from bot.synthetic import ActivitySpec
from bot.synthetic.azure import SUBSCRIPTION, generate_azure_activity

TENANT = "00000000-0000-4000-8000-0000000dem0"
CLIENT_ID = "aispend-demo"
CLIENT_SECRET = "azure-demo-secret"  # loopback only; nobody's secret


@dataclass
class SimulatedAzure:
    spec: ActivitySpec
    book: TokenBook
    cert: LoopbackCert
    login: StandIn
    management: StandIn
    clients: list[ProviderClient] = field(default_factory=list)
    closers: list[object] = field(default_factory=list)

    def serve(self, revision: int) -> None:
        """Serve the Azure bill as of `revision` (1 restates the last days)."""
        activity = generate_azure_activity(self.spec, revision=revision)
        self.management.routes = management_routes(self.book, activity)

    def collector(self, http: httpx.Client) -> AzureCollector:
        credential = client_secret_credential(
            TENANT,
            CLIENT_ID,
            CLIENT_SECRET,
            login_url=self.login.url,
            connection_verify=str(self.cert.cert_file),
            disable_instance_discovery=True,
        )
        self.closers.append(credential)
        client = azure_client(http, credential, base_url=self.management.url, pacer=Pacer(0.0))
        self.clients.append(client)
        return AzureCollector(client, SUBSCRIPTION)

    @property
    def requests(self) -> int:
        return sum(client.requests for client in self.clients)


@contextmanager
def simulated_azure(spec: ActivitySpec) -> Iterator[SimulatedAzure]:
    book = TokenBook(TENANT, CLIENT_ID, CLIENT_SECRET)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        cert = loopback_cert(Path(folder))
        login = stack.enter_context(running(login_routes(book), tls=cert.server_context()))
        management = stack.enter_context(running({}))
        azure = SimulatedAzure(spec, book, cert, login, management)
        azure.serve(revision=0)
        try:
            yield azure
        finally:
            for credential in azure.closers:
                getattr(credential, "close", lambda: None)()
