"""Answers to /aispend, as Slack messages. Pure: the app queries, these only draw.

Each answer is ephemeral and ends with a "Share to channel" button whose value is the
`share_key` the app gave (it resolves the key to the answer and posts it again with
`share_key=None`, which drops the button). Errors have no share button: nobody needs them in
the channel.

Tables are a ``` block: right-aligned numbers scan fastest, and the name column is clipped so
a line stays about `LINE_WIDTH` characters, which a phone shows without wrapping. Everything
else is one line per item, which wraps cleanly on any screen.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from bot.analysis.budgets import BudgetAlert, BudgetStatus
from bot.analysis.runway import Runway
from bot.domain import Dimension, Origin, SpendReport, SpendRow
from bot.jobs.outlook import MonthOutlook
from bot.slack import phrases
from bot.slack.blocks import (
    HEADLINE,
    Block,
    Message,
    aligned,
    clip,
    code_safe,
    context,
    escape,
    finish,
    plural,
    preformatted,
    section,
    sections,
    share_button,
    signed_usd,
    slack_date,
    usd,
)
from bot.slack.commands import HELP_TEXT
from bot.store.freshness import SourceState
from bot.store.incidents import IncidentView
from bot.store.queries import Mover

LINE_WIDTH = 46  # characters of a table line
REPORT_ROWS = 15  # table rows before "… N more"
MOVERS = 10
LIST_LINES = 20  # alerts, sources, budgets, forecast scopes
ERROR_TEXT = 500


def report_answer(report: SpendReport, title: str, *, share_key: str | None = None) -> Message:
    """A spend report as a table with a share column and the total; unpriced is "no price"."""
    note = context(f"_{phrases.ORIGIN_NOTE[report.origin]}_")
    if not report.rows:
        blocks = [section(f"*{escape(title)}*\nNo spend recorded for this period."), note]
        return _answer(escape(f"{title}: no spend recorded"), blocks, share_key)
    blocks = [
        section(f"*{escape(title)}* · total *{usd(report.total)}*"),
        note,
        section(preformatted(_report_lines(report))),
    ]
    if report.unpriced_requests:
        blocks.append(
            context(
                f":grey_question: {report.unpriced_requests:,} requests have no known price "
                "and are not in the total (marked * or shown as no price)"
            )
        )
    return _answer(escape(f"{title}: {usd(report.total)} in total"), blocks, share_key)


def _report_lines(report: SpendReport) -> list[str]:
    counted = report.origin is Origin.REPORTED  # cost reports do not count requests
    rows = list(report.rows)
    if len(rows) > REPORT_ROWS:
        rest = rows[REPORT_ROWS - 1 :]
        rows = [*rows[: REPORT_ROWS - 1], _rest_row(rest)]
    cells = [_report_cells(report, row, counted) for row in rows]
    headers = [" · ".join(d.value for d in report.query.group_by) or "total", "cost", "share"]
    if counted:
        headers.append("requests")
    numbers = len(headers) - 1
    widths = [max(len(c[i]) for c in [headers, *cells]) for i in range(1, len(headers))]
    name_width = max(12, LINE_WIDTH - sum(widths) - 2 * numbers)
    clipped = [[clip(c[0], name_width), *c[1:]] for c in cells]
    return [escape(line) for line in aligned([headers, *clipped], numbers)]


def _rest_row(rest: Sequence[SpendRow]) -> SpendRow:
    return SpendRow(
        keys=(f"… {len(rest):,} more",),
        cost=sum((r.cost for r in rest), Decimal(0)),
        requests=sum(r.requests for r in rest),
        unpriced_requests=sum(r.unpriced_requests for r in rest),
    )


def _report_cells(report: SpendReport, row: SpendRow, counted: bool) -> list[str]:
    share = f"{row.cost / report.total:.0%}" if report.total else "-"
    cells = [code_safe(phrases.keys_label(row.keys)), phrases.cost_cell(row), share]
    return [*cells, f"{row.requests:,}"] if counted else cells


def top_answer(
    movers: Sequence[Mover],
    group_by: Sequence[Dimension],
    title: str,
    *,
    why: Mapping[tuple[str, ...], str] | None = None,
    share_key: str | None = None,
) -> Message:
    """What moved most, largest change first, each with its why sentence when there is one."""
    head = section(f"*{escape(title)}*")
    if not movers:
        text = escape(f"{title}: nothing moved")
        return _answer(text, [head, section("Nothing moved.")], share_key)
    dims = " · ".join(d.value for d in group_by)
    lines = [
        phrases.moved_line(
            phrases.keys_label(m.keys), m.before, m.after, (why or {}).get(m.keys, "")
        )
        for m in movers
    ]
    blocks = [head, *sections(lines, most_lines=MOVERS, more=phrases.and_more("movers"))]
    if dims:
        blocks.append(context(f"by {escape(dims)}; before → after"))
    first = movers[0]
    label = clip(phrases.keys_label(first.keys), HEADLINE)
    text = f"{title}: {label} moved most ({signed_usd(first.change)})"
    return _answer(escape(text), blocks, share_key)


def help_answer(suggestion: str | None = None, *, share_key: str | None = None) -> Message:
    """The grammar, led by the closest valid word when the person mistyped one."""
    blocks: list[Block] = []
    text = HELP_TEXT.splitlines()[0]
    if suggestion:
        blocks.append(section(f":mag: Did you mean `{escape(code_safe(suggestion))}`?"))
        text = f'Did you mean "{suggestion}"? {text}'
    blocks.append(section(preformatted([escape(line) for line in HELP_TEXT.splitlines()])))
    return _answer(escape(text), blocks, share_key)


def error_answer(message: str, *, suggestion: str | None = None) -> Message:
    """What went wrong, in the words of the UsageError, and the closest valid word."""
    said = escape(clip(message, ERROR_TEXT))
    blocks = [section(f":warning: {said}")]
    if suggestion and suggestion not in message:
        blocks.append(section(f"Did you mean `{escape(code_safe(suggestion))}`?"))
    blocks.append(context("`/aispend help` shows every word it knows."))
    return Message(said, finish(blocks))


def alerts_answer(
    incidents: Sequence[IncidentView],
    *,
    urls: Mapping[int, str] | None = None,
    unacknowledged: Collection[int] = (),
    share_key: str | None = None,
) -> Message:
    """Open alerts, most projected impact first (the order `open_incidents` returns)."""
    if not incidents:
        blocks = [section(":white_check_mark: No open alerts.")]
        return _answer("No open alerts.", blocks, share_key)
    lines = [
        phrases.incident_line(
            i, url=(urls or {}).get(i.id), unacknowledged=i.id in unacknowledged, width=120
        )
        for i in incidents
    ]
    waiting = sum(1 for i in incidents if i.id in unacknowledged)
    count = plural(len(incidents), "open alert")
    head = f"*{count}*" + (f", {waiting:,} unacknowledged" if waiting else "")
    blocks = [
        section(f"{head} · most projected impact first"),
        *sections(lines, most_lines=LIST_LINES, more=phrases.and_more("alerts")),
    ]
    return _answer(f"{count}: {escape(clip(incidents[0].summary, 150))}", blocks, share_key)


def status_answer(
    sources: Sequence[SourceState],
    runways: Sequence[Runway],
    now: datetime,
    *,
    share_key: str | None = None,
) -> Message:
    """Each source's freshness, failing sources first, then prepaid credit and its runway."""
    if not sources:
        blocks = [section("*Sources*\nNo source has been collected yet.")]
        return _answer("No source has been collected yet.", blocks, share_key)
    ordered = sorted(sources, key=lambda s: (s.consecutive_failures == 0, s.source))
    failing = sum(1 for s in sources if s.consecutive_failures)
    behind = sum(1 for s in sources if not phrases.source_is_fine(s, now)) - failing
    summary = _source_summary(len(sources), failing, behind)
    lines = [phrases.source_line(s, now) for s in ordered]
    blocks = [
        section(f"*Sources* · {summary}"),
        *sections(lines, most_lines=LIST_LINES, more=phrases.and_more("sources")),
    ]
    if runways:
        credit = [phrases.runway_line(r) for r in runways]
        blocks += sections(credit, most_lines=LIST_LINES, title="*Prepaid credit*")
    blocks.append(context(f"as of {slack_date(now)}"))
    return _answer(f"Sources: {summary}", blocks, share_key)


