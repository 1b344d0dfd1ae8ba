"""Encoders and decoders derived from the spec (sans-IO: bytes in, bytes out).

Every record is a 16-byte header (opcode u16, flags u16, size u32, sequence u64) followed by
the command's fixed fields, then its trailing array if it has one, padded to 16 bytes.
`decode` checks everything that can be checked without host state: the opcode is known, the
size is exact for the opcode and element count, enum, flag and bool values are in range,
counts are within their limits. Object ids and heap ranges are checked by the host.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass
from typing import Any, Iterator

from .enums import ErrorCode
from .spec import COMMANDS, STRUCTS, Command
from .types import F32, Field, Meaning, StructSpec, U32, WireType

RECORD_ALIGN = 16
_INF = math.inf
HEADER = struct.Struct("<HHIQ")
HEADER_SIZE = HEADER.size
assert HEADER_SIZE == 16


class DecodeError(Exception):
    """A record that breaks a protocol rule; carries what the error log needs."""

    def __init__(self, code: ErrorCode, detail: str, opcode: int = 0, seq: int = 0):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.opcode = opcode
        self.seq = seq


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Slot:
    """A field placed at an offset (pads included, so C and Python agree on the layout)."""

    field: Field
    offset: int


def place_fields(fields: tuple[Field, ...]) -> tuple[list[Slot], int]:
    """Natural alignment with explicit pad fields; returns slots and the total size."""
    slots: list[Slot] = []
    offset = 0
    pads = 0
    max_align = 4
    for f in fields:
        size = f.wire.size
        max_align = max(max_align, size)
        if offset % size:
            gap = align(offset, size) - offset
            slots.append(Slot(Field(f"_pad{pads}", U32, meaning=Meaning.PAD), offset))
            assert gap == 4
            pads += 1
            offset += gap
        slots.append(Slot(f, offset))
        offset += size
    if offset % max_align:
        slots.append(Slot(Field(f"_pad{pads}", U32, meaning=Meaning.PAD), offset))
        offset += 4
    return slots, offset


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.lower().split("_"))


def array_attr(count_field: Field) -> str:
    base = count_field.name.removesuffix("_count")
    return base + "s"


class _Checks:
    """Per-field range checks derived from field meanings."""

    def __init__(self, fields: list[Field]):
        self.items: list[tuple[int, Field, Any]] = []
        for i, f in enumerate(fields):
            if f.meaning is Meaning.ENUM:
                self.items.append((i, f, frozenset(int(v) for v in f.enum)))
            elif f.meaning is Meaning.FLAGS:
                mask = 0
                for v in f.enum:
                    mask |= int(v)
                self.items.append((i, f, ~mask))
            elif f.meaning is Meaning.BOOL:
                self.items.append((i, f, frozenset((0, 1))))
            elif f.wire is F32:
                self.items.append((i, f, None))

        # Fast-path views of the same checks (the hot path); a failure re-runs the full loop
        # below so the error names the first bad field, in field order.
        self.sets = tuple((i, a) for i, f, a in self.items if isinstance(a, frozenset))
        self.masks = tuple((i, a) for i, f, a in self.items if isinstance(a, int))
        self.floats = tuple(i for i, f, a in self.items if a is None)

    def run(self, values: tuple, where: str) -> None:
        for i, allowed in self.sets:
            if values[i] not in allowed:
                return self._explain(values, where)
        for i, mask in self.masks:
            if values[i] & mask:
                return self._explain(values, where)
        for i in self.floats:
            v = values[i]
            if v != v or v == _INF or v == -_INF:
                return self._explain(values, where)

    def _explain(self, values: tuple, where: str) -> None:
        for i, f, allowed in self.items:
            v = values[i]
            if allowed is None:
                if not math.isfinite(v):
                    raise DecodeError(ErrorCode.BAD_ENUM, f"{where}{f.name}: {v} is not a finite number")
            elif f.meaning is Meaning.FLAGS:
                if v & allowed:
                    raise DecodeError(ErrorCode.BAD_ENUM,
                                      f"{where}{f.name}: unknown flag bits {v & allowed:#x} for {f.enum.__name__}")
            elif v not in allowed:
                kind = "bool" if f.meaning is Meaning.BOOL else f.enum.__name__
                raise DecodeError(ErrorCode.BAD_ENUM, f"{where}{f.name}: {v} is not a valid {kind}")


class StructLayout:
    def __init__(self, spec: StructSpec):
        self.spec = spec
        self.slots, self.size = place_fields(spec.fields)
        self.struct = struct.Struct("<" + "".join(s.field.wire.code for s in self.slots))
        self.value_index = [i for i, s in enumerate(self.slots) if s.field.meaning is not Meaning.PAD]
        self.fields = [self.slots[i].field for i in self.value_index]
        self.cls = dataclasses.make_dataclass(spec.name, [f.name for f in self.fields], frozen=True, slots=True)
        self.checks = _Checks(self.fields)
        self.has_pads = len(self.value_index) != len(self.slots)

    def values_to_wire(self, values: tuple) -> tuple:
        if not self.has_pads:
            return values
        wire = [0] * len(self.slots)
        for i, v in zip(self.value_index, values):
            wire[i] = v
        return tuple(wire)

    def wire_to_values(self, wire: tuple) -> tuple:
        if not self.has_pads:
            return wire
        return tuple(wire[i] for i in self.value_index)


class CommandLayout:
    """Everything derived from one spec entry: struct formats, a dataclass, checks."""

    def __init__(self, command: Command, element: StructLayout | None):
        self.command = command
        self.opcode = command.opcode
        self.name = command.name
        self.slots, self.fixed_size = place_fields(command.fields)
        self.struct = struct.Struct("<HHIQ" + "".join(s.field.wire.code for s in self.slots))
        self.value_index = [i for i, s in enumerate(self.slots) if s.field.meaning is not Meaning.PAD]
        self.fields = [self.slots[i].field for i in self.value_index]
        self.element = element
        names = [f.name for f in self.fields]
        self.count_index = -1
        self.array_attr = ""
        if element is not None:
            counts = [i for i, f in enumerate(self.fields) if f.meaning is Meaning.COUNT]
            assert len(counts) == 1, f"{command.name}: an array needs exactly one count field"
            self.count_index = counts[0]
            self.count_field = self.fields[self.count_index]
            self.array_attr = array_attr(self.count_field)
            names.append(self.array_attr)
        self.cls = dataclasses.make_dataclass(_camel(command.name), names, frozen=True, slots=True)
        self.cls.OPCODE = command.opcode
        self.checks = _Checks(self.fields)
        self.has_pads = len(self.value_index) != len(self.slots)
        self.fixed_record_size = align(HEADER_SIZE + self.fixed_size, RECORD_ALIGN)

    def record_size(self, element_count: int = 0) -> int:
        body = self.fixed_size + (element_count * self.element.size if self.element else 0)
        return align(HEADER_SIZE + body, RECORD_ALIGN)

    def pack_into(self, buf, offset: int, seq: int, values: tuple, elements: list[tuple] | None = None) -> int:
        """Write one record at `offset`; `values` are the fixed fields (count included)."""
        n = len(elements) if elements else 0
        size = self.record_size(n)
        wire = values
        if self.has_pads:
            w = [0] * len(self.slots)
            for i, v in zip(self.value_index, values):
                w[i] = v
            wire = w
        self.struct.pack_into(buf, offset, self.opcode, 0, size, seq, *wire)
        if n:
            el = self.element
            pos = offset + HEADER_SIZE + self.fixed_size
            for e in elements:
                el.struct.pack_into(buf, pos, *el.values_to_wire(e))
                pos += el.size
        return size

    def encode(self, seq: int, values: tuple, elements: list[tuple] | None = None) -> bytes:
        buf = bytearray(self.record_size(len(elements) if elements else 0))
        self.pack_into(buf, 0, seq, values, elements)
        return bytes(buf)

    def decode_body(self, data, offset: int, size: int, seq: int):
        """Decode and range-check a record whose header was already read."""
        if size < HEADER_SIZE + self.fixed_size:
            raise DecodeError(ErrorCode.SIZE_MISMATCH,
                              f"{self.name}: record is {size} bytes, the fixed part alone needs "
                              f"{self.fixed_record_size}", self.opcode, seq)
        wire = self.struct.unpack_from(data, offset)[4:]
        values = wire if not self.has_pads else tuple(wire[i] for i in self.value_index)
        n = 0
        if self.element is not None:
            n = values[self.count_index]
            limit = self.count_field.limit
            if n > limit:
                raise DecodeError(ErrorCode.COUNT_LIMIT,
                                  f"{self.name}.{self.count_field.name}: {n} exceeds the limit of {limit}",
                                  self.opcode, seq)
        expected = self.record_size(n)
        if size != expected:
            raise DecodeError(ErrorCode.SIZE_MISMATCH,
                              f"{self.name}: record is {size} bytes, expected {expected}"
                              + (f" for {n} elements" if self.element is not None else ""),
                              self.opcode, seq)
        try:
            self.checks.run(values, "")
            if self.element is None:
                return self.cls(*values)
            el = self.element
            items = []
            pos = offset + HEADER_SIZE + self.fixed_size
            for _ in range(n):
                ev = el.wire_to_values(el.struct.unpack_from(data, pos))
                el.checks.run(ev, f"{self.array_attr}[{len(items)}].")
                items.append(el.cls(*ev))
                pos += el.size
            return self.cls(*values, items)
        except DecodeError as e:
            e.opcode, e.seq = self.opcode, seq
            raise


STRUCT_LAYOUTS: dict[str, StructLayout] = {s.name: StructLayout(s) for s in STRUCTS}
LAYOUTS: dict[int, CommandLayout] = {
    c.opcode: CommandLayout(c, STRUCT_LAYOUTS[c.array.name] if c.array else None) for c in COMMANDS
}
BY_NAME: dict[str, CommandLayout] = {l.name: l for l in LAYOUTS.values()}
BY_CLASS: dict[type, CommandLayout] = {l.cls: l for l in LAYOUTS.values()}
PAD_OPCODE = BY_NAME["PAD"].opcode


class Commands:
    """Namespace of the generated command dataclasses: `Commands.Draw(vertex_count=3, ...)`."""


for _layout in LAYOUTS.values():
    setattr(Commands, _layout.cls.__name__, _layout.cls)
for _sl in STRUCT_LAYOUTS.values():
    setattr(Commands, _sl.cls.__name__, _sl.cls)


def encode(cmd: Any, seq: int = 0) -> bytes:
    """Encode a command dataclass into one record."""
    layout = BY_CLASS[type(cmd)]
    values = [getattr(cmd, f.name) for f in layout.fields]
    elements = None
    if layout.element is not None:
        items = getattr(cmd, layout.array_attr)
        values[layout.count_index] = len(items)
        elements = [tuple(getattr(e, f.name) for f in layout.element.fields) for e in items]
    return layout.encode(seq, tuple(values), elements)


def read_header(data, offset: int = 0) -> tuple[int, int, int, int]:
    """(opcode, flags, size, sequence) of the record at offset."""
    return HEADER.unpack_from(data, offset)


def decode(data, offset: int = 0, available: int | None = None) -> tuple[int, Any, int]:
    """Decode the record at offset; returns (sequence, command, record size).

    `available` is how many bytes from offset belong to the stream; a record that claims more
    is truncated.
    """
    if available is None:
        available = len(data) - offset
    if available < HEADER_SIZE:
        raise DecodeError(ErrorCode.TRUNCATED_RECORD, f"{available} bytes left, a record header needs 16")
    opcode, _flags, size, seq = HEADER.unpack_from(data, offset)
    if size < HEADER_SIZE or size % RECORD_ALIGN:
        raise DecodeError(ErrorCode.BAD_FRAMING,
                          f"record size {size} is not a multiple of 16 of at least 16", opcode, seq)
    if size > available:
        raise DecodeError(ErrorCode.TRUNCATED_RECORD,
                          f"record claims {size} bytes but only {available} were published", opcode, seq)
    layout = LAYOUTS.get(opcode)
    if layout is None:
        raise DecodeError(ErrorCode.UNKNOWN_OPCODE, f"unknown opcode {opcode}", opcode, seq)
    if _flags:
        raise DecodeError(ErrorCode.BAD_ENUM, f"record flags {_flags:#x} are reserved and must be 0", opcode, seq)
    if opcode == PAD_OPCODE:
        return seq, None, size
    return seq, layout.decode_body(data, offset, size, seq), size


def iter_stream(data) -> Iterator[tuple[int, Any]]:
    """Decode a whole byte stream of records (PAD records skipped)."""
    offset = 0
    while offset < len(data):
        seq, cmd, size = decode(data, offset)
        offset += size
        if cmd is not None:
            yield seq, cmd
