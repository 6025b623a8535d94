"""The service's one WSGI app, served by waitress (bot.runtime.server):

- `GET /healthz`: open to all, and the only thing that is; says the process is up, its role,
  its Slack mode and whether it is the leader.
- `GET /metrics`: Prometheus text, with `Authorization: Bearer AISPEND_METRICS_TOKEN`.
- `POST /v1/events`: request-level events (JSON lines, CSV or OTLP/JSON, as `aispend
  ingest` reads them), with `Authorization: Bearer AISPEND_EVENTS_TOKEN`; good lines are
  stored, and each bad line is answered with its number and reason.
- `POST /slack/events` (HTTP mode): Slack's requests, checked here before Bolt sees them:
  signed with the signing secret, less than 5 minutes old, and never seen before (a
  replayed request is refused even inside the 5 minutes); then Bolt's WSGI adapter.

Bearer tokens are compared in constant time. Every body is bounded: a declared length over
the limit is refused with 413 before anything is read, and no more than the limit is read.
An endpoint whose token is not set is not served at all (404).
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine

from bot.ingest.readers import Format, iter_parsed
from bot.ingest.writer import MAX_KEPT_ERRORS, IngestReport, ingest
from bot.pricing import PriceBook
from bot.runtime.metrics import CONTENT_TYPE, Metrics
from bot.store.attribution import Attribution

logger = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

SLACK_PATH = "/slack/events"
EVENTS_PATH = "/v1/events"
SLACK_MAX_BYTES = 1 << 20  # Slack's payloads are far smaller; anything bigger is not Slack
REPLAY_WINDOW = 5 * 60.0  # seconds: Slack's own window for a request's timestamp
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_NAMES = {  # the media type says which reader, as a file's extension does for `aispend ingest`
    "text/csv": "request.csv",
    "application/x-ndjson": "request.jsonl",
    "application/jsonl": "request.jsonl",
    "application/json": "request.json",
}
_JSON = [("Content-Type", "application/json; charset=utf-8")]


@dataclass(frozen=True)
class EventsSink:
    """What /v1/events stores into: the store, with the team file's prices and attribution."""

    engine: Engine
    prices: PriceBook
    attribution: Attribution
    max_bytes: int


class ReplayGuard:
    """Signatures of the Slack requests accepted in the last REPLAY_WINDOW seconds: the same
    signed request sent again is refused (Slack never sends a request twice with the same
    timestamp). Kept per process, in memory."""

    def __init__(self, window: float = REPLAY_WINDOW) -> None:
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {s: t for s, t in self._seen.items() if t > now}
            expires = self._seen.get(signature)
            if expires is not None and expires > now:
                return False
            self._seen[signature] = now + self.window
            return True


