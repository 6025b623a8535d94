"""The notifier: the only code that calls Slack to post. It delivers the outbox in order,
one thread at a time: a reply waits for its root, and a later message in a thread waits for
an earlier one that is being retried. 429s are retried after Retry-After, server errors and
timeouts with backoff; a call Slack refuses for good is recorded and never retried.

Exactly once: before an item is sent it is claimed in its own transaction (not due again for
CLAIM, so no other pass, in this process or another replica, sends it meanwhile) and a post is
marked "ambiguous"; a post whose outcome is unknown (a 5xx, a timeout, a crash) is looked up
by its key in the message metadata before it is sent again, and not sent twice. A thread with
an item not due yet (being retried, or claimed) waits for it.
"""

from __future__ import annotations

import base64
import logging
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import Engine

from bot.clock import Clock
from bot.errors import (
    SlackAuthError,
    SlackError,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from bot.store.outbox import (
    Delivered,
    Queued,
    claim,
    delivered,
    due,
    held_threads,
    known_channel_id,
    mark_failed,
    mark_retry,
    mark_sent,
)

logger = logging.getLogger(__name__)

METADATA_EVENT = "aispend_outbox"  # the metadata event type that carries an item's key
AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
    }
)
SERVER_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
MAX_BACKOFF = timedelta(minutes=10)
LIST_PAGES = 20  # conversations.list pages read to find a channel by name (200 each)
CLAIM = timedelta(seconds=60)  # longer than a Slack call can take (the client times out at 30 s)
_POSTS = ("post", "reply", "upload")


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0  # held back behind an earlier message of the same thread
    stopped: str = ""  # why the pass stopped early (the token was refused)
    errors: list[str] = field(default_factory=list)


