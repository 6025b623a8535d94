"""The Google collector through google-cloud-bigquery against the BigQuery stand-in: a service
account's token, the query's parameters really filtering, paging, throttling and faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.collectors import build_collectors
from bot.collectors.base import Window
from bot.collectors.google import GoogleCollector, RetryBudget, google_collector
from bot.collectors.google_billing import AI_SERVICES, CREDITS_MODEL
from bot.collectors.http import make_http_client
from bot.config import AttributionConfig, Settings
from bot.domain import CostLine
from bot.errors import CollectorAuthError, CollectorUnavailable, ConfigError
from bot.jobs.collect import CollectContext, collect_all
from bot.pricing import PriceBook
from bot.standins.bigquery import BigQuery, fault, make_service_account, running_bigquery
from bot.standins.server import StandIn
from bot.store.attribution import Attribution
from bot.store.models import CollectorState, table_of
from bot.store.models import CostLine as CostLineRow
from bot.synthetic import ActivitySpec, generate_cost_lines
from bot.synthetic.gcp_export import TABLE, export_rows

END = date(2026, 11, 22)
SPEC = ActivitySpec(end=END, days=14, events_per_day=300, seed=4)
_COST, _STATE = table_of(CostLineRow), table_of(CollectorState)
FAST = RetryBudget(initial=0.01, maximum=0.02, deadline=3.0)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return export_rows(generate_cost_lines(SPEC))


@pytest.fixture
def bigquery(rows: list[dict[str, Any]]) -> Iterator[tuple[StandIn, BigQuery]]:
    with running_bigquery(TABLE, rows) as served:
        yield served


@pytest.fixture
def key_file(bigquery: tuple[StandIn, BigQuery], tmp_path: Path) -> Path:
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(bigquery[1].new_account().info))
    return path


def _settings(standin: StandIn, key_file: Path, **more: Any) -> Settings:
    return Settings(
        google_billing_table=TABLE,
        google_credentials_file=key_file,
        google_bigquery_url=standin.url,
        **more,
    )


def _collector(standin: StandIn, key_file: Path, page_size: int = 10_000) -> GoogleCollector:
    collector = google_collector(_settings(standin, key_file))
    assert collector is not None
    collector.budget, collector.page_size = FAST, page_size
    return collector


def _expected(rows: list[dict[str, Any]], start: date, end: date) -> tuple[Decimal, Decimal]:
    """Gross cost and credits of the AI rows in [start, end), read straight off the export."""
    gross = credits = Decimal(0)
    for row in rows:
        day = date.fromisoformat(row["usage_start_time"][:10])
        if (
            start <= day < end
            and row["cost_type"] == "regular"
            and row["service"]["description"] in AI_SERVICES
        ):
            gross += Decimal(repr(row["cost"]))
            credits += sum((Decimal(repr(c["amount"])) for c in row["credits"]), Decimal(0))
    return gross, credits


def _split(lines: list[CostLine]) -> tuple[Decimal, Decimal]:
    gross = sum((x.cost or Decimal(0) for x in lines if x.model != CREDITS_MODEL), Decimal(0))
    credits = sum((x.cost or Decimal(0) for x in lines if x.model == CREDITS_MODEL), Decimal(0))
    return gross, credits


def test_collect_reads_the_window_gross_and_credits_apart(bigquery, key_file, rows):
    standin, _ = bigquery
    start, end = END - timedelta(days=6), END - timedelta(days=2)
    lines = _collector(standin, key_file).collect(_midnight(start), _midnight(end))
    assert _split(lines) == _expected(rows, start, end)
    assert {x.bucket_start.date() for x in lines} == {start + timedelta(days=i) for i in range(4)}
    assert {x.project for x in lines} == {"acme-ai-prod", "acme-ai-staging"}
    assert all(x.label.startswith("team=") for x in lines)
    assert sum(x.tokens_in for x in lines) > 0
    assert sum(x.tokens_out for x in lines) > 0
    token_request, insert = standin.requests[:2]
    assert (token_request.method, token_request.path) == ("POST", "/token")
    assert insert.header(
        "Authorization",
    ).startswith("Bearer ya29.standin-")
    parameters = json.loads(insert.body)["configuration"]["query"]["queryParameters"]
    assert {p["name"] for p in parameters} >= {"start", "end", "services", "label_key"}


def test_paging_with_page_tokens_reads_every_row_once(bigquery, key_file, rows):
    standin, _ = bigquery
    window = (_midnight(END - timedelta(days=9)), _midnight(END))
    paged = _collector(standin, key_file, page_size=7).collect(*window)
    tokens = [r for r in standin.requests if r.param("pageToken")]
    assert len(tokens) >= 3
    whole = _collector(standin, key_file).collect(*window)
    assert sorted(paged, key=repr) == sorted(whole, key=repr)
    assert _split(paged) == _expected(rows, END - timedelta(days=9), END)


@pytest.mark.parametrize(
    "faults",
    [
        [fault(403, "rateLimitExceeded")],
        [fault(429, "rateLimitExceeded"), fault(503, "backendError")],
        [fault(500, "backendError"), fault(502, "badGateway")],
    ],
    ids=["403 rateLimitExceeded", "429 then 503", "500 then 502"],
)
def test_throttling_and_server_errors_are_retried(bigquery, key_file, rows, faults):
    standin, _ = bigquery
    collector = _collector(standin, key_file, page_size=20)
    window = (_midnight(END - timedelta(days=3)), _midnight(END))
    collector.collect(*window)  # the first run gets the token; faults hit the API calls
    standin.inject(*faults)
    lines = collector.collect(*window)
    assert _split(lines) == _expected(rows, END - timedelta(days=3), END)


def test_a_job_still_running_is_polled_until_done(bigquery, key_file, rows):
    standin, service = bigquery
    service.running_polls = 3
    start = END - timedelta(days=2)
    lines = _collector(standin, key_file).collect(_midnight(start), _midnight(END))
    assert _split(lines) == _expected(rows, start, END)
    polls = [r for r in standin.requests if r.method == "GET" and "/jobs/" in r.path]
    assert polls  # jobs.get asked for the job's state while it ran


def test_a_retried_insert_that_had_landed_is_not_run_twice(bigquery, key_file, rows):
    standin, service = bigquery
    collector = _collector(standin, key_file)
    window = (_midnight(END - timedelta(days=2)), _midnight(END))
    collector.collect(*window)
    standin.inject(replace(fault(503, "backendError"), after_effect=True))
    lines = collector.collect(*window)
    assert _split(lines) == _expected(rows, END - timedelta(days=2), END)
    inserts = [r for r in standin.requests if r.method == "POST" and r.path.endswith("/jobs")]
    assert len(inserts) == 3
    assert len(service.jobs) == 2


def test_an_unknown_service_account_is_an_auth_error(bigquery, tmp_path):
    standin, _ = bigquery
    stranger = make_service_account(standin.url + "/token", email="stranger@elsewhere.iam.example")
    path = tmp_path / "stranger.json"
    path.write_text(json.dumps(stranger.info))
    with pytest.raises(CollectorAuthError) as caught:
        _collector(standin, path).collect(_midnight(END - timedelta(days=1)), _midnight(END))
    assert "PRIVATE KEY" not in str(caught.value)


def test_a_bad_table_id_or_key_file_is_a_config_error(bigquery, tmp_path):
    standin, _ = bigquery
    with pytest.raises(ConfigError, match="table id"):
        google_collector(
            Settings(google_billing_table="x; DROP TABLE y", google_bigquery_url=standin.url)
        )
    path = tmp_path / "broken.json"
    path.write_text(
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----secret"}'
    )
    with pytest.raises(ConfigError, match="not a service account key file") as caught:
        google_collector(_settings(standin, path))
    assert "secret" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read it"):
        google_collector(_settings(standin, tmp_path / "missing.json"))


def test_the_registry_builds_google_only_when_its_table_is_set(bigquery, key_file):
    standin, _ = bigquery
    with make_http_client() as http:
        assert [c.provider for c in build_collectors(Settings(), http)] == []
        built = build_collectors(_settings(standin, key_file), http, only="google")
    assert [c.provider for c in built] == ["google"]


def test_collect_all_stores_it_attributed_by_label_and_records_failure_without_secrets(
    engine, bigquery, key_file, rows
):
    standin, _ = bigquery
    rules = (
        AttributionConfig(label="team=research", team="research"),
        AttributionConfig(label="support", team="support"),  # by the label's value alone
    )
    now = datetime(2026, 11, 22, 9, tzinfo=UTC)
    context = CollectContext(engine, PriceBook(), Attribution.from_rules(rules), FixedClock(now))
    window = Window(_midnight(END - timedelta(days=3)), _midnight(END))
    collector = _collector(standin, key_file)
    [outcome] = collect_all(context, [collector], window)
    assert outcome.ok
    assert outcome.lines > 0
    with engine.connect() as connection:
        stored = connection.execute(select(_COST.c.team, _COST.c.line_item, _COST.c.cost)).all()
    assert {team for team, _, _ in stored} == {"research", "support"}
    assert all(item.endswith(f"[team={team}]") for team, item, _ in stored)
    assert sum((cost for _, _, cost in stored), Decimal(0)) == sum(
        _expected(rows, window.start.date(), window.end.date())
    )

    collector.budget = RetryBudget(initial=0.01, maximum=0.02, deadline=0.3)
    standin.inject(*[fault(500, "backendError")] * 1000)
    [failed] = collect_all(context, [collector], window)
    assert not failed.ok
    with engine.connect() as connection:
        state = connection.execute(select(_STATE).where(_STATE.c.source == "google.billing")).one()
        after = connection.execute(select(_COST.c.cost)).all()
    assert "google" in state.last_error
    assert state.consecutive_failures == 1
    assert "ya29" not in state.last_error
    assert "PRIVATE" not in state.last_error
    assert len(after) == len(stored)  # the failed window left the store as it was


def test_a_failure_after_every_retry_is_unavailable(bigquery, key_file):
    standin, _ = bigquery
    collector = _collector(standin, key_file)
    window = (_midnight(END - timedelta(days=1)), _midnight(END))
    collector.collect(*window)  # the token is fetched; every API call after it fails
    collector.budget = RetryBudget(initial=0.01, maximum=0.02, deadline=0.3)
    standin.inject(*[fault(503, "backendError")] * 1000)
    with pytest.raises(CollectorUnavailable, match="google: BigQuery answered 503"):
        collector.collect(*window)
