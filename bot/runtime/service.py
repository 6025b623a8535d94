"""`aispend run`: the service, built from settings, started, and stopped in order.

Roles: `all` (the default: one process does everything), `web` (serves Slack and the HTTP
endpoints, runs no jobs) and `worker` (runs the jobs, serves only /healthz and /metrics).
Whatever the role, the scheduled jobs run only in the process holding the leader lease, so
any number of `all` or `worker` processes may share one PostgreSQL store.

Slack mode: Socket Mode when SLACK_APP_TOKEN is set (no public URL; Slack signs nothing, the
WebSocket is authenticated by the token), HTTP otherwise (`POST /slack/events`, every request
signed with SLACK_SIGNING_SECRET).

Stopping (SIGTERM or SIGINT): stop accepting requests and answer those in flight, close the
Socket Mode connection, let the running job finish, let answers being worked on finish,
deliver what is due in the outbox, give up the leader lease so another replica takes over at
once, exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import Clock, SystemClock
from bot.config import Settings, TeamFile, load_team_file
from bot.errors import ConfigError
from bot.pricing import PriceBook
from bot.runtime.lease import Leadership
from bot.runtime.logs import Redactor, configure_logging, settings_secrets
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import Cadence, Jobs, build_scheduler, job_table, run_soon
from bot.runtime.server import Server
from bot.runtime.web import SLACK_MAX_BYTES, EventsSink, WebApp
from bot.slack.app import create_app
from bot.slack.listeners.context import AppContext
from bot.store.attribution import Attribution
from bot.store.db import make_engine, require_current

logger = logging.getLogger(__name__)

ROLES = ("all", "web", "worker")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MIN_TOKEN = 16  # characters: a shorter bearer token is guessable
STOP_TIMEOUT = 20.0  # seconds for requests in flight when stopping


@dataclass(frozen=True)
class Plan:
    """What this process runs, decided from the role and the settings."""

    role: str
    slack: str  # "socket", "http", or "" (a worker serves no Slack requests)
    scheduler: bool


def plan_for(settings: Settings, role: str) -> Plan:
    """The plan, or a ConfigError naming the setting that is missing or wrong."""
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    bot_token = _value(settings.slack_bot_token)
    if not bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set: the app's Bot User OAuth Token (xoxb-...), "
            "from OAuth & Permissions"
        )
    if not bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token, starting with xoxb-")
    app_token = _value(settings.slack_app_token)
    if app_token and not app_token.startswith("xapp-"):
        raise ConfigError(
            "SLACK_APP_TOKEN must be an app-level token, starting with xapp- (Basic "
            "Information > App-Level Tokens, scope connections:write); unset it for HTTP mode"
        )
    serves_slack = role in ("all", "web")
    if serves_slack and not app_token and not _value(settings.slack_signing_secret):
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's Signing Secret "
            "(Basic Information), or set SLACK_APP_TOKEN for Socket Mode"
        )
    for name, token in (
        ("AISPEND_EVENTS_TOKEN", settings.aispend_events_token),
        ("AISPEND_METRICS_TOKEN", settings.aispend_metrics_token),
    ):
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN:
            raise ConfigError(
                f"{name} must be at least {MIN_TOKEN} characters "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    mode = ("socket" if app_token else "http") if serves_slack else ""
    return Plan(role, mode, scheduler=role in ("all", "worker"))


def _value(secret: SecretStr | None) -> str:
    return secret.get_secret_value().strip() if secret is not None else ""


class Service:
    """Every part of a running `aispend run`; `start()` then `stop()`."""

    def __init__(
        self,
        settings: Settings,
        team_file: TeamFile,
        plan: Plan,
        *,
        clock: Clock | None = None,
        cadence: Cadence | None = None,
    ) -> None:
        self.settings, self.team_file, self.plan = settings, team_file, plan
        self.clock = clock or SystemClock()
        self.cadence = cadence or Cadence(collect=settings.aispend_collect_minutes * 60)
        self.engine = make_engine(settings.database_url)
        self.metrics = Metrics(self.engine, self.clock)
        self.client = WebClient(
            token=_value(settings.slack_bot_token), base_url=settings.slack_api_url
        )
        self.leadership: Leadership | None = None
        self.context: AppContext | None = None
        self.jobs: Jobs | None = None
        self.scheduler: Any = None
        self.socket: Any = None  # a SocketModeHandler (untyped)
        self.server: Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    def start(self) -> None:
        require_current(self.engine)
        self._check_bot_token()
        slack_app = None
        if self.plan.slack:
            self.context = AppContext(self.engine, self.team_file, self.settings, self.client)
            slack_app = create_app(self.context, socket_mode=self.plan.slack == "socket")
        self.server = Server(
            self._web(slack_app),
            self.settings.aispend_host,
            self.settings.aispend_port,
            max_body=max(self.settings.aispend_events_max_bytes, SLACK_MAX_BYTES) + 1,
        )
        if slack_app is not None and self.plan.slack == "socket":
            self.socket = _connect_socket_mode(slack_app, _value(self.settings.slack_app_token))
        if self.plan.scheduler:
            self._start_scheduler()
        self.server.start()
        logger.info(
            "aispend is running",
            extra={
                "role": self.plan.role,
                "slack": self.plan.slack or "none",
                "url": f"http://{self.settings.aispend_host}:{self.port}",
                "port": self.port,
            },
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(STOP_TIMEOUT)
        if self.socket is not None:
            self.socket.close()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # the running job finishes
        if self.context is not None:
            self.context.background.shutdown(wait=True)  # answers being worked on finish
        if self.jobs is not None and self.leadership is not None and self.leadership.check():
            sent = self.jobs.deliver()
            logger.info("outbox flushed", extra={"sent": sent})
        if self.leadership is not None:
            self.leadership.stop()
        self.engine.dispose()
        logger.info("aispend stopped")

    def health(self) -> Mapping[str, Any]:
        leader = self.leadership.held if self.leadership is not None else None
        answer = {"role": self.plan.role, "slack": self.plan.slack or "none", "leader": leader}
        if self.socket is not None:  # Socket Mode can stall silently: say whether it is up
            answer["connected"] = bool(self.socket.client.is_connected())
        return answer

    def _web(self, slack_app: Any) -> WebApp:
        serves = self.plan.slack != ""
        team = self.team_file
        return WebApp(
            metrics=self.metrics,
            health=self.health,
            slack=SlackRequestHandler(slack_app) if self.plan.slack == "http" else None,
            signing_secret=self.settings.slack_signing_secret,
            events=EventsSink(
                self.engine,
                PriceBook.from_config(team.prices),
                Attribution.from_rules(team.attribution),
                self.settings.aispend_events_max_bytes,
            )
            if serves
            else None,
            events_token=self.settings.aispend_events_token,
            metrics_token=self.settings.aispend_metrics_token,
        )

    def _start_scheduler(self) -> None:
        self.jobs = Jobs(
            self.engine, self.settings, self.team_file, self.client, self.clock, self.metrics
        )
        table = job_table(self.jobs, self.cadence)

        def changed(held: bool) -> None:
            self.metrics.leader.set(1 if held else 0)
            if held and self.scheduler is not None:  # a takeover: collect and deliver now
                logger.info("took the leader lease over: collecting and delivering now")
                run_soon(self.scheduler, table, self.clock.now())

        self.leadership = Leadership(
            self.engine, self.clock, ttl=self.settings.aispend_lease_seconds, on_change=changed
        )
        self.leadership.start()
        self.scheduler = build_scheduler(table, self.leadership, self.metrics, self.clock.now())
        self.scheduler.start()

    def _check_bot_token(self) -> None:
        """auth.test, so a wrong token or URL stops the start with one line, not a trace."""
        where = self.settings.slack_api_url
        try:
            self.client.auth_test()
        except SlackApiError as e:
            raise ConfigError(
                f"SLACK_BOT_TOKEN was refused by Slack ({e.response.get('error')})"
            ) from e
        except OSError as e:
            raise ConfigError(f"cannot reach Slack at {where}: {e}") from e


def _connect_socket_mode(app: Any, app_token: str) -> Any:
    handler: Any = SocketModeHandler(app, app_token)
    try:
        handler.connect()
    except SlackApiError as e:
        raise ConfigError(
            f"Socket Mode: Slack refused SLACK_APP_TOKEN ({e.response.get('error')}); it needs "
            "the connections:write scope"
        ) from e
    except OSError as e:
        raise ConfigError(f"Socket Mode: cannot connect to Slack: {e}") from e
    return handler


def run_service(settings: Settings, role: str) -> int:
    """`aispend run`: start, serve until SIGTERM or SIGINT, stop in order, exit 0."""
    plan = plan_for(settings, role)
    configure_logging(settings.log_level, Redactor(settings_secrets(settings)))
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the revision check, every start
    team_file = load_team_file(settings.aispend_config)
    service = Service(settings, team_file, plan)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        service.start()
    except BaseException:
        service.stop()
        raise
    while not stopping.wait(1.0):
        pass
    logger.info("stopping: answering requests in flight, finishing the running job")
    service.stop()
    return 0
