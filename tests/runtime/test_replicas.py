"""Several replicas deliver from one outbox: each message is sent by exactly one of them.

Every replica may run a notifier pass at the same moment (the leader's delivery job, and a
listener's pass after a button press in any replica); each item is claimed in the store
before it is sent, so two passes that read the same pending item send it once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient

from bot.clock import FixedClock
from bot.slack.notifier import Notifier
from bot.standins.server import Fault
from bot.standins.slack import BOT_TOKEN, SlackStandIn, running_slack
from bot.store.outbox import Outgoing, depth, enqueue

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with running_slack() as standin:
        standin.add_channel("eng", channel_id="C0ENG")
        yield standin


def test_replicas_delivering_at_once_post_each_message_once(engine, slack):
    items = [Outgoing(f"m{n}", "post", "C0ENG", {"text": f"message {n}"}) for n in range(12)]
    with engine.begin() as connection:
        enqueue(connection, items, NOW)
    # every post answered slowly, so the passes overlap in the middle of sending
    slack.fail(Fault(delay=0.05, after_effect=True), method="chat.postMessage", times=100)
    replicas = 3
    barrier = threading.Barrier(replicas)

    def deliver() -> None:
        notifier = Notifier(
            engine, WebClient(token=BOT_TOKEN, base_url=slack.api_url), FixedClock(NOW)
        )
        barrier.wait()
        notifier.deliver()

    threads = [threading.Thread(target=deliver) for _ in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    texts = sorted(m.text for m in slack.messages("C0ENG"))
    assert texts == sorted(f"message {n}" for n in range(12))
    with engine.connect() as connection:
        assert depth(connection) == {"sent": 12}
