"""Cut a JSON-lines stream into chunks of whole lines, in constant memory, numbering lines.

A line longer than MAX_LINE_BYTES is never held whole: it becomes a Chunk marked `too_long`
and the rest of it is skipped. Shorter overlong lines inside a chunk are left for the reader,
which reports them the same way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from bot.ingest.readers import MAX_LINE_BYTES

CHUNK_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes
    first_line: int
    too_long: bool = False


def iter_chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[Chunk]:
    line, carry, skipping = 1, b"", False
    while block := stream.read(size):
        if skipping:
            end = block.find(b"\n")
            if end < 0:
                continue
            block, skipping, line = block[end + 1 :], False, line + 1
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if cut:
            yield Chunk(data[:cut], line)
            line += data.count(b"\n", 0, cut)
        carry = data[cut:]
        if len(carry) > MAX_LINE_BYTES:
            yield Chunk(b"", line, too_long=True)
            carry, skipping = b"", True
    if carry:
        yield Chunk(carry, line)
