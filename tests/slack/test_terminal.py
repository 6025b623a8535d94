"""Slack messages drawn in the terminal (bot.slack.terminal): the golden Block Kit messages
rendered to exact text, and the mrkdwn rules one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style

from bot.slack.terminal import inline, plain, render_message, render_thread

GOLDEN = Path(__file__).parent / "golden"
NAMES = {"U024BE7LH": "maya", "C0ENG": "eng"}
WIDTH = 72


def golden(name: str) -> dict[str, Any]:
    found = json.loads((GOLDEN / f"{name}.json").read_text("utf-8"))
    assert isinstance(found, dict)
    return found


def drawn(message: dict[str, Any], **options: Any) -> str:
    return plain(render_message(message, names=NAMES, **options), WIDTH)


def test_an_answer_with_a_table_a_note_and_a_button():
    assert drawn(golden("report_normal")) == (
        "╭─ aispend APP ────────────────────────────────────────────────────────╮\n"
        "│ AI spend, week (2026-11-11..2026-11-17) · total $2,096.85            │\n"
        "│ billed cost where providers have reported it, else estimates and app │\n"
        "│ events; plus subscriptions                                           │\n"
        "│                                                                      │\n"
        "│   provider         cost  share                                       │\n"
        "│   openai      $1,204.50    57%                                       │\n"
        "│   anthropic     $880.10    42%                                       │\n"
        "│   openrouter    $12.25*     1%                                       │\n"
        "│   deepseek     no price     0%                                       │\n"
        "│ ❔ 1,240 requests have no known price and are not in the total       │\n"
        "│ (marked * or shown as no price)                                      │\n"
        "│                                                                      │\n"
        "│ [Share to channel]                                                   │\n"
        "╰──────────────────────────────────────────────────────────────────────╯\n"
    )


def test_an_acknowledged_alert_with_its_thread():
    root = golden("incident_root_acknowledged") | {
        "ts": "1794994860.000100",
        "user": "U0BOT",
        "bot_id": "B0BOT",
    }
    escalation = golden("incident_escalation") | {
        "ts": "1794994920.000200",
        "thread_ts": root["ts"],
        "subtype": "thread_broadcast",
    }
    resolution = golden("incident_resolution") | {
        "ts": "1794998520.000300",
        "thread_ts": root["ts"],
    }
    thread = render_thread(root, [escalation, resolution], names=NAMES, updated=1)
    assert plain(thread, WIDTH) == (
        "╭─ aispend APP  09:41 UTC ─────────────────────────────────────────────╮\n"
        "│ Spend spike · critical                                               │\n"
        "│                                                                      │\n"
        "│ 🔴 model gpt-5 on openai                                             │\n"
        "│ $52.10 on 2026-11-17 against a usual $5.20 (10.0x); $1,450.00 more   │\n"
        "│ by month end if it continues                                         │\n"
        "│                                                                      │\n"
        "│ Month end if it continues         Extra by month end                 │\n"
        "│ $12,900.00                        $1,450.00                          │\n"
        "│ Team                              Owner                              │\n"
        "│ growth                            @maya                              │\n"
        "│                                                                      │\n"
        "│ What drove it                                                        │\n"
        "│ Against the same time last week: team growth: +$44.80, 96% of the    │\n"
        "│ rise, volume ×9.8; team search: +$2.10, 4% of the rise               │\n"  # noqa: RUF001
        "│ Alert #42 · daily · opened 2026-11-17 06:00 UTC                      │\n"
        "│ 👀 Acknowledged by @maya 2026-11-18 09:41 UTC                        │\n"
        "╰──────────────────────────────────────────────────────────── updated ─╯\n"
        "    └ 2 replies\n"
        "    ╭─ aispend APP  09:42 UTC ─────────────────────────────────────────╮\n"
        "    │ ⏫ Escalated to critical · model gpt-5 on openai: $130.00 on     │\n"
        "    │ 2026-11-18 against a usual $5.20 (25.0x)                         │\n"
        "    │                                                                  │\n"
        "    │ @maya this one is yours: please acknowledge or mark it expected. │\n"
        "    ╰─────────────────────────────────────── also sent to the channel ─╯\n"
        "    ╭─ aispend APP  10:42 UTC ─────────────────────────────────────────╮\n"
        "    │ ✅ Resolved · model gpt-5 on openai: resolved, back to usual     │\n"
        "    │ (excess so far $180.40)                                          │\n"
        "    ╰──────────────────────────────────────────────────────────────────╯\n"
    )


def test_a_digest_reads_its_fields_entities_and_dates():
    shown = drawn(golden("digest_normal"))
    lines = [line.strip("│ ") for line in shown.splitlines()]
    assert lines[1] == "AI spend · Tue 17 Nov"
    assert "Tue 17 Nov: $422.90 against a usual Tuesday $371.00 (▲ 14%)" in lines
    assert "OpenAI                            Anthropic" in lines  # two-column fields
    assert "$210.40 ▲ 17%                     $160.00 ▼ 6%" in lines
    assert "🟠 #9 source anthropic.usage has sent no data for 30 hours ·" in lines
    assert "min ago, failing ×3: 401 Unauthorized: <html>invalid" in lines  # noqa: RUF001
    assert lines[-2] == "all spend · data as of 2026-11-18 09:30 UTC · /aispend help for more"
    for markup in ("*", "&lt;", "<!date", "`", ":x:"):
        assert markup not in shown


def test_buttons_wrap_between_buttons_never_inside_one():
    shown = plain(render_message(golden("incident_root_spike")), 40)
    assert "│ [Acknowledge]  [Snooze 24h]          │" in shown
    assert "│ [Expected]  [Not an anomaly]         │" in shown
    assert "│ [Pause key]                          │" in shown


def test_states_under_the_box():
    ephemeral = {"text": "hi", "response_type": "ephemeral"}
    assert "─ only visible to you ─╯" in drawn(ephemeral)
    edited = {"text": "hi", "edited": {"user": "U1", "ts": "1.2"}}
    assert "─ edited ─╯" in drawn(edited, updated=3)  # edited text says so, however often
    assert "─ updated 3 times ─╯" in drawn({"text": "hi"}, updated=3)
    assert drawn({"text": "hi"}).splitlines()[-1] == "╰" + "─" * (WIDTH - 2) + "╯"


def test_a_person_is_named_and_has_no_app_badge():
    shown = drawn({"text": "lunch?", "user": "U024BE7LH", "ts": "1794994860.0001"})
    assert shown.splitlines()[0].startswith("╭─ maya  09:41 UTC ─")
    assert "APP" not in shown


def test_text_without_blocks_and_files_and_unknown_blocks():
    message = {
        "text": "The dashed line is the budget's pace.",
        "files": [{"id": "F1", "name": "chart.png", "title": "AI spend", "size": 35_000}],
    }
    shown = drawn(message)
    assert "│ The dashed line is the budget's pace." in shown
    assert "│ 📎 AI spend (chart.png, 34 KB)" in shown
    odd = {"text": "x", "blocks": [{"type": "video", "title": {"type": "plain_text"}}]}
    assert "│ [video block]" in drawn(odd)


def test_divider_image_and_rich_text_blocks():
    message = {
        "text": "x",
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": "*not bold*"}},
            {"type": "divider"},
            {"type": "image", "image_url": "https://x/c.png", "alt_text": "the chart"},
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "ask "},
                            {"type": "user", "user_id": "U024BE7LH"},
                            {"type": "emoji", "name": "eyes"},
                        ],
                    },
                    {
                        "type": "rich_text_preformatted",
                        "elements": [{"type": "text", "text": "a  b"}],
                    },
                ],
            },
        ],
    }
    assert drawn(message) == (
        "╭─ aispend APP ────────────────────────────────────────────────────────╮\n"
        "│ *not bold*                                                           │\n"
        "│                                                                      │\n"
        "│ ──────────────────────────────────────────────────────────────────── │\n"
        "│                                                                      │\n"
        "│ 📷 the chart (https://x/c.png)                                       │\n"
        "│                                                                      │\n"
        "│ ask @maya👀                                                          │\n"
        "│   a  b                                                               │\n"
        "╰──────────────────────────────────────────────────────────────────────╯\n"
    )  # plain_text is not mrkdwn: its stars stay


@pytest.mark.parametrize(
    ("mrkdwn", "shown"),
    [
        ("*bold* and _italic_ and ~gone~", "bold and italic and gone"),
        ("`code *stays*`", "code *stays*"),
        ("<@U024BE7LH> and <@U999|sam> and <@U777>", "@maya and @sam and @U777"),
        ("in <#C0ENG> or <#C1|random>", "in #eng or #random"),
        ("<!here> <!channel> <!subteam^S1|@oncall>", "@here @channel @oncall"),
        ("<!date^1794895200^{date_short}|2026-11-17 06:00 UTC>", "2026-11-17 06:00 UTC"),
        ("<!date^1794895200^{date_short}>", "2026-11-17 06:00 UTC"),
        ("<https://example.com/a_b_c|the *docs*>", "the *docs*"),
        ("<https://example.com/a?x=1&amp;y=2>", "https://example.com/a?x=1&y=2"),
        ("&lt;script&gt; &amp;lt; &amp;", "<script> &lt; &"),
        (":white_check_mark: :not_an_emoji: 15:30:00", "✅ :not_an_emoji: 15:30:00"),
        (
            "key_growth_prod and 2*3*4 and $12.25* each",
            "key_growth_prod and 2*3*4 and $12.25* each",
        ),
        ("a * b * c", "a * b * c"),
        ("*<@U024BE7LH>*", "@maya"),
        ("*_both_*", "both"),
        ("before ```pre *x*``` after", "before pre *x* after"),
    ],
)
def test_mrkdwn_reads_as_slack_shows_it(mrkdwn, shown):
    assert inline(mrkdwn, NAMES).plain == shown


def test_mrkdwn_styles_what_it_marks():
    text = inline("*bold* _it_ `code` <@U024BE7LH> <https://x.io|link>", NAMES)
    styles = {
        text.plain[span.start : span.end]: (
            span.style if isinstance(span.style, Style) else Style.parse(span.style)
        )
        for span in text.spans
    }
    assert styles["bold"] == Style(bold=True)
    assert styles["it"] == Style(italic=True)
    assert styles["code"].color is not None
    assert styles["@maya"].bold
    assert styles["link"] == Style(underline=True, link="https://x.io")
