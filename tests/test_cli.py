"""The command line as a person uses it: real argv, real store files, real output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.store.db import make_engine
from bot.store.models import UsageEvent

EVENT = {"provider": "openai", "model": "gpt-5", "tokens_in": 2000, "tokens_out": 100}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.toml"))
    assert main(["db", "upgrade"]) == 0
    return url


def _today_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(hour=0, minute=5).isoformat()


def _events_file(tmp_path: Path, rows: Sequence[dict[str, object] | bytes]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(r if isinstance(r, bytes) else orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_report_answers_week_by_provider(store, tmp_path, capsys):
    rows = [EVENT | {"ts": _today_iso(), "request_id": f"r{i}"} for i in range(3)]
    assert main(["ingest", str(_events_file(tmp_path, rows))]) == 0
    assert "stored 3 events" in capsys.readouterr().out
    assert main(["report", "week", "by", "provider"]) == 0
    out = capsys.readouterr().out
    assert "openai" in out
    assert "$0.01" in out  # 3 x (2000 x $1.25 + 100 x $10) per million = $0.0105


def test_report_json_keeps_exact_decimal_strings(store, tmp_path, capsys):
    rows = [EVENT | {"ts": _today_iso(), "request_id": "only"}]
    main(["ingest", str(_events_file(tmp_path, rows))])
    capsys.readouterr()
    assert main(["report", "--format", "json", "week by model"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["total_usd"] == "0.0035000000"
    assert payload["rows"][0]["keys"] == ["gpt-5"]


def test_report_typo_gets_the_closest_word_and_status_2(store, capsys):
    assert main(["report", "wek by provider"]) == 2
    err = capsys.readouterr().err
    assert '"week"' in err
    assert "Traceback" not in err


def test_report_on_an_unmigrated_store_names_the_fix(tmp_path, monkeypatch, capsys):
    (tmp_path / "new.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/new.db")
    assert main(["report", "week"]) == 1
    assert "aispend db upgrade" in capsys.readouterr().err


def test_ingest_reports_bad_lines_by_number_and_exits_1(store, tmp_path, capsys):
    rows: list[dict[str, object] | bytes] = [
        EVENT | {"ts": _today_iso(), "request_id": "a"},
        b"{oops\n",
        EVENT | {"ts": "yesterday"},
    ]
    assert main(["ingest", str(_events_file(tmp_path, rows))]) == 1
    captured = capsys.readouterr()
    assert "events.jsonl:2:" in captured.err
    assert "events.jsonl:3:" in captured.err
    assert "stored 1 events, 2 bad lines" in captured.out


def test_ingest_missing_file_is_a_clear_error(store, capsys):
    assert main(["ingest", "/nonexistent/events.jsonl"]) == 2
    assert "cannot read /nonexistent/events.jsonl" in capsys.readouterr().err


def test_bad_team_file_names_file_and_field(store, tmp_path, capsys):
    (tmp_path / "aispend.toml").write_text('[[budgets]]\nmonthly = "lots"\n')
    rows = [EVENT | {"ts": _today_iso()}]
    assert main(["ingest", str(_events_file(tmp_path, rows))]) == 2
    err = capsys.readouterr().err
    assert "aispend.toml" in err
    assert "budgets.0.monthly" in err


def test_prices_unpriced_lists_unknown_models(store, tmp_path, capsys):
    rows = [EVENT | {"ts": _today_iso(), "model": "acme-ranker-v2", "request_id": "u"}]
    main(["ingest", str(_events_file(tmp_path, rows))])
    capsys.readouterr()
    assert main(["prices", "unpriced"]) == 0
    assert "acme-ranker-v2" in capsys.readouterr().out


def test_prices_lookup_shows_list_and_tier_prices(capsys):
    assert main(["prices", "lookup", "anthropic", "claude-sonnet-4-5", "--date", "2026-11-01"]) == 0
    out = capsys.readouterr().out
    assert "$3" in out
    assert "above 200,000 input tokens" in out


def test_every_command_has_help(capsys):
    for argv in (
        ["--help"],
        ["demo", "--help"],
        ["ingest", "--help"],
        ["report", "--help"],
        ["db", "upgrade", "--help"],
        ["prices", "unpriced", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        assert "usage: aispend" in capsys.readouterr().out


def test_python_dash_m_bot_is_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_ingest_killed_mid_file_then_rerun_matches_a_clean_run(tmp_path):
    """SIGKILL between batches, run again: the store equals a clean single run."""
    from datetime import date

    from bot.synthetic import ActivitySpec, generate_events, write_jsonl

    path = tmp_path / "big.jsonl"
    with path.open("wb") as stream:
        write_jsonl(
            generate_events(ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=3000)),
            stream,
        )
    killed, clean = f"sqlite:///{tmp_path}/killed.db", f"sqlite:///{tmp_path}/clean.db"
    for url in (killed, clean):
        _aispend(url, "db", "upgrade").check_returncode()
    child = _start(killed, "ingest", str(path))
    _wait_for_rows(killed, child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _count(killed) < _count_lines(path)
    assert _aispend(killed, "ingest", str(path)).returncode == 0
    assert _aispend(clean, "ingest", str(path)).returncode == 0
    assert _report(killed) == _report(clean)
    assert _count(killed) == _count_lines(path)


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "AISPEND_CONFIG": "/nonexistent/aispend.toml"}


def _aispend(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=_env(url),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _start(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        env=_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = int(connection.scalar(select(func.count()).select_from(UsageEvent)) or 0)
    engine.dispose()
    return count


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _wait_for_rows(url: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while _count(url) == 0:
        assert child.poll() is None, "ingest finished before it could be killed"
        assert time.monotonic() < deadline, "ingest stored nothing in 60 s"
        time.sleep(0.02)


def _report(url: str) -> str:
    result = _aispend(
        url, "report", "--format", "csv", "2026-11-01..2026-11-30", "by", "feature", "and", "model"
    )
    result.check_returncode()
    return result.stdout


def test_ingest_attributes_team_from_the_team_file(store, tmp_path, capsys):
    (tmp_path / "aispend.toml").write_text(
        '[[teams]]\nid = "growth"\n[[attribution]]\napi_key = "key_g"\nteam = "growth"\n'
    )
    rows = [EVENT | {"ts": _today_iso(), "request_id": "t1", "api_key": "key_g"}]
    assert main(["ingest", str(_events_file(tmp_path, rows))]) == 0
    capsys.readouterr()
    assert main(["report", "--format", "csv", "week by team"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("growth,")


def test_report_says_plainly_which_verbs_the_command_line_answers(store, capsys):
    assert main(["report", "forecast"]) == 2
    assert "report, top, help" in capsys.readouterr().err


def test_report_help_prints_the_grammar(capsys):
    assert main(["report", "help"]) == 0
    out = capsys.readouterr().out
    assert "by" in out
    assert "provider:openai" in out or "provider:" in out


def test_report_without_a_store_creates_no_file_and_says_how_to_make_one(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/missing.db")
    assert main(["report", "week"]) == 1
    assert "aispend db upgrade" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
