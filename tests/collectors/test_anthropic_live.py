"""The Anthropic collector's names and Claude Code days end to end: the real ProviderClient
over HTTP against the Anthropic stand-in on 127.0.0.1, with faults injected the way the real
API fails, and through collect_all into a store."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from bot.clock import FixedClock
from bot.collectors.anthropic import AnthropicCollector, anthropic_client
from bot.collectors.base import Window
from bot.collectors.http import RetryPolicy, make_http_client
from bot.domain import CodingToolDay, CostLine, DateRange, DisplayName, Origin, SpendQuery
from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorRateLimited,
    CollectorUnavailable,
)
from bot.jobs.collect import CollectContext, Outcome, collect_all
from bot.pricing import PriceBook
from bot.standins.anthropic import (
    API_KEYS_PATH,
    ARCHIVED_WORKSPACE,
    CI_KEY,
    CLAUDE_CODE_PATH,
    RETIRED_KEY,
    WORKSPACES_PATH,
    anthropic_routes,
    claude_code_days,
    display_name,
    error_fault,
    repeating_cursor,
    with_unknown_fields,
    without_field,
)
from bot.standins.server import Fault, StandIn, running
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.store.freshness import list_source_states
from bot.store.models import CodingToolUsage, DisplayNameRow, table_of
from bot.store.models import CostLine as StoredLine
from bot.store.queries import spend
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

KEY = "sk-ant-admin01-live-test"
SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=100, seed=7)
NOW = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)
START = datetime.combine(SPEC.start, time(), UTC)
END = datetime.combine(SPEC.end, time(), UTC) + timedelta(days=1)
WINDOW = Window(START, END)
TWO_DAYS = (START + timedelta(days=1), START + timedelta(days=3))
LIST_PAGE = 3  # 5 workspaces -> 2 pages, 10 keys -> 4 pages
CODE_PAGE = 2  # up to 6 actors a day -> up to 3 pages
TIMEOUT = 0.25  # the client's; Fault(delay=DELAY) outlasts it
DELAY = 0.5
ATTEMPTS = 3


@dataclass(frozen=True)
class Truth:
    costs: list[CostLine]
    usage: list[CostLine]
    coding: list[CodingToolDay]

    @property
    def lines(self) -> list[CostLine]:
        return [*self.costs, *self.usage]


@pytest.fixture(scope="module")
def truth() -> Truth:
    costs = [x for x in generate_cost_lines(SPEC) if x.provider == "anthropic"]
    usage = [x for x in generate_estimated_lines(SPEC) if x.provider == "anthropic"]
    return Truth(costs, usage, claude_code_days(costs, usage))


@pytest.fixture(scope="module")
def standin(truth: Truth) -> Iterator[StandIn]:
    """One simulator for the module (starting one per test costs more than the test)."""
    with running(anthropic_routes(admin_key=KEY, costs=truth.costs, usage=truth.usage)) as s:
        yield s


def _reset(standin: StandIn) -> StandIn:
    while standin.next_fault() is not None:
        pass
    standin.requests.clear()
    return standin


@pytest.fixture
def server(standin: StandIn) -> Iterator[StandIn]:
    """The simulator with no faults queued and no requests recorded, before and after."""
    yield _reset(standin)
    _reset(standin)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _collector(
    server: StandIn, sleeps: list[float], key: str = KEY, **sizes: int
) -> AnthropicCollector:
    http = make_http_client()
    http.timeout = httpx.Timeout(TIMEOUT)
    client = anthropic_client(
        http,
        key,
        base_url=server.url,
        policy=RetryPolicy(attempts=ATTEMPTS, base_delay=0.01),
        sleep=sleeps.append,
        jitter=lambda: 0.5,
    )
    return AnthropicCollector(client, **sizes)


@pytest.fixture
def collector(server: StandIn, sleeps: list[float]) -> Iterator[AnthropicCollector]:
    made = _collector(server, sleeps, list_page_size=LIST_PAGE, coding_page_size=CODE_PAGE)
    yield made
    made.client.http.close()


def _key(row: CodingToolDay) -> tuple[Any, ...]:
    return (row.day, row.actor, row.model)


def _sorted(rows: list[CodingToolDay]) -> list[CodingToolDay]:
    return sorted(rows, key=_key)


def _in(rows: list[CodingToolDay], start: datetime, end: datetime) -> list[CodingToolDay]:
    return _sorted([r for r in rows if start.date() <= r.day < end.date()])


def _expected_names(truth: Truth) -> set[DisplayName]:
    projects = {x.project for x in truth.lines if x.project}
    keys = {x.api_key for x in truth.lines if x.api_key}
    return {
        DisplayName("anthropic", "project", "", "Default Workspace"),
        DisplayName("anthropic", "project", *ARCHIVED_WORKSPACE),
        DisplayName("anthropic", "api_key", *CI_KEY),
        DisplayName("anthropic", "api_key", *RETIRED_KEY),
        *(DisplayName("anthropic", "project", p, display_name(p)) for p in projects),
        *(DisplayName("anthropic", "api_key", k, display_name(k)) for k in keys),
    }


# Clean runs: what the simulator serves is what the collector returns.


def test_coding_days_are_exactly_the_simulators_developer_days(collector, server, truth):
    days = collector.coding_days(START, END)
    assert _sorted(days) == _sorted(truth.coding)
    assert {d.actor for d in days} >= {"maya@example.com", CI_KEY[1]}
    spent = sum((d.estimated_cost for d in days), Decimal(0))
    assert spent == sum((d.estimated_cost for d in truth.coding), Decimal(0))
    assert spent > 0
    asked = [r for r in server.requests if r.path == CLAUDE_CODE_PATH]
    first_pages = [r.param("starting_at") for r in asked if r.param("page") is None]
    assert first_pages == [(SPEC.start + timedelta(days=n)).isoformat() for n in range(14)]
    assert {r.param("limit") for r in asked} == {str(CODE_PAGE)}
    assert len(asked) > len(first_pages)  # some days took more than one page


def test_the_last_day_is_not_reported_yet_and_comes_back_empty(collector, truth):
    today = datetime.combine(SPEC.end, time(), UTC)
    assert collector.coding_days(today, today + timedelta(days=1)) == []
    assert max(d.day for d in truth.coding) == SPEC.end - timedelta(days=1)


def test_the_simulator_serves_both_documented_date_forms(collector):
    dates = [
        collector.client.get_json(CLAUDE_CODE_PATH, {"starting_at": day.isoformat()})["data"][0][
            "date"
        ]
        for day in (SPEC.start, SPEC.start + timedelta(days=1))
    ]
    assert sorted(len(d) for d in dates) == [10, 20]  # YYYY-MM-DD and ...T00:00:00Z


def test_names_cover_the_default_workspace_archived_ones_and_every_key(collector, server, truth):
    names = collector.names()
    assert len(names) == len(set(names))
    assert set(names) == _expected_names(truth)
    workspaces = [r for r in server.requests if r.path == WORKSPACES_PATH]
    keys = [r for r in server.requests if r.path == API_KEYS_PATH]
    assert (len(workspaces), len(keys)) == (2, 4)
    assert {r.param("include_archived") for r in workspaces} == {"true"}
    assert [r.param("after_id") for r in keys] == [None, *(n.id for n in names[8:15:3])]
    assert {r.param("limit") for r in workspaces + keys} == {str(LIST_PAGE)}


def test_the_simulator_hides_archived_workspaces_unless_asked(collector):
    listed = collector.client.get_json(WORKSPACES_PATH, {"limit": 100})
    assert ARCHIVED_WORKSPACE[0] not in {w["id"] for w in listed["data"]}
    assert listed["has_more"] is False
    assert listed["last_id"] == listed["data"][-1]["id"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (CLAUDE_CODE_PATH, {}, "starting_at"),
        (CLAUDE_CODE_PATH, {"starting_at": "2026-11-10T00:00:00Z"}, "YYYY-MM-DD"),
        (CLAUDE_CODE_PATH, {"starting_at": "2026-11-10", "limit": 1001}, "limit"),
        (WORKSPACES_PATH, {"after_id": "wrkspc_01Nowhere"}, "after_id"),
        (API_KEYS_PATH, {"status": "lost"}, "status"),
    ],
)
def test_the_simulator_refuses_bad_queries_with_the_documented_body(server, path, params, message):
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with httpx.Client() as http:
        answer = http.get(server.url + path, params=params, headers=headers)
    assert answer.status_code == 400
    body = answer.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert message in body["error"]["message"]


# Faults, one endpoint at a time. Workspaces take 2 pages before the first api_keys request.

TARGETS = {"claude_code": (CLAUDE_CODE_PATH, 0), "workspaces": (WORKSPACES_PATH, 0)}
TARGETS["api_keys"] = (API_KEYS_PATH, 2)


def _call(collector: AnthropicCollector, target: str) -> list[Any]:
    if target == "claude_code":
        return _sorted(collector.coding_days(*TWO_DAYS))
    return collector.names()


def _aim(server: StandIn, target: str, *faults: Fault) -> None:
    """Inject `faults` so the first of them meets the target endpoint's first request."""
    server.inject(*[Fault()] * TARGETS[target][1], *faults)


