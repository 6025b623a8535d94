"""Reports as text for people, CSV and JSON for scripts. Pure functions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from bot.analysis.runway import Runway
from bot.domain import Origin, SpendQuery, SpendReport, SpendRow
from bot.jobs.detect import DetectReport
from bot.jobs.outlook import MonthOutlook
from bot.money import format_usd
from bot.pricing import RATE_PER_MTOK, Rates
from bot.store.coding_tools import DeveloperTotal
from bot.store.freshness import SourceState
from bot.store.incidents import IncidentView
from bot.store.queries import Mover, UnpricedModel

_ORIGIN_NOTE = {
    None: "billed cost where providers have reported it, else estimates and app events; "
    "plus subscriptions",
    Origin.BILLED: "billed cost",
    Origin.ESTIMATED: "estimated from provider token usage",
    Origin.REPORTED: "from request events your apps reported",
    Origin.SUBSCRIPTION: "seats and plans from the subscription ledger",
}


def report_table(report: SpendReport, title: str) -> str:
    """An aligned text table with a share column and a total line."""
    headers = [d.value for d in report.query.group_by] or ["total"]
    counted = report.origin is Origin.REPORTED  # cost reports do not count requests
    body = [_cells(report, row)[: None if counted else -1] for row in report.rows]
    lines = [f"{title}  ({_ORIGIN_NOTE[report.origin]})", ""]
    if not body:
        return "\n".join([*lines, "No spend recorded for this period."])
    columns = ["cost", "share", "requests"] if counted else ["cost", "share"]
    lines += _aligned([[*headers, *columns], *body], numbers=len(columns))
    lines += ["", f"Total {format_usd(report.total)}"]
    if report.unpriced_requests:
        lines.append(
            f"* {report.unpriced_requests:,} requests have no known price and are not in the"
            " total (see `aispend prices unpriced`)"
        )
    return "\n".join(lines)


def _cells(report: SpendReport, row: SpendRow) -> list[str]:
    share = f"{row.cost / report.total:.0%}" if report.total else "-"
    keys = [k or "(none)" for k in row.keys] or ["all"]
    return [*keys, _cost_cell(row), share, f"{row.requests:,}"]


def _cost_cell(row: SpendRow) -> str:
    """Unpriced usage is never shown as $0: "no price", or the priced part marked with *."""
    if not row.unpriced_requests:
        return format_usd(row.cost)
    return "no price" if row.cost == 0 else f"{format_usd(row.cost)}*"


def _aligned(rows: list[list[str]], numbers: int = 3) -> list[str]:
    """Left-aligned names, then `numbers` right-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = set(range(len(widths) - numbers, len(widths)))
    out = []
    for row in rows:
        cells = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def report_csv(report: SpendReport) -> str:
    """Exact decimal costs, one row per group, for spreadsheets and scripts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    headers = [d.value for d in report.query.group_by]
    writer.writerow(
        [*headers, "cost_usd", "requests", "tokens_in", "tokens_out", "unpriced_requests"]
    )
    for row in report.rows:
        writer.writerow(
            [
                *row.keys,
                str(row.cost),
                row.requests,
                row.tokens_in,
                row.tokens_out,
                row.unpriced_requests,
            ]
        )
    return buffer.getvalue()


def report_json(report: SpendReport, title: str) -> str:
    """Costs as decimal strings, never floats."""
    period = report.query.period
    payload = {
        "title": title,
        "start": period.start.isoformat(),
        "end_exclusive": period.end.isoformat(),
        "origin": report.origin.value if report.origin else "best",
        "group_by": [d.value for d in report.query.group_by],
        "total_usd": str(report.total),
        "unpriced_requests": report.unpriced_requests,
        "rows": [
            {
                "keys": list(row.keys),
                "cost_usd": str(row.cost),
                "requests": row.requests,
                "tokens_in": row.tokens_in,
                "tokens_out": row.tokens_out,
                "unpriced_requests": row.unpriced_requests,
            }
            for row in report.rows
        ],
    }
    return json.dumps(payload, indent=2)


def movers_table(movers: Sequence[Mover], query: SpendQuery, title: str) -> str:
    """The largest changes first, with before, after and the change."""
    if not movers:
        return f"{title}\n\nNothing moved."
    headers = [d.value for d in query.group_by]
    rows = [[*headers, "before", "after", "change"]]
    for m in movers:
        sign = "+" if m.change > 0 else "-"
        rows.append(
            [
                *(k or "(none)" for k in m.keys),
                format_usd(m.before),
                format_usd(m.after),
                f"{sign}{format_usd(abs(m.change))}",
            ]
        )
    return "\n".join([title, "", *_aligned(rows)])


def unpriced_table(models: Sequence[UnpricedModel], period_label: str) -> str:
    """Models with usage and no price; their requests are never counted as $0."""
    if not models:
        return f"Every model used in {period_label} has a price."
    rows = [["provider", "model", "requests", "tokens in", "tokens out"]]
    rows += [
        [m.provider, m.model, f"{m.requests:,}", f"{m.tokens_in:,}", f"{m.tokens_out:,}"]
        for m in models
    ]
    hint = (
        "Add a price in aispend.toml, e.g.\n  [[prices.overrides]]\n"
        f'  provider = "{models[0].provider}"\n  model = "{models[0].model}"\n'
        '  input_mtok = "0.50"\n  output_mtok = "1.50"'
    )
    return "\n".join([f"Usage with no known price, {period_label}:", "", *_aligned(rows), "", hint])


def rates_text(provider: str, model: str, day: date, rates: Rates | None) -> str:
    """The per-million-token prices aispend applies for one model on one day."""
    if rates is None:
        return f"No price known for {provider} {model} on {day}: its usage is stored as unpriced."
    lines = [f"{provider} {model} on {day} ({rates.version}), USD per million tokens:"]
    named = {"input": rates.input, "output": rates.output}
    named |= {"cache read": rates.cache_read, "cache write": rates.cache_write}
    for name, rate in named.items():
        tiers = "".join(f", {per_mtok(r)} above {start:,} input tokens" for start, r in rate.tiers)
        lines.append(f"  {name:<12}{per_mtok(rate.base)}{tiers}")
    return "\n".join(lines)


def per_mtok(rate_units: int) -> str:
    return f"${(Decimal(rate_units) / RATE_PER_MTOK).normalize():f}"


def status_table(states: Sequence[SourceState], now: datetime) -> str:
    """Each source's freshness and last error, failing sources first."""
    if not states:
        return "No source has been collected yet (run `aispend collect`)."
    rows = [["source", "state", "last success", "data through", "last error"]]
    for s in sorted(states, key=lambda s: (s.consecutive_failures == 0, s.source)):
        state = "ok" if not s.consecutive_failures else f"failing x{s.consecutive_failures}"
        rows.append(
            [
                s.source,
                state,
                _ago(s.last_success, now),
                _moment(s.complete_through),
                _short(s.last_error),
            ]
        )
    return "\n".join(_left_aligned(rows))


