"""/aispend subs through the served Slack app: the ledger's entries answered ephemerally, with
the seats' spend in the totals the other answers give."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.analysis.subscriptions import Subscription
from bot.domain import DateRange, SpendQuery
from bot.money import format_usd
from bot.slack import ids
from bot.store import queries
from bot.store.subscriptions import add_subscription
from tests.builders import subscription
from tests.slack import test_app

served = test_app.served  # the app over HTTP, with thirty days of spend
_no_slack_environment = test_app._no_slack_environment
_posts = test_app._posts
_buttons = test_app._buttons
NOW = test_app.NOW


def _cursor() -> Subscription:
    return subscription(
        renews_on=date(2026, 11, 28),
        started_on=date(2026, 10, 28),
        reviewed_on=date(2026, 10, 28),
        owner="U0MAYA",
        team="growth",
    )


def test_subs_lists_the_ledger_with_a_share_button(served):
    with served.engine.begin() as connection:
        add_subscription(connection, _cursor(), NOW)
    status, body, url = served.command("subs")
    assert (status, body) == (200, "")
    [post] = _posts(served.slack, url)
    assert post.body["response_type"] == "ephemeral"
    assert post.body["text"] == "Subscriptions: 1 running, $400.00 a month"
    listed = post.body["blocks"][1]["text"]["text"]
    assert listed.startswith(":bell: *Cursor · Business* (growth) · 10 seats · $400.00/mo")
    assert "renews Sat 28 Nov · <@U0MAYA> · reviewed 23 days ago" in listed
    assert [b["action_id"] for b in _buttons(post.body["blocks"])] == [ids.SHARE_ANSWER]


def test_an_empty_ledger_says_how_to_fill_it(served):
    _, _, url = served.command("subs")
    [post] = _posts(served.slack, url)
    assert post.body["text"] == "No subscriptions in the ledger."


def test_the_seats_are_in_the_totals_slack_reports(served):
    month = SpendQuery(DateRange(date(2026, 11, 1), date(2026, 11, 21)))
    with served.engine.connect() as connection:
        before = queries.spend(connection, month).total
    with served.engine.begin() as connection:
        add_subscription(connection, _cursor(), NOW)
    with served.engine.connect() as connection:
        after = queries.spend(connection, month).total
    # $400 over Oct 28..Nov 27 (31 days): 400e10 units = 31 x 129032258064 + 16, the 16
    # going to Oct 28..Nov 12; counted Nov 1..20 (through today), 12 of them with the extra
    assert after - before == Decimal("258.0645161292")
    _, _, url = served.command("month by provider")
    answer = _posts(served.slack, url)[0].body
    assert answer["text"].endswith(f"{format_usd(after)} in total")
    assert "cursor" in test_app._texts(answer["blocks"])
