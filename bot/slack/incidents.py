"""An incident in Slack: one root message per incident, re-rendered on every change, and the
thread replies under it (after Grafana OnCall's alert groups; slack.md section 7).

The root says what moved, by how much, against what, what the month costs if it continues
and what drove it, with buttons to acknowledge, snooze, mark expected or not an anomaly, and
(for admins) pause the key. After a press the same root is rendered with `handled`: the
buttons give way to a context line saying who did what and when. The app stores the first
press and passes it on every later render, so a double press renders identically;
`mark_handled` does the same to blocks read back from Slack, keeping the first press.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from bot.analysis.alerts import AlertKind
from bot.analysis.levels import parts
from bot.domain import Dimension, KeySwitch
from bot.slack import ids, phrases
from bot.slack.blocks import (
    HEADLINE,
    Block,
    Message,
    actions,
    button,
    clip,
    confirm_dialog,
    context,
    escape,
    fields,
    finish,
    header,
    mention,
    name,
    section,
    slack_date,
    usd,
)
from bot.store.incidents import RESOLVED, IncidentView

SNOOZE = timedelta(hours=24)
SUMMARY = 600  # characters of a summary in a root or a reply
WHY = 1200  # characters of the explanation
TEXT = 300  # characters of a fallback text


class Handling(StrEnum):
    """What a press on the root did."""

    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    EXPECTED = "expected"
    NOT_ANOMALY = "not_anomaly"


HANDLING_BY_ACTION = {
    ids.INCIDENT_ACK: Handling.ACKNOWLEDGED,
    ids.INCIDENT_SNOOZE: Handling.SNOOZED,
    ids.INCIDENT_EXPECTED: Handling.EXPECTED,
    ids.INCIDENT_NOT_ANOMALY: Handling.NOT_ANOMALY,
}


@dataclass(frozen=True, slots=True)
class Handled:
    """Who pressed what, and when: the first press, as the app recorded it."""

    how: Handling
    by: str  # a Slack user id (U123) or mention (<@U123>)
    at: datetime  # aware
    until: datetime | None = None  # a snooze's end; at + 24h when not given


_DONE = {
    Handling.ACKNOWLEDGED: (":eyes:", "Acknowledged", ""),
    Handling.SNOOZED: (":zzz:", "Snoozed", ""),
    Handling.EXPECTED: (":calendar:", "Marked expected", ": this level becomes the usual"),
    Handling.NOT_ANOMALY: (
        ":heavy_minus_sign:",
        "Marked not an anomaly",
        ": quiet for the rest of this episode",
    ),
}


def handled_words(handled: Handled) -> str:
    """:eyes: Acknowledged by <@U1> on <!date…>, with a snooze's end."""
    icon, did, after = _DONE[handled.how]
    words = f"{icon} {did} by {mention(handled.by)} {slack_date(handled.at, _WHEN)}"
    if handled.how is Handling.SNOOZED:
        until = handled.until or handled.at + SNOOZE
        words += f" until {slack_date(until, _WHEN)}"
    return words + after


_WHEN = "{date_short_pretty} at {time}"


def incident_root(
    incident: IncidentView,
    *,
    why: str | None = None,
    owner: str | None = None,
    if_it_continues: Decimal | None = None,
    pause_key: str | None = None,
    key_switch: KeySwitch | None = None,
    handled: Handled | None = None,
) -> Message:
    """The alert's root message. `why` replaces the incident's own explanation when given;
    `owner` is a mention (<@U123>); `if_it_continues` is the month-end total if the spike
    goes on; `pause_key` names the key an admin may pause (no button without it), and
    `key_switch` is what an admin last did to it from here: the root then says so, with the
    button that switches it back."""
    blocks = [
        header(f"{phrases.kind_label(incident.kind)} · {incident.severity}"),
        section(_what(incident)),
    ]
    cells = _cells(incident, owner, if_it_continues)
    if cells:
        blocks.append(fields(cells))
    explanation = incident.why if why is None else why
    if explanation:
        title = "What drove it" if phrases.series_what(incident) else "Details"
        blocks.append(section(f"*{title}*\n{escape(clip(explanation, WHY))}"))
    blocks.append(context(_opened(incident)))
    if pause_key and key_switch is not None:
        blocks.append(key_block(incident.id, pause_key, key_switch))
        pause_key = None  # the key block holds the switch now
    if handled is not None:
        blocks.append(context(handled_words(handled), block_id=ids.INCIDENT_HANDLED_BLOCK))
    elif incident.status != RESOLVED:
        blocks.append(_buttons(incident, pause_key))
    if incident.status == RESOLVED:
        resolved = f":white_check_mark: Resolved {slack_date(incident.updated_at, _WHEN)}"
        blocks.append(context(resolved, block_id=ids.INCIDENT_RESOLVED_BLOCK))
    return Message(
        _root_text(incident, handled),
        finish(blocks),
        _metadata(ids.EVENT_INCIDENT, incident, "root"),
    )


