"""`aispend demo`: the whole store pipeline on seeded synthetic activity, with no accounts.

It loads providers' billed cost reports, ingests the apps' request events through the same
JSON-lines path as `aispend ingest`, applies a restatement of the last billed days, adds
today's hourly estimates, and prints what the team spent. Then it shows Slack: the alerting
and digest jobs post through the notifier to the Slack stand-in (bot.standins.slack), the
real Bolt app is served over HTTP on 127.0.0.1 and sent a button press and a slash command
signed as Slack signs them, and what the workspace shows is drawn in the terminal
(bot.slack.terminal), with the digest's chart saved next to the store.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pydantic import SecretStr
from rich.console import Console
from rich.text import Text
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, func, select

from bot.answers import answer_text, days_label, runways
from bot.clock import FixedClock, utc_midnight
from bot.collectors import openrouter
from bot.collectors.base import Collector, Window, trailing_window
from bot.collectors.http import make_http_client
from bot.config import (
    AttributionConfig,
    BudgetConfig,
    Settings,
    SlackConfig,
    TeamConfig,
    TeamFile,
)
from bot.demo_ledger import ledger_report, load_ledger
from bot.domain import CostLine, DateRange, Dimension, Origin, SpendQuery
from bot.errors import SlackError, StoreError, UsageError
from bot.ingest.readers import Format
from bot.ingest.writer import Sinks, ingest_stream, open_for_ingest
from bot.jobs.alerting import enqueue_alerts, root_key
from bot.jobs.checks import gather_conditions
from bot.jobs.collect import CollectContext, collect_all
from bot.jobs.detect import DetectContext, run_detection
from bot.jobs.digest import digests_due, enqueue_digests
from bot.jobs.outlook import month_outlook
from bot.money import format_usd
from bot.pricing import PriceBook
from bot.progress import Progress
from bot.render import caught_table, outlook_text, runway_table, unpriced_table
from bot.slack import ids
from bot.slack.app import AppContext, create_app
from bot.slack.commands import parse_command, resolve_period
from bot.slack.notifier import Notifier
from bot.slack.terminal import render_message, render_thread
from bot.standins.providers import (
    BILLED_BY_COLLECTORS,
    SIMULATED,
    SimulatedProviders,
    bedrock_tag,
    simulated_providers,
)
from bot.standins.slack import BOT_TOKEN, Channel, SlackStandIn, running_slack
from bot.standins.slack import Message as StandInMessage
from bot.store import queries
from bot.store.attribution import Attribution, sync_rules
from bot.store.cost_lines import store_cost_lines
from bot.store.db import make_engine, upgrade
from bot.store.incidents import IncidentView, incidents_since, open_incidents
from bot.store.models import UsageEvent
from bot.store.outbox import Delivered, delivered
from bot.synthetic import (
    ActivitySpec,
    generate_cost_lines,
    generate_estimated_lines,
    generate_events,
    scenario,
    write_jsonl,
)
from bot.synthetic.catalog import TEAMS
from bot.synthetic.gcp_export import LABEL_KEY

AZURE_RULES = (  # Azure resources name their team in a tag, or by their resource group
    AttributionConfig(provider="azure", label="team=support", team="support"),
    AttributionConfig(provider="azure", label="team=growth", team="growth"),
    AttributionConfig(provider="azure", project="rg-platform-ptu", team="platform"),
)
REPLAY_DAYS = 7  # the detector runs each morning of the last week, as it would have
REPORTS = ("month by provider", "30d by model", "30d by team", "30d by feature")
HEAD_OF_ENGINEERING = "priya"  # escalations call on her; she is also the bot's admin
CHART_FILE = "aispend-demo-chart.png"


def slack_user_id(handle: str) -> str:
    """The demo workspace's user id for a handle: "@maya" is U0MAYA."""
    return "U0" + handle.removeprefix("@").upper()


