from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

from bot.domain import DateRange, Dimension, Origin, SpendQuery, SpendReport, SpendRow
from bot.pricing import PriceBook, PriceKey
from bot.render import rates_text, report_csv, report_json, report_table

QUERY = SpendQuery(DateRange(date(2026, 11, 1), date(2026, 11, 8)), (Dimension.MODEL,))
REPORT = SpendReport(
    query=QUERY,
    origin=None,
    rows=(
        SpendRow(("gpt-5",), Decimal("12.3456789012"), 100, 1000, 10),
        SpendRow(("acme-ranker-v2",), Decimal(0), 7, 70, 7, unpriced_requests=7),
        SpendRow(("",), Decimal("0.004"), 1),
    ),
    total=Decimal("12.3496789012"),
    unpriced_requests=7,
)


def test_report_table_shows_unpriced_usage_as_no_price_never_zero():
    text = report_table(REPORT, "AI spend")
    assert "no price" in text
    assert "$0.00" not in text
    assert "* 7 requests have no known price" in text
    assert "(none)" in text  # an empty dimension value is named, not blank
    assert "<$0.01" in text


def test_report_table_aligns_columns():
    lines = report_table(REPORT, "AI spend").splitlines()
    table = [line for line in lines if "gpt-5" in line or line.startswith("model")]
    assert len({line.index("$") if "$" in line else line.index("cost") for line in table}) <= 2


def test_report_csv_has_exact_decimals():
    rows = list(csv.DictReader(io.StringIO(report_csv(REPORT))))
    assert rows[0] == {
        "model": "gpt-5",
        "cost_usd": "12.3456789012",
        "requests": "100",
        "tokens_in": "1000",
        "tokens_out": "10",
        "unpriced_requests": "0",
    }


def test_report_json_uses_strings_for_money_and_names_the_origin():
    payload = json.loads(
        report_json(SpendReport(QUERY, Origin.REPORTED, REPORT.rows, REPORT.total), "t")
    )
    assert payload["total_usd"] == "12.3496789012"
    assert payload["origin"] == "reported"
    assert payload["end_exclusive"] == "2026-11-08"


def test_rates_text_names_unpriced_models_plainly():
    book = PriceBook()
    day = date(2026, 11, 1)
    assert "stored as unpriced" in rates_text(
        "openai", "nope", day, book.rates(PriceKey("openai", "nope", day))
    )
    text = rates_text("openai", "gpt-5", day, book.rates(PriceKey("openai", "gpt-5", day)))
    assert "input       $1.25" in text
    assert "output      $10" in text


def test_named_ids_show_the_name_beside_the_id_and_unnamed_ones_stay_bare():
    from bot.answers import with_names

    by_project = SpendQuery(QUERY.period, (Dimension.PROJECT, Dimension.MODEL))
    report = SpendReport(
        by_project,
        Origin.BILLED,
        (
            SpendRow(("proj_a", "gpt-5"), Decimal(3)),
            SpendRow(("proj_b", "gpt-5"), Decimal(1)),
            SpendRow(("", "gpt-5"), Decimal(1)),
        ),
        Decimal(5),
    )
    names = {("project", "proj_a"): "search", ("project", ""): "Default Workspace"}
    named = with_names(report, names)
    assert [r.keys for r in named.rows] == [
        ("search (proj_a)", "gpt-5"),
        ("proj_b", "gpt-5"),
        ("", "gpt-5"),
    ]
    assert named.total == report.total
    by_model = SpendReport(QUERY, Origin.BILLED)
    assert with_names(by_model, {("project", "gpt-5"): "x"}) is by_model
