"""Alerting: what the detector recorded becomes Slack messages in the outbox, in the same
transaction. One root message per incident in the owning team's channel (#eng when no team
owns it), re-rendered in place as it changes; escalations and the resolution as thread
replies; an alert nobody acknowledged in time is called out to the channel.

Info alerts stay in the digest. Keys make every step idempotent: running this twice over
the same events enqueues nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from bot.collectors import key_switching_providers
from bot.config import TeamFile
from bot.domain import KeySwitch
from bot.slack.blocks import Message
from bot.slack.incidents import (
    Handled,
    Handling,
    api_key_of,
    channel_escalation,
    escalation_reply,
    incident_root,
    resolution_reply,
)
from bot.store.incidents import (
    IncidentView,
    RecordedEvent,
    events_since,
    get_incident,
    open_incidents,
)
from bot.store.key_switches import latest_switches
from bot.store.names import name_of
from bot.store.outbox import Outgoing, delivered, enqueue

LOOKBACK = timedelta(days=2)  # events older than this were handled by an earlier run
POSTED = ("warning", "critical")  # info alerts go to the digest only


def root_key(incident_id: int) -> str:
    return f"incident:{incident_id}:root"


@dataclass(frozen=True, slots=True)
class KeyControl:
    """The api key an alert is about, where its provider can switch keys off: its name, and
    what an admin last did to it (None: nothing yet)."""

    provider: str
    api_key: str
    name: str
    switch: KeySwitch | None = None


def key_control(connection: Connection, incident: IncidentView) -> KeyControl | None:
    """The key an admin may pause from this alert's root, if any."""
    found = api_key_of(incident)
    if found is None or found[0] not in key_switching_providers():
        return None
    provider, api_key = found
    shown = name_of(connection, provider, api_key)
    switch = latest_switches(connection, [found]).get(found)
    return KeyControl(provider, api_key, f"{shown} ({api_key})" if shown else api_key, switch)


def root_message(
    incident: IncidentView, team_file: TeamFile, control: KeyControl | None = None
) -> Message:
    """The alert's root as the alerting job draws it: the owner called on critical ones,
    the first press if any, and the key's switch where an admin may pause it."""
    handled = None
    if incident.handled and incident.handled_at is not None:
        handled = Handled(
            Handling(incident.handled),
            incident.handled_by,
            incident.handled_at,
            incident.handled_until,
        )
    owner = _owner(incident, team_file) if incident.severity == "critical" else None
    return incident_root(
        incident,
        owner=owner,
        handled=handled,
        pause_key=control.name if control else None,
        key_switch=control.switch if control else None,
    )


def enqueue_alerts(connection: Connection, team_file: TeamFile, now: datetime) -> int:
    """Messages for the incident events of the last LOOKBACK, and channel escalations for
    alerts left unacknowledged; returns how many outbox items were new."""
    items: list[Outgoing] = []
    rooted: set[int] = set()  # incidents given a root in this run
    for event in events_since(connection, now - LOOKBACK):
        incident = get_incident(connection, event.incident_id)
        if incident is None:
            continue
        has_root = incident.id in rooted or root_key(incident.id) in delivered(
            connection, [root_key(incident.id)]
        )
        control = key_control(connection, incident)
        made = alert_messages(incident, event, team_file, has_root=has_root, control=control)
        if any(i.key == root_key(incident.id) for i in made):
            rooted.add(incident.id)
        items += made
    items += _escalations(connection, team_file, now)
    return enqueue(connection, items, now)


def alert_messages(
    incident: IncidentView,
    event: RecordedEvent,
    team_file: TeamFile,
    *,
    has_root: bool,
    control: KeyControl | None = None,
) -> list[Outgoing]:
    """The outbox items one incident event makes; `control` is the key it is about, where
    an admin may pause it (see `key_control`)."""
    root = root_key(incident.id)
    key = f"incident:{incident.id}:event:{event.id}"
    rendered = root_message(incident, team_file, control)
    if not has_root:
        if event.action == "resolve" or incident.severity not in POSTED:
            return []
        return [Outgoing(root, "post", channel_of(incident, team_file), rendered.payload())]
    if event.action == "feedback":
        return []  # the app re-renders the root when the button is pressed
    update = Outgoing(f"{key}:root", "update", "", rendered.payload(), thread_key=root)
    if event.action == "escalate":
        owner = _owner(incident, team_file)
        reply = escalation_reply(incident, summary=event.summary, owner=owner)
        return [Outgoing(key, "reply", "", reply.payload(), thread_key=root), update]
    if event.action == "resolve":
        reply = resolution_reply(incident, summary=event.summary)
        return [Outgoing(key, "reply", "", reply.payload(), thread_key=root), update]
    return [update]


def channel_of(incident: IncidentView, team_file: TeamFile) -> str:
    """The owning team's channel, else the default one."""
    for team in team_file.teams:
        if team.id == incident.team and team.channel:
            return team.channel
    return team_file.slack.channel


def _owner(incident: IncidentView, team_file: TeamFile) -> str | None:
    for team in team_file.teams:
        if team.id == incident.team and team.owners:
            return team.owners[0]
    return None


def _escalations(connection: Connection, team_file: TeamFile, now: datetime) -> list[Outgoing]:
    """Posted alerts nobody acknowledged within [slack] escalate_after_hours (or whose
    snooze ran out): one reply, broadcast to the channel, calling the escalation contact."""
    contact = team_file.slack.escalation_contact
    if not contact:
        return []
    wait = timedelta(hours=team_file.slack.escalate_after_hours)
    incidents = [i for i in open_incidents(connection) if i.severity in POSTED]
    sent = delivered(connection, [root_key(i.id) for i in incidents])
    items = []
    for incident in incidents:
        if sent.get(root_key(incident.id)) is None:
            continue  # no root in Slack yet
        waiting_since = _waiting_since(incident)
        if waiting_since is None or now - waiting_since < wait:
            continue
        message = channel_escalation(incident, contact=contact, waiting_since=waiting_since)
        key = f"incident:{incident.id}:unacknowledged:{waiting_since.isoformat()}"
        items.append(Outgoing(key, "reply", "", message.payload(), root_key(incident.id)))
    return items


def _waiting_since(incident: IncidentView) -> datetime | None:
    """Since when nobody has taken the alert: its opening, or the end of its snooze; None
    once someone acknowledged or marked it."""
    if not incident.handled:
        return incident.opened_at
    if incident.handled == Handling.SNOOZED.value and incident.handled_until is not None:
        return incident.handled_until
    return None