def _source_summary(total: int, failing: int, behind: int) -> str:
    fine = total - failing - behind
    words = [f"{fine:,} fine"]
    if failing:
        words.append(f"{failing:,} failing")
    if behind:
        words.append(f"{behind:,} behind")
    return ", ".join(words)


def forecast_answer(outlook: MonthOutlook, *, share_key: str | None = None) -> Message:
    """Month-end forecasts with their range and budgets, and open spikes both ways."""
    month = f"{outlook.as_of:%B %Y}"
    head = f"*Month-end forecast, {month}* · as of {slack_date(outlook.as_of)}"
    lines = [phrases.forecast_line(s) for s in outlook.scopes]
    blocks = [
        section(head),
        *sections(lines, most_lines=LIST_LINES, more=phrases.and_more("forecasts")),
    ]
    if outlook.spikes:
        spikes = [phrases.spike_line(s) for s in outlook.spikes]
        title = "*Open spikes*: the month if it continues, and if it is fixed today"
        blocks += sections(spikes, most_lines=LIST_LINES, title=title)
    coverage = outlook.scopes[0].forecast.coverage if outlook.scopes else 0.8
    basis = (
        f"calibrated on {outlook.calibration_samples:,} backtest forecasts of this store's "
        "past months"
        if outlook.calibration_samples
        else "the built-in width: too few complete months here to calibrate on"
    )
    blocks.append(context(f"{coverage:.0%} range: {basis}"))
    text = f"Month-end forecast, {month}"
    if outlook.scopes:
        first = outlook.scopes[0]
        spread = phrases.range_words(first.forecast.low, first.forecast.high)
        text += f": {escape(first.scope)} {usd(first.forecast.point)} ({spread})"
    return _answer(text, blocks, share_key)


def budget_answer(budgets: Sequence[BudgetStatus], *, share_key: str | None = None) -> Message:
    """Each budget's month so far, its forecast and the overrun alert."""
    if not budgets:
        words = "No budgets set: add a `[[budgets]]` entry to aispend.toml."
        return _answer("No budgets set.", [section(words)], share_key)
    over = sum(1 for b in budgets if b.alert is not BudgetAlert.NONE)
    head = f"*Budgets this month* · {plural(len(budgets), 'budget')}"
    head += f", {over:,} heading over" if over else ", all on track"
    lines = [phrases.budget_line(b) for b in budgets]
    blocks = [
        section(head),
        *sections(lines, most_lines=LIST_LINES, more=phrases.and_more("budgets")),
    ]
    return _answer(head.replace("*", "").replace(" · ", ": "), blocks, share_key)


def _answer(text: str, blocks: list[Block], share_key: str | None) -> Message:
    """`text` is the fallback, already escaped."""
    if share_key is not None:
        blocks = [*blocks, share_button(share_key)]
    return Message(text, finish(blocks))
