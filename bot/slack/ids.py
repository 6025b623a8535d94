"""Stable ids shared by the message builders and the listeners that route their buttons.

A button's `action_id` says what to do; its `value` says to what (an incident id, or the key
of an answer to share). Block ids name the blocks a press rewrites, so a re-render finds them.
Metadata event types label what a message is, for code that reads the channel back.
"""

from __future__ import annotations

# command answers
SHARE_ANSWER = "share_answer"

# the incident root's buttons; each carries the incident id as its value
INCIDENT_ACK = "incident_ack"
INCIDENT_SNOOZE = "incident_snooze"
INCIDENT_EXPECTED = "incident_expected"
INCIDENT_NOT_ANOMALY = "incident_not_anomaly"
INCIDENT_PAUSE_KEY = "incident_pause_key"
INCIDENT_RESUME_KEY = "incident_resume_key"  # on the key block, once a key is paused
INCIDENT_ANSWERS = (  # an answer to the alert: the first one pressed wins
    INCIDENT_ACK,
    INCIDENT_SNOOZE,
    INCIDENT_EXPECTED,
    INCIDENT_NOT_ANOMALY,
)
INCIDENT_ACTIONS = (*INCIDENT_ANSWERS, INCIDENT_PAUSE_KEY)  # the root's row of buttons
KEY_ACTIONS = (INCIDENT_PAUSE_KEY, INCIDENT_RESUME_KEY)  # switch the alert's key off or on

# block ids a press rewrites
INCIDENT_BUTTONS_BLOCK = "incident_buttons"
INCIDENT_HANDLED_BLOCK = "incident_handled"
INCIDENT_RESOLVED_BLOCK = "incident_resolved"
INCIDENT_KEY_BLOCK = "incident_key"  # the paused (or resumed) key, with the switch back
SHARE_BLOCK = "share"

# message metadata event types
EVENT_INCIDENT = "aispend_incident"
EVENT_INCIDENT_REPLY = "aispend_incident_reply"
EVENT_DIGEST = "aispend_digest"
EVENT_WEEKLY = "aispend_weekly"
