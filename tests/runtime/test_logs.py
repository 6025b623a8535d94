"""Log lines: JSON (or text at a terminal), and secrets replaced wherever they appear."""

from __future__ import annotations

import io
import json
import logging
import sys

from pydantic import SecretStr

from bot.config import Settings
from bot.runtime.logs import (
    REDACTED,
    JsonFormatter,
    Redactor,
    TextFormatter,
    configure_logging,
    settings_secrets,
)

SECRET = "s3cr3t-value-4f2a"


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "bot.test", "levelname": "ERROR", "levelno": 40, "msg": message, "args": args}
    )
    record.__dict__.update(extra)
    return record


def test_a_secret_is_redacted_in_the_message_its_arguments_fields_and_traceback():
    try:
        raise ValueError(f"the key {SECRET} was refused")
    except ValueError:
        info = sys.exc_info()
    record = _record("calling with %s", SECRET, url=f"https://x/?key={SECRET}", attempts=3)
    record.exc_info = info
    entry = json.loads(JsonFormatter(Redactor([SECRET])).format(record))
    assert entry["message"] == f"calling with {REDACTED}"
    assert entry["url"] == f"https://x/?key={REDACTED}"
    assert entry["attempts"] == 3  # numbers stay numbers
    assert REDACTED in entry["exc"]
    assert SECRET not in json.dumps(entry)
    text = TextFormatter(Redactor([SECRET])).format(record)
    assert SECRET not in text
    assert "attempts=3" in text


def test_token_shapes_are_redacted_even_when_no_setting_holds_them():
    redact = Redactor()
    for token in (
        "xoxb-1234-5678-abcdef",
        "xapp-1-A0APP-123-abc",
        "sk-ant-admin01-abcdefghijklmnop",
        "sk-admin-abcdefghijklmnop",
    ):
        assert redact(f"sent {token} to slack") == f"sent {REDACTED} to slack"
    assert redact("Authorization: Bearer abc.def-ghi") == f"Authorization: {REDACTED}"
    assert redact("a task took 12 ms") == "a task took 12 ms"


def test_every_secret_setting_is_known_to_the_redactor():
    settings = Settings.model_validate(
        {
            "slack_bot_token": "xoxb-a",
            "slack_signing_secret": "signing",
            "aispend_events_token": "events",
            "openai_admin_key": "sk-admin-a",
        }
    )
    assert set(settings_secrets(settings)) == {"xoxb-a", "signing", "events", "sk-admin-a"}
    secret_fields = [
        name
        for name, field in Settings.model_fields.items()
        if field.annotation is not None and "SecretStr" in str(field.annotation)
    ]
    assert len(secret_fields) >= 9
    assert all(isinstance(getattr(settings, n), SecretStr | None) for n in secret_fields)


def test_logs_are_json_unless_written_to_a_terminal():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()  # not a terminal
    try:
        configure_logging("info", Redactor([SECRET]), stream=out)
        logging.getLogger("bot.test").info("hello %s", SECRET, extra={"job": "collect"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    entry = json.loads(out.getvalue())
    assert entry["message"] == f"hello {REDACTED}"
    assert (entry["level"], entry["logger"], entry["job"]) == ("INFO", "bot.test", "collect")
