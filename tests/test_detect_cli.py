"""`aispend detect`, `aispend alerts` and `aispend forecast` end to end on a SQLite store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import AttributionConfig
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from tests.builders import line, write_lines

TOML = """
[[teams]]
id = "growth"

[[attribution]]
project = "proj_a"
team = "growth"

[[budgets]]
monthly = "900"
dimension = "team"
value = "growth"
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """90 days of about $20 a day, then yesterday ten times that."""
    url = f"sqlite:///{tmp_path}/detect.db"
    (tmp_path / "aispend.toml").write_text(TOML)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.toml"))
    engine = make_engine(url)
    upgrade(engine)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in range(90, 0, -1)]
    lines = [
        line(
            bucket_start=day,
            project="proj_a",
            cost=Decimal(20 + day.toordinal() % 3) * (10 if n == len(days) - 1 else 1),
        )
        for n, day in enumerate(days)
    ]
    write_lines(
        engine, lines, Attribution.from_rules([AttributionConfig(project="proj_a", team="growth")])
    )
    engine.dispose()
    return url


def test_detect_dry_run_says_what_it_would_open_and_records_nothing(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["detect", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing recorded." in out
    assert re.search(r"opened\s+\w+\s+daily model gpt-5 on openai: \$2\d0\.00", out)
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out.strip() == "No open alerts."


def test_detect_then_alerts_then_feedback(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect"]) == 0
    out = capsys.readouterr().out
    assert "why: Against the same time last week" in out
    assert main(["alerts"]) == 0
    listed = capsys.readouterr().out
    row = next(r for r in listed.splitlines() if "model gpt-5 on openai" in r)
    incident_id = row.split()[0]
    assert main(["alerts", "--expected", incident_id, "--by", "maya"]) == 0
    assert f"#{incident_id} marked expected" in capsys.readouterr().out
    assert main(["alerts"]) == 0
    assert "[expected]" in capsys.readouterr().out
    assert main(["detect"]) == 0
    # a rerun says nothing again of the spike marked expected (a budget overrun may open
    # on the second evaluation early in a month: it depends on today's date)
    rerun = capsys.readouterr().out.splitlines()
    said = [r for r in rerun if r.startswith(("opened", "escalated", "updated"))]
    assert not [r for r in said if "model gpt-5 on openai" in r or " daily " in r], said


def test_feedback_on_an_unknown_alert_is_a_clear_error(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "--not-anomaly", "42"]) == 2
    assert "no incident 42" in capsys.readouterr().err


def test_forecast_shows_the_month_with_its_range_and_budget(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["forecast"]) == 0
    out = capsys.readouterr().out
    assert "Month-end forecast" in out
    team = next(r for r in out.splitlines() if r.startswith("team growth"))
    assert "$900.00" in team
    assert re.search(r"\$[\d,]+\.\d\d-\$[\d,]+\.\d\d", team)  # the 80% range
