"""The Slack app end to end: the real Bolt app served over real HTTP on 127.0.0.1 (wsgiref
behind slack_bolt's WSGI adapter), sent requests signed exactly as Slack signs them, and
talking to the Slack stand-in through a real WebClient, over a SQLite store with spend in it.

Listeners acknowledge and work in the background, so each test waits for the effect it
expects on the stand-in (a response URL post, a chat.update, a views.publish)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.config import BudgetConfig, Settings, SlackConfig, TeamConfig, TeamFile
from bot.domain import Dimension
from bot.errors import ConfigError
from bot.jobs.alerting import alert_messages, enqueue_alerts
from bot.slack import ids
from bot.slack.app import LISTENERS, AppContext, create_app
from bot.slack.blocks import Block
from bot.slack.incidents import Handled, Handling, incident_root
from bot.slack.notifier import Notifier
from bot.standins.anthropic import anthropic_routes
from bot.standins.server import Fault, StandIn, running
from bot.standins.slack import BOT_TOKEN, Channel, ResponsePost, SlackStandIn, User, running_slack
from bot.store.db import make_engine, upgrade
from bot.store.incidents import (
    Change,
    IncidentView,
    RecordedEvent,
    events_since,
    get_incident,
    incident_events,
    open_incidents,
    record,
)
from bot.store.key_switches import latest_switches
from bot.store.outbox import Outgoing, enqueue
from tests.builders import at, line, write_lines

SECRET = "test-signing-secret"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WAIT = 5.0  # seconds to wait for background work to reach the stand-in


# -- the store ---------------------------------------------------------------------------------


def _spend(engine: Engine) -> None:
    """Thirty days of billed cost for two providers and three models, with growth spending
    more on gpt-5 lately."""
    lines = []
    for n in range(30):
        day = NOW.date() - timedelta(days=30 - n)
        midnight = at(day, 0)
        lines += [
            line(bucket_start=midnight, model="gpt-5", cost=Decimal(20 + (n if n > 22 else 0))),
            line(bucket_start=midnight, model="gpt-5-mini", cost=Decimal("4.50")),
            line(
                source="anthropic.costs",
                provider="anthropic",
                bucket_start=midnight,
                model="claude-sonnet-4-5",
                cost=Decimal("12.25"),
            ),
        ]
    write_lines(engine, lines)


SEARCH_KEY = "apikey_01SearchProd"
ANTHROPIC_ADMIN_KEY = "sk-ant-admin01-app-test-SECRET"


def _anthropic_lines() -> list[Any]:
    """What the Anthropic stand-in reports: a week of the search team's key."""
    return [
        line(
            source="anthropic.usage",
            provider="anthropic",
            bucket_start=at(NOW.date() - timedelta(days=n), 0),
            model="claude-sonnet-4-5",
            api_key=SEARCH_KEY,
            project="wrkspc_01Search",
            cost=None,
            tokens_in=1000,
            tokens_out=100,
        )
        for n in range(1, 8)
    ]


def _open_incident(engine: Engine) -> int:
    change = Change(
        kind="spike",
        cadence="daily",
        key=("model", "provider:openai", "model:gpt-5"),
        opened_at=datetime(2026, 11, 18, 6, tzinfo=UTC),
        action="open",
        severity="critical",
        summary="model gpt-5 on openai: $52.10 on 2026-11-17 against a usual $20.00 (2.6x)",
        team="growth",
        projected_impact=Decimal("640.00"),
        observed=Decimal("52.10"),
    )
    with engine.begin() as connection:
        record(connection, [change], NOW - timedelta(hours=2))
        [incident] = open_incidents(connection)
    return incident.id