def demo_team_file() -> TeamFile:
    """The fictional company's aispend.toml: teams, channels, owners (as Slack user ids),
    attribution, budgets, and who escalations call on."""
    head = slack_user_id(HEAD_OF_ENGINEERING)
    return TeamFile(
        slack=SlackConfig(channel="#eng", escalation_contact=head, admins=(head,)),
        teams=tuple(
            TeamConfig(id=t.name, channel=t.channel, owners=(slack_user_id(t.owner),))
            for t in TEAMS
        ),
        attribution=(
            *(AttributionConfig(project=t.project, team=t.name) for t in TEAMS),
            *AZURE_RULES,
            *(_bedrock_rule(t.project, t.name) for t in TEAMS),
            *(AttributionConfig(label=f"{LABEL_KEY}={t.name}", team=t.name) for t in TEAMS),
        ),
        budgets=(
            BudgetConfig(monthly=Decimal(1600)),
            BudgetConfig(monthly=Decimal(450), dimension=Dimension.TEAM, value="research"),
        ),
    )


@dataclass(frozen=True)
class _Demo:
    engine: Engine
    spec: ActivitySpec
    prices: PriceBook
    attribution: Attribution
    now: datetime

    def write(self, lines: list[CostLine]) -> int:
        with self.engine.begin() as connection:
            return store_cost_lines(
                connection,
                lines,
                attribution=self.attribution,
                prices=self.prices,
                fetched_at=self.now,
            )

    def collect(self, collectors: list[Collector], window: Window) -> int:
        context = CollectContext(self.engine, self.prices, self.attribution, FixedClock(self.now))
        outcomes = collect_all(context, collectors, window)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise StoreError(f"the demo's simulated {failed[0].provider} failed: {failed[0].error}")
        return sum(o.lines for o in outcomes)


def run_demo(
    url: str,
    *,
    days: int,
    events_per_day: int,
    seed: int,
    now: datetime,
    replay_days: int = REPLAY_DAYS,
    slack: bool = True,
) -> int:
    """Build the demo store at `url` and print what it holds; with `slack`, then show what
    the bot posts in Slack and save the digest's chart next to the store."""
    team_file = demo_team_file()
    spec = ActivitySpec(
        end=now.date(),
        days=days,
        events_per_day=events_per_day,
        seed=seed,
        now_hour=max(now.hour, 1),
    )
    demo = _Demo(
        _fresh_store(url),
        spec,
        PriceBook.from_config(team_file.prices),
        Attribution.from_rules(team_file.attribution),
        now,
    )
    with demo.engine.begin() as connection:
        sync_rules(connection, team_file.attribution)
    started = time.perf_counter()
    _say(f"aispend demo: {days} days of activity for a {len(TEAMS)}-team company, seed {seed}")
    with make_http_client() as http, simulated_providers(spec) as providers:
        collectors = providers.collectors(http, now.date())
        _load_billed(demo, collectors, providers)
        _load_events(demo)
        _restate(demo, collectors, providers)
        _load_estimates(demo)
    _say(load_ledger(demo.engine, team_file, now, min(days, 28), seed))
    _replay_detection(demo, team_file, replay_days)
    _say(f"  loaded in {time.perf_counter() - started:.1f}s\n")
    _print_reports(demo.engine, spec)
    _say(ledger_report(demo.engine, spec.end) + "\n")
    _print_judgment(demo, team_file, replay_days)
    if slack:
        _show_slack(demo, team_file, chart_path(url))
    _say(f'Explore it: DATABASE_URL={url} aispend report "last month by team"')
    return 0


def chart_path(url: str) -> Path:
    """Where the digest's chart is saved: next to a SQLite store, else here."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).resolve().with_name(CHART_FILE)
    return Path.cwd() / CHART_FILE


def _fresh_store(url: str) -> Engine:
    """A new SQLite file each run; any other database must be empty, never overwritten."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(UsageEvent)):
            raise UsageError("the demo needs an empty store; point --database at a new one")
    return engine


def _direct(lines: list[CostLine], today: date) -> list[CostLine]:
    """Billed lines no collector can fetch, stored as they are: OpenRouter days older than its
    API's 30-day reach. DeepSeek has no cost API at all: its spend is what the apps' request
    events report."""
    oldest_reachable = utc_midnight(today - timedelta(days=openrouter.ACTIVITY_DAYS))
    return [
        line
        for line in lines
        if line.provider not in BILLED_BY_COLLECTORS
        or (line.provider == "openrouter" and line.bucket_start < oldest_reachable)
    ]


