from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.readers import MAX_LINE_BYTES, Format, Parsed, detect_format, iter_parsed
from tests.ingest.samples import SECTION_7_4

SONNET = "claude-sonnet-4-5-20250929"
CSV_HEADER = b"ts,provider,model,tokens_in,tokens_out,feature\n"


def parse(data: bytes, fmt: Format = Format.AUTO, name: str = "-") -> list[Parsed]:
    return list(iter_parsed(io.BytesIO(data), fmt, source="events", name=name))


def summary(results: list[Parsed]) -> list[tuple[int, str]]:
    """(line, model or error) per result."""
    return [(r.line, r.event.model if r.event else str(r.error)) for r in results]


def event_line(model: str, **fields: object) -> bytes:
    base = {"ts": "2025-08-10T10:00:00Z", "provider": "openai", "model": model}
    return orjson.dumps({**base, **fields})


def test_iter_parsed_reads_json_lines() -> None:
    data = event_line("a") + b"\n" + event_line("b", tokens_in=3) + b"\n"
    results = parse(data, Format.JSONL)
    assert summary(results) == [(1, "a"), (2, "b")]
    assert results[1].event is not None
    assert results[1].event.tokens_in == 3
    assert results[1].error is None


def test_iter_parsed_skips_blank_lines_and_keeps_line_numbers() -> None:
    data = b"\n" + event_line("a") + b"\n   \n\t\n" + event_line("b")
    assert summary(parse(data, Format.JSONL)) == [(2, "a"), (5, "b")]


def test_iter_parsed_reads_crlf_line_endings() -> None:
    data = event_line("a") + b"\r\n\r\n" + event_line("b") + b"\r\n"
    assert summary(parse(data, Format.JSONL)) == [(1, "a"), (3, "b")]


def test_iter_parsed_reports_broken_json_and_goes_on() -> None:
    data = b'{"ts": \n' + event_line("b")
    ((line, error), second) = summary(parse(data, Format.JSONL))
    assert line == 1
    assert error.startswith("broken JSON: ")
    assert second == (2, "b")


@pytest.mark.parametrize(("value", "kind"), [(b"[1, 2]", "list"), (b'"x"', "str"), (b"7", "int")])
def test_iter_parsed_reports_json_that_is_not_an_object(value: bytes, kind: str) -> None:
    assert summary(parse(value, Format.JSONL)) == [(1, f"expected a JSON object, got {kind}")]


def test_iter_parsed_reports_field_errors_without_line_prefix() -> None:
    data = event_line("a", tokens_in=-5)
    assert summary(parse(data, Format.JSONL)) == [
        (1, "tokens_in must be a whole number >= 0, got -5")
    ]


def test_iter_parsed_skips_a_huge_line_and_reads_the_next() -> None:
    huge = b'{"model": "' + b"x" * (2 * MAX_LINE_BYTES) + b'"}\n'
    data = huge + event_line("after") + b"\n"
    assert summary(parse(data, Format.JSONL)) == [(1, "line is longer than 1 MiB"), (2, "after")]


def test_iter_parsed_reads_a_line_of_exactly_the_limit() -> None:
    line = event_line("a", pad="")
    line = line[:-2] + b" " * (MAX_LINE_BYTES - len(line)) + line[-2:]
    assert len(line) == MAX_LINE_BYTES
    assert summary(parse(line + b"\n" + line, Format.JSONL)) == [(1, "a"), (2, "a")]


def test_iter_parsed_reports_a_huge_last_line_without_newline() -> None:
    data = event_line("a") + b"\n" + b"y" * (MAX_LINE_BYTES + 1)
    assert summary(parse(data, Format.JSONL)) == [(1, "a"), (2, "line is longer than 1 MiB")]


def test_iter_parsed_tolerates_a_bom_in_json_lines() -> None:
    assert summary(parse(b"\xef\xbb\xbf" + event_line("a"), Format.JSONL)) == [(1, "a")]


def test_iter_parsed_reads_otlp_requests_in_json_lines() -> None:
    request = orjson.dumps(orjson.loads(SECTION_7_4))
    data = event_line("a") + b"\n" + request + b"\n" + request + b"\n"
    results = parse(data, Format.JSONL)
    assert summary(results) == [(1, "a"), (2, SONNET), (3, SONNET)]
    assert results[1].event is not None
    assert results[1].event.project == "support-bot"


def test_iter_parsed_prefixes_span_errors_in_json_lines() -> None:
    doc = orjson.loads(SECTION_7_4)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(
        {**spans[0], "attributes": spans[0]["attributes"][:2] + spans[0]["attributes"][5:]}
    )
    results = parse(b"\n" + orjson.dumps(doc), Format.JSONL)
    assert summary(results) == [
        (2, SONNET),
        (2, 'span 2: missing field "model"'),
    ]


def test_iter_parsed_reads_a_csv_file() -> None:
    data = CSV_HEADER + b"2025-08-10T10:00:00Z,openai,gpt-4o,120,30,search\n"
    (result,) = parse(data, Format.CSV)
    assert result.line == 2
    assert result.event is not None
    assert result.event.ts == datetime(2025, 8, 10, 10, 0, tzinfo=UTC)
    assert (result.event.tokens_in, result.event.tokens_out) == (120, 30)
    assert result.event.feature == "search"


