"""The Slack stand-in, driven through the real slack_sdk WebClient and WebhookClient."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.clock import FixedClock
from bot.standins.slack import (
    BOT_TOKEN,
    RESPONSE_URL,
    UPLOAD,
    Channel,
    RateLimit,
    SlackStandIn,
    User,
    connection_reset,
    ratelimited,
    running_slack,
    server_error,
    slack_error,
    timeout,
)

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
TS = re.compile(r"^\d{10}\.\d{6}$")


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def slack(ticks: Ticks) -> Iterator[SlackStandIn]:
    with running_slack(clock=FixedClock(NOW), monotonic=ticks) as standin:
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    # no retry handlers: each test sees exactly what the stand-in answered
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])


@pytest.fixture
def eng(slack: SlackStandIn) -> Channel:
    return slack.add_channel("eng")


@pytest.fixture
def owner(slack: SlackStandIn, eng: Channel) -> User:
    return slack.add_user("owner", tz="Europe/Paris", channels=[eng.id])


def _error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def _post(client: WebClient, channel: str, text: str = "hi", **kwargs: Any) -> Any:
    return client.chat_postMessage(channel=channel, text=text, **kwargs)


# -- auth ------------------------------------------------------------------------------------


def test_auth_test_names_team_bot_user_and_bot(client, slack):
    answer = client.auth_test()
    assert answer["team_id"] == slack.team_id
    assert answer["user_id"] == slack.bot_user_id
    assert answer["bot_id"] == slack.bot_id
    assert answer.headers["X-OAuth-Scopes"]


def test_calls_without_a_token_or_with_a_wrong_one_are_refused(slack):
    anonymous = WebClient(base_url=slack.api_url, retry_handlers=[])
    assert _error(anonymous.auth_test).response["error"] == "not_authed"
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url, retry_handlers=[])
    refused = _error(wrong.auth_test).response
    assert (refused.status_code, refused["error"]) == (200, "invalid_auth")


def test_a_method_needing_a_scope_the_bot_lacks_is_refused_with_needed_and_provided():
    with running_slack(scopes={"users:read"}) as slack:
        slack.add_channel("eng")
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
        refused = _error(lambda: _post(client, "eng")).response
    assert refused["error"] == "missing_scope"
    assert (refused["needed"], refused["provided"]) == ("chat:write", "users:read")
    assert slack.messages() == []


def test_an_unknown_method_is_refused_and_remembered(client, slack):
    assert _error(lambda: client.api_call("chat.postMesage")).response["error"] == "unknown_method"
    assert slack.unknown_methods == ["chat.postMesage"]


# -- chat.postMessage -------------------------------------------------------------------------


def test_post_message_stores_text_blocks_and_metadata_and_answers_like_slack(client, slack, eng):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*spend*"}}]
    metadata = {"event_type": "spend_alert", "event_payload": {"key": "a1"}}
    answer = client.chat_postMessage(channel=eng.id, text="spend", blocks=blocks, metadata=metadata)
    assert answer["channel"] == eng.id
    assert TS.match(answer["ts"])
    assert answer["message"]["blocks"] == blocks
    assert answer["message"]["bot_id"] == slack.bot_id
    [stored] = slack.messages(eng.id)
    assert (stored.ts, stored.text, stored.blocks, stored.user) == (
        answer["ts"],
        "spend",
        blocks,
        slack.bot_user_id,
    )
    assert slack.messages_with_metadata("spend_alert", key="a1") == [stored]
    assert slack.messages_with_metadata("spend_alert", key="other") == []


def test_post_message_sends_json_and_join_sends_a_form_and_both_are_read(client, slack, eng):
    _post(client, "#eng", "by name")
    client.conversations_join(channel=eng.id)
    kinds = [r.header("Content-Type") for r in slack.requests]
    assert kinds == ["application/json;charset=utf-8", "application/x-www-form-urlencoded"]
    assert [c.method for c in slack.calls()] == ["chat.postMessage", "conversations.join"]
    assert slack.calls("chat.postMessage")[0].args == {"channel": "#eng", "text": "by name"}
    assert slack.calls()[0].at == NOW


def test_a_multipart_body_is_read_too(client, slack, eng):
    client.api_call(
        "chat.postMessage", params={"channel": eng.id, "text": "multi"}, files={"x": b"1"}
    )
    assert (
        slack.requests[0]
        .header(
            "Content-Type",
        )
        .startswith("multipart/form-data")
    )
    assert [m.text for m in slack.messages()] == ["multi"]


def test_timestamps_are_slack_like_and_strictly_increasing(client, slack, eng):
    stamps = [_post(client, eng.id)["ts"] for _ in range(3)]
    assert stamps[0] == f"{int(NOW.timestamp())}.000000"
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ({"name": "nowhere"}, "channel_not_found"),
        ({"bot_member": False}, "not_in_channel"),
        ({"bot_member": False, "private": True}, "channel_not_found"),
        ({"archived": True}, "is_archived"),
    ],
)
def test_post_message_to_a_channel_the_bot_cannot_post_in_is_refused(client, slack, setup, error):
    channel = slack.add_channel("ops", **{k: v for k, v in setup.items() if k != "name"})
    target = setup.get("name", channel.id)
    assert _error(lambda: _post(client, target)).response["error"] == error
    assert slack.messages() == []


def test_chat_write_public_lets_the_bot_post_in_public_channels_it_is_not_in():
    with running_slack(scopes={"chat:write", "chat:write.public"}) as slack:
        ops = slack.add_channel("ops", bot_member=False)
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
        _post(client, ops.id)
        assert len(slack.messages(ops.id)) == 1


def test_post_message_without_any_content_is_refused(client, slack, eng):
    empty = _error(lambda: client.api_call("chat.postMessage", json={"channel": eng.id}))
    assert empty.response["error"] == "no_text"
    assert slack.messages() == []


def test_blocks_over_slacks_limits_are_refused_with_errors_and_nothing_is_stored(
    client, slack, eng
):
    blocks = [{"type": "divider"}] * 50 + [
        {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    ]
    refused = _error(lambda: _post(client, eng.id, blocks=blocks)).response
    assert refused["error"] == "invalid_blocks"
    assert "no more than 50 items allowed [json-pointer:/blocks]" in refused["errors"]
    assert "must be less than 3001 characters [json-pointer:/blocks/50/text]" in refused["errors"]
    assert refused["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert slack.messages() == []


def test_text_over_40000_characters_is_truncated_with_a_warning(client, slack, eng):
    answer = _post(client, eng.id, "x" * 40_010)
    assert answer["warning"] == "message_truncated"
    assert len(slack.messages()[0].text) == 40_000


def test_a_reply_to_a_reply_lands_in_the_parents_thread(client, slack, eng):
    parent = _post(client, eng.id, "alert")["ts"]
    reply = _post(client, eng.id, "first", thread_ts=parent)["ts"]
    nested = _post(client, eng.id, "second", thread_ts=reply)
    assert nested["message"]["thread_ts"] == parent
    assert [m.text for m in slack.thread(eng.id, parent)] == ["first", "second"]
    assert slack.message(eng.id, parent).replies == [reply, nested["ts"]]


def test_a_thread_ts_that_is_no_message_in_the_channel_is_refused(client, slack, eng):
    other = slack.add_channel("other")
    elsewhere = _post(client, other.id)["ts"]
    refused = _error(lambda: _post(client, eng.id, thread_ts=elsewhere)).response
    assert refused["error"] == "thread_not_found"
    assert slack.messages(eng.id) == []


def test_a_broadcast_reply_shows_in_the_channel_history_and_a_plain_reply_does_not(
    client, slack, eng
):
    parent = _post(client, eng.id, "alert")["ts"]
    _post(client, eng.id, "quiet", thread_ts=parent)
    _post(client, eng.id, "loud", thread_ts=parent, reply_broadcast=True)
    history = client.conversations_history(channel=eng.id)["messages"]
    assert [(m["text"], m.get("subtype")) for m in history] == [
        ("loud", "thread_broadcast"),
        ("alert", None),
    ]
    assert history[1]["reply_count"] == 2


def test_posting_to_a_user_id_posts_in_the_bots_direct_message(client, slack, owner):
    answer = _post(client, owner.id, "psst")
    assert answer["channel"].startswith("D")
    assert slack.channels[answer["channel"]].members == {slack.bot_user_id, owner.id}


# -- chat.update ------------------------------------------------------------------------------


def test_update_replaces_text_and_blocks_and_keeps_the_history(client, slack, eng):
    ts = _post(client, eng.id, "spike", blocks=[{"type": "divider"}])["ts"]
    new = [{"type": "section", "text": {"type": "mrkdwn", "text": "acked"}}]
    answer = client.chat_update(channel=eng.id, ts=ts, text="acked", blocks=new)
    assert (answer["ts"], answer["text"]) == (ts, "acked")
    message = slack.message(eng.id, ts)
    assert (message.text, message.blocks, message.edited) == ("acked", new, None)
    assert [(u.text, u.blocks) for u in message.updates] == [("acked", new)]


def test_update_with_text_alone_drops_the_blocks_and_marks_the_message_edited(client, slack, eng):
    ts = _post(client, eng.id, "spike", blocks=[{"type": "divider"}])["ts"]
    client.chat_update(channel=eng.id, ts=ts, text="plain")
    message = slack.message(eng.id, ts)
    assert (message.text, message.blocks) == ("plain", None)
    assert message.edited is not None


def test_update_of_a_message_a_person_wrote_is_refused(client, slack, eng, owner):
    theirs = slack.post_as_user(eng.id, owner.id, "my words")
    refused = _error(lambda: client.chat_update(channel=eng.id, ts=theirs.ts, text="x"))
    assert refused.response["error"] == "cant_update_message"
    assert slack.message(eng.id, theirs.ts).text == "my words"


def test_update_errors_missing_message_long_text_and_bad_blocks(client, slack, eng):
    ts = _post(client, eng.id)["ts"]

    def update(**kwargs: Any) -> str:
        return str(_error(lambda: client.chat_update(channel=eng.id, **kwargs)).response["error"])

    assert update(ts="1.000001", text="x") == "message_not_found"
    assert update(ts=ts, text="x" * 4001) == "msg_too_long"
    assert update(ts=ts, text="x", blocks=[{"type": "header", "text": "no"}]) == "invalid_blocks"
    assert slack.message(eng.id, ts).updates == []


# -- chat.postEphemeral -----------------------------------------------------------------------


def test_ephemeral_messages_are_stored_apart_and_answered_with_message_ts(
    client, slack, eng, owner
):
    answer = client.chat_postEphemeral(channel=eng.id, user=owner.id, text="only you")
    assert TS.match(answer["message_ts"])
    [ephemeral] = slack.ephemerals
    assert (ephemeral.user, ephemeral.text, ephemeral.message_ts) == (
        owner.id,
        "only you",
        answer["message_ts"],
    )
    assert slack.messages() == []
    refused = _error(lambda: client.chat_update(channel=eng.id, ts=answer["message_ts"], text="x"))
    assert refused.response["error"] == "message_not_found"


def test_ephemeral_to_a_user_outside_the_channel_is_refused(client, slack, eng):
    stranger = slack.add_user("stranger")
    refused = _error(lambda: client.chat_postEphemeral(channel=eng.id, user=stranger.id, text="x"))
    assert refused.response["error"] == "user_not_in_channel"
    refused = _error(lambda: client.chat_postEphemeral(channel=eng.id, user="U404", text="x"))
    assert refused.response["error"] == "user_not_found"
    assert slack.ephemerals == []


# -- conversations, users, permalinks ---------------------------------------------------------


def test_join_adds_the_bot_to_a_public_channel_once(client, slack):
    ops = slack.add_channel("ops", bot_member=False)
    first = client.conversations_join(channel=ops.id)
    assert first["channel"]["is_member"] is True
    assert "warning" not in first
    again = client.conversations_join(channel=ops.id)
    assert again["warning"] == "already_in_channel"
    assert slack.bot_user_id in ops.members


def test_join_refuses_private_archived_and_missing_channels(client, slack):
    secret = slack.add_channel("secret", private=True, bot_member=False)
    old = slack.add_channel("old", archived=True, bot_member=False)

    def join(channel: str) -> str:
        return str(_error(lambda: client.conversations_join(channel=channel)).response["error"])

    assert join(secret.id) == "method_not_supported_for_channel_type"
    assert join(old.id) == "is_archived"
    assert join("C404") == "channel_not_found"


def test_conversations_info_and_users_info(client, slack, eng, owner):
    channel = client.conversations_info(channel=eng.id)["channel"]
    assert (channel["name"], channel["is_private"], channel["is_member"]) == ("eng", False, True)
    user = client.users_info(user=owner.id)["user"]
    assert (user["name"], user["tz"], user["tz_offset"]) == ("owner", "Europe/Paris", 3600)
    assert _error(lambda: client.users_info(user="U404")).response["error"] == "user_not_found"
    hidden = slack.add_channel("hidden", private=True, bot_member=False)
    refused = _error(lambda: client.conversations_info(channel=hidden.id)).response
    assert refused["error"] == "channel_not_found"


def test_permalinks_point_at_the_message_and_at_the_thread_for_replies(client, slack, eng):
    parent = _post(client, eng.id)["ts"]
    reply = _post(client, eng.id, thread_ts=parent)["ts"]
    link = client.chat_getPermalink(channel=eng.id, message_ts=parent)["permalink"]
    assert link == f"https://acme.slack.com/archives/{eng.id}/p{parent.replace('.', '')}"
    threaded = client.chat_getPermalink(channel=eng.id, message_ts=reply)["permalink"]
    assert threaded.endswith(f"?thread_ts={parent}&cid={eng.id}")
    refused = _error(lambda: client.chat_getPermalink(channel=eng.id, message_ts="1.000001"))
    assert refused.response["error"] == "message_not_found"


def test_history_pages_newest_first_and_shows_metadata_only_when_asked(client, eng):
    metadata = {"event_type": "digest", "event_payload": {"key": "d1"}}
    stamps = [_post(client, eng.id, f"m{i}", metadata=metadata)["ts"] for i in range(5)]
    first = client.conversations_history(channel=eng.id, limit=2)
    assert [m["ts"] for m in first["messages"]] == stamps[:2:-1][:2]
    assert "metadata" not in first["messages"][0]
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_history(
        channel=eng.id, limit=10, cursor=cursor, include_all_metadata=True
    )
    assert [m["ts"] for m in rest["messages"]] == stamps[2::-1]
    assert rest["has_more"] is False
    assert rest["messages"][0]["metadata"] == metadata
    after = client.conversations_history(channel=eng.id, oldest=stamps[3])
    assert [m["ts"] for m in after["messages"]] == [stamps[4]]


def test_replies_answer_the_thread_from_its_parent_or_any_reply(client, slack, eng):
    parent = _post(client, eng.id, "alert")["ts"]
    reply = _post(client, eng.id, "more", thread_ts=parent)["ts"]
    thread = client.conversations_replies(channel=eng.id, ts=reply)["messages"]
    assert [m["text"] for m in thread] == ["alert", "more"]
    refused = _error(lambda: client.conversations_replies(channel=eng.id, ts="1.000001"))
    assert refused.response["error"] == "thread_not_found"


def test_wait_for_returns_once_a_background_call_arrived(client, slack, eng):
    worker = threading.Timer(0.05, lambda: _post(client, eng.id, "later"))
    worker.start()
    [call] = slack.wait_for("chat.postMessage")
    worker.join()
    assert call.args["text"] == "later"
    with pytest.raises(AssertionError, match=r"0 calls to chat\.update"):
        slack.wait_for("chat.update", timeout=0.05)


def test_history_of_a_channel_the_bot_is_not_in_is_refused(client, slack):
    ops = slack.add_channel("ops", bot_member=False)
    refused = _error(lambda: client.conversations_history(channel=ops.id)).response
    assert refused["error"] == "not_in_channel"


# -- views ------------------------------------------------------------------------------------


def test_views_publish_records_the_home_tab_per_user(client, slack, owner):
    view = {"type": "home", "blocks": [{"type": "divider"}]}
    answer = client.views_publish(user_id=owner.id, view=view)
    assert answer["view"]["type"] == "home"
    [published] = slack.views[owner.id]
    assert published.view == view
    stale = _error(lambda: client.views_publish(user_id=owner.id, view=view, hash="old"))
    assert stale.response["error"] == "hash_conflict"
    client.views_publish(user_id=owner.id, view=view, hash=answer["view"]["hash"])
    assert len(slack.views[owner.id]) == 2


def test_views_publish_refuses_more_than_100_blocks_and_other_view_types(client, slack, owner):
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    refused = _error(lambda: client.views_publish(user_id=owner.id, view=too_many)).response
    assert refused["error"] == "invalid_arguments"
    assert refused["response_metadata"]["messages"] == [
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    ]
    modal = {"type": "modal", "blocks": []}
    refused = _error(lambda: client.views_publish(user_id=owner.id, view=modal)).response
    assert refused["error"] == "invalid_arguments"
    assert slack.views == {}


def test_views_open_needs_a_fresh_unused_trigger_id(client, slack, ticks):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Budget"}, "blocks": []}

    def open_(trigger: str) -> str:
        return str(
            _error(lambda: client.views_open(trigger_id=trigger, view=view)).response["error"]
        )

    assert open_("") == "invalid_arguments"
    assert open_("1.2.unknown") == "invalid_trigger_id"
    trigger = slack.trigger_id()
    assert client.views_open(trigger_id=trigger, view=view)["view"]["type"] == "modal"
    assert open_(trigger) == "exchanged_trigger_id"
    late = slack.trigger_id()
    ticks.now += 3.5
    assert open_(late) == "expired_trigger_id"
    assert [m.trigger_id for m in slack.modals] == [trigger]


# -- files ------------------------------------------------------------------------------------


def test_files_upload_v2_works_end_to_end_into_a_thread(client, slack, eng):
    parent = _post(client, eng.id, "weekly")["ts"]
    answer = client.files_upload_v2(
        channel=eng.id,
        content=b"\x89PNG chart bytes",
        filename="spend.png",
        title="Spend by model",
        initial_comment="This week",
        thread_ts=parent,
    )
    file = slack.files[answer["file"]["id"]]
    assert (file.content, file.title, file.filename) == (
        b"\x89PNG chart bytes",
        "Spend by model",
        "spend.png",
    )
    assert (file.channel, file.thread_ts, file.initial_comment) == (eng.id, parent, "This week")
    [shared] = slack.thread(eng.id, parent)
    assert (shared.text, shared.files) == ("This week", [file.id])
    assert answer["file"]["shares"] == {}  # Slack shares asynchronously
    assert [c.method for c in slack.calls()][1:] == [
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]


def test_the_upload_url_takes_a_multipart_file_part_and_checks_the_length(client, slack, eng):
    step = client.files_getUploadURLExternal(filename="a.csv", length=3)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nx,y\r\n--{boundary}--\r\n"
    ).encode()
    kind = f"multipart/form-data; boundary={boundary}"
    sent = urllib.request.Request(step["upload_url"], body, {"Content-Type": kind})
    with urllib.request.urlopen(sent, timeout=5) as answer:
        assert answer.read() == b"OK - 3"
    assert slack.files[step["file_id"]].content == b"x,y"
    other = client.files_getUploadURLExternal(filename="b.csv", length=10)
    short = urllib.request.Request(other["upload_url"], b"abc")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(short, timeout=5)
    caught.value.close()
    assert caught.value.code == 400
    files = [{"id": other["file_id"]}]
    refused = _error(lambda: client.files_completeUploadExternal(files=files, channel_id=eng.id))
    assert refused.response["error"] == "file_not_found"


# -- response URLs ----------------------------------------------------------------------------


def test_a_slash_command_response_url_posts_ephemeral_then_in_channel(slack, eng, owner):
    url = slack.response_url(eng.id, owner.id)
    hook = WebhookClient(url)
    assert hook.send(text="working on it").status_code == 200
    assert hook.send(text="here", response_type="in_channel").body == "ok"
    [ephemeral] = slack.ephemerals
    assert (ephemeral.user, ephemeral.text, ephemeral.via) == (
        owner.id,
        "working on it",
        RESPONSE_URL,
    )
    [posted] = slack.messages(eng.id)
    assert (posted.text, posted.user) == ("here", slack.bot_user_id)
    assert [r.body.get("text") for r in slack.responses] == ["working on it", "here"]


def test_a_button_response_url_replaces_or_deletes_the_original(client, slack, eng, owner):
    ts = _post(client, eng.id, "spike", blocks=[{"type": "divider"}])["ts"]
    hook = WebhookClient(slack.response_url(eng.id, owner.id, message_ts=ts))
    hook.send(text="acked", replace_original=True)
    message = slack.message(eng.id, ts)
    assert (message.text, message.blocks, message.updates[0].via) == ("acked", None, RESPONSE_URL)
    hook.send(delete_original=True)
    assert slack.messages(eng.id) == []


def test_a_response_url_refuses_bad_blocks_and_a_sixth_use(slack, eng, owner):
    hook = WebhookClient(slack.response_url(eng.id, owner.id))
    bad = hook.send(text="x", blocks=[{"type": "divider"}] * 51)
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    statuses = [hook.send(text=str(i)).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert len(slack.ephemerals) == 5


def test_a_response_url_expires_after_30_minutes(slack, eng, owner, ticks):
    hook = WebhookClient(slack.response_url(eng.id, owner.id))
    ticks.now += 30 * 60 + 1
    assert hook.send(text="late").status_code == 404


# -- rate limits ------------------------------------------------------------------------------


def test_rate_limits_are_off_by_default(client, slack, eng):
    for _ in range(5):
        _post(client, eng.id)
    assert len(slack.messages()) == 5


def test_post_message_is_limited_per_channel_per_second(client, slack, eng, ticks):
    slack.limit_rates()
    ops = slack.add_channel("ops")
    _post(client, eng.id)
    _post(client, ops.id)
    refused = _error(lambda: _post(client, eng.id)).response
    assert (refused.status_code, refused["error"]) == (429, "ratelimited")
    assert refused.headers["Retry-After"] == "1"
    ticks.now += 1.0
    _post(client, eng.id)
    assert len(slack.messages(eng.id)) == 2


def test_tier_limits_count_per_method_and_can_be_overridden(client, slack, owner, ticks):
    slack.limit_rates({"users.info": RateLimit(2, 60.0)})
    client.users_info(user=owner.id)
    ticks.now += 10
    client.users_info(user=owner.id)
    refused = _error(lambda: client.users_info(user=owner.id)).response
    assert refused.headers["Retry-After"] == "50"
    client.auth_test()  # another method, another window
    slack.unlimit_rates()
    client.users_info(user=owner.id)


def test_rate_limit_error_retry_handler_waits_out_retry_after_and_succeeds(slack, eng):
    slack.fail(ratelimited(1), method="chat.postMessage")
    retrying = WebClient(
        token=BOT_TOKEN,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()
    answer = _post(retrying, eng.id, "after a wait")
    assert time.monotonic() - started >= 1.0
    assert answer["ok"] is True
    first, second = slack.calls("chat.postMessage")
    assert first.fault is not None
    assert first.fault.status == 429
    assert second.fault is None
    assert [m.text for m in slack.messages()] == ["after a wait"]


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_fails_the_call_without_its_effect(client, slack, eng, status):
    slack.fail(server_error(status), method="chat.postMessage")
    assert _error(lambda: _post(client, eng.id)).response.status_code == status
    assert slack.messages() == []
    _post(client, eng.id)
    assert len(slack.messages()) == 1


def test_faults_wait_for_their_method_and_any_method_faults_hit_the_next_call(client, slack, eng):
    slack.fail(server_error(500), method="chat.update", times=2)
    slack.fail(slack_error("fatal_error"))
    assert slack.faults_pending() == 3
    assert _error(client.auth_test).response["error"] == "fatal_error"
    _post(client, eng.id)  # not chat.update: untouched
    assert slack.faults_pending() == 2
    slack.calm()
    assert slack.faults_pending() == 0


def test_a_connection_reset_fails_the_call_and_the_default_handler_retries_it(slack, eng):
    plain = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    slack.fail(connection_reset(), method="chat.postMessage")
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        _post(plain, eng.id)
    assert slack.messages() == []
    quick = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))
    retrying = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[quick])
    slack.fail(connection_reset(), method="chat.postMessage")
    _post(retrying, eng.id)
    assert len(slack.messages()) == 1


def test_a_timeout_fails_the_call_without_its_effect(slack, eng):
    # slack_sdk annotates timeout as int but hands it to urlopen, which takes seconds as float
    wait = 0.2
    impatient = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    impatient.timeout = wait  # type: ignore[assignment]
    slack.fail(timeout(0.6), method="chat.postMessage")
    with pytest.raises(TimeoutError):
        _post(impatient, eng.id)
    time.sleep(0.5)
    assert slack.messages() == []


def test_a_failure_after_the_effect_leaves_the_message_for_an_idempotency_check(client, slack, eng):
    key = {"event_type": "spend_alert", "event_payload": {"key": "alert-7"}}
    slack.fail(server_error(503, after_effect=True), method="chat.postMessage")
    assert _error(lambda: _post(client, eng.id, metadata=key)).response.status_code == 503
    history = client.conversations_history(channel=eng.id, include_all_metadata=True)
    found = [m for m in history["messages"] if m.get("metadata") == key]
    assert len(found) == 1  # a careful bot sees it posted and does not post again
    assert len(slack.messages_with_metadata("spend_alert", key="alert-7")) == 1


def test_chaos_fails_about_a_third_of_calls_the_same_way_for_a_seed(eng):
    def outcomes(seed: int) -> list[int]:
        with running_slack() as slack:
            slack.add_channel("eng", channel_id=eng.id)
            slack.chaos(1 / 3, seed=seed, methods={"chat.postMessage"})
            client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
            seen = []
            for _ in range(30):
                try:
                    seen.append(_post(client, eng.id).status_code)
                except SlackApiError as e:
                    seen.append(e.response.status_code)
            client.auth_test()  # not in `methods`: never failed
            assert len(slack.messages()) == seen.count(200)
            return seen

    first = outcomes(7)
    assert first == outcomes(7)
    assert 5 <= len([s for s in first if s != 200]) <= 15
    assert set(first) <= {200, 429, 500, 503}
