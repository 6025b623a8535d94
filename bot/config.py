"""Settings from the environment and `.env`, and the team's aispend.toml.

Settings hold what differs between machines (database URL, secrets); aispend.toml holds what a
team edits (teams, channels, owners, budgets, attribution rules, price overrides). Both are
built once by the command line and passed down; nothing here runs at import time.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain import Dimension
from bot.errors import ConfigError
from bot.providers import PROVIDERS, resolve_provider

DEFAULT_DATABASE_URL = "sqlite:///aispend.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    aispend_config: Path = Path("aispend.toml")
    log_level: str = "INFO"

    # provider admin keys (never logged) and API base URLs (point them at a simulator to test)
    openai_admin_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com"
    anthropic_admin_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    openrouter_api_key: SecretStr | None = None  # a management key, for /activity
    openrouter_base_url: str = "https://openrouter.ai"
    deepseek_api_key: SecretStr | None = None
    deepseek_base_url: str = "https://api.deepseek.com"
    aispend_secret_key: SecretStr | None = None  # a Fernet key for `aispend credentials`

    # Slack: the bot token (xoxb-), the signing secret for HTTP mode, the app-level token
    # (xapp-) for Socket Mode, and the Web API base URL (point it at the stand-in to test)
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # `aispend run`: where it listens (PORT as platforms set it), the bearer tokens of
    # /v1/events and /metrics (each endpoint is off until its token is set), the largest
    # /v1/events body, how often collectors run, and the leader lease's lifetime
    aispend_host: str = "0.0.0.0"
    aispend_port: int = Field(
        default=3000, ge=0, le=65535, validation_alias=AliasChoices("aispend_port", "port")
    )
    aispend_events_token: SecretStr | None = None
    aispend_metrics_token: SecretStr | None = None
    aispend_events_max_bytes: int = Field(default=10 << 20, gt=0)
    aispend_collect_minutes: float = Field(default=60, gt=0)
    aispend_lease_seconds: float = Field(default=30, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Accept the usual spellings and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    scheme = url.split(":", 1)[0]
    raise ValueError(f"unsupported database {scheme!r}: use sqlite:///FILE or postgresql://...")


_Strict = ConfigDict(extra="forbid", frozen=True)
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class TeamConfig(BaseModel):
    model_config = _Strict
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    channel: str = ""
    owners: tuple[str, ...] = ()
    cost_center: str = ""
    alert_floor: Money | None = None  # USD a day a spike must add before it alerts (default 10)
    timezone: str = ""  # the channel's local time for its digest (default: [slack] timezone)


class AttributionConfig(BaseModel):
    """Provider-side ids to team / feature / owner. All given match fields must match."""

    model_config = _Strict
    provider: str = ""
    project: str = ""
    api_key: str = ""
    label: str = ""
    team: str = ""
    feature: str = ""
    owner: str = ""

    @model_validator(mode="after")
    def _matches_something(self) -> AttributionConfig:
        if not (self.project or self.api_key or self.label):
            raise ValueError("a rule needs at least one of project, api_key or label to match")
        if not (self.team or self.feature or self.owner):
            raise ValueError("a rule needs at least one of team, feature or owner to assign")
        return self


class BudgetConfig(BaseModel):
    model_config = _Strict
    monthly: Money
    dimension: Dimension | None = None
    value: str = ""
    thresholds: tuple[int, ...] = (50, 80, 100)


class PriceOverrideConfig(BaseModel):
    """A negotiated or missing price, in USD per million tokens."""

    model_config = _Strict
    provider: str
    model: str
    input_mtok: Money
    output_mtok: Money = Decimal(0)
    cache_read_mtok: Money | None = None
    cache_write_mtok: Money | None = None


class DiscountConfig(BaseModel):
    """A percentage off list price for a provider, or one of its models."""

    model_config = _Strict
    provider: str
    model: str = ""
    percent: Annotated[Decimal, Field(gt=0, le=100)]


class PricesConfig(BaseModel):
    model_config = _Strict
    overrides: tuple[PriceOverrideConfig, ...] = ()
    discounts: tuple[DiscountConfig, ...] = ()


class SlackConfig(BaseModel):
    """Where the bot talks and who it calls on. People are Slack user ids (U123...) so they
    can be mentioned; channels are names (#eng) or ids (C123...)."""

    model_config = _Strict
    channel: str = Field(default="#eng", min_length=1)  # digests, and alerts with no team
    escalation_contact: str = ""  # mentioned when an alert stays unacknowledged
    escalate_after_hours: float = Field(default=4, gt=0)
    admins: tuple[str, ...] = ()  # may `budget set` and pause keys
    digest_hour: int = Field(default=9, ge=0, le=23)  # local time of each channel's digest
    timezone: str = "UTC"  # of #eng's digest; a team's own `timezone` wins for its channel


class TeamFile(BaseModel):
    """The whole aispend.toml."""

    model_config = _Strict
    slack: SlackConfig = SlackConfig()
    teams: tuple[TeamConfig, ...] = ()
    attribution: tuple[AttributionConfig, ...] = ()
    budgets: tuple[BudgetConfig, ...] = ()
    prices: PricesConfig = PricesConfig()

    @model_validator(mode="after")
    def _references_resolve(self) -> TeamFile:
        known = {t.id for t in self.teams}
        for rule in self.attribution:
            if rule.team and known and rule.team not in known:
                raise ValueError(f"attribution rule names unknown team {rule.team!r}")
        named = [r.provider for r in self.attribution]
        named += [o.provider for o in self.prices.overrides]
        named += [d.provider for d in self.prices.discounts]
        for provider in named:
            if provider and resolve_provider(provider) is None:
                raise ValueError(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
        return self


def load_team_file(path: Path) -> TeamFile:
    """Read aispend.toml; a missing file is an empty configuration."""
    if not path.exists():
        return TeamFile()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    try:
        return TeamFile.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e, str(path))) from e


def load_settings() -> Settings:
    """Settings from the environment and .env; a bad value names the variable."""
    try:
        return Settings()
    except ValidationError as e:
        raise ConfigError(_describe(e, "environment")) from e


def _describe(error: ValidationError, where: str) -> str:
    lines = [f"{where}: {len(error.errors())} bad value(s)"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)
