"""Ingest rate from a JSON-lines file into SQLite, priced, rollups maintained, next to the raw
driver's executemany of the same rows; with --memory, peak memory of a real `aispend ingest`."""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data import emit, events, jsonl_file
from bot.domain import UsageEvent
from bot.ingest.prepare import prepare_batch
from bot.ingest.readers import Format
from bot.ingest.writer import BATCH_SIZE, ingest_stream, open_for_ingest
from bot.pricing import PriceBook
from bot.store.attribution import Attribution
from bot.store.db import make_engine, upgrade
from bot.store.events import COLUMNS


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", action="store_true", help="also measure peak memory")


def run(args: argparse.Namespace) -> None:
    path = jsonl_file(args.events)
    if args.memory:  # first, while this process is still small
        _memory(path, args.events)
    with tempfile.TemporaryDirectory() as folder:
        ours = _ours(path, Path(folder) / "ours.db")
        raw = _raw_executemany(args.events, Path(folder) / "raw.db")
    emit(
        "ingest_jsonl_sqlite",
        events=args.events,
        events_per_s=round(ours),
        reference="sqlite3 executemany of the same rows into the same table, rows prebuilt",
        reference_events_per_s=round(raw),
        ratio_to_reference=round(ours / raw, 3),
        cores=os.cpu_count(),
    )


def _ours(path: Path, db: Path) -> float:
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    started = time.perf_counter()
    with path.open("rb") as raw:
        report = ingest_stream(
            engine,
            open_for_ingest(raw),
            Format.JSONL,
            name=path.name,
            source="bench",
            prices=PriceBook(),
            attribution=Attribution({}),
        )
    took = time.perf_counter() - started
    assert report.bad == 0, report.errors[:3]
    return report.stored / took


def _raw_executemany(count: int, db: Path) -> float:
    """The reference: the driver alone inserting the very rows we store, batch by batch as
    ours does; only the executemany and commit are timed, rows are built beforehand."""
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO usage_event ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    timed = 0.0
    stream = events(count)
    while chunk := list(itertools.islice(stream, BATCH_SIZE)):
        rows = _rows(chunk)
        started = time.perf_counter()
        connection.executemany(sql, rows)
        connection.commit()
        timed += time.perf_counter() - started
    connection.close()
    return count / timed


def _rows(chunk: list[UsageEvent]) -> list[tuple[object, ...]]:
    batch = prepare_batch(chunk, prices=PriceBook(), attribution=Attribution({}), dialect="sqlite")
    return batch.rows


def _memory(path: Path, lines: int) -> None:
    """Peak resident memory (VmHWM, which starts afresh at exec) of `aispend ingest`."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/memory.db"
        env = {**os.environ, "DATABASE_URL": url, "AISPEND_CONFIG": "/nonexistent.toml"}
        subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade"], env=env, check=True, capture_output=True
        )
        code = (
            "import sys; from bot.cli import main; status = main(sys.argv[1:]); "
            "print(open('/proc/self/status').read(), file=sys.stderr); raise SystemExit(status)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, "ingest", str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    peak_kib = next(
        int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("VmHWM:")
    )
    emit(
        "ingest_peak_memory",
        lines=lines,
        file_mb=round(path.stat().st_size / 1e6),
        peak_rss_mb=round(peak_kib / 1024),
        target_mb=300,
    )
