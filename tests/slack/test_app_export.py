"""/aispend export through the served Slack app: the CSV is queued in the outbox, uploaded by
the notifier into the channel the command came from, and the asker is told."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from bot.domain import DateRange, SpendQuery
from bot.exports import FOCUS_COLUMNS
from bot.store import queries
from bot.store.outbox import depth
from tests.slack import test_app

served = test_app.served  # the app over HTTP, with thirty days of spend
_no_slack_environment = test_app._no_slack_environment
_posts = test_app._posts
OCTOBER = DateRange(date(2026, 10, 1), date(2026, 11, 1))  # last month, seen on NOW


def test_export_focus_uploads_last_months_csv_to_the_channel(served):
    status, body, url = served.command("export focus")
    assert (status, body) == (200, "")
    [post] = _posts(served.slack, url)
    assert post.body["response_type"] == "ephemeral"
    assert "Shared `aispend-focus-2026-10-01_2026-10-31.csv`" in post.body["text"]
    [file] = served.slack.files.values()
    assert file.filename == "aispend-focus-2026-10-01_2026-10-31.csv"
    assert file.channel == served.eng.id
    assert file.content is not None
    rows = list(csv.DictReader(io.StringIO(file.content.decode())))
    assert tuple(rows[0]) == FOCUS_COLUMNS
    with served.engine.connect() as connection:
        total = queries.spend(connection, SpendQuery(OCTOBER)).total
        assert depth(connection) == {"sent": 1}
    assert total > 0
    assert sum(Decimal(r["BilledCost"]) for r in rows) == total
    assert {r["ChargePeriodStart"][:7] for r in rows} == {"2026-10"}


def test_export_by_cost_center_and_a_bad_word_each_answer_the_asker(served):
    _, _, url = served.command("export 2026-10 by cost center")
    assert (
        "aispend-by-cost-center-2026-10-01_2026-10-31.csv"
        in _posts(served.slack, url)[0].body["text"]
    )
    [file] = served.slack.files.values()
    assert file.content is not None
    assert file.content.decode().startswith("cost_center,period_start,")
    _, _, url = served.command("export fokus")
    assert 'did you mean "focus"' in _posts(served.slack, url)[0].body["text"]
    assert len(served.slack.files) == 1
