"""`aispend run` as a real process, for tests: started with an environment of its own (no
.env, nothing inherited but PATH and the like), its JSON log lines collected as they come, its
port read from its "aispend is running" line, stopped with SIGTERM or killed.

Everything it needs is on loopback: a store, the Slack stand-in, provider stand-ins."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.standins.slack import BOT_TOKEN, SlackStandIn

STARTUP = 30.0  # seconds to wait for the process to listen (imports are slow on a busy box)
SIGNING_SECRET = "runtime-test-signing-secret"
EVENTS_TOKEN = "events-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def base_env(database_url: str, slack: SlackStandIn, cwd: Path) -> dict[str, str]:
    """A complete HTTP-mode configuration on loopback, on a free port."""
    env = {k: v for k, v in os.environ.items() if k in _KEPT}
    return env | {
        "DATABASE_URL": database_url,
        "AISPEND_CONFIG": str(cwd / "aispend.toml"),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "AISPEND_EVENTS_TOKEN": EVENTS_TOKEN,
        "AISPEND_METRICS_TOKEN": METRICS_TOKEN,
        "AISPEND_HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "INFO",
    }


@dataclass
class Running:
    """One `aispend run` process."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)  # stderr, line by line
    stdout: list[str] = field(default_factory=list)
    port: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    _readers: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (a line that is not JSON is a bug: it fails here)."""
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return request(self.url + path, headers=headers)

    def health(self) -> dict[str, Any] | None:
        try:
            status, body = self.get("/healthz")
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def listening(self) -> Running:
        """Once it listens (its port known); fails with its log when it does not."""
        self.started.wait(STARTUP)
        if not self.port:
            self.kill()
            raise AssertionError("aispend run did not start:\n" + "\n".join(self.lines))
        return self

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.wait(10)

    def wait(self, timeout: float = 30.0) -> int:
        status = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return status


def start(env: Mapping[str, str], *args: str, cwd: Path, listen: bool = True) -> Running:
    """`python -m bot run ARGS`; with `listen`, returns once it listens (its port known).
    Start several at once with listen=False, then call `listening()` on each."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Running(process)
    started = running.started

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            running.lines.append(line.rstrip("\n"))
            if '"aispend is running"' in line:
                running.port = int(json.loads(line)["port"])
                started.set()
        started.set()

    running._readers = [
        threading.Thread(target=read, daemon=True),
        threading.Thread(target=_drain, args=(process, running.stdout), daemon=True),
    ]
    for reader in running._readers:
        reader.start()
    return running.listening() if listen else running


def _drain(process: subprocess.Popen[str], into: list[str]) -> None:
    assert process.stdout is not None
    into.extend(line.rstrip("\n") for line in process.stdout)


def request(
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, bytes]:
    """An HTTP request; the status and body, whatever the status."""
    prepared = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=15) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
