"""A stand-in for Slack's Web API: a real HTTP server on 127.0.0.1 that answers the methods the
bot calls the way Slack does (slack.md sections 3, 4 and 8.1), for slack_sdk's WebClient
pointed at it with `base_url=standin.url + "/api/"`.

It answers POST (and GET) with JSON, form or multipart bodies; checks the Bearer token
(`not_authed`, `invalid_auth`) and the bot's scopes (`missing_scope`); answers refusals with
HTTP 200 `{"ok": false, "error": ...}` and rate limits with 429, `Retry-After` and
`{"ok": false, "error": "ratelimited"}`. It keeps the workspace as inspectable state:
channels, users, messages and threads, each message's updates, ephemeral messages, posts to
minted response URLs, uploaded files (served by its own upload URL), Home tabs and modals,
and every call made.

Faults come on demand, for one method or any: `fail(ratelimited(1), method=...)`,
`server_error(502)`, `timeout(seconds)`, `connection_reset()`, or `chaos(rate, seed=...)` to
fail a share of calls at random. A failed call has no effect, except with
`after_effect=True`: the call takes effect (the message is stored) and only its answer is
lost. Real Slack can do this: a 5xx from its edge, or a timeout, after the message was
written. A client cannot tell that from a call that did nothing, so a bot that retries a
post must look before it posts again: post with `metadata` ({"event_type": ...,
"event_payload": {"key": ...}}) and read `conversations.history` with
`include_all_metadata=true` for a message already carrying that key. Tests can do the same
lookup with `messages_with_metadata`.

Inferred rather than observed (slack.md section 9 lists what is unverified): the error codes
of the upload URL (400 on a length mismatch), of response URLs (404 `expired_url` /
`used_url`, 400 `invalid_blocks` / `no_text`) and of files.completeUploadExternal
(`file_not_found`); `thread_not_found` for a thread_ts that is no message; metadata shown in
history only with `include_all_metadata`; one scope per method (no groups:* split).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from bot.clock import Clock, SystemClock
from bot.slack.limits import MESSAGE_TEXT, UPDATE_TEXT, VIEW_TITLE, block_problems
from bot.standins.server import Fault, Request, Response, StandIn

BOT_TOKEN = "xoxb-standin-0000-token"
UPLOAD = "(upload)"  # the method name calls to the raw upload URL are recorded and faulted as
RESPONSE_URL = "(response_url)"  # ... and posts to minted response URLs
DEFAULT_SCOPES = frozenset(
    {"chat:write", "channels:read", "channels:join", "channels:history", "groups:read"}
    | {"groups:history", "users:read", "files:write", "im:write", "commands"}
)
_METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.info": "channels:read",
    "conversations.list": "channels:read",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
_JSON = {"Content-Type": "application/json; charset=utf-8"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0  # seconds
TRIGGER_LIFETIME = 3.0  # seconds
ATTACHMENTS = 100
HISTORY_LIMIT = (100, 999)  # default, most


@dataclass(frozen=True)
class RateLimit:
    """At most `calls` per `per` seconds, per method (per channel too when `per_channel`)."""

    calls: int
    per: float = 60.0
    per_channel: bool = False


TIER_1, TIER_2, TIER_3, TIER_4 = (RateLimit(n) for n in (1, 20, 50, 100))
SPECIAL = RateLimit(600)  # "hundreds per minute": auth.test, chat.getPermalink
RATE_LIMITS: Mapping[str, RateLimit] = {
    "auth.test": SPECIAL,
    "chat.postMessage": RateLimit(1, 1.0, per_channel=True),  # ~1 per second per channel
    "chat.update": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": SPECIAL,
    "conversations.join": TIER_3,
    "conversations.info": TIER_3,
    "conversations.list": TIER_2,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "users.info": TIER_4,
    "views.publish": TIER_4,
    "views.open": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
}


def ratelimited(retry_after: int = 1) -> Fault:
    """Slack's answer to a call over its rate limit."""
    body = {"ok": False, "error": "ratelimited"}
    return Fault(status=429, headers={"Retry-After": str(retry_after), **_JSON}, body=body)


def server_error(status: int = 500, *, after_effect: bool = False) -> Fault:
    """A 5xx: JSON `internal_error` / `service_unavailable` for 500 / 503, an HTML page from
    the edge otherwise. With `after_effect`, the call took effect before failing."""
    errors = {500: "internal_error", 503: "service_unavailable"}
    if status in errors:
        body: object = {"ok": False, "error": errors[status]}
        headers = _JSON
    else:
        body = f"<html><body><h1>{status}</h1></body></html>".encode()
        headers = {"Content-Type": "text/html"}
    return Fault(status=status, headers=headers, body=body, after_effect=after_effect)


def slack_error(error: str, *, status: int = 200) -> Fault:
    """An `{"ok": false, "error": error}` answer, e.g. `fatal_error` or `token_revoked`."""
    return Fault(status=status, headers=_JSON, body={"ok": False, "error": error})


def timeout(seconds: float, *, after_effect: bool = False) -> Fault:
    """No answer for `seconds` (longer than the client's timeout), then a dropped connection."""
    return Fault(delay=seconds, reset=True, after_effect=after_effect)