def _load_billed(demo: _Demo, collectors: list[Collector], providers: SimulatedProviders) -> None:
    spec = demo.spec
    window = Window(utc_midnight(spec.start), utc_midnight(spec.end + timedelta(days=1)))
    collected = demo.collect(collectors, window)
    direct = demo.write(_direct(generate_cost_lines(spec), demo.now.date()))
    _say(
        f"  1/5 collected {collected:,} cost and usage lines from the OpenAI, Anthropic, "
        f"OpenRouter, DeepSeek and AWS Cost Explorer (Bedrock) simulators, Azure Cost "
        f"Management (token from a stand-in Entra ID over TLS) and Google's billing export in "
        f"a BigQuery stand-in, in {providers.requests:,} HTTP requests; {direct:,} billed "
        "lines loaded directly (OpenRouter days older than its API keeps)"
    )


def _load_events(demo: _Demo) -> None:
    engine, spec, prices, attribution = demo.engine, demo.spec, demo.prices, demo.attribution
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        with path.open("wb") as out:
            count = write_jsonl(generate_events(spec), out)
        started = time.perf_counter()
        size = path.stat().st_size
        with path.open("rb") as raw, Progress("ingesting events", size) as bar:
            reader = open_for_ingest(raw)
            report = ingest_stream(
                engine,
                reader,
                Format.JSONL,
                name=path.name,
                source="demo-apps",
                prices=prices,
                attribution=attribution,
                sinks=Sinks(on_batch=lambda _r: bar.update(reader.tell())),
            )
        took = time.perf_counter() - started
    _say(
        f"  2/5 request events from apps: {report.stored:,} of {count:,} stored "
        f"({report.stored / took:,.0f}/s), {report.unpriced:,} with no known price"
    )


def _restate(demo: _Demo, collectors: list[Collector], providers: SimulatedProviders) -> None:
    before = _billed_total(demo.engine, demo.spec)
    providers.serve(revision=1)
    demo.collect(collectors, trailing_window(demo.now))
    demo.write(_direct(generate_cost_lines(demo.spec, revision=1), demo.now.date()))
    after = _billed_total(demo.engine, demo.spec)
    _say(
        f"  3/5 providers restated their last 3 days and the hourly run pulled them again: "
        f"billed total {format_usd(before)} -> {format_usd(after)} (replaced, not added)"
    )


def _bedrock_rule(project: str, team: str) -> AttributionConfig:
    """Bedrock lines carry the value of the `team` tag on the application inference profile."""
    return AttributionConfig(provider="bedrock", project=bedrock_tag(project), team=team)


def _load_estimates(demo: _Demo) -> None:
    lines = [x for x in generate_estimated_lines(demo.spec) if x.provider not in SIMULATED]
    demo.write(lines)
    _say(
        "  4/5 today's hourly usage, priced as estimates until billed: from the OpenAI and "
        f"Anthropic usage reports, Bedrock's CloudWatch token metrics, and {len(lines):,} "
        "lines of the other cloud providers"
    )


def _replay_detection(demo: _Demo, team_file: TeamFile, days: int) -> None:
    """Run detection as the scheduler would have: each morning at 07:00 UTC of the last
    `days`, then now. Each run sees only the buckets before its own time."""
    mornings = [
        utc_midnight(demo.now.date() - timedelta(days=back)) + timedelta(hours=7)
        for back in range(days, 0, -1)
    ]
    opened = resolved = 0
    for moment in [*mornings, demo.now]:
        with demo.engine.connect() as connection:
            conditions = gather_conditions(connection, team_file, moment)
        context = DetectContext(demo.engine, team_file, FixedClock(moment))
        report = run_detection(context, conditions)
        opened += sum(c.action == "open" for c in report.changes)
        resolved += sum(c.action == "resolve" for c in report.changes)
    _say(
        f"  5/5 the detector ran each morning of the last {days} days and now: "
        f"{opened} alerts opened, {resolved} resolved"
    )


def _print_judgment(demo: _Demo, team_file: TeamFile, days: int) -> None:
    since = utc_midnight(demo.now.date() - timedelta(days=days + 1))
    with demo.engine.connect() as connection:
        caught = incidents_since(connection, since)
        outlook = month_outlook(connection, team_file, demo.now)
    _say(caught_table(caught) + "\n")
    _say(outlook_text(outlook) + "\n")


