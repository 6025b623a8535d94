"""/aispend over HTTP at scale: the real Bolt app (`create_app` as it comes) served on
127.0.0.1 over the query bench's 10M-event store, in a process of its own as the bot runs
apart from Slack, and sent Slack-signed slash commands `--concurrent` at once from as many
threads, each from another person with its own response URL minted by the Slack stand-in,
for `--rounds` rounds. Per command: the ack (the signed request's HTTP response time) and
the full answer (from sending until the stand-in, in this process, has the POST to the
response URL). The reference: a do-nothing WSGI app on the same server in a process of its
own, hit by the same client at the same concurrency, a burst before each of the app's, so
both see the machine alike and the ratio survives a noisy one. Also each question asked
alone. Each burst's answers are all waited for before the next burst."""

from __future__ import annotations

import argparse
import http.client
import importlib
import logging
import multiprocessing
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection, wait
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bench.data import END, emit
from bench.query import _store
from bot.clock import FixedClock
from bot.config import BudgetConfig, Settings, SlackConfig, TeamConfig, TeamFile
from bot.domain import Dimension
from bot.slack.app import AppContext, create_app
from bot.slack.listeners.replies import FAILED
from bot.standins.server import Request
from bot.standins.slack import BOT_TOKEN, SlackStandIn
from bot.synthetic.catalog import TEAMS

QUESTIONS = (
    "week by provider",
    "month by team",
    "30d by model",
    "top week by feature",
    "alerts",
    "status",
    "forecast",
    "wek by provider",  # a typo: help led by "week"
)
SECRET = "bench-signing-secret"
NOW = datetime(END.year, END.month, END.day, 18, tzinfo=UTC)
BACKLOG = 128  # the listen queue: socketserver's default of 5 refuses a burst of 50
ANSWER_TIMEOUT = 60.0  # seconds to wait for one answer before calling it lost
PATH = "/slack/events"
WAITRESS_THREADS = 16
STARTUP = 120.0  # seconds for a server process to open the store and listen

