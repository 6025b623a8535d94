"""Alerting end to end: incident events become one root per incident in the owning team's
channel, updated in place, with escalations and the resolution in its thread, delivered
through the notifier to the Slack stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.config import SlackConfig, TeamConfig, TeamFile
from bot.jobs.alerting import enqueue_alerts
from bot.slack.notifier import Notifier
from bot.standins.slack import BOT_TOKEN, SlackStandIn, running_slack
from bot.store.db import make_engine, upgrade
from bot.store.incidents import Change, handle, open_incidents, record

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
KEY = ("feature", "team:growth", "feature:search")
TEAMS = TeamFile(
    slack=SlackConfig(channel="#eng", escalation_contact="U0ONCALL", escalate_after_hours=4),
    teams=(TeamConfig(id="growth", channel="#growth", owners=("U0MAYA",)),),
)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with running_slack() as standin:
        standin.add_channel("eng", channel_id="C0ENG")
        standin.add_channel("growth", channel_id="C0GROWTH")
        yield standin


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/alerts.db")
    upgrade(engine)
    return engine


def _change(action: str, severity: str = "warning", key: tuple[str, ...] = KEY) -> Change:
    return Change(
        kind="spike",
        cadence="hourly",
        key=key,
        opened_at=NOW - timedelta(hours=1),
        action=action,
        severity=severity,
        summary=f"feature search (team growth): {action}",
        team="growth" if key == KEY else "",
        projected_impact=Decimal("850.00"),
    )


def _run(store: Engine, slack: SlackStandIn, at: datetime) -> int:
    with store.begin() as connection:
        queued = enqueue_alerts(connection, TEAMS, at)
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    Notifier(store, client, FixedClock(at)).deliver()
    return queued


def _roots(slack: SlackStandIn, channel: str) -> list[str]:
    return [m.ts for m in slack.messages(channel) if m.thread_ts in (None, m.ts)]


def test_an_incident_lives_in_one_thread_of_its_teams_channel(
    store: Engine, slack: SlackStandIn
) -> None:
    with store.begin() as connection:
        record(connection, [_change("open")], NOW)
    assert _run(store, slack, NOW) == 1
    (root_ts,) = _roots(slack, "C0GROWTH")
    assert _roots(slack, "C0ENG") == []
    with store.begin() as connection:
        record(connection, [_change("update")], NOW + timedelta(hours=1))
        record(connection, [_change("escalate", "critical")], NOW + timedelta(hours=2))
        record(connection, [_change("resolve", "info")], NOW + timedelta(hours=3))
    _run(store, slack, NOW + timedelta(hours=3))
    assert _roots(slack, "C0GROWTH") == [root_ts]  # never a second root
    root = slack.message("C0GROWTH", root_ts)
    replies = [m.text for m in slack.thread("C0GROWTH", root_ts)]
    assert len(replies) == 2
    assert replies[0].startswith("Escalated to critical")
    assert "<@U0MAYA>" in replies[0]  # the owner is called on
    assert replies[1].startswith("Resolved")
    assert len(root.updates) >= 2  # re-rendered in place, not re-posted
    assert _run(store, slack, NOW + timedelta(hours=3)) == 0  # a rerun says nothing new


def test_info_alerts_stay_in_the_digest(store: Engine, slack: SlackStandIn) -> None:
    with store.begin() as connection:
        record(connection, [_change("open", "info")], NOW)
    assert _run(store, slack, NOW) == 0
    assert slack.messages() == []


def test_an_alert_without_a_team_goes_to_the_default_channel(
    store: Engine, slack: SlackStandIn
) -> None:
    with store.begin() as connection:
        record(connection, [_change("open", key=("model", "provider:openai", "model:gpt-5"))], NOW)
    _run(store, slack, NOW)
    assert len(_roots(slack, "C0ENG")) == 1


def test_an_unacknowledged_alert_is_called_out_to_the_channel_once(
    store: Engine, slack: SlackStandIn
) -> None:
    with store.begin() as connection:
        record(connection, [_change("open")], NOW)
    _run(store, slack, NOW)
    _run(store, slack, NOW + timedelta(hours=2))
    assert slack.thread("C0GROWTH", _roots(slack, "C0GROWTH")[0]) == []  # not yet
    _run(store, slack, NOW + timedelta(hours=4))
    _run(store, slack, NOW + timedelta(hours=5))
    (called,) = slack.thread("C0GROWTH", _roots(slack, "C0GROWTH")[0])
    assert called.reply_broadcast
    assert "<@U0ONCALL>" in called.text


def test_an_acknowledged_alert_is_not_called_out(store: Engine, slack: SlackStandIn) -> None:
    with store.begin() as connection:
        record(connection, [_change("open")], NOW)
    _run(store, slack, NOW)
    with store.begin() as connection:
        (incident,) = open_incidents(connection)
        handle(connection, incident.id, "acknowledged", "U0MAYA", NOW + timedelta(minutes=5))
    _run(store, slack, NOW + timedelta(hours=6))
    assert slack.thread("C0GROWTH", _roots(slack, "C0GROWTH")[0]) == []
