"""The structure-aware mutator: it knows records and their fields from the spec.

Each call stacks 1-4 mutations picked from:
- a field of one record (fixed part or an array element), changed by what the field means:
  object ids (another id the stream creates, 0, a dead or huge one), enum values (another
  valid one, or one past the end), flag bits, bools, counts (with the array resized to match,
  or not), heap offsets and sizes (the ends of the heap, other recorded ranges, overflow),
  plain integers and floats (boundaries, bit flips, NaN and infinities);
- a record header: another opcode with the same body, a size off by 16, reserved flags;
- records moved: duplicated, dropped, swapped, or spliced in from another stream of the
  seed corpus; batches split or merged;
- heap bytes changed or moved;
- raw byte flips (libFuzzer's own mutator on a batch or on the whole serialised input).
"""

from __future__ import annotations

import math
import os
import random
import struct
from typing import Callable

from pvgpu.protocol import codec
from pvgpu.protocol.types import F32, Meaning

from .stream import BATCH, HEAP, Stream, split_records

HEAP_SIZE = (32 << 20) - 4096 - (4 << 20)  # the heap of fuzz.record.REGION_SIZE with the default ring
_OPCODES = sorted(op for op in codec.LAYOUTS if op != codec.PAD_OPCODE)
_INTERESTING = (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4096, 16384,
                65535, 65536, 1 << 24, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-38, 1e30, -1e30, 3.4e38, float("nan"), float("inf"), float("-inf"))
_MASKS = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF, "Q": 0xFFFFFFFFFFFFFFFF,
          "b": 0xFF, "h": 0xFFFF, "i": 0xFFFFFFFF, "q": 0xFFFFFFFFFFFFFFFF}


def _field_slots(layout) -> list:
    return [s for s in layout.slots if s.field.meaning is not Meaning.PAD]


