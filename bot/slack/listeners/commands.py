"""/aispend: acknowledged at once with an empty body (Slack shows nothing until the answer
comes), then answered ephemerally through the command's response_url, with a Share to
channel button."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, Respond

from bot.slack.blocks import Message
from bot.slack.listeners.context import AppContext
from bot.slack.listeners.gather import Answering, Asked, answer
from bot.slack.listeners.replies import send_ephemeral, tell_failure


def handle_aispend(
    deps: AppContext, ack: Ack, command: Mapping[str, Any], respond: Respond
) -> None:
    """Acknowledge, then answer in the background."""
    ack()
    text, user = str(command.get("text") or ""), str(command["user_id"])
    asked = Asked(text, user, deps.clock.now().date())
    deps.later(answer_aispend, deps, asked, respond, failed=tell_failure(respond))


def answer_aispend(deps: AppContext, asked: Asked, respond: Respond) -> None:
    send_ephemeral(respond, answer_for(deps, asked))


def answer_for(deps: AppContext, asked: Asked, *, share: bool = True) -> Message:
    how = Answering(deps.team_file, deps.clock.now(), deps.is_admin)
    with deps.engine.connect() as connection:
        return answer(connection, asked, how, share=share)