def developers_table(totals: Sequence[DeveloperTotal], title: str) -> str:
    """Per-developer coding tool use, costliest first, with a total line."""
    if not totals:
        return f"{title}\n\nNo Claude Code use recorded (collect with ANTHROPIC_ADMIN_KEY set)."
    rows = [["developer", "est. cost", "tokens", "sessions", "lines added", "PRs"]]
    rows += [
        [
            t.actor or "(unknown)",
            format_usd(t.estimated_cost),
            f"{t.tokens:,}",
            f"{t.sessions:,}",
            f"{t.lines_added:,}",
            f"{t.pull_requests:,}",
        ]
        for t in totals
    ]
    total = sum((t.estimated_cost for t in totals), Decimal(0))
    note = "estimated by Anthropic; already part of the API bill or a seat, not added to totals"
    return "\n".join(
        [title, "", *_aligned(rows, numbers=5), "", f"Total {format_usd(total)} ({note})"]
    )


_SAID = {"open": "opened", "escalate": "escalated", "resolve": "resolved"}


def detect_text(report: DetectReport) -> str:
    """What a detection run opened, escalated and resolved, with why; updates are counted."""
    scored = ", ".join(f"{n} {cadence}" for cadence, n in report.series.items())
    head = f"Detection at {_moment(report.now)}: {scored} series scored."
    if not report.written:
        head += " Dry run: nothing recorded."
    said = [c for c in report.changes if c.action in _SAID]
    lines = [head, ""]
    for change in sorted(said, key=lambda c: (list(_SAID).index(c.action), c.summary)):
        where = f" {change.cadence}" if change.cadence else ""
        lines.append(f"{_SAID[change.action]:<9} {change.severity:<8}{where} {change.summary}")
        if change.why and change.action != "resolve":
            lines.append(f"          why: {change.why}")
    if not said:
        lines.append("Nothing new to open, escalate or resolve.")
    updates = len(report.changes) - len(said)
    notes = []
    if updates:
        notes.append(f"{updates} updates to open incidents")
    if report.folded:
        notes.append(f"{report.folded} alerts folded into their root cause")
    if notes:
        lines += ["", "(" + "; ".join(notes) + ")"]
    return "\n".join(lines)


