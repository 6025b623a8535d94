"""Alert checks beyond spikes and budgets, as pure functions over plain data: each takes what
the store said (gathered by bot.jobs.checks) and returns the conditions true now.

Every rule has a volume gate so that small or noisy series stay quiet. The defaults are in
CheckConfig; "day" always means a complete UTC day (today is partial and never counted).

* UNOWNED: spend on a provider project, workspace or api key that no attribution rule gives a
  team, over the last 7 days. Info from $1, warning from $10, critical from $100.
* UNPRICED: a model used with no price in the last 7 days. Info; warning from 1,000 requests.
* STALE_SOURCE: a collector source that keeps failing (3 failures in a row), has not pulled
  successfully for over 6 h, or whose data stops more than 2 days ago (only for a source that
  had data). Warning; critical after 24 h without a successful pull. A source not even tried
  for 14 days is taken as retired and not reported.
* CAPTURE_DROP: per provider, the share of billed cost that request events cover (capped at
  100%) over the last 7 days against the 28 before, on days that have billed cost. Needs
  $20/week billed in both windows and 7 billed days in the earlier one. Warning at a drop of
  20 percentage points, critical at 50.
* PROMPT_GROWTH: per feature, yesterday's mean input tokens per request against the median of
  the previous 14 days' daily means, on days with >= 50 requests (7 such days needed). Fires
  at >= 1.5x and >= 500 more tokens: info, warning when the day cost >= $10, critical when
  also >= 3x.
* ERROR_SURGE: per feature, yesterday's share of failed requests against the median share of
  the previous 14 days. Needs >= 20 errors, a share >= 5% and >= 3x the median. Warning;
  critical from a 25% share.
* RUNWAY_LOW: a USD prepaid balance that lasts under 14 days at the last week's spend
  (warning), or under 3 (critical).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from bot.analysis.alerts import AlertKind, Condition
from bot.analysis.detector import Severity
from bot.analysis.runway import Runway
from bot.money import format_usd

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """The gates of every check. Money in USD."""

    window_days: int = 7  # unowned spend and unpriced models look this far back
    unowned_info: Decimal = Decimal(1)
    unowned_warning: Decimal = Decimal(10)
    unowned_critical: Decimal = Decimal(100)
    unpriced_warning_requests: int = 1000
    stale_failures: int = 3  # consecutive failed pulls
    stale_after: timedelta = timedelta(hours=6)  # since the last successful pull
    stale_critical_after: timedelta = timedelta(hours=24)
    behind_after: timedelta = timedelta(days=2)  # since the end of the newest data
    retired_after: timedelta = timedelta(days=14)  # not even tried: the source was removed
    capture_recent_days: int = 7
    capture_baseline_days: int = 28
    capture_min_weekly_billed: Decimal = Decimal(20)
    capture_min_baseline_days: int = 7  # days with billed cost in the earlier window
    capture_drop: Decimal = Decimal("0.20")  # in share of billed cost: 20 percentage points
    capture_critical_drop: Decimal = Decimal("0.50")
    baseline_days: int = 14  # prompt growth and error surge compare with this many days
    prompt_min_requests: int = 50  # per day, on the day checked and on each baseline day
    prompt_min_baseline_days: int = 7
    prompt_ratio: float = 1.5
    prompt_min_increase: int = 500  # tokens per request
    prompt_critical_ratio: float = 3.0
    prompt_warning_cost: Decimal = Decimal(10)  # the feature's cost on the day checked
    error_min_errors: int = 20
    error_min_share: float = 0.05
    error_ratio: float = 3.0  # against the median share of the baseline days
    error_critical_share: float = 0.25
    runway_warning_days: int = 14
    runway_critical_days: int = 3


DEFAULT_CHECKS = CheckConfig()


# --- unowned spend ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySpend:
    """Spend over the window on one provider project and api key that no rule gives a team."""

    provider: str
    project: str
    api_key: str
    cost: Decimal
    project_name: str = ""  # the provider's display names, when known
    key_name: str = ""


def unowned_spend(
    spends: Sequence[KeySpend], config: CheckConfig = DEFAULT_CHECKS
) -> list[Condition]:
    """One condition per project or key with enough unowned spend, largest first."""
    found = []
    for s in spends:
        severity = _tier(
            s.cost, config.unowned_info, config.unowned_warning, config.unowned_critical
        )
        if severity is None or not (s.project or s.api_key):
            continue
        found.append(
            Condition(
                kind=AlertKind.UNOWNED,
                key=(s.provider, s.project, s.api_key),
                severity=severity,
                summary=(
                    f"{_spender(s)} spent {format_usd(s.cost)} in the last "
                    f"{config.window_days} days and no attribution rule owns it"
                ),
                why=_unowned_advice(s),
                amount=s.cost,
            )
        )
    found.sort(key=lambda c: (-(c.amount or 0), c.key))
    return found


def _tier(value: Decimal, info: Decimal, warning: Decimal, critical: Decimal) -> Severity | None:
    if value >= critical:
        return Severity.CRITICAL
    if value >= warning:
        return Severity.WARNING
    return Severity.INFO if value >= info else None


def _named(name: str, id_: str) -> str:
    return f"{name} ({id_})" if name and name != id_ else id_


def _project_word(provider: str) -> str:
    return "workspace" if provider == "anthropic" else "project"


def _spender(s: KeySpend) -> str:
    """api key K on P (project X), or project X on P."""
    project = f"{_project_word(s.provider)} {_named(s.project_name, s.project)}"
    if not s.api_key:
        return f"{project} on {s.provider}"
    where = f" ({project})" if s.project else ""
    return f"api key {_named(s.key_name, s.api_key)} on {s.provider}{where}"


def _unowned_advice(s: KeySpend) -> str:
    if s.api_key:
        return (
            f'add an [[attribution]] rule in aispend.toml (api_key = "{s.api_key}", team = ...), '
            "or revoke the key if nobody uses it"
        )
    return (
        f'add an [[attribution]] rule in aispend.toml (project = "{s.project}", team = ...), '
        f"or archive the {_project_word(s.provider)} if nobody uses it"
    )


# --- unpriced models --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Requests of one model that found no price over the window."""

    provider: str
    model: str
    requests: int
    tokens_in: int = 0
    tokens_out: int = 0