@dataclass
class Notifier:
    engine: Engine
    client: WebClient
    clock: Clock
    on_sent: Callable[[Queued, Delivered], None] | None = None  # e.g. a metrics hook
    claim: timedelta = CLAIM  # in `clock` time: a compressed clock needs it scaled

    def __post_init__(self) -> None:
        """Only the notifier retries. slack_sdk's retry handlers (a WebClient has one for
        dropped connections by default) send a post again at once, blind, when it may have
        taken effect: the notifier looks it up first. So it calls Slack with a client of its
        own that retries nothing."""
        if self.client.retry_handlers:
            given = self.client
            self.client = WebClient(
                token=given.token,
                base_url=given.base_url,
                timeout=given.timeout,
                ssl=given.ssl,
                proxy=given.proxy,
                headers=given.headers,
                retry_handlers=[],
            )

    def deliver(self, limit: int = 500) -> DeliveryReport:
        """One pass over what is due. Safe to run from several places: each item is marked
        in its own transaction right after Slack answers."""
        report = DeliveryReport()
        now = self.clock.now()
        with self.engine.connect() as connection:
            items = due(connection, now, limit)
            # threads with a message being retried or sent elsewhere: all of it waits
            held = held_threads(connection, now)
        rootless: set[str] = set()  # threads whose root is not out yet: their replies wait
        for item in items:
            thread = item.thread_key or item.key
            if thread in held or item.thread_key in rootless:
                report.waiting += 1
                continue
            try:
                root = self._root(item)
            except _RootFailed as e:
                self._fail(item, str(e), report)
                continue
            if item.thread_key and root is None:
                rootless.add(thread)
                report.waiting += 1
                continue
            try:
                sent = self._send(item, root)
            except _Taken:
                held.add(thread)
                report.waiting += 1
                continue
            except SlackAuthError as e:
                self._retry(item, e, now + MAX_BACKOFF, report, ambiguous=False)
                report.stopped = str(e)
                return report
            except SlackRateLimited as e:
                self._retry(item, e, now + timedelta(seconds=e.retry_after), report, False)
                held.add(thread)
            except SlackUnavailable as e:
                delay = min(MAX_BACKOFF, timedelta(seconds=2 ** min(item.attempts, 9)))
                self._retry(item, e, now + delay, report, ambiguous=item.kind in _POSTS)
                held.add(thread)
            except SlackRejected as e:
                self._fail(item, str(e), report)
            else:
                with self.engine.begin() as connection:
                    mark_sent(connection, item.id, sent, self.clock.now())
                report.sent += 1
                if self.on_sent is not None:
                    self.on_sent(item, sent)
        return report

    def _root(self, item: Queued) -> Delivered | None:
        if not item.thread_key:
            return None
        with self.engine.connect() as connection:
            found = delivered(connection, [item.thread_key])
        if item.thread_key not in found:
            raise _RootFailed(f"its thread's first message {item.thread_key!r} was not sent")
        return found[item.thread_key]

    def _send(self, item: Queued, root: Delivered | None) -> Delivered:
        now = self.clock.now()
        with self.engine.begin() as connection:  # from here a post's outcome may be unknown
            if not claim(connection, item.id, now, now + self.claim, ambiguous=item.kind in _POSTS):
                raise _Taken
        if item.kind in _POSTS and item.ambiguous:
            earlier = self._find_earlier(item, root)
            if earlier is not None:
                return earlier
        payload = item.payload
        if item.kind == "post":
            return self._post(item, payload, thread_ts=None)
        if item.kind == "reply":
            assert root is not None
            return self._post(item, payload, thread_ts=root.ts, channel=root.channel_id)
        if item.kind == "update":
            assert root is not None
            return self._update(root, payload)
        if item.kind == "upload":
            return self._upload(item, payload, root)
        raise SlackRejected("outbox", f"unknown kind {item.kind!r}")

    def _post(
        self,
        item: Queued,
        payload: Mapping[str, Any],
        *,
        thread_ts: str | None,
        channel: str | None = None,
    ) -> Delivered:
        answer = _call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel or item.channel,
                text=payload.get("text", ""),
                blocks=payload.get("blocks"),
                thread_ts=thread_ts,
                reply_broadcast=payload.get("reply_broadcast") or None,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": item.key}},
            ),
        )
        return Delivered(str(answer["channel"]), str(answer["ts"]))

    def _update(self, root: Delivered, payload: Mapping[str, Any]) -> Delivered:
        _call(
            "chat.update",
            lambda: self.client.chat_update(
                channel=root.channel_id,
                ts=root.ts,
                text=payload.get("text", ""),
                blocks=payload.get("blocks"),
            ),
        )
        return root

    def _upload(
        self, item: Queued, payload: Mapping[str, Any], root: Delivered | None
    ) -> Delivered:
        content = base64.b64decode(payload["content_base64"])
        answer = _call(
            "files.upload",
            lambda: self.client.files_upload_v2(
                channel=root.channel_id if root else item.channel,
                thread_ts=root.ts if root else None,
                content=content,
                filename=payload.get("filename", "chart.png"),
                title=payload.get("title"),
                initial_comment=payload.get("initial_comment"),
            ),
        )
        file = answer.get("file") or {}
        return Delivered(root.channel_id if root else item.channel, str(file.get("id", "")))

    def _find_earlier(self, item: Queued, root: Delivered | None) -> Delivered | None:
        """The message an earlier, ambiguous attempt may have posted, found by its key."""
        if item.kind == "upload":
            return None  # a duplicate chart is harmless; files carry no metadata to search
        oldest = f"{(item.created_at - timedelta(minutes=5)).timestamp():.6f}"
        try:
            if root is not None:
                answer = _call(
                    "conversations.replies",
                    lambda: self.client.conversations_replies(
                        channel=root.channel_id,
                        ts=root.ts,
                        oldest=oldest,
                        include_all_metadata=True,
                        limit=200,
                    ),
                )
                channel = root.channel_id
            else:
                found = self._channel_id(item.channel)
                if found is None:
                    return None
                channel = found
                answer = _call(
                    "conversations.history",
                    lambda: self.client.conversations_history(
                        channel=found, oldest=oldest, include_all_metadata=True, limit=200
                    ),
                )
        except SlackRejected:
            return None  # cannot look (a channel name, no scope): sending again is the lesser risk
        for message in answer.get("messages", []):
            metadata = message.get("metadata") or {}
            if (metadata.get("event_payload") or {}).get("key") == item.key:
                return Delivered(channel, str(message["ts"]))
        return None

    def _list(self, cursor: str | None) -> Any:
        return self.client.conversations_list(
            types="public_channel", exclude_archived=True, limit=200, cursor=cursor
        )

    def _channel_id(self, channel: str) -> str | None:
        """A channel's id (history is read by id only): as given, as Slack answered an
        earlier message to that name, or found by name in conversations.list."""
        if not channel.startswith("#") and channel[:1] in ("C", "G", "D"):
            return channel
        with self.engine.connect() as connection:
            known = known_channel_id(connection, channel)
        if known:
            return known
        name, cursor = channel.lstrip("#"), None
        for _ in range(LIST_PAGES):
            answer = _call("conversations.list", partial(self._list, cursor))
            for found in answer.get("channels", []):
                if found.get("name") == name:
                    return str(found["id"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _retry(
        self,
        item: Queued,
        error: SlackError,
        at: datetime,
        report: DeliveryReport,
        ambiguous: bool,
    ) -> None:
        with self.engine.begin() as connection:
            mark_retry(connection, item.id, str(error), at, ambiguous=ambiguous or item.ambiguous)
        report.retrying += 1
        report.errors.append(f"{item.key}: {error}")
        logger.warning("slack delivery of %s will be retried: %s", item.key, error)

    def _fail(self, item: Queued, error: str, report: DeliveryReport) -> None:
        with self.engine.begin() as connection:
            mark_failed(connection, item.id, error)
        report.failed += 1
        report.errors.append(f"{item.key}: {error}")
        logger.error("slack delivery of %s failed for good: %s", item.key, error)


class _Taken(Exception):
    """Another pass claimed the item between our reading it and our claim."""


class _RootFailed(Exception):
    """The message a reply or an update belongs to failed for good."""


def _call(method: str, send: Callable[[], Any]) -> Any:
    """Call slack_sdk and translate its failures into the SlackError tree."""
    try:
        return send()
    except SlackApiError as e:
        raise classify(
            method, e.response.status_code, e.response.get("error"), e.response.headers
        ) from e
    except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as e:
        raise SlackUnavailable(method, type(e).__name__) from e
    except SlackRequestError as e:
        raise SlackUnavailable(method, "request failed") from e


def classify(method: str, status: int, code: object, headers: Mapping[str, Any]) -> SlackError:
    """Slack's answer as one of our errors."""
    error = str(code or f"http {status}")
    if status == 429:
        retry_after = headers.get("Retry-After") or headers.get("retry-after") or 1
        value = retry_after[0] if isinstance(retry_after, list) else retry_after
        return SlackRateLimited(method, error, retry_after=float(value))
    if error in AUTH_ERRORS:
        return SlackAuthError(method, error)
    if status >= 500 or error in SERVER_ERRORS:
        return SlackUnavailable(method, error)
    return SlackRejected(method, error)