# -- the app, served -------------------------------------------------------------------------


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # 50 commands connect at once; the default backlog is 5


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Served:
    url: str
    slack: SlackStandIn
    engine: Engine
    eng: Channel
    owner: User
    admin: User
    context: AppContext
    anthropic: StandIn  # the Anthropic Admin API, whose keys an admin may pause

    def post(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> tuple[int, str, float]:
        """POST `body` signed as Slack signs it: status, body, and seconds to the answer."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature or sign(body, ts)
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sig,
            },
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode(), time.perf_counter() - started
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), time.perf_counter() - started

    def command(self, text: str, *, user: User | None = None) -> tuple[int, str, str]:
        """/aispend `text` from `user` (the owner) in #eng: status, body, response URL."""
        who = user or self.owner
        response_url = self.slack.response_url(self.eng.id, who.id)
        status, body, _ = self.post(
            slash_body(text, user=who.id, channel=self.eng.id, url=response_url)
        )
        return status, body, response_url

    def press(
        self,
        action_id: str,
        value: str,
        *,
        user: User,
        message: dict[str, Any] | None = None,
    ) -> tuple[int, str, str]:
        """A button press on `message` (a channel message) or on an ephemeral answer."""
        ts = message["ts"] if message else None
        response_url = self.slack.response_url(self.eng.id, user.id, message_ts=ts)
        payload = actions_payload(
            action_id, value, user=user.id, channel=self.eng.id, url=response_url, message=message
        )
        status, body, _ = self.post("payload=" + urllib.parse.quote(json.dumps(payload)))
        return status, body, response_url


def sign(body: str, timestamp: str) -> str:
    """What Slack puts in X-Slack-Signature: v0= and the HMAC of v0:timestamp:body."""
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


def slash_body(text: str, *, user: str, channel: str, url: str) -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0STANDIN",
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "eng",
            "user_id": user,
            "user_name": "someone",
            "command": "/aispend",
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": url,
            "trigger_id": "1.2.3",
        }
    )


