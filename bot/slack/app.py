"""The Slack app: one Bolt `App`, its listeners registered from the one table below.

Every listener acknowledges first and hands its slow work to `AppContext.background`, so
acknowledgements never queue behind answers (see bot.slack.listeners.context). The same app
serves HTTP mode (a WSGI server in front of `slack_bolt.adapter.wsgi.SlackRequestHandler`,
every request signed with the signing secret) and Socket Mode (`SocketModeHandler`; Slack
signs nothing there, so request verification is off). manifest.yml declares the same
command, actions and event; tests/slack/test_manifest.py keeps the two in step.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt import App, Respond

from bot.errors import ConfigError
from bot.slack import ids
from bot.slack.listeners import actions, commands, home
from bot.slack.listeners.context import AppContext
from bot.slack.listeners.replies import failure_reply, send_ephemeral

__all__ = ["LISTENERS", "AppContext", "Listener", "create_app"]

logger = logging.getLogger(__name__)

COMMAND = "/aispend"
LISTENER_WORKERS = 8  # Bolt's threads: each only acknowledges and hands over, so few suffice

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
    Listener("action", ids.INCIDENT_PAUSE_KEY, actions.handle_incident_press),
    Listener("event", "app_home_opened", home.handle_home_opened),
)


def create_app(
    context: AppContext,
    *,
    process_before_response: bool = False,
    socket_mode: bool = False,
) -> App:
    """The Bolt app for `context`, every listener in LISTENERS registered.

    `process_before_response` holds the HTTP answer until the listener returns (for FaaS;
    tests may use it); a long-running server keeps it False. With `socket_mode` no request
    is signed, so no signing secret is needed; over HTTP it is required. Bolt calls
    auth.test once here, through `context.client`.
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


def _on_error(error: Exception, body: Mapping[str, Any], respond: Respond) -> None:
    """What escapes a listener (its slow work has its own guard): logged with the traceback,
    and the person told when the request can be answered."""
    logger.error("slack listener failed", exc_info=error)
    if body.get("response_url"):
        send_ephemeral(respond, failure_reply(error))
