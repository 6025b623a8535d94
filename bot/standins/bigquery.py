"""A stand-in for BigQuery's REST API (v2) and Google's OAuth token endpoint, enough for
google-cloud-bigquery's `client.query(...).result()` over a Cloud Billing export table.

- POST /token: a service account's signed JWT (RS256, checked against the account's public
  key, its issuer, expiry and Google's audience) for a bearer token; every API call must
  carry one.
- POST /bigquery/v2/projects/{p}/jobs (jobs.insert): runs the query at once; a job id used
  twice answers 409 duplicate, as BigQuery does when a retried insert had already landed.
- GET .../jobs/{id} (jobs.get) and GET .../queries/{id} (jobs.getQueryResults) with
  maxResults, pageToken and startIndex; `fields` trims the answer as the API does. With
  `running_polls`, a new job is RUNNING (jobComplete false) for that many status calls.
- POST .../queries (jobs.query): the same evaluation, first page in the answer.

It does not parse SQL. It checks that the query reads the configured table and evaluates the
filters the collector's query has from the request's named parameters (@start, @end,
@first_month, @last_month, @services, @label_key), with cost_type = 'regular' and the
partition bound, then groups and sums as that query does. Results use the API's row encoding
({"f": [{"v": ...}]}, REPEATED RECORD as a list of {"v": {"f": [...]}}). One liberty: NUMERIC
sums keep the synthetic amounts' ten decimals where BigQuery keeps nine. Errors have the API's
shape: {"error": {"code", "message", "errors": [{"reason", ...}], "status"}}; faults (403 or
429 rateLimitExceeded, 5xx) are injected through the shared server.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.standins.server import Fault, Request, Response, Route, StandIn

API_ROOT = "/bigquery/v2/projects/"
TOKEN_PATH = "/token"
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what google-auth signs for, always
DEFAULT_PAGE = 1000  # rows per page when maxResults is not given
_EXPORT_TIME = "%Y-%m-%d %H:%M:%S UTC"
_SCHEMA: list[dict[str, Any]] = [
    {"name": "usage_day", "type": "DATE", "mode": "NULLABLE"},
    {"name": "project_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "service", "type": "STRING", "mode": "NULLABLE"},
    {"name": "sku", "type": "STRING", "mode": "NULLABLE"},
    {"name": "label_value", "type": "STRING", "mode": "NULLABLE"},
    {"name": "currency", "type": "STRING", "mode": "NULLABLE"},
    {"name": "currency_conversion_rate", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "usage_unit", "type": "STRING", "mode": "NULLABLE"},
    {"name": "cost", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "usage_amount", "type": "FLOAT", "mode": "NULLABLE"},
    {
        "name": "credits",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [
            {"name": "name", "type": "STRING", "mode": "NULLABLE"},
            {"name": "amount", "type": "FLOAT", "mode": "NULLABLE"},
            {"name": "full_name", "type": "STRING", "mode": "NULLABLE"},
            {"name": "id", "type": "STRING", "mode": "NULLABLE"},
            {"name": "type", "type": "STRING", "mode": "NULLABLE"},
        ],
    },
]
_PARAMETERS = ("start", "end", "first_month", "last_month", "services", "label_key")
_CREDIT_FIELDS = ("name", "amount", "full_name", "id", "type")


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message

    def response(self) -> Response:
        return error_response(self.status, self.reason, self.message)


def error_response(status: int, reason: str, message: str) -> Response:
    """An error in the shape BigQuery's API answers with."""
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
    names |= {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED"}
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": names.get(status, "INTERNAL" if status >= 500 else "UNKNOWN"),
        }
    }
    return Response(status, body)


def fault(status: int, reason: str, message: str = "injected") -> Fault:
    """A fault answering with BigQuery's error body: fault(403, "rateLimitExceeded"),
    fault(429, "rateLimitExceeded"), fault(500, "backendError"), fault(503, "backendError")."""
    response = error_response(status, reason, message)
    return Fault(status=status, body=response.body)


