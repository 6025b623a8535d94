from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Engine

from bot.domain import DateRange, Dimension, SpendQuery, UsageEvent
from bot.ingest.readers import MAX_LINE_BYTES, Format, iter_parsed
from bot.ingest.writer import IngestReport, Sinks, ingest, ingest_stream, open_for_ingest
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


def _jsonl(events: Iterable[UsageEvent]) -> bytes:
    buffer = io.BytesIO()
    write_jsonl(events, buffer)
    return buffer.getvalue()


def _lines(*objects: object) -> bytes:
    return b"".join(o if isinstance(o, bytes) else orjson.dumps(o) + b"\n" for o in objects)


def _ingest(engine: Engine, data: bytes, **kwargs: Any) -> IngestReport:
    parsed = iter_parsed(io.BytesIO(data), Format.JSONL, source="t")
    return ingest(engine, parsed, prices=PriceBook(), attribution=Attribution({}), **kwargs)


def _by_feature(engine: Engine) -> dict[tuple[str, ...], tuple[Decimal, int, int]]:
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
        b"x" * (MAX_LINE_BYTES + 10) + b"\n",
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
