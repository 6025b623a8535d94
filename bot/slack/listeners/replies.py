"""Ephemeral replies to the person who asked or pressed, through the request's response_url
(usable 5 times within 30 minutes, which covers an answer and a failure notice)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Respond

from bot.errors import UsageError
from bot.slack import answers
from bot.slack.blocks import Message, section

logger = logging.getLogger(__name__)

FAILED = "Sorry, that failed on our side; it is logged. Try again in a minute."


def send_ephemeral(respond: Respond, message: Message) -> None:
    """`message` shown to the asker alone, as a new message (never replacing the one whose
    button was pressed)."""
    sent = respond(
        text=message.text,
        blocks=message.blocks,
        response_type="ephemeral",
        replace_original=False,
    )
    if sent.status_code != 200:
        logger.warning("the response URL refused a reply: %s %s", sent.status_code, sent.body)


def send_in_channel(respond: Respond, message: Message) -> None:
    """`message` posted in the channel for everyone, as a new message."""
    sent = respond(
        text=message.text,
        blocks=message.blocks,
        response_type="in_channel",
        replace_original=False,
    )
    if sent.status_code != 200:
        logger.warning("the response URL refused a post: %s %s", sent.status_code, sent.body)


def note(words: str) -> Message:
    """A one-line reply in our own words (mrkdwn)."""
    return Message(words, [section(words)])


def failure_reply(error: Exception) -> Message:
    """Bad words are shown as they are; anything else as a failure on our side."""
    if isinstance(error, UsageError):
        return answers.error_answer(error.message, suggestion=error.suggestion)
    return answers.error_answer(FAILED)


def tell_failure(respond: Respond) -> Callable[[Exception], None]:
    """For `AppContext.later`: tell the person their request failed."""
    return lambda error: send_ephemeral(respond, failure_reply(error))
