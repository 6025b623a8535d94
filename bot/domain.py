"""Frozen dataclasses and enums shared by every layer. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class Dimension(StrEnum):
    """What spend can be grouped or filtered by. The value is the word people type."""

    PROVIDER = "provider"
    MODEL = "model"
    PROJECT = "project"
    KEY = "key"
    TEAM = "team"
    FEATURE = "feature"
    CUSTOMER = "customer"
    ENVIRONMENT = "environment"

    @property
    def column(self) -> str:
        """The column that holds this dimension in events, cost lines and rollups."""
        return "api_key" if self is Dimension.KEY else self.value


# Dimensions that only request-level events carry; provider cost reports never do.
EVENT_ONLY_DIMENSIONS = frozenset({Dimension.FEATURE, Dimension.CUSTOMER, Dimension.ENVIRONMENT})


class Origin(StrEnum):
    """Where a dollar figure came from."""

    BILLED = "billed"  # the provider's own cost report: the source of truth
    ESTIMATED = "estimated"  # the provider's token usage, priced by us until billed cost lands
    REPORTED = "reported"  # request-level events our apps pushed, priced by us
    # seats and plans from the subscription ledger, spread over their cycles' days: never a
    # competitor of the others, always added to them (no provider API reports these)
    SUBSCRIPTION = "subscription"


class EventStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


@dataclass(slots=True)
class UsageEvent:
    """One request an app reported. Token counts follow the normalization rule:
    tokens_in includes cache reads and writes, which are subsets of it.

    Treated as immutable (use dataclasses.replace), but not declared frozen: ingest builds
    millions of these, and a frozen dataclass's __init__ costs about 4x as much (3.7 us
    against 0.95 us per event with 20 fields, measured here)."""

    ts: datetime
    request_id: str
    provider: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    source: str = "events"
    project: str = ""
    api_key: str = ""
    feature: str = ""
    team: str = ""
    customer: str = ""
    environment: str = ""
    service_tier: str = ""
    batch: bool = False
    latency_ms: int | None = None
    status: EventStatus = EventStatus.OK
    cost: Decimal | None = None  # set only when the app itself reported a cost


@dataclass(frozen=True, slots=True)
class CostLine:
    """What a provider billed (or reported in tokens) for one bucket and set of dimensions.

    The natural key is source, bucket_start, bucket_hours and every dimension field, so
    re-pulling a window replaces rows instead of adding to them. `cost` None means unpriced.
    """

    source: str
    provider: str
    bucket_start: datetime
    bucket_hours: int = 24
    project: str = ""
    api_key: str = ""
    model: str = ""
    service_tier: str = ""
    batch: bool = False
    line_item: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 0
    cost: Decimal | None = None
    currency: str = "USD"
    estimated: bool = False
    # a provider-side label attribution rules may match, as "key=value" (a GCP label or an
    # Azure resource's tag, "team=growth"); not a column and not part of the natural key, so
    # a collector that sets it keeps keys distinct through project or line_item
    label: str = ""


@dataclass(frozen=True, slots=True)
class CreditSnapshot:
    """A prepaid balance as a provider reported it at one moment; kept apart from spend."""

    source: str
    provider: str
    at: datetime  # aware UTC: when the balance was read
    balance: Decimal  # credit left, in `currency`
    currency: str = "USD"
    purchased: Decimal | None = None  # everything bought so far, when the provider says


@dataclass(frozen=True, slots=True)
class DisplayName:
    """The human name a provider gives one of its ids (a project, workspace or api key)."""

    provider: str
    kind: str  # a Dimension value: "project" or "api_key"
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class CodingToolDay:
    """One developer's day in a coding tool (Claude Code), as the provider reports it.

    Attribution, not spend: the cost is the provider's estimate and is already inside the API
    bill (or a seat), so it never enters spend totals. Tokens and cost are per model; the
    actor's activity (sessions, lines, commits, pull requests) sits on the row whose model is
    "", so sums over rows count each once."""

    tool: str
    day: date
    actor: str  # an email address or an api key name
    model: str
    customer_type: str = ""  # "api" or "subscription"
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated_cost: Decimal = Decimal(0)  # USD
    sessions: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    commits: int = 0
    pull_requests: int = 0


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole UTC days, half-open: [start, end)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty date range {self.start}..{self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class Filter:
    dimension: Dimension
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SpendQuery:
    """A question the query layer answers from rollups."""

    period: DateRange
    group_by: tuple[Dimension, ...] = ()
    filters: tuple[Filter, ...] = ()
    origin: Origin | None = None  # None: billed where it exists, else the best available
    # with origin None: add the subscription ledger's seats and plans (False: API spend only,
    # e.g. what prepaid credit pays for)
    subscriptions: bool = True


@dataclass(frozen=True, slots=True)
class SpendRow:
    keys: tuple[str, ...]
    cost: Decimal
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    unpriced_requests: int = 0


@dataclass(frozen=True, slots=True)
class SpendReport:
    query: SpendQuery
    origin: Origin | None
    rows: tuple[SpendRow, ...] = field(default_factory=tuple)
    total: Decimal = Decimal(0)
    unpriced_requests: int = 0


@dataclass(frozen=True, slots=True)
class KeySwitch:
    """An api key switched off (paused) or back on at its provider, by whom and when; the
    incident it was pressed on, if any."""

    provider: str
    api_key: str
    active: bool
    by: str  # a Slack user id, or the command line's user
    at: datetime  # aware UTC
    incident_id: int | None = None
