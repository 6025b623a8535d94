"""Settings from the environment and `.env`, and the team's aispend.toml.

Settings hold what differs between machines (database URL, secrets); aispend.toml holds what a
team edits (teams, channels, owners, budgets, attribution rules, price overrides). Both are
built once by the command line and passed down; nothing here runs at import time.
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

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
    # Azure OpenAI through Cost Management: a service principal (Cost Management Reader on the
    # scope), the scope ("/subscriptions/{id}" or ".../resourceGroups/{rg}"), the tag naming
    # a resource's team, and the management and login base URLs
    azure_tenant_id: str = ""
    azure_client_id: str = ""
    azure_client_secret: SecretStr | None = None
    azure_scope: str = ""
    azure_team_tag: str = "team"
    azure_management_url: str = "https://management.azure.com"
    azure_login_url: str = "https://login.microsoftonline.com"

    # AWS Bedrock through Cost Explorer: its own key pair, never the ambient AWS credentials,
    # since every Cost Explorer request is billed; the URL overrides AWS's endpoint (to test)
    bedrock_access_key_id: SecretStr | None = None
    bedrock_secret_access_key: SecretStr | None = None
    bedrock_cost_explorer_url: str = ""
    bedrock_tag_key: str = "team"  # cost allocation tag that splits spend ("" = no split)
    bedrock_cost_metric: Literal["UnblendedCost", "NetUnblendedCost"] = "UnblendedCost"
    bedrock_refresh_hours: float = Field(default=8, ge=0)  # a window is pulled again after
    bedrock_cloudwatch_regions: str = ""  # "us-east-1,eu-central-1": hourly token estimates
    bedrock_cloudwatch_url: str = ""
    bedrock_models_region: str = "us-east-1"  # ListFoundationModels names models by id ("": off)
    bedrock_models_url: str = ""

    # Google: the Cloud Billing export table (project.dataset.table) enables the collector;
    # the project its queries run in (default: the table's), a service-account JSON file
    # (default: Application Default Credentials, e.g. GOOGLE_APPLICATION_CREDENTIALS), the
    # label key that names a team, and the BigQuery API root (point it at a stand-in to test)
    google_billing_table: str | None = None
    google_project: str | None = None
    google_credentials_file: Path | None = None
    google_team_label: str = "team"
    google_bigquery_url: str | None = None

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


class ImportConfig(BaseModel):
    """A CSV export from a provider's dashboard (`aispend import csv SOURCE FILE`): which
    column holds what. Values a file lacks can be given in `constants`; amounts in another
    currency need a rate in `usd_rates` (USD per unit, your choice of rate)."""

    model_config = _Strict
    source: str = Field(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    provider: str
    date: str = Field(min_length=1)  # the column with the day (or a timestamp in it)
    date_format: str = ""  # strptime, e.g. "%m/%d/%Y"; default ISO 8601
    cost: str = ""
    currency: str = ""
    model: str = ""
    project: str = ""
    api_key: str = ""
    line_item: str = ""
    tokens_in: str = ""
    tokens_out: str = ""
    requests: str = ""
    constants: dict[str, str] = {}
    usd_rates: dict[str, Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]] = {}

    @model_validator(mode="after")
    def _usable(self) -> ImportConfig:
        if resolve_provider(self.provider) is None:
            raise ValueError(f"unknown provider {self.provider!r} (known: {', '.join(PROVIDERS)})")
        if not (self.cost or self.tokens_in or self.tokens_out):
            raise ValueError("an import needs a cost column or token columns to price")
        allowed = {"model", "project", "api_key", "line_item", "currency"}
        extra = set(self.constants) - allowed
        if extra:
            raise ValueError(f"constants may set {', '.join(sorted(allowed))}, not {extra}")
        return self


class SubscriptionConfig(BaseModel):
    """A seat or plan to seed the subscription ledger with (`aispend subs seed`); once in the
    ledger it is changed there, never from here."""

    model_config = _Strict
    vendor: str = Field(min_length=1)
    plan: str = Field(min_length=1)
    cost: Money  # USD a cycle, all seats
    cycle: Literal["monthly", "annual"] = "monthly"
    renews: date
    started: date | None = None  # default: the start of the current cycle
    seats: int = Field(default=1, ge=0)
    owner: str = ""
    team: str = ""
    purpose: str = ""


class TeamFile(BaseModel):
    """The whole aispend.toml."""

    model_config = _Strict
    slack: SlackConfig = SlackConfig()
    teams: tuple[TeamConfig, ...] = ()
    attribution: tuple[AttributionConfig, ...] = ()
    budgets: tuple[BudgetConfig, ...] = ()
    prices: PricesConfig = PricesConfig()
    imports: tuple[ImportConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> TeamFile:
        known = {t.id for t in self.teams}
        for rule in self.attribution:
            if rule.team and known and rule.team not in known:
                raise ValueError(f"attribution rule names unknown team {rule.team!r}")
        for sub in self.subscriptions:
            if sub.team and known and sub.team not in known:
                raise ValueError(f"subscription {sub.vendor} {sub.plan} names unknown team")
        named = [r.provider for r in self.attribution]
        named += [o.provider for o in self.prices.overrides]
        named += [d.provider for d in self.prices.discounts]
        for provider in named:
            if provider and resolve_provider(provider) is None:
                raise ValueError(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
        sources = [i.source for i in self.imports]
        if len(set(sources)) != len(sources):
            raise ValueError("two [[imports]] have the same source")
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
