"""Stream usage records out of JSON lines, CSV and OTLP/JSON, one Parsed per record.

Memory stays constant: lines are read with a size limit, and a line longer than
MAX_LINE_BYTES is reported and skipped without being held. Only an OTLP document (format OTLP)
is read whole; its caller bounds its size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import PurePath
from typing import TYPE_CHECKING, BinaryIO

import orjson

from bot.domain import UsageEvent
from bot.errors import InputError
from bot.ingest.fields import FIELD_NAMES, REQUIRED_FIELDS, parse_event
from bot.ingest.otlp import parse_otlp_document

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_LINE_BYTES = 1 << 20
_READ_LIMIT = MAX_LINE_BYTES + 1  # one byte more tells a line that is too long
_TOO_LONG = "line is longer than 1 MiB"
_BOM = b"\xef\xbb\xbf"


class Format(StrEnum):
    AUTO = "auto"
    JSONL = "jsonl"
    CSV = "csv"
    OTLP = "otlp"


@dataclass(frozen=True, slots=True)
class Parsed:
    """One result per input record: an event, or the reason it could not be read."""

    line: int  # 1-based line number where the record starts
    event: UsageEvent | None
    error: str | None  # reason, without the "line N:" prefix


_SNIFF_LINES = 20  # lines of the head looked at for a whole object after a broken first one


def _first_line_is_object(text: bytes) -> bool:
    try:
        return isinstance(orjson.loads(text.partition(b"\n")[0]), dict)
    except orjson.JSONDecodeError:
        return False


def _broken_first_line(text: bytes) -> bool:
    """JSON lines whose first line is broken (cut short, a typo): no OTLP key in sight and a
    later line that is a whole object. Read as lines, the bad one is reported by its number
    and the good ones are kept; read as one document, all of them would be lost."""
    if b'"resourceSpans"' in text:
        return False
    for line in text.split(b"\n")[1:_SNIFF_LINES]:
        try:
            if isinstance(orjson.loads(line), dict):
                return True
        except orjson.JSONDecodeError:
            continue
    return False


def _looks_like_csv_header(text: bytes) -> bool:
    cells = text.partition(b"\n")[0].decode(errors="replace").split(",")
    names = {cell.strip().strip('"').strip().lower() for cell in cells}
    return len(cells) > 1 and not names.isdisjoint(FIELD_NAMES)


def detect_format(name: str, head: bytes) -> Format:
    """By extension (.csv, .jsonl/.ndjson, .json), then by the first bytes of the input.

    JSON whose first non-blank line is a whole object is JSON lines, other JSON is one OTLP
    document; a first line naming known fields between commas is a CSV header."""
    suffix = PurePath(name).suffix.lower()
    if suffix == ".csv":
        return Format.CSV
    if suffix in (".jsonl", ".ndjson"):
        return Format.JSONL
    text = head.removeprefix(_BOM).lstrip()
    if suffix == ".json" or text.startswith(b"{"):
        lines = _first_line_is_object(text) or _broken_first_line(text)
        return Format.JSONL if lines else Format.OTLP
    return Format.CSV if _looks_like_csv_header(text) else Format.JSONL


class _Prefixed(io.RawIOBase):
    """The head already read to detect the format, then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            data: bytes | memoryview = self._head[: len(view)]
            self._head = self._head[len(data) :] or memoryview(b"")  # let go of the head
        else:
            data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _skip_line(readline: Callable[[int], bytes]) -> None:
    """Read past the end of a line that is too long, holding one chunk at a time."""
    chunk = b""
    while not chunk.endswith(b"\n"):
        chunk = readline(_READ_LIMIT)
        if not chunk:
            return


def _spans(doc: dict[str, object], line: int, source: str) -> Iterator[Parsed]:
    for item in parse_otlp_document(doc, source=source):
        if isinstance(item, InputError):
            yield Parsed(line, None, item.reason)
        else:
            yield Parsed(line, item, None)


def _record(obj: dict[str, object], line: int, source: str) -> Parsed:
    try:
        event = parse_event(obj, source=source)
    except InputError as e:
        return Parsed(line, None, e.reason)
    return Parsed(line, event, None)


def _json_value(value: object, line: int, source: str) -> Iterator[Parsed]:
    """A JSON line that is not a flat event: an OTLP export request, or an error."""
    if isinstance(value, dict):
        yield from _spans(value, line, source)
    else:
        yield Parsed(line, None, f"expected a JSON object, got {type(value).__name__}")