@pytest.fixture(scope="module")
def clean(standin: StandIn) -> dict[str, tuple[list[Any], int]]:
    """Each target's clean answer and how many requests it takes."""
    collector = _collector(
        _reset(standin), [], list_page_size=LIST_PAGE, coding_page_size=CODE_PAGE
    )
    answers = {}
    for target in TARGETS:
        before = collector.client.requests
        answers[target] = (_call(collector, target), collector.client.requests - before)
    collector.client.http.close()
    return answers


TRANSIENT = {
    "429 Retry-After": (error_fault(429, retry_after="2"), 2.0),
    "500 api_error": (error_fault(500), 0.01),
    "502": (error_fault(502), 0.01),
    "503": (error_fault(503), 0.01),
    "529 overloaded_error": (error_fault(529), 0.01),
    "timeout": (Fault(delay=DELAY), 0.01),
    "connection reset": (Fault(reset=True), 0.01),
    "truncated body": (Fault(truncate=True), 0.01),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fault", TRANSIENT)
def test_transient_faults_are_retried_and_change_nothing(
    collector, server, sleeps, clean, target, fault
):
    injected, slept = TRANSIENT[fault]
    _aim(server, target, injected)
    assert _call(collector, target) == clean[target][0]
    assert collector.client.requests == clean[target][1] + 1
    assert sleeps == [slept]
    assert server.requests[TARGETS[target][1]].path == TARGETS[target][0]


def test_the_overloaded_answer_carries_the_documented_body(server):
    server.inject(error_fault(529))
    with httpx.Client() as http:
        answer = http.get(server.url + CLAUDE_CODE_PATH)
    assert answer.status_code == 529
    assert answer.json()["error"]["type"] == "overloaded_error"
    assert answer.json()["request_id"].startswith("req_")


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (error_fault(503), CollectorUnavailable, "answered 503"),
        (error_fault(529), CollectorUnavailable, "answered 529"),
        (error_fault(500), CollectorUnavailable, "answered 500"),
        (Fault(delay=DELAY), CollectorUnavailable, "timed out"),
        (Fault(reset=True), CollectorUnavailable, ""),
        (Fault(truncate=True), CollectorUnavailable, ""),
        (error_fault(429, retry_after="7"), CollectorRateLimited, r"rate limited \(429\)"),
    ],
)
def test_a_fault_that_outlasts_every_retry_is_reported(
    collector, server, sleeps, fault, error, message
):
    server.inject(*[fault] * ATTEMPTS)
    with pytest.raises(error, match=f"anthropic: {CLAUDE_CODE_PATH}.*{message}") as raised:
        collector.coding_days(*TWO_DAYS)
    assert collector.client.requests == ATTEMPTS
    assert len(sleeps) == ATTEMPTS - 1
    if isinstance(raised.value, CollectorRateLimited):
        assert raised.value.retry_after == 7.0