def actions_payload(
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str,
    url: str,
    message: dict[str, Any] | None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "type": "message",
        "channel_id": channel,
        "is_ephemeral": message is None,
    }
    if message is not None:
        container["message_ts"] = message["ts"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T0STANDIN"},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": "111.222.abc",
        "team": {"id": "T0STANDIN", "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "eng"},
        "state": {"values": {}},
        "response_url": url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b",
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if message is not None:
        payload["message"] = message
    return payload


def _team_file(admin: str) -> TeamFile:
    return TeamFile(
        slack=SlackConfig(channel="#eng", admins=(admin,)),
        teams=(TeamConfig(id="growth", channel="#eng"),),
        budgets=(
            BudgetConfig(monthly=Decimal(2000)),
            BudgetConfig(monthly=Decimal(300), dimension=Dimension.PROVIDER, value="anthropic"),
        ),
    )


@pytest.fixture(autouse=True)
def _no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and Bolt both read these when they are not given them."""
    for name in ("BOT_TOKEN", "SIGNING_SECRET", "APP_TOKEN", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"SLACK_{name}", raising=False)


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """The app over HTTP; indirect param True builds it with process_before_response."""
    engine = make_engine(f"sqlite:///{tmp_path}/aispend.db")
    upgrade(engine)
    _spend(engine)
    routes = anthropic_routes(admin_key=ANTHROPIC_ADMIN_KEY, costs=[], usage=_anthropic_lines())
    with running_slack() as slack, running(routes) as anthropic:
        eng = slack.add_channel("eng")
        owner = slack.add_user("owner", channels=[eng.id])
        admin = slack.add_user("admin", channels=[eng.id])
        settings = Settings(
            _env_file=None,
            slack_signing_secret=SECRET,
            anthropic_admin_key=ANTHROPIC_ADMIN_KEY,
            anthropic_base_url=anthropic.url,
        )
        context = AppContext(
            engine=engine,
            team_file=_team_file(admin.id),
            settings=settings,
            client=WebClient(token=BOT_TOKEN, base_url=slack.api_url),
            clock=FixedClock(NOW),
        )
        app = create_app(context, process_before_response=getattr(request, "param", False))
        server = make_server(
            "127.0.0.1", 0, SlackRequestHandler(app), _ThreadingWSGIServer, _QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            port = server.server_address[1]
            yield Served(
                f"http://127.0.0.1:{port}/slack/events",
                slack,
                engine,
                eng,
                owner,
                admin,
                context,
                anthropic,
            )
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
            context.background.shutdown(wait=True)
            engine.dispose()


def _posts(slack: SlackStandIn, url: str, count: int = 1) -> list[ResponsePost]:
    """The posts to one response URL, once there are `count` of them."""
    deadline = time.monotonic() + WAIT
    while len(found := [r for r in slack.responses if r.url == url]) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} posts to {url}, wanted {count}")
        time.sleep(0.01)
    return found


def _texts(blocks: list[Block]) -> str:
    """Every piece of text in the blocks, for asserting on what a person reads."""
    return json.dumps(blocks, ensure_ascii=False)


def _buttons(blocks: list[Block]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


# -- /aispend --------------------------------------------------------------------------------


def test_a_command_is_acknowledged_with_an_empty_200_and_answered_ephemerally(served):
    status, body, url = served.command("week")
    assert (status, body) == (200, "")
    [post] = _posts(served.slack, url)
    assert post.status == 200
    assert post.body["response_type"] == "ephemeral"
    assert "AI spend, last 7 days" in post.body["text"]
    blocks = post.body["blocks"]
    assert "· total *$" in blocks[0]["text"]["text"]
    [share] = _buttons(blocks)
    assert share["action_id"] == ids.SHARE_ANSWER
    assert share["value"] == f"{NOW.date()}|week"
    [ephemeral] = served.slack.ephemerals
    assert ephemeral.user == served.owner.id  # only the asker sees it
    assert served.slack.messages(served.eng.id) == []


@pytest.mark.parametrize("served", [True], indirect=True)
def test_process_before_response_acknowledges_and_answers_the_same_way(served):
    status, body, url = served.command("month by provider")
    assert (status, body) == (200, "")
    assert "AI spend, month to date" in _posts(served.slack, url)[0].body["text"]


def test_report_by_dimension_and_top_use_the_report_grammar(served):
    _, _, by_model = served.command("month by model")
    _, _, top = served.command("top 7d by model")
    report = _posts(served.slack, by_model)[0].body
    assert "gpt-5-mini" in _texts(report["blocks"])
    moved = _posts(served.slack, top)[0].body
    assert moved["text"].startswith("What moved most: AI spend, last 7 days")
    assert "gpt-5" in moved["text"]


def test_a_typo_gets_help_led_by_the_closest_valid_word(served):
    _, _, url = served.command("wek by modle")
    [post] = _posts(served.slack, url)
    assert 'Did you mean "week"?' in post.body["text"]
    assert "Did you mean `week`?" in _texts(post.body["blocks"])
    assert _buttons(post.body["blocks"]) == []  # nothing to share


def test_a_mistake_without_a_suggestion_is_explained(served):
    _, _, url = served.command("top week")
    [post] = _posts(served.slack, url)
    assert "top needs a dimension" in post.body["text"]


def test_empty_text_and_help_show_the_grammar(served):
    for text in ("", "help"):
        _, _, url = served.command(text)
        [post] = _posts(served.slack, url)
        assert "Usage: /aispend" in post.body["text"]


def test_forecast_budget_alerts_and_status_answer(served):
    _open_incident(served.engine)
    urls = {verb: served.command(verb)[2] for verb in ("forecast", "budget", "alerts", "status")}
    forecast = _posts(served.slack, urls["forecast"])[0].body
    assert forecast["text"].startswith("Month-end forecast, November 2026: all spend")
    budget = _posts(served.slack, urls["budget"])[0].body
    assert budget["text"].startswith("Budgets this month: 2 budgets")
    assert "provider anthropic" in _texts(budget["blocks"])
    alerts = _posts(served.slack, urls["alerts"])[0].body
    assert alerts["text"].startswith("1 open alert: model gpt-5 on openai")
    assert "1 unacknowledged" in _texts(alerts["blocks"])
    status = _posts(served.slack, urls["status"])[0].body
    assert status["text"] == "No source has been collected yet."
    for answer in (forecast, budget, alerts, status):
        assert [b["action_id"] for b in _buttons(answer["blocks"])] == [ids.SHARE_ANSWER]


def _permalink(served: Served, ts: str) -> str:
    """What Slack's chat.getPermalink says the message's link is."""
    answer = served.context.client.chat_getPermalink(channel=served.eng.id, message_ts=ts)
    return str(answer["permalink"])


def test_alerts_link_to_their_threads_once_posted(served):
    incident_id = _open_incident(served.engine)
    _, _, before = served.command("alerts")
    assert "slack.com/archives" not in _texts(_posts(served.slack, before)[0].body["blocks"])
    root = _post_root(served, incident_id)
    _, _, after = served.command("alerts")
    shown = _texts(_posts(served.slack, after)[0].body["blocks"])
    assert f"<{_permalink(served, root['ts'])}|#{incident_id}>" in shown
    assert len(served.slack.calls("auth.test")) == 2  # Bolt's own at start, then one, kept
    served.command("alerts")
    assert len(served.slack.calls("auth.test")) == 2


def test_alerts_answer_without_links_while_slack_cannot_say_the_workspace(served):
    incident_id = _open_incident(served.engine)
    root = _post_root(served, incident_id)
    served.slack.fail(Fault(status=503), method="auth.test")
    _, _, url = served.command("alerts")
    answer = _posts(served.slack, url)[0].body
    assert answer["text"].startswith("1 open alert")
    assert "slack.com/archives" not in _texts(answer["blocks"])
    _, _, again = served.command("alerts")  # asked again, and kept once it answers
    assert _permalink(served, root["ts"]) in _texts(_posts(served.slack, again)[0].body["blocks"])


def test_budget_set_is_refused_to_people_who_are_not_admins(served):
    _, _, url = served.command("budget set team:growth 500")
    [post] = _posts(served.slack, url)
    assert "only the admins listed in aispend.toml" in post.body["text"]


def test_budget_set_tells_an_admin_the_entry_to_add_and_stores_nothing(served):
    _, _, url = served.command("budget set team:growth $1,500", user=served.admin)
    [post] = _posts(served.slack, url)
    said = post.body["blocks"][0]["text"]["text"]
    assert "nothing was set" in said
    assert 'monthly = 1500\ndimension = "team"\nvalue = "growth"' in said
    _, _, url = served.command("budget set growth lots", user=served.admin)
    assert "budget set needs a scope and an amount" in _posts(served.slack, url)[0].body["text"]


# -- construction ----------------------------------------------------------------------------


def test_serving_over_http_needs_a_signing_secret(tmp_path):
    context = AppContext(
        engine=make_engine(f"sqlite:///{tmp_path}/unused.db"),
        team_file=TeamFile(),
        settings=Settings(_env_file=None),
        client=WebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/"),
    )
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        create_app(context)


def test_socket_mode_needs_no_signing_secret_and_registers_every_listener(tmp_path):
    with running_slack() as slack:
        context = AppContext(
            engine=make_engine(f"sqlite:///{tmp_path}/unused.db"),
            team_file=TeamFile(),
            settings=Settings(_env_file=None),
            client=WebClient(token=BOT_TOKEN, base_url=slack.api_url),
        )
        app = create_app(context, socket_mode=True)
        assert len(slack.calls("auth.test")) == 1  # Bolt checks the token once, at start
    assert len(app._listeners) == len(LISTENERS)


# -- request verification --------------------------------------------------------------------


def test_a_bad_signature_is_refused_with_401_and_nothing_runs(served):
    url = served.slack.response_url(served.eng.id, served.owner.id)
    body = slash_body("week", user=served.owner.id, channel=served.eng.id, url=url)
    status, answer, _ = served.post(body, signature="v0=" + "0" * 64)
    assert (status, json.loads(answer)) == (401, {"error": "invalid request"})
    time.sleep(0.2)
    assert served.slack.responses == []


def test_a_request_signed_more_than_five_minutes_ago_is_refused(served):
    url = served.slack.response_url(served.eng.id, served.owner.id)
    body = slash_body("week", user=served.owner.id, channel=served.eng.id, url=url)
    status, _, _ = served.post(body, timestamp=int(time.time()) - 301)
    assert status == 401
    status, _, _ = served.post(body, timestamp=int(time.time()) - 200)
    assert status == 200


def test_the_signature_covers_the_exact_body(served):
    url = served.slack.response_url(served.eng.id, served.owner.id)
    body = slash_body("week", user=served.owner.id, channel=served.eng.id, url=url)
    ts = str(int(time.time()))
    signature = sign(body, ts)
    tampered = body.replace("text=week", "text=month")
    status, _, _ = served.post(tampered, timestamp=int(ts), signature=signature)
    assert status == 401


# -- Share to channel ------------------------------------------------------------------------


def test_share_posts_the_same_answer_in_the_channel_naming_who_shared_it(served):
    _, _, url = served.command("month by provider")
    [answer] = _posts(served.slack, url)
    [share] = _buttons(answer.body["blocks"])
    status, body, press_url = served.press(ids.SHARE_ANSWER, share["value"], user=served.owner)
    assert (status, body) == (200, "")
    [post] = _posts(served.slack, press_url)
    assert post.body["response_type"] == "in_channel"
    [message] = served.slack.messages(served.eng.id)
    assert message.text == answer.body["text"]
    assert _buttons(message.blocks or []) == []
    assert message.blocks is not None
    assert message.blocks[:-1] == answer.body["blocks"][:-1]  # the answer, less its button
    shared = message.blocks[-1]["elements"][0]["text"]
    assert shared == f"Shared by <@{served.owner.id}> · `/aispend month by provider`"


# -- incident buttons ------------------------------------------------------------------------


def _post_root(served: Served, incident_id: int, *, pause_key: str | None = None) -> dict[str, Any]:
    """What the alerting job does: enqueue the root under its key and deliver it. Returns
    the root as an action payload carries it."""
    with served.engine.connect() as connection:
        view = get_incident(connection, incident_id)
    assert view is not None
    root = incident_root(view, owner=served.owner.id, pause_key=pause_key)
    item = Outgoing(f"incident:{incident_id}:root", "post", served.eng.id, root.payload())
    with served.engine.begin() as connection:
        enqueue(connection, [item], NOW)
    assert Notifier(served.engine, served.context.client, served.context.clock).deliver().sent == 1
    [message] = served.slack.messages(served.eng.id)
    return message.as_slack(metadata=False)


def test_acknowledge_rewrites_the_root_in_place_with_who_and_when(served):
    incident_id = _open_incident(served.engine)
    root = _post_root(served, incident_id)
    status, body, _ = served.press(
        ids.INCIDENT_ACK, str(incident_id), user=served.owner, message=root
    )
    assert (status, body) == (200, "")
    [update] = served.slack.wait_for("chat.update", timeout=WAIT)
    assert (update.args["channel"], update.args["ts"]) == (served.eng.id, root["ts"])
    stored = served.slack.message(served.eng.id, root["ts"])
    assert stored.blocks is not None
    assert _buttons(stored.blocks) == []
    handled = next(b for b in stored.blocks if b.get("block_id") == ids.INCIDENT_HANDLED_BLOCK)
    said = handled["elements"][0]["text"]
    assert said.startswith(
        f":eyes: Acknowledged by <@{served.owner.id}> <!date^{int(NOW.timestamp())}^"
    )
    assert f"acknowledged by <@{served.owner.id}>" in stored.text
    assert "*Owner*" in _texts(stored.blocks)  # the rest of the root is as it was
    with served.engine.connect() as connection:
        view = get_incident(connection, incident_id)
    assert view is not None
    assert (view.handled, view.handled_by, view.handled_at) == (
        "acknowledged",
        served.owner.id,
        NOW,
    )


def test_a_root_the_alerting_job_posted_is_rewritten_the_same_way(served):
    incident_id = _open_incident(served.engine)
    with served.engine.begin() as connection:
        assert enqueue_alerts(connection, served.context.team_file, NOW) == 1
    Notifier(served.engine, served.context.client, served.context.clock).deliver()
    [posted] = served.slack.messages(served.eng.id)
    root = posted.as_slack(metadata=False)
    served.press(ids.INCIDENT_NOT_ANOMALY, str(incident_id), user=served.owner, message=root)
    served.slack.wait_for("chat.update", timeout=WAIT)
    with served.engine.connect() as connection:
        view = get_incident(connection, incident_id)
    assert view is not None
    assert view.feedback == "not_anomaly"  # the detector learns from it
    posts = alert_messages(
        view, _last_event(served.engine, incident_id), served.context.team_file, has_root=True
    )
    assert posts == []  # a press's own event posts nothing: the app rewrote the root
    stored = served.slack.message(served.eng.id, root["ts"])
    assert stored.blocks == incident_root(view, handled=_handled_of(view)).blocks


def _last_event(engine: Engine, incident_id: int) -> RecordedEvent:
    with engine.connect() as connection:
        return events_since(connection, NOW - timedelta(days=1))[-1]


def _handled_of(view: IncidentView) -> Handled:
    assert view.handled_at is not None
    return Handled(Handling(view.handled), view.handled_by, view.handled_at, view.handled_until)


def test_a_second_press_changes_nothing_and_says_who_was_first(served):
    incident_id = _open_incident(served.engine)
    root = _post_root(served, incident_id)
    served.press(ids.INCIDENT_ACK, str(incident_id), user=served.owner, message=root)
    served.slack.wait_for("chat.update", timeout=WAIT)
    _, _, url = served.press(ids.INCIDENT_SNOOZE, str(incident_id), user=served.admin, message=root)
    [reply] = _posts(served.slack, url)
    assert reply.body["response_type"] == "ephemeral"
    assert reply.body["text"].startswith(
        f"Already handled: :eyes: Acknowledged by <@{served.owner.id}>"
    )
    assert len(served.slack.calls("chat.update")) == 1
    with served.engine.connect() as connection:
        view = get_incident(connection, incident_id)
    assert view is not None
    assert view.handled == "acknowledged"


def test_snooze_says_until_when(served):
    incident_id = _open_incident(served.engine)
    root = _post_root(served, incident_id)
    served.press(ids.INCIDENT_SNOOZE, str(incident_id), user=served.owner, message=root)
    served.slack.wait_for("chat.update", timeout=WAIT)
    stored = served.slack.message(served.eng.id, root["ts"])
    assert stored.blocks is not None
    until = int((NOW + timedelta(hours=24)).timestamp())
    assert f" until <!date^{until}^" in _texts(stored.blocks)


def _key_incident(engine: Engine, key: str = SEARCH_KEY) -> int:
    """A critical spike on one Anthropic api key's series."""
    change = Change(
        kind="spike",
        cadence="daily",
        key=("key", "provider:anthropic", f"key:{key}"),
        opened_at=datetime(2026, 11, 18, 6, tzinfo=UTC),
        action="open",
        severity="critical",
        summary=f"api key {key} on anthropic: $80.00 on 2026-11-17 against a usual $8.00 (10x)",
        team="growth",
    )
    with engine.begin() as connection:
        record(connection, [change], NOW - timedelta(hours=2))
        [incident] = open_incidents(connection)
    return incident.id


def _posted_key_root(served: Served) -> tuple[int, dict[str, Any]]:
    """The alerting job posts a key alert's root; returns its id and the root as Slack
    sends it with a press."""
    incident_id = _key_incident(served.engine)
    with served.engine.begin() as connection:
        assert enqueue_alerts(connection, served.context.team_file, NOW) == 1
    Notifier(served.engine, served.context.client, served.context.clock).deliver()
    [posted] = served.slack.messages(served.eng.id)
    return incident_id, posted.as_slack(metadata=False)


def _key_status(served: Served, key: str = SEARCH_KEY) -> str:
    """The key's status as the Anthropic Admin API reports it."""
    with httpx.Client() as http:
        answer = http.get(
            f"{served.anthropic.url}/v1/organizations/api_keys/{key}",
            headers={"x-api-key": ANTHROPIC_ADMIN_KEY, "anthropic-version": "2023-06-01"},
        )
    assert answer.status_code == 200
    return str(answer.json()["status"])


def _key_block(blocks: list[Block]) -> dict[str, Any]:
    return next(b for b in blocks if b.get("block_id") == ids.INCIDENT_KEY_BLOCK)


def test_a_key_alert_offers_pause_key_behind_a_confirmation(served):
    _, root = _posted_key_root(served)
    [pause] = [b for b in _buttons(root["blocks"]) if b["action_id"] == ids.INCIDENT_PAUSE_KEY]
    assert pause["style"] == "danger"
    assert SEARCH_KEY in pause["confirm"]["text"]["text"]


def test_a_model_alert_offers_no_pause_key(served):
    incident_id = _open_incident(served.engine)
    with served.engine.begin() as connection:
        enqueue_alerts(connection, served.context.team_file, NOW)
    Notifier(served.engine, served.context.client, served.context.clock).deliver()
    [posted] = served.slack.messages(served.eng.id)
    assert posted.blocks is not None
    actions = {b["action_id"] for b in _buttons(posted.blocks)}
    assert ids.INCIDENT_ACK in actions
    assert ids.INCIDENT_PAUSE_KEY not in actions
    assert incident_id


def test_pause_key_is_refused_to_people_who_are_not_admins(served):
    incident_id, root = _posted_key_root(served)
    _, _, url = served.press(
        ids.INCIDENT_PAUSE_KEY, str(incident_id), user=served.owner, message=root
    )
    [reply] = _posts(served.slack, url)
    assert "Only the admins listed in aispend.toml" in reply.body["text"]
    assert reply.body["response_type"] == "ephemeral"
    assert _key_status(served) == "active"
    assert served.slack.calls("chat.update") == []
    with served.engine.connect() as connection:
        assert latest_switches(connection) == {}


def test_an_admin_pauses_the_key_at_anthropic_and_resumes_it_from_the_root(served):
    incident_id, root = _posted_key_root(served)
    served.press(ids.INCIDENT_PAUSE_KEY, str(incident_id), user=served.admin, message=root)
    served.slack.wait_for("chat.update", timeout=WAIT)
    assert _key_status(served) == "inactive"
    stored = served.slack.message(served.eng.id, root["ts"])
    assert stored.blocks is not None
    paused = _key_block(stored.blocks)
    assert f"paused by <@{served.admin.id}>" in paused["text"]["text"]
    assert paused["accessory"]["action_id"] == ids.INCIDENT_RESUME_KEY
    assert "confirm" in paused["accessory"]
    left = {b["action_id"] for b in _buttons(stored.blocks)}
    assert ids.INCIDENT_PAUSE_KEY not in left
    assert ids.INCIDENT_ACK in left  # pausing is not acknowledging: the owner still should
    [said] = served.slack.thread(served.eng.id, root["ts"])
    assert f"paused at anthropic by <@{served.admin.id}>" in said.text

    root = stored.as_slack(metadata=False)
    served.press(ids.INCIDENT_RESUME_KEY, str(incident_id), user=served.admin, message=root)
    served.slack.wait_for("chat.update", count=2, timeout=WAIT)
    assert _key_status(served) == "active"
    stored = served.slack.message(served.eng.id, root["ts"])
    assert stored.blocks is not None
    resumed = _key_block(stored.blocks)
    assert f"resumed by <@{served.admin.id}>" in resumed["text"]["text"]
    assert resumed["accessory"]["action_id"] == ids.INCIDENT_PAUSE_KEY
    assert len(served.slack.thread(served.eng.id, root["ts"])) == 2
    with served.engine.connect() as connection:
        switches = latest_switches(connection)
        events = incident_events(connection, incident_id)
    assert switches[("anthropic", SEARCH_KEY)].active is True
    assert [summary for _, _, summary in events[-2:]] == [
        f"{served.admin.id} paused the key",
        f"{served.admin.id} resumed the key",
    ]


def test_a_key_the_provider_refuses_to_switch_changes_nothing_and_says_why(served):
    retired = "apikey_01RetiredBatchJob"  # archived at the stand-in: archiving is final
    incident_id = _key_incident(served.engine, retired)
    with served.engine.begin() as connection:
        enqueue_alerts(connection, served.context.team_file, NOW)
    Notifier(served.engine, served.context.client, served.context.clock).deliver()
    [posted] = served.slack.messages(served.eng.id)
    root = posted.as_slack(metadata=False)
    _, _, url = served.press(
        ids.INCIDENT_PAUSE_KEY, str(incident_id), user=served.admin, message=root
    )
    [reply] = _posts(served.slack, url)
    assert reply.body["text"].startswith("Could not pause the key: anthropic:")
    assert "answered 400" in reply.body["text"]
    assert ANTHROPIC_ADMIN_KEY not in reply.body["text"]
    assert _key_status(served, retired) == "archived"
    assert served.slack.calls("chat.update") == []
    with served.engine.connect() as connection:
        assert latest_switches(connection) == {}
        events = incident_events(connection, incident_id)
    assert events[-1][2].startswith(f"{served.admin.id} could not pause the key: ")


def test_a_press_naming_no_incident_tells_the_presser(served):
    _, _, url = served.press(ids.INCIDENT_ACK, "999", user=served.owner, message=None)
    [reply] = _posts(served.slack, url)
    assert "no incident 999" in reply.body["text"]


# -- App Home --------------------------------------------------------------------------------


def _event_body(event: dict[str, Any]) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0STANDIN",
            "api_app_id": "A0APP",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev0001",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0STANDIN", "user_id": "U0BOT", "is_bot": True}],
        }
    )


