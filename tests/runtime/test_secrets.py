"""No secret reaches a log line or a message. `aispend run` is started at DEBUG with a planted
value in every secret setting, and made to use each of them: Slack calls with the bot token,
signed and forged Slack requests, /v1/events and /metrics with right and wrong tokens,
collectors that fail (a refused key, a provider that is down), the stored-key cipher. Then
every line it wrote, every answer it gave and everything Slack received is searched for
every planted value."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

from cryptography.fernet import Fernet
from slack_sdk.signature import SignatureVerifier

from bot.standins.anthropic import anthropic_routes
from bot.standins.openai import openai_routes
from bot.standins.server import running
from bot.standins.slack import running_slack
from bot.store.db import make_engine, upgrade
from tests.runtime.running import base_env, request, start, wait_for
from tests.slack.test_app import slash_body

PLANTED = {
    "SLACK_BOT_TOKEN": "xoxb-planted-bot-token-7f3a9c",
    "SLACK_SIGNING_SECRET": "planted-signing-secret-51d2e8",
    "AISPEND_EVENTS_TOKEN": "planted-events-token-c4b7e1a0",
    "AISPEND_METRICS_TOKEN": "planted-metrics-token-9e2f6d13",
    "OPENAI_ADMIN_KEY": "sk-admin-planted-openai-key-a81c",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin-planted-anthropic-2b6f",
    "AISPEND_SECRET_KEY": Fernet.generate_key().decode(),
}


def _signed(body: str, secret: str) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def test_no_planted_secret_appears_in_any_log_line_answer_or_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/aispend.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    refused = openai_routes(admin_key="sk-admin-the-real-one", costs=[], usage=[])
    refused_too = anthropic_routes(admin_key="sk-ant-admin-the-real-one", costs=[], usage=[])
    answers: list[bytes] = []
    with (
        running_slack(token=PLANTED["SLACK_BOT_TOKEN"]) as slack,
        running(refused) as openai,
        running(refused_too) as anthropic,
    ):
        eng = slack.add_channel("eng", channel_id="C0ENG")
        user = slack.add_user("maya", channels=[eng.id])
        env = base_env(url, slack, tmp_path) | PLANTED
        env |= {
            "LOG_LEVEL": "DEBUG",
            "OPENAI_BASE_URL": openai.url,
            "ANTHROPIC_BASE_URL": anthropic.url,
        }
        process = start(env, cwd=tmp_path)
        try:
            wait_for(lambda: any("collection failed" in line for line in process.lines), "jobs")
            hook = slack.response_url(eng.id, user.id)
            command = slash_body("week by provider", user=user.id, channel=eng.id, url=hook)
            secret = PLANTED["SLACK_SIGNING_SECRET"]
            slack_url = process.url + "/slack/events"
            answers += [
                request(slack_url, data=command.encode(), headers=_signed(command, key))[1]
                for key in (secret, secret + "x")
            ]
            events = PLANTED["AISPEND_EVENTS_TOKEN"]
            body = b'{"ts": "2026-11-20T10:00:00Z", "provider": "openai"}\n'
            answers += [
                request(
                    process.url + "/v1/events",
                    data=body,
                    headers={"Authorization": f"Bearer {token}"},
                )[1]
                for token in (events, events + "x", PLANTED["AISPEND_METRICS_TOKEN"])
            ]
            answers += [
                process.get("/metrics", token)[1]
                for token in (PLANTED["AISPEND_METRICS_TOKEN"], events)
            ]
            query = "?source=" + urllib.parse.quote(events)  # a secret in a bad query
            answers.append(request(process.url + "/v1/events" + query, data=body)[1])
            wait_for(lambda: any(r.url == hook for r in slack.responses), "the answer", 15)
        finally:
            assert process.terminate() == 0
        said = [json.dumps(r.body) for r in slack.responses]
        said += [m.text + json.dumps(m.blocks) for m in slack.messages()]
        said += [json.dumps(e.__dict__, default=str) for e in slack.ephemerals]
    failed = [json.loads(line)["message"] for line in process.lines if "collection failed" in line]
    assert any("openai: /v1/organization/costs refused the credentials" in m for m in failed)
    assert any("anthropic: /v1/organizations/cost_report refused" in m for m in failed)
    assert len(process.lines) > 20  # DEBUG: Bolt, slack_sdk, httpx, waitress all spoke
    written = process.lines + process.stdout + said + [a.decode() for a in answers]
    for name, value in PLANTED.items():
        leaks = [text for text in written if value in text]
        assert leaks == [], f"{name} leaked"