def _billed_total(engine: Engine, spec: ActivitySpec) -> Decimal:
    period = DateRange(spec.start, spec.end)
    with engine.connect() as connection:
        return queries.spend(connection, SpendQuery(period, origin=Origin.BILLED)).total


def _print_reports(engine: Engine, spec: ActivitySpec) -> None:
    plan = scenario(spec)
    with engine.connect() as connection:
        for words in REPORTS:
            _say(answer_text(connection, parse_command(words), spec.end) + "\n")
        _say(answer_text(connection, parse_command("top week by feature"), spec.end) + "\n")
        period = resolve_period(parse_command("30d").period, spec.end)
        _say(unpriced_table(queries.unpriced_models(connection, period), days_label(period)) + "\n")
        _say(runway_table(runways(connection, spec.end)) + "\n")
    _say(
        f"Planted in this data: {plan.launch_feature} launched {plan.launch_day}; "
        f"{plan.runaway_feature} ran away on {plan.runaway_day} "
        f"{plan.runaway_hours[0]:02d}:00-{plan.runaway_hours[1]:02d}:00 UTC; "
        f"{plan.unpriced_model} has no list price.\n"
    )


def _say(text: str) -> None:
    print(text, flush=True)


# --- Slack ----------------------------------------------------------------------------------

SIGNING_SECRET = "aispend-demo-signing-secret"  # the demo's own: it signs what it sends
ASKED = "week by provider"
WAIT = 20.0  # seconds at most for the app's background work to reach the stand-in
_SEVERITY = {"critical": 2, "warning": 1}


@dataclass(frozen=True)
class _Thread:
    """A message as Slack's JSON has it, its replies, and how often it was rewritten."""

    root: dict[str, Any]
    replies: list[dict[str, Any]]
    updates: int = 0


@dataclass(frozen=True)
class _Pressed:
    incident: IncidentView
    at: Delivered
    by: str


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _show_slack(demo: _Demo, team_file: TeamFile, chart: Path) -> None:
    """The alerting and digest jobs post through the notifier to the Slack stand-in; the
    Bolt app, served on loopback, gets an Acknowledge press on the most severe alert and a
    slash command, each signed as Slack signs them. Then the workspace is drawn."""
    started = time.perf_counter()
    clock = FixedClock(demo.now)
    jobs_file = _digests_due_now(team_file)
    asker = slack_user_id(HEAD_OF_ENGINEERING)
    with running_slack(clock=clock) as slack:
        eng, names = _workspace(slack, team_file)
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
        eng_digest = digests_due(jobs_file, demo.now, lambda _key: False)[0]
        with demo.engine.begin() as connection:
            enqueue_alerts(connection, jobs_file, demo.now)
            digests = enqueue_digests(connection, jobs_file, demo.now)
        _deliver_all(demo.engine, client, clock)
        # the job's next run: alerts posted and still unacknowledged escalate_after_hours
        # after they opened call on the escalation contact in their threads
        with demo.engine.begin() as connection:
            enqueue_alerts(connection, jobs_file, demo.now)
        _deliver_all(demo.engine, client, clock)
        posted = len(slack.calls("chat.postMessage"))
        with _served(demo.engine, team_file, client, clock) as app:
            pressed = _acknowledge(demo.engine, slack, app)
            answer = _ask(slack, app, ASKED, asker, eng.id)
        digest = _thread_of(demo.engine, slack, eng_digest.key)
        alert = _thread_of(demo.engine, slack, root_key(pressed.incident.id)) if pressed else None
        chart_bytes = _chart_bytes(demo.engine, slack, eng_digest.chart_key)
        calls = len(slack.calls())
    _say(
        f"Slack, in a stand-in workspace on 127.0.0.1: the digest and alerting jobs queued "
        f"{digests} digests with their charts and the alerts, and the notifier posted "
        f"{posted} messages; the Bolt app, served over HTTP, was sent a button press and "
        f"`/aispend {ASKED}`, signed as Slack signs them "
        f"({calls} Web API calls, {time.perf_counter() - started:.1f}s)\n"
    )
    console = Console(highlight=False)
    _heading(console, f"#{names.get(eng.id, eng.id)}: the daily digest, its chart in the thread")
    console.print(render_thread(digest.root, digest.replies, names=names))
    if chart_bytes is not None:
        chart.write_bytes(chart_bytes)
        _say(f"The digest's chart is saved to {chart}\n")
    if pressed is not None and alert is not None:
        where = names.get(pressed.at.channel_id, pressed.at.channel_id)
        who = names.get(pressed.by, pressed.by)
        number = pressed.incident.id
        _heading(
            console, f"#{where}: alert #{number} and its thread, after @{who} pressed Acknowledge"
        )
        console.print(render_thread(alert.root, alert.replies, names=names, updated=alert.updates))
        _say("")
    else:
        _say("No warning or critical alert is open, so there is none to acknowledge.\n")
    _heading(console, f"/aispend {ASKED}: the answer @{names.get(asker, asker)} sees in #eng")
    console.print(render_message(answer, names=names))
    _say("")


