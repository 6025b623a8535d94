"""The daily digest and the Monday weekly summary, one per channel. Pure: the digest job
gathers the figures into `DigestData` / `WeeklyData` (money as Decimal) and these draw them.

Read in ten seconds: one header, the two numbers that matter (yesterday against the usual
for that weekday, the month against its budget with the forecast range), then only what
needs attention (what moved and why, open alerts, stale sources, unpriced usage). Sections
with nothing to say are left out; every list is capped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bot.domain import DateRange
from bot.jobs.outlook import ScopeForecast
from bot.providers import PROVIDERS
from bot.slack import ids, phrases
from bot.slack.blocks import (
    Block,
    Message,
    context,
    day_label,
    escape,
    fields,
    finish,
    header,
    plural,
    section,
    sections,
    slack_date,
    trend,
    usd,
)
from bot.store.freshness import SourceState
from bot.store.incidents import IncidentView
from bot.store.queries import UnpricedModel

MOVERS = 3
ALERTS = 5
PROVIDER_CELLS = 8
TEAM_CELLS = 10

BUCKET_LABEL = {"direct": "Direct APIs", "cloud": "Cloud", "subscription": "Subscriptions"}
PROVIDER_BUCKETS: Mapping[str, str] = {p.id: p.bucket.value for p in PROVIDERS.values()}


@dataclass(frozen=True, slots=True)
class Trend:
    """A figure against the one it is compared with (None: nothing to compare with)."""

    name: str  # a provider id, a team, a bucket
    now: Decimal
    before: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Moved:
    """A line that moved, already described ("model gpt-5 on openai"), with why."""

    what: str
    before: Decimal
    after: Decimal
    why: str = ""  # a driver sentence from bot.analysis.explain


@dataclass(frozen=True, slots=True)
class DigestData:
    """Everything one channel's daily digest shows, already computed."""

    scope: str  # whose spend: "all spend", "team growth"
    day: date  # the day reported: yesterday
    spent: Decimal  # spend on `day`
    usual: Decimal | None  # the usual for that weekday; None with too little history
    month: ScopeForecast | None = None  # month to date, forecast, range and budget
    movers: Sequence[Moved] = ()  # largest change first
    providers: Sequence[Trend] = ()  # `day` by provider against the usual for the weekday
    alerts: Sequence[IncidentView] = ()  # open, most projected impact first
    unacknowledged: frozenset[int] = frozenset()  # ids of alerts nobody acknowledged
    alert_urls: Mapping[int, str] = field(default_factory=dict)  # incident id -> root permalink
    stale: Sequence[SourceState] = ()  # sources failing or behind
    unpriced: Sequence[UnpricedModel] = ()  # models used with no price on `day`
    as_of: datetime | None = None  # data complete up to here


@dataclass(frozen=True, slots=True)
class WeeklyData:
    """The Monday summary: the week against the same week last month."""

    scope: str
    week: DateRange  # Monday to Sunday
    compared: DateRange  # the same week last month
    total: Decimal
    total_before: Decimal | None
    providers: Sequence[Trend] = ()  # the week by provider, against `compared`
    teams: Sequence[Trend] = ()  # the week by team, against `compared`
    movers: Sequence[Moved] = ()  # the lines that moved most, largest change first
    as_of: datetime | None = None


def daily_digest(data: DigestData) -> Message:
    blocks: list[Block] = [header(f"AI spend · {day_label(data.day)}"), section(_headline(data))]
    if data.movers:
        lines = [phrases.moved_line(m.what, m.before, m.after, m.why) for m in data.movers]
        blocks += sections(lines, most_lines=MOVERS + 1, title="*What moved*")
    if data.providers:
        title = f"*By provider* · against a usual {data.day:%A}"
        blocks.append(_trend_fields(title, data.providers, PROVIDER_CELLS, provider=True))
    if data.alerts:
        head, *lines = _alert_lines(data)
        blocks += sections(lines, most_lines=ALERTS + 1, title=head)
    notes = [phrases.source_line(s, data.as_of or _end_of(data.day)) for s in data.stale]
    if data.unpriced:
        notes.append(phrases.unpriced_words(data.unpriced))
    if notes:
        blocks += sections(notes, most_lines=6, title="*Data to check*")
    blocks.append(context(_footer(data.scope, data.as_of)))
    return Message(_digest_text(data), finish(blocks), _digest_metadata(data))


def _headline(data: DigestData) -> str:
    """*Yesterday* $1,234.56 · usual for a Tuesday $980.00 (▲ 26%), then the month."""
    weekday = f"{data.day:%A}"
    if data.spent == 0 and not data.usual:
        day = f"*{day_label(data.day)}*: no spend recorded."
    elif data.usual is None:
        day = f"*{day_label(data.day)}*: *{usd(data.spent)}* (too little history for a usual)"
    else:
        day = (
            f"*{day_label(data.day)}*: *{usd(data.spent)}* against a usual {weekday} "
            f"{usd(data.usual)} ({trend(data.spent, data.usual)})"
        )
    if data.month is None:
        return day
    return f"{day}\n{_month_words(data.month)}"


