"""The daily digest job: which channels get a digest now, the figures each one shows, and the
digest and its chart queued in the outbox, in the caller's transaction.

Channels. #eng (the [slack] channel) gets all spend; every team with a channel of its own
gets that team's spend (teams sharing a channel get one digest for all of them; a team whose
channel is #eng's is already in it). Each channel's digest is due once its local time (the
team's timezone, else the [slack] one) reaches digest_hour, once per local date: the outbox
key `digest:{channel}:{local date}` says whether it went out. On a local Monday the weekly
summary takes the daily digest's place, under the same key.

Which day. The store counts whole UTC days, so a digest reports **the last complete UTC
day** before `now`, whatever the channel's timezone: at 09:00 in New York, London or Berlin
that is the local yesterday; far east of UTC (Tokyo, Sydney) the local yesterday is not over
in UTC yet and the digest reports the day before it. The weekly summary covers the seven UTC
days ending with that day (Monday to Sunday west of about UTC+9 at a 09:00 digest).

What is compared with what:
* the day against the usual for its weekday: the median of the same weekday over the four
  weeks before, counting only weeks since the scope (or provider) first had spend, and none
  with fewer than two such weeks;
* what moved: the day against the same weekday a week earlier (the week against the same
  week four weeks earlier), by provider and model; for a team by feature and model when its
  request events hold most of its counted spend (features exist only there; otherwise a
  feature line would crowd out a larger billed change). Each with why: for #eng the teams
  that drove it, for a team the line's volume and unit cost;
* the month: the month outlook's forecast and range for the scope, with its budget.
"""

from __future__ import annotations

import base64
import logging
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from bot.analysis.explain import (
    Explanation,
    Measured,
    VolumeMeasure,
    describe_keys,
    explain_change,
    measured_rows,
    top_drivers,
)
from bot.analysis.forecast import daily_cut_needed, exhaustion_date, forecast_month
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, Filter, Origin, SpendQuery
from bot.jobs.alerting import POSTED
from bot.jobs.outlook import HISTORY, MonthOutlook, ScopeForecast, calibrated_intervals
from bot.jobs.outlook import month_outlook as build_outlook
from bot.money import format_usd
from bot.slack.blocks import Message
from bot.slack.chart import spend_chart
from bot.slack.digest import DigestData, Moved, Trend, WeeklyData, daily_digest, weekly_summary
from bot.store import queries
from bot.store.freshness import SourceState, list_source_states
from bot.store.incidents import IncidentView, open_incidents
from bot.store.outbox import Outgoing, enqueue, queued_keys
from bot.store.queries import UnpricedModel

logger = logging.getLogger(__name__)

USUAL_WEEKS = 4  # same weekdays the usual is the median of
USUAL_MIN_WEEKS = 2  # fewer than this and there is no usual
CHART_DAYS = 30
COMPARED_WEEKS = 4  # the weekly summary's week against the one this many weeks earlier
STALE_AFTER = timedelta(days=2)  # a source whose data stops further back than this is stale
MOVERS = 3
MOVER_FLOOR = Decimal("1.00")  # USD: a smaller change is not news
MOVER_SHARE_OF_BEFORE = Decimal("0.10")  # nor is one under 10% of what the line was
MOVER_SHARE_OF_SCOPE = Decimal("0.01")  # nor one under 1% of the scope's spend
EVENTS_COVER = Decimal("0.8")  # a team's movers go by feature when events hold this much
UNIT_COST_STEADY = 0.05  # cost per token within 5% of before reads as "the same"
DRIVERS = 2
NAMES_SUFFIX = ".names"  # name lookups lose no spend when they fail: never stale here

_ENG = (Dimension.PROVIDER, Dimension.MODEL)
_TEAM = (Dimension.FEATURE, Dimension.MODEL)


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """One digest to send: where, whose spend, for which local date, and which kind."""

    channel: str
    teams: tuple[str, ...]  # () for #eng: all spend
    local_date: date  # the channel's date when it is due
    weekly: bool  # a local Monday: the weekly summary instead of the daily digest
    timezone: str = "UTC"

    @property
    def key(self) -> str:
        return f"digest:{self.channel}:{self.local_date.isoformat()}"

    @property
    def chart_key(self) -> str:
        return f"{self.key}:chart"

    @property
    def scope(self) -> str:
        """ "all spend", "team growth", or "teams growth, search" for a shared channel."""
        if not self.teams:
            return "all spend"
        noun = "team" if len(self.teams) == 1 else "teams"
        return f"{noun} {', '.join(self.teams)}"

    @property
    def filters(self) -> tuple[Filter, ...]:
        return (Filter(Dimension.TEAM, self.teams),) if self.teams else ()