class Mutator:
    def __init__(self, seeds: list[Stream] | None = None, raw: Callable[[bytes, int], bytes] | None = None):
        """`seeds`: streams to splice records from; `raw(data, max_size)`: a byte-level mutator
        (atheris.Mutate under the fuzzer; random flips otherwise)."""
        self.seed_records = [r for s in (seeds or []) for b in s.batches for r in split_records(b)]
        self.raw = raw or _flip_bytes

    # --- entry points ---------------------------------------------------------------------------
    def mutate(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.08:
            out = self.raw(data, max_size)
            return out if len(out) <= max_size else out[:max_size]
        s = Stream.from_bytes(data)
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            self._one(s, rng)
        out = s.to_bytes()
        if len(out) > max_size:
            out = _shrink(s, max_size)
        return out

    def crossover(self, data1: bytes, data2: bytes, max_size: int, seed: int) -> bytes:
        """Records of the second input spliced into a batch of the first."""
        rng = random.Random(seed)
        a, b = Stream.from_bytes(data1), Stream.from_bytes(data2)
        recs = [r for batch in b.batches for r in split_records(batch)]
        if not recs or not a.batches:
            return data1[:max_size]
        i = rng.randrange(len(recs))
        piece = recs[i:i + rng.randint(1, 8)]
        if rng.random() < 0.5:  # with the heap bytes the second input wrote
            for kind, off, d in b.items:
                if kind == HEAP and rng.random() < 0.5:
                    a.items.insert(0, (HEAP, off, d))
        self._insert_records(a, rng, piece)
        out = a.to_bytes()
        return out if len(out) <= max_size else _shrink(a, max_size)

    # --- one mutation -----------------------------------------------------------------------------
    def _one(self, s: Stream, rng: random.Random) -> None:
        batches = [i for i, (k, _, _) in enumerate(s.items) if k == BATCH and s.items[i][2]]
        if not batches:
            s.batch(rng.choice(self.seed_records) if self.seed_records else bytes(16))
            return
        r = rng.random()
        if r < 0.50:
            self._field(s, rng, batches)
        elif r < 0.58:
            self._header(s, rng, batches)
        elif r < 0.75:
            self._records(s, rng, batches)
        elif r < 0.82:
            self._batches(s, rng, batches)
        elif r < 0.90:
            self._heap(s, rng)
        else:
            i = rng.choice(batches)
            kind, off, d = s.items[i]
            s.items[i] = (kind, off, self.raw(d, len(d) + 64))

    def _pick_record(self, s: Stream, rng: random.Random, batches: list[int]):
        i = rng.choice(batches)
        recs = split_records(s.items[i][2])
        j = rng.randrange(len(recs))
        return i, recs, j

    def _store(self, s: Stream, i: int, recs: list[bytes]) -> None:
        s.items[i] = (BATCH, 0, b"".join(recs))

    def _field(self, s: Stream, rng: random.Random, batches: list[int]) -> None:
        i, recs, j = self._pick_record(s, rng, batches)
        rec = bytearray(recs[j])
        if len(rec) < 16:
            return
        layout = codec.LAYOUTS.get(codec.read_header(rec)[0])
        if layout is None or layout.opcode == codec.PAD_OPCODE:
            return
        base = 16
        slots = _field_slots(layout)
        el = layout.element
        n_el = (len(rec) - 16 - layout.fixed_size) // el.size if el is not None else 0
        if n_el > 0 and rng.random() < 0.4:
            base = 16 + layout.fixed_size + rng.randrange(n_el) * el.size
            slots = _field_slots(el)
        if not slots:
            return
        slot = rng.choice(slots)
        f = slot.field
        at = base + slot.offset
        if at + f.wire.size > len(rec):
            return
        fmt = "<" + f.wire.code
        (old,) = struct.unpack_from(fmt, rec, at)
        if f.meaning is Meaning.COUNT and el is not None and rng.random() < 0.6:
            recs[j] = self._recount(rec, layout, at, fmt, rng)
            self._store(s, i, recs)
            return
        new = self._value(s, f, old, rng)
        if f.wire is F32:
            try:
                struct.pack_into(fmt, rec, at, new)
            except OverflowError:  # beyond float32: its infinity
                struct.pack_into(fmt, rec, at, math.copysign(math.inf, new))
        else:
            struct.pack_into(fmt, rec, at, _wrap(new, f.wire.code))
        recs[j] = bytes(rec)
        self._store(s, i, recs)

    def _recount(self, rec: bytearray, layout, at: int, fmt: str, rng: random.Random) -> bytes:
        """A new element count with the array resized to it (elements repeated or dropped)."""
        el = layout.element
        body = bytes(rec[16 + layout.fixed_size:])
        elems = [body[k:k + el.size] for k in range(0, len(body) - el.size + 1, el.size)]
        limit = layout.count_field.limit
        n = rng.choice((0, 1, max(0, len(elems) - 1), len(elems) + 1, limit, limit + 1, rng.randint(0, limit)))
        n = min(n, limit + 1, 256)
        if elems:
            elems = (elems * (n // len(elems) + 1))[:n]
        else:
            elems = [bytes(el.size)] * n
        struct.pack_into(fmt, rec, at, n)
        out = bytes(rec[:16 + layout.fixed_size]) + b"".join(elems)
        out += bytes(-len(out) % 16)
        out = bytearray(out)
        struct.pack_into("<I", out, 4, len(out))
        return bytes(out)

    def _value(self, s: Stream, f, old, rng: random.Random):
        m = f.meaning
        if f.wire is F32:
            return rng.choice(_FLOATS) if rng.random() < 0.7 else old * rng.choice((-1, 2, 0.5, 1e10))
        if m in (Meaning.OBJECT, Meaning.NEW_OBJECT):
            ids = _ids(s)
            r = rng.random()
            if ids and r < 0.6:
                return rng.choice(ids)
            return rng.choice((0, old + 1, old - 1, 0xFFFFFFFF, 0x80000000, rng.randrange(1 << 32)))
        if m is Meaning.ENUM:
            values = sorted(int(v) for v in f.enum)
            return rng.choice(values) if rng.random() < 0.8 else rng.choice((values[-1] + 1, values[0] - 1, 0xFFFF))
        if m is Meaning.FLAGS:
            return old ^ (1 << rng.randrange(32)) if rng.random() < 0.7 else rng.choice([int(v) for v in f.enum] + [0])
        if m is Meaning.BOOL:
            return rng.choice((0, 1, 2, 0xFFFFFFFF))
        if m is Meaning.HEAP_OFFSET:
            ranges = [off for k, off, _ in s.items if k == HEAP]
            return rng.choice([0, HEAP_SIZE - 16, HEAP_SIZE - 1, HEAP_SIZE, HEAP_SIZE + 16, old + 16, old - 16,
                               (1 << 64) - 16, rng.randrange(HEAP_SIZE)] + ranges[:8])
        if m is Meaning.HEAP_SIZE:
            return rng.choice((0, 1, 4, 16, old + 1, old - 1, old * 2, old + 4096, HEAP_SIZE, HEAP_SIZE + 1,
                               (1 << 64) - 1, 1 << 63))
        r = rng.random()
        if r < 0.4:
            return rng.choice(_INTERESTING)
        if r < 0.7:
            return old ^ (1 << rng.randrange(f.wire.size * 8))
        if r < 0.9:
            return old + rng.choice((-1, 1, -16, 16, 2 * old + 1))
        return rng.randrange(1 << (f.wire.size * 8))

    def _header(self, s: Stream, rng: random.Random, batches: list[int]) -> None:
        i, recs, j = self._pick_record(s, rng, batches)
        rec = bytearray(recs[j])
        if len(rec) < 16:
            return
        r = rng.random()
        if r < 0.6:
            struct.pack_into("<H", rec, 0, rng.choice(_OPCODES) if rng.random() < 0.9 else rng.randrange(1 << 16))
        elif r < 0.85:
            size = struct.unpack_from("<I", rec, 4)[0]
            struct.pack_into("<I", rec, 4, _wrap(size + rng.choice((-16, 16, -1, 1, 8, 1 << 20, -size)), "I"))
        else:
            struct.pack_into("<H", rec, 2, 1 << rng.randrange(16))
        recs[j] = bytes(rec)
        self._store(s, i, recs)

    def _records(self, s: Stream, rng: random.Random, batches: list[int]) -> None:
        i, recs, j = self._pick_record(s, rng, batches)
        r = rng.random()
        if r < 0.25:
            recs.insert(rng.randrange(len(recs) + 1), recs[j])
        elif r < 0.45 and len(recs) > 1:
            del recs[j]
        elif r < 0.6:
            k = rng.randrange(len(recs))
            recs[j], recs[k] = recs[k], recs[j]
        elif self.seed_records:
            self._store(s, i, recs)
            start = rng.randrange(len(self.seed_records))
            self._insert_records(s, rng, self.seed_records[start:start + rng.randint(1, 6)])
            return
        self._store(s, i, recs)

    def _insert_records(self, s: Stream, rng: random.Random, piece: list[bytes]) -> None:
        batches = [i for i, (k, _, _) in enumerate(s.items) if k == BATCH]
        if not batches:
            s.batch(b"".join(piece))
            return
        i = rng.choice(batches)
        recs = split_records(s.items[i][2])
        at = rng.randrange(len(recs) + 1)
        recs[at:at] = piece
        self._store(s, i, recs)

    def _batches(self, s: Stream, rng: random.Random, batches: list[int]) -> None:
        i = rng.choice(batches)
        recs = split_records(s.items[i][2])
        if len(recs) > 1 and rng.random() < 0.5:
            k = rng.randrange(1, len(recs))
            s.items[i:i + 1] = [(BATCH, 0, b"".join(recs[:k])), (BATCH, 0, b"".join(recs[k:]))]
        elif len(batches) > 1:
            k = batches.index(i)
            other = batches[(k + 1) % len(batches)]
            a, b = sorted((i, other))
            merged = (BATCH, 0, s.items[a][2] + s.items[b][2])
            del s.items[b]
            s.items[a] = merged
        else:
            del s.items[i]

    def _heap(self, s: Stream, rng: random.Random) -> None:
        heaps = [i for i, (k, _, _) in enumerate(s.items) if k == HEAP]
        if not heaps:
            s.items.insert(0, (HEAP, rng.randrange(HEAP_SIZE), os.urandom(rng.randint(1, 256))))
            return
        i = rng.choice(heaps)
        _, off, d = s.items[i]
        if rng.random() < 0.6 and d:
            d = self.raw(d, len(d) + 16)
        else:
            off = rng.choice((0, HEAP_SIZE - len(d), rng.randrange(HEAP_SIZE), off + 1))
        s.items[i] = (HEAP, off, d)


def _ids(s: Stream) -> list[int]:
    """Ids the stream's records create (the first few hundred)."""
    out = []
    for kind, _, d in s.items:
        if kind != BATCH:
            continue
        for rec in split_records(d):
            layout = codec.LAYOUTS.get(codec.read_header(rec)[0]) if len(rec) >= 16 else None
            if layout is None:
                continue
            for slot in layout.slots:
                if slot.field.meaning is Meaning.NEW_OBJECT and 16 + slot.offset + 4 <= len(rec):
                    out.append(struct.unpack_from("<I", rec, 16 + slot.offset)[0])
            if len(out) > 300:
                return out
    return out


def _wrap(value: int, code: str) -> int:
    v = int(value) & _MASKS[code]
    if code.islower() and v > _MASKS[code] >> 1:
        v -= _MASKS[code] + 1
    return v


def _flip_bytes(data: bytes, max_size: int) -> bytes:
    """A plain byte-level mutator (used outside atheris)."""
    if not data:
        return os.urandom(16)
    b = bytearray(data)
    for _ in range(random.randint(1, 8)):
        b[random.randrange(len(b))] = random.randrange(256)
    return bytes(b[:max_size])


def _shrink(s: Stream, max_size: int) -> bytes:
    """Drop items from the end until the input fits."""
    while s.items and len(s.to_bytes()) > max_size:
        s.items.pop()
    return s.to_bytes()
