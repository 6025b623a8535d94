"""The notifier when several passes run at once (the scheduler's jobs each deliver; a button
press delivers from a web request) and after a post whose answer was lost: an item is claimed
before it is sent, a thread waits behind an item that is not due yet, and a lost post to a
channel given by name is found by the channel's id. Each of these sent a message twice, or
out of order, before the reliability suite found it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.slack.notifier import METADATA_EVENT, Notifier
from bot.standins.server import Fault
from bot.standins.slack import (
    BOT_TOKEN,
    SlackStandIn,
    connection_reset,
    running_slack,
    server_error,
)
from bot.store.db import make_engine, upgrade
from bot.store.outbox import Outgoing, depth, enqueue
from tests.slack.test_notifier import SteppingClock

START = datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with running_slack() as standin:
        for n in range(3):  # channels listed before #eng
            standin.add_channel(f"other{n}")
        standin.add_channel("eng", channel_id="C9ENG")
        yield standin


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/outbox.db")
    upgrade(engine)
    return engine


def _notifier(store: Engine, slack: SlackStandIn, clock: SteppingClock) -> Notifier:
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=5, retry_handlers=[])
    return Notifier(store, client, clock)


def _keys(slack: SlackStandIn) -> list[str]:
    return [
        (m.metadata or {}).get("event_payload", {}).get("key", "")
        for m in slack.messages()
        if m.metadata and m.metadata.get("event_type") == METADATA_EVENT
    ]


def test_two_passes_at_once_post_an_item_once(store: Engine, slack: SlackStandIn) -> None:
    with store.begin() as connection:
        enqueue(connection, [Outgoing("digest", "post", "C9ENG", {"text": "digest"})], START)
    slack.fail(Fault(delay=0.5), method="chat.postMessage")  # the first post is slow to land
    clock = SteppingClock(START)
    first = threading.Thread(target=_notifier(store, slack, clock).deliver)
    first.start()
    slack.wait_for("chat.postMessage", timeout=5)
    second = _notifier(store, slack, clock).deliver()  # while the first post is out
    first.join(timeout=10)
    assert second.sent == 0
    assert second.waiting == 0  # it never saw the item: claimed, so not due
    assert _keys(slack) == ["digest"]
    assert len(slack.calls("chat.postMessage")) == 1


def test_a_reply_waits_behind_an_earlier_one_being_retried(
    store: Engine, slack: SlackStandIn
) -> None:
    clock = SteppingClock(START)
    notifier = _notifier(store, slack, clock)
    with store.begin() as connection:
        enqueue(connection, [Outgoing("alert", "post", "C9ENG", {"text": "alert"})], START)
    assert notifier.deliver().sent == 1
    first = Outgoing("alert:escalated", "reply", "", {"text": "escalated"}, "alert")
    second = Outgoing("alert:resolved", "reply", "", {"text": "resolved"}, "alert")
    with store.begin() as connection:
        enqueue(connection, [first, second], START)
    slack.fail(server_error(503), method="chat.postMessage")
    assert notifier.deliver().retrying == 1  # "escalated" is retried in 1 s; "resolved" waits
    clock.advance(0.5)
    assert notifier.deliver().sent == 0  # "resolved" is due, but must not overtake
    clock.advance(5)
    assert notifier.deliver().sent == 2
    [alert] = [m for m in slack.messages() if m.text == "alert"]
    assert [m.text for m in slack.thread("C9ENG", alert.ts)] == ["escalated", "resolved"]


def test_a_lost_post_to_a_channel_name_is_found_and_not_posted_again(
    store: Engine, slack: SlackStandIn
) -> None:
    with store.begin() as connection:
        enqueue(connection, [Outgoing("digest", "post", "#eng", {"text": "digest"})], START)
    clock = SteppingClock(START)
    notifier = _notifier(store, slack, clock)
    slack.fail(server_error(502, after_effect=True), method="chat.postMessage")
    assert notifier.deliver().retrying == 1  # posted, but the answer was an error page
    clock.advance(5)
    assert notifier.deliver().sent == 1
    assert _keys(slack) == ["digest"]
    assert slack.calls("conversations.list")  # history is read by channel id only
    with store.connect() as connection:
        assert depth(connection) == {"sent": 1}


def test_a_dropped_connection_after_a_post_took_effect_is_not_resent_by_the_client(
    store: Engine, slack: SlackStandIn
) -> None:
    """A WebClient as built by default retries a dropped connection at once, blind: the
    notifier calls Slack without that, and looks the post up before sending it again."""
    with store.begin() as connection:
        enqueue(connection, [Outgoing("digest", "post", "C9ENG", {"text": "digest"})], START)
    clock = SteppingClock(START)
    notifier = Notifier(store, WebClient(token=BOT_TOKEN, base_url=slack.api_url), clock)
    slack.fail(connection_reset(after_effect=True), method="chat.postMessage")
    assert notifier.deliver().retrying == 1
    clock.advance(5)
    assert notifier.deliver().sent == 1
    assert _keys(slack) == ["digest"]