def _jsonl(stream: BinaryIO, source: str) -> Iterator[Parsed]:
    readline = stream.readline
    for number, raw in enumerate(iter(partial(readline, _READ_LIMIT), b""), 1):
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_line(readline)
            yield Parsed(number, None, _TOO_LONG)
            continue
        try:
            value = orjson.loads(raw if number > 1 else raw.removeprefix(_BOM))
        except orjson.JSONDecodeError as e:
            if not raw.isspace():
                yield Parsed(number, None, f"broken JSON: {e}")
            continue
        if type(value) is dict and "resourceSpans" not in value:
            yield _record(value, number, source)
        else:
            yield from _json_value(value, number, source)


def _otlp(stream: BinaryIO, source: str) -> Iterator[Parsed]:
    data = stream.read().removeprefix(_BOM)
    if data.isspace() or not data:
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        yield Parsed(1, None, f"broken JSON: {e}")
        return
    if isinstance(doc, dict) and "resourceSpans" in doc:
        yield from _spans(doc, 1, source)
    else:
        yield Parsed(1, None, 'not an OTLP trace document: no "resourceSpans"')


class _Lines:
    """Decoded physical lines for csv.reader, counted; remembers a line it could not read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._readline = stream.readline
        self.number = 0
        self.problem: str | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self._readline(_READ_LIMIT)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_line(self._readline)
            self.problem = self.problem or _TOO_LONG
            return "\n"
        if self.number == 1:
            raw = raw.removeprefix(_BOM)
        try:
            return raw.decode()
        except UnicodeDecodeError as e:
            self.problem = (
                self.problem or f"line is not UTF-8: byte {raw[e.start]:#04x} at offset {e.start}"
            )
            return raw.decode(errors="replace")


def _rows(lines: _Lines) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line, cells, problem) per CSV row; blank rows are skipped."""
    reader = csv.reader(lines)
    while True:
        start = lines.number + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            lines.problem, cells = lines.problem or f"bad CSV: {e}", []
        problem, lines.problem = lines.problem, None
        if cells or problem:
            yield start, cells, problem


def csv_rows(stream: BinaryIO) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line, cells, problem) per CSV row of a byte stream, with the same limits and
    line numbers as event CSV: for other CSV layouts (dashboard exports)."""
    return _rows(_Lines(stream))


def _header_error(header: list[str]) -> str | None:
    named = {FIELD_NAMES.get(name) for name in header}
    missing = [f'"{name}"' for name in REQUIRED_FIELDS if name not in named]
    return f"CSV header has no {' or '.join(missing)} column" if missing else None


def _row(header: list[str], start: int, cells: list[str], source: str) -> Parsed:
    if len(cells) != len(header):
        return Parsed(
            start, None, f"expected {len(header)} cells as in the header, got {len(cells)}"
        )
    return _record(dict(zip(header, cells, strict=True)), start, source)


def _csv(stream: BinaryIO, source: str) -> Iterator[Parsed]:
    rows = _rows(_Lines(stream))
    start, cells, problem = next(rows, (0, [], None))
    header = [cell.strip().lower() for cell in cells]
    error = problem or (_header_error(header) if start else None)
    if error:
        yield Parsed(start, None, error)
        return
    for start, cells, problem in rows:
        yield Parsed(start, None, problem) if problem else _row(header, start, cells, source)


def _detected(stream: BinaryIO, name: str) -> tuple[Format, BinaryIO]:
    """The format, from the name and the head of the stream, and the stream from its start."""
    head = stream.read(_READ_LIMIT + 1)
    return detect_format(name, head), io.BufferedReader(_Prefixed(head, stream), 1 << 16)


def iter_parsed(stream: BinaryIO, fmt: Format, *, source: str, name: str = "-") -> Iterator[Parsed]:
    """One Parsed per record of `stream`, in order. Never raises for bad input: every bad
    record becomes a Parsed with an error. `name` (a file name) helps detect the format."""
    fmt = Format(fmt)
    if fmt is Format.AUTO:
        fmt, stream = _detected(stream, name)
    if fmt is Format.CSV:
        yield from _csv(stream, source)
    elif fmt is Format.OTLP:
        yield from _otlp(stream, source)
    else:
        yield from _jsonl(stream, source)
