"""The export builders: spend by team or cost center, and the FOCUS layout, from daily usage."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.cli import main
from bot.clock import SystemClock
from bot.config import AttributionConfig, TeamConfig, TeamFile
from bot.domain import DateRange, Dimension, SpendQuery
from bot.errors import UsageError
from bot.exports import (
    FOCUS_COLUMNS,
    ExportRequest,
    ExportRow,
    build_export,
    export_query,
    export_rows,
    focus_csv,
    parse_export,
    spend_csv,
)
from bot.slack.periods import PeriodKind, PeriodSpec
from bot.store import queries
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.store.names import load_names
from tests.builders import at, line, write_lines

OCTOBER = DateRange(date(2026, 10, 1), date(2026, 11, 1))
TEAMS = TeamFile(
    teams=(
        TeamConfig(id="growth", cost_center="CC-100"),
        TeamConfig(id="search", cost_center="CC-100"),
        TeamConfig(id="infra"),
    )
)


def _row(day: int, team: str, cost: str, **fields: object) -> ExportRow:
    values: dict[str, object] = {
        "day": date(2026, 10, day),
        "team": team,
        "provider": "openai",
        "model": "gpt-5",
        "project": "",
        "cost": Decimal(cost),
        "requests": 2,
        "tokens_in": 1000,
        "tokens_out": 100,
        "cost_center": {"growth": "CC-100", "search": "CC-100"}.get(team, ""),
    }
    values.update(fields)
    return ExportRow(**values)  # type: ignore[arg-type]


ROWS = [
    _row(1, "growth", "0.1000000001"),
    _row(2, "growth", "0.2"),
    _row(1, "search", "5", model="gpt-5-mini"),
    _row(3, "infra", "1.25", provider="anthropic", model="claude-sonnet-4-5", project="wrkspc_1"),
    _row(4, "", "0.0000000001"),
]


def _sums(rows: list[dict[str, str]], column: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for r in rows:
        sums[r[column]] = sums.get(r[column], Decimal(0)) + Decimal(r["cost_usd"])
    return sums


def _read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_spend_by_team_has_one_row_per_team_provider_and_model_with_exact_sums():
    rows = _read(spend_csv(ROWS, OCTOBER, "team"))
    assert [(r["team"], r["provider"], r["model"], r["cost_usd"]) for r in rows] == [
        ("search", "openai", "gpt-5-mini", "5"),
        ("infra", "anthropic", "claude-sonnet-4-5", "1.25"),
        ("growth", "openai", "gpt-5", "0.3000000001"),
        ("(none)", "openai", "gpt-5", "0.0000000001"),
    ]
    assert sum(Decimal(r["cost_usd"]) for r in rows) == sum(r.cost for r in ROWS)
    growth = rows[2]
    assert (growth["requests"], growth["tokens_in"], growth["tokens_out"]) == ("4", "2000", "200")
    assert (growth["period_start"], growth["period_end"]) == ("2026-10-01", "2026-11-01")


def test_spend_by_cost_center_joins_teams_and_puts_teams_without_one_under_none():
    rows = _read(spend_csv(ROWS, OCTOBER, "cost-center"))
    found = {(r["cost_center"], r["model"]): r["cost_usd"] for r in rows}
    assert found == {
        ("CC-100", "gpt-5-mini"): "5",
        ("CC-100", "gpt-5"): "0.3000000001",
        ("(none)", "claude-sonnet-4-5"): "1.25",
        ("(none)", "gpt-5"): "0.0000000001",
    }
    assert next(iter(rows[0])) == "cost_center"


def test_focus_header_is_the_focus_column_names_exactly():
    header = focus_csv([], OCTOBER).splitlines()[0]
    assert header == (
        "BilledCost,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,"
        "ChargeClass,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,"
        "ConsumedQuantity,ConsumedUnit,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,"
        "ProviderName,PublisherName,ResourceId,ResourceName,ServiceCategory,ServiceName,"
        "SubAccountId,SubAccountName,Tags"
    )
    assert tuple(header.split(",")) == FOCUS_COLUMNS


def test_focus_rows_are_daily_usage_charges_in_utc_with_exact_costs():
    rows = _read(focus_csv(ROWS, OCTOBER))
    assert len(rows) == len(ROWS)
    assert sum(Decimal(r["BilledCost"]) for r in rows) == sum(r.cost for r in ROWS)
    infra = rows[3]
    assert infra["ChargePeriodStart"] == "2026-10-03T00:00:00Z"
    assert infra["ChargePeriodEnd"] == "2026-10-04T00:00:00Z"
    assert infra["BillingPeriodStart"] == "2026-10-01T00:00:00Z"
    assert infra["BillingPeriodEnd"] == "2026-11-01T00:00:00Z"
    assert infra["BilledCost"] == infra["EffectiveCost"] == infra["ListCost"] == "1.25"
    assert infra["BillingCurrency"] == "USD"
    assert infra["ChargeCategory"] == "Usage"
    assert infra["ServiceCategory"] == "AI and Machine Learning"
    assert infra["ProviderName"] == infra["PublisherName"] == infra["InvoiceIssuerName"]
    assert infra["ProviderName"] == "Anthropic"
    assert infra["ResourceId"] == infra["SubAccountId"] == "wrkspc_1"
    assert (infra["ConsumedQuantity"], infra["ConsumedUnit"]) == ("1100", "Tokens")
    assert json.loads(infra["Tags"]) == {"team": "infra"}
    assert json.loads(rows[0]["Tags"]) == {"team": "growth", "cost_center": "CC-100"}
    assert rows[0]["ResourceId"] == "gpt-5"  # no project: the model is the resource
    assert rows[4]["BilledCost"] == "0.0000000001"


def test_a_zero_cost_is_written_in_fixed_point_never_as_an_exponent():
    zero = [_row(1, "growth", "0E-10")]
    assert _read(focus_csv(zero, OCTOBER))[0]["BilledCost"] == "0.0000000000"
    assert _read(spend_csv(zero, OCTOBER, "team"))[0]["cost_usd"] == "0.0000000000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export", ExportRequest()),
        ("export focus", ExportRequest(focus=True)),
        ("export last month by team", ExportRequest()),
        ("export week", ExportRequest(PeriodSpec(PeriodKind.WEEK))),
        (
            "export 2026-10 by cost center",
            ExportRequest(
                PeriodSpec(PeriodKind.CALENDAR_MONTH, start=date(2026, 10, 1)), "cost-center"
            ),
        ),
        ("export focus by Cost-Centre", ExportRequest(by="cost-center", focus=True)),
    ],
)
def test_parse_export_defaults_to_last_month_by_team(text, expected):
    assert parse_export(text) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("export by model", 'not by "model"'),
        ("export fokus", 'did you mean "focus"'),
        ("export team:growth", "no filters"),
    ],
)
def test_parse_export_refuses_what_it_cannot_do(text, said):
    with pytest.raises(UsageError, match=said):
        parse_export(text)


def test_exports_from_the_store_sum_to_the_spend_report_total(engine):
    rules = Attribution.from_rules(
        [
            AttributionConfig(project="proj_g", team="growth"),
            AttributionConfig(project="proj_i", team="infra"),
        ]
    )
    lines = []
    for n in range(3):
        midnight = at(date(2026, 10, 30) + timedelta(days=n), 0)  # two days in October
        lines += [
            line(bucket_start=midnight, project="proj_g", cost=Decimal("1.0000000003")),
            line(bucket_start=midnight, project="proj_i", model="gpt-5-mini", cost=Decimal("2")),
            line(bucket_start=midnight, project="proj_x", cost=Decimal("0.5")),
        ]
    write_lines(engine, lines, attribution=rules)
    with engine.connect() as connection:
        usage = queries.daily_usage(connection, export_query(OCTOBER))
        rows = export_rows(usage, TEAMS, load_names(connection))
        total = queries.spend(connection, SpendQuery(OCTOBER)).total
        by_team = queries.spend(connection, SpendQuery(OCTOBER, (Dimension.TEAM,)))
    assert total == Decimal("7.0000000006")
    assert {r.day for r in rows} == {date(2026, 10, 30), date(2026, 10, 31)}
    spend_rows = _read(spend_csv(rows, OCTOBER, "team"))
    assert sum(Decimal(r["cost_usd"]) for r in spend_rows) == total
    assert _sums(spend_rows, "team") == {
        (row.keys[0] or "(none)"): row.cost for row in by_team.rows
    }
    centers = _sums(_read(spend_csv(rows, OCTOBER, "cost-center")), "cost_center")
    assert centers == {"CC-100": Decimal("2.0000000006"), "(none)": Decimal(5)}
    focus = _read(focus_csv(rows, OCTOBER))
    assert len(focus) == 6
    assert sum(Decimal(r["BilledCost"]) for r in focus) == total
    built = build_export(rows, OCTOBER, ExportRequest(focus=True))
    assert built.filename == "aispend-focus-2026-10-01_2026-10-31.csv"
    assert built.rows == 6
    assert built.total == total


# -- aispend export ------------------------------------------------------------------------------


@pytest.fixture
def cli_store(tmp_path, monkeypatch):
    """A migrated store with billed cost on the first two days of last month."""
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    config = tmp_path / "aispend.toml"
    config.write_text(
        '[[teams]]\nid = "growth"\ncost_center = "CC-7"\n\n'
        '[[attribution]]\nproject = "proj_g"\nteam = "growth"\n'
    )
    monkeypatch.setenv("AISPEND_CONFIG", str(config))
    engine = make_engine(url)
    upgrade(engine)
    first = (SystemClock().now().date().replace(day=1) - timedelta(days=1)).replace(day=1)
    rules = Attribution.from_rules([AttributionConfig(project="proj_g", team="growth")])
    write_lines(
        engine,
        [
            line(bucket_start=at(first, 0), project="proj_g", cost=Decimal("1.5")),
            line(bucket_start=at(first + timedelta(days=1), 0), cost=Decimal("0.25")),
        ],
        attribution=rules,
    )
    engine.dispose()
    return first


def test_cli_export_writes_last_month_by_cost_center_to_stdout(cli_store, capsys):
    assert main(["export", "--by", "cost-center"]) == 0
    rows = _read(capsys.readouterr().out)
    assert [(r["cost_center"], r["cost_usd"]) for r in rows] == [
        ("CC-7", "1.5000000000"),
        ("(none)", "0.2500000000"),
    ]
    assert rows[0]["period_start"] == cli_store.isoformat()


def test_cli_export_focus_writes_a_file(cli_store, tmp_path, capsys):
    out = tmp_path / "focus.csv"
    assert main(["export", "last", "month", "--focus", "--output", str(out)]) == 0
    assert "wrote 2 rows" in capsys.readouterr().err
    rows = _read(out.read_text())
    assert [r["ChargePeriodStart"] for r in rows] == [
        f"{cli_store.isoformat()}T00:00:00Z",
        f"{(cli_store + timedelta(days=1)).isoformat()}T00:00:00Z",
    ]
    assert json.loads(rows[0]["Tags"]) == {"team": "growth", "cost_center": "CC-7"}


def test_cli_export_refuses_a_bad_word_with_status_2(cli_store, capsys):
    assert main(["export", "lst", "month"]) == 2
    assert "aispend:" in capsys.readouterr().err
