"""Button presses: Share to channel under an answer, and the incident root's buttons.

Each is acknowledged at once and worked on in the background. A share computes the answer
again (for the day it was asked) and posts it through the press's response_url, which works
in any channel the person could use /aispend in, whether the bot is a member or not. An
incident press is recorded (`bot.store.incidents.handle`: the first press wins), then the
root is rewritten in place, through the outbox, to say who did what and when.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, Respond

from bot.errors import CollectorError, UsageError
from bot.jobs.key_switch import KeySwitcher
from bot.slack import ids
from bot.slack.blocks import Block, Message
from bot.slack.incidents import (
    HANDLING_BY_ACTION,
    SNOOZE,
    Handled,
    Handling,
    handled_words,
    incident_root,
    mark_handled,
)
from bot.slack.listeners.commands import answer_for
from bot.slack.listeners.context import AppContext
from bot.slack.listeners.gather import Asked, shared
from bot.slack.listeners.replies import note, send_ephemeral, send_in_channel, tell_failure
from bot.slack.notifier import Notifier
from bot.store.incidents import IncidentView, handle, note_press
from bot.store.outbox import Outgoing, enqueue

logger = logging.getLogger(__name__)

SWITCH_REFUSED = "Only the admins listed in aispend.toml under [slack] admins may {what} keys."


def handle_share(
    deps: AppContext,
    ack: Ack,
    action: Mapping[str, Any],
    body: Mapping[str, Any],
    respond: Respond,
) -> None:
    ack()
    key, user = str(action.get("value") or ""), str(body["user"]["id"])
    deps.later(share_answer, deps, key, user, respond, failed=tell_failure(respond))


def share_answer(deps: AppContext, key: str, user: str, respond: Respond) -> None:
    """The answer under the pressed button, posted in the channel, naming who shared it."""
    asked = Asked.from_share_key(key, user)
    send_in_channel(respond, shared(answer_for(deps, asked, share=False), asked))


def handle_incident_press(
    deps: AppContext,
    ack: Ack,
    action: Mapping[str, Any],
    body: Mapping[str, Any],
    respond: Respond,
) -> None:
    ack()
    deps.later(press_incident, deps, action, body, respond, failed=tell_failure(respond))


@dataclass(frozen=True, slots=True)
class Press:
    """One press on an incident root, as the action payload tells it."""

    how: Handling
    incident_id: int
    user: str
    channel: str
    root_blocks: list[Block] | None  # the root as Slack shows it, buttons and all

    @classmethod
    def read(cls, action: Mapping[str, Any], body: Mapping[str, Any]) -> Press:
        return cls(
            HANDLING_BY_ACTION[str(action["action_id"])],
            _incident_id(action),
            str(body["user"]["id"]),
            _channel(body),
            _root_blocks(body),
        )


def press_incident(
    deps: AppContext, action: Mapping[str, Any], body: Mapping[str, Any], respond: Respond
) -> None:
    """Acknowledge, snooze 24h, expected, not an anomaly: record the first press and rewrite
    the root; a later press changes nothing, and the presser is told who was first."""
    press = Press.read(action, body)
    now = deps.clock.now()
    until = now + SNOOZE if press.how is Handling.SNOOZED else None
    with deps.presses, deps.engine.begin() as connection:
        view, changed = handle(
            connection, press.incident_id, press.how.value, press.user, now, until
        )
        if changed:
            enqueue(connection, [handled_update(view, press.channel, press.root_blocks)], now)
    if not changed:
        first = _handled(view)
        said = handled_words(first) if first else "someone pressed first"
        send_ephemeral(respond, note(f"Already handled: {said}"))
        return
    report = Notifier(deps.engine, deps.client, deps.clock).deliver()
    if report.errors:
        logger.warning("delivering alert #%s's update: %s", press.incident_id, report.errors)


def handled_update(view: IncidentView, channel: str, blocks: Sequence[Block] | None) -> Outgoing:
    """The root rewritten after its first press, as an outbox "update" of the root's key.
    The blocks Slack sent with the press are the root as it stands (owner, month-end
    figures and all), so only its buttons are replaced; without them the root is drawn
    again from the incident."""
    handled = _handled(view)
    if handled is None:
        raise ValueError(f"alert #{view.id} has no press recorded")
    message = incident_root(view, handled=handled)
    if blocks:
        message = Message(message.text, mark_handled(blocks, handled), message.metadata)
    return Outgoing(
        key=f"incident:{view.id}:handled",
        kind="update",
        channel=channel,
        payload=message.payload(),
        thread_key=f"incident:{view.id}:root",
    )


def handle_key_press(
    deps: AppContext,
    ack: Ack,
    action: Mapping[str, Any],
    body: Mapping[str, Any],
    respond: Respond,
) -> None:
    ack()
    deps.later(switch_key, deps, action, body, failed=tell_failure(respond))


def switch_key(deps: AppContext, action: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """Pause key / Resume key (Slack asked to confirm first): admins only. The provider
    switches the key; then the switch is recorded, told in the alert's thread, and the root
    redrawn with the button that switches it back. When the provider refuses, the admin is
    told why and the request is noted on the alert."""
    active = action["action_id"] == ids.INCIDENT_RESUME_KEY
    incident_id, user = _incident_id(action), str(body["user"]["id"])
    if not deps.is_admin(user):
        raise UsageError(SWITCH_REFUSED.format(what="resume" if active else "pause"))
    switcher = KeySwitcher(deps.engine, deps.settings, deps.team_file, deps.clock)
    try:
        switcher.switch_for_incident(incident_id, active=active, by=user)
    except CollectorError as e:
        did = "resume" if active else "pause"
        with deps.engine.begin() as connection:
            said = f"{user} could not {did} the key: {e}"
            note_press(connection, incident_id, deps.clock.now(), said)
        raise UsageError(f"Could not {did} the key: {e}. Nothing changed.") from e
    report = Notifier(deps.engine, deps.client, deps.clock).deliver()
    if report.errors:
        logger.warning("delivering alert #%s's key switch: %s", incident_id, report.errors)


def _handled(view: IncidentView) -> Handled | None:
    if not view.handled or view.handled_at is None:
        return None
    return Handled(Handling(view.handled), view.handled_by, view.handled_at, view.handled_until)


def _incident_id(action: Mapping[str, Any]) -> int:
    try:
        return int(action["value"])
    except (KeyError, TypeError, ValueError):
        raise UsageError("that button names no alert") from None


def _root_blocks(body: Mapping[str, Any]) -> list[Block] | None:
    blocks = (body.get("message") or {}).get("blocks")
    return list(blocks) if isinstance(blocks, list) and blocks else None


def _channel(body: Mapping[str, Any]) -> str:
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    return str(channel.get("id") or container.get("channel_id") or "")
