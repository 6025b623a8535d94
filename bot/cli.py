"""The `aispend` command. Parses argv, builds what a subcommand needs, and prints answers.

Known errors print one clear line (or a few) and exit 2 for bad input, 1 for everything else;
only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from bot import cli_commands as commands
from bot.cli_ledger import add_csv_import, add_ledger_commands
from bot.errors import AispendError, ConfigError, InputError, UsageError

Handler = Callable[[argparse.Namespace], int]

EPILOG = "Run `aispend COMMAND --help` for the options of each command."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aispend",
        description="Know what your company spends on AI: store, price, report.",
        epilog=EPILOG,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_ingest(sub)
    _add_report(sub)
    _add_export(sub)
    _add_db(sub)
    _add_prices(sub)
    _add_status(sub)
    _add_claude_code(sub)
    _add_detect(sub)
    _add_forecast(sub)
    _add_alerts(sub)
    _add_collect(sub)
    _add_credentials(sub)
    _add_keys(sub)
    add_ledger_commands(sub)
    _add_import(sub)
    _add_run(sub)
    return parser


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help_text: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=description or help_text)
    parser.set_defaults(handler=handler)
    return parser


def _add_database_option(parser: argparse.ArgumentParser, default_note: str) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help=f"store to use, e.g. sqlite:///aispend.db or postgresql://... ({default_note})",
    )


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "demo",
        commands.demo,
        "load weeks of realistic synthetic activity and show what the team spent",
        "Build a fresh demo store from seeded synthetic activity (cost reports, request "
        "events, a restatement, same-day estimates) and print spend by provider, model, "
        "feature and team. Needs no accounts and no network.",
    )
    _add_database_option(p, "default: sqlite:///aispend-demo.db, replaced on each run")
    p.add_argument("--days", type=int, default=42, help="days of activity (default 42)")
    p.add_argument("--events-per-day", type=int, default=4000, help="weekday requests at start")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")


def _add_ingest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "ingest",
        commands.ingest,
        "store request-level events from JSON lines, CSV or OTLP/JSON",
        "Store request events, priced at their timestamp. Every bad line is reported with "
        "its number and reason and every good line is stored; a request_id already stored "
        "is skipped, so running the same file twice changes nothing. Exit status 1 when "
        "some lines were bad.",
    )
    p.add_argument("file", help="the file to read, or - for standard input")
    p.add_argument(
        "--format",
        choices=["auto", "jsonl", "csv", "otlp"],
        default="auto",
        help="input format (default: from the file name and its first line)",
    )
    p.add_argument("--source", default="events", help="dedupe scope for request ids")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "report",
        commands.report,
        'spend for a period, e.g. aispend report "week by provider"',
        "Answer a spend question in the /aispend grammar. Examples: "
        '"week by provider", "last month by team", "30d by model provider:openai", '
        '"top week by feature", "2026-11-01..2026-11-15 by customer team:growth".',
    )
    p.add_argument("words", nargs="*", help="the question (run `aispend report help`)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "export",
        commands.export,
        "a period's spend as CSV by team or cost center, or in the FinOps FOCUS layout",
        "Write a period's spend (default: last month) as CSV with exact costs: one row per "
        "team (or cost center, from aispend.toml) and provider and model, or with --focus one "
        "row per day, provider, model, project and team in FOCUS columns for finance tools.",
    )
    p.add_argument("words", nargs="*", metavar="PERIOD", help="e.g. 2026-10 (default last month)")
    p.add_argument("--by", choices=["team", "cost-center"], default="team")
    p.add_argument("--focus", action="store_true", help="FinOps FOCUS columns")
    p.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_db(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="create or migrate the store", description="Manage the store.")
    db_sub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = _command(db_sub, "upgrade", commands.db_upgrade, "apply every pending migration")
    _add_database_option(up, "default: DATABASE_URL or sqlite:///aispend.db")
    cur = _command(db_sub, "current", commands.db_current, "show the store's revision")
    _add_database_option(cur, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_prices(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("prices", help="list unpriced models or look up a price")
    prices_sub = p.add_subparsers(dest="prices_command", metavar="ACTION", required=True)
    unpriced = _command(
        prices_sub,
        "unpriced",
        commands.prices_unpriced,
        "models seen with usage but no known price",
        "List models that have usage but no price (neither genai-prices nor an override in "
        "aispend.toml). Their requests are counted but never priced at $0.",
    )
    unpriced.add_argument("words", nargs="*", help="a period (default 30d)")
    _add_database_option(unpriced, "default: DATABASE_URL or sqlite:///aispend.db")
    lookup = _command(
        prices_sub, "lookup", commands.prices_lookup, "show the price aispend uses for a model"
    )
    lookup.add_argument("provider")
    lookup.add_argument("model")
    lookup.add_argument("--date", help="YYYY-MM-DD (default today)")
    lookup.add_argument("--tier", default="", help="service tier, e.g. flex or priority")
    lookup.add_argument("--batch", action="store_true", help="batch pricing")


def _add_collect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "collect",
        commands.collect,
        "pull billed cost and usage from the configured providers",
        "Pull a window from every provider with an admin key set (OPENAI_ADMIN_KEY, "
        "ANTHROPIC_ADMIN_KEY) and store it; a window pulled again replaces what it held, so "
        "restated days are exact. One provider failing never stops the others; each run is "
        "recorded for `aispend status`. Exit status 1 when a provider failed.",
    )
    p.add_argument("--provider", help="only this provider (default: every configured one)")
    p.add_argument("--since", default="3d", help="how far back, e.g. 3d (default) or 90d")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_credentials(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "credentials",
        help="store provider keys encrypted (AISPEND_SECRET_KEY)",
        description="Keep provider admin keys in the store, encrypted with the Fernet key in "
        "AISPEND_SECRET_KEY. A key set in the environment always wins.",
    )
    actions = p.add_subparsers(dest="credentials_command", metavar="ACTION", required=True)
    put = _command(
        actions,
        "set",
        commands.credentials_set,
        "store a provider's key, read from standard input or a prompt",
    )
    put.add_argument("provider", help="openai or anthropic")
    _add_database_option(put, "default: DATABASE_URL or sqlite:///aispend.db")
    listed = _command(actions, "list", commands.credentials_list, "which providers have a key")
    _add_database_option(listed, "default: DATABASE_URL or sqlite:///aispend.db")
    gone = _command(actions, "delete", commands.credentials_delete, "forget a provider's key")
    gone.add_argument("provider")
    _add_database_option(gone, "default: DATABASE_URL or sqlite:///aispend.db")
    _command(actions, "new-key", commands.credentials_new_key, "print a new AISPEND_SECRET_KEY")


def _add_keys(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "keys",
        help="pause or resume a provider api key (what an alert's Pause key does)",
        description="Switch an api key off or back on at its provider, where its admin API "
        "can (Anthropic), and list the keys aispend has paused.",
    )
    actions = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    listed = _command(actions, "list", commands.keys_list, "keys aispend has paused")
    _add_database_option(listed, "default: DATABASE_URL or sqlite:///aispend.db")
    for name, handler, words in (
        ("pause", commands.keys_pause, "switch a key off: requests with it fail"),
        ("resume", commands.keys_resume, "switch a paused key back on"),
    ):
        action = _command(actions, name, handler, words)
        action.add_argument("provider", help="anthropic")
        action.add_argument("api_key", metavar="KEY_ID", help="the key's id, e.g. apikey_01...")
        _add_database_option(action, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "status",
        commands.status,
        "each source's freshness, last error and what is missing",
    )
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_claude_code(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "claude-code",
        commands.claude_code,
        "Claude Code use per developer: estimated cost, tokens, sessions, lines, PRs",
        "Claude Code use per developer over a period, from Anthropic's Claude Code report "
        "(collected with the Anthropic admin key). The cost is Anthropic's estimate and is "
        "already inside the API bill or a seat, so it is not added to spend totals.",
    )
    p.add_argument("words", nargs="*", metavar="PERIOD", help="e.g. week, 30d (default 30d)")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_detect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "detect",
        commands.detect,
        "score every spend series and open, update or resolve alerts",
        "Run the anomaly detector (daily on billed cost, hourly on estimated and reported "
        "cost), budgets and forecasts, and the other alert checks (unowned keys, unpriced "
        "models, stale sources, ...). Prints what was opened, escalated and resolved, and why.",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would change; record nothing")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_forecast(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "forecast",
        commands.forecast,
        "month-end forecast for all spend, each team and each budget",
    )
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_alerts(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "alerts",
        commands.alerts,
        "open alerts; mark a spike expected or not an anomaly",
        "List open alerts, most projected impact first. With --expected ID or "
        "--not-anomaly ID, give the detector feedback on a spike: expected re-baselines at the "
        "new level and stays quiet there; not-anomaly silences that episode.",
    )
    marks = p.add_mutually_exclusive_group()
    marks.add_argument("--expected", type=int, metavar="ID", help="the spike was planned")
    marks.add_argument("--not-anomaly", type=int, metavar="ID", help="the spike is not real")
    p.add_argument("--by", default="", help="who gives the feedback (default: $USER)")
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="store spend from a file: a dashboard's CSV export or a Google billing export",
        description="Import spend that only an exported file shows.",
    )
    kinds = p.add_subparsers(dest="import_command", metavar="KIND", required=True)
    add_csv_import(kinds)
    google = _command(
        kinds,
        "google-billing",
        commands.import_google_billing,
        "a Google Cloud Billing export file (JSON lines or CSV): Vertex AI and Gemini API",
        "Store the Vertex AI and Gemini API rows of a Cloud Billing export file, for teams "
        "that give no BigQuery access: JSON lines as BigQuery exports a table, or CSV with "
        "dotted column names (service.description, usage.amount, ...). Every bad line is "
        "reported as FILE:LINE: reason and every good one stored; importing the file again "
        "changes nothing. Exit status 1 when some lines were bad.",
    )
    google.add_argument("file", help="the export file")
    _add_database_option(google, "default: DATABASE_URL or sqlite:///aispend.db")


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "run",
        commands.run,
        "run the bot: Slack, /v1/events, /healthz, /metrics and the scheduled jobs",
        "Serve Slack (Socket Mode when SLACK_APP_TOKEN is set, HTTP on /slack/events "
        "otherwise), POST /v1/events, GET /healthz and GET /metrics on AISPEND_HOST:PORT, and "
        "run the scheduled jobs (collect, detect, alerts, digests, reminders) while holding the "
        "leader lease. SIGTERM answers requests in flight, finishes the running job and "
        "delivers the outbox before exiting.",
    )
    p.add_argument(
        "--role",
        choices=["all", "web", "worker"],
        default="all",
        help="all (default): everything; web: Slack and the endpoints, no jobs; "
        "worker: the jobs, /healthz and /metrics only",
    )
    _add_database_option(p, "default: DATABASE_URL or sqlite:///aispend.db")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = args.handler(args)
    except (UsageError, ConfigError, InputError) as e:
        print(f"aispend: {e}", file=sys.stderr)
        return 2
    except AispendError as e:
        print(f"aispend: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aispend: interrupted; every batch already written is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return status
