"""Logs for the service: one JSON object per line when stderr is not a terminal (a log
collector reads them), `LEVEL logger: message` when it is; and in both, every secret the
settings hold, and anything shaped like a Slack token, a provider key or a bearer
credential, replaced by [redacted] before the line is written, whoever logged it (our code,
Bolt, slack_sdk, waitress, httpx) and whether in the message, its fields or a traceback."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import SecretStr

from bot.config import Settings

REDACTED = "[redacted]"
MIN_SECRET = 6  # shorter "secrets" would redact ordinary words
# token shapes redacted even when they are no configured secret (a key pasted in a payload)
_SHAPES = re.compile(
    r"xox[abposer]-[A-Za-z0-9-]+"
    r"|xapp-[A-Za-z0-9-]+"
    r"|sk-[A-Za-z0-9_-]{12,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
)
# LogRecord's own attributes: anything else on a record came from `extra=`
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class Redactor:
    """Replaces each secret, and every token shape, with [redacted]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        kept = {s for s in secrets if len(s) >= MIN_SECRET}
        self._secrets = sorted(kept, key=len, reverse=True)  # longest first: no partial leak

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SHAPES.sub(REDACTED, text)


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value the settings hold."""
    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [v.get_secret_value() for v in values if isinstance(v, SecretStr)]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the `extra=` fields, and the
    traceback as `exc`."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _field(value, self.redact)
        if record.exc_info:
            entry["exc"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _field(value: object, redact: Redactor) -> object:
    """Numbers, booleans and None as themselves; anything else as redacted text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(value if isinstance(value, str) else repr(value))


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message key=value ...`, redacted, for a person at a terminal."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        ]
        return self.redact(" ".join([text, *fields]))


def configure_logging(
    level: str, redact: Redactor, *, stream: IO[str] | None = None, as_json: bool | None = None
) -> None:
    """Send every log record to `stream` (stderr), JSON unless it is a terminal."""
    out = stream or sys.stderr
    if as_json is None:
        as_json = not out.isatty()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(redact) if as_json else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