@dataclass
class WebApp:
    """The WSGI app. `slack` is Bolt's WSGI handler (HTTP mode only) with the signing secret
    it verifies with; a token left None turns its endpoint off."""

    metrics: Metrics
    health: Callable[[], Mapping[str, Any]]
    slack: WsgiApp | None = None
    signing_secret: SecretStr | None = None
    events: EventsSink | None = None
    events_token: SecretStr | None = None
    metrics_token: SecretStr | None = None
    replays: ReplayGuard = field(default_factory=ReplayGuard)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/healthz":
                return self._healthz(method, start_response)
            if path == "/metrics" and self.metrics_token is not None:
                return self._metrics(environ, method, start_response)
            if path == EVENTS_PATH and self.events is not None and self.events_token is not None:
                return self._events(environ, method, start_response, self.events)
            if path == SLACK_PATH and self.slack is not None:
                return self._slack(environ, method, start_response, self.slack)
            return _answer(start_response, HTTPStatus.NOT_FOUND, {"error": "not found"})
        except _Refused as e:
            return _answer(start_response, e.status, {"error": e.reason}, e.headers)

    def _healthz(self, method: str, start_response: StartResponse) -> Iterable[bytes]:
        _allow(method, "GET", "HEAD")
        return _answer(start_response, HTTPStatus.OK, {"status": "ok", **self.health()})

    def _metrics(
        self, environ: dict[str, Any], method: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        _allow(method, "GET")
        _authorize(environ, self.metrics_token)
        text = self.metrics.text()
        start_response(
            "200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(text)))]
        )
        return [text]

    def _events(
        self, environ: dict[str, Any], method: str, start_response: StartResponse, sink: EventsSink
    ) -> Iterable[bytes]:
        _allow(method, "POST")
        _authorize(environ, self.events_token)
        source = _query(environ).get("source", "events")
        if not _SOURCE.match(source):
            raise _Refused(HTTPStatus.BAD_REQUEST, "source must be 1-64 of a-z 0-9 . _ -")
        fmt = _format(_query(environ).get("format", "auto"))
        body = _read_body(environ, sink.max_bytes)
        media = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        parsed = iter_parsed(
            io.BytesIO(body), fmt, source=source, name=_NAMES.get(media, "request")
        )
        report = ingest(sink.engine, parsed, prices=sink.prices, attribution=sink.attribution)
        self._count(report)
        return _answer(start_response, HTTPStatus.OK, events_answer(report))

    def _count(self, report: IngestReport) -> None:
        for outcome, count in (
            ("stored", report.stored),
            ("duplicate", report.duplicates),
            ("bad", report.bad),
        ):
            if count:
                self.metrics.events.labels(outcome).inc(count)

    def _slack(
        self, environ: dict[str, Any], method: str, start_response: StartResponse, slack: WsgiApp
    ) -> Iterable[bytes]:
        _allow(method, "POST")
        started = time.perf_counter()
        body = _read_body(environ, SLACK_MAX_BYTES)
        self._verify_slack(environ, body)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        answer = list(slack(environ, start_response))
        kind = _slack_kind(body, environ.get("CONTENT_TYPE", ""))
        self.metrics.slack_seconds.labels(kind).observe(time.perf_counter() - started)
        return answer

    def _verify_slack(self, environ: dict[str, Any], body: bytes) -> None:
        """Signed with our secret within 5 minutes (slack_sdk's check, constant time), and
        not seen before."""
        assert self.signing_secret is not None
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        verifier = SignatureVerifier(self.signing_secret.get_secret_value())
        if not (timestamp and signature):
            raise _Refused(HTTPStatus.UNAUTHORIZED, "not signed")
        if not verifier.is_valid(body, timestamp, signature):
            logger.warning("refused a Slack request: bad signature or older than 5 minutes")
            raise _Refused(HTTPStatus.UNAUTHORIZED, "invalid request")
        if not self.replays.first_time(signature):
            logger.warning("refused a Slack request: the same signed request seen before")
            raise _Refused(HTTPStatus.UNAUTHORIZED, "invalid request")


def events_answer(report: IngestReport) -> dict[str, Any]:
    """What /v1/events answers: counts, and each bad line's number and reason."""
    return {
        "records": report.records,
        "stored": report.stored,
        "duplicates": report.duplicates,
        "unpriced": report.unpriced,
        "bad": report.bad,
        "errors": [{"line": line, "reason": reason} for line, reason in report.errors],
        "errors_shown": min(report.bad, MAX_KEPT_ERRORS),
    }


class _Refused(Exception):
    def __init__(
        self, status: HTTPStatus, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or []


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _Refused(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"use {' or '.join(allowed)}",
            [("Allow", ", ".join(allowed))],
        )


def _authorize(environ: dict[str, Any], token: SecretStr | None) -> None:
    """`Authorization: Bearer TOKEN`, compared in constant time."""
    assert token is not None
    scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise _Refused(
            HTTPStatus.UNAUTHORIZED,
            "a valid bearer token is needed",
            [("WWW-Authenticate", "Bearer")],
        )


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if length > limit:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {limit} bytes")
        return bytes(environ["wsgi.input"].read(length))
    body = bytes(environ["wsgi.input"].read(limit + 1))
    if len(body) > limit:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {limit} bytes")
    return body


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(environ.get("QUERY_STRING", "")))


def _format(value: str) -> Format:
    try:
        return Format(value)
    except ValueError:
        known = ", ".join(f.value for f in Format)
        raise _Refused(HTTPStatus.BAD_REQUEST, f"format must be one of {known}") from None


def _slack_kind(body: bytes, content_type: str) -> str:
    if content_type.startswith("application/json"):
        return "event"
    if body.startswith(b"payload="):
        return "interactive"
    return "command" if b"command=" in body else "other"


def _answer(
    start_response: StartResponse,
    status: HTTPStatus,
    body: Mapping[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start_response(
        f"{status.value} {status.phrase}",
        [*_JSON, ("Content-Length", str(len(data))), *(headers or [])],
    )
    return [data]
