"""The deployment files stay in step with the command: every Procfile line is an `aispend`
command the parser accepts, the web process serves Slack and the worker runs the jobs."""

from __future__ import annotations

import shlex
from pathlib import Path

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    processes = {}
    for line in lines:
        name, _, command = line.partition(":")
        processes[name.strip()] = shlex.split(command)
    return processes


def test_every_procfile_process_is_an_aispend_command_the_parser_accepts():
    processes = _procfile()
    assert set(processes) == {"release", "web", "worker"}
    for argv in processes.values():
        assert argv[0] == "aispend"
        build_parser().parse_args(argv[1:])  # exits (SystemExit) on anything it refuses


def test_the_web_process_serves_and_the_worker_runs_the_jobs():
    processes = _procfile()
    assert build_parser().parse_args(processes["web"][1:]).role == "web"
    assert build_parser().parse_args(processes["worker"][1:]).role == "worker"
    assert processes["release"][1:] == ["db", "upgrade"]  # migrated once, before any starts


def test_the_readme_documents_every_runtime_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for setting in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "AISPEND_EVENTS_TOKEN",
        "AISPEND_METRICS_TOKEN",
        "AISPEND_HOST",
        "PORT",
        "AISPEND_EVENTS_MAX_BYTES",
        "AISPEND_COLLECT_MINUTES",
        "AISPEND_LEASE_SECONDS",
        "LOG_LEVEL",
    ):
        assert f"`{setting}`" in readme, setting