def test_opening_the_home_tab_publishes_the_home_view(served):
    _open_incident(served.engine)
    event = {
        "type": "app_home_opened",
        "user": served.owner.id,
        "channel": "D0OWNER",
        "tab": "home",
    }
    status, _, _ = served.post(_event_body(event), content_type="application/json")
    assert status == 200
    [call] = served.slack.wait_for("views.publish", timeout=WAIT)
    assert call.args["user_id"] == served.owner.id
    [view] = served.slack.views[served.owner.id]
    assert view.view["type"] == "home"
    shown = _texts(view.view["blocks"])
    assert "November 2026 so far" in shown
    assert "Budgets and forecasts" in shown
    assert "model gpt-5 on openai" in shown


def test_the_home_tab_links_alerts_to_their_threads(served):
    incident_id = _open_incident(served.engine)
    root = _post_root(served, incident_id)
    event = {"type": "app_home_opened", "user": served.owner.id, "channel": "D0", "tab": "home"}
    served.post(_event_body(event), content_type="application/json")
    served.slack.wait_for("views.publish", timeout=WAIT)
    [view] = served.slack.views[served.owner.id]
    assert f"<{_permalink(served, root['ts'])}|#{incident_id}>" in _texts(view.view["blocks"])


def test_opening_the_messages_tab_publishes_nothing(served):
    event = {
        "type": "app_home_opened",
        "user": served.owner.id,
        "channel": "D0OWNER",
        "tab": "messages",
    }
    status, _, _ = served.post(_event_body(event), content_type="application/json")
    assert status == 200
    time.sleep(0.2)
    assert served.slack.calls("views.publish") == []