# --- when ---------------------------------------------------------------------------------


def digests_due(
    team_file: TeamFile, now: datetime, sent: Callable[[str], bool]
) -> list[DigestPlan]:
    """The digests due at `now`: each channel whose local hour has reached digest_hour and
    whose digest for its local date is not queued yet (`sent(key)`), #eng first."""
    plans = []
    for channel, teams, zone in channels(team_file):
        local = now.astimezone(_zone(zone, team_file.slack.timezone))
        if local.hour < team_file.slack.digest_hour:
            continue
        plan = DigestPlan(channel, teams, local.date(), local.weekday() == 0, zone)
        if not sent(plan.key):
            plans.append(plan)
    return plans


def channels(team_file: TeamFile) -> list[tuple[str, tuple[str, ...], str]]:
    """(channel, teams, timezone) per digest channel: #eng with all spend, then each team
    channel with the teams posting there, in the first such team's timezone."""
    eng = team_file.slack.channel
    found: dict[str, tuple[list[str], str]] = {}
    for team in team_file.teams:
        if not team.channel or team.channel == eng:
            continue
        found.setdefault(team.channel, ([], team.timezone))[0].append(team.id)
    default = team_file.slack.timezone
    return [(eng, (), default)] + [
        (channel, tuple(teams), zone or default) for channel, (teams, zone) in found.items()
    ]


