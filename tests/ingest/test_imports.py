"""Dashboard CSV exports read through an [[imports]] mapping: rows summed per day and key,
every bad row named with its line and reason, amounts in other currencies only with a rate."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.config import ImportConfig
from bot.demo_ledger import MISTRAL_IMPORT
from bot.ingest.imports import read_import

MISTRAL = MISTRAL_IMPORT  # the demo's mapping, with a EUR rate
FIREWORKS = ImportConfig(  # the columns of `firectl billing export-metrics` (providers.md 6.3)
    source="fireworks",
    provider="fireworks",
    date="start_time",
    model="base_model_name",
    tokens_in="prompt_tokens",
    tokens_out="completion_tokens",
)


def read(text: str, config: ImportConfig = MISTRAL):  # type: ignore[no-untyped-def]
    return read_import(io.BytesIO(text.encode()), config)


def test_rows_of_one_day_and_key_are_summed_into_one_billed_line() -> None:
    result = read(
        "Date,Model,Workspace,Input tokens,Output tokens,Cost,Currency\n"
        '2026-11-01,mistral-large-latest,prod,"1,200,000",300000,4.20,EUR\n'
        "2026-11-01,mistral-large-latest,prod,100000,1000,0.30,EUR\n"
        "2026-11-01,mistral-small-latest,prod,10,10,$0.10,usd\n"
    )
    assert result.bad == []
    assert result.rows == 3
    [large, small] = result.lines
    assert large.source == "csv:mistral"
    assert large.bucket_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert (large.model, large.project, large.tokens_in, large.tokens_out) == (
        "mistral-large-latest",
        "prod",
        1_300_000,
        301_000,
    )
    assert large.cost == Decimal("4.50") * Decimal("1.08")
    assert small.cost == Decimal("0.10")
    assert not large.estimated


def test_every_bad_row_is_named_with_its_line_and_the_good_rows_are_kept() -> None:
    seen: list[tuple[int, str]] = []
    result = read_import(
        io.BytesIO(
            b"Date,Model,Workspace,Input tokens,Output tokens,Cost,Currency\n"
            b"2026-11-02,m,p,1,1,abc,USD\n"
            b"2026-13-02,m,p,1,1,0.1,USD\n"
            b"2026-11-03,m,p,1,1,1.00,GBP\n"
            b"2026-11-03,m,p,-5,1,1.00,USD\n"
            b"2026-11-03,m,p,1,1,-1.00,USD\n"
            b"2026-11-03,m,p,1\n"
            b'2026-11-04,"m\nx",p,1,1,2.00,USD\n'
            b"2026-11-05,m,p,1,1,3.00,USD\n"
        ),
        MISTRAL,
        lambda line, reason: seen.append((line, reason)),
    )
    assert result.bad == seen
    assert seen == [
        (2, "\"Cost\" is not an amount: 'abc'"),
        (3, "\"Date\" is not a date like ISO 8601 (2026-11-03): '2026-13-02'"),
        (4, "cost in GBP: add usd_rates.GBP to the [[imports]] mapping 'mistral'"),
        (5, "\"Input tokens\" must be a whole number >= 0, got '-5'"),
        (6, '"Cost" is negative (-1.00); credits and refunds are not spend'),
        (7, "expected 7 cells as in the header, got 4"),
    ]
    # a quoted newline is one row over two lines; the next row is numbered by its own line
    assert [(str(line.bucket_start.date()), line.cost) for line in result.lines] == [
        ("2026-11-04", Decimal("2.00")),
        ("2026-11-05", Decimal("3.00")),
    ]


def test_a_header_without_a_mapped_column_stops_at_line_one() -> None:
    result = read("Day,Model,Cost\n2026-11-01,m,1\n")
    assert result.lines == []
    assert result.bad == [
        (
            1,
            'the header has no "Date", "Currency", "Workspace", "Input tokens", '
            "\"Output tokens\" column (mapping 'mistral')",
        )
    ]
    assert read("").bad == [(1, "the file is empty")]


def test_token_only_exports_leave_the_price_to_the_store() -> None:
    result = read(
        "email,start_time,end_time,usage_type,accelerator_type,accelerator_seconds,"
        "base_model_name,model_bucket,parameter_count,prompt_tokens,completion_tokens\n"
        "a@x.io,2026-11-01T10:00:00Z,2026-11-01T10:00:01Z,TEXT_COMPLETION_INFERENCE_USAGE,,,"
        "accounts/fireworks/models/llama-v3p1-8b-instruct,,8000000000,1000,200\n"
        "b@x.io,2026-11-01T23:30:00-02:00,2026-11-01T23:30:01-02:00,"
        "TEXT_COMPLETION_INFERENCE_USAGE,,,accounts/fireworks/models/llama-v3p1-8b-instruct,,,"
        "500,50\n",
        FIREWORKS,
    )
    assert result.bad == []
    assert [(str(x.bucket_start.date()), x.tokens_in, x.cost) for x in result.lines] == [
        ("2026-11-01", 1000, None),
        ("2026-11-02", 500, None),  # 23:30 at -02:00 is the next UTC day
    ]


def test_a_date_format_and_constants_fill_what_the_file_lacks() -> None:
    config = ImportConfig(
        source="cursor",
        provider="cursor",
        date="Date",
        date_format="%m/%d/%Y",
        cost="Amount",
        constants={"model": "usage-based", "line_item": "overage"},
    )
    result = read('Date,Amount\n11/03/2026,"1,234.50"\n', config)
    [line] = result.lines
    assert (line.provider, line.model, line.line_item, line.cost) == (
        "cursor",
        "usage-based",
        "overage",
        Decimal("1234.50"),
    )


def test_a_mapping_is_checked_when_aispend_toml_is_read() -> None:
    with pytest.raises(ValidationError, match="unknown provider"):
        ImportConfig(source="x", provider="nobody", date="d", cost="c")
    with pytest.raises(ValidationError, match="cost column or token columns"):
        ImportConfig(source="x", provider="groq", date="d")
    with pytest.raises(ValidationError, match="constants may set"):
        ImportConfig(source="x", provider="groq", date="d", cost="c", constants={"team": "a"})
