"""Collectors pull usage and cost from provider APIs.

COLLECTORS is the one registry: provider id -> a factory that builds that provider's collector
from its settings and the shared HTTP client, or None when the provider is not configured.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Collector
from bot.collectors.deepseek import DeepSeekCollector, deepseek_client
from bot.collectors.openai import OpenAICollector, openai_client
from bot.collectors.openrouter import OpenRouterCollector, openrouter_client
from bot.config import Settings

PageHook = Callable[[str], None]
CollectorFactory = Callable[[Settings, httpx.Client, PageHook | None], Collector | None]


def _openai(settings: Settings, http: httpx.Client, on_page: PageHook | None) -> Collector | None:
    key = settings.openai_admin_key
    if key is None:
        return None
    secret, url = key.get_secret_value(), settings.openai_base_url
    return OpenAICollector(openai_client(http, secret, base_url=url, on_page=on_page))


def _anthropic(
    settings: Settings, http: httpx.Client, on_page: PageHook | None
) -> Collector | None:
    key = settings.anthropic_admin_key
    if key is None:
        return None
    secret, url = key.get_secret_value(), settings.anthropic_base_url
    return AnthropicCollector(anthropic_client(http, secret, base_url=url, on_page=on_page))


def _openrouter(
    settings: Settings, http: httpx.Client, on_page: PageHook | None
) -> Collector | None:
    key = settings.openrouter_api_key
    if key is None:
        return None
    secret, url = key.get_secret_value(), settings.openrouter_base_url
    return OpenRouterCollector(openrouter_client(http, secret, base_url=url, on_page=on_page))


def _deepseek(settings: Settings, http: httpx.Client, on_page: PageHook | None) -> Collector | None:
    key = settings.deepseek_api_key
    if key is None:
        return None
    secret, url = key.get_secret_value(), settings.deepseek_base_url
    return DeepSeekCollector(deepseek_client(http, secret, base_url=url, on_page=on_page))


COLLECTORS: dict[str, CollectorFactory] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "openrouter": _openrouter,
    "deepseek": _deepseek,
}


def build_collectors(
    settings: Settings,
    http: httpx.Client,
    only: str | None = None,
    on_page: PageHook | None = None,
) -> list[Collector]:
    """The configured collectors (all, or just `only`), in registry order; `on_page` is told
    the provider after each page any of them receives."""
    factories = COLLECTORS if only is None else {only: COLLECTORS[only]}
    built = (factory(settings, http, on_page) for factory in factories.values())
    return [collector for collector in built if collector is not None]
