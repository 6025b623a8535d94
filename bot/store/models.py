"""The tables. Dimension columns hold "" rather than NULL for "none", so natural keys and
rollup keys compare equal in unique constraints on every database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.types import Money, UTCDateTime

DIM = 256  # the longest dimension value we store; ingest refuses longer ones


def _money(*, nullable: bool = False) -> Any:
    default = None if nullable else Decimal(0)
    return Field(default=default, sa_type=Money, nullable=nullable)


def _big() -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False)


class UsageEvent(SQLModel, table=True):
    """One request an app reported, priced at ingest with the price valid at `ts`."""

    __tablename__ = "usage_event"
    __table_args__ = (UniqueConstraint("source", "request_id", name="uq_usage_event_request"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    request_id: str = Field(max_length=DIM)
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    provider: str = Field(max_length=32)
    model: str = Field(max_length=DIM)
    project: str = Field(default="", max_length=DIM)
    api_key: str = Field(default="", max_length=DIM)
    feature: str = Field(default="", max_length=DIM)
    team: str = Field(default="", max_length=DIM)
    customer: str = Field(default="", max_length=DIM)
    environment: str = Field(default="", max_length=DIM)
    service_tier: str = Field(default="", max_length=32)
    batch: bool = False
    tokens_in: int = _big()
    tokens_out: int = _big()
    cache_read_tokens: int = _big()
    cache_write_tokens: int = _big()
    latency_ms: int | None = None
    status: str = Field(default="ok", max_length=8)
    cost: Decimal | None = _money(nullable=True)
    price_version: str = Field(default="", max_length=64)


COST_LINE_KEY = (
    "source",
    "bucket_start",
    "bucket_hours",
    "provider",
    "project",
    "api_key",
    "model",
    "service_tier",
    "batch",
    "line_item",
)  # the natural key: re-pulling a window replaces these rows instead of adding


class CostLine(SQLModel, table=True):
    """What a provider billed or reported for one bucket; upserted by its natural key."""

    __tablename__ = "cost_line"
    __table_args__ = (
        UniqueConstraint(*COST_LINE_KEY, name="uq_cost_line_natural"),
        Index("ix_cost_line_provider_bucket", "provider", "bucket_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    provider: str = Field(max_length=32)
    bucket_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    bucket_hours: int = 24
    project: str = Field(default="", max_length=DIM)
    api_key: str = Field(default="", max_length=DIM)
    model: str = Field(default="", max_length=DIM)
    service_tier: str = Field(default="", max_length=32)
    batch: bool = False
    line_item: str = Field(default="", max_length=DIM)
    team: str = Field(default="", max_length=DIM)
    feature: str = Field(default="", max_length=DIM)
    tokens_in: int = _big()
    tokens_out: int = _big()
    cache_read_tokens: int = _big()
    cache_write_tokens: int = _big()
    requests: int = _big()
    cost: Decimal | None = _money(nullable=True)
    currency: str = Field(default="USD", max_length=3)
    estimated: bool = False
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class _Measures(SQLModel):
    cost: Decimal = _money()
    requests: int = _big()
    tokens_in: int = _big()
    tokens_out: int = _big()
    cache_read_tokens: int = _big()
    cache_write_tokens: int = _big()
    unpriced_requests: int = _big()
    error_requests: int = _big()


class RollupDay(_Measures, table=True):
    """Sums per UTC day and every dimension; every report reads these. The key starts with
    day and provider, the join every "best origin" question makes; on SQLite the table is
    clustered on its key (WITHOUT ROWID), so a period is one contiguous range."""

    __tablename__ = "rollup_day"
    __table_args__ = {"sqlite_with_rowid": False}

    day: date = Field(primary_key=True)
    provider: str = Field(primary_key=True, max_length=32)
    origin: str = Field(primary_key=True, max_length=16)
    model: str = Field(primary_key=True, max_length=DIM)
    project: str = Field(primary_key=True, max_length=DIM)
    api_key: str = Field(primary_key=True, max_length=DIM)
    team: str = Field(primary_key=True, max_length=DIM)
    feature: str = Field(primary_key=True, max_length=DIM)
    customer: str = Field(primary_key=True, max_length=DIM)
    environment: str = Field(primary_key=True, max_length=DIM)


class RollupDayCore(_Measures, table=True):
    """The daily rollup without customer and environment: about 30 times fewer rows, and it
    answers every question that does not name those two."""

    __tablename__ = "rollup_day_core"
    __table_args__ = {"sqlite_with_rowid": False}

    day: date = Field(primary_key=True)
    provider: str = Field(primary_key=True, max_length=32)
    origin: str = Field(primary_key=True, max_length=16)
    model: str = Field(primary_key=True, max_length=DIM)
    project: str = Field(primary_key=True, max_length=DIM)
    api_key: str = Field(primary_key=True, max_length=DIM)
    team: str = Field(primary_key=True, max_length=DIM)
    feature: str = Field(primary_key=True, max_length=DIM)


class RollupHour(_Measures, table=True):
    """Sums per UTC hour for hourly data (events, estimated usage): the same-day nowcast."""

    __tablename__ = "rollup_hour"
    __table_args__ = {"sqlite_with_rowid": False}

    hour: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    provider: str = Field(primary_key=True, max_length=32)
    origin: str = Field(primary_key=True, max_length=16)
    model: str = Field(primary_key=True, max_length=DIM)
    project: str = Field(primary_key=True, max_length=DIM)
    api_key: str = Field(primary_key=True, max_length=DIM)
    team: str = Field(primary_key=True, max_length=DIM)
    feature: str = Field(primary_key=True, max_length=DIM)


class AttributionRule(SQLModel, table=True):
    """Provider-side ids mapped to team / feature / owner (synced from aispend.toml)."""

    __tablename__ = "attribution_rule"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(default="", max_length=32)
    project: str = Field(default="", max_length=DIM)
    api_key: str = Field(default="", max_length=DIM)
    label: str = Field(default="", max_length=DIM)
    team: str = Field(default="", max_length=DIM)
    feature: str = Field(default="", max_length=DIM)
    owner: str = Field(default="", max_length=DIM)


class CollectorState(SQLModel, table=True):
    """Per source: how far it has pulled, when it last worked, and what last went wrong."""

    __tablename__ = "collector_state"

    source: str = Field(primary_key=True, max_length=64)
    watermark: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    complete_through: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_success: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_attempt: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_error: str = Field(default="", max_length=2000)
    consecutive_failures: int = 0


class Credential(SQLModel, table=True):
    """A provider secret, encrypted with the key in AISPEND_SECRET_KEY (Fernet)."""

    __tablename__ = "credential"

    provider: str = Field(primary_key=True, max_length=32)
    ciphertext: str = Field(max_length=4000)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Credit(SQLModel, table=True):
    """A prepaid balance snapshot (OpenRouter credits, DeepSeek balance); never spend."""

    __tablename__ = "credit"
    __table_args__ = (UniqueConstraint("source", "at", "currency", name="uq_credit_snapshot"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    provider: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    balance: Decimal = _money()
    currency: str = Field(default="USD", max_length=3)
    purchased: Decimal | None = _money(nullable=True)


class DisplayNameRow(SQLModel, table=True):
    """The name a provider gives an id, refreshed by its collector; the newest wins."""

    __tablename__ = "display_name"

    provider: str = Field(max_length=32, primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)
    id: str = Field(max_length=DIM, primary_key=True)
    name: str = Field(max_length=DIM)
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CodingToolUsage(SQLModel, table=True):
    """A developer's day in a coding tool (see domain.CodingToolDay); never spend."""

    __tablename__ = "coding_tool_usage"

    tool: str = Field(max_length=32, primary_key=True)
    day: date = Field(primary_key=True)
    actor: str = Field(max_length=DIM, primary_key=True)
    model: str = Field(max_length=DIM, primary_key=True)
    customer_type: str = Field(default="", max_length=16)
    tokens_in: int = _big()
    tokens_out: int = _big()
    cache_read_tokens: int = _big()
    cache_write_tokens: int = _big()
    estimated_cost: Decimal = _money()
    sessions: int = _big()
    lines_added: int = _big()
    lines_removed: int = _big()
    commits: int = _big()
    pull_requests: int = _big()