def connection_reset(*, after_effect: bool = False) -> Fault:
    return Fault(reset=True, after_effect=after_effect)


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    created: int = 0

    def as_slack(self, bot_user_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_member": bot_user_id in self.members,
        }
        if self.is_im:
            user = next((m for m in self.members if m != bot_user_id), None)
            return {**shown, "is_im": True, "user": user}
        kinds = {"is_channel": not self.is_private, "is_group": False, "is_im": False}
        return {**shown, **kinds, "name": self.name, "is_private": self.is_private}


@dataclass
class User:
    id: str
    name: str
    real_name: str
    tz: str = "UTC"
    is_bot: bool = False

    def as_slack(self, team_id: str, now: datetime) -> dict[str, Any]:
        offset = now.astimezone(ZoneInfo(self.tz)).utcoffset()
        seconds = int(offset.total_seconds()) if offset is not None else 0
        profile = {"real_name": self.real_name, "display_name": self.name}
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "tz": self.tz,
            "tz_offset": seconds,
            "is_bot": self.is_bot,
            "profile": profile,
        }


@dataclass(frozen=True)
class Content:
    """A message's text and blocks as one chat.update (or response URL) left them."""

    text: str
    blocks: list[dict[str, Any]] | None
    at: datetime
    via: str = "chat.update"


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    team: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None  # a reply's parent; a parent's own ts once it has replies
    reply_broadcast: bool = False
    metadata: dict[str, Any] | None = None
    bot_id: str | None = None
    app_id: str | None = None
    files: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # a parent's replies' ts, oldest first
    updates: list[Content] = field(default_factory=list)
    edited: str | None = None  # when text was last changed by an update
    deleted: bool = False
    via: str = "chat.postMessage"

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_slack(self, *, metadata: bool = True) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": "message", "user": self.user, "text": self.text}
        shown |= {"ts": self.ts, "team": self.team}
        if self.bot_id is not None:
            shown |= {"bot_id": self.bot_id, "app_id": self.app_id}
        if self.blocks is not None:
            shown["blocks"] = self.blocks
        if self.attachments:
            shown["attachments"] = self.attachments
        if self.thread_ts is not None:
            shown["thread_ts"] = self.thread_ts
        if self.replies:
            shown |= {"reply_count": len(self.replies), "latest_reply": self.replies[-1]}
        if self.reply_broadcast:
            shown["subtype"] = "thread_broadcast"
        if self.edited is not None:
            shown["edited"] = {"user": self.user, "ts": self.edited}
        if self.files:
            shown |= {"files": [{"id": f} for f in self.files], "upload": True}
        if metadata and self.metadata is not None:
            shown["metadata"] = self.metadata
        return shown


@dataclass(frozen=True)
class Ephemeral:
    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    via: str = "chat.postEphemeral"


@dataclass(frozen=True)
class ResponsePost:
    """One POST to a minted response URL, with how the stand-in answered it."""

    url: str
    body: Mapping[str, Any]
    status: int
    answer: str
    at: datetime


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None  # None until the upload URL received the bytes
    title: str | None = None
    completed: bool = False
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None

    def as_slack(self) -> dict[str, Any]:
        channels = [self.channel] if self.channel else []
        shown = {"id": self.id, "name": self.filename, "title": self.title or self.filename}
        # shares stay empty: Slack shares asynchronously and answers before it has (3.5)
        return shown | {"size": self.length, "channels": channels, "shares": {}}


@dataclass(frozen=True)
class PublishedView:
    id: str
    user: str | None  # the Home tab's user; None for a modal
    view: Mapping[str, Any]
    hash: str
    at: datetime
    trigger_id: str | None = None


@dataclass
class Call:
    """One request the stand-in received: method, parsed arguments, when, and the fault
    (if any) it got instead of its answer."""

    method: str
    args: dict[str, Any]
    at: datetime
    fault: Fault | None = None


@dataclass
class _Hook:
    channel: str
    user: str
    message_ts: str | None
    minted: float
    uses: int = 0


@dataclass
class _Chaos:
    rate: float
    faults: tuple[Fault, ...]
    methods: frozenset[str] | None
    rng: random.Random