def _heading(console: Console, text: str) -> None:
    console.print(Text(text, style="bold"))


def _digests_due_now(team_file: TeamFile) -> TeamFile:
    """The team file with every channel's digest due from midnight, local time, so the demo
    shows today's whatever the hour (it is the same digest [slack] digest_hour sends)."""
    slack = team_file.slack.model_copy(update={"digest_hour": 0})
    return team_file.model_copy(update={"slack": slack})


def _workspace(slack: SlackStandIn, team_file: TeamFile) -> tuple[Channel, dict[str, str]]:
    """#eng and each team's channel with the owners and the head of engineering in them.
    Returns #eng and the name a person sees for each user and channel id."""
    eng = slack.add_channel(team_file.slack.channel)
    channels = {eng.name: eng}
    for team in team_file.teams:
        wanted = team.channel.lstrip("#")
        if wanted and wanted not in channels:
            channels[wanted] = slack.add_channel(wanted)
    members = [c.id for c in channels.values()]
    for person in [*(t.owner for t in TEAMS), HEAD_OF_ENGINEERING]:
        handle = person.removeprefix("@")
        slack.add_user(handle, user_id=slack_user_id(handle), channels=members)
    names = {user.id: user.name for user in slack.users.values()}
    return eng, names | {c.id: c.name for c in channels.values()}


def _deliver_all(engine: Engine, client: WebClient, clock: FixedClock) -> None:
    """Notifier passes until the outbox has nothing due; a refusal stops the demo."""
    notifier = Notifier(engine, client, clock)
    while True:
        report = notifier.deliver()
        if report.errors or report.stopped:
            raise SlackError("outbox", report.stopped or report.errors[0])
        if not report.sent:
            return


@contextmanager
def _served(
    engine: Engine, team_file: TeamFile, client: WebClient, clock: FixedClock
) -> Iterator[str]:
    """The real Bolt app over HTTP on 127.0.0.1, as `aispend slack` serves it; yields the
    URL Slack would send requests to."""
    settings = Settings.model_construct(slack_signing_secret=SecretStr(SIGNING_SECRET))
    context = AppContext(engine, team_file, settings, client, clock)
    app = create_app(context)
    server = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), _ThreadingWSGIServer, _QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        context.background.shutdown(wait=True)


def _acknowledge(engine: Engine, slack: SlackStandIn, app: str) -> _Pressed | None:
    """The team owner (or the head of engineering) presses Acknowledge on the root of the
    most severe open alert, as Slack sends it; returns once the root is rewritten."""
    with engine.connect() as connection:
        incidents = [i for i in open_incidents(connection) if i.severity in _SEVERITY]
        sent = delivered(connection, [root_key(i.id) for i in incidents])
    posted = [i for i in incidents if sent.get(root_key(i.id)) is not None]
    if not posted:
        return None
    incident = max(posted, key=lambda i: (_SEVERITY[i.severity], i.projected_impact or 0, -i.id))
    at = sent[root_key(incident.id)]
    assert at is not None
    owner = next((t for t in TEAMS if t.name == incident.team), None)
    user = slack_user_id(owner.owner if owner else HEAD_OF_ENGINEERING)
    root = slack.message(at.channel_id, at.ts)
    url = slack.response_url(at.channel_id, user, message_ts=at.ts)
    payload = _button_press(slack, ids.INCIDENT_ACK, str(incident.id), user, url, root)
    _send(app, "payload=" + urllib.parse.quote(json.dumps(payload)))
    _wait(
        lambda: (
            _is_handled(slack.message(at.channel_id, at.ts).blocks)
            or any(r.url == url for r in slack.responses)
        ),
        "the acknowledgement",
    )
    failed = [r for r in slack.responses if r.url == url]
    if failed:
        raise SlackError("block_actions", f"the app answered: {failed[0].body.get('text')}")
    return _Pressed(incident, at, user)