def _zone(name: str, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown timezone %r for a digest; trying the next one", candidate)
    raise AssertionError("UTC is always known")  # pragma: no cover


def report_day(now: datetime) -> date:
    """The last complete UTC day before `now`: the day every digest reports."""
    return now.astimezone(UTC).date() - timedelta(days=1)


# --- the daily digest ---------------------------------------------------------------------


def gather_digest(
    connection: Connection,
    team_file: TeamFile,
    plan: DigestPlan,
    now: datetime,
    *,
    outlook: MonthOutlook | None = None,
) -> DigestData:
    """Everything the plan's daily digest shows. Pass `outlook` (month_outlook at `now`) to
    share one between several digests; it is built here otherwise."""
    day = report_day(now)
    by_provider = provider_days(connection, plan.filters, _chart_window(day))
    total = _summed(by_provider.values())
    spent = total.get(day, Decimal(0))
    usual = usual_for(total, day)
    alerts = [i for i in open_incidents(connection) if _concerns(i, plan)]
    return DigestData(
        scope=plan.scope,
        day=day,
        spent=spent,
        usual=usual,
        month=_month(connection, team_file, plan, now, outlook),
        movers=movers(connection, plan, _one_day(day), _one_day(day - timedelta(days=7))),
        providers=daily_trends(by_provider, day),
        alerts=alerts,
        unacknowledged=frozenset(i.id for i in alerts if not i.handled and i.severity in POSTED),
        stale=stale_sources(list_source_states(connection), now, _providers_of(plan, by_provider)),
        unpriced=unpriced(connection, _one_day(day), plan.filters),
        as_of=now,
    )


def provider_days(
    connection: Connection, filters: tuple[Filter, ...], period: DateRange
) -> dict[str, dict[date, Decimal]]:
    """Cost per provider and day (days without spend left out)."""
    found = queries.daily_series(connection, SpendQuery(period, (Dimension.PROVIDER,), filters))
    return {keys[0]: days for keys, days in found.items()}


def usual_for(series: Mapping[date, Decimal], day: date) -> Decimal | None:
    """The median of the same weekday over the USUAL_WEEKS weeks before `day`, counting only
    weeks on or after the series' first day (a missing day after it is $0); None with fewer
    than USUAL_MIN_WEEKS of them."""
    if not series:
        return None
    first = min(series)
    earlier = [day - timedelta(weeks=k) for k in range(1, USUAL_WEEKS + 1)]
    counted = [series.get(d, Decimal(0)) for d in earlier if d >= first]
    if len(counted) < USUAL_MIN_WEEKS:
        return None
    return Decimal(statistics.median(counted))


def daily_trends(by_provider: Mapping[str, Mapping[date, Decimal]], day: date) -> list[Trend]:
    """Each provider's day against its usual for the weekday; providers that spent nothing
    and usually do not are left out (one that dropped to $0 stays in)."""
    trends = []
    for provider, series in sorted(by_provider.items()):
        now = series.get(day, Decimal(0))
        usual = usual_for(series, day)
        if now > 0 or (usual or 0) > 0:
            trends.append(Trend(provider, now, usual))
    return trends


def _month(
    connection: Connection,
    team_file: TeamFile,
    plan: DigestPlan,
    now: datetime,
    outlook: MonthOutlook | None,
) -> ScopeForecast | None:
    """The scope's forecast from the month outlook; a shared team channel's is made here."""
    outlook = outlook or build_outlook(connection, team_file, now)
    for scope in outlook.scopes:
        if scope.scope == plan.scope:
            return scope
    period = DateRange(now.date().replace(day=1) - HISTORY, now.date() + timedelta(days=1))
    daily = queries.daily_series(connection, SpendQuery(period, (), plan.filters)).get((), {})
    forecast = forecast_month(daily, now, intervals=calibrated_intervals(connection, now.date()))
    budget = monthly_budget(team_file, plan)
    if budget is None:
        return ScopeForecast(plan.scope, forecast)
    return ScopeForecast(
        plan.scope,
        forecast,
        budget,
        exhaustion_date(forecast, budget),
        daily_cut_needed(forecast, budget),
    )


def monthly_budget(team_file: TeamFile, plan: DigestPlan) -> Decimal | None:
    """The scope's monthly budget: the all-spend budget for #eng, the team's for a team
    channel, the sum for a shared one when every team there has a budget."""
    if not plan.teams:
        found = [b.monthly for b in team_file.budgets if b.dimension is None]
        return found[0] if found else None
    by_team = {b.value: b.monthly for b in team_file.budgets if b.dimension is Dimension.TEAM}
    if not all(team in by_team for team in plan.teams):
        return None
    return sum((by_team[team] for team in plan.teams), Decimal(0))


def _concerns(incident: IncidentView, plan: DigestPlan) -> bool:
    return not plan.teams or incident.team in plan.teams


def stale_sources(
    sources: Sequence[SourceState], now: datetime, providers: set[str] | None = None
) -> list[SourceState]:
    """Sources failing, or whose data stops more than STALE_AFTER back; only those of
    `providers` when given (a team hears of the sources behind its own figures)."""
    found = []
    for s in sources:
        if s.source.endswith(NAMES_SUFFIX):
            continue
        if providers is not None and s.source.partition(".")[0] not in providers:
            continue
        behind = s.complete_through is not None and now - s.complete_through > STALE_AFTER
        if s.consecutive_failures or behind:
            found.append(s)
    return found


def _providers_of(
    plan: DigestPlan, by_provider: Mapping[str, Mapping[date, Decimal]]
) -> set[str] | None:
    return set(by_provider) if plan.teams else None


def unpriced(
    connection: Connection, period: DateRange, filters: tuple[Filter, ...]
) -> list[UnpricedModel]:
    """Models with requests that have no price in the counted figures, most requests first.
    The counted origin, so usage whose billed cost has arrived is not reported as unpriced."""
    query = SpendQuery(period, _ENG, filters)
    rows = [r for r in queries.spend(connection, query).rows if r.unpriced_requests]
    rows.sort(key=lambda r: (-r.unpriced_requests, r.keys))
    return [
        UnpricedModel(r.keys[0], r.keys[1], r.unpriced_requests, r.tokens_in, r.tokens_out)
        for r in rows
    ]


# --- what moved, and why ------------------------------------------------------------------


def movers(
    connection: Connection, plan: DigestPlan, period: DateRange, previous: DateRange
) -> list[Moved]:
    """The lines that moved most from `previous` to `period`, largest change first, each
    with why. Changes too small to be news (see MOVER_*) are left out."""
    scale = _scope_total(connection, plan, period)
    dims = _ENG
    if plan.teams and _events_cover(connection, plan, (period, previous)):
        dims = _TEAM
    query = SpendQuery(period, dims, plan.filters)
    found = queries.top_movers(connection, query, previous, limit=MOVERS * 4)
    moved = []
    for mover in found:
        if not _is_news(mover, scale):
            continue
        why = _why(connection, plan, dims, mover.keys, period, previous)
        moved.append(Moved(_what(dims, mover.keys), mover.before, mover.after, why))
    return moved[:MOVERS]


def _events_cover(connection: Connection, plan: DigestPlan, periods: Sequence[DateRange]) -> bool:
    """Whether the scope's request events hold at least EVENTS_COVER of its counted spend in
    every period: only then do features (which exist only in events) tell what moved."""
    for period in periods:
        counted = _scope_total(connection, plan, period)
        query = SpendQuery(period, (), plan.filters, Origin.REPORTED)
        if queries.spend(connection, query).total < EVENTS_COVER * counted:
            return False
    return True


def _is_news(mover: queries.Mover, scale: Decimal) -> bool:
    change = abs(mover.change)
    return (
        change >= MOVER_FLOOR
        and change >= MOVER_SHARE_OF_BEFORE * mover.before
        and change >= MOVER_SHARE_OF_SCOPE * scale
    )


def _scope_total(connection: Connection, plan: DigestPlan, period: DateRange) -> Decimal:
    return queries.spend(connection, SpendQuery(period, (), plan.filters)).total


def _what(dims: tuple[Dimension, ...], keys: tuple[str, ...]) -> str:
    """ "model gpt-5 on openai" or "feature search on gpt-5"."""
    if dims == _ENG:
        return f"model {keys[1]} on {keys[0]}"
    return describe_keys(dims, keys)


def _why(
    connection: Connection,
    plan: DigestPlan,
    dims: tuple[Dimension, ...],
    keys: tuple[str, ...],
    period: DateRange,
    previous: DateRange,
) -> str:
    """For #eng the teams that drove a line's change; for a team the line's own volume and
    unit cost. Tokens are the volume, as the detector's explanations measure it."""
    split = (Dimension.TEAM,) if not plan.teams else ()
    line = tuple(Filter(d, (v,)) for d, v in zip(dims, keys, strict=True))
    group = dims + split

    def measured(days: DateRange) -> dict[tuple[str, ...], Measured]:
        report = queries.spend(connection, SpendQuery(days, group, plan.filters + line))
        return measured_rows(report.rows, VolumeMeasure.TOKENS)

    explanation = explain_change(measured(previous), measured(period), group)
    words = why_words(explanation, split[0] if split else None)
    if not words or previous.days != 1:
        return words
    return f"Against last {previous.start:%A}: {words}"


def why_words(explanation: Explanation, split: Dimension | None) -> str:
    """The drivers' sentences when the change splits over more than one value of `split`;
    else the line's volume and unit cost ("tokens x3.1, same cost per token"); "" when
    there is nothing to add to the two figures (new, gone, or no volume measure)."""
    if split is not None:
        values = {item.keys[explanation.dimensions.index(split)] for item in explanation.items}
        if len(values) > 1:
            drivers = top_drivers(explanation, limit=DRIVERS, dimension=split)
            return "; ".join(d.sentence for d in drivers)
    return _volume_words(explanation)


def _volume_words(e: Explanation) -> str:
    if e.cost_only_change or not e.volume_before or not e.volume_after:
        return ""
    if not e.before_total or not e.after_total:
        return ""
    volume = float(e.volume_after / e.volume_before)
    unit = float((e.after_total / e.volume_after) / (e.before_total / e.volume_before)) - 1
    cost = "same cost per token" if abs(unit) < UNIT_COST_STEADY else f"cost per token {unit:+.0%}"
    return f"tokens \N{MULTIPLICATION SIGN}{_multiplier(volume)}, {cost}"


def _multiplier(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


# --- the Monday weekly summary ------------------------------------------------------------


def gather_weekly(connection: Connection, plan: DigestPlan, now: datetime) -> WeeklyData:
    """The seven days ending with the report day against the same days four weeks earlier:
    the total, by provider, by team (#eng only) and what moved."""
    day = report_day(now)
    week = DateRange(day - timedelta(days=6), day + timedelta(days=1))
    shift = timedelta(weeks=COMPARED_WEEKS)
    compared = DateRange(week.start - shift, week.end - shift)
    span = DateRange(compared.start, week.end)
    by_provider = provider_days(connection, plan.filters, span)
    total = _summed(by_provider.values())
    teams: list[Trend] = []
    if not plan.teams:
        query = SpendQuery(span, (Dimension.TEAM,), plan.filters)
        by_team = queries.daily_series(connection, query)
        teams = week_trends({k[0]: v for k, v in by_team.items()}, week, compared)
    return WeeklyData(
        scope=plan.scope,
        week=week,
        compared=compared,
        total=_sum_in(total, week),
        total_before=_before(total, compared),
        providers=week_trends(by_provider, week, compared),
        teams=teams,
        movers=movers(connection, plan, week, compared),
        as_of=now,
    )


def week_trends(
    series: Mapping[str, Mapping[date, Decimal]], week: DateRange, compared: DateRange
) -> list[Trend]:
    trends = []
    for name, days in sorted(series.items()):
        now, before = _sum_in(days, week), _before(days, compared)
        if now > 0 or (before or 0) > 0:
            trends.append(Trend(name, now, before))
    return trends


def _before(days: Mapping[date, Decimal], compared: DateRange) -> Decimal | None:
    """The compared period's sum; None when the series has no spend in or before it."""
    if not days or min(days) >= compared.end:
        return None
    return _sum_in(days, compared)


# --- queueing -----------------------------------------------------------------------------


def enqueue_digests(connection: Connection, team_file: TeamFile, now: datetime) -> int:
    """Queue every due digest (a post) and its chart (an upload in its thread), in the
    caller's transaction. Returns how many digests were queued."""
    plans = digests_due(team_file, now, lambda key: bool(queued_keys(connection, [key])))
    outlook = None
    if any(not p.weekly for p in plans):
        outlook = build_outlook(connection, team_file, now)
    count = 0
    for plan in plans:
        message = digest_message(connection, team_file, plan, now, outlook=outlook)
        items = [
            Outgoing(plan.key, "post", plan.channel, message.payload()),
            chart_upload(connection, team_file, plan, now),
        ]
        if enqueue(connection, items, now):
            count += 1
        logger.info("digest queued", extra={"channel": plan.channel, "key": plan.key})
    return count


def digest_message(
    connection: Connection,
    team_file: TeamFile,
    plan: DigestPlan,
    now: datetime,
    *,
    outlook: MonthOutlook | None = None,
) -> Message:
    if plan.weekly:
        return weekly_summary(gather_weekly(connection, plan, now))
    return daily_digest(gather_digest(connection, team_file, plan, now, outlook=outlook))


def chart_upload(
    connection: Connection, team_file: TeamFile, plan: DigestPlan, now: datetime
) -> Outgoing:
    """The last CHART_DAYS days stacked by provider, with the budget's daily pace (the
    monthly budget over the report day's month's days), as an upload in the digest's thread."""
    day = report_day(now)
    window = _chart_window(day)
    days = [window.start + timedelta(days=n) for n in range(window.days)]
    by_provider = provider_days(connection, plan.filters, window)
    amounts = {p: [s.get(d, Decimal(0)) for d in days] for p, s in by_provider.items()}
    budget = monthly_budget(team_file, plan)
    pace = None if budget is None else budget / _days_in_month(day)
    title = f"AI spend, last {CHART_DAYS} days"
    if plan.teams:
        title = f"AI spend of {plan.scope}, last {CHART_DAYS} days"
    png = spend_chart(days, amounts, budget_per_day=pace, title=title)
    slug = re.sub(r"[^a-z0-9]+", "-", plan.scope.lower()).strip("-")
    payload = {
        "content_base64": base64.b64encode(png).decode("ascii"),
        "filename": f"aispend-{slug}-{day.isoformat()}.png",
        "title": title,
    }
    if pace is not None:
        payload["initial_comment"] = (
            f"The dashed line is the monthly budget's daily pace, {format_usd(pace)} a day."
        )
    return Outgoing(plan.chart_key, "upload", plan.channel, payload, thread_key=plan.key)


# --- small helpers ------------------------------------------------------------------------


def _one_day(day: date) -> DateRange:
    return DateRange(day, day + timedelta(days=1))


def _chart_window(day: date) -> DateRange:
    return DateRange(day - timedelta(days=CHART_DAYS - 1), day + timedelta(days=1))


def _summed(series: Iterable[Mapping[date, Decimal]]) -> dict[date, Decimal]:
    total: dict[date, Decimal] = {}
    for days in series:
        for d, cost in days.items():
            total[d] = total.get(d, Decimal(0)) + cost
    return total


def _sum_in(days: Mapping[date, Decimal], period: DateRange) -> Decimal:
    return sum((cost for d, cost in days.items() if period.start <= d < period.end), Decimal(0))


def _days_in_month(day: date) -> int:
    first_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (first_next - day.replace(day=1)).days