def _month_words(s: ScopeForecast) -> str:
    f = s.forecast
    words = f"*Month to date*: *{usd(f.mtd)}*"
    if s.budget:
        words += f" of {usd(s.budget)} ({f.mtd / s.budget:.0%})"
    words += (
        f" · forecast *{usd(f.point)}* ({phrases.range_words(f.low, f.high)}, "
        f"{f.coverage:.0%} range)"
    )
    if s.budget is not None:
        icon = ":white_check_mark:" if f.point <= s.budget else ":warning:"
        words += f" · {icon} {s.verdict()}"
    return words


def _alert_lines(data: DigestData) -> list[str]:
    waiting = sum(1 for a in data.alerts if a.id in data.unacknowledged)
    head = f"*{plural(len(data.alerts), 'open alert')}*"
    if waiting:
        head += f", {waiting:,} unacknowledged"
    lines = [
        phrases.incident_line(
            a,
            url=data.alert_urls.get(a.id),
            unacknowledged=a.id in data.unacknowledged,
            width=110,
        )
        for a in data.alerts
    ]
    return [head, *lines]


def _trend_fields(
    title: str, trends: Sequence[Trend], most: int, *, provider: bool = False
) -> Block:
    """A titled section of trend fields, largest first, the rest summed in one cell."""
    ordered = sorted(trends, key=lambda t: (-t.now, t.name))
    cells = [
        phrases.trend_cell(phrases.provider_name(t.name) if provider else t.name, t.now, t.before)
        for t in ordered
    ]
    return fields(cells[:most] + _rest_cell(ordered[most:]), text=title)


def _rest_cell(rest: Sequence[Trend]) -> list[str]:
    if not rest:
        return []
    total = sum((t.now for t in rest), Decimal(0))
    return [f"*{len(rest):,} more*\n{usd(total)}"]


def _footer(scope: str, as_of: datetime | None) -> str:
    words = f"{escape(scope)}"
    if as_of is not None:
        words += f" · data as of {slack_date(as_of)}"
    return words + " · `/aispend help` for more"


def _digest_text(data: DigestData) -> str:
    text = f"AI spend {day_label(data.day)}: {usd(data.spent)}"
    if data.usual is not None:
        text += f" ({trend(data.spent, data.usual)} on a usual {data.day:%A})"
    if data.month is not None:
        text += f"; month to date {usd(data.month.forecast.mtd)}"
    if data.alerts:
        text += f"; {plural(len(data.alerts), 'open alert')}"
    return text


def _digest_metadata(data: DigestData) -> dict[str, object]:
    payload = {"day": data.day.isoformat(), "scope": data.scope}
    return {"event_type": ids.EVENT_DIGEST, "event_payload": payload}


def _end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


# --- the Monday weekly summary ----------------------------------------------------------


def weekly_summary(data: WeeklyData, *, buckets: Mapping[str, str] = PROVIDER_BUCKETS) -> Message:
    """The week against the same week last month, by bucket (direct APIs, cloud,
    subscriptions; `buckets` maps provider id to bucket) and by team, and what moved."""
    week = _span(data.week)
    compared = _span(data.compared)
    head = f"*Week of {week}*: *{usd(data.total)}*"
    if data.total_before is not None:
        change = trend(data.total, data.total_before)
        head += f" against {usd(data.total_before)} in {compared} ({change})"
    blocks: list[Block] = [header(f"Weekly AI spend · {week}"), section(head)]
    by_bucket = _buckets(data.providers, buckets)
    if by_bucket:
        blocks.append(_trend_fields("*By kind of spend*", by_bucket, 6))
    if data.teams:
        blocks.append(_trend_fields("*By team*", data.teams, TEAM_CELLS - 1))
    if data.movers:
        lines = [phrases.moved_line(m.what, m.before, m.after, m.why) for m in data.movers]
        blocks += sections(lines, most_lines=MOVERS + 1, title="*What moved*")
    compared_note = f"against {compared}, the same week last month"
    blocks.append(context(f"{compared_note} · {_footer(data.scope, data.as_of)}"))
    text = f"Weekly AI spend, {week}: {usd(data.total)}"
    if data.total_before is not None:
        text += f" ({trend(data.total, data.total_before)} on the same week last month)"
    payload = {"week": data.week.start.isoformat(), "scope": data.scope}
    metadata = {"event_type": ids.EVENT_WEEKLY, "event_payload": payload}
    return Message(text, finish(blocks), metadata)


def _buckets(providers: Sequence[Trend], buckets: Mapping[str, str]) -> list[Trend]:
    """Provider figures summed per bucket; a provider with no bucket counts as Other. A
    bucket has nothing to compare with only when none of its providers has."""
    now: dict[str, Decimal] = {}
    before: dict[str, Decimal | None] = {}
    for t in providers:
        label = BUCKET_LABEL.get(buckets.get(t.name, ""), "Other")
        now[label] = now.get(label, Decimal(0)) + t.now
        earlier = before.get(label)
        if t.before is not None:
            before[label] = (earlier or Decimal(0)) + t.before
        else:
            before[label] = earlier
    return [Trend(label, now[label], before[label]) for label in now]


def _span(period: DateRange) -> str:
    """9-15 Nov, or 28 Oct-3 Nov across months."""
    last = period.end - timedelta(days=1)
    if period.start.month == last.month:
        return f"{period.start.day}\N{EN DASH}{last.day} {last:%b}"
    return f"{period.start.day} {period.start:%b}\N{EN DASH}{last.day} {last:%b}"
