"""The subscription ledger in Slack: the `/aispend subs` answer and the renewal and review
reminders. Pure builders: the app and the reminders job pass what they read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from bot.analysis.subscriptions import (
    RENEWAL_NOTICE_DAYS,
    REVIEW_AFTER_DAYS,
    Cycle,
    Reminder,
    ReminderKind,
    Subscription,
    next_renewal,
)
from bot.slack.blocks import (
    Block,
    Message,
    context,
    day_label,
    escape,
    finish,
    mention,
    name,
    plural,
    section,
    sections,
    share_button,
    usd,
)
from bot.slack.phrases import and_more

LIST_LINES = 20


def subs_answer(
    subs: Sequence[Subscription], today: date, *, share_key: str | None = None
) -> Message:
    """Running entries, dearest a month first: seats, cost, monthly equivalent, renewal,
    owner and days since review, flagged when a renewal is near or a review is overdue."""
    running = [s for s in subs if s.ends_on is None or s.ends_on > today]
    if not running:
        words = "No subscriptions in the ledger: add them with `aispend subs add`."
        return _answer("No subscriptions in the ledger.", [section(words)], share_key)
    running.sort(key=lambda s: (-s.monthly, s.vendor, s.plan))
    total = sum((s.monthly for s in running), Decimal(0))
    head = f"*Subscriptions* · {plural(len(running), 'entry', 'entries')}, *{usd(total)}* a month"
    lines = [sub_line(s, today) for s in running]
    blocks = [
        section(head),
        *sections(lines, most_lines=LIST_LINES, more=and_more("entries")),
        context(
            "Counted in every total, spread over the days of each cycle. "
            f":bell: renews within {max(RENEWAL_NOTICE_DAYS)} days · "
            f":hourglass: not reviewed for over {REVIEW_AFTER_DAYS} days"
        ),
    ]
    text = f"Subscriptions: {len(running):,} running, {usd(total)} a month"
    return _answer(text, blocks, share_key)


def sub_line(s: Subscription, today: date) -> str:
    """*Cursor · Business* (growth) · 10 seats · $400.00/mo · renews Tue 15 Dec · <@U1> · ..."""
    renewal = next_renewal(s, today)
    since = (today - s.reviewed_on).days
    flags = ""
    if renewal is not None and (renewal - today).days <= max(RENEWAL_NOTICE_DAYS):
        flags += ":bell: "
    if since > REVIEW_AFTER_DAYS:
        flags += ":hourglass: "
    team = f" ({name(s.team)})" if s.team else ""
    per = "mo" if s.cycle is Cycle.MONTHLY else "yr"
    cost = f"{usd(s.cost)}/{per}"
    if s.cycle is not Cycle.MONTHLY:
        cost += f" ({usd(s.monthly)} a month)"
    renews = f"renews {day_label(renewal)}" if renewal else f"ends {day_label(s.ends_on or today)}"
    owner = f" · {mention(s.owner)}" if s.owner else ""
    return (
        f"{flags}*{name(s.vendor)} · {name(s.plan)}*{team} · {plural(s.seats, 'seat')} · "
        f"{cost} · {renews}{owner} · reviewed {plural(since, 'day')} ago"
    )


def reminder_message(reminder: Reminder) -> Message:
    """A renewal coming up, or an entry nobody has reviewed: who owns it and what to do."""
    s = reminder.subscription
    what = f"*{name(s.vendor)} · {name(s.plan)}*"
    owner = f"{mention(s.owner)}: " if s.owner else ""
    if reminder.kind is ReminderKind.RENEWAL and reminder.renews_on is not None:
        when = "today" if reminder.days_left == 0 else f"in {plural(reminder.days_left, 'day')}"
        head = (
            f":bell: {owner}{what} renews {when}, on {day_label(reminder.renews_on)}, "
            f"for {usd(s.cost)} ({plural(s.seats, 'seat')})."
        )
        ask = "Still needed at this size? To cancel, `aispend subs remove " + f"{s.id}`."
        text = f"{s.vendor} · {s.plan} renews {when} for {usd(s.cost)}"
    else:
        head = (
            f":hourglass: {owner}{what} has not been reviewed for "
            f"{plural(reminder.days_left, 'day')} ({usd(s.monthly)} a month, "
            f"{plural(s.seats, 'seat')})."
        )
        ask = f"Check seats and purpose, then `aispend subs review {s.id}`."
        text = f"{s.vendor} · {s.plan} not reviewed for {reminder.days_left:,} days"
    purpose = context(f"Purpose: {name(s.purpose, 500)}") if s.purpose else None
    blocks = [section(head), section(ask), *([purpose] if purpose else [])]
    return Message(escape(text), finish(blocks))


def _answer(text: str, blocks: list[Block], share_key: str | None) -> Message:
    if share_key is not None:
        blocks = [*blocks, share_button(share_key)]
    return Message(escape(text), finish(blocks))
