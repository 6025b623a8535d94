"""The rules behind the Slack message goldens: escaping, the double press, buttons, caps and
limits under any input. The goldens themselves are in test_blocks.py, whose samples these
tests reuse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.domain import Dimension, SpendRow
from bot.slack import answers, blocks, digest, home, ids, incidents, limits
from bot.slack.blocks import Message
from bot.slack.digest import Moved, Trend
from bot.slack.home import HomeData
from bot.slack.incidents import Handled, Handling
from bot.slack.limits import block_problems
from bot.store.queries import Mover
from tests.slack.test_blocks import (
    ACK,
    BUDGETS,
    CASES,
    EVIL,
    LONG,
    NOW,
    RUNWAYS,
    SOURCES,
    TITLE,
    USER,
    digest_data,
    evil_incident,
    incident,
    report,
    source,
    spike_root,
    stale_incident,
    weekly_data,
)

# what may follow "<" in our mrkdwn: mentions, dates and links; nothing a user typed
_TOKEN = re.compile(
    r"<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+|!subteam\^S[A-Z0-9]+|!here|!channel"
    r"|!date\^\d+\^[^|<>]+\|[^<>]+|https://[^|<>\s]+\|[^<>]+)>"
)
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def texts(payload: Any) -> Iterator[str]:
    """Every mrkdwn string of a payload, and its fallback text (plain_text carries only our
    own words: headers and buttons)."""
    if isinstance(payload, dict):
        text = payload.get("text")
        if isinstance(text, str) and payload.get("type") != "plain_text":
            yield text
        for value in payload.values():
            if not isinstance(value, str):
                yield from texts(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from texts(item)


# --- escaping ------------------------------------------------------------------------------


def test_escape_changes_only_the_three_control_characters() -> None:
    assert blocks.escape('<script>&"*_`') == '&lt;script&gt;&amp;"*_`'


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_angle_bracket_and_ampersand_is_markup_we_meant(name: str) -> None:
    for text in texts(CASES[name]()):
        assert _ENTITY.search(text) is None, text
        leftover = _TOKEN.sub("", text)
        assert "<" not in leftover, text
        assert ">" not in leftover, text


def test_a_model_named_script_renders_escaped() -> None:
    rows = [SpendRow((EVIL,), Decimal("3.00"))]
    answer = answers.report_answer(report(rows, (Dimension.MODEL,)), TITLE)
    dumped = json.dumps(answer.payload())
    assert "&lt;script&gt;&amp;" in dumped
    assert "<script>" not in dumped
    root = incidents.incident_root(evil_incident(), pause_key=EVIL)
    dumped = json.dumps(root.payload())
    assert "<script>" not in dumped
    assert "&lt;script&gt;&amp;" in root.blocks[1]["text"]["text"]


def test_a_configured_owner_cannot_inject_a_broadcast() -> None:
    assert blocks.mention("<@U024BE7LH>") == "<@U024BE7LH>"
    assert blocks.mention("U024BE7LH") == "<@U024BE7LH>"
    assert blocks.mention("<!subteam^S0614TZR7>") == "<!subteam^S0614TZR7>"
    assert blocks.mention("ops <!channel>") == "ops &lt;!channel&gt;"


def test_a_backtick_in_a_name_cannot_close_the_table() -> None:
    rows = [SpendRow(("a```b",), Decimal("1"))]
    table = answers.report_answer(report(rows), TITLE).blocks[2]["text"]["text"]
    assert table.count("```") == 2


# --- the incident root after a press ---------------------------------------------------------


def test_a_second_render_of_the_acknowledged_root_is_identical() -> None:
    assert spike_root(ACK) == spike_root(ACK)
    assert spike_root(ACK).payload() == spike_root(ACK).payload()


def test_marking_read_back_blocks_matches_the_fresh_render() -> None:
    marked = incidents.mark_handled(spike_root().blocks, ACK)
    assert marked == spike_root(ACK).blocks


def test_a_double_press_keeps_the_first_press() -> None:
    later = Handled(Handling.SNOOZED, "U999", ACK.at + timedelta(seconds=2))
    once = incidents.mark_handled(spike_root().blocks, ACK)
    assert incidents.mark_handled(once, later) == once
    assert incidents.mark_handled(once, ACK) == once


def test_the_acknowledged_root_keeps_everything_but_the_buttons() -> None:
    before, after = spike_root().blocks, spike_root(ACK).blocks
    assert before[:-1] == after[:-1]
    assert before[-1]["type"] == "actions"
    assert after[-1]["block_id"] == ids.INCIDENT_HANDLED_BLOCK
    line = after[-1]["elements"][0]["text"]
    assert f"<@{USER}>" in line
    assert "<!date^1794994860^" in line
    assert "|2026-11-18 09:41 UTC>" in line


def test_a_snooze_says_until_when() -> None:
    snoozed = spike_root(Handled(Handling.SNOOZED, USER, ACK.at)).blocks[-1]
    assert "until <!date^1795081260^" in snoozed["elements"][0]["text"]


# --- buttons -------------------------------------------------------------------------------


def _buttons(message: Message) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in message.blocks:
        if block["type"] == "actions":
            found |= {e["action_id"]: e for e in block["elements"]}
    return found


def test_a_spike_root_offers_every_answer_with_the_incident_id() -> None:
    buttons = _buttons(spike_root())
    assert list(buttons) == list(ids.INCIDENT_ACTIONS)
    assert {b["value"] for b in buttons.values()} == {"42"}
    assert buttons[ids.INCIDENT_ACK]["text"]["text"] == "Acknowledge"
    assert buttons[ids.INCIDENT_SNOOZE]["text"]["text"] == "Snooze 24h"
    assert buttons[ids.INCIDENT_EXPECTED]["text"]["text"] == "Expected"
    assert buttons[ids.INCIDENT_NOT_ANOMALY]["text"]["text"] == "Not an anomaly"
    confirm = buttons[ids.INCIDENT_PAUSE_KEY]["confirm"]
    assert confirm["confirm"]["text"] == "Pause key"
    assert "sk-svcacct-search-prod" in confirm["text"]["text"]


def test_pausing_a_key_needs_a_key_and_feedback_needs_a_spike() -> None:
    assert ids.INCIDENT_PAUSE_KEY not in _buttons(incidents.incident_root(incident()))
    assert list(_buttons(incidents.incident_root(stale_incident()))) == [
        ids.INCIDENT_ACK,
        ids.INCIDENT_SNOOZE,
    ]


def test_a_resolved_root_has_no_buttons() -> None:
    assert _buttons(incidents.incident_root(incident(status="resolved"))) == {}


def test_every_handling_has_an_action_and_words() -> None:
    assert set(incidents.HANDLING_BY_ACTION) == set(ids.INCIDENT_ANSWERS)
    for how in Handling:
        assert incidents.handled_words(Handled(how, USER, NOW))


@pytest.mark.parametrize(
    "message",
    [
        answers.report_answer(report([]), TITLE, share_key="abc"),
        answers.help_answer(share_key="abc"),
        answers.alerts_answer([], share_key="abc"),
        answers.status_answer([], [], NOW, share_key="abc"),
        answers.budget_answer([], share_key="abc"),
        answers.top_answer([], (), TITLE, share_key="abc"),
    ],
)
def test_an_ephemeral_answer_can_be_shared(message: Message) -> None:
    share = _buttons(message)[ids.SHARE_ANSWER]
    assert share["value"] == "abc"
    assert share["text"]["text"] == "Share to channel"


def test_a_shared_answer_and_an_error_have_no_share_button() -> None:
    assert _buttons(answers.report_answer(report([]), TITLE)) == {}
    assert _buttons(answers.error_answer("bad word", suggestion="week")) == {}


def test_the_channel_escalation_is_broadcast_and_calls_the_contact() -> None:
    found = incidents.channel_escalation(
        incident(), contact="<!subteam^S0614TZR7>", waiting_since=NOW
    )
    assert found.reply_broadcast
    assert found.payload()["reply_broadcast"] is True
    assert found.text.startswith("<!subteam^S0614TZR7>")


# --- content -------------------------------------------------------------------------------


def test_unpriced_usage_is_never_shown_as_zero() -> None:
    rows = [SpendRow(("deepseek",), Decimal(0), unpriced_requests=5)]
    table = answers.report_answer(report(rows), TITLE).blocks[2]["text"]["text"]
    assert "no price" in table
    assert "$0.00" not in table


def test_report_lines_fit_a_phone() -> None:
    rows = [SpendRow((LONG, LONG), Decimal("123.45")), SpendRow(("a", "b"), Decimal("1"))]
    table = answers.report_answer(report(rows, (Dimension.TEAM, Dimension.MODEL)), TITLE)
    lines = table.blocks[2]["text"]["text"].strip("`\n").splitlines()
    assert max(len(line) for line in lines) <= answers.LINE_WIDTH


def test_trend_words() -> None:
    assert blocks.trend(Decimal(112), Decimal(100)) == "▲ 12%"
    assert blocks.trend(Decimal(92), Decimal(100)) == "▼ 8%"
    assert blocks.trend(Decimal("100.2"), Decimal(100)) == "flat"
    assert blocks.trend(Decimal(5), None) == "new"
    assert blocks.trend(Decimal(0), Decimal(0)) == "flat"
    assert blocks.trend(Decimal(1400), Decimal(100)) == "▲ 14x"


def test_weekly_buckets_sum_providers_and_keep_unknowns_apart() -> None:
    providers = [Trend("openai", Decimal(10), Decimal(5)), Trend("acme", Decimal(3), None)]
    data = weekly_data(providers=providers, teams=[], movers=[])
    found = digest.weekly_summary(data, buckets={"openai": "direct"})
    cells = [f["text"] for b in found.blocks for f in b.get("fields", [])]
    assert "*Direct APIs*\n$10.00 ▲ 100%" in cells
    assert "*Other*\n$3.00 new" in cells


# --- limits under any input ------------------------------------------------------------------


def test_fit_lines_keeps_whole_lines_and_counts_the_rest() -> None:
    lines = [f"line {n} " + "x" * 90 for n in range(100)]
    text = blocks.fit_lines(lines, most=1000)
    assert len(text) <= 1000
    kept = text.splitlines()
    assert kept[-1] == f"… and {100 - len(kept) + 1} more"
    assert all(line in lines for line in kept[:-1])


def test_the_section_backstop_never_cuts_markup() -> None:
    text = "```\n" + "&amp;" * 598 + "<@U1>" * 10
    cut = blocks.section(text)["text"]["text"]
    assert limits.SECTION_TEXT - 100 < len(cut) <= limits.SECTION_TEXT
    assert cut.count("```") % 2 == 0
    assert _ENTITY.search(cut) is None
    assert "<" not in _TOKEN.sub("", cut)


def test_finish_caps_a_message_and_keeps_the_buttons() -> None:
    many = [blocks.divider()] * 80 + [blocks.share_button("k")]
    found = blocks.finish(many)
    assert len(found) == limits.BLOCKS_PER_MESSAGE
    assert found[-1]["block_id"] == ids.SHARE_BLOCK
    assert block_problems(found) == []


def test_huge_inputs_stay_inside_every_limit() -> None:
    many_incidents = [evil_incident()] * 500
    rows = [SpendRow((f"{EVIL}{n}{LONG}", LONG), Decimal(n)) for n in range(2000)]
    movers = [Mover((f"{EVIL}{n}",), Decimal(1), Decimal(n + 2)) for n in range(500)]
    moved = [Moved(f"{EVIL}{LONG}", Decimal(1), Decimal(2), LONG * 5)] * 200
    messages = [
        answers.report_answer(report(rows, (Dimension.TEAM, Dimension.MODEL)), TITLE),
        answers.top_answer(movers, (Dimension.MODEL,), TITLE, share_key="k" * 3000),
        answers.alerts_answer(many_incidents, share_key="k"),
        answers.status_answer(
            [source(f"{EVIL}{n}{LONG}", 99, 1, EVIL * 2000) for n in range(500)],
            RUNWAYS * 200,
            NOW,
        ),
        answers.budget_answer(BUDGETS * 300),
        answers.error_answer(EVIL * 2000),
        incidents.incident_root(
            incident(summary=EVIL * 5000, why=EVIL * 5000, team=EVIL * 500),
            owner=EVIL * 100,
            pause_key=EVIL * 500,
            handled=Handled(Handling.ACKNOWLEDGED, EVIL * 100, NOW),
        ),
        incidents.update_reply(incident(summary=EVIL * 5000), why=EVIL * 5000),
        digest.daily_digest(
            digest_data(
                movers=moved,
                providers=[Trend(EVIL * 300, Decimal(n), None) for n in range(300)],
                alerts=many_incidents,
                stale=[source(EVIL * 300, 99, 1, EVIL * 900)] * 300,
            )
        ),
    ]
    for message in messages:
        payload = message.payload()
        assert block_problems(payload["blocks"]) == []
        assert 0 < len(payload["text"]) <= limits.UPDATE_TEXT
        assert "<script>" not in json.dumps(payload)
    view = home.home_view(
        HomeData(
            now=NOW,
            budgets=BUDGETS * 300,
            incidents=many_incidents,
            sources=SOURCES * 300,
            runways=RUNWAYS * 300,
            providers=[Trend(EVIL, Decimal(1), None)] * 300,
        )
    )
    assert view["type"] == "home"
    assert block_problems(view["blocks"], view=True) == []


def test_dates_are_shown_in_the_readers_zone_with_a_utc_fallback() -> None:
    moment = datetime(2026, 11, 18, 9, 41, tzinfo=UTC)
    assert blocks.slack_date(moment) == (
        "<!date^1794994860^{date_short_pretty} at {time}|2026-11-18 09:41 UTC>"
    )
