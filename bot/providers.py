"""The providers aispend knows: one registry, keyed by our provider id.

Our id is the value stored in the database, the word in `provider:openai`, and the module name
of the provider's collector. `prices_id` is the provider id in genai-prices; `aliases` are the
names other systems use for the same provider (OpenTelemetry's `gen_ai.provider.name`,
OpenInference's `llm.provider`, genai-prices).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Bucket(StrEnum):
    """How a provider is billed, for the weekly summary's split."""

    DIRECT = "direct"
    CLOUD = "cloud"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    id: str
    name: str
    prices_id: str | None
    bucket: Bucket
    aliases: tuple[str, ...] = ()


PROVIDERS: dict[str, ProviderInfo] = {
    p.id: p
    for p in (
        ProviderInfo("openai", "OpenAI", "openai", Bucket.DIRECT),
        ProviderInfo("anthropic", "Anthropic", "anthropic", Bucket.DIRECT),
        ProviderInfo("bedrock", "AWS Bedrock", "aws", Bucket.CLOUD, ("aws.bedrock", "aws")),
        ProviderInfo(
            "google",
            "Google Vertex / Gemini",
            "google",
            Bucket.CLOUD,
            ("gcp.vertex_ai", "gcp.gemini", "gcp.gen_ai", "vertex", "vertex_ai", "gemini"),
        ),
        ProviderInfo(
            "azure", "Azure OpenAI", "azure", Bucket.CLOUD, ("azure.ai.openai", "azure_openai")
        ),
        ProviderInfo("openrouter", "OpenRouter", "openrouter", Bucket.DIRECT),
        ProviderInfo("deepseek", "DeepSeek", "deepseek", Bucket.DIRECT),
        ProviderInfo("mistral", "Mistral", "mistral", Bucket.DIRECT, ("mistral_ai", "mistralai")),
        ProviderInfo("groq", "Groq", "groq", Bucket.DIRECT),
        ProviderInfo("together", "Together", "together", Bucket.DIRECT, ("together_ai",)),
        ProviderInfo("fireworks", "Fireworks", "fireworks", Bucket.DIRECT, ("fireworks_ai",)),
        ProviderInfo("xai", "xAI", "x-ai", Bucket.DIRECT, ("x_ai", "x-ai", "grok")),
        ProviderInfo("cohere", "Cohere", "cohere", Bucket.DIRECT),
        ProviderInfo("perplexity", "Perplexity", "perplexity", Bucket.DIRECT),
        # seats and usage billed by a tool: CSV imports and the subscription ledger
        ProviderInfo("cursor", "Cursor", None, Bucket.SUBSCRIPTION),
    )
}

_BY_NAME: dict[str, str] = {name: p.id for p in PROVIDERS.values() for name in (p.id, *p.aliases)}


def resolve_provider(name: str) -> str | None:
    """Our provider id for any known name or alias (case-insensitive), else None."""
    return _BY_NAME.get(name.strip().lower())