def mark_handled(blocks: Sequence[Block], handled: Handled) -> list[Block]:
    """A root's blocks (as Slack returns them in an action payload) with the buttons replaced
    by who pressed what. A root already marked keeps its first press, so pressing twice, or
    two people at once, leaves the message as it is."""
    found = [dict(b) for b in blocks]
    for block in found:
        if block.get("block_id") == ids.INCIDENT_HANDLED_BLOCK:
            return found
    line = context(handled_words(handled), block_id=ids.INCIDENT_HANDLED_BLOCK)
    for i, block in enumerate(found):
        if block.get("block_id") == ids.INCIDENT_BUTTONS_BLOCK:
            found[i] = line
            return found
    return [*found, line]


def api_key_of(incident: IncidentView) -> tuple[str, str] | None:
    """(provider, api key) when the alert is about one key: a spike on a key's series, or
    spend on a key no attribution rule owns."""
    if incident.kind in ("spike", "new_spend") and incident.key[:1] == ("key",):
        try:
            named = parts(incident.key)
        except (KeyError, ValueError):
            return None
        provider, key = named.get(Dimension.PROVIDER), named.get(Dimension.KEY)
        return (provider, key) if provider and key else None
    if incident.kind == AlertKind.UNOWNED.value and len(incident.key) == 3:
        provider, _, key = incident.key
        return (provider, key) if provider and key else None
    return None


def key_block(incident_id: int, key_name: str, switch: KeySwitch) -> Block:
    """The key an admin paused from this alert (or resumed), who did it and when, with the
    button that switches it back, behind a confirmation."""
    shown = name(key_name)
    when = slack_date(switch.at, _WHEN)
    if switch.active:
        text = f":arrow_forward: Key *{shown}* resumed by {mention(switch.by)} {when}."
        ask = confirm_dialog(
            "Pause this key?",
            f"Requests with key *{shown}* will fail until someone resumes it.",
            "Pause key",
        )
        toggle = button("Pause key", ids.INCIDENT_PAUSE_KEY, str(incident_id), style="danger")
    else:
        text = (
            f":octagonal_sign: Key *{shown}* paused by {mention(switch.by)} {when}: "
            "requests with it fail until it is resumed."
        )
        ask = confirm_dialog(
            "Resume this key?", f"Requests with key *{shown}* will work again.", "Resume key"
        )
        toggle = button("Resume key", ids.INCIDENT_RESUME_KEY, str(incident_id))
    block = section(text, block_id=ids.INCIDENT_KEY_BLOCK)
    block["accessory"] = {**toggle, "confirm": ask}
    return block


def key_reply(incident: IncidentView, key_name: str, switch: KeySwitch) -> Message:
    """The thread's record of a key switched off or on."""
    did = "resumed" if switch.active else "paused"
    icon = ":arrow_forward:" if switch.active else ":octagonal_sign:"
    words = f"Key *{name(key_name)}* {did} at {escape(switch.provider)} by {mention(switch.by)}"
    text = f"Key {escape(clip(key_name, TEXT))} {did} at {escape(switch.provider)}"
    return Message(
        f"{text} by {mention(switch.by)}",
        [section(f"{icon} {words}.")],
        _metadata(ids.EVENT_INCIDENT_REPLY, incident, f"key_{did}"),
    )


def _what(incident: IncidentView) -> str:
    """*model gpt-5 on openai*, then the rest of the summary: the figures against the usual."""
    icon = phrases.severity_icon(incident.severity)
    what = phrases.series_what(incident)
    summary = incident.summary
    if what and summary.startswith(f"{what}: "):
        body = summary[len(what) + 2 :]
        return f"{icon} *{name(what, HEADLINE)}*\n{escape(clip(body, SUMMARY))}"
    return f"{icon} {escape(clip(summary, SUMMARY))}"


def _cells(incident: IncidentView, owner: str | None, if_it_continues: Decimal | None) -> list[str]:
    cells = []
    if if_it_continues is not None:
        cells.append(f"*Month end if it continues*\n{usd(if_it_continues)}")
    if incident.projected_impact:
        cells.append(f"*Extra by month end*\n{usd(incident.projected_impact)}")
    if incident.team:
        cells.append(f"*Team*\n{name(incident.team)}")
    if owner:
        cells.append(f"*Owner*\n{mention(owner)}")
    return cells


