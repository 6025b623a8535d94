"""`aispend subs`, `aispend import csv` and `aispend credits`: the spend no provider API reports
(seats and plans, dashboard exports, prepaid credit bought by hand). Parsers and handlers
live here; bot.cli adds them with one call."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.analysis.subscriptions import Cycle, Subscription, next_renewal, shift
from bot.clock import SystemClock
from bot.config import load_settings
from bot.errors import UsageError
from bot.money import format_usd, parse_amount
from bot.slack.blocks import aligned
from bot.store.db import make_engine, require_current
from bot.store.subscriptions import (
    add_subscription,
    delete_subscription,
    edit_subscription,
    get_subscription,
    list_subscriptions,
)

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]
_DB_HELP = "store to use (default: DATABASE_URL or sqlite:///aispend.db)"


def add_ledger_commands(sub: Sub) -> None:
    _add_subs(sub)


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
    p = sub.add_parser(
        "subs",
        help="the subscription ledger: seats and plans no API reports",
        description="Seats and plans (ChatGPT, Claude, Cursor, Copilot, AI add-ons) that no "
        "provider API reports. Each entry's cost is spread over the days of its cycle and "
        "counted in every total as origin `subscription`. Without an action, lists them.",
    )
    p.set_defaults(handler=subs_list)
    _database(p)
    actions = p.add_subparsers(dest="subs_command", metavar="ACTION")
    listed = actions.add_parser("list", help="every entry with its monthly cost and renewal")
    listed.set_defaults(handler=subs_list)
    listed.add_argument("--all", action="store_true", help="include ended entries")
    _database(listed)

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


def _engine(args: argparse.Namespace) -> Any:
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