def test_iter_parsed_reads_csv_aliases_in_any_case() -> None:
    data = b" Timestamp , PROVIDER,Model ,Prompt_Tokens,Env\n1754820000,anthropic,claude,9,prod\n"
    (result,) = parse(data, Format.CSV)
    assert result.event is not None
    assert (result.event.provider, result.event.tokens_in) == ("anthropic", 9)
    assert result.event.environment == "prod"


def test_iter_parsed_reads_quoted_commas_and_newlines_in_csv() -> None:
    data = (
        CSV_HEADER
        + b'2025-08-10T10:00:00Z,openai,gpt-4o,1,2,"search, rerank"\n'
        + b'2025-08-10T10:00:00Z,openai,gpt-4o,1,2,"multi\nline"\n'
        + b"2025-08-10T10:00:00Z,openai,gpt-4o-mini,1,2,x\n"
    )
    results = parse(data, Format.CSV)
    assert [r.event.feature for r in results if r.event] == ["search, rerank", "multi\nline", "x"]
    assert [r.line for r in results] == [2, 3, 5]


def test_iter_parsed_reports_a_csv_row_with_missing_cells() -> None:
    data = CSV_HEADER + b"2025-08-10T10:00:00Z,openai,gpt-4o,1\n2025-08-10T10:00:00Z,x\n"
    assert summary(parse(data, Format.CSV)) == [
        (2, "expected 6 cells as in the header, got 4"),
        (3, "expected 6 cells as in the header, got 2"),
    ]


def test_iter_parsed_treats_empty_csv_cells_as_missing() -> None:
    data = (
        CSV_HEADER + b"2025-08-10T10:00:00Z,openai,gpt-4o,,,\n2025-08-10T10:00:00Z,openai,,1,1,\n"
    )
    results = parse(data, Format.CSV)
    assert results[0].event is not None
    assert (results[0].event.tokens_in, results[0].event.feature) == (0, "")
    assert summary(results)[1] == (3, 'missing field "model"')


def test_iter_parsed_reads_csv_with_bom_and_crlf() -> None:
    data = b"\xef\xbb\xbf" + CSV_HEADER.replace(b"\n", b"\r\n")
    data += (
        b"2025-08-10T10:00:00Z,openai,gpt-4o,1,2,f\r\n\r\n2025-08-10T10:00:00Z,openai,o3,1,2,g\r\n"
    )
    assert summary(parse(data, Format.CSV)) == [(2, "gpt-4o"), (4, "o3")]


def test_iter_parsed_reports_a_csv_header_without_required_columns() -> None:
    data = b"when,provider,tokens_in\n2025-08-10T10:00:00Z,openai,1\n"
    assert summary(parse(data, Format.CSV)) == [(1, 'CSV header has no "ts" or "model" column')]


def test_iter_parsed_reports_a_csv_field_over_the_size_limit_and_goes_on() -> None:
    big = b"x" * (csv.field_size_limit() + 10)
    data = CSV_HEADER + b"2025-08-10T10:00:00Z,openai,gpt-4o,1,2," + big + b"\n"
    data += b"2025-08-10T10:00:00Z,openai,o3,1,2,f\n"
    ((line, error), after) = summary(parse(data, Format.CSV))
    assert (line, error[:8]) == (2, "bad CSV:")
    assert after == (3, "o3")


def test_iter_parsed_reports_a_huge_csv_line_and_goes_on() -> None:
    data = CSV_HEADER + b"," * (MAX_LINE_BYTES + 5) + b"\n2025-08-10T10:00:00Z,openai,o3,1,2,f\n"
    assert summary(parse(data, Format.CSV)) == [(2, "line is longer than 1 MiB"), (3, "o3")]


def test_iter_parsed_reports_csv_that_is_not_utf8_and_goes_on() -> None:
    data = CSV_HEADER + b"2025-08-10T10:00:00Z,openai,gpt-\xff,1,2,f\n"
    data += b"2025-08-10T10:00:00Z,openai,o3,1,2,f\n"
    assert summary(parse(data, Format.CSV)) == [
        (2, "line is not UTF-8: byte 0xff at offset 32"),
        (3, "o3"),
    ]


def test_iter_parsed_reads_nothing_from_an_empty_csv() -> None:
    assert parse(b"", Format.CSV) == []
    assert parse(b"\n\n", Format.CSV) == []


def test_iter_parsed_reads_the_section_7_4_otlp_document() -> None:
    (result,) = parse(SECTION_7_4.encode(), Format.OTLP)
    assert result.line == 1
    assert result.event is not None
    assert result.event.request_id == "msg_01Q…"
    assert result.event.latency_ms == 2150


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"{", "broken JSON: "),
        (b"[]", 'not an OTLP trace document: no "resourceSpans"'),
        (b'{"resourceSpans": 3}', "not an OTLP trace document: resourceSpans must be a list"),
    ],
)
def test_iter_parsed_reports_a_bad_otlp_document(data: bytes, error: str) -> None:
    ((line, message),) = summary(parse(data, Format.OTLP))
    assert line == 1
    assert message.startswith(error)


