"""The fuzz input: what a guest put in the shared region, batch after batch.

A stream is a list of items in the order the guest produced them: heap writes (offset, bytes)
and published batches (the record bytes between two producer positions, PAD records left
out). Serialised as `PVFZ`, then items: kind u8 (1 heap, 2 batch), for a heap write its
offset u32, then a length u32 and the bytes. Parsing is tolerant (a fuzzer hands over any
bytes): an unknown kind or a cut item ends the stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = b"PVFZ"
HEAP, BATCH = 1, 2
_HEAP_ITEM = struct.Struct("<BII")
_BATCH_ITEM = struct.Struct("<BI")


@dataclass
class Stream:
    #: (HEAP, offset, data) or (BATCH, 0, records)
    items: list[tuple[int, int, bytes]] = field(default_factory=list)

    def heap(self, offset: int, data: bytes) -> None:
        self.items.append((HEAP, offset, bytes(data)))

    def batch(self, records: bytes) -> None:
        self.items.append((BATCH, 0, bytes(records)))

    @property
    def batches(self) -> list[bytes]:
        return [d for k, _, d in self.items if k == BATCH]

    def to_bytes(self) -> bytes:
        out = [MAGIC]
        for kind, offset, data in self.items:
            if kind == HEAP:
                out.append(_HEAP_ITEM.pack(HEAP, offset & 0xFFFFFFFF, len(data)))
            else:
                out.append(_BATCH_ITEM.pack(BATCH, len(data)))
            out.append(data)
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Stream":
        s = cls()
        if not data.startswith(MAGIC):
            # any bytes at all: one batch of them (raw inputs a fuzzer made up)
            if data:
                s.batch(data)
            return s
        pos, n = len(MAGIC), len(data)
        while pos < n:
            kind = data[pos]
            if kind == HEAP and pos + _HEAP_ITEM.size <= n:
                _, offset, size = _HEAP_ITEM.unpack_from(data, pos)
                pos += _HEAP_ITEM.size
                s.heap(offset, data[pos:pos + size])
            elif kind == BATCH and pos + _BATCH_ITEM.size <= n:
                _, size = _BATCH_ITEM.unpack_from(data, pos)
                pos += _BATCH_ITEM.size
                s.batch(data[pos:pos + size])
            else:
                break
            pos += size
        return s


def split_records(batch: bytes) -> list[bytes]:
    """The records of a batch by their headers' sizes (framing as the host would read it);
    a record whose size is not a multiple of 16 of at least 16, or runs past the end, takes
    the rest."""
    out, pos, n = [], 0, len(batch)
    while pos < n:
        size = int.from_bytes(batch[pos + 4:pos + 8], "little") if pos + 8 <= n else 0
        if size < 16 or size % 16 or pos + size > n:
            out.append(batch[pos:])
            break
        out.append(batch[pos:pos + size])
        pos += size
    return out