@pytest.mark.parametrize("target", ["claude_code", "workspaces"])
def test_a_wrong_key_is_refused_once_and_not_retried(server, sleeps, target):
    collector = _collector(server, sleeps, key="sk-ant-admin01-wrong")
    with pytest.raises(CollectorAuthError, match=f"anthropic: {TARGETS[target][0]}.*401"):
        _call(collector, target)
    assert collector.client.requests == 1
    collector.client.http.close()


@pytest.mark.parametrize("target", TARGETS)
def test_unknown_extra_fields_everywhere_change_nothing(collector, server, clean, target):
    _aim(server, target, *[with_unknown_fields()] * 4)
    assert _call(collector, target) == clean[target][0]
    assert collector.client.requests == clean[target][1]


@pytest.mark.parametrize(
    ("target", "path", "named"),
    [
        ("claude_code", ("data", 0, "actor"), "usage_report/claude_code: field 'data.0.actor'"),
        (
            "claude_code",
            ("data", 0, "model_breakdown", 0, "tokens", "output"),
            "field 'data.0.model_breakdown.0.tokens.output'",
        ),
        (
            "claude_code",
            ("data", 0, "core_metrics", "num_sessions"),
            "field 'data.0.core_metrics.num_sessions'",
        ),
        ("workspaces", ("data", 0, "name"), "workspaces: field 'data.0.name'"),
        ("api_keys", ("data", 0, "id"), "api_keys: field 'data.0.id'"),
        ("api_keys", ("data",), "api_keys: field 'data'"),
    ],
)
def test_a_missing_required_field_names_provider_and_field(
    collector, server, clean, target, path, named
):
    _aim(server, target, without_field(*path))
    with pytest.raises(CollectorDataError, match="anthropic: .*" + named.replace(".", r"\.")):
        _call(collector, target)
    assert collector.client.requests == TARGETS[target][1] + 1  # a data error is not retried


