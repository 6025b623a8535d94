"""Collectors pull usage and cost from provider APIs.

COLLECTORS is the one registry: provider id -> a factory that builds that provider's collector
from its settings and the shared HTTP client, or None when the provider is not configured.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Collector
from bot.collectors.openai import OpenAICollector, openai_client
from bot.config import Settings

CollectorFactory = Callable[[Settings, httpx.Client], Collector | None]


def _openai(settings: Settings, http: httpx.Client) -> Collector | None:
    key = settings.openai_admin_key
    if key is None:
        return None
    return OpenAICollector(
        openai_client(http, key.get_secret_value(), base_url=settings.openai_base_url)
    )


def _anthropic(settings: Settings, http: httpx.Client) -> Collector | None:
    key = settings.anthropic_admin_key
    if key is None:
        return None
    client = anthropic_client(http, key.get_secret_value(), base_url=settings.anthropic_base_url)
    return AnthropicCollector(client)


COLLECTORS: dict[str, CollectorFactory] = {"openai": _openai, "anthropic": _anthropic}


def build_collectors(
    settings: Settings, http: httpx.Client, only: str | None = None
) -> list[Collector]:
    """The configured collectors (all, or just `only`), in registry order."""
    factories = COLLECTORS if only is None else {only: COLLECTORS[only]}
    built = (factory(settings, http) for factory in factories.values())
    return [collector for collector in built if collector is not None]
