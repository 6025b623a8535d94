"""Gathering the alert checks: read what each check needs from the store, then run the pure
checks of bot.analysis.checks. Only complete UTC days are read; today is partial."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from bot.analysis.alerts import Condition
from bot.analysis.checks import (
    DEFAULT_CHECKS,
    CheckConfig,
    DayUsage,
    FeatureUsage,
    KeySpend,
    ModelUsage,
    ProviderCosts,
    SourceHealth,
    capture_drops,
    error_surge,
    prompt_growth,
    runway_low,
    stale_sources,
    unowned_spend,
    unpriced_models,
)
from bot.answers import runways
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, Origin, SpendQuery
from bot.jobs.collect import NAMES_SUFFIX
from bot.store import queries
from bot.store.attribution import Attribution
from bot.store.freshness import list_source_states
from bot.store.names import load_names


def gather_conditions(
    connection: Connection,
    team_file: TeamFile,
    now: datetime,
    config: CheckConfig = DEFAULT_CHECKS,
) -> list[Condition]:
    """Every condition the checks find true at `now` (aware), kind by kind."""
    today = now.astimezone(UTC).date()
    features = feature_usage(connection, today, config)
    return [
        *unowned_spend(key_spend(connection, team_file, today, config), config),
        *unpriced_models(model_usage(connection, today, config), config),
        *stale_sources(source_health(connection), now, config),
        *capture_drops(provider_costs(connection, today, config), today, config),
        *prompt_growth(features, today, config),
        *error_surge(features, today, config),
        *runway_low(runways(connection, today), config),
    ]


def _last_days(today: date, days: int) -> DateRange:
    return DateRange(today - timedelta(days=days), today)


def key_spend(
    connection: Connection, team_file: TeamFile, today: date, config: CheckConfig
) -> list[KeySpend]:
    """Spend per provider, project and api key over the window that attribution gave no team.
    A rule added since the spend was stored counts as owning it (stored rows keep the team
    they were attributed when written)."""
    group = (Dimension.PROVIDER, Dimension.PROJECT, Dimension.KEY, Dimension.TEAM)
    report = queries.spend(connection, SpendQuery(_last_days(today, config.window_days), group))
    rules = Attribution.from_rules(team_file.attribution)
    names = load_names(connection)
    found = []
    for row in report.rows:
        provider, project, api_key, team = row.keys
        if team or not (project or api_key) or rules.resolve(provider, project, api_key).team:
            continue
        found.append(
            KeySpend(
                provider,
                project,
                api_key,
                row.cost,
                project_name=_name(names, "project", project),
                key_name=_name(names, "api_key", api_key),
            )
        )
    return found


def _name(names: Mapping[tuple[str, str], str], kind: str, id_: str) -> str:
    return names.get((kind, id_), "") if id_ else ""


def model_usage(connection: Connection, today: date, config: CheckConfig) -> list[ModelUsage]:
    period = _last_days(today, config.window_days)
    return [
        ModelUsage(m.provider, m.model, m.requests, m.tokens_in, m.tokens_out)
        for m in queries.unpriced_models(connection, period)
    ]


def source_health(connection: Connection) -> list[SourceHealth]:
    """Every collector source but name lookups, which lose no spend when they fail."""
    return [
        SourceHealth(
            s.source,
            s.last_success,
            s.last_attempt,
            s.complete_through,
            s.last_error,
            s.consecutive_failures,
        )
        for s in list_source_states(connection)
        if not s.source.endswith(NAMES_SUFFIX)
    ]


def provider_costs(connection: Connection, today: date, config: CheckConfig) -> list[ProviderCosts]:
    """Billed and reported cost per provider and day over both capture windows."""
    period = _last_days(today, config.capture_recent_days + config.capture_baseline_days)
    group = (Dimension.PROVIDER,)
    billed = queries.daily_series(connection, SpendQuery(period, group, origin=Origin.BILLED))
    reported = queries.daily_series(connection, SpendQuery(period, group, origin=Origin.REPORTED))
    return [
        ProviderCosts(provider, days, reported.get((provider,), {}))
        for (provider,), days in billed.items()
    ]


def feature_usage(connection: Connection, today: date, config: CheckConfig) -> list[FeatureUsage]:
    """Request events per feature and day over the day checked and its baseline. A feature's
    team is the one with most of its requests."""
    period = _last_days(today, config.baseline_days + 1)
    group = (Dimension.FEATURE, Dimension.TEAM)
    usage = queries.daily_usage(connection, SpendQuery(period, group, origin=Origin.REPORTED))
    days: dict[str, dict[date, DayUsage]] = {}
    requests_by_team: dict[str, dict[str, int]] = {}
    for (feature, team), by_day in usage.items():
        merged = days.setdefault(feature, {})
        for day, u in by_day.items():
            before = merged.get(day, DayUsage(0))
            merged[day] = DayUsage(
                before.requests + u.requests,
                before.tokens_in + u.tokens_in,
                before.errors + u.error_requests,
                before.cost + u.cost,
            )
        teams = requests_by_team.setdefault(feature, {})
        teams[team] = teams.get(team, 0) + sum(u.requests for u in by_day.values())
    return [
        FeatureUsage(feature, by_day, _main_team(requests_by_team[feature]))
        for feature, by_day in days.items()
    ]


def _main_team(requests: Mapping[str, int]) -> str:
    named = {team: n for team, n in requests.items() if team}
    return max(sorted(named), key=lambda team: named[team]) if named else ""