class Incident(SQLModel, table=True):
    """One alert's life: a detector episode on one series, or a condition (a forgotten key, a
    stale source, a budget crossed). (kind, cadence, series_key, opened_at) is its identity."""

    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("kind", "cadence", "series_key", "opened_at", name="uq_incident"),
        Index("ix_incident_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    cadence: str = Field(default="", max_length=8)  # "daily", "hourly"; "" for conditions
    series_key: str = Field(max_length=1024)  # the key tuple as JSON
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="open", max_length=16)  # open | resolved
    severity: str = Field(max_length=16)
    summary: str = Field(default="", sa_type=Text)
    why: str = Field(default="", sa_type=Text)
    team: str = Field(default="", max_length=DIM)
    observed: Decimal | None = _money(nullable=True)
    expected: Decimal | None = _money(nullable=True)
    impact_so_far: Decimal | None = _money(nullable=True)
    projected_impact: Decimal | None = _money(nullable=True)
    peak_ratio: float | None = None
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolve_reason: str = Field(default="", max_length=32)
    feedback: str = Field(default="", max_length=16)  # expected | not_anomaly
    feedback_by: str = Field(default="", max_length=DIM)
    feedback_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # the first press on its Slack root: acknowledged, snoozed, expected, not_anomaly, ...
    handled: str = Field(default="", max_length=16)
    handled_by: str = Field(default="", max_length=DIM)
    handled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    handled_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class IncidentEvent(SQLModel, table=True):
    """Everything that happened to an incident, in order: what the notifier will post."""

    __tablename__ = "incident_event"
    __table_args__ = (Index("ix_incident_event_incident", "incident_id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when recorded
    bucket: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    action: str = Field(max_length=16)  # open | update | escalate | resolve | feedback
    severity: str = Field(max_length=16)
    summary: str = Field(default="", sa_type=Text)


class DetectorStateRow(SQLModel, table=True):
    """What the detector keeps per series between runs (analysis.detector.SeriesState), and
    budget evaluation state, as JSON."""

    __tablename__ = "detector_state"

    cadence: str = Field(max_length=8, primary_key=True)  # daily | hourly | budget
    series_key: str = Field(max_length=1024, primary_key=True)
    state: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class KeySwitchRow(SQLModel, table=True):
    """Every time aispend switched an api key off or on at its provider: the newest row per
    (provider, api_key) is the key's state as aispend last set it."""

    __tablename__ = "key_switch"
    __table_args__ = (Index("ix_key_switch_key", "provider", "api_key", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    api_key: str = Field(max_length=DIM)
    active: bool
    by: str = Field(default="", max_length=DIM)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    incident_id: int | None = Field(default=None)


class OutboxItem(SQLModel, table=True):
    """One Slack call waiting to be made, or made: the notifier's queue. `key` makes enqueuing
    idempotent; `thread_key` names the root message a reply or an edit belongs to, so replies
    wait for their root and go out in order."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_key"),
        Index("ix_outbox_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255)
    kind: str = Field(max_length=16)  # post | reply | update | upload
    channel: str = Field(max_length=255)
    thread_key: str = Field(default="", max_length=255)
    payload: str = Field(sa_type=Text)  # JSON: text, blocks, metadata, file bytes (base64)
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    attempts: int = Field(default=0)
    ambiguous: bool = Field(default=False)  # the last attempt may have taken effect
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    channel_id: str = Field(default="", max_length=64)  # as Slack answered
    ts: str = Field(default="", max_length=32)  # the message's id in Slack


class SubscriptionRow(SQLModel, table=True):
    """A seat or plan in the subscription ledger (see analysis.subscriptions). `cost` is one
    cycle for all seats; its spread over the cycle's days is kept in the rollups as origin
    "subscription", rebuilt whenever the ledger changes and once a day."""

    __tablename__ = "subscription"

    id: int | None = Field(default=None, primary_key=True)
    vendor: str = Field(max_length=DIM)
    plan: str = Field(max_length=DIM)
    seats: int = 1
    cost: Decimal = _money()
    currency: str = Field(default="USD", max_length=3)
    cycle: str = Field(max_length=16)  # monthly | annual
    renews_on: date
    started_on: date
    ends_on: date | None = None
    owner: str = Field(default="", max_length=DIM)
    team: str = Field(default="", max_length=DIM)
    purpose: str = Field(default="", max_length=1000)
    reviewed_on: date
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CreditPurchase(SQLModel, table=True):
    """Prepaid credit bought, recorded by hand (`aispend credits add`); never spend."""

    __tablename__ = "credit_purchase"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    bought_on: date
    amount: Decimal = _money()
    currency: str = Field(default="USD", max_length=3)
    note: str = Field(default="", max_length=DIM)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class (SQLModel does not declare `__table__`)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class Lease(SQLModel, table=True):
    """A named lease held by one process until `expires_at`: the leader lease that lets one
    `aispend run` of several run the scheduled jobs (bot/runtime/lease.py)."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=255)
    acquired_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
