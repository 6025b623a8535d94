"""A simulated day in seconds: the scheduler half of `aispend run --role worker` (the real job
table, scheduler, lease, jobs, notifier and store) with the jobs' clock compressed, run as a
process of its own with `python -m tests.reliability.simday`.

`aispend run` reads the system clock and runs the digest tick every minute, so a day of it
takes a day. Here the jobs read a CompressedClock (SPEED simulated seconds per real second,
from ORIGIN at the real moment ANCHOR; every process given the same three agrees on the
time) and each job's interval is divided by SPEED. The leader lease keeps the system clock
and real seconds: its lifetime is what a takeover waits for, and replicas must agree on it.

Settings come from the environment as for `aispend run` (DATABASE_URL, AISPEND_CONFIG,
SLACK_BOT_TOKEN, SLACK_API_URL, provider keys and base URLs, AISPEND_LEASE_SECONDS,
LOG_LEVEL), plus AISPEND_SIM_ORIGIN (ISO 8601), AISPEND_SIM_ANCHOR (Unix seconds) and
AISPEND_SIM_SPEED. It logs JSON lines to stderr and stops on SIGTERM as the service does: the
running job finishes, the outbox is flushed while it leads, the lease is given up.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from slack_sdk import WebClient

from bot.clock import SystemClock
from bot.config import Settings, load_team_file
from bot.runtime.lease import Leadership
from bot.runtime.logs import Redactor, configure_logging, settings_secrets
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import DELIVER_PASSES, Cadence, Jobs, build_scheduler, job_table
from bot.slack.notifier import Notifier
from bot.store.db import make_engine

logger = logging.getLogger(__name__)

ORIGIN, ANCHOR, SPEED = "AISPEND_SIM_ORIGIN", "AISPEND_SIM_ANCHOR", "AISPEND_SIM_SPEED"
SLACK_TIMEOUT = 2  # real seconds a Slack call may take (loopback)
FLOOR = 0.2  # real seconds: no job runs more often than this, however fast the day goes


@dataclass(frozen=True)
class CompressedClock:
    """Simulated time: `origin` until the real moment `anchor` (so a process that starts
    slowly misses nothing), then `speed` times as fast."""

    origin: datetime
    anchor: float
    speed: float

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=max(0.0, time.time() - self.anchor) * self.speed)

    def real(self, moment: datetime) -> float:
        """The real time (Unix seconds) at which the simulated clock shows `moment`."""
        return self.anchor + (moment - self.origin).total_seconds() / self.speed

    def env(self) -> dict[str, str]:
        return {
            ORIGIN: self.origin.isoformat(),
            ANCHOR: repr(self.anchor),
            SPEED: repr(self.speed),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CompressedClock:
        origin = datetime.fromisoformat(env[ORIGIN])
        if origin.tzinfo is None:
            raise ValueError(f"{ORIGIN} needs a zone")
        return cls(origin, float(env[ANCHOR]), float(env[SPEED]))


def compressed(cadence: Cadence, speed: float) -> Cadence:
    """Every interval `speed` times shorter, none under FLOOR."""
    return Cadence(
        **{f.name: max(FLOOR, getattr(cadence, f.name) / speed) for f in fields(Cadence)}
    )


class SimulatedJobs(Jobs):
    """The service's jobs, delivering with the notifier's claim on an item measured in real
    seconds: a Slack call takes real seconds, `speed` times as many on the jobs' clock
    (unscaled, a 60 s claim would lapse in 8 ms while the post is still out). The claim
    outlasts the Slack client's timeout, as the notifier's CLAIM outlasts slack_sdk's 30 s.
    Otherwise Jobs.deliver as it is."""

    def deliver(self) -> int:
        assert isinstance(self.clock, CompressedClock)
        claim = timedelta(seconds=(SLACK_TIMEOUT + 1) * self.clock.speed)
        notifier = Notifier(self.engine, self.client, self.clock, claim=claim)
        sent = 0
        for _ in range(DELIVER_PASSES):
            report = notifier.deliver()
            sent += report.sent
            if report.stopped or not report.sent:
                break
        return sent


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_level, Redactor(settings_secrets(settings)))
    team_file = load_team_file(settings.aispend_config)
    clock = CompressedClock.from_env(os.environ)
    engine = make_engine(settings.database_url)
    token = settings.slack_bot_token
    client = WebClient(
        token=token.get_secret_value() if token else None,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
    )
    metrics = Metrics(engine, clock)
    leadership = Leadership(engine, SystemClock(), ttl=settings.aispend_lease_seconds)
    jobs = SimulatedJobs(engine, settings, team_file, client, clock, metrics)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    leadership.start()
    table = job_table(jobs, compressed(Cadence(), clock.speed))
    scheduler = build_scheduler(table, leadership, metrics, SystemClock().now())
    scheduler.start()
    logger.info("simulated day running", extra={"holder": leadership.holder})
    while not stopping.wait(0.1):
        pass
    scheduler.shutdown(wait=True)
    if leadership.check():
        logger.info("outbox flushed", extra={"sent": jobs.deliver()})
    leadership.stop()
    engine.dispose()
    logger.info("simulated day stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