def incidents_table(incidents: Sequence[IncidentView]) -> str:
    """Open incidents, most projected impact first."""
    if not incidents:
        return "No open alerts."
    rows = [["id", "severity", "kind", "since", "what"]]
    rows += [
        [
            str(i.id),
            i.severity,
            i.kind,
            i.opened_at.strftime("%Y-%m-%d %H:%M"),
            _short(i.summary, 110) + (f" [{i.feedback}]" if i.feedback else ""),
        ]
        for i in incidents
    ]
    return "\n".join(_left_aligned(rows))


def caught_table(incidents: Sequence[IncidentView]) -> str:
    """What the detector raised over a period, open or resolved, oldest first."""
    if not incidents:
        return "The detector raised nothing."
    rows = [["opened", "status", "severity", "what"]]
    rows += [
        [i.opened_at.strftime("%Y-%m-%d %H:%M"), i.status, i.severity, _short(i.summary, 120)]
        for i in incidents
    ]
    return "\n".join(["What the detector raised", "", *_left_aligned(rows)])


def outlook_text(outlook: MonthOutlook) -> str:
    """Month-end forecasts with their range, budgets, and open spikes both ways."""
    month = outlook.as_of.strftime("%B %Y")
    rows = [["scope", "so far", "month end", "80% range", "per day", "budget", "outlook"]]
    for s in outlook.scopes:
        f = s.forecast
        rows.append(
            [
                s.scope,
                format_usd(f.mtd),
                format_usd(f.point),
                f"{format_usd(f.low)}-{format_usd(f.high)}",
                format_usd(f.run_rate),
                "-" if s.budget is None else format_usd(s.budget),
                s.verdict(),
            ]
        )
    lines = [f"Month-end forecast, {month} (as of {_moment(outlook.as_of)})", ""]
    lines += _left_aligned(rows)
    basis = (
        f"calibrated on {outlook.calibration_samples:,} backtest forecasts of this store's "
        "past months"
        if outlook.calibration_samples
        else "the built-in width: too few complete months here to calibrate on"
    )
    lines += ["", f"80% range: {basis}"]
    if outlook.spikes:
        lines += ["", "Open spikes: the month if it continues, and if it is fixed today"]
        lines += [
            f"  #{s.incident_id} {s.what}: {format_usd(s.outlook.if_it_continues)} if it "
            f"continues, {format_usd(s.outlook.if_fixed_today)} if fixed today"
            for s in outlook.spikes
        ]
    return "\n".join(lines)


def runway_table(runways: Sequence[Runway]) -> str:
    """Each prepaid balance, the recent daily spend against it, and how long it lasts."""
    if not runways:
        return ""
    rows = [["prepaid credit", "balance", "spend/day (7d)", "runway"]]
    for r in runways:
        b = r.balance
        amount = format_usd(b.balance) if r.comparable else f"{b.balance:,.2f} {b.currency}"
        rows.append([b.source, amount, format_usd(r.daily_spend), _runway_words(r)])
    return "\n".join(_left_aligned(rows))


def _runway_words(r: Runway) -> str:
    if not r.comparable:
        return f"unknown (balance in {r.balance.currency}, spend in USD)"
    if r.days is None:
        return "no recent spend"
    return f"{r.days} days (until {r.runs_out})"


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h ago" if minutes < 48 * 60 else f"{minutes // 1440} days ago"


def _moment(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _left_aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
