"""The scheduled jobs and their wiring (APScheduler 3, a BackgroundScheduler in the service's
process). Every job is coalesced (runs missed while the process was busy or asleep become one
run) and never overlaps itself (max_instances=1); each one first checks that this process
still holds the leader lease, so with several replicas exactly one runs them.

- collect: every provider with a key over the trailing window (hourly by default), then
  detection over what it brought, then the alerts it opened into the outbox, then delivery.
  With no provider configured (events only), detection still runs.
- digest: a tick (every minute by default); the digest job itself decides which channels'
  local digest hour has come and sends each once a local day.
- reminders: alerts left unacknowledged called out to their channel, and subscriptions due
  for renewal (14 and 3 days ahead) or review (90 days) reminded once each (every 5 minutes).
- deliver: the outbox flushed, so retries (429s, Slack down) go out without waiting for the
  next job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.clock import Clock
from bot.collectors import build_collectors
from bot.collectors.base import trailing_window
from bot.collectors.http import make_http_client
from bot.config import Settings, TeamFile
from bot.credentials import with_stored_keys
from bot.jobs.alerting import enqueue_alerts
from bot.jobs.checks import gather_conditions
from bot.jobs.collect import CollectContext, collect_all
from bot.jobs.detect import DetectContext, run_detection
from bot.jobs.digest import enqueue_digests
from bot.jobs.reminders import enqueue_reminders
from bot.pricing import PriceBook
from bot.runtime.lease import Leadership
from bot.runtime.metrics import Metrics
from bot.slack.notifier import Notifier
from bot.store.attribution import Attribution, sync_rules

logger = logging.getLogger(__name__)

MISFIRE_GRACE = 15 * 60  # seconds: a run later than this (the process was down) is skipped
DELIVER_PASSES = 20  # notifier passes per flush: a thread's replies go out pass by pass


@dataclass(frozen=True)
class Cadence:
    """How often each job runs, in seconds."""

    collect: float = 3600.0
    digest: float = 60.0
    reminders: float = 300.0
    deliver: float = 15.0


@dataclass
class Jobs:
    """What the jobs need, and the jobs themselves (each callable on its own, as tests do)."""

    engine: Engine
    settings: Settings
    team_file: TeamFile
    client: WebClient
    clock: Clock
    metrics: Metrics

    def collect(self) -> None:
        """Collect, detect, alert, deliver: detection always sees the fresh collection."""
        self._collect_providers()
        now = self.clock.now()
        with self.engine.connect() as connection:
            conditions = gather_conditions(connection, self.team_file, now)
        report = run_detection(DetectContext(self.engine, self.team_file, self.clock), conditions)
        with self.engine.begin() as connection:
            queued = enqueue_alerts(connection, self.team_file, now)
        logger.info(
            "detection ran", extra={"changes": len(report.changes), "messages_queued": queued}
        )
        self.deliver()

    def digest(self) -> None:
        with self.engine.begin() as connection:
            queued = enqueue_digests(connection, self.team_file, self.clock.now())
        if queued:
            logger.info("digests queued", extra={"digests": queued})
            self.deliver()

    def reminders(self) -> None:
        """Unacknowledged alerts called out, and subscriptions due for renewal or review
        (their spend counted through today first), in one transaction."""
        with self.engine.begin() as connection:
            queued = enqueue_alerts(connection, self.team_file, self.clock.now())
            queued += enqueue_reminders(connection, self.team_file, self.clock)
        if queued:
            self.deliver()

    def deliver(self) -> int:
        """Notifier passes until nothing more goes out; how many messages were sent."""
        notifier = Notifier(self.engine, self.client, self.clock)
        sent = 0
        for _ in range(DELIVER_PASSES):
            report = notifier.deliver()
            sent += report.sent
            if report.stopped:
                logger.error("slack refused the bot token; delivery stopped: %s", report.stopped)
                break
            if not report.sent:
                break
        return sent

    def _collect_providers(self) -> None:
        with self.engine.connect() as connection:
            settings = with_stored_keys(self.settings, connection)
        with make_http_client() as http:
            collectors = build_collectors(settings, http)
            if not collectors:
                logger.info("no provider key is set: nothing to collect")
                return
            with self.engine.begin() as connection:
                sync_rules(connection, self.team_file.attribution)
            context = CollectContext(
                self.engine,
                PriceBook.from_config(self.team_file.prices),
                Attribution.from_rules(self.team_file.attribution),
                self.clock,
            )
            outcomes = collect_all(context, collectors, trailing_window(self.clock.now()))
        for outcome in outcomes:  # collect_all logs each failure
            self.metrics.collector_runs.labels(
                outcome.provider, "ok" if outcome.ok else "failed"
            ).inc()
            if outcome.ok:
                logger.info(
                    "collected", extra={"provider": outcome.provider, "lines": outcome.lines}
                )


@dataclass(frozen=True)
class Scheduled:
    """One job: its name (the scheduler's job id), what it runs, every how many seconds,
    and whether its first run is at start rather than one interval later."""

    name: str
    work: Callable[[], object]
    every: float
    at_start: bool = False


def job_table(jobs: Jobs, cadence: Cadence) -> list[Scheduled]:
    """The service's jobs. collect and deliver first run at start (a fresh deployment
    collects at once), the others after their first interval."""
    return [
        Scheduled("collect", jobs.collect, cadence.collect, at_start=True),
        Scheduled("digest", jobs.digest, cadence.digest),
        Scheduled("reminders", jobs.reminders, cadence.reminders),
        Scheduled("deliver", jobs.deliver, cadence.deliver, at_start=True),
    ]


def build_scheduler(
    table: Sequence[Scheduled], leadership: Leadership, metrics: Metrics, now: datetime
) -> BackgroundScheduler:
    """A scheduler running each job of `table` under the lease (`led`), not started."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
    )
    for job in table:
        first = now if job.at_start else now + timedelta(seconds=job.every)
        scheduler.add_job(
            led(job.name, job.work, leadership, metrics),
            "interval",
            seconds=job.every,
            id=job.name,
            name=job.name,
            replace_existing=True,
            next_run_time=first,
        )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per run otherwise
    return scheduler


def run_soon(scheduler: BackgroundScheduler, table: Sequence[Scheduled], now: datetime) -> None:
    """Bring the jobs that run at start forward to `now`: for a process that has just taken
    the lease over, whose own runs at start were skipped (it was not the leader then)."""
    for job in table:
        if job.at_start:
            scheduler.modify_job(job.name, next_run_time=now)


def led(
    name: str, work: Callable[[], object], leadership: Leadership, metrics: Metrics
) -> Callable[[], None]:
    """`work` run only while this process holds the leader lease, timed and counted; a
    failure is logged with its traceback and the next run goes ahead as planned."""

    def run() -> None:
        if not leadership.check():
            metrics.job_runs.labels(name, "skipped").inc()
            return
        started = time.perf_counter()
        try:
            work()
        except Exception:
            logger.exception("job %s failed", name, extra={"job": name})
            metrics.job_runs.labels(name, "failed").inc()
        else:
            metrics.job_runs.labels(name, "ok").inc()
        finally:
            metrics.job_seconds.labels(name).observe(time.perf_counter() - started)

    run.__name__ = name
    return run