def unpriced_models(
    models: Sequence[ModelUsage], config: CheckConfig = DEFAULT_CHECKS
) -> list[Condition]:
    """One condition per model used without a price, most requests first."""
    found = []
    for m in sorted(models, key=lambda m: (-m.requests, m.provider, m.model)):
        if m.requests <= 0:
            continue
        severity = (
            Severity.WARNING if m.requests >= config.unpriced_warning_requests else Severity.INFO
        )
        found.append(
            Condition(
                kind=AlertKind.UNPRICED,
                key=(m.provider, m.model),
                severity=severity,
                summary=(
                    f"model {m.model} on {m.provider} has no price: {m.requests:,} requests "
                    f"({_tokens(m.tokens_in)} input, {_tokens(m.tokens_out)} output tokens) in "
                    f"the last {config.window_days} days are left out of every total"
                ),
                why=(
                    f'add a [[prices.overrides]] entry in aispend.toml (provider = "{m.provider}", '
                    f'model = "{m.model}", USD per million tokens); until then estimated and '
                    "per-feature spend leaves these requests out"
                ),
            )
        )
    return found


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}K"
    return f"{n:,}"


# --- stale sources ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What collector_state says about one source."""

    source: str
    last_success: datetime | None
    last_attempt: datetime | None
    complete_through: datetime | None  # the end of its newest data; None if it never had any
    last_error: str = ""
    consecutive_failures: int = 0


def stale_sources(
    sources: Sequence[SourceHealth], now: datetime, config: CheckConfig = DEFAULT_CHECKS
) -> list[Condition]:
    """One condition per source that is failing, not pulled lately, or whose data stops short."""
    found = []
    for s in sorted(sources, key=lambda s: s.source):
        if s.last_attempt is None or now - s.last_attempt > config.retired_after:
            continue
        problems = _source_problems(s, now, config)
        if not problems:
            continue
        since_success = None if s.last_success is None else now - s.last_success
        critical = since_success is not None and since_success > config.stale_critical_after
        found.append(
            Condition(
                kind=AlertKind.STALE_SOURCE,
                key=(s.source,),
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                summary=f"source {s.source} " + "; ".join(problems),
                why=_stale_advice(s, now, config),
            )
        )
    return found


def _source_problems(s: SourceHealth, now: datetime, config: CheckConfig) -> list[str]:
    problems = []
    if s.consecutive_failures >= config.stale_failures:
        never = " and has never succeeded" if s.last_success is None else ""
        problems.append(f"failed {s.consecutive_failures} times in a row{never}")
    if s.last_success is not None and now - s.last_success > config.stale_after:
        problems.append(
            f"last pulled successfully {_ago(now - s.last_success)} ago ({_when(s.last_success)})"
            + (" and has not been tried since" if _untried(s, now, config) else "")
        )
    if s.complete_through is not None and now - s.complete_through > config.behind_after:
        problems.append(
            f"has data only through {_when(s.complete_through)} "
            f"({_ago(now - s.complete_through)} behind)"
        )
    return problems