# -- load ------------------------------------------------------------------------------------


def test_fifty_commands_at_once_are_all_acknowledged_and_answered(served):
    """Timing is measured by a benchmark, not asserted here."""
    texts = ["week", "month by model", "top 30d by provider", "alerts", "status"] * 10
    bodies = []
    for text in texts:
        url = served.slack.response_url(served.eng.id, served.owner.id)
        bodies.append((slash_body(text, user=served.owner.id, channel=served.eng.id, url=url), url))
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: served.post(b[0]), bodies))
    assert [(status, body) for status, body, _ in answers] == [(200, "")] * len(bodies)
    for _, url in bodies:
        assert _posts(served.slack, url)[0].status == 200


@pytest.mark.parametrize("served", [True, False], indirect=True)
def test_a_failure_after_the_ack_keeps_the_200_and_tells_the_asker(served: Served) -> None:
    served.context.background.shutdown(wait=True)  # handing over now fails, after ack()
    status, body, url = served.command("week")
    assert (status, body) == (200, "")
    (post,) = _posts(served.slack, url)
    assert "failed on our side" in json.dumps(post.body)


@pytest.mark.parametrize("served", [True, False], indirect=True)
def test_an_event_that_fails_is_still_acknowledged(served: Served) -> None:
    """Else Slack retries the event."""
    served.context.background.shutdown(wait=True)
    event = {"type": "app_home_opened", "user": served.owner.id, "channel": "D0", "tab": "home"}
    status, _, _ = served.post(_event_body(event), content_type="application/json")
    assert status == 200