def test_iter_parsed_reads_nothing_from_an_empty_otlp_document() -> None:
    assert parse(b" \n", Format.OTLP) == []


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("usage.csv", b"{}", Format.CSV),
        ("USAGE.CSV", b"", Format.CSV),
        ("usage.jsonl", b"ts,provider", Format.JSONL),
        ("usage.ndjson", b"", Format.JSONL),
        ("usage.json", b'{"a": 1}\n{"a": 2}\n', Format.JSONL),
        ("usage.json", b'\n\n  {"resourceSpans": []}', Format.JSONL),
        ("usage.json", b'{\n  "resourceSpans": [\n', Format.OTLP),
        ("usage.json", b'{"resourceSpans": [', Format.OTLP),
        ("usage.json", b"[1, 2]", Format.OTLP),
        ("-", b'{"ts": "2026-11-20T00:00:00Z", "provider": "open\n{"a": 1}\n', Format.JSONL),
        ("-", b'{"resourceSpans": [\n{"a": 1}\n', Format.OTLP),
        ("-", b'{\n  "oops": [\n  1\n', Format.OTLP),
        ("-", b'{"a": 1}\n', Format.JSONL),
        ("-", b'\xef\xbb\xbf{\n "resourceSpans": []\n}', Format.OTLP),
        ("usage.txt", b"ts,provider,model\n", Format.CSV),
        ("-", b'"Timestamp","Model"\r\n', Format.CSV),
        ("-", b"hello,world\n", Format.JSONL),
        ("-", b"", Format.JSONL),
    ],
)
def test_detect_format_uses_extension_then_content(
    name: str, head: bytes, expected: Format
) -> None:
    assert detect_format(name, head) is expected


def test_a_broken_first_line_costs_only_that_line() -> None:
    good = [event_line(f"m{i}", request_id=f"r{i}") for i in range(3)]
    data = b'{"ts": "2026-11-20T00:00:00Z", "provider": "open\n' + b"\n".join(good) + b"\n"
    results = parse(data)
    assert [r.line for r in results] == [1, 2, 3, 4]
    assert results[0].error is not None
    assert summary(results)[1:] == [(2, "m0"), (3, "m1"), (4, "m2")]


def test_iter_parsed_detects_json_lines_longer_than_the_head() -> None:
    lines = [event_line(f"m{i}", request_id=f"r{i}", pad="p" * 100) for i in range(15_000)]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > 2 * MAX_LINE_BYTES
    results = parse(data)
    assert len(results) == 15_000
    assert all(r.event is not None and r.event.model == f"m{r.line - 1}" for r in results)


def test_iter_parsed_detects_csv_and_otlp() -> None:
    csv_data = CSV_HEADER + b"2025-08-10T10:00:00Z,openai,gpt-4o,1,2,f\n"
    assert summary(parse(csv_data)) == [(2, "gpt-4o")]
    assert summary(parse(SECTION_7_4.encode(), name="trace.json")) == [(1, SONNET)]


def test_iter_parsed_accepts_the_format_as_a_string() -> None:
    assert summary(parse(event_line("a"), "jsonl")) == [(1, "a")]  # type: ignore[arg-type]


def test_iter_parsed_derives_the_same_ids_when_a_file_is_read_twice() -> None:
    data = event_line("a") + b"\n" + event_line("a", tokens_in=2) + b"\n"
    first = [r.event.request_id for r in parse(data) if r.event]
    assert first == [r.event.request_id for r in parse(data) if r.event]
    assert len(set(first)) == 2


def check_results(results: list[Parsed]) -> None:
    for result in results:
        assert result.line >= 1
        assert (result.event is None) != (result.error is None)


@settings(deadline=None)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(Format))
def test_iter_parsed_never_raises_for_arbitrary_bytes(data: bytes, fmt: Format) -> None:
    check_results(parse(data, fmt))


FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["2025-08-10T10:00:00Z", "openai", "opnai", "1754820000", "-1", "1.5"]),
)
FIELD_NAMES = st.sampled_from(["ts", "time", "provider", "model", "tokens_in", "cached_tokens"])
CSV_CELLS = st.text(alphabet=st.sampled_from('a1,"\n\r \x00é-:TZ'), max_size=10)


@settings(deadline=None)
@given(st.lists(st.dictionaries(FIELD_NAMES, FIELD_VALUES), max_size=5))
def test_iter_parsed_never_raises_for_json_lines_of_near_events(
    records: list[dict[str, object]],
) -> None:
    data = b"\n".join(orjson.dumps(r) for r in records)
    check_results(parse(data, Format.JSONL))


@settings(deadline=None)
@given(st.lists(st.lists(CSV_CELLS, max_size=4), max_size=5))
def test_iter_parsed_never_raises_for_csv_of_near_events(rows: list[list[str]]) -> None:
    data = CSV_HEADER + "\n".join(",".join(row) for row in rows).encode()
    check_results(parse(data, Format.CSV))