def _is_handled(blocks: list[dict[str, Any]] | None) -> bool:
    return any(b.get("block_id") == ids.INCIDENT_HANDLED_BLOCK for b in blocks or ())


def _ask(slack: SlackStandIn, app: str, text: str, user: str, channel: str) -> dict[str, Any]:
    """`/aispend text` from `user` in `channel`, as Slack sends it; the answer the
    command's response URL received."""
    url = slack.response_url(channel, user)
    body = urllib.parse.urlencode(
        {
            "team_id": slack.team_id,
            "team_domain": slack.team_domain,
            "channel_id": channel,
            "channel_name": slack.channels[channel].name,
            "user_id": user,
            "user_name": slack.users[user].name,
            "command": "/aispend",
            "text": text,
            "api_app_id": slack.app_id,
            "is_enterprise_install": "false",
            "response_url": url,
            "trigger_id": slack.trigger_id(),
        }
    )
    _send(app, body)
    _wait(lambda: any(r.url == url for r in slack.responses), "the answer")
    return dict(next(r.body for r in slack.responses if r.url == url))


def _button_press(
    slack: SlackStandIn, action_id: str, value: str, user: str, url: str, message: StandInMessage
) -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a press on a channel message."""
    channel = slack.channels[message.channel]
    return {
        "type": "block_actions",
        "user": {"id": user, "username": slack.users[user].name, "team_id": slack.team_id},
        "api_app_id": slack.app_id,
        "container": {
            "type": "message",
            "channel_id": channel.id,
            "message_ts": message.ts,
            "is_ephemeral": False,
        },
        "trigger_id": slack.trigger_id(),
        "team": {"id": slack.team_id, "domain": slack.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "message": message.as_slack(metadata=False),
        "state": {"values": {}},
        "response_url": url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": ids.INCIDENT_BUTTONS_BLOCK,
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def _send(app: str, body: str) -> None:
    """POST `body` to the app signed as Slack signs it: v0= and the HMAC of
    v0:timestamp:body under the signing secret."""
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    request = urllib.request.Request(
        app,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with opener.open(request, timeout=10) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as e:
        raise SlackError("demo", f"the app refused a signed request: {e}") from e


def _wait(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise SlackError("demo", f"the app did not deliver {what} within {WAIT:.0f}s")
        time.sleep(0.02)


def _thread_of(engine: Engine, slack: SlackStandIn, key: str) -> _Thread:
    """The message the outbox sent under `key`, its replies and its rewrites, as Slack's
    JSON (files as file objects)."""
    with engine.connect() as connection:
        at = delivered(connection, [key]).get(key)
    if at is None:
        raise SlackError("outbox", f"{key} was not delivered")
    root = slack.message(at.channel_id, at.ts)
    replies = [_json(slack, m) for m in slack.thread(at.channel_id, at.ts)]
    return _Thread(_json(slack, root), replies, len(root.updates))


def _json(slack: SlackStandIn, message: StandInMessage) -> dict[str, Any]:
    shown = message.as_slack(metadata=False)
    if message.files:
        shown["files"] = [slack.files[f].as_slack() for f in message.files if f in slack.files]
    return shown


def _chart_bytes(engine: Engine, slack: SlackStandIn, key: str) -> bytes | None:
    """The PNG the notifier uploaded under `key` (its Delivered ts is the file id)."""
    with engine.connect() as connection:
        at = delivered(connection, [key]).get(key)
    file = slack.files.get(at.ts) if at is not None else None
    return file.content if file is not None else None
