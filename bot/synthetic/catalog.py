"""The fictional company behind the synthetic activity: teams, features, models, keys, customers.

Data only. Every model but one is known to genai-prices under its provider's `prices_id`
(bot/providers.py); UNPRICED_MODEL is an in-house ranker that only the bill knows a rate for.
Ids are made up and look nothing like secrets: projects "proj_<team>", keys "key_<team>_<env>".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ENVIRONMENTS: tuple[str, ...] = ("prod", "staging")


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    channel: str  # Slack channel the team's alerts go to
    owner: str  # Slack handle of the person mentioned in alerts
    project: str  # provider project / workspace / account id used by every provider
    keys: tuple[str, ...]  # api key id per environment, aligned with ENVIRONMENTS


@dataclass(frozen=True, slots=True)
class Model:
    name: str  # as apps and cost reports spell it
    provider: str  # our provider id
    kind: str = "chat"  # "chat", "embedding" (no output tokens) or "rank"
    caching: str = "none"  # "explicit": reads and writes (Anthropic); "auto": reads only
    tiers: tuple[str, ...] = ()  # service tiers offered, "default" first; () = no tiers
    batch: bool = False  # has a discounted batch API
    output_scale: float = 1.0  # reasoning models emit more output tokens
    ttft_ms: int = 600  # typical time to first token
    tokens_per_s: int = 80  # typical output speed
    negotiated_mtok: tuple[Decimal, Decimal] | None = None  # billed $/M (input, output)


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    team: str
    models: tuple[tuple[str, float], ...]  # (model name, share of the feature's requests)
    share: float  # share of the company's requests at full volume
    tokens_in: tuple[int, float]  # lognormal (median, sigma) of prompt tokens
    tokens_out: tuple[int, float]  # lognormal (median, sigma) of completion tokens
    cache_share: float = 0.0  # share of the prompt that is a stable, cacheable prefix
    batch_share: float = 0.0  # share of requests sent through a batch API where offered
    tier_mix: tuple[tuple[str, float], ...] = (("default", 1.0),)
    customer_facing: bool = False  # requests carry a customer id
    business_hours: bool = True  # follows the working day; False: runs around the clock


def _team(name: str, channel: str, owner: str) -> Team:
    return Team(
        name, channel, owner, f"proj_{name}", tuple(f"key_{name}_{e}" for e in ENVIRONMENTS)
    )


TEAMS: tuple[Team, ...] = (
    _team("growth", "#growth-eng", "@maya"),
    _team("platform", "#platform-eng", "@arjun"),
    _team("support", "#support-eng", "@lena"),
    _team("research", "#research", "@omar"),
    _team("data", "#data-eng", "@kim"),
)

_OPENAI_TIERS = ("default", "flex", "priority")

MODELS: tuple[Model, ...] = (
    Model(
        "gpt-5",
        "openai",
        caching="auto",
        tiers=_OPENAI_TIERS,
        batch=True,
        output_scale=2.5,
        ttft_ms=1800,
        tokens_per_s=60,
    ),
    Model(
        "gpt-5-mini",
        "openai",
        caching="auto",
        tiers=_OPENAI_TIERS,
        batch=True,
        output_scale=1.8,
        ttft_ms=900,
        tokens_per_s=110,
    ),
    Model(
        "gpt-4.1-mini",
        "openai",
        caching="auto",
        tiers=("default", "priority"),
        batch=True,
        ttft_ms=450,
        tokens_per_s=120,
    ),
    Model("text-embedding-3-small", "openai", kind="embedding", ttft_ms=90),
    Model(
        "claude-sonnet-4-5",
        "anthropic",
        caching="explicit",
        batch=True,
        ttft_ms=1200,
        tokens_per_s=70,
    ),
    Model(
        "claude-haiku-4-5",
        "anthropic",
        caching="explicit",
        batch=True,
        ttft_ms=500,
        tokens_per_s=140,
    ),
    Model(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock",
        caching="explicit",
        ttft_ms=1400,
        tokens_per_s=60,
    ),
    Model("gemini-2.5-flash", "google", caching="auto", batch=True, ttft_ms=550, tokens_per_s=180),
    Model("deepseek-chat", "deepseek", caching="auto", ttft_ms=1100, tokens_per_s=45),
    Model("qwen/qwen3-235b-a22b", "openrouter", ttft_ms=900, tokens_per_s=50),
    Model(
        "acme-ranker-v2",
        "openrouter",
        kind="rank",
        ttft_ms=120,
        tokens_per_s=400,
        negotiated_mtok=(Decimal("0.40"), Decimal("1.20")),
    ),
)

UNPRICED_MODEL = "acme-ranker-v2"
LAUNCH_FEATURE = "insights-agent"
RUNAWAY_FEATURE = "doc-summarizer"

_SONNET_BEDROCK = "anthropic.claude-sonnet-4-5-20250929-v1:0"

FEATURES: tuple[Feature, ...] = (
    Feature(
        "assistant-chat",
        "growth",
        (("claude-sonnet-4-5", 0.6), ("gpt-5", 0.3), ("claude-haiku-4-5", 0.1)),
        0.22,
        (9000, 0.7),
        (450, 0.8),
        cache_share=0.85,
        tier_mix=(("default", 0.9), ("priority", 0.1)),
        customer_facing=True,
    ),
    Feature(
        "onboarding-emails",
        "growth",
        (("gpt-5-mini", 0.7), ("deepseek-chat", 0.3)),
        0.10,
        (1800, 0.4),
        (350, 0.5),
        cache_share=0.3,
        batch_share=0.35,
        customer_facing=True,
    ),
    Feature(
        "semantic-search",
        "platform",
        (("text-embedding-3-small", 1.0),),
        0.28,
        (350, 0.9),
        (0, 0.0),
        customer_facing=True,
    ),
    Feature(
        "code-review",
        "platform",
        ((_SONNET_BEDROCK, 0.7), ("claude-sonnet-4-5", 0.3)),
        0.05,
        (14000, 0.8),
        (900, 0.7),
        cache_share=0.7,
    ),
    Feature(
        "ticket-triage",
        "support",
        (("claude-haiku-4-5", 0.6), ("gpt-4.1-mini", 0.4)),
        0.12,
        (2500, 0.5),
        (120, 0.6),
        cache_share=0.6,
        customer_facing=True,
    ),
    Feature(
        "reply-drafts",
        "support",
        (("gpt-5-mini", 0.5), ("gemini-2.5-flash", 0.5)),
        0.09,
        (4000, 0.6),
        (500, 0.6),
        cache_share=0.5,
        customer_facing=True,
    ),
    Feature(
        RUNAWAY_FEATURE,
        "research",
        (("gemini-2.5-flash", 0.6), ("gpt-5", 0.4)),
        0.07,
        (12000, 0.9),
        (700, 0.6),
        cache_share=0.2,
        tier_mix=(("default", 0.7), ("flex", 0.3)),
        customer_facing=True,
    ),
    Feature(
        "eval-harness",
        "research",
        (("gpt-5", 0.5), ("deepseek-chat", 0.3), ("qwen/qwen3-235b-a22b", 0.2)),
        0.04,
        (6000, 0.7),
        (1200, 0.7),
        batch_share=0.5,
        tier_mix=(("default", 0.4), ("flex", 0.6)),
        business_hours=False,
    ),
    Feature(
        "search-ranker",
        "data",
        ((UNPRICED_MODEL, 1.0),),
        0.03,
        (800, 0.5),
        (20, 0.4),
        customer_facing=True,
    ),
    Feature(
        LAUNCH_FEATURE,
        "data",
        (("claude-sonnet-4-5", 0.7), ("gpt-5-mini", 0.3)),
        0.06,
        (16000, 0.7),
        (900, 0.7),
        cache_share=0.8,
        customer_facing=True,
    ),
)

CUSTOMERS: tuple[str, ...] = tuple(f"cust_{i:03d}" for i in range(1, 41))

# Billing sees more than the apps report (scripts, notebooks, uninstrumented services).
BILLING_UPLIFT: dict[str, float] = {
    "openai": 1.12,
    "anthropic": 1.08,
    "google": 1.15,
    "bedrock": 1.05,
    "openrouter": 1.10,
    "deepseek": 1.18,
}

PROVIDER_IDS: tuple[str, ...] = tuple(BILLING_UPLIFT)
