"""`aispend collect` end to end: real HTTP client, loopback simulators, the real store."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.cli import main
from bot.domain import CostLine, DateRange, Origin, SpendQuery
from bot.standins.anthropic import anthropic_routes
from bot.standins.openai import openai_routes
from bot.standins.server import Fault, running
from bot.store.db import make_engine
from bot.store.queries import spend
from bot.synthetic import ActivitySpec, generate_cost_lines, generate_estimated_lines

OPENAI_KEY = "sk-admin-PLANTED-openai-secret-000"
ANTHROPIC_KEY = "sk-ant-admin-PLANTED-anthropic-secret-000"
SPEC = ActivitySpec(end=datetime.now(UTC).date(), days=14, events_per_day=200)


def _lines(provider: str) -> tuple[list[CostLine], list[CostLine]]:
    billed = [x for x in generate_cost_lines(SPEC) if x.provider == provider]
    hourly = [x for x in generate_estimated_lines(SPEC) if x.provider == provider]
    return billed, hourly


@pytest.fixture
def simulators(tmp_path, monkeypatch):
    openai_billed, openai_hourly = _lines("openai")
    anthropic_billed, anthropic_hourly = _lines("anthropic")
    routes_o = openai_routes(admin_key=OPENAI_KEY, costs=openai_billed, usage=openai_hourly)
    routes_a = anthropic_routes(
        admin_key=ANTHROPIC_KEY, costs=anthropic_billed, usage=anthropic_hourly
    )
    with running(routes_o) as openai, running(routes_a) as anthropic:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/collect.db")
        monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.toml"))
        monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", openai.url)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.url)
        assert main(["db", "upgrade"]) == 0
        billed = openai_billed + anthropic_billed
        yield openai, anthropic, sum((x.cost for x in billed if x.cost is not None), Decimal(0))


def _stored(origin: Origin, *, today_only: bool = False) -> Decimal:
    start = SPEC.end if today_only else SPEC.start
    period = DateRange(start, SPEC.end + timedelta(days=1))
    engine = make_engine(os.environ["DATABASE_URL"])
    with engine.connect() as connection:
        total = spend(connection, SpendQuery(period, origin=origin)).total
    engine.dispose()
    return total


def _billed_total(capsys: pytest.CaptureFixture[str]) -> Decimal:
    capsys.readouterr()
    assert main(["report", "--format", "json", "30d"]) == 0
    return Decimal(json.loads(capsys.readouterr().out)["total_usd"])


def test_collect_stores_exactly_what_providers_billed(simulators, capsys):
    _, _, billed = simulators
    assert main(["collect", "--since", "14d"]) == 0
    out = capsys.readouterr().out
    assert "openai:" in out
    assert "anthropic:" in out
    assert _stored(Origin.BILLED) == billed  # to the last 1e-10 dollar
    estimates_today = _billed_total(capsys) - billed
    assert estimates_today == _stored(Origin.ESTIMATED, today_only=True)
    assert main(["collect", "--since", "14d"]) == 0  # a second pull replaces, never adds
    assert _billed_total(capsys) - billed == estimates_today


def test_one_provider_failing_is_reported_and_the_other_still_lands(simulators, capsys):
    openai, _, _ = simulators
    openai.inject(Fault(status=403))  # retried faults are covered in tests/collectors
    assert main(["collect", "--since", "14d"]) == 1
    out = capsys.readouterr().out
    assert "openai: failed" in out
    assert "anthropic: failed" not in out
    assert "anthropic: " in out
    assert main(["status"]) == 1
    status = capsys.readouterr().out
    assert "openai.costs" in status
    assert "failing x1" in status


def test_secrets_never_reach_output_or_the_store_state(simulators, capsys, caplog):
    openai, _, _ = simulators
    openai.inject(Fault(status=401))
    main(["collect", "--since", "3d"])
    main(["status"])
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "refused the credentials" in text
    assert OPENAI_KEY not in text
    assert ANTHROPIC_KEY not in text


def test_collect_without_keys_says_which_to_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    main(["db", "upgrade"])
    assert main(["collect"]) == 2
    err = capsys.readouterr().err
    for setting in ("OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY", "OPENROUTER_API_KEY"):
        assert setting in err
    assert "DEEPSEEK_API_KEY" in err


def test_collect_rejects_a_bad_since(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    main(["db", "upgrade"])
    assert main(["collect", "--since", "forever"]) == 2
    assert "--since" in capsys.readouterr().err


def test_collect_uses_a_stored_key_when_the_environment_has_none(simulators, monkeypatch, capsys):
    import io

    from cryptography.fernet import Fernet

    monkeypatch.delenv("OPENAI_ADMIN_KEY")
    monkeypatch.setenv("AISPEND_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setattr("sys.stdin", io.StringIO(OPENAI_KEY + "\n"))
    assert main(["credentials", "set", "openai"]) == 0
    assert main(["collect", "--since", "3d", "--provider", "openai"]) == 0
    out = capsys.readouterr().out
    assert "openai: " in out
    assert OPENAI_KEY not in out


def test_collect_stores_openrouter_spend_and_prepaid_balances(tmp_path, monkeypatch, capsys):
    from bot.standins.deepseek import deepseek_routes
    from bot.standins.openrouter import openrouter_routes
    from bot.store.credits import latest_balances

    activity = [x for x in generate_cost_lines(SPEC) if x.provider == "openrouter"]
    routes_r = openrouter_routes(key="or-key", activity=activity, total_credits=Decimal("500"))
    routes_d = deepseek_routes(key="ds-key", balances=[("USD", Decimal("12.34"))])
    with running(routes_r) as openrouter, running(routes_d) as deepseek:
        url = f"sqlite:///{tmp_path}/prepaid.db"
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("OPENROUTER_API_KEY", "or-key")
        monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.url)
        monkeypatch.setenv("DEEPSEEK_API_KEY", "ds-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", deepseek.url)
        main(["db", "upgrade"])
        assert main(["collect", "--since", "14d"]) == 0
    engine = make_engine(url)
    with engine.connect() as connection:
        balances = {b.source: b.balance for b in latest_balances(connection)}
    engine.dispose()
    spent = sum(
        (x.cost or Decimal(0) for x in activity if x.bucket_start.date() < SPEC.end), Decimal(0)
    )
    assert balances == {
        "openrouter.credits": Decimal("500")
        - sum((x.cost or Decimal(0) for x in activity), Decimal(0)),
        "deepseek.balance": Decimal("12.34"),
    }
    assert _stored(Origin.BILLED) == spent

    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    week = [
        sum((x.cost or Decimal(0) for x in activity if x.bucket_start.date() == day), Decimal(0))
        for day in (SPEC.end - timedelta(days=n) for n in range(1, 8))
    ]
    daily = sum(week, Decimal(0)) / Decimal(7)
    left = int(balances["openrouter.credits"] // daily)
    runway_line = next(line for line in out.splitlines() if line.startswith("openrouter.credits"))
    assert f"{left} days (until {SPEC.end + timedelta(days=left)})" in runway_line
    runways = out[out.index("prepaid credit") :].splitlines()
    deepseek_line = next(line for line in runways if line.startswith("deepseek.balance"))
    assert "$12.34" in deepseek_line
    assert "no recent spend" in deepseek_line  # DeepSeek spend comes only from app events


def test_claude_code_lists_each_developer_with_the_collected_estimate(simulators, capsys):
    from bot.domain import DateRange as Span
    from bot.store.coding_tools import developer_totals

    assert main(["collect", "--since", "14d", "--provider", "anthropic"]) == 0
    capsys.readouterr()
    assert main(["claude-code", "30d"]) == 0
    out = capsys.readouterr().out
    engine = make_engine(os.environ["DATABASE_URL"])
    with engine.connect() as connection:
        period = Span(SPEC.end - timedelta(days=29), SPEC.end + timedelta(days=1))
        totals = developer_totals(connection, "claude_code", period)
    engine.dispose()
    assert len(totals) >= 2
    rows = out.splitlines()
    for total in totals:
        row = next(r for r in rows if r.startswith(total.actor + " "))
        assert f"${total.estimated_cost:,.2f}" in row
    spent = sum((t.estimated_cost for t in totals), Decimal(0))
    assert f"Total ${spent:,.2f}" in out
    assert "not added to totals" in out
