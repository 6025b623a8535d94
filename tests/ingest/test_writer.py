from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import orjson
import pytest

from bot.domain import DateRange, Dimension, SpendQuery
from bot.ingest import chunks
from bot.ingest.readers import Format, iter_parsed
from bot.ingest.writer import Sinks, ingest, ingest_jsonl, ingest_stream, open_for_ingest
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.queries import spend
from bot.synthetic import ActivitySpec, generate_events, write_jsonl

SPEC = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=300)
PERIOD = DateRange(SPEC.start, date(2026, 11, 23))
GOOD = {
    "ts": "2026-11-20T10:00:00Z",
    "provider": "openai",
    "model": "gpt-5",
    "tokens_in": 1000,
    "tokens_out": 200,
    "feature": "search",
}


def _jsonl(events) -> bytes:
    buffer = io.BytesIO()
    write_jsonl(events, buffer)
    return buffer.getvalue()


def _lines(*objects) -> bytes:
    return b"".join(o if isinstance(o, bytes) else orjson.dumps(o) + b"\n" for o in objects)


def _ingest(engine, data: bytes, **kwargs):
    parsed = iter_parsed(io.BytesIO(data), Format.JSONL, source="t")
    return ingest(engine, parsed, prices=PriceBook(), attribution=Attribution({}), **kwargs)


def _by_feature(engine):
    with engine.connect() as connection:
        report = spend(connection, SpendQuery(PERIOD, (Dimension.FEATURE, Dimension.MODEL)))
    return {r.keys: (r.cost, r.requests, r.unpriced_requests) for r in report.rows}


def test_ingest_stores_every_good_line_and_reports_every_bad_one_by_number(engine):
    data = _lines(
        GOOD | {"request_id": "a"},
        b"{broken json\n",
        GOOD | {"request_id": "b", "tokens_in": -5},
        GOOD | {"request_id": "c", "provider": "opnai"},
        {"request_id": "d", "provider": "openai", "model": "gpt-5"},
        GOOD | {"request_id": "e", "ts": "2026-11-20T10:00:00"},
        b"x" * (chunks.MAX_LINE_BYTES + 10) + b"\n",
        GOOD | {"request_id": "f"},
    )
    bad: list[tuple[int, str]] = []
    report = _ingest(engine, data, sinks=Sinks(on_bad=lambda n, r: bad.append((n, r))))
    assert (report.stored, report.bad) == (2, 6)
    assert [n for n, _ in bad] == [2, 3, 4, 5, 6, 7]
    reasons = " | ".join(r for _, r in bad)
    for expected in ("tokens_in", "openai", "ts", "timezone", "1 MiB"):
        assert expected in reasons


def test_ingest_twice_changes_nothing(engine):
    data = _jsonl(generate_events(SPEC))
    first = _ingest(engine, data, batch_size=1000)
    before = _by_feature(engine)
    second = _ingest(engine, data, batch_size=777)
    assert first.stored > 3000
    assert (second.stored, second.duplicates) == (0, first.stored)
    assert _by_feature(engine) == before


def test_interrupted_ingest_completed_by_a_rerun_equals_a_clean_run(engine, tmp_path):
    from bot.store.db import make_engine, upgrade

    data = _jsonl(generate_events(SPEC))
    lines = data.splitlines(keepends=True)
    _ingest(engine, b"".join(lines[: len(lines) // 3]), batch_size=500)  # then the crash
    _ingest(engine, data, batch_size=500)
    clean = make_engine(f"sqlite:///{tmp_path}/clean.db")
    upgrade(clean)
    _ingest(clean, data, batch_size=500)
    assert _by_feature(engine) == _by_feature(clean)


def test_parallel_jsonl_ingest_gives_the_same_store_as_one_process(engine, tmp_path, monkeypatch):
    from bot.store.db import make_engine, upgrade

    data = _jsonl(generate_events(SPEC)) + b"not json\n" + _lines(GOOD | {"request_id": "z"})
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 64 << 10)  # many chunks
    bad: list[tuple[int, str]] = []
    report = ingest_jsonl(
        engine,
        io.BytesIO(data),
        prices=PriceBook(),
        attribution=Attribution({}),
        source="t",
        sinks=Sinks(on_bad=lambda n, r: bad.append((n, r))),
    )
    single = make_engine(f"sqlite:///{tmp_path}/single.db")
    upgrade(single)
    expected = _ingest(single, data)
    assert (report.stored, report.bad) == (expected.stored, 1)
    assert bad[0][0] == data.count(b"\n") - 1
    assert _by_feature(engine) == _by_feature(single)


def test_ingest_stream_detects_csv(engine):
    data = (
        b"ts,provider,model,tokens_in,tokens_out,request_id\n"
        b"2026-11-20T10:00:00Z,openai,gpt-5,1000,100,r1\n"
    )
    report = ingest_stream(
        engine,
        open_for_ingest(io.BytesIO(data)),
        Format.AUTO,
        name="x.csv",
        source="t",
        prices=PriceBook(),
        attribution=Attribution({}),
    )
    assert report.stored == 1
    with engine.connect() as connection:
        total = spend(connection, SpendQuery(PERIOD)).total
    assert total == Decimal("0.00225")  # 1000 in at $1.25, 100 out at $10 per million


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_chunks_keep_line_numbers_and_whole_lines(size):
    data = b"a\n\nbb\nccc\n" + b"d" * 20 + b"\nlast"
    got = list(chunks.iter_chunks(io.BytesIO(data), size=size))
    assert b"".join(c.data for c in got) == data
    assert all(c.data.endswith(b"\n") for c in got[:-1])
    offset = 0
    for c in got:
        assert c.first_line == data[:offset].count(b"\n") + 1
        offset += len(c.data)


def test_chunks_skip_an_overlong_line_without_holding_it(monkeypatch):
    monkeypatch.setattr(chunks, "MAX_LINE_BYTES", 100)
    data = b"ok\n" + b"x" * 1000 + b"\nafter\n"
    got = list(chunks.iter_chunks(io.BytesIO(data), size=64))
    assert [(c.first_line, c.too_long) for c in got if c.too_long] == [(2, True)]
    assert b"".join(c.data for c in got if not c.too_long) == b"ok\nafter\n"
    assert [c.first_line for c in got if c.data == b"after\n"] == [3]
