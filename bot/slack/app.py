"""The Slack app: one Bolt `App`, its listeners registered from the one table below.

Every listener acknowledges first and hands its slow work to `AppContext.background`, so
acknowledgements never queue behind answers (see bot.slack.listeners.context), and returns at
once; so Bolt runs it on the thread that received the request (`process_before_response`),
with no hop to Bolt's listener threads and no wait in Bolt's 10 ms polling for the ack. The
same app serves HTTP mode (a WSGI server in front of `slack_bolt.adapter.wsgi.
SlackRequestHandler`, every request signed with the signing secret) and Socket Mode
(`SocketModeHandler`; Slack signs nothing there, so request verification is off).
manifest.yml declares the same command, actions and event; tests/slack/test_manifest.py
keeps the two in step.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt import Ack, App, BoltResponse, Respond

from bot.errors import ConfigError
from bot.slack import ids
from bot.slack.listeners import actions, commands, home
from bot.slack.listeners.context import AppContext
from bot.slack.listeners.replies import failure_reply, send_ephemeral

__all__ = ["LISTENERS", "AppContext", "Listener", "create_app"]

logger = logging.getLogger(__name__)

COMMAND = "/aispend"
LISTENER_WORKERS = 8  # Bolt's threads, without process_before_response: each only acknowledges

Kind = Literal["command", "action", "event"]


@dataclass(frozen=True, slots=True)
class Listener:
    """One entry of the table: what Slack sends (a slash command, a button's action_id, an
    Events API event type) and the function that handles it. The function takes the
    AppContext first, then Bolt's arguments by name."""

    kind: Kind
    id: str
    handler: Callable[..., None]


LISTENERS: tuple[Listener, ...] = (
    Listener("command", COMMAND, commands.handle_aispend),
    Listener("action", ids.SHARE_ANSWER, actions.handle_share),
    Listener("action", ids.INCIDENT_ACK, actions.handle_incident_press),
    Listener("action", ids.INCIDENT_SNOOZE, actions.handle_incident_press),
    Listener("action", ids.INCIDENT_EXPECTED, actions.handle_incident_press),
    Listener("action", ids.INCIDENT_NOT_ANOMALY, actions.handle_incident_press),
    Listener("action", ids.INCIDENT_PAUSE_KEY, actions.handle_key_press),
    Listener("action", ids.INCIDENT_RESUME_KEY, actions.handle_key_press),
    Listener("event", "app_home_opened", home.handle_home_opened),
)


def create_app(
    context: AppContext,
    *,
    process_before_response: bool = True,
    socket_mode: bool = False,
) -> App:
    """The Bolt app for `context`, every listener in LISTENERS registered.

    `process_before_response` runs each listener on the request's own thread and answers
    when it returns, which is at once: every listener only acknowledges and hands over. With
    False, Bolt runs listeners on its own threads and polls every 10 ms for the ack (a
    50-command burst was acknowledged ~20% slower at p99, a lone command in ~12 ms instead of
    ~1 ms: `python -m bench slack`); either way a failure after the ack keeps the ack's
    answer and is told through the response URL. With `socket_mode` no request is signed,
    so no signing secret is needed; over HTTP it is required. Bolt calls auth.test once
    here, through `context.client`.
    """
    app = App(
        client=context.client,
        process_before_response=process_before_response,
        listener_executor=ThreadPoolExecutor(LISTENER_WORKERS, thread_name_prefix="bolt"),
        **_verification(context, socket_mode),
    )
    for listener in LISTENERS:
        _register(app, listener, context)
    app.error(_on_error)
    return app


def _verification(context: AppContext, socket_mode: bool) -> dict[str, Any]:
    """Bolt reads SLACK_SIGNING_SECRET from the environment when none is given; ours comes
    from Settings only, so that fallback never decides anything."""
    if socket_mode:
        return {"request_verification_enabled": False}
    secret = context.settings.slack_signing_secret
    if secret is None or not secret.get_secret_value():
        raise ConfigError("SLACK_SIGNING_SECRET is needed to serve Slack over HTTP")
    return {"signing_secret": secret.get_secret_value()}


def _register(app: App, listener: Listener, context: AppContext) -> None:
    bound = functools.partial(listener.handler, context)
    bound.__name__ = listener.handler.__name__  # type: ignore[attr-defined]  # Bolt's logs name it
    if listener.kind == "command":
        app.command(listener.id)(bound)
    elif listener.kind == "action":
        app.action(listener.id)(bound)
    else:
        app.event(listener.id)(bound)


def _on_error(
    error: Exception,
    body: Mapping[str, Any],
    respond: Respond,
    ack: Ack,
    response: BoltResponse | None,
) -> BoltResponse | None:
    """What escapes a listener (its slow work has its own guard): logged with the traceback,
    and the person told when the request can be answered.

    The HTTP answer is the one Bolt gives without process_before_response (where it is
    decided before the listener fails, and `response` may be None): a request acknowledged
    keeps its ack, and an event is acknowledged (else Slack sends it again). With
    process_before_response, Bolt would answer 500 unless told."""
    logger.error("slack listener failed", exc_info=error)
    if body.get("response_url"):
        send_ephemeral(respond, failure_reply(error))
    if response is None:
        return None
    if ack.response is not None:
        return ack.response
    return BoltResponse(status=200, body="") if body.get("type") == "event_callback" else None