WsgiApp = Callable[..., Iterable[bytes]]


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrent", type=int, default=50, help="commands sent at once")
    parser.add_argument("--rounds", type=int, default=5, help="bursts timed (default 5)")
    parser.add_argument(
        "--server",
        choices=("wsgiref", "waitress"),
        default="wsgiref",
        help="the WSGI server: wsgiref threaded (default) or waitress, when installed",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the store again")


def run(args: argparse.Namespace) -> None:
    _store(args.events, args.rebuild).dispose()  # built here, opened by the app's process
    bolt = _Serve(args.server, args.events)
    with _slack() as slack, _served(_Serve(args.server)) as nothing, _served(bolt, slack) as url:
        client = _Client(url, slack, args.concurrent)
        started = time.perf_counter()
        warm = [client.ask(q) for q in QUESTIONS]  # page cache, auth.test: not timed
        _burst_acks(nothing, args.concurrent)
        emit(
            "slack_warmup",
            seconds=round(time.perf_counter() - started, 2),
            answered=sum(s.answered for s in warm),
        )
        single = {q: [client.ask(q) for _ in range(args.rounds)] for q in QUESTIONS}
        for question, sent in single.items():
            emit(
                "slack_single",
                question=question,
                ack_ms=_ms(statistics.median(s.ack for s in sent)),
                answer_ms=_ms(statistics.median(s.answer for s in sent)),
                answered=all(s.answered for s in sent),
            )
        burst: list[_Sent] = []
        reference: list[float] = []
        for _ in range(args.rounds):  # in turns, so both see the machine alike
            reference += _burst_acks(nothing, args.concurrent)
            burst += client.burst(args.concurrent)
    acks = [s.ack for s in burst]
    answers = [s.answer for s in burst]
    alone = [s for sent in single.values() for s in sent]
    emit(
        "slack_reference_ack",
        server=args.server,
        concurrent=args.concurrent,
        requests=len(reference),
        app="do-nothing WSGI app in its own process, same server and client, in turns",
        **_summary(reference),
    )
    emit(
        "slack_ack",
        events=args.events,
        server=args.server,
        concurrent=args.concurrent,
        commands=len(burst),
        **_summary(acks),
        target_p99_ms=100,
        reference_p99_ms=_ms(_p99(reference)),
        p99_vs_reference=round(_p99(acks) / _p99(reference), 2),
        alone_p50_ms=_ms(statistics.median(s.ack for s in alone)),
    )
    emit(
        "slack_answer",
        events=args.events,
        server=args.server,
        concurrent=args.concurrent,
        commands=len(burst),
        answered=sum(s.answered for s in burst),
        **_summary(answers),
        target_ms=1000,
        slowest=max(burst, key=lambda s: s.answer).question,
        alone_p50_ms=_ms(statistics.median(s.answer for s in alone)),
        alone_max_ms=_ms(max(s.answer for s in alone)),
    )


# -- the client --------------------------------------------------------------------------------


@dataclass
class _Sent:
    question: str
    ack: float  # seconds from sending to the HTTP response
    answer: float  # seconds from sending to the answer at the response URL
    answered: bool  # the answer came, and is an answer rather than "that failed"


class _Client:
    """Sends /aispend from #eng, each command of a burst from a different person."""

    def __init__(self, url: str, slack: _TimedSlack, people: int) -> None:
        self.url, self.slack = url, slack
        self.channel = slack.add_channel("eng").id
        self.users = [
            slack.add_user(f"asker{n}", channels=[self.channel]).id for n in range(people)
        ]

    def ask(self, question: str) -> _Sent:
        return self.burst(1, [question])[0]

    def burst(self, count: int, questions: Iterable[str] = QUESTIONS) -> list[_Sent]:
        """`count` commands, the questions in turn, sent at once from as many threads."""
        asked = list(questions)
        commands = [self._command(asked[i % len(asked)], self.users[i]) for i in range(count)]
        sent = _send_at_once(self.url, [body for _, body, _ in commands])
        results = []
        for (question, _, hook), (started, acked) in zip(commands, sent, strict=True):
            came = self.slack.wait(hook, ANSWER_TIMEOUT)
            answered = came is not None and self.slack.answered(hook)
            answer = (came if came is not None else started + ANSWER_TIMEOUT) - started
            results.append(_Sent(question, acked - started, answer, answered))
        return results

    def _command(self, text: str, user: str) -> tuple[str, bytes, str]:
        hook = self.slack.response_url(self.channel, user)
        body = urllib.parse.urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": self.slack.team_id,
                "team_domain": self.slack.team_domain,
                "channel_id": self.channel,
                "channel_name": "eng",
                "user_id": user,
                "user_name": "asker",
                "command": "/aispend",
                "text": text,
                "api_app_id": self.slack.app_id,
                "is_enterprise_install": "false",
                "response_url": hook,
                "trigger_id": "1.2.3",
            }
        )
        return text, body.encode(), hook