@dataclass(frozen=True)
class ServiceAccount:
    """A made-up service account: its key file content and the public key that checks it."""

    info: dict[str, str]
    public_key: rsa.RSAPublicKey

    @property
    def email(self) -> str:
        return self.info["client_email"]


def make_service_account(
    token_uri: str, email: str = "aispend@acme-billing.iam.gserviceaccount.com"
) -> ServiceAccount:
    """A service account key file whose token_uri is `token_uri`. The RSA key is made once
    per process (it takes a while on a busy machine); accounts differ by email."""
    key = _rsa_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": email.split("@", 1)[1].split(".", 1)[0],
        "private_key_id": "standin-key-1",
        "private_key": pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    return ServiceAccount(info, key.public_key())


@functools.cache
def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class _Job:
    project: str
    job_id: str
    configuration: dict[str, Any]
    rows: list[dict[str, Any]]
    created_ms: int
    polls_left: int = 0  # jobs.get and getQueryResults calls that still see it running

    def poll(self) -> bool:
        """Whether the job is done, as one status call sees it."""
        if self.polls_left > 0:
            self.polls_left -= 1
            return False
        return True


@dataclass
class BigQuery:
    """The service's state: the export table's rows, accounts, issued tokens and jobs."""

    table: str
    rows: list[dict[str, Any]]
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    url: str = ""  # the stand-in's root, where token_uri points
    running_polls: int = 0  # status calls each new job answers RUNNING to before DONE
    jobs: dict[tuple[str, str], _Job] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: Iterator[int] = field(default_factory=itertools.count)

    def routes(self) -> dict[str, Route]:
        return {TOKEN_PATH: self._token, API_ROOT + "*": self._api}

    def new_account(self) -> ServiceAccount:
        """A service account this stand-in accepts, its token_uri pointing here."""
        account = make_service_account(self.url + TOKEN_PATH)
        with self._lock:
            self.accounts[account.email] = account
        return account

    # --- OAuth ----------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = parse_qs(request.body.decode())
        assertion = (form.get("assertion") or [""])[0]
        if (form.get("grant_type") or [""])[0] != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Response(400, {"error": "unsupported_grant_type"})
        claims = self._verified(assertion)
        if claims is None:
            return Response(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        token = f"ya29.standin-{next(self._serial)}"
        with self._lock:
            self.tokens.add(token)
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _verified(self, assertion: str) -> dict[str, Any] | None:
        try:
            head, body, signature = assertion.split(".")
            claims = json.loads(_unb64(body))
            account = self.accounts[claims["iss"]]
            account.public_key.verify(
                _unb64(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, KeyError, TypeError, InvalidSignature, binascii.Error):
            return None
        fresh = float(claims.get("exp", 0)) > time.time()
        return claims if fresh and claims.get("aud") == TOKEN_AUDIENCE else None

    # --- the API --------------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        auth = request.header("Authorization") or ""
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return error_response(
                401, "required", "Request is missing required authentication credential."
            )
        parts = request.path.removeprefix(API_ROOT).split("/")
        try:
            if len(parts) == 2 and parts[1] == "jobs" and request.method == "POST":
                return self._insert(parts[0], _json(request))
            if len(parts) == 3 and parts[1] == "jobs" and request.method == "GET":
                job = self._job(parts[0], parts[2])
                return Response(200, self._resource(job, done=job.poll()))
            if len(parts) == 2 and parts[1] == "queries" and request.method == "POST":
                return self._query(parts[0], _json(request))
            if len(parts) == 3 and parts[1] == "queries" and request.method == "GET":
                return Response(
                    200, _trimmed(self._results(self._job(parts[0], parts[2]), request), request)
                )
        except ApiError as e:
            return e.response()
        return error_response(404, "notFound", f"Not found: {request.method} {request.path}")

    def _insert(self, project: str, body: dict[str, Any]) -> Response:
        reference = body.get("jobReference") or {}
        job_id = str(reference.get("jobId") or f"job_{next(self._serial)}")
        with self._lock:
            if (project, job_id) in self.jobs:
                raise ApiError(409, "duplicate", f"Already Exists: Job {project}:US.{job_id}")
        job = self._run(project, job_id, body.get("configuration") or {})
        return Response(200, self._resource(job, done=not job.polls_left))

    def _query(self, project: str, body: dict[str, Any]) -> Response:
        configuration = {
            "query": {k: v for k, v in body.items() if k not in ("maxResults", "timeoutMs")}
        }
        job = self._run(project, f"job_{next(self._serial)}", configuration)
        if not job.poll():
            return Response(200, self._unfinished(job))
        limit = int(body.get("maxResults") or DEFAULT_PAGE)
        return Response(200, self._page(job, 0, limit))

    def _run(self, project: str, job_id: str, configuration: dict[str, Any]) -> _Job:
        query = configuration.get("query") or {}
        if query.get("useLegacySql", True) is not False:
            raise ApiError(400, "invalid", "Legacy SQL is not supported by this stand-in")
        text = str(query.get("query") or "")
        if f"`{self.table}`" not in text:
            raise ApiError(404, "notFound", "Not found: Table in the query")
        params = _parameters(query.get("queryParameters") or [])
        rows = evaluate(self.rows, params)
        created = int(time.time() * 1000)
        job = _Job(project, job_id, configuration, rows, created, self.running_polls)
        with self._lock:
            self.jobs[(project, job_id)] = job
        return job

    def _job(self, project: str, job_id: str) -> _Job:
        with self._lock:
            job = self.jobs.get((project, job_id))
        if job is None:
            raise ApiError(404, "notFound", f"Not found: Job {project}:{job_id}")
        return job

    def _resource(self, job: _Job, *, done: bool) -> dict[str, Any]:
        query = dict(job.configuration.get("query") or {})
        query["destinationTable"] = {
            "projectId": job.project,
            "datasetId": "_standin",
            "tableId": f"anon_{job.job_id}",
        }
        stamp = str(job.created_ms)
        return {
            "kind": "bigquery#job",
            "id": f"{job.project}:US.{job.job_id}",
            "jobReference": self._reference(job),
            "configuration": {**job.configuration, "query": query, "jobType": "QUERY"},
            "status": {"state": "DONE" if done else "RUNNING"},
            "statistics": {
                "creationTime": stamp,
                "startTime": stamp,
                "endTime": stamp,
                "totalBytesProcessed": "0",
                "query": {
                    "totalBytesProcessed": "0",
                    "totalBytesBilled": "0",
                    "cacheHit": False,
                    "statementType": "SELECT",
                },
            },
        }

    def _results(self, job: _Job, request: Request) -> dict[str, Any]:
        if not job.poll():
            return self._unfinished(job)
        limit = int(request.param("maxResults") or DEFAULT_PAGE)
        token = request.param("pageToken")
        offset = int(request.param("startIndex") or 0)
        if token is not None:
            offset = self._offset(job, token)
        return self._page(job, offset, limit)

    def _unfinished(self, job: _Job) -> dict[str, Any]:
        reference = self._reference(job)
        return {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": reference,
            "jobComplete": False,
        }

    def _page(self, job: _Job, offset: int, limit: int) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": self._reference(job),
            "schema": {"fields": _SCHEMA},
            "totalRows": str(len(job.rows)),
            "totalBytesProcessed": "0",
            "jobComplete": True,
            "cacheHit": False,
        }
        if limit > 0 and job.rows:
            answer["rows"] = [encode_row(row) for row in job.rows[offset : offset + limit]]
            if offset + limit < len(job.rows):
                answer["pageToken"] = _b64(f"{job.job_id}:{offset + limit}")
        return answer

    def _offset(self, job: _Job, token: str) -> int:
        try:
            owner, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            if owner == job.job_id:
                return int(offset)
        except (ValueError, binascii.Error):
            pass
        raise ApiError(400, "invalid", "Invalid page token")

    @staticmethod
    def _reference(job: _Job) -> dict[str, str]:
        return {"projectId": job.project, "jobId": job.job_id, "location": "US"}


# --- evaluation ----------------------------------------------------------------------------


def evaluate(rows: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The collector's query over export rows: filtered by the parameters, grouped, summed,
    credits concatenated, ordered by the grouping columns."""
    missing = [name for name in _PARAMETERS if name not in params]
    if missing:
        raise ApiError(400, "invalidQuery", f"Query parameter '{missing[0]}' not found")
    start, end = params["start"], params["end"]
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        usage_start = _moment(row["usage_start_time"])
        partition = _moment(row["export_time"]).replace(hour=0, minute=0, second=0)
        if not (
            partition >= start - timedelta(days=1)
            and start <= usage_start < end
            and params["first_month"] <= row["invoice"]["month"] <= params["last_month"]
            and row.get("cost_type") == "regular"
            and row["service"]["description"] in params["services"]
        ):
            continue
        label = next(
            (x["value"] for x in row.get("labels") or () if x["key"] == params["label_key"]), None
        )
        key = (
            usage_start.date(),
            row["project"]["id"],
            row["service"]["description"],
            row["sku"]["description"].strip(),
            label,
            row["currency"],
            row["currency_conversion_rate"],
            row["usage"]["unit"],
        )
        group = groups.setdefault(key, {"cost": Decimal(0), "usage_amount": 0.0, "credits": []})
        group["cost"] += Decimal(repr(row["cost"]))
        group["usage_amount"] += float(row["usage"]["amount"])
        group["credits"].extend(row.get("credits") or ())
    names = [f["name"] for f in _SCHEMA[:8]]
    return [dict(zip(names, key, strict=True)) | groups[key] for key in sorted(groups, key=_order)]


def encode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A result row in the API's encoding: every value a string (or null), in {"v": ...}."""
    cells: list[dict[str, Any]] = []
    for column in _SCHEMA:
        value = row.get(column["name"])
        if column["mode"] == "REPEATED":
            credits = [
                {"v": {"f": [{"v": _cell(c.get(f))} for f in _CREDIT_FIELDS]}} for c in value or ()
            ]
            cells.append({"v": credits})
        else:
            cells.append({"v": _cell(value)})
    return {"f": cells}


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("" if part is None else part for part in key[:5])


def _parameters(raw: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Named query parameters as Python values: TIMESTAMP as aware datetimes, ARRAY as lists."""
    values: dict[str, Any] = {}
    for param in raw:
        kind = param.get("parameterType", {}).get("type")
        value = param.get("parameterValue", {})
        if kind == "ARRAY":
            values[param["name"]] = [item.get("value") for item in value.get("arrayValues", [])]
        elif kind == "TIMESTAMP":
            values[param["name"]] = _moment(str(value.get("value")))
        else:
            values[param["name"]] = value.get("value")
    return values


def _moment(text: str) -> datetime:
    try:
        if text.endswith(" UTC"):
            return datetime.strptime(text, _EXPORT_TIME).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ApiError(400, "invalidQuery", f"Invalid timestamp: {text!r}") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as e:
        raise ApiError(400, "parseError", "Parse Error") from e
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    return body


def _trimmed(answer: dict[str, Any], request: Request) -> dict[str, Any]:
    """Only the top-level fields `fields` names, when it names some."""
    wanted = request.param("fields")
    if not wanted:
        return answer
    keep = {name.strip() for name in wanted.split(",")}
    return {k: v for k, v in answer.items() if k in keep}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextmanager
def running_bigquery(
    table: str, rows: list[dict[str, Any]], *, tokens: Sequence[str] = ()
) -> Iterator[tuple[StandIn, BigQuery]]:
    """The stand-in on 127.0.0.1 serving `rows` as the export `table`; `tokens` are bearer
    tokens it accepts without a token request."""
    service = BigQuery(table, rows, tokens=set(tokens))
    standin = StandIn(service.routes()).start()
    service.url = standin.url
    try:
        yield standin, service
    finally:
        standin.stop()
