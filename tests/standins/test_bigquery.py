"""The BigQuery stand-in speaks the REST shapes and really evaluates the query's parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from bot.collectors.google import billing_query, query_parameters
from bot.standins.bigquery import BigQuery, running_bigquery
from bot.standins.server import StandIn
from bot.synthetic import ActivitySpec, generate_cost_lines
from bot.synthetic.gcp_export import TABLE, export_rows

TOKEN = "ya29.test-token"
START, END = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
JOBS = "/bigquery/v2/projects/acme-billing/jobs"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    spec = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=200, seed=6)
    return export_rows(generate_cost_lines(spec))


@pytest.fixture
def served(rows: list[dict[str, Any]]) -> Iterator[tuple[StandIn, BigQuery]]:
    with running_bigquery(TABLE, rows, tokens=[TOKEN]) as pair:
        yield pair


def _body(label_key: str = "team", table: str = TABLE, drop: str = "") -> dict[str, Any]:
    params = [p.to_api_repr() for p in query_parameters(START, END, label_key)]
    query = {
        "query": billing_query(table),
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": [p for p in params if p["name"] != drop],
    }
    return {"jobReference": {"jobId": "job-1"}, "configuration": {"query": query}}


def _post(standin: StandIn, body: dict[str, Any], token: str = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(standin.url + JOBS, json=body, headers=headers)


def _results(standin: StandIn, **params: Any) -> dict[str, Any]:
    url = f"{standin.url}/bigquery/v2/projects/acme-billing/queries/job-1"
    answer = httpx.get(url, params=params, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_no_bearer_token_is_401_in_the_apis_error_shape(served):
    standin, _ = served
    answer = _post(standin, _body(), token="")
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert (error["code"], error["status"], error["errors"][0]["reason"]) == (
        401,
        "UNAUTHENTICATED",
        "required",
    )


def test_the_window_parameters_filter_the_rows(served):
    standin, _ = served
    assert _post(standin, _body()).status_code == 200
    page = _results(standin, maxResults=1000)
    days = {row["f"][0]["v"] for row in page["rows"]}
    assert days == {"2026-11-10", "2026-11-11"}
    services = {row["f"][2]["v"] for row in page["rows"]}
    assert services == {"Vertex AI", "Generative Language API"}  # no storage, no tax rows
    assert int(page["totalRows"]) == len(page["rows"])


def test_the_label_key_parameter_chooses_the_label(served):
    standin, _ = served
    assert _post(standin, _body(label_key="env")).status_code == 200
    labels = {row["f"][4]["v"] for row in _results(standin, maxResults=1000)["rows"]}
    assert labels == {"prod", "staging"}


def test_pages_follow_the_page_token_and_a_foreign_token_is_refused(served):
    standin, _ = served
    assert _post(standin, _body()).status_code == 200
    first = _results(standin, maxResults=3)
    second = _results(standin, maxResults=3, pageToken=first["pageToken"])
    assert first["rows"] != second["rows"]
    assert len(first["rows"]) == len(second["rows"]) == 3
    trimmed = _results(standin, maxResults=3, fields="jobReference,totalRows,pageToken,rows")
    assert set(trimmed) == {"jobReference", "totalRows", "pageToken", "rows"}
    url = f"{standin.url}/bigquery/v2/projects/acme-billing/queries/job-1"
    bad = httpx.get(
        url, params={"pageToken": "bm90LW1pbmU6Mw=="}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert bad.status_code == 400


def test_a_missing_parameter_or_another_table_is_refused(served):
    standin, _ = served
    answer = _post(standin, _body(drop="end"))
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["reason"] == "invalidQuery"
    other = _post(standin, _body(table="other-proj.billing.gcp_billing_export_v1_X"))
    assert other.status_code == 404


def test_a_job_id_used_twice_is_a_duplicate(served):
    standin, service = served
    assert _post(standin, _body()).status_code == 200
    again = _post(standin, _body())
    assert again.status_code == 409
    assert again.json()["error"]["errors"][0]["reason"] == "duplicate"
    assert len(service.jobs) == 1


def test_jobs_query_answers_the_first_page_with_a_token_for_the_rest(served):
    standin, _ = served
    body = _body()["configuration"]["query"] | {"maxResults": 2}
    answer = httpx.post(
        standin.url + "/bigquery/v2/projects/acme-billing/queries",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    page = answer.json()
    assert page["jobComplete"] is True
    assert len(page["rows"]) == 2
    assert int(page["totalRows"]) > 2
    assert "pageToken" in page
