"""A small threaded HTTP server on 127.0.0.1 (port 0) with a route table and a fault queue.

Routes answer parsed GET and POST requests (a route key ending in "*" answers every path
under that prefix); `inject` makes the next requests fail the way real services do: an error
status with headers (429 with Retry-After), a delay longer than the client's timeout, a
connection reset, a body cut short of its Content-Length, or the real answer's body
rewritten (a field added or dropped). A fault marked `after_effect` lets the route run first,
so the request takes effect and only its answer is lost.
"""

from __future__ import annotations

import copy
import json
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: object = None  # JSON-encoded unless bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Fault:
    """What the next request gets instead of its answer."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: object = None
    delay: float = 0.0  # seconds to wait before answering
    reset: bool = False  # close the connection without an answer
    truncate: bool = False  # send half of the real body, then close
    rewrite: Callable[[Any], Any] | None = None  # edits a copy of a 200 answer's JSON body
    after_effect: bool = False  # the route runs first (its effect stays), then the fault


Route = Callable[[Request], Response]


class StandIn:
    """Answers GET and POST requests from `routes` (path -> handler); records every request."""

    def __init__(self, routes: Mapping[str, Route], tls: ssl.SSLContext | None = None) -> None:
        self.routes = dict(routes)
        self.requests: list[Request] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # https, for clients that refuse anything else (azure-identity)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def next_fault(self, request: Request | None = None) -> Fault | None:  # noqa: ARG002
        """The fault the request gets, if any: the next queued one here (subclasses choose
        by request)."""
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running(routes: Mapping[str, Route], tls: ssl.SSLContext | None = None) -> Iterator[StandIn]:
    standin = StandIn(routes, tls).start()
    try:
        yield standin
    finally:
        standin.stop()


def _handler_for(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out as two writes; without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive answer
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            parts = urlsplit(self.path)
            request = Request(
                self.command, parts.path, parse_qs(parts.query), dict(self.headers), body
            )
            standin.record(request)
            fault = standin.next_fault(request)
            done = _route(standin, request) if fault is not None and fault.after_effect else None
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.reset:
                self._reset()
                return
            response = _answer(standin, request, fault, done)
            self._send(response, truncate=fault is not None and fault.truncate)

        def _send(self, response: Response, *, truncate: bool) -> None:
            body = response.encoded()
            self.send_response(response.status)
            if not any(name.lower() == "content-type" for name in response.headers):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            if truncate:
                self.close_connection = True

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read `standin.requests` instead."""

    return Handler


def _answer(
    standin: StandIn, request: Request, fault: Fault | None, done: Response | None = None
) -> Response:
    if fault is not None and fault.status is not None:
        return Response(fault.status, fault.body, fault.headers)
    response = done if done is not None else _route(standin, request)
    if fault is not None and fault.rewrite is not None and response.status == 200:
        body = fault.rewrite(copy.deepcopy(response.body))
        return Response(response.status, body, response.headers)
    return response


def _route(standin: StandIn, request: Request) -> Response:
    route = standin.routes.get(request.path)
    if route is None:
        prefixes = [key for key in standin.routes if key.endswith("*")]
        for key in sorted(prefixes, key=len, reverse=True):
            if request.path.startswith(key[:-1]):
                route = standin.routes[key]
                break
    if route is None:
        return Response(404, {"error": {"message": f"no route {request.path}"}})
    return route(request)
