"""Golden files for the subscription ledger's Slack messages (bot.slack.subs): the
`/aispend subs` answer and the renewal and review reminders. They live in
tests/slack/golden/subs/; rewrite them after an intended change and review the diff:

    AISPEND_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/slack/test_subs.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bot.analysis.subscriptions import Cycle, Subscription, due_reminders
from bot.slack.blocks import Message
from bot.slack.limits import block_problems
from bot.slack.subs import reminder_message, subs_answer
from tests.builders import subscription

GOLDEN = Path(__file__).parent / "golden" / "subs"
UPDATE = os.environ.get("AISPEND_UPDATE_GOLDEN") == "1"
TODAY = date(2026, 11, 18)


def entry(n: int, **changes: object) -> Subscription:
    values: dict[str, object] = {
        "renews_on": date(2026, 11, 28),
        "started_on": date(2026, 1, 28),
        "reviewed_on": date(2026, 10, 1),
        "owner": "U0MAYA",
        "team": "growth",
        "purpose": "AI editor for the product engineers",
        "id": n,
    }
    return subscription(**(values | changes))


LEDGER = [
    entry(1),
    entry(
        2,
        vendor="OpenAI",
        plan="ChatGPT Team",
        cost=Decimal("7200"),
        cycle=Cycle.ANNUAL,
        renews_on=date(2027, 3, 1),
        reviewed_on=date(2026, 7, 1),
        seats=24,
        owner="",
        team="",
    ),
    entry(3, vendor="GitHub", plan="Copilot Business", cost=Decimal("190"), seats=10),
    entry(4, vendor="Notion", plan="AI add-on", cost=Decimal("80"), ends_on=date(2026, 11, 1)),
]

CASES: dict[str, Callable[[], Message]] = {
    "subs_normal": lambda: subs_answer(LEDGER, TODAY, share_key="2026-11-18|subs"),
    "subs_no_data": lambda: subs_answer([], TODAY, share_key="2026-11-18|subs"),
    "subs_long_names": lambda: subs_answer(
        [entry(9, vendor="<Evil> & Co " * 10, plan="x" * 300, owner="@someone <b>")], TODAY
    ),
    "subs_many_rows": lambda: subs_answer(
        [entry(n, plan=f"Plan {n:02}", cost=Decimal(n)) for n in range(1, 41)], TODAY
    ),
    "reminder_renewal": lambda: reminder_message(due_reminders([entry(1)], TODAY)[0]),
    "reminder_review": lambda: reminder_message(due_reminders([LEDGER[1]], TODAY)[0]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_matches_its_golden_file(name: str) -> None:
    rendered = CASES[name]().payload()
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert path.exists(), f"no golden file {path.name}: run with AISPEND_UPDATE_GOLDEN=1"
    assert json.loads(path.read_text("utf-8")) == rendered
    assert block_problems(rendered["blocks"]) == []
    assert rendered["text"].strip()


def test_every_golden_file_has_a_case() -> None:
    assert {p.stem for p in GOLDEN.glob("*.json")} == set(CASES)


def test_reminders_flag_what_is_due() -> None:
    kinds = {(r.subscription.id, r.kind.value) for r in due_reminders(LEDGER, TODAY)}
    # Cursor and Copilot renew in 10 days; ChatGPT was last reviewed 140 days ago;
    # Cursor's review is 48 days old; Notion ended
    assert kinds == {(1, "renewal"), (3, "renewal"), (2, "review")}