def _untried(s: SourceHealth, now: datetime, config: CheckConfig) -> bool:
    return s.last_attempt is not None and now - s.last_attempt > config.stale_after


def _stale_advice(s: SourceHealth, now: datetime, config: CheckConfig) -> str:
    if s.consecutive_failures > 0:
        error = s.last_error if len(s.last_error) <= 200 else s.last_error[:199] + "…"
        said = f"last error: {error}; " if error else ""
        return f"{said}check its key and run `aispend collect`; its spend is missing until then"
    if _untried(s, now, config):
        return (
            "it is no longer collected: check that the scheduler runs `aispend collect` and "
            f"that the provider's key is still set (after {config.retired_after.days} days "
            "untried it is taken as removed)"
        )
    return (
        "the provider has reported nothing newer: it may be lagging or have stopped reporting, "
        "or nothing was spent since"
    )


def _ago(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- capture rate -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderCosts:
    """One provider's daily billed cost and the cost of its reported request events."""

    provider: str
    billed: Mapping[date, Decimal]
    reported: Mapping[date, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Capture:
    billed: Decimal
    reported: Decimal
    days: int  # days with billed cost

    @property
    def share(self) -> Decimal:
        """Reported over billed, at most 1: list-price estimates above a discounted bill are
        full capture, not more."""
        return min(Decimal(1), self.reported / self.billed) if self.billed else Decimal(0)


def capture_drops(
    providers: Sequence[ProviderCosts], today: date, config: CheckConfig = DEFAULT_CHECKS
) -> list[Condition]:
    """One condition per provider whose request events cover a much smaller share of its
    billed cost this week than over the four weeks before."""
    recent_start = today - timedelta(days=config.capture_recent_days)
    baseline_start = recent_start - timedelta(days=config.capture_baseline_days)
    found = []
    for p in sorted(providers, key=lambda p: p.provider):
        recent = _capture(p, recent_start, today)
        before = _capture(p, baseline_start, recent_start)
        if not _enough_billed(recent, before, config):
            continue
        drop = before.share - recent.share
        if drop < config.capture_drop:
            continue
        severity = Severity.CRITICAL if drop >= config.capture_critical_drop else Severity.WARNING
        found.append(
            Condition(
                kind=AlertKind.CAPTURE_DROP,
                key=(p.provider,),
                severity=severity,
                summary=(
                    f"{p.provider}: request events cover {recent.share:.0%} of billed cost in "
                    f"the last {config.capture_recent_days} days, down from {before.share:.0%} "
                    f"over the {config.capture_baseline_days} before "
                    f"({format_usd(recent.billed)} billed)"
                ),
                why=(
                    "an app may have stopped sending request events, or new traffic runs "
                    "without them (a new service, key or exporter); per-feature and per-team "
                    "reports miss the uncovered share"
                ),
                amount=(recent.billed * drop).quantize(_CENT, ROUND_HALF_EVEN),
            )
        )
    return found


def _capture(p: ProviderCosts, start: date, end: date) -> _Capture:
    """Sums over the days in [start, end) that have billed cost: a day the bill has not
    reached yet (provider lag) is left out on both sides."""
    days = [d for d, cost in p.billed.items() if start <= d < end and cost > 0]
    return _Capture(
        billed=sum((p.billed[d] for d in days), Decimal(0)),
        reported=sum((p.reported.get(d, Decimal(0)) for d in days), Decimal(0)),
        days=len(days),
    )


def _enough_billed(recent: _Capture, before: _Capture, config: CheckConfig) -> bool:
    if recent.billed * 7 < config.capture_min_weekly_billed * config.capture_recent_days:
        return False
    if before.days < config.capture_min_baseline_days:
        return False
    return before.billed * 7 >= config.capture_min_weekly_billed * before.days


# --- per-feature usage: prompt growth and error surge -----------------------------------------


@dataclass(frozen=True, slots=True)
class DayUsage:
    requests: int
    tokens_in: int = 0
    errors: int = 0
    cost: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class FeatureUsage:
    """One feature's request events per complete day ("" is requests that name no feature)."""

    feature: str
    days: Mapping[date, DayUsage]
    team: str = ""


def prompt_growth(
    features: Sequence[FeatureUsage], today: date, config: CheckConfig = DEFAULT_CHECKS
) -> list[Condition]:
    """One condition per feature whose mean prompt yesterday jumped above its usual size."""
    day = today - timedelta(days=1)
    found = []
    for f in sorted(features, key=lambda f: f.feature):
        usage = f.days.get(day)
        if usage is None or usage.requests < config.prompt_min_requests:
            continue
        means = [
            u.tokens_in / u.requests
            for d, u in _baseline(f, day, config)
            if u.requests >= config.prompt_min_requests
        ]
        if len(means) < config.prompt_min_baseline_days:
            continue
        usual, mean = statistics.median(means), usage.tokens_in / usage.requests
        if usual <= 0 or mean < config.prompt_ratio * usual:
            continue
        if mean - usual < config.prompt_min_increase:
            continue
        ratio = mean / usual
        found.append(
            Condition(
                kind=AlertKind.PROMPT_GROWTH,
                key=(f.feature,),
                severity=_prompt_severity(ratio, usage.cost, config),
                summary=(
                    f"{_feature(f.feature)}: average prompt {mean:,.0f} tokens on {day} "
                    f"({usage.requests:,} requests), {ratio:.1f}x its "
                    f"{config.baseline_days}-day median of {usual:,.0f}; "
                    f"{format_usd(usage.cost)} spent that day"
                ),
                why=(
                    "a prompt template, retrieval step or conversation history may have grown "
                    "(look at the feature's recent changes); input tokens are billed per token"
                ),
                team=f.team,
            )
        )
    return found


def _baseline(f: FeatureUsage, day: date, config: CheckConfig) -> list[tuple[date, DayUsage]]:
    """The feature's days in the baseline_days before `day`, with requests."""
    start = day - timedelta(days=config.baseline_days)
    return sorted((d, u) for d, u in f.days.items() if start <= d < day and u.requests > 0)


def _prompt_severity(ratio: float, cost: Decimal, config: CheckConfig) -> Severity:
    if cost < config.prompt_warning_cost:
        return Severity.INFO
    return Severity.CRITICAL if ratio >= config.prompt_critical_ratio else Severity.WARNING


def _feature(feature: str) -> str:
    return f"feature {feature}" if feature else "requests with no feature"


def error_surge(
    features: Sequence[FeatureUsage], today: date, config: CheckConfig = DEFAULT_CHECKS
) -> list[Condition]:
    """One condition per feature whose share of failed requests yesterday surged."""
    day = today - timedelta(days=1)
    found = []
    for f in sorted(features, key=lambda f: f.feature):
        usage = f.days.get(day)
        if usage is None or usage.requests <= 0 or usage.errors < config.error_min_errors:
            continue
        share = usage.errors / usage.requests
        shares = [u.errors / u.requests for _, u in _baseline(f, day, config)]
        usual = statistics.median(shares) if shares else 0.0
        if share < config.error_min_share or share < config.error_ratio * usual:
            continue
        critical = share >= config.error_critical_share
        found.append(
            Condition(
                kind=AlertKind.ERROR_SURGE,
                key=(f.feature,),
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                summary=(
                    f"{_feature(f.feature)}: {usage.errors:,} of {usage.requests:,} requests "
                    f"failed on {day} ({share:.1%}; {config.baseline_days}-day median "
                    f"{usual:.1%})"
                ),
                why=(
                    "check the provider's status and the feature's recent deploys; retried "
                    "requests add to spend while they fail"
                ),
                team=f.team,
            )
        )
    return found


# --- prepaid runway ---------------------------------------------------------------------------


def runway_low(runways: Sequence[Runway], config: CheckConfig = DEFAULT_CHECKS) -> list[Condition]:
    """One condition per USD prepaid balance that runs out soon at the last week's spend."""
    low = [r for r in runways if r.comparable and r.days is not None and r.runs_out is not None]
    found = []
    for r in sorted(low, key=lambda r: (r.days or 0, r.balance.source)):
        days = int(r.days or 0)
        if days >= config.runway_warning_days:
            continue
        critical = days < config.runway_critical_days
        b = r.balance
        found.append(
            Condition(
                kind=AlertKind.RUNWAY_LOW,
                key=(b.provider, b.source),
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                summary=(
                    f"{b.provider} prepaid balance {format_usd(b.balance)} lasts about "
                    f"{days} days at {format_usd(r.daily_spend)}/day (runs out {r.runs_out})"
                ),
                why=f"top up the {b.provider} balance, or requests start failing when it is gone",
                amount=b.balance,
            )
        )
    return found
