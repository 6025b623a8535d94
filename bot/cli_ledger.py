"""`aispend subs`, `aispend import csv` and `aispend credits`: the spend no provider API reports
(seats and plans, dashboard exports, prepaid credit bought by hand). Parsers and handlers
live here; bot.cli adds them with one call."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from bot import render
from bot.analysis.runway import Purchase
from bot.analysis.subscriptions import Cycle, Subscription, next_renewal, shift
from bot.answers import runways
from bot.cli_commands import _BadLinePrinter as BadLinePrinter  # FILE:LINE: reason
from bot.clock import SystemClock
from bot.config import load_settings, load_team_file
from bot.errors import UsageError
from bot.ingest.imports import ImportResult, read_import, source_name
from bot.money import format_usd, parse_amount
from bot.providers import PROVIDERS, resolve_provider
from bot.slack.blocks import aligned
from bot.store.cost_lines import store_file_lines
from bot.store.db import make_engine, require_current
from bot.store.purchases import list_purchases, record_purchase
from bot.store.subscriptions import (
    add_subscription,
    delete_subscription,
    edit_subscription,
    get_subscription,
    list_subscriptions,
    seed_subscriptions,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]
    Handler = Callable[[argparse.Namespace], int]
_DB_HELP = "store to use (default: DATABASE_URL or sqlite:///aispend.db)"


def add_ledger_commands(sub: Sub) -> None:
    _add_subs(sub)
    _add_credits(sub)


def _listing_command(
    sub: Sub, name: str, handler: Handler, help_text: str, description: str, list_help: str
) -> tuple[Sub, argparse.ArgumentParser]:
    """A command that lists without an action and has actions: its actions and `list`."""
    p = sub.add_parser(name, help=help_text, description=description)
    p.set_defaults(handler=handler)
    _database(p)
    actions = p.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    listed = actions.add_parser("list", help=list_help)
    listed.set_defaults(handler=handler)
    _database(listed)
    return actions, listed


def _database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", metavar="URL", help=_DB_HELP)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _amount(text: str) -> Decimal:
    try:
        amount = parse_amount(text.replace(",", "").removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an amount in USD, got {text!r}") from None
    if amount < 0:
        raise argparse.ArgumentTypeError(f"expected an amount >= 0, got {text!r}")
    return amount


# --- aispend subs --------------------------------------------------------------------------


def _add_subs(sub: Sub) -> None:
    actions, listed = _listing_command(
        sub,
        "subs",
        subs_list,
        "the subscription ledger: seats and plans no API reports",
        "Seats and plans (ChatGPT, Claude, Cursor, Copilot, AI add-ons) that no provider API "
        "reports. Each entry's cost is spread over the days of its cycle and counted in every "
        "total as origin `subscription`. Without an action, lists them.",
        "every entry with its monthly cost and renewal",
    )
    listed.add_argument("--all", action="store_true", help="include ended entries")

    add = actions.add_parser("add", help="add an entry")
    add.set_defaults(handler=subs_add)
    add.add_argument("vendor", help='who bills it, e.g. "Cursor" or "OpenAI"')
    add.add_argument("plan", help='e.g. "Business" or "ChatGPT Team"')
    _entry_options(add, required=True)
    _database(add)

    edit = actions.add_parser("edit", help="change an entry (its spend is counted again)")
    edit.set_defaults(handler=subs_edit)
    edit.add_argument("id", type=int)
    edit.add_argument("--vendor")
    edit.add_argument("--plan")
    _entry_options(edit, required=False)
    edit.add_argument("--ends", type=_day, metavar="DATE", help="the first day no longer counted")
    _database(edit)

    seed = actions.add_parser(
        "seed", help="add the [[subscriptions]] of aispend.toml the ledger does not hold yet"
    )
    seed.set_defaults(handler=subs_seed)
    _database(seed)

    review = actions.add_parser("review", help="record that someone reviewed an entry")
    review.set_defaults(handler=subs_review)
    review.add_argument("id", type=int)
    review.add_argument("--on", type=_day, metavar="DATE", help="default today")
    _database(review)

    remove = actions.add_parser(
        "remove",
        help="cancel an entry: counted until its next renewal (it is paid through then)",
    )
    remove.set_defaults(handler=subs_remove)
    remove.add_argument("id", type=int)
    remove.add_argument("--on", type=_day, metavar="DATE", help="stop counting on this day")
    remove.add_argument(
        "--delete", action="store_true", help="erase it and its past spend (entered by mistake)"
    )
    _database(remove)


def _entry_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--cost", type=_amount, required=required, help="USD a cycle, all seats")
    p.add_argument("--cycle", choices=[c.value for c in Cycle], default=None)
    p.add_argument("--renews", type=_day, required=required, metavar="DATE", help="next renewal")
    p.add_argument("--seats", type=int)
    p.add_argument("--owner", help="who answers for it (a Slack user id can be mentioned)")
    p.add_argument("--team")
    p.add_argument("--purpose")
    p.add_argument(
        "--started", type=_day, metavar="DATE", help="first day counted (default: cycle start)"
    )


def _today() -> date:
    return SystemClock().now().date()


def _engine(args: argparse.Namespace) -> Engine:
    engine = make_engine(args.database or load_settings().database_url)
    require_current(engine)
    return engine


def subs_list(args: argparse.Namespace) -> int:
    with _engine(args).connect() as connection:
        subs = list_subscriptions(connection)
    print(subs_table(subs, _today(), everything=getattr(args, "all", False)))
    return 0


def subs_table(subs: list[Subscription], today: date, *, everything: bool = False) -> str:
    """The ledger as a text table: monthly equivalent, next renewal, owner, days since review."""
    shown = [s for s in subs if everything or s.ends_on is None or s.ends_on > today]
    if not shown:
        return "No subscriptions: add one with `aispend subs add VENDOR PLAN --cost C --renews D`"
    rows = [["id", "vendor · plan", "seats", "cost", "a month", "renews", "owner", "reviewed"]]
    for s in shown:
        renewal = next_renewal(s, today)
        rows.append(
            [
                str(s.id),
                f"{s.vendor} · {s.plan}" + (f" ({s.team})" if s.team else ""),
                f"{s.seats:,}",
                f"{format_usd(s.cost)}/{'mo' if s.cycle is Cycle.MONTHLY else 'yr'}",
                format_usd(s.monthly),
                renewal.isoformat() if renewal else f"ends {s.ends_on}",
                s.owner or "-",
                f"{(today - s.reviewed_on).days}d ago",
            ]
        )
    running = [s for s in shown if s.ends_on is None or s.ends_on > today]
    total = sum((s.monthly for s in running), Decimal(0))
    lines = aligned(rows, 0)
    return "\n".join([*lines, "", f"{len(running):,} running, {format_usd(total)} a month"])


def subs_add(args: argparse.Namespace) -> int:
    now = SystemClock().now()
    cycle = Cycle(args.cycle or Cycle.MONTHLY.value)
    entry = Subscription(
        vendor=args.vendor,
        plan=args.plan,
        cost=args.cost,
        cycle=cycle,
        renews_on=args.renews,
        started_on=args.started or shift(args.renews, cycle, -1),
        reviewed_on=now.date(),
        seats=args.seats if args.seats is not None else 1,
        owner=args.owner or "",
        team=args.team or "",
        purpose=args.purpose or "",
    )
    with _engine(args).begin() as connection:
        added = add_subscription(connection, entry, now)
    print(f"added subscription {added.id}: {_describe(added)}")
    return 0


_FIELDS = {
    "vendor": "vendor",
    "plan": "plan",
    "cost": "cost",
    "renews": "renews_on",
    "seats": "seats",
    "owner": "owner",
    "team": "team",
    "purpose": "purpose",
    "started": "started_on",
    "ends": "ends_on",
}


def subs_edit(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {
        field: getattr(args, name)
        for name, field in _FIELDS.items()
        if getattr(args, name, None) is not None
    }
    if args.cycle:
        changes["cycle"] = Cycle(args.cycle)
    if not changes:
        raise UsageError("nothing to change: give at least one option (see --help)")
    with _engine(args).begin() as connection:
        edited = edit_subscription(connection, args.id, changes, SystemClock().now())
    print(f"changed subscription {args.id}: {_describe(edited)}")
    return 0


def subs_seed(args: argparse.Namespace) -> int:
    team_file = load_team_file(load_settings().aispend_config)
    with _engine(args).begin() as connection:
        added = seed_subscriptions(connection, team_file.subscriptions, SystemClock().now())
    for entry in added:
        print(f"added subscription {entry.id}: {_describe(entry)}")
    held = len(team_file.subscriptions) - len(added)
    print(f"{len(added):,} added, {held:,} already in the ledger (changed there, not here)")
    return 0


def subs_review(args: argparse.Namespace) -> int:
    now = SystemClock().now()
    on = args.on or now.date()
    with _engine(args).begin() as connection:
        edit_subscription(connection, args.id, {"reviewed_on": on}, now)
    print(f"subscription {args.id} reviewed on {on}")
    return 0


def subs_remove(args: argparse.Namespace) -> int:
    now = SystemClock().now()
    with _engine(args).begin() as connection:
        if args.delete:
            gone = delete_subscription(connection, args.id, now.date())
            print(f"deleted subscription {args.id} ({gone.vendor} · {gone.plan}) and its spend")
            return 0
        current = get_subscription(connection, args.id)
        end = args.on or next_renewal(current, now.date()) or current.ends_on
        ended = edit_subscription(connection, args.id, {"ends_on": end}, now)
    print(f"subscription {args.id} ({ended.vendor} · {ended.plan}) counted until {end}")
    return 0


def _describe(s: Subscription) -> str:
    seats = f", {s.seats:,} seats" if s.seats != 1 else ""
    return (
        f"{s.vendor} · {s.plan}{seats}, {format_usd(s.cost)} {s.cycle.value} "
        f"({format_usd(s.monthly)} a month), renews {s.renews_on}, counted from {s.started_on}"
    )


# --- aispend import csv ----------------------------------------------------------------------

PREVIEW_LINES = 10


def add_csv_import(kinds: Sub) -> None:
    """`aispend import csv`, one kind of the `import` command."""
    csv_p = kinds.add_parser(
        "csv",
        help="a CSV export, read with the [[imports]] mapping named SOURCE",
        description="Read FILE with the [[imports]] entry whose source is SOURCE and store "
        "one line per day and model (and project, key) as billed cost (estimated from list "
        "prices when the file has only tokens). Importing a file again changes nothing; a "
        "later export of the same days replaces them. Every bad row is reported as "
        "FILE:LINE: reason and the good rows are stored; exit status 1 when a row was bad.",
    )
    csv_p.set_defaults(handler=import_csv)
    csv_p.add_argument("source", help="the mapping's source, e.g. mistral")
    csv_p.add_argument("file", help="the CSV file")
    csv_p.add_argument(
        "--preview", action="store_true", help="show what would be stored; write nothing"
    )
    _database(csv_p)


def import_csv(args: argparse.Namespace) -> int:
    settings = load_settings()
    team_file = load_team_file(settings.aispend_config)
    config = next((i for i in team_file.imports if i.source == args.source), None)
    if config is None:
        known = ", ".join(i.source for i in team_file.imports) or "none"
        raise UsageError(
            f"no [[imports]] mapping with source {args.source!r} in "
            f"{settings.aispend_config} (known: {known})"
        )
    shown = BadLinePrinter(args.file)
    try:
        with open(args.file, "rb") as stream:
            result = read_import(stream, config, shown)
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror}") from e
    shown.finish()
    if args.preview:
        print(import_preview(result, args.file))
        return 1 if result.bad else 0
    engine = make_engine(args.database or settings.database_url)
    require_current(engine)
    stored = store_file_lines(engine, result.lines, team_file, SystemClock().now())
    cost = sum((line.cost or Decimal(0) for line in result.lines), Decimal(0))
    print(
        f"stored {stored:,} daily lines from {result.rows - len(result.bad):,} rows "
        f"({format_usd(cost)}) as {source_name(config)}"
        + (f", {len(result.bad):,} bad rows (not stored)" if result.bad else "")
    )
    return 1 if result.bad else 0


def import_preview(result: ImportResult, name: str) -> str:
    """The first lines as they would be stored, and what the whole file holds."""
    header = ["day", "provider", "model", "project", "key", "tokens in", "tokens out", "cost"]
    rows = [header] + [
        [
            line.bucket_start.date().isoformat(),
            line.provider,
            line.model or "-",
            line.project or "-",
            line.api_key or "-",
            f"{line.tokens_in:,}",
            f"{line.tokens_out:,}",
            "list price" if line.cost is None else format_usd(line.cost),
        ]
        for line in result.lines[:PREVIEW_LINES]
    ]
    days = sorted({line.bucket_start.date() for line in result.lines})
    cost = sum((line.cost or Decimal(0) for line in result.lines), Decimal(0))
    summary = (
        f"preview of {name}: {result.rows:,} rows, {len(result.bad):,} bad; "
        f"{len(result.lines):,} daily lines"
        + (f" over {days[0]}..{days[-1]}" if days else "")
        + f", {format_usd(cost)} billed. Nothing was written."
    )
    table = aligned(rows, 3) if result.lines else []
    more = len(result.lines) - PREVIEW_LINES
    tail = [f"... and {more:,} more lines"] if more > 0 else []
    return "\n".join([*table, *tail, summary])


# --- aispend credits -------------------------------------------------------------------------


def _add_credits(sub: Sub) -> None:
    actions, _ = _listing_command(
        sub,
        "credits",
        credits_list,
        "prepaid credit: purchases, balances and runway",
        "Prepaid credit, kept apart from spend: purchases recorded by hand, the balances "
        "providers report (OpenRouter, DeepSeek), and for the others what was bought less "
        "what was spent since, each with its runway in days at the last week's spend. "
        "Without an action, lists them.",
        "purchases, balances and runway",
    )
    add = actions.add_parser("add", help="record prepaid credit bought")
    add.set_defaults(handler=credits_add)
    add.add_argument("provider", help="e.g. together, fireworks, anthropic")
    add.add_argument("amount", type=_amount, help="USD bought")
    add.add_argument("--on", type=_day, metavar="DATE", help="the day bought (default today)")
    add.add_argument("--note", default="", help="an invoice number, who bought it, ...")
    _database(add)


def credits_add(args: argparse.Namespace) -> int:
    provider = resolve_provider(args.provider)
    if provider is None:
        raise UsageError(f"unknown provider {args.provider!r} (known: {', '.join(PROVIDERS)})")
    now = SystemClock().now()
    purchase = Purchase(provider, args.on or now.date(), args.amount, note=args.note)
    with _engine(args).begin() as connection:
        stored = record_purchase(connection, purchase, now)
    print(
        f"recorded purchase {stored.id}: {format_usd(stored.amount)} of {provider} credit "
        f"on {stored.bought_on}"
    )
    return 0


def credits_list(args: argparse.Namespace) -> int:
    today = _today()
    with _engine(args).connect() as connection:
        purchases = list_purchases(connection)
        found = runways(connection, today)
    if not purchases and not found:
        print("No prepaid credit: record a purchase with `aispend credits add PROVIDER AMOUNT`")
        return 0
    if purchases:
        rows = [["id", "provider", "bought on", "amount", "note"]]
        rows += [
            [str(p.id), p.provider, p.bought_on.isoformat(), format_usd(p.amount), p.note]
            for p in purchases
        ]
        print("\n".join(aligned(rows, 0)))
    if found:
        print(("\n" if purchases else "") + render.runway_table(found))
    return 0
