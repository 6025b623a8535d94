"""What each `aispend` subcommand does: build its parts from settings, call the core, print."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from contextlib import ExitStack
from datetime import date
from typing import BinaryIO

from cryptography.fernet import Fernet
from sqlalchemy import Engine

from bot import exports, render
from bot.analysis.detector import FeedbackKind
from bot.answers import answer_text, days_label, runways
from bot.clock import SystemClock
from bot.collectors import COLLECTORS, anthropic, build_collectors
from bot.collectors.base import Window, trailing_window
from bot.collectors.google_billing import BillingRowError, cost_lines
from bot.collectors.http import make_http_client
from bot.config import Settings, load_settings, load_team_file
from bot.credentials import (
    KEYED,
    cipher,
    delete_credential,
    list_credentials,
    save_credential,
    with_stored_keys,
)
from bot.errors import UsageError
from bot.ingest.google_export import read_export
from bot.ingest.readers import Format
from bot.ingest.writer import IngestReport, Sinks, ingest_stream, open_for_ingest
from bot.jobs.checks import gather_conditions
from bot.jobs.collect import CollectContext, Outcome, collect_all
from bot.jobs.detect import DetectContext, run_detection
from bot.jobs.key_switch import KeySwitcher
from bot.jobs.outlook import month_outlook
from bot.pricing import PriceBook, PriceKey
from bot.progress import PageCounter, Progress
from bot.providers import resolve_provider
from bot.slack.commands import HELP_TEXT, Verb, parse_command, resolve_period
from bot.store import queries
from bot.store.attribution import Attribution, sync_rules
from bot.store.coding_tools import developer_totals
from bot.store.cost_lines import store_file_lines
from bot.store.db import current_revision, head_revision, make_engine, require_current, upgrade
from bot.store.freshness import list_source_states
from bot.store.incidents import give_feedback, open_incidents
from bot.store.key_switches import paused_keys
from bot.store.names import load_names

SHOWN_BAD_LINES = 50


def _settings() -> Settings:
    return load_settings()


def _engine(args: argparse.Namespace, settings: Settings) -> Engine:
    return make_engine(args.database or settings.database_url)


def _today() -> date:
    return SystemClock().now().date()


def db_upgrade(args: argparse.Namespace) -> int:
    engine = _engine(args, _settings())
    upgrade(engine)
    print(
        f"store {engine.url.render_as_string(hide_password=True)} is at revision {head_revision()}"
    )
    return 0


def db_current(args: argparse.Namespace) -> int:
    engine = _engine(args, _settings())
    current, head = current_revision(engine), head_revision()
    state = "up to date" if current == head else f"behind {head}: run `aispend db upgrade`"
    print(f"revision {current or 'none'} ({state})")
    return 0 if current == head else 1


def ingest(args: argparse.Namespace) -> int:
    settings = _settings()
    team_file = load_team_file(settings.aispend_config)
    engine = _engine(args, settings)
    require_current(engine)
    with engine.begin() as connection:  # aispend.toml is the source of the rules
        sync_rules(connection, team_file.attribution)
    attribution = Attribution.from_rules(team_file.attribution)
    with ExitStack() as stack:
        raw, name = _open_input(args.file, stack)
        size = _size(raw)
        stream = open_for_ingest(raw)
        progress = stack.enter_context(Progress(f"ingesting {name}", size))
        shown = _BadLinePrinter(name)
        report = ingest_stream(
            engine,
            stream,
            Format(args.format),
            name=name,
            source=args.source,
            prices=PriceBook.from_config(team_file.prices),
            attribution=attribution,
            sinks=Sinks(on_bad=shown, on_batch=lambda _r: progress.update(_position(stream))),
        )
    shown.finish()
    print(_ingest_summary(report))
    return 1 if report.bad else 0


def _open_input(path: str, stack: ExitStack) -> tuple[BinaryIO, str]:
    if path == "-":
        return sys.stdin.buffer, "<stdin>"
    try:
        return stack.enter_context(open(path, "rb")), path
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e


def _size(stream: BinaryIO) -> int | None:
    try:
        if stream.seekable():
            end = stream.seek(0, 2)
            stream.seek(0)
            return end
    except OSError:
        pass
    return None


def _position(stream: BinaryIO) -> int | None:
    try:
        return stream.tell() if stream.seekable() else None
    except OSError:
        return None


class _BadLinePrinter:
    """Prints the first bad lines as FILE:LINE: reason, then says how many more there were."""

    def __init__(self, name: str) -> None:
        self.name, self.count = name, 0

    def __call__(self, line: int, reason: str) -> None:
        self.count += 1
        if self.count <= SHOWN_BAD_LINES:
            print(f"{self.name}:{line}: {reason}", file=sys.stderr)

    def finish(self) -> None:
        if self.count > SHOWN_BAD_LINES:
            print(f"... and {self.count - SHOWN_BAD_LINES:,} more bad lines", file=sys.stderr)


def _ingest_summary(report: IngestReport) -> str:
    parts = [f"stored {report.stored:,} events"]
    if report.duplicates:
        parts.append(f"{report.duplicates:,} already stored")
    if report.bad:
        parts.append(f"{report.bad:,} bad lines (not stored)")
    if report.unpriced:
        parts.append(f"{report.unpriced:,} with no known price (see `aispend prices unpriced`)")
    return ", ".join(parts)


def report(args: argparse.Namespace) -> int:
    command = parse_command(" ".join(args.words))
    if command.verb is Verb.HELP:
        print(HELP_TEXT)
        return 0
    if command.verb not in (Verb.REPORT, Verb.TOP):
        verb = command.verb.value
        raise UsageError(f'"{verb}" is not on the command line yet; it answers report, top, help')
    engine = _engine(args, _settings())
    require_current(engine)
    with engine.connect() as connection:
        text = answer_text(connection, command, _today(), args.format)
    print(text)
    return 0


def export(args: argparse.Namespace) -> int:
    words = ["export", *args.words, *(["focus"] if args.focus else [])]
    if args.by == "cost-center":
        words.append("cost-center")
    request = exports.parse_export(" ".join(words))
    period = resolve_period(request.period, _today())
    settings = _settings()
    team_file = load_team_file(settings.aispend_config)
    engine = _engine(args, settings)
    require_current(engine)
    with engine.connect() as connection:
        usage = queries.daily_usage(connection, exports.export_query(period))
        rows = exports.export_rows(usage, team_file, load_names(connection))
    built = exports.build_export(rows, period, request)
    if not args.output:
        sys.stdout.write(built.content)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            out.write(built.content)
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror}") from e
    print(f"wrote {built.rows:,} rows ({built.title}) to {args.output}", file=sys.stderr)
    return 0


def claude_code(args: argparse.Namespace) -> int:
    command = parse_command(" ".join(args.words) or "30d")
    period = resolve_period(command.period, _today())
    engine = _engine(args, _settings())
    require_current(engine)
    with engine.connect() as connection:
        totals = developer_totals(connection, anthropic.CODING_TOOL, period)
    print(render.developers_table(totals, f"Claude Code, {days_label(period)}"))
    return 0


def detect(args: argparse.Namespace) -> int:
    settings = _settings()
    team_file = load_team_file(settings.aispend_config)
    engine = _engine(args, settings)
    require_current(engine)
    clock = SystemClock()
    with engine.connect() as connection:
        conditions = gather_conditions(connection, team_file, clock.now())
    context = DetectContext(engine, team_file, clock)
    print(render.detect_text(run_detection(context, conditions, dry_run=args.dry_run)))
    return 0


def forecast(args: argparse.Namespace) -> int:
    settings = _settings()
    team_file = load_team_file(settings.aispend_config)
    engine = _engine(args, settings)
    require_current(engine)
    with engine.connect() as connection:
        outlook = month_outlook(connection, team_file, SystemClock().now())
    print(render.outlook_text(outlook))
    return 0


def alerts(args: argparse.Namespace) -> int:
    engine = _engine(args, _settings())
    require_current(engine)
    chosen = [
        (FeedbackKind.EXPECTED, args.expected),
        (FeedbackKind.NOT_ANOMALY, args.not_anomaly),
    ]
    for kind, incident_id in chosen:
        if incident_id is not None:
            by = args.by or os.environ.get("USER", "")
            with engine.begin() as connection:
                marked = give_feedback(connection, incident_id, kind, by, SystemClock().now())
            print(f"#{marked.id} marked {kind.value.replace('_', ' ')}: {marked.summary}")
            return 0
    with engine.connect() as connection:
        print(render.incidents_table(open_incidents(connection)))
    return 0


def prices_unpriced(args: argparse.Namespace) -> int:
    command = parse_command(" ".join(args.words) or "30d")
    period = resolve_period(command.period, _today())
    engine = _engine(args, _settings())
    require_current(engine)
    with engine.connect() as connection:
        models = queries.unpriced_models(connection, period)
    print(render.unpriced_table(models, days_label(period)))
    return 0


def prices_lookup(args: argparse.Namespace) -> int:
    settings = _settings()
    book = PriceBook.from_config(load_team_file(settings.aispend_config).prices)
    day = _parse_day(args.date) if args.date else _today()
    provider = resolve_provider(args.provider)
    if provider is None:
        raise UsageError(f"unknown provider {args.provider!r}")
    rates = book.rates(PriceKey(provider, args.model, day, args.tier, args.batch))
    print(render.rates_text(provider, args.model, day, rates))
    return 0 if rates is not None else 1


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise UsageError(f"--date must be YYYY-MM-DD, got {text!r}") from e


def demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(
        args.database or "sqlite:///aispend-demo.db",
        days=args.days,
        events_per_day=args.events_per_day,
        seed=args.seed,
        now=SystemClock().now(),
    )


def status(args: argparse.Namespace) -> int:
    engine = _engine(args, _settings())
    require_current(engine)
    now = SystemClock().now()
    with engine.connect() as connection:
        states = list_source_states(connection)
        prepaid = runways(connection, now.date())
    print(render.status_table(states, now))
    if prepaid:
        print("\n" + render.runway_table(prepaid))
    return 1 if any(s.consecutive_failures for s in states) else 0


def collect(args: argparse.Namespace) -> int:
    settings = _settings()
    team_file = load_team_file(settings.aispend_config)
    engine = _engine(args, settings)
    require_current(engine)
    window = _since_window(args.since)
    with engine.connect() as connection:
        settings = with_stored_keys(settings, connection)
    only = _provider_choice(args.provider)
    counter = PageCounter([only] if only else list(COLLECTORS))
    with make_http_client() as http, counter:
        collectors = build_collectors(settings, http, only=only, on_page=counter.page)
        if not collectors:
            keys = ", ".join(entry.key_setting.upper() for entry in COLLECTORS.values())
            raise UsageError(
                f"no provider is configured: set one of {keys}, "
                "or store a key with `aispend credentials set`"
            )
        with engine.begin() as connection:
            sync_rules(connection, team_file.attribution)
        context = CollectContext(
            engine,
            PriceBook.from_config(team_file.prices),
            Attribution.from_rules(team_file.attribution),
            SystemClock(),
        )
        outcomes = collect_all(context, collectors, window)
    for outcome in outcomes:
        print(_collect_line(outcome, window))
    return 0 if all(o.ok for o in outcomes) else 1


def _since_window(since: str) -> Window:
    match = re.fullmatch(r"([0-9]{1,4})d", since.strip())
    if match is None or not 1 <= int(match.group(1)) <= 1000:
        raise UsageError(f"--since takes a number of days such as 3d or 90d, got {since!r}")
    return trailing_window(SystemClock().now(), days=int(match.group(1)))


def _provider_choice(name: str | None) -> str | None:
    if name is None:
        return None
    provider = resolve_provider(name)
    if provider not in COLLECTORS:
        known = ", ".join(COLLECTORS)
        raise UsageError(f"no collector for {name!r}; collectors exist for {known}")
    return provider


def _collect_line(outcome: Outcome, window: Window) -> str:
    span = f"{window.start:%Y-%m-%d}..{window.end:%Y-%m-%d}"
    if outcome.ok:
        return f"{outcome.provider}: {outcome.lines:,} lines for {span}"
    return f"{outcome.provider}: failed, the store keeps what it had: {outcome.error}"


def run(args: argparse.Namespace) -> int:
    from bot.runtime.service import run_service  # the server's parts load only for `run`

    settings = _settings()
    if args.database:
        settings = settings.model_copy(update={"database_url": args.database})
    return run_service(settings, args.role)


def credentials_set(args: argparse.Namespace) -> int:
    settings = _settings()
    provider = _keyed_provider(args.provider)
    fernet = cipher(settings)
    secret = _read_secret(provider)
    engine = _engine(args, settings)
    require_current(engine)
    with engine.begin() as connection:
        save_credential(connection, fernet, provider, secret, SystemClock().now())
    print(f"stored the {provider} key, encrypted")
    return 0


def credentials_list(args: argparse.Namespace) -> int:
    engine = _engine(args, _settings())
    require_current(engine)
    with engine.connect() as connection:
        stored = list_credentials(connection)
    for provider, updated in stored:
        print(f"{provider}  set {updated:%Y-%m-%d %H:%M} UTC")
    if not stored:
        print("no stored keys")
    return 0


def credentials_delete(args: argparse.Namespace) -> int:
    provider = _keyed_provider(args.provider)
    engine = _engine(args, _settings())
    require_current(engine)
    with engine.begin() as connection:
        deleted = delete_credential(connection, provider)
    print(f"deleted the {provider} key" if deleted else f"no stored {provider} key")
    return 0


def credentials_new_key(args: argparse.Namespace) -> int:  # noqa: ARG001 (the command's shape)
    print(Fernet.generate_key().decode())
    return 0


def _keyed_provider(name: str) -> str:
    provider = resolve_provider(name)
    if provider not in KEYED:
        raise UsageError(f"keys can be stored for {', '.join(KEYED)}, not {name!r}")
    return provider


def _read_secret(provider: str) -> str:
    if sys.stdin.isatty():
        secret = getpass.getpass(f"{provider} admin key: ")
    else:
        secret = sys.stdin.readline()
    secret = secret.strip()
    if not secret:
        raise UsageError("no key given on standard input")
    return secret


def keys_list(args: argparse.Namespace) -> int:
    engine = _engine(args, _settings())
    require_current(engine)
    with engine.connect() as connection:
        paused = paused_keys(connection)
    for switch in paused:
        when = f"{switch.at:%Y-%m-%d %H:%M} UTC"
        print(f"{switch.provider}  {switch.api_key}  paused by {switch.by} {when}")
    if not paused:
        print("no key is paused")
    return 0


def keys_pause(args: argparse.Namespace) -> int:
    return _switch_key(args, active=False)


def keys_resume(args: argparse.Namespace) -> int:
    return _switch_key(args, active=True)


def _switch_key(args: argparse.Namespace, *, active: bool) -> int:
    settings = _settings()
    engine = _engine(args, settings)
    require_current(engine)
    team_file = load_team_file(settings.aispend_config)
    switcher = KeySwitcher(engine, settings, team_file, SystemClock())
    provider = resolve_provider(args.provider)
    if provider is None:
        raise UsageError(f"unknown provider {args.provider!r}")
    switch = switcher.switch(provider, args.api_key, active=active, by=getpass.getuser())
    print(f"{'resumed' if switch.active else 'paused'} {switch.api_key} at {switch.provider}")
    return 0


def import_google_billing(args: argparse.Namespace) -> int:
    """Store a Cloud Billing export file's AI rows in one transaction, upserted by key."""
    settings = _settings()
    team_file = load_team_file(settings.aispend_config)
    engine = _engine(args, settings)
    require_current(engine)
    try:
        with open(args.file, encoding="utf-8", newline="") as text:
            export = read_export(text, args.file, settings.google_team_label)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {args.file}: {e}") from e
    try:
        lines = cost_lines(export.rows)
    except BillingRowError as e:
        raise UsageError(f"{args.file}: {e}") from e
    stored = store_file_lines(engine, lines, team_file, SystemClock().now())
    for bad in export.bad[:SHOWN_BAD_LINES]:
        print(bad, file=sys.stderr)
    print(
        f"{args.file}: {len(export.rows):,} AI rows as {stored:,} cost lines "
        f"({len(export.bad):,} bad, {export.skipped:,} other services or taxes skipped)"
    )
    return 1 if export.bad else 0
