"""`aispend import csv` as a person uses it: a mapping in aispend.toml, a preview that writes
nothing, bad rows as FILE:LINE: reason with exit status 1, and a second import that changes
nothing."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.config import TeamFile
from bot.domain import DateRange, Dimension, SpendQuery
from bot.store.db import make_engine
from bot.store.models import CostLine
from bot.store.queries import spend

MAPPING = """
[[imports]]
source = "groq"
provider = "groq"
date = "date"
model = "model"
cost = "cost"
tokens_in = "input_tokens"
tokens_out = "output_tokens"
"""
EXPORT = (
    "date,model,input_tokens,output_tokens,cost\n"
    "2026-11-01,llama-3.3-70b-versatile,1000000,200000,0.75\n"
    "2026-11-01,llama-3.3-70b-versatile,1000000,200000,0.75\n"
    "2026-11-02,llama-3.1-8b-instant,500000,100000,0.03\n"
    "2026-11-02,llama-3.1-8b-instant,500000,100000,oops\n"
)
NOVEMBER = DateRange(date(2026, 11, 1), date(2026, 12, 1))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    (tmp_path / "aispend.toml").write_text(MAPPING)
    monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.toml"))
    (tmp_path / "groq.csv").write_text(EXPORT)
    assert main(["db", "upgrade"]) == 0
    return url


def _stored(url: str) -> tuple[int, dict[tuple[str, ...], Decimal]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(CostLine)).scalar_one()
        report = spend(connection, SpendQuery(NOVEMBER, (Dimension.PROVIDER, Dimension.MODEL)))
    engine.dispose()
    return count, {r.keys: r.cost for r in report.rows}


def test_preview_shows_the_lines_and_writes_nothing(store, tmp_path, capsys):
    assert main(["import", "csv", "groq", str(tmp_path / "groq.csv"), "--preview"]) == 1
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'groq.csv'}:5: \"cost\" is not an amount: 'oops'" in err
    assert "2026-11-01  groq      llama-3.3-70b-versatile" in out
    assert "$1.50" in out
    assert "4 rows, 1 bad; 2 daily lines over 2026-11-01..2026-11-02" in out
    assert "Nothing was written." in out
    assert _stored(store) == (0, {})


def test_import_stores_billed_lines_and_a_second_import_changes_nothing(store, tmp_path, capsys):
    path = str(tmp_path / "groq.csv")
    assert main(["import", "csv", "groq", path]) == 1  # one bad row
    first = _stored(store)
    assert first == (
        2,
        {
            ("groq", "llama-3.3-70b-versatile"): Decimal("1.50"),
            ("groq", "llama-3.1-8b-instant"): Decimal("0.03"),
        },
    )
    assert main(["import", "csv", "groq", path]) == 1
    assert _stored(store) == first
    out = capsys.readouterr().out
    assert "stored 2 daily lines from 3 rows ($1.53) as csv:groq, 1 bad rows (not stored)" in out


def test_a_later_export_of_the_same_day_replaces_it(store, tmp_path):
    path = tmp_path / "later.csv"
    path.write_text(
        "date,model,input_tokens,output_tokens,cost\n"
        "2026-11-01,llama-3.3-70b-versatile,1000000,200000,2.00\n"
    )
    assert main(["import", "csv", "groq", str(tmp_path / "groq.csv")]) == 1
    assert main(["import", "csv", "groq", str(path)]) == 0
    count, costs = _stored(store)
    assert count == 2
    assert costs[("groq", "llama-3.3-70b-versatile")] == Decimal("2.00")


def test_an_unknown_source_names_the_known_ones(store, tmp_path, capsys):
    assert main(["import", "csv", "mistral", str(tmp_path / "groq.csv")]) == 2
    err = capsys.readouterr().err
    assert "no [[imports]] mapping with source 'mistral'" in err
    assert "(known: groq)" in err


def test_the_readme_sample_mappings_are_valid() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```toml\n")[1:]]
    [samples] = [b for b in blocks if "[[imports]]" in b]
    team_file = TeamFile.model_validate(tomllib.loads(samples))
    assert [i.source for i in team_file.imports] == [
        "fireworks",
        "mistral",
        "groq",
        "together",
        "cursor",
    ]
