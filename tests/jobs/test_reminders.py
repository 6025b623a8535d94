"""The ledger's daily job: seats' spend counted through today, and each renewal and review
reminder posted once, in the entry's team's channel, through the notifier to the Slack
stand-in, however often the job runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.analysis.subscriptions import Cycle, Subscription
from bot.clock import FixedClock
from bot.config import SlackConfig, TeamConfig, TeamFile
from bot.domain import DateRange, SpendQuery
from bot.jobs.reminders import run_reminders
from bot.slack.notifier import Notifier
from bot.standins.slack import BOT_TOKEN, SlackStandIn
from bot.store.db import make_engine, upgrade
from bot.store.queries import spend
from bot.store.subscriptions import add_subscription
from tests.builders import subscription
from tests.jobs import test_alerting

START = datetime(2026, 11, 30, 7, tzinfo=UTC)  # 15 days before Cursor renews
TEAMS = TeamFile(
    slack=SlackConfig(channel="#eng"),
    teams=(TeamConfig(id="growth", channel="#growth"),),
)


slack = test_alerting.slack  # the stand-in with #eng (C0ENG) and #growth (C0GROWTH)


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/reminders.db")
    upgrade(engine)
    with engine.begin() as connection:
        add_subscription(connection, _cursor(), START)
        add_subscription(connection, _chatgpt(), START)
    return engine


def _cursor() -> Subscription:
    return subscription(owner="U0MAYA", team="growth")


def _chatgpt() -> Subscription:
    return Subscription(
        vendor="OpenAI",
        plan="ChatGPT Team",
        cost=Decimal("7300"),
        cycle=Cycle.ANNUAL,
        renews_on=date(2027, 6, 1),
        started_on=date(2026, 6, 1),
        reviewed_on=date(2026, 9, 1),  # a review is due after Nov 30
    )


def _day(store: Engine, slack: SlackStandIn, at: datetime) -> int:
    queued = run_reminders(store, TEAMS, FixedClock(at))
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    Notifier(store, client, FixedClock(at)).deliver()
    return queued


def _texts(slack: SlackStandIn, channel: str) -> list[str]:
    return [m.text for m in slack.messages(channel)]


def test_each_reminder_is_posted_once_on_its_day(store: Engine, slack: SlackStandIn) -> None:
    queued = [_day(store, slack, START + timedelta(days=n)) for n in range(17)]
    queued += [_day(store, slack, START + timedelta(days=16, hours=5))]  # the same day again
    # day 0: nothing (15 days left, review 90 days old); day 1: 14 days' notice and the
    # review (91 days); day 12: 3 days' notice; day 31 would repeat the review
    assert queued == [0, 2, *[0] * 10, 1, *[0] * 5]
    assert _texts(slack, "C0GROWTH") == [
        "Cursor · Business renews in 14 days for $400.00",
        "Cursor · Business renews in 3 days for $400.00",
    ]
    assert _texts(slack, "C0ENG") == ["OpenAI · ChatGPT Team not reviewed for 91 days"]


def test_the_job_counts_the_seats_through_today(store: Engine, slack: SlackStandIn) -> None:
    december = SpendQuery(DateRange(date(2026, 12, 1), date(2027, 1, 1)))
    with store.connect() as connection:
        assert spend(connection, december).total == 0  # added on Nov 30
    _day(store, slack, START + timedelta(days=2))  # Dec 2
    with store.connect() as connection:
        total = spend(connection, december).total
    # two days of $7,300 a year (365 days: $20 a day) and of $400 over Nov 15..Dec 15 (30 days)
    assert total == Decimal(40) + 2 * Decimal("13.3333333333")
