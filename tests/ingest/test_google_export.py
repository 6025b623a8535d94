"""`aispend import google-billing FILE`: JSON lines and CSV exports, bad lines reported, good
lines stored, labels attributed, and a second import changing nothing."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.collectors.google_billing import AI_SERVICES
from bot.ingest.google_export import read_export
from bot.store.db import make_engine
from bot.store.models import CostLine, table_of
from bot.synthetic import ActivitySpec, generate_cost_lines
from bot.synthetic.gcp_export import export_rows

_COST = table_of(CostLine)
SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=200, seed=2)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/store.db"
    monkeypatch.setenv("DATABASE_URL", url)
    config = tmp_path / "aispend.toml"
    config.write_text('[[attribution]]\nlabel = "team=research"\nteam = "research"\n')
    monkeypatch.setenv("AISPEND_CONFIG", str(config))
    assert main(["db", "upgrade"]) == 0
    return url


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return export_rows(generate_cost_lines(SPEC))


def _net(rows: list[dict[str, Any]]) -> Decimal:
    total = Decimal(0)
    for row in rows:
        if row["cost_type"] == "regular" and row["service"]["description"] in AI_SERVICES:
            total += Decimal(repr(row["cost"]))
            total += sum((Decimal(repr(c["amount"])) for c in row["credits"]), Decimal(0))
    return total


def _stored(url: str) -> tuple[Decimal, int, set[str]]:
    with make_engine(url).connect() as connection:
        total = connection.scalar(select(func.sum(_COST.c.cost)))
        count = connection.scalar(select(func.count()).select_from(_COST))
        teams = {t for (t,) in connection.execute(select(_COST.c.team).distinct())}
    return Decimal(total or 0), int(count or 0), teams


def _csv_row(row: dict[str, Any]) -> dict[str, str]:
    flat = {
        "service.description": row["service"]["description"],
        "sku.description": row["sku"]["description"],
        "usage_start_time": row["usage_start_time"],
        "project.id": row["project"]["id"],
        "labels": json.dumps(row["labels"]),
        "cost": repr(row["cost"]),
        "currency": row["currency"],
        "currency_conversion_rate": repr(row["currency_conversion_rate"]),
        "usage.amount": repr(row["usage"]["amount"]),
        "usage.unit": row["usage"]["unit"],
        "credits": json.dumps(row["credits"]),
        "invoice.month": row["invoice"]["month"],
        "cost_type": row["cost_type"],
    }
    return flat


def test_jsonl_export_is_stored_once_with_bad_lines_named(store, rows, tmp_path, capsys):
    path = tmp_path / "export.jsonl"
    bad = [
        "{not json",
        json.dumps({**rows[0], "cost": "lots"}),
        json.dumps({**rows[0], "currency": "JPY", "currency_conversion_rate": None}),
    ]
    path.write_text("\n".join([json.dumps(r) for r in rows] + bad) + "\n")
    assert main(["import", "google-billing", str(path)]) == 1
    err = capsys.readouterr().err
    n = len(rows)
    assert f"{path}:{n + 1}: not valid JSON" in err
    assert f"{path}:{n + 2}: cost 'lots' is not a number" in err
    assert f"{path}:{n + 3}: cost is in JPY with no usable currency_conversion_rate" in err
    first = _stored(store)
    assert first[0] == _net(rows)
    assert "research" in first[2]
    assert main(["import", "google-billing", str(path)]) == 1  # again: nothing changes
    assert _stored(store) == first


def test_csv_export_with_dotted_columns_matches_the_jsonl(store, rows, tmp_path, capsys):
    path = tmp_path / "export.csv"
    flat = [_csv_row(r) for r in rows]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
        writer.writerow({**flat[0], "usage_start_time": "yesterday"})
    assert main(["import", "google-billing", str(path)]) == 1
    assert (
        f"{path}:{len(rows) + 2}: usage_start_time 'yesterday' is not a timestamp"
        in capsys.readouterr().err
    )
    assert _stored(store)[0] == _net(rows)


def _line(start: str, **more: Any) -> str:
    row = {
        "service": {"description": "Vertex AI"},
        "sku": {"description": "Gemini 2.5 Pro Input Text Tokens"},
        "usage_start_time": start,
        "project": {"id": "p"},
        "cost": 1.5,
        "currency": "USD",
        "usage": {"amount": 1000.0, "unit": "count"},
        "cost_type": "regular",
    }
    return json.dumps(row | more) + "\n"


@pytest.mark.parametrize(
    "start",
    ["2026-11-03 05:00:00 UTC", "2026-11-03 05:00:00.125 UTC", "2026-11-03T05:00:00Z"],
)
def test_timestamps_in_every_spelling_bigquery_writes(start):
    export = read_export([_line(start)], "f.jsonl")
    assert export.bad == []
    assert [r.day for r in export.rows] == [date(2026, 11, 3)]


def test_a_naive_timestamp_and_bad_labels_are_bad_lines_and_others_are_skipped():
    lines = [
        _line("2026-11-03 05:00:00"),
        _line("2026-11-03 05:00:00 UTC", labels="oops"),
        _line("2026-11-03 05:00:00 UTC", service={"description": "Cloud Run"}),
        _line("2026-11-03 05:00:00 UTC", cost_type="tax"),
    ]
    export = read_export(lines, "f.jsonl")
    assert export.bad == [
        "f.jsonl:1: usage_start_time has no time zone",
        "f.jsonl:2: labels is not JSON",
    ]
    assert (export.rows, export.skipped) == ([], 2)
