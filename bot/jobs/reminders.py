"""The subscription ledger's daily job: count the seats' spend through today, and queue the
renewal and review reminders that are due. Each reminder has its own idempotency key
(analysis.subscriptions.due_reminders), so it is posted once however often the job runs.

Schedule `run_reminders` once a day (any hour; it catches up on missed days): the rollups
only hold subscription spend through the last day it (or a ledger change) ran."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine

from bot.analysis.subscriptions import Reminder, due_reminders
from bot.clock import Clock
from bot.config import TeamFile
from bot.slack.subs import reminder_message
from bot.store.outbox import Outgoing, enqueue
from bot.store.subscriptions import list_subscriptions, rebuild_subscription_spend

logger = logging.getLogger(__name__)


def run_reminders(engine: Engine, team_file: TeamFile, clock: Clock) -> int:
    """One transaction: the ledger's spend through today, then the reminders due today.
    Returns how many reminders were newly queued."""
    with engine.begin() as connection:
        return enqueue_reminders(connection, team_file, clock)


def enqueue_reminders(connection: Connection, team_file: TeamFile, clock: Clock) -> int:
    now = clock.now()
    today = now.date()
    rebuild_subscription_spend(connection, today)
    reminders = due_reminders(list_subscriptions(connection), today)
    items = [
        Outgoing(r.key, "post", channel_for(r, team_file), reminder_message(r).payload())
        for r in reminders
    ]
    queued = enqueue(connection, items, now)
    if queued:
        logger.info("subscription reminders queued", extra={"count": queued})
    return queued


def channel_for(reminder: Reminder, team_file: TeamFile) -> str:
    """The entry's team's channel, else the default channel."""
    team = reminder.subscription.team
    for config in team_file.teams:
        if config.id == team and config.channel:
            return config.channel
    return team_file.slack.channel