class _Refusal(Exception):
    """A Slack `ok: false` answer raised from inside a method."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(error)
        body = {"ok": False, "error": error, **extra}
        self.response = Response(status, body, {**_JSON, **(headers or {})})


@dataclass
class _Body:
    text: str
    blocks: list[dict[str, Any]] | None
    attachments: list[Any] | None
    warnings: list[str] = field(default_factory=list)


Method = Callable[[dict[str, Any]], dict[str, Any]]


class SlackStandIn(StandIn):
    """A Slack workspace with one bot, served on loopback. See the module docstring."""

    def __init__(
        self,
        *,
        token: str = BOT_TOKEN,
        team_id: str = "T0STANDIN",
        team_domain: str = "acme",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rate_limits: bool = False,
    ) -> None:
        self.token, self.team_id, self.team_domain = token, team_id, team_domain
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.scopes = frozenset(scopes)
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.ephemerals: list[Ephemeral] = []
        self.responses: list[ResponsePost] = []
        self.files: dict[str, UploadedFile] = {}
        self.views: dict[str, list[PublishedView]] = {}
        self.modals: list[PublishedView] = []
        self.unknown_methods: list[str] = []
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], Message] = {}
        self._clock = clock or SystemClock()
        self._monotonic = monotonic
        self._state = threading.RLock()
        self._ids = itertools.count(1)
        self._last_us = 0
        self._hooks: dict[str, _Hook] = {}
        self._triggers: dict[str, float | None] = {}  # None once used
        self._uploads: dict[str, str] = {}  # upload key -> file id
        self._planned: list[tuple[str | None, Fault]] = []
        self._chaos: _Chaos | None = None
        self._limits: dict[str, RateLimit] | None = dict(RATE_LIMITS) if rate_limits else None
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._current = threading.local()
        self._methods: dict[str, Method] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "conversations.join": self._join,
            "conversations.info": self._info,
            "conversations.history": self._history,
            "conversations.list": self._list,
            "conversations.replies": self._replies,
            "users.info": self._user_info,
            "views.publish": self._publish,
            "views.open": self._open,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        routes = {"/api/*": self._api, "/upload/*": self._upload, "/response/*": self._respond}
        super().__init__(routes)
        self.users[bot_user_id] = User(bot_user_id, "aispend", "aispend", is_bot=True)

    @property
    def api_url(self) -> str:
        """What to pass as WebClient(base_url=...)."""
        return f"{self.url}/api/"

    # -- seeding ---------------------------------------------------------------------------

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        private: bool = False,
        archived: bool = False,
        members: Iterable[str] = (),
        bot_member: bool = True,
    ) -> Channel:
        with self._state:
            channel = Channel(channel_id or self._new_id("C"), name.lstrip("#"), private, archived)
            channel.members |= set(members) | ({self.bot_user_id} if bot_member else set())
            channel.created = int(self._clock.now().timestamp())
            self.channels[channel.id] = channel
            return channel

    def add_user(
        self,
        name: str,
        *,
        user_id: str | None = None,
        tz: str = "UTC",
        real_name: str | None = None,
        is_bot: bool = False,
        channels: Iterable[str] = (),
    ) -> User:
        ZoneInfo(tz)  # refuse an unknown zone now rather than on users.info
        with self._state:
            user = User(user_id or self._new_id("U"), name, real_name or name, tz, is_bot)
            self.users[user.id] = user
            for ref in channels:
                self._resolve(ref).members.add(user.id)
            return user

    def post_as_user(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> Message:
        """Seed a message a person wrote (the bot may not update it)."""
        with self._state:
            target = self._resolve(channel)
            parent = self._parent(target, thread_ts)
            message = self._store(target, _Body(text, None, None), parent, via="user")
            message.user, message.bot_id, message.app_id = user, None, None
            return message

    def response_url(self, channel: str, user: str, *, message_ts: str | None = None) -> str:
        """A response URL as a slash command (no `message_ts`) or a button click on the
        message at `message_ts` carries: usable 5 times within 30 minutes."""
        with self._state:
            key = secrets.token_hex(12)
            self._hooks[key] = _Hook(self._resolve(channel).id, user, message_ts, self._monotonic())
            return f"{self.url}/response/{key}"

    def trigger_id(self) -> str:
        """A trigger id as interaction payloads carry: usable once within 3 seconds."""
        with self._state:
            trigger = f"{next(self._ids)}.{next(self._ids)}.{secrets.token_hex(16)}"
            self._triggers[trigger] = self._monotonic()
            return trigger

    # -- inspection ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._state:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 2.0) -> list[Call]:
        """The calls to `method` once there are `count` of them (listeners run in threads)."""
        deadline = time.monotonic() + timeout
        while len(found := self.calls(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} calls to {method}, wanted {count}")
            time.sleep(0.01)
        return found

    def messages(self, channel: str | None = None, *, deleted: bool = False) -> list[Message]:
        """Every message (replies included), oldest first; of one channel (id or name)."""
        with self._state:
            wanted = None if channel is None else self._resolve(channel).id
            found = [
                m
                for m in self._messages.values()
                if (wanted is None or m.channel == wanted) and (deleted or not m.deleted)
            ]
            return sorted(found, key=lambda m: _ts_key(m.ts))

    def message(self, channel: str, ts: str) -> Message:
        with self._state:
            return self._messages[(self._resolve(channel).id, ts)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies to the message at `ts`, oldest first."""
        with self._state:
            parent = self.message(channel, ts)
            return [self._messages[(parent.channel, r)] for r in parent.replies]

    def messages_with_metadata(self, event_type: str, **payload: Any) -> list[Message]:
        """Messages whose metadata has this event_type and these event_payload values."""
        return [
            m
            for m in self.messages()
            if m.metadata is not None
            and m.metadata.get("event_type") == event_type
            and all(m.metadata.get("event_payload", {}).get(k) == v for k, v in payload.items())
        ]

    # -- faults and rate limits ------------------------------------------------------------

    def fail(self, fault: Fault, *, method: str | None = None, times: int = 1) -> None:
        """The next `times` calls to `method` (any call when None) get `fault`."""
        with self._state:
            self._planned.extend([(method, fault)] * times)

    def chaos(
        self,
        rate: float,
        *,
        seed: int,
        faults: Sequence[Fault] | None = None,
        methods: Collection[str] | None = None,
    ) -> None:
        """From now on each call (to `methods`, or any) fails with probability `rate`, with
        a fault drawn from `faults` (429 with Retry-After 1, 500 or 503 by default)."""
        chosen = tuple(faults or (ratelimited(1), server_error(500), server_error(503)))
        allowed = None if methods is None else frozenset(methods)
        with self._state:
            self._chaos = _Chaos(rate, chosen, allowed, random.Random(seed))

    def calm(self) -> None:
        """No more faults: drops planned ones and stops chaos."""
        with self._state:
            self._planned.clear()
            self._chaos = None
        while super().next_fault() is not None:
            pass

    def faults_pending(self) -> int:
        with self._state:
            return len(self._planned)

    def limit_rates(self, overrides: Mapping[str, RateLimit] | None = None) -> None:
        """Answer 429 past Slack's per-method limits (RATE_LIMITS, with `overrides`)."""
        with self._state:
            self._limits = {**RATE_LIMITS, **(overrides or {})}
            self._windows.clear()

    def unlimit_rates(self) -> None:
        with self._state:
            self._limits = None

    # -- StandIn hooks ---------------------------------------------------------------------

    def record(self, request: Request) -> None:
        super().record(request)
        method = _method_of(request.path)
        if method == UPLOAD:
            args: dict[str, Any] = {"length": len(request.body)}
        else:
            try:
                args = _args(request)
            except ValueError:
                args = {}
        args.pop("token", None)
        call = Call(method, args, self._clock.now())
        with self._state:
            self._calls.append(call)
        self._current.call = call

    def next_fault(self, request: Request | None = None) -> Fault | None:
        fault = super().next_fault(request)
        if request is None:
            return fault
        method = _method_of(request.path)
        with self._state:
            if fault is None:
                fault = self._planned_fault(method) or self._chaos_fault(method)
            call = getattr(self._current, "call", None)
            if call is not None:
                call.fault = fault
        return fault

    def _planned_fault(self, method: str) -> Fault | None:
        for i, (wanted, fault) in enumerate(self._planned):
            if wanted is None or wanted == method:
                del self._planned[i]
                return fault
        return None

    def _chaos_fault(self, method: str) -> Fault | None:
        chaos = self._chaos
        if chaos is None or (chaos.methods is not None and method not in chaos.methods):
            return None
        if chaos.rng.random() >= chaos.rate:
            return None
        return chaos.rng.choice(chaos.faults)

    # -- the Web API -----------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        method = _method_of(request.path)
        try:
            args = _args(request)
        except ValueError as e:
            return self._with_scopes(_Refusal(_unreadable(request, e)).response)
        try:
            handler = self._methods.get(method)
            if handler is None:
                with self._state:
                    self.unknown_methods.append(method)
                raise _Refusal("unknown_method")
            self._authorize(request, args, method)
            with self._state:
                self._check_rate(method, args)
                answer = handler(args)
        except _Refusal as refusal:
            return self._with_scopes(refusal.response)
        return self._with_scopes(Response(200, {"ok": True, **answer}, _JSON))

    def _with_scopes(self, response: Response) -> Response:
        headers = {**response.headers, "X-OAuth-Scopes": ",".join(sorted(self.scopes))}
        return Response(response.status, response.body, headers)

    def _authorize(self, request: Request, args: Mapping[str, Any], method: str) -> None:
        header = request.header("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        token = token or args.get("token")
        if not token:
            raise _Refusal("not_authed")
        if token != self.token:
            raise _Refusal("invalid_auth")
        needed = _METHOD_SCOPES.get(method)
        if needed is not None and needed not in self.scopes:
            provided = ",".join(sorted(self.scopes))
            raise _Refusal("missing_scope", needed=needed, provided=provided)

    def _check_rate(self, method: str, args: Mapping[str, Any]) -> None:
        limit = None if self._limits is None else self._limits.get(method)
        if limit is None:
            return
        key = (method, self._channel_key(args.get("channel")) if limit.per_channel else "")
        window = self._windows.setdefault(key, deque())
        now = self._monotonic()
        while window and window[0] <= now - limit.per:
            window.popleft()
        if len(window) >= limit.calls:
            wait = max(1, math.ceil(window[0] + limit.per - now))
            raise _Refusal("ratelimited", status=429, headers={"Retry-After": str(wait)})
        window.append(now)

    def _channel_key(self, ref: Any) -> str:
        try:
            return self._resolve(ref).id
        except KeyError:
            return str(ref)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG002 (a Method)
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain.title(),
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        body = self._body(args, most=MESSAGE_TEXT)
        parent = self._parent(channel, args.get("thread_ts"))
        metadata = _metadata(args.get("metadata"))
        broadcast = parent is not None and _flag(args.get("reply_broadcast"))
        message = self._store(channel, body, parent, metadata=metadata, broadcast=broadcast)
        answer = {"channel": channel.id, "ts": message.ts, "message": message.as_slack()}
        return answer | _warnings(body.warnings)

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible(args.get("channel"))
        message = self._messages.get((channel.id, str(args.get("ts"))))
        if message is None or message.deleted:
            raise _Refusal("message_not_found")
        if message.user != self.bot_user_id:
            raise _Refusal("cant_update_message")
        if len(str(args.get("text") or "")) > UPDATE_TEXT:
            raise _Refusal("msg_too_long")
        body = self._body(args, most=UPDATE_TEXT, new="metadata" not in args)
        if "metadata" in args:
            message.metadata = _metadata(args["metadata"])
        self._rewrite(message, args, body, via="chat.update")
        answer = {"channel": channel.id, "ts": message.ts, "text": message.text}
        return answer | {"message": message.as_slack()}

    def _rewrite(self, message: Message, args: Mapping[str, Any], body: _Body, via: str) -> None:
        """Slack's update rules (3.3): text without blocks drops the blocks; blocks without
        text keep the text; only a text change marks the message edited."""
        if "blocks" in args:
            message.blocks = body.blocks
        elif "text" in args:
            message.blocks = None
        if "attachments" in args:
            message.attachments = body.attachments
        if "text" in args and "blocks" not in args and body.text != message.text:
            message.edited = self._next_ts()
        if "text" in args:
            message.text = body.text
        message.updates.append(Content(message.text, message.blocks, self._clock.now(), via))

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        user = str(args.get("user") or "")
        if user not in self.users:
            raise _Refusal("user_not_found")
        if user not in channel.members:
            raise _Refusal("user_not_in_channel")
        body = self._body(args, most=MESSAGE_TEXT)
        thread = args.get("thread_ts")
        ts = self._next_ts()
        self.ephemerals.append(Ephemeral(channel.id, user, ts, body.text, body.blocks, thread))
        return {"message_ts": ts} | _warnings(body.warnings)

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible(args.get("channel"))
        message = self._messages.get((channel.id, str(args.get("message_ts"))))
        if message is None or message.deleted:
            raise _Refusal("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel.id}/p"
        link += message.ts.replace(".", "")
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None:
            raise _Refusal("channel_not_found")
        if channel.is_private or channel.is_im:
            raise _Refusal("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise _Refusal("is_archived")
        already = self.bot_user_id in channel.members
        channel.members.add(self.bot_user_id)
        shown = {"channel": channel.as_slack(self.bot_user_id)}
        return shown | (_warnings(["already_in_channel"]) if already else {})

    def _info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._visible(args.get("channel")).as_slack(self.bot_user_id)}

    def _list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Public channels (and private ones the bot is in, with types=private_channel), by
        id, `limit` at a time (default 100, at most 999) with a cursor."""
        types = set(str(args.get("types") or "public_channel").split(","))
        skip_archived = _flag(args.get("exclude_archived"))
        found = [
            c
            for c in sorted(self.channels.values(), key=lambda c: c.id)
            if not c.is_im
            and ("private_channel" if c.is_private else "public_channel") in types
            and (not c.is_private or self.bot_user_id in c.members)
            and not (skip_archived and c.is_archived)
        ]
        default, most = HISTORY_LIMIT
        try:
            limit = min(max(int(args.get("limit") or default), 1), most)
        except ValueError:
            raise _Refusal("invalid_limit") from None
        start = 0
        if args.get("cursor"):  # Slack's cursor: base64 of "team:" and the next channel's id
            try:
                after = base64.b64decode(str(args["cursor"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _Refusal("invalid_cursor") from None
            ids = [c.id for c in found]
            if not after.startswith("team:") or after[5:] not in ids:
                raise _Refusal("invalid_cursor")
            start = ids.index(after[5:])
        page = found[start : start + limit]
        rest = found[start + limit : start + limit + 1]
        cursor = base64.b64encode(f"team:{rest[0].id}".encode()).decode() if rest else ""
        shown = [c.as_slack(self.bot_user_id) for c in page]
        return {"channels": shown, "response_metadata": {"next_cursor": cursor}}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise _Refusal("user_not_found")
        return {"user": user.as_slack(self.team_id, self._clock.now())}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args.get("channel"))
        oldest = _ts_key(args.get("oldest") or "0")
        latest = _ts_key(args["latest"]) if args.get("latest") else (2**62, 0)
        inclusive = _flag(args.get("inclusive"))
        found = [
            m
            for m in self.messages(channel.id)
            if (not m.is_reply or m.reply_broadcast)
            and (
                oldest <= _ts_key(m.ts) <= latest if inclusive else oldest < _ts_key(m.ts) < latest
            )
        ]
        return self._page(list(reversed(found)), args, newest_first=True)

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args.get("channel"))
        message = self._messages.get((channel.id, str(args.get("ts"))))
        if message is None or message.deleted:
            raise _Refusal("thread_not_found")
        parent = (
            self._messages[(channel.id, str(message.thread_ts))] if message.is_reply else message
        )
        found = [parent] + [self._messages[(channel.id, r)] for r in parent.replies]
        return self._page([m for m in found if not m.deleted], args, newest_first=False)

    def _page(
        self, found: list[Message], args: dict[str, Any], *, newest_first: bool
    ) -> dict[str, Any]:
        default, most = HISTORY_LIMIT
        try:
            limit = min(max(int(args.get("limit") or default), 1), most)
        except ValueError:
            raise _Refusal("invalid_limit") from None
        if args.get("cursor"):
            start = _ts_key(_from_cursor(str(args["cursor"])))
            found = [
                m
                for m in found
                if (_ts_key(m.ts) <= start if newest_first else _ts_key(m.ts) >= start)
            ]
        metadata = _flag(args.get("include_all_metadata"))
        shown = [m.as_slack(metadata=metadata) for m in found[:limit]]
        answer: dict[str, Any] = {"messages": shown, "has_more": len(found) > limit}
        if len(found) > limit:
            answer["response_metadata"] = {"next_cursor": _to_cursor(found[limit].ts)}
        return answer

    def _publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id") or "")
        if user not in self.users:
            raise _Refusal("user_not_found")
        view = _view(args.get("view"), kind="home")
        published = self.views.setdefault(user, [])
        if args.get("hash") and published and published[-1].hash != args["hash"]:
            raise _Refusal("hash_conflict")
        shown = PublishedView(self._new_id("V"), user, view, self._new_hash(), self._clock.now())
        published.append(shown)
        return {"view": self._view_answer(shown)}

    def _open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
        if not trigger:
            raise _Refusal("invalid_arguments", response_metadata=_messages(["missing trigger_id"]))
        if trigger not in self._triggers:
            raise _Refusal("invalid_trigger_id")
        minted = self._triggers[trigger]
        if minted is None:
            raise _Refusal("exchanged_trigger_id")
        if self._monotonic() - minted > TRIGGER_LIFETIME:
            raise _Refusal("expired_trigger_id")
        view = _view(args.get("view"), kind="modal")
        self._triggers[trigger] = None
        shown = PublishedView(
            self._new_id("V"), None, view, self._new_hash(), self._clock.now(), trigger
        )
        self.modals.append(shown)
        return {"view": self._view_answer(shown)}

    def _view_answer(self, shown: PublishedView) -> dict[str, Any]:
        ids = {
            "id": shown.id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        extra = {"hash": shown.hash, "root_view_id": shown.id, "previous_view_id": None}
        return {**shown.view, **ids, **extra, "state": {"values": {}}}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length", ""))
        except ValueError:
            length = -1
        if not filename or length < 0:
            raise _Refusal("invalid_arguments", response_metadata=_messages(["filename, length"]))
        file = UploadedFile(self._new_id("F"), filename, length)
        file.alt_txt, file.snippet_type = args.get("alt_txt"), args.get("snippet_type")
        key = secrets.token_hex(12)
        self.files[file.id] = file
        self._uploads[key] = file.id
        return {"upload_url": f"{self.url}/upload/v1/{key}", "file_id": file.id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        listed = _json_arg(args.get("files"), "invalid_arguments")
        if not isinstance(listed, list) or not listed:
            raise _Refusal("invalid_arguments", response_metadata=_messages(["files"]))
        files = [self._uploaded(item) for item in listed]
        target = args.get("channel_id") or (str(args.get("channels") or "").split(",")[0] or None)
        channel = None if target is None else self._postable(target)
        parent = None if channel is None else self._parent(channel, args.get("thread_ts"))
        for item, file in zip(listed, files, strict=True):
            file.title = str(item.get("title") or file.filename)
            file.completed = True
        if channel is not None:
            comment = str(args.get("initial_comment") or "")
            message = self._store(channel, _Body(comment, None, None), parent, via="files")
            message.files = [f.id for f in files]
            for file in files:
                file.channel, file.message_ts = channel.id, message.ts
                file.thread_ts = parent.ts if parent else None
                file.initial_comment = comment or None
        return {"files": [f.as_slack() for f in files]}

    def _uploaded(self, item: Any) -> UploadedFile:
        file = self.files.get(str(item.get("id"))) if isinstance(item, Mapping) else None
        if file is None or file.content is None or file.completed:
            raise _Refusal("file_not_found")
        return file

    # -- the upload URL and response URLs --------------------------------------------------

    def _upload(self, request: Request) -> Response:
        key = request.path.rsplit("/", 1)[-1]
        with self._state:
            file = self.files.get(self._uploads.get(key, ""))
            if file is None or request.method != "POST":
                return Response(404, b"Not Found", _TEXT)
            content = _uploaded_bytes(request)
            if len(content) != file.length:
                return Response(400, f"length mismatch: {len(content)}".encode(), _TEXT)
            file.content = content
        return Response(200, f"OK - {len(content)}".encode(), _TEXT)

    def _respond(self, request: Request) -> Response:
        url = f"{self.url}{request.path}"
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError(body)
        except ValueError:
            return self._answer_hook(url, {}, 400, "invalid_payload")
        with self._state:
            status, answer = self._hook_post(request.path.rsplit("/", 1)[-1], body)
            return self._answer_hook(url, body, status, answer)

    def _answer_hook(self, url: str, body: Mapping[str, Any], status: int, answer: str) -> Response:
        with self._state:
            self.responses.append(ResponsePost(url, body, status, answer, self._clock.now()))
        return Response(status, answer.encode(), _TEXT)

    def _hook_post(self, key: str, body: dict[str, Any]) -> tuple[int, str]:
        hook = self._hooks.get(key)
        if hook is None or self._monotonic() - hook.minted > RESPONSE_URL_LIFETIME:
            return 404, "expired_url"
        if hook.uses >= RESPONSE_URL_USES:
            return 404, "used_url"
        original = self._messages.get((hook.channel, hook.message_ts or ""))
        try:
            if _flag(body.get("delete_original")):
                if original is None:
                    return 404, "message_not_found"
                original.deleted = True
            else:
                self._hook_message(hook, body, original)
        except _Refusal as refusal:
            return 400, str(refusal)
        hook.uses += 1
        return 200, "ok"

    def _hook_message(self, hook: _Hook, body: dict[str, Any], original: Message | None) -> None:
        content = self._body(body, most=MESSAGE_TEXT)
        if _flag(body.get("replace_original")) and original is not None:
            self._rewrite(original, {"text": "", **body}, content, via=RESPONSE_URL)
        elif body.get("response_type") == "in_channel":
            channel = self.channels[hook.channel]
            parent = self._parent(channel, body.get("thread_ts"))
            metadata = _metadata(body.get("metadata"))
            self._store(channel, content, parent, metadata=metadata, via=RESPONSE_URL)
        else:
            ts = self._next_ts()
            thread = body.get("thread_ts")
            ephemeral = Ephemeral(
                hook.channel, hook.user, ts, content.text, content.blocks, thread, RESPONSE_URL
            )
            self.ephemerals.append(ephemeral)

    # -- shared rules ----------------------------------------------------------------------

    def _resolve(self, ref: Any) -> Channel:
        """A channel by id or name, or the bot's DM with a user id; KeyError if none."""
        ref = str(ref or "")
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        user = self.users.get(ref)
        if user is not None and user.id != self.bot_user_id:
            dm = Channel("D" + user.id.removeprefix("U"), user.id, is_im=True)
            dm.members = {self.bot_user_id, user.id}
            return self.channels.setdefault(dm.id, dm)
        raise KeyError(ref)

    def _visible(self, ref: Any) -> Channel:
        """The channel as the bot sees it: private ones it is not in do not exist for it."""
        channel = self.channels.get(str(ref or ""))
        if channel is None or (channel.is_private and self.bot_user_id not in channel.members):
            raise _Refusal("channel_not_found")
        return channel

    def _readable(self, ref: Any) -> Channel:
        channel = self._visible(ref)
        if self.bot_user_id not in channel.members:
            raise _Refusal("not_in_channel")
        return channel

    def _postable(self, ref: Any) -> Channel:
        try:
            channel = self._resolve(ref)
        except KeyError:
            raise _Refusal("channel_not_found") from None
        channel = self._visible(channel.id)
        if channel.is_archived:
            raise _Refusal("is_archived")
        public = not channel.is_private and not channel.is_im
        if self.bot_user_id not in channel.members and not (
            public and "chat:write.public" in self.scopes
        ):
            raise _Refusal("not_in_channel")
        return channel

    def _parent(self, channel: Channel, thread_ts: Any) -> Message | None:
        """The thread's parent: a reply's ts stands for its parent, as in Slack."""
        if not thread_ts:
            return None
        found = self._messages.get((channel.id, str(thread_ts)))
        if found is None or found.deleted:
            raise _Refusal("thread_not_found")
        if found.is_reply:
            return self._messages[(channel.id, str(found.thread_ts))]
        return found

    def _body(self, args: Mapping[str, Any], *, most: int, new: bool = True) -> _Body:
        text = str(args.get("text") or "")
        markdown = args.get("markdown_text")
        blocks = _blocks(args.get("blocks")) if "blocks" in args else None
        attachments = _json_arg(args.get("attachments"), "invalid_attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise _Refusal("invalid_attachments")
        if attachments is not None and len(attachments) > ATTACHMENTS:
            raise _Refusal("too_many_attachments")
        if markdown and (text or blocks):
            raise _Refusal("markdown_text_conflict")
        if new and not (text or markdown or blocks or attachments):
            raise _Refusal("no_text")
        problems = block_problems(blocks or [])
        if problems:
            raise _Refusal("invalid_blocks", errors=problems, response_metadata=_messages(problems))
        warnings = []
        text = str(markdown) if markdown else text
        if len(text) > most:
            text, warnings = text[:most], ["message_truncated"]
        return _Body(text, blocks, attachments, warnings)

    def _store(
        self,
        channel: Channel,
        body: _Body,
        parent: Message | None,
        *,
        metadata: dict[str, Any] | None = None,
        broadcast: bool = False,
        via: str = "chat.postMessage",
    ) -> Message:
        ts = self._next_ts()
        message = Message(channel.id, ts, self.bot_user_id, body.text, self.team_id, body.blocks)
        message.attachments, message.metadata, message.via = body.attachments, metadata, via
        message.bot_id, message.app_id = self.bot_id, self.app_id
        if parent is not None:
            message.thread_ts, message.reply_broadcast = parent.ts, broadcast
            parent.thread_ts = parent.ts
            parent.replies.append(ts)
        self._messages[(channel.id, ts)] = message
        return message

    def _next_ts(self) -> str:
        """Slack-like "1700000000.000100" from the clock, strictly increasing."""
        now = (self._clock.now() - _EPOCH) // timedelta(microseconds=1)
        self._last_us = max(now, self._last_us + 1)
        seconds, micros = divmod(self._last_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08X}"

    def _new_hash(self) -> str:
        return f"{int(self._clock.now().timestamp())}.{secrets.token_hex(4)}"


@contextmanager
def running_slack(**options: Any) -> Iterator[SlackStandIn]:
    """A started SlackStandIn (keyword options as its constructor's), stopped on exit."""
    standin = SlackStandIn(**options)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def _method_of(path: str) -> str:
    if path.startswith("/api/"):
        return path.removeprefix("/api/")
    if path.startswith("/upload/"):
        return UPLOAD
    if path.startswith("/response/"):
        return RESPONSE_URL
    return path


def _args(request: Request) -> dict[str, Any]:
    """The call's arguments from its query and its JSON, form or multipart body."""
    args: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    if not request.body:
        return args
    kind = (request.header("Content-Type") or "").lower()
    if kind.startswith("application/json"):
        parsed = json.loads(request.body)
        if not isinstance(parsed, dict):
            raise ValueError("json_not_object")
        args.update(parsed)
    elif kind.startswith("multipart/form-data"):
        for name, filename, value in _parts(request):
            args[name] = value if filename is not None else value.decode()
    else:
        args.update(parse_qsl(request.body.decode(), keep_blank_values=True))
    return args


def _parts(request: Request) -> list[tuple[str, str | None, bytes]]:
    head = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
    parsed = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    found = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append((str(name), part.get_filename(), data))
    return found


def _uploaded_bytes(request: Request) -> bytes:
    """slack_sdk posts the raw bytes; curl -F posts one multipart file part. Both work."""
    if (request.header("Content-Type") or "").lower().startswith("multipart/form-data"):
        files = [data for _, filename, data in _parts(request) if filename is not None]
        return files[0] if files else b""
    return request.body


def _unreadable(request: Request, error: ValueError) -> str:
    if (request.header("Content-Type") or "").lower().startswith("application/json"):
        return "json_not_object" if str(error) == "json_not_object" else "invalid_json"
    return "invalid_form_data"


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _json_arg(value: Any, error: str) -> Any:
    """A JSON-valued argument: already parsed in a JSON body, a string in a form body."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _Refusal(error) from None


def _blocks(value: Any) -> list[dict[str, Any]]:
    blocks = _json_arg(value, "invalid_blocks_format")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise _Refusal("invalid_blocks_format")
    return blocks


def _metadata(value: Any) -> dict[str, Any] | None:
    metadata = _json_arg(value, "invalid_metadata_format")
    if metadata is None:
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise _Refusal("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def _view(value: Any, *, kind: str) -> dict[str, Any]:
    view = _json_arg(value, "invalid_arguments")
    problems = []
    if not isinstance(view, dict):
        raise _Refusal("invalid_arguments", response_metadata=_messages(["view must be an object"]))
    if view.get("type") != kind:
        problems.append(f"must be {kind} [json-pointer:/view/type]")
    if kind == "modal":
        title = view.get("title")
        if not isinstance(title, dict) or not 0 < len(str(title.get("text", ""))) <= VIEW_TITLE:
            problems.append(f"must be 1 to {VIEW_TITLE} characters [json-pointer:/view/title]")
    blocks = view.get("blocks", [])
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise _Refusal("invalid_arguments", response_metadata=_messages(["blocks"]))
    problems += [
        p.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")
        for p in block_problems(blocks, view=True)
    ]
    if problems:
        raise _Refusal("invalid_arguments", response_metadata=_messages(problems))
    return view


def _messages(problems: Iterable[str]) -> dict[str, list[str]]:
    return {"messages": [f"[ERROR] {p}" for p in problems]}


def _warnings(warnings: Sequence[str]) -> dict[str, Any]:
    if not warnings:
        return {}
    return {"warning": ",".join(warnings), "response_metadata": {"warnings": list(warnings)}}


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = str(ts).partition(".")
    try:
        return int(seconds or 0), int((micros or "0").ljust(6, "0")[:6])
    except ValueError:
        raise _Refusal("invalid_ts_oldest") from None


def _to_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _from_cursor(cursor: str) -> str:
    try:
        digits = base64.b64decode(cursor, validate=True).decode().removeprefix("next_ts:")
    except (binascii.Error, UnicodeDecodeError):
        raise _Refusal("invalid_cursor") from None
    if not digits.isdigit() or len(digits) <= 6:
        raise _Refusal("invalid_cursor")
    return f"{digits[:-6]}.{digits[-6:]}"