@pytest.mark.parametrize("target", TARGETS)
def test_paging_stops_on_a_repeating_cursor(collector, server, clean, target):
    _aim(server, target, repeating_cursor(), repeating_cursor())
    with pytest.raises(CollectorDataError, match=f"anthropic: {TARGETS[target][0]} repeated"):
        _call(collector, target)
    assert collector.client.requests == TARGETS[target][1] + 2


# Through collect_all into a store.

Snapshot = dict[str, Any]


def _context(engine: Engine) -> CollectContext:
    return CollectContext(engine, PriceBook(), Attribution({}), FixedClock(NOW))


def _plain(value: Any) -> Any:
    return value.normalize() if isinstance(value, Decimal) else value


def _rows(engine: Engine, model: Any, skip: set[str]) -> list[tuple[Any, ...]]:
    table = table_of(model)
    columns = [c for c in table.c if c.name not in skip]
    with engine.connect() as connection:
        rows = connection.execute(select(*columns)).all()
    return sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)


def _snapshot(engine: Engine) -> Snapshot:
    period = DateRange(SPEC.start, SPEC.end + timedelta(days=1))
    with engine.connect() as connection:
        totals = {
            origin: _plain(spend(connection, SpendQuery(period, origin=origin)).total)
            for origin in (Origin.BILLED, Origin.ESTIMATED)
        }
    return {
        "totals": totals,
        "cost_line": _rows(engine, StoredLine, {"id", "fetched_at"}),
        "coding_tool_usage": _rows(engine, CodingToolUsage, set()),
        "display_name": _rows(engine, DisplayNameRow, {"seen_at"}),
    }


def _run(engine: Engine, server: StandIn, sleeps: list[float]) -> Outcome:
    collector = _collector(server, sleeps)
    try:
        (outcome,) = collect_all(_context(engine), [collector], WINDOW)
    finally:
        collector.client.http.close()
    return outcome