def _send_at_once(url: str, bodies: list[bytes]) -> list[tuple[float, float]]:
    """POST each body, signed as Slack signs it, from its own thread, all released together:
    (sent, acknowledged) perf_counter times for each, in order. A refused or failed request
    raises."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    ts = str(int(time.time()))
    verifier = SignatureVerifier(SECRET)
    signed = [(body, verifier.generate_signature(timestamp=ts, body=body)) for body in bodies]
    gate = threading.Barrier(len(bodies))

    def send(body: bytes, signature: str | None) -> tuple[float, float]:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or "",
        }
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            gate.wait()
            started = time.perf_counter()
            connection.request("POST", PATH, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            acked = time.perf_counter()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"the app answered {response.status}")
        return started, acked

    with ThreadPoolExecutor(len(bodies), thread_name_prefix="bench-client") as pool:
        return list(pool.map(lambda pair: send(*pair), signed))


def _burst_acks(url: str, concurrent: int) -> list[float]:
    """Ack times of one burst to the reference."""
    bodies = [b"command=%2Faispend&text=help"] * concurrent
    return [acked - started for started, acked in _send_at_once(url, bodies)]


# -- the Slack stand-in, timing answers ------------------------------------------------------


class _TimedSlack(SlackStandIn):
    """The stand-in, noting when each response URL is first posted to (the request read in
    full, before the stand-in's own bookkeeping)."""

    def __init__(self) -> None:
        super().__init__(clock=FixedClock(NOW))
        self._came: dict[str, float] = {}
        self._arrived = threading.Condition()

    def record(self, request: Request) -> None:
        at = time.perf_counter()
        if request.path.startswith("/response/"):
            with self._arrived:
                self._came.setdefault(f"{self.url}{request.path}", at)
                self._arrived.notify_all()
        super().record(request)

    def wait(self, hook: str, timeout: float) -> float | None:
        """When `hook` was first posted to, waiting up to `timeout` seconds."""
        with self._arrived:
            self._arrived.wait_for(lambda: hook in self._came, timeout)
            return self._came.get(hook)

    def answered(self, hook: str) -> bool:
        """Posted, accepted, and not our "that failed" reply."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            posts = [r for r in list(self.responses) if r.url == hook]
            if posts:
                return posts[0].status == 200 and posts[0].body.get("text") != FAILED
            time.sleep(0.001)  # noted on arrival, listed once handled: a moment later
        return False


@contextmanager
def _slack() -> Iterator[_TimedSlack]:
    slack = _TimedSlack()
    slack.start()
    try:
        yield slack
    finally:
        slack.stop()


# -- serving ---------------------------------------------------------------------------------


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = BACKLOG


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class _Serve:
    """What a server process serves, and with which server (wsgiref or waitress): the Bolt
    app over the store of `events` events when given a stand-in, else the reference."""

    server: str
    events: int = 0


@contextmanager
def _served(what: _Serve, slack: SlackStandIn | None = None) -> Iterator[str]:
    """`what` served from a process of its own, as the bot runs apart from Slack: the client
    threads and the stand-in stay out of its GIL. Yields the URL to POST to."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve,
        args=(what, slack.api_url if slack else None, theirs),
        name="bench-slack-app",
    )
    process.start()
    try:
        if ours not in wait([ours, process.sentinel], timeout=STARTUP):
            raise RuntimeError(f"the server process did not start (exit code {process.exitcode})")
        port = ours.recv()
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        if process.is_alive():
            ours.send("stop")
            process.join(30)
        if process.is_alive():
            process.terminate()
            process.join()


def _serve(what: _Serve, slack_api: str | None, pipe: Connection) -> None:
    """In the server process: serve until the pipe says stop."""
    with ExitStack() as stack:
        app: WsgiApp = _nothing
        if slack_api is not None:
            app = stack.enter_context(_bolt(what.events, slack_api))
        port = stack.enter_context(_waitress(app) if what.server == "waitress" else _wsgiref(app))
        pipe.send(port)
        pipe.recv()


@contextmanager
def _wsgiref(app: WsgiApp) -> Iterator[int]:
    """The threaded wsgiref server the tests use, with a listen backlog for bursts."""
    httpd = make_server("127.0.0.1", 0, app, _ThreadingWSGIServer, _QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextmanager
def _waitress(app: WsgiApp) -> Iterator[int]:
    """waitress, when installed (it is no dependency of the bot); quiet about its queue
    (a burst queues behind its threads by design)."""
    waitress = importlib.import_module("waitress")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    httpd = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=WAITRESS_THREADS, backlog=BACKLOG
    )
    thread = threading.Thread(target=httpd.run)
    thread.start()
    try:
        yield int(httpd.effective_port)
    finally:
        httpd.close()
        thread.join(timeout=5)


def _nothing(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The reference: reads the request and answers an empty 200, as an ack does."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]


@contextmanager
def _bolt(events: int, slack_api: str) -> Iterator[WsgiApp]:
    """The real app over the store, its Web API client pointed at the stand-in."""
    engine = _store(events, rebuild=False)
    context = AppContext(
        engine=engine,
        team_file=_team_file(),
        settings=Settings(_env_file=None, slack_signing_secret=SECRET),
        client=WebClient(token=BOT_TOKEN, base_url=slack_api),
        clock=FixedClock(NOW),
    )
    try:
        yield SlackRequestHandler(create_app(context))
    finally:
        context.background.shutdown(wait=True)
        engine.dispose()


def _team_file() -> TeamFile:
    """The synthetic company's teams, with an overall and a team budget."""
    return TeamFile(
        slack=SlackConfig(channel="#eng"),
        teams=tuple(TeamConfig(id=t.name, channel=t.channel) for t in TEAMS),
        budgets=(
            BudgetConfig(monthly=Decimal(1600)),
            BudgetConfig(monthly=Decimal(450), dimension=Dimension.TEAM, value="research"),
        ),
    )


# -- figures ---------------------------------------------------------------------------------


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": _ms(statistics.median(values)),
        "p99_ms": _ms(_p99(values)),
        "max_ms": _ms(max(values)),
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
