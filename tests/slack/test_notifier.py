"""The notifier against the Slack stand-in through the real WebClient: order per thread,
retries on 429 and 5xx, nothing lost and nothing sent twice, permanent refusals recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.slack.notifier import METADATA_EVENT, Notifier
from bot.standins.slack import (
    BOT_TOKEN,
    Message,
    SlackStandIn,
    running_slack,
    server_error,
    slack_error,
)
from bot.standins.slack import ratelimited as rate_limited
from bot.store.db import make_engine, upgrade
from bot.store.outbox import Outgoing, depth, enqueue

START = datetime(2026, 11, 20, 9, tzinfo=UTC)


@dataclass
class SteppingClock:
    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with running_slack() as standin:
        standin.add_channel("eng", channel_id="C0ENG")
        standin.add_channel("growth", channel_id="C0GROWTH")
        yield standin


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/outbox.db")
    upgrade(engine)
    return engine


def _notifier(store: Engine, slack: SlackStandIn, clock: SteppingClock) -> Notifier:
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=5, retry_handlers=[])
    return Notifier(store, client, clock)


def _post(key: str, channel: str = "C0ENG", text: str = "") -> Outgoing:
    return Outgoing(key, "post", channel, {"text": text or key})


def _reply(key: str, root: str) -> Outgoing:
    return Outgoing(key, "reply", "", {"text": key}, thread_key=root)


def _update(key: str, root: str) -> Outgoing:
    return Outgoing(key, "update", "", {"text": f"{root} (updated)"}, thread_key=root)


def _tops(slack: SlackStandIn, channel: str) -> list[Message]:
    """The channel's top-level messages (thread replies left out)."""
    return [m for m in slack.messages(channel) if m.thread_ts in (None, m.ts)]


def _drain(notifier: Notifier, clock: SteppingClock, passes: int = 60) -> None:
    for _ in range(passes):
        notifier.deliver()
        with notifier.engine.connect() as connection:
            if not depth(connection).get("pending"):
                return
        clock.advance(30)
    raise AssertionError("the outbox never emptied")


def test_a_root_its_replies_and_an_update_go_out_in_order(
    store: Engine, slack: SlackStandIn
) -> None:
    clock = SteppingClock(START)
    with store.begin() as connection:
        enqueue(
            connection,
            [_reply("r1", "root"), _post("root"), _reply("r2", "root"), _update("u1", "root")],
            START,
        )
    report = _notifier(store, slack, clock).deliver()
    assert (report.sent, report.waiting) == (1, 3)  # r1 came before its root: the thread waits
    _drain(_notifier(store, slack, clock), clock)
    (root,) = _tops(slack, "C0ENG")
    assert root.text == "root (updated)"
    assert [m.text for m in slack.thread("C0ENG", root.ts)] == ["r1", "r2"]


def test_enqueuing_a_key_twice_sends_it_once(store: Engine, slack: SlackStandIn) -> None:
    clock = SteppingClock(START)
    with store.begin() as connection:
        assert enqueue(connection, [_post("digest:eng:2026-11-20")], START) == 1
        assert enqueue(connection, [_post("digest:eng:2026-11-20")], START) == 0
    _drain(_notifier(store, slack, clock), clock)
    _notifier(store, slack, clock).deliver()
    assert len(_tops(slack, "C0ENG")) == 1


def test_a_429_waits_for_retry_after_then_sends(store: Engine, slack: SlackStandIn) -> None:
    clock = SteppingClock(START)
    notifier = _notifier(store, slack, clock)
    with store.begin() as connection:
        enqueue(connection, [_post("a"), _reply("a1", "a")], START)
    slack.fail(rate_limited(7), method="chat.postMessage")
    first = notifier.deliver()
    assert (first.sent, first.retrying, first.waiting) == (0, 1, 1)
    clock.advance(6)
    assert notifier.deliver().sent == 0  # not before Retry-After
    clock.advance(1)
    assert notifier.deliver().sent == 2
    assert [m.text for m in _tops(slack, "C0ENG")] == ["a"]


def test_a_5xx_after_the_post_took_effect_is_not_posted_twice(
    store: Engine, slack: SlackStandIn
) -> None:
    clock = SteppingClock(START)
    notifier = _notifier(store, slack, clock)
    with store.begin() as connection:
        enqueue(connection, [_post("alert:7:root"), _reply("alert:7:r", "alert:7:root")], START)
    slack.fail(server_error(502, after_effect=True), method="chat.postMessage")
    assert notifier.deliver().retrying == 1
    _drain(notifier, clock)
    assert len(slack.messages_with_metadata(METADATA_EVENT, key="alert:7:root")) == 1
    (root,) = _tops(slack, "C0ENG")
    assert [m.text for m in slack.thread("C0ENG", root.ts)] == ["alert:7:r"]


def test_a_channel_slack_refuses_fails_for_good_with_its_thread(
    store: Engine, slack: SlackStandIn
) -> None:
    clock = SteppingClock(START)
    with store.begin() as connection:
        enqueue(
            connection,
            [_post("lost", channel="#nowhere"), _reply("lost:r", "lost"), _post("kept")],
            START,
        )
    report = _notifier(store, slack, clock).deliver()
    assert report.failed == 2
    assert any("channel_not_found" in e for e in report.errors)
    assert [m.text for m in _tops(slack, "C0ENG")] == ["kept"]
    with store.connect() as connection:
        assert depth(connection) == {"failed": 2, "sent": 1}


def test_a_refused_token_stops_the_pass_and_keeps_everything(
    store: Engine, slack: SlackStandIn
) -> None:
    clock = SteppingClock(START)
    with store.begin() as connection:
        enqueue(connection, [_post("x"), _post("y")], START)
    slack.fail(slack_error("token_revoked"), method="chat.postMessage")
    report = _notifier(store, slack, clock).deliver()
    assert "token_revoked" in report.stopped
    with store.connect() as connection:
        assert depth(connection) == {"pending": 2}


def test_nothing_lost_or_doubled_when_a_third_of_calls_fail(
    store: Engine, slack: SlackStandIn
) -> None:
    """The issue's target: 429s and 5xx on a third of calls, some after taking effect."""
    clock = SteppingClock(START)
    items: list[Outgoing] = []
    for n in range(30):
        root = f"alert:{n}:root"
        channel = "C0ENG" if n % 2 else "C0GROWTH"
        items += [_post(root, channel), _reply(f"alert:{n}:escalated", root)]
        items += [_update(f"alert:{n}:ack", root), _reply(f"alert:{n}:resolved", root)]
    with store.begin() as connection:
        enqueue(connection, items, START)
    faults = (rate_limited(1), server_error(500), server_error(503, after_effect=True))
    slack.chaos(1 / 3, seed=11, faults=faults)
    _drain(_notifier(store, slack, clock), clock, passes=200)
    slack.calm()
    for n in range(30):
        channel = "C0ENG" if n % 2 else "C0GROWTH"
        roots = [m for m in _tops(slack, channel) if m.text.startswith(f"alert:{n}:root")]
        assert len(roots) == 1, f"alert {n}: {len(roots)} roots"
        thread = [m.text for m in slack.thread(channel, roots[0].ts)]
        assert thread == [f"alert:{n}:escalated", f"alert:{n}:resolved"]
        assert roots[0].text == f"alert:{n}:root (updated)"
    assert sum(c.fault is not None for c in slack.calls()) > 20  # the chaos really happened