@pytest.fixture(scope="module")
def clean_store(standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """What one clean run stores, in a store of its own."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('clean') / 'aispend.db'}")
    upgrade(engine)
    assert _run(engine, _reset(standin), []).ok
    snapshot = _snapshot(engine)
    engine.dispose()
    return snapshot


def test_a_clean_run_stores_spend_names_and_claude_code_days(engine, server, sleeps, truth):
    outcome = _run(engine, server, sleeps)
    assert outcome.ok
    assert outcome.lines == len(_rows(engine, StoredLine, set()))
    with engine.connect() as connection:
        rows = connection.execute(select(table_of(CodingToolUsage))).mappings().all()
        states = {s.source: s for s in list_source_states(connection)}
        billed = spend(
            connection, SpendQuery(DateRange(SPEC.start, SPEC.end), origin=Origin.BILLED)
        )
    stored = [CodingToolDay(**row) for row in rows]
    assert _sorted(stored) == _sorted(truth.coding)
    names = {DisplayName(*row) for row in _rows(engine, DisplayNameRow, {"seen_at"})}
    assert names == _expected_names(truth)
    assert billed.total == sum((x.cost or Decimal(0) for x in truth.costs), Decimal(0))
    coding = states["anthropic.claude_code"]
    assert (coding.last_error, coding.last_success) == ("", NOW)
    assert coding.complete_through == datetime.combine(SPEC.end, time(), UTC)
    assert states["anthropic.names"].last_success == NOW


def test_a_repeating_cursor_fails_the_run_and_leaves_the_store_as_it_was(engine, server, sleeps):
    server.inject(*[Fault()] * 3, repeating_cursor(), repeating_cursor())  # 1 cost, 2 usage pages
    outcome = _run(engine, server, sleeps)
    assert f"anthropic: {CLAUDE_CODE_PATH} repeated page cursor" in outcome.error
    assert _snapshot(engine)["cost_line"] == []
    with engine.connect() as connection:
        states = {s.source: s for s in list_source_states(connection)}
    assert states["anthropic.claude_code"].consecutive_failures == 1
    assert states["anthropic.costs"].last_success is None


CATALOGUE: list[list[Fault]] = [
    *([fault] for fault, _ in TRANSIENT.values()),
    [with_unknown_fields()],
    [without_field("data")],
    [without_field("data", 0, "actor")],
    [repeating_cursor(), repeating_cursor()],
    [error_fault(401)],
    [error_fault(503)] * ATTEMPTS,
    [error_fault(429, retry_after="1")] * ATTEMPTS,
]


def _mix(seed: int) -> list[Fault]:
    """About 30 requests' worth of faults and clean answers, shuffled by the seed."""
    rng = random.Random(seed)
    slots = [rng.choice(CATALOGUE) if rng.random() < 0.3 else [Fault()] for _ in range(30)]
    return [fault for slot in slots for fault in slot]


@pytest.mark.parametrize("seed", range(4))
def test_after_any_mix_of_faults_a_clean_run_stores_exactly_what_a_clean_run_does(
    engine, server, sleeps, clean_store, seed
):
    server.inject(*_mix(seed))
    for _ in range(3):
        outcome = _run(engine, server, sleeps)
        assert outcome.ok or outcome.error.startswith("anthropic: "), outcome.error
    while server.next_fault() is not None:
        pass
    assert _run(engine, server, sleeps).ok
    assert _snapshot(engine) == clean_store


def test_a_failed_name_lookup_loses_no_spend_and_is_retried_next_run(
    engine, server, sleeps, clean_store
):
    before_names = 3 + 14  # 1 cost page, 2 usage pages, a Claude Code page per day
    server.inject(*[Fault()] * before_names, without_field("data", 0, "name"))
    first = _run(engine, server, sleeps)
    assert first.ok
    assert server.requests[before_names].path == WORKSPACES_PATH
    with engine.connect() as connection:
        states = {s.source: s for s in list_source_states(connection)}
    assert "workspaces: field 'data.0.name'" in states["anthropic.names"].last_error
    assert _snapshot(engine)["display_name"] == []
    assert _snapshot(engine)["coding_tool_usage"] == clean_store["coding_tool_usage"]
    assert _run(engine, server, sleeps).ok
    assert _snapshot(engine) == clean_store
