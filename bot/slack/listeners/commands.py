"""/aispend: acknowledged at once with an empty body (Slack shows nothing until the answer
comes), then answered ephemerally through the command's response_url, with a Share to
channel button. `/aispend export` instead uploads a CSV file to the channel it was typed in,
through the outbox and the notifier, and tells the asker it was shared."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltRequest, Respond

from bot import exports
from bot.errors import UsageError
from bot.slack.blocks import Message, mention
from bot.slack.commands import Verb, resolve_period
from bot.slack.listeners.context import AppContext
from bot.slack.listeners.gather import Answering, Asked, answer
from bot.slack.listeners.replies import note, send_ephemeral, tell_failure
from bot.slack.notifier import Notifier
from bot.store import queries
from bot.store.names import load_names
from bot.store.outbox import Outgoing, delivered, enqueue


def handle_aispend(
    deps: AppContext,
    ack: Ack,
    command: Mapping[str, Any],
    respond: Respond,
    request: BoltRequest | None = None,
) -> None:
    """Acknowledge, then answer in the background."""
    ack()
    text, user = str(command.get("text") or ""), str(command["user_id"])
    asked = Asked(text, user, deps.clock.now().date())
    if text.split()[:1] and text.split()[0].lower() == Verb.EXPORT.value:
        where = ExportAsked(asked, str(command.get("channel_id") or ""), _request_ts(request))
        deps.later(answer_export, deps, where, respond, failed=tell_failure(respond))
        return
    deps.later(answer_aispend, deps, asked, respond, failed=tell_failure(respond))


def answer_aispend(deps: AppContext, asked: Asked, respond: Respond) -> None:
    send_ephemeral(respond, answer_for(deps, asked))


def answer_for(deps: AppContext, asked: Asked, *, share: bool = True) -> Message:
    how = Answering(deps.team_file, deps.clock.now(), deps.is_admin, deps.alert_links)
    with deps.engine.connect() as connection:
        return answer(connection, asked, how, share=share)


@dataclass(frozen=True, slots=True)
class ExportAsked:
    asked: Asked
    channel: str
    request_ts: str  # Slack's X-Slack-Request-Timestamp: a retried request exports once


def answer_export(deps: AppContext, where: ExportAsked, respond: Respond) -> None:
    """Build the CSV, queue it as an upload to the channel, deliver it, and tell the asker."""
    send_ephemeral(respond, export_to_channel(deps, where))


def export_to_channel(deps: AppContext, where: ExportAsked) -> Message:
    asked = where.asked
    request = exports.parse_export(asked.text)
    period = resolve_period(request.period, asked.day)
    if not where.channel:
        raise UsageError("export needs a channel to share the file in; type it in one")
    with deps.engine.connect() as connection:
        usage = queries.daily_usage(connection, exports.export_query(period))
        rows = exports.export_rows(usage, deps.team_file, load_names(connection))
    if not rows:
        return note(f"No AI spend in {request.period.label()}: there is nothing to export.")
    built = exports.build_export(rows, period, request)
    key = f"export:{where.channel}:{asked.user}:{period.start}..{period.end}"
    key += f":{request.kind}:{where.request_ts}"
    upload = Outgoing(
        key=key,
        kind="upload",
        channel=where.channel,
        payload={
            "content_base64": base64.b64encode(built.content.encode()).decode(),
            "filename": built.filename,
            "title": built.title,
            "initial_comment": f"{built.title}, exported by {mention(asked.user)}",
        },
    )
    now = deps.clock.now()
    with deps.engine.begin() as connection:
        enqueue(connection, [upload], now)
    Notifier(deps.engine, deps.client, deps.clock).deliver()
    with deps.engine.connect() as connection:
        found = delivered(connection, [key])
    if key not in found:
        raise UsageError(
            f"Slack refused the file `{built.filename}`; is the bot a member of this channel?"
        )
    if found[key] is None:
        return note(f"`{built.filename}` is queued and will appear here shortly.")
    return note(f"Shared `{built.filename}` here ({built.rows:,} rows).")


def _request_ts(request: BoltRequest | None) -> str:
    if request is None:
        return ""
    values = request.headers.get("x-slack-request-timestamp") or [""]
    return str(values[0])