def _opened(incident: IncidentView) -> str:
    cadence = f" · {incident.cadence}" if incident.cadence else ""
    return f"Alert #{incident.id}{cadence} · opened {slack_date(incident.opened_at, _WHEN)}"


def _buttons(incident: IncidentView, pause_key: str | None) -> Block:
    value = str(incident.id)
    elements = [
        button("Acknowledge", ids.INCIDENT_ACK, value, style="primary"),
        button("Snooze 24h", ids.INCIDENT_SNOOZE, value),
    ]
    if incident.cadence in ("daily", "hourly"):  # detector spikes learn from feedback
        elements += [
            button("Expected", ids.INCIDENT_EXPECTED, value),
            button("Not an anomaly", ids.INCIDENT_NOT_ANOMALY, value),
        ]
    if pause_key:
        ask = confirm_dialog(
            "Pause this key?",
            f"Requests with key *{name(pause_key)}* will fail until someone resumes it.",
            "Pause key",
        )
        elements.append(
            button("Pause key", ids.INCIDENT_PAUSE_KEY, value, style="danger", confirm=ask)
        )
    return actions(elements, block_id=ids.INCIDENT_BUTTONS_BLOCK)


def _root_text(incident: IncidentView, handled: Handled | None) -> str:
    label = phrases.kind_label(incident.kind)
    text = f"{label} ({incident.severity}): {escape(clip(incident.summary, TEXT))}"
    if handled is not None:
        _, did, _ = _DONE[handled.how]
        text += f" · {did.lower()} by {mention(handled.by)}"
    if incident.status == RESOLVED:
        text += " · resolved"
    return text


def _metadata(event_type: str, incident: IncidentView, part: str) -> dict[str, object]:
    return {"event_type": event_type, "event_payload": {"incident_id": incident.id, "part": part}}


# --- thread replies --------------------------------------------------------------------------


def update_reply(
    incident: IncidentView, *, summary: str | None = None, why: str | None = None
) -> Message:
    """A new figure for an open incident, in its thread."""
    return _reply(incident, ":arrows_counterclockwise:", "Update", summary, why, "update")


def escalation_reply(
    incident: IncidentView,
    *,
    summary: str | None = None,
    why: str | None = None,
    owner: str | None = None,
) -> Message:
    """The ratio doubled since the last announcement: said again, louder, to the owner."""
    message = _reply(
        incident,
        ":arrow_double_up:",
        f"Escalated to {incident.severity}",
        summary,
        why,
        "escalate",
    )
    if not owner:
        return message
    ask = f"{mention(owner)} this one is yours: please acknowledge or mark it expected."
    return Message(f"{message.text} {ask}", [*message.blocks, section(ask)], message.metadata)


def resolution_reply(incident: IncidentView, *, summary: str | None = None) -> Message:
    """The incident closed: back to usual, or the data was restated. `summary` is the
    resolve event's own words (the incident keeps what it last said)."""
    return _reply(incident, ":white_check_mark:", "Resolved", summary, None, "resolve")


def channel_escalation(
    incident: IncidentView,
    *,
    contact: str,
    waiting_since: datetime,
    if_it_continues: Decimal | None = None,
    url: str | None = None,
) -> Message:
    """Nobody acknowledged the alert: a reply, broadcast to the channel, that calls the
    escalation contact (a user or user group mention)."""
    tag = f"<{escape(url)}|alert #{incident.id}>" if url else f"alert #{incident.id}"
    lines = [
        f":rotating_light: {mention(contact)} nobody has acknowledged {tag} since "
        f"{slack_date(waiting_since, _WHEN)}.",
        f"{phrases.severity_icon(incident.severity)} {escape(clip(incident.summary, SUMMARY))}",
    ]
    if if_it_continues is not None:
        lines.append(f"The month ends at *{usd(if_it_continues)}* if it continues.")
    text = f"{mention(contact)} alert #{incident.id} is unacknowledged: " + escape(
        clip(incident.summary, TEXT)
    )
    blocks = [section("\n".join(lines))]
    metadata = _metadata(ids.EVENT_INCIDENT_REPLY, incident, "escalate_channel")
    return Message(text, blocks, metadata, reply_broadcast=True)


def _reply(
    incident: IncidentView,
    icon: str,
    what: str,
    summary: str | None,
    why: str | None,
    part: str,
) -> Message:
    said = escape(clip(incident.summary if summary is None else summary, SUMMARY))
    blocks = [section(f"{icon} *{what}* · {said}")]
    if why:
        blocks.append(context(f"*What drove it:* {escape(clip(why, WHY))}"))
    text = f"{what}: {escape(clip(incident.summary if summary is None else summary, TEXT))}"
    return Message(text, blocks, _metadata(ids.EVENT_INCIDENT_REPLY, incident, part))
