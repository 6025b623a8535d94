"""Collectors pull usage and cost from provider APIs.

COLLECTORS is the one registry: provider id -> how to build that provider's collector from its
settings and the shared HTTP client (nothing when its key is not set). Most providers are
reached through our httpx ProviderClient (Registration); one whose SDK brings its own client
(boto3 for Bedrock) is built from its settings by a factory (SdkRegistration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import SecretStr

from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.azure import AzureRegistration
from bot.collectors.base import Collector, SwitchesKeys
from bot.collectors.bedrock import bedrock_from_settings
from bot.collectors.deepseek import DeepSeekCollector, deepseek_client
from bot.collectors.http import ProviderClient
from bot.collectors.openai import OpenAICollector, openai_client
from bot.collectors.openrouter import OpenRouterCollector, openrouter_client
from bot.config import Settings

PageHook = Callable[[str], None]
ClientFactory = Callable[..., ProviderClient]


@dataclass(frozen=True)
class Registration:
    """How to build one provider's collector: the settings holding its key and base URL, the
    client that authenticates to it, and the collector class."""

    key_setting: str
    url_setting: str
    client: ClientFactory
    collector: Callable[[ProviderClient], Collector]
    secret: bool = True

    def build(
        self, settings: Settings, http: httpx.Client, on_page: PageHook | None
    ) -> Collector | None:
        key: SecretStr | None = getattr(settings, self.key_setting)
        if key is None:
            return None
        url: str = getattr(settings, self.url_setting)
        return self.collector(
            self.client(http, key.get_secret_value(), base_url=url, on_page=on_page)
        )


class Registered(Protocol):
    """What the registry holds: the setting with the provider's secret, and a builder."""

    @property
    def key_setting(self) -> str: ...

    @property
    def secret(self) -> bool:
        """Whether the key setting is a secret `aispend credentials` may keep in the store."""
        ...

    def build(
        self, settings: Settings, http: httpx.Client, on_page: PageHook | None
    ) -> Collector | None: ...


@dataclass(frozen=True)
class SdkRegistration:
    """A provider whose SDK brings its own HTTP client: `make` builds its collector from the
    settings and the secret (only called when the secret is set)."""

    key_setting: str
    make: Callable[[Settings, SecretStr, PageHook | None], Collector]
    secret: bool = True

    def build(
        self,
        settings: Settings,
        http: httpx.Client,  # noqa: ARG002 - the SDK has its own
        on_page: PageHook | None,
    ) -> Collector | None:
        secret: SecretStr | None = getattr(settings, self.key_setting)
        return None if secret is None else self.make(settings, secret, on_page)


@dataclass(frozen=True)
class SelfBuilt:
    """A collector that builds its own client from settings (a cloud SDK, not our httpx
    client); `key_setting` is the setting whose presence enables it."""

    key_setting: str
    make: Callable[[Settings, PageHook | None], Collector | None]
    secret: bool = False  # e.g. a table id; the SDK finds its own credentials

    def build(
        self, settings: Settings, http: httpx.Client, on_page: PageHook | None
    ) -> Collector | None:
        del http  # the SDK brings its own
        return self.make(settings, on_page)


def _google_collector(settings: Settings, on_page: PageHook | None) -> Collector | None:
    """Google's collector when GOOGLE_BILLING_TABLE is set. google-cloud-bigquery takes a
    fifth of a second to import, so only runs that use it load it."""
    if not settings.google_billing_table:
        return None
    from bot.collectors.google import google_collector

    return google_collector(settings, on_page)


COLLECTORS: dict[str, Registered] = {
    "openai": Registration("openai_admin_key", "openai_base_url", openai_client, OpenAICollector),
    "anthropic": Registration(
        "anthropic_admin_key", "anthropic_base_url", anthropic_client, AnthropicCollector
    ),
    "openrouter": Registration(
        "openrouter_api_key", "openrouter_base_url", openrouter_client, OpenRouterCollector
    ),
    "deepseek": Registration(
        "deepseek_api_key", "deepseek_base_url", deepseek_client, DeepSeekCollector
    ),
    "azure": AzureRegistration(),
    "bedrock": SdkRegistration("bedrock_secret_access_key", bedrock_from_settings),
    "google": SelfBuilt("google_billing_table", _google_collector),
}


def build_collectors(
    settings: Settings,
    http: httpx.Client,
    only: str | None = None,
    on_page: PageHook | None = None,
) -> list[Collector]:
    """The configured collectors (all, or just `only`), in registry order; `on_page` is told
    the provider after each page any of them receives."""
    chosen = COLLECTORS if only is None else {only: COLLECTORS[only]}
    built = (entry.build(settings, http, on_page) for entry in chosen.values())
    return [collector for collector in built if collector is not None]


def key_switching_providers() -> frozenset[str]:
    """The providers whose collector can switch an api key off and on (SwitchesKeys)."""
    return frozenset(
        provider
        for provider, entry in COLLECTORS.items()
        if isinstance(entry, Registration)
        and isinstance(entry.collector, type)
        and issubclass(entry.collector, SwitchesKeys)
    )
