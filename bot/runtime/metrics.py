"""What /metrics shows, in Prometheus' text format: one registry per process (not the
library's global one), with the process's own counters (jobs, Slack requests, events) and
the store's state read at each scrape (collectors' success and lag, open incidents, the
outbox's depth), so every replica answers the same for the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock
from bot.store.freshness import list_source_states
from bot.store.incidents import open_incidents
from bot.store.outbox import depth

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SLACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0)


class Metrics:
    """The process's metrics. Pass the engine and clock to include the store's state."""

    def __init__(self, engine: Engine | None = None, clock: Clock | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.slack_seconds = Histogram(
            "aispend_slack_request_seconds",
            "Time to answer a request from Slack (the acknowledgement), by kind",
            ["kind"],
            buckets=_SLACK_BUCKETS,
            registry=self.registry,
        )
        self.job_runs = Counter(
            "aispend_job_runs",
            "Scheduled job runs, by job and outcome (ok, failed, skipped: not the leader)",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "aispend_job_seconds", "Time a scheduled job ran", ["job"], registry=self.registry
        )
        self.collector_runs = Counter(
            "aispend_collector_runs",
            "Collector runs in this process, by provider and outcome (ok, failed)",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.events = Counter(
            "aispend_events",
            "Request events posted to /v1/events, by outcome (stored, duplicate, bad)",
            ["outcome"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "aispend_leader",
            "1 while this process holds the leader lease and runs the scheduled jobs",
            registry=self.registry,
        )
        if engine is not None and clock is not None:
            self.registry.register(_StoreCollector(engine, clock))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    """The store's state at scrape time; a store that cannot be read gives no samples (and
    `aispend_store_up 0`) rather than failing the scrape."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read at scrape time only: never at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("aispend_store_up", "1 when the store answered this scrape")
        try:
            with self.engine.connect() as connection:
                sources = list_source_states(connection)
                incidents = open_incidents(connection)
                outbox = depth(connection)
        except SQLAlchemyError as e:
            logger.warning("metrics: cannot read the store: %s", type(e).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = self.clock.now()
        success = GaugeMetricFamily(
            "aispend_collector_last_success_timestamp_seconds",
            "When each source last collected successfully (Unix time)",
            labels=["source"],
        )
        lag = GaugeMetricFamily(
            "aispend_collector_lag_seconds",
            "How far behind now each source's data is complete through",
            labels=["source"],
        )
        failures = GaugeMetricFamily(
            "aispend_collector_consecutive_failures",
            "Failed runs in a row, per source",
            labels=["source"],
        )
        for state in sources:
            if state.last_success is not None:
                success.add_metric([state.source], state.last_success.timestamp())
            if state.complete_through is not None:
                behind = (now - state.complete_through).total_seconds()
                lag.add_metric([state.source], max(0.0, behind))
            failures.add_metric([state.source], state.consecutive_failures)
        yield from (success, lag, failures)
        open_ = GaugeMetricFamily(
            "aispend_incidents_open", "Open incidents, by severity", labels=["severity"]
        )
        counts: dict[str, int] = {"info": 0, "warning": 0, "critical": 0}
        for incident in incidents:
            counts[incident.severity] = counts.get(incident.severity, 0) + 1
        for severity, count in counts.items():
            open_.add_metric([severity], count)
        yield open_
        queue = GaugeMetricFamily(
            "aispend_outbox_items", "Slack outbox items, by status", labels=["status"]
        )
        for status in ("pending", "sent", "failed"):
            queue.add_metric([status], outbox.get(status, 0))
        yield queue
