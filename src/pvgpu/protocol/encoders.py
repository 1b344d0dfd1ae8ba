"""Positional record encoders generated from the spec (sans-IO; the guest's hot path).

For every command one `RecordEncoder` holds what encoding needs, all derived from the
command's `codec.CommandLayout` (so from its spec entry, never written by hand):

- one `struct.Struct` for the whole record: the 16-byte header, the fixed fields, pads as
  zero bytes (`4x`, so no value is passed for them) and the tail up to the 16-byte record
  alignment; for a command with a trailing array, one such Struct per element count (built on
  first use, kept for counts up to the spec's limit);
- `pack(buf, offset, seq, *fields[, elements])`: a function generated per command that writes
  the record with a single `pack_into` and returns its size. The fields come positionally in
  spec order without the count field; `elements` is one flat sequence of element field values
  (an element's fields in spec order, element after element), the count is its length divided
  by the element's field count.

The bytes are exactly `codec`'s (`CommandLayout.pack_into`, `codec.encode`), except that the
record's alignment tail is written as zeros where `pack_into` leaves whatever was there; the
decoder never reads those bytes. The guest's ring emitters (pvgpu.guest.connection) are built
from the same `RecordEncoder`s.
"""

from __future__ import annotations

import keyword
import linecache
import struct

from .codec import HEADER, HEADER_SIZE, LAYOUTS, CommandLayout, StructLayout
from .types import Meaning

_HEADER_CODES = HEADER.format  # "<HHIQ": opcode, flags, size, sequence


def _codes(slots) -> str:
    """struct codes of placed fields, pads as zero bytes."""
    return "".join(f"{s.field.wire.size}x" if s.field.meaning is Meaning.PAD else s.field.wire.code for s in slots)


class _StructsByCount(dict):
    """Element count -> record Struct, built on first use; counts above the limit are built
    every time and not kept (the host refuses them, so they are never a hot path)."""

    def __init__(self, encoder: "RecordEncoder"):
        super().__init__()
        self.encoder = encoder

    def __missing__(self, n: int) -> struct.Struct:
        st = self.encoder.struct_for(n)
        if 0 <= n <= self.encoder.limit:
            self[n] = st
        return st


class RecordEncoder:
    """Everything the positional encoders of one command need."""

    def __init__(self, layout: CommandLayout):
        self.layout = layout
        self.name = layout.name
        self.opcode = layout.opcode
        #: the generated guest method's name, e.g. "emit_draw"
        self.method = "emit_" + layout.name.lower()
        self.element: StructLayout | None = layout.element
        self.count_index = layout.count_index if layout.element is not None else -1
        #: positional parameters in spec order, the count field left out
        self.params = tuple(f.name for i, f in enumerate(layout.fields) if i != self.count_index)
        for p in self.params:  # generated code names its own variables with a leading underscore
            assert not p.startswith("_") and not keyword.iskeyword(p) and p != "elements", \
                f"{layout.name}.{p}: not usable as a generated parameter name"
        self._fixed_codes = _HEADER_CODES + _codes(layout.slots)
        if layout.element is not None:
            self._element_codes = _codes(layout.element.slots)
            self.element_width = len(layout.element.fields)  # values per element
            self.limit = layout.count_field.limit
            self.structs = _StructsByCount(self)
            self.struct = None
            self.size = None
        else:
            self._element_codes = ""
            self.element_width = 0
            self.limit = 0
            self.structs = None
            self.struct = self.struct_for(0)
            self.size = self.struct.size  # the record size of a fixed-size command
        self.pack = _make_pack(self)

    @property
    def fixed(self) -> bool:
        return self.element is None

    def struct_for(self, n: int) -> struct.Struct:
        """The Struct of a whole record with `n` array elements (header and tail included)."""
        fmt = self._fixed_codes + self._element_codes * n
        size = self.layout.record_size(n)
        tail = size - struct.calcsize(fmt)
        if tail:
            fmt += f"{tail}x"
        st = struct.Struct(fmt)
        assert st.size == size and size >= HEADER_SIZE
        return st

    def record_size(self, n: int = 0) -> int:
        return self.layout.record_size(n)

    def element_count(self, elements) -> int:
        """How many elements a flat value sequence holds (ValueError when it is not whole)."""
        n, rest = divmod(len(elements), self.element_width)
        if rest:
            raise ValueError(f"{self.name}: {len(elements)} element values are not a whole number of "
                             f"{self.element_width}-value elements")
        return n

    def header_args(self) -> str:
        """Source of the constant header arguments of a fixed-size record: opcode, flags, size."""
        return f"{self.opcode}, 0, {self.size}"

    def count_source(self, flat: str) -> str:
        """Source of an expression: the element count of the flat value sequence `flat`."""
        if self.element_width == 1:
            return f"len({flat})"
        return f"_count_{self.opcode}({flat})"

    def pack_args(self, n: str, flat: str) -> str:
        """Source of the field arguments after the header: the fields in spec order with the
        count `n` in its place, then the flat elements."""
        args = list(self.params)
        if self.element is not None:
            args.insert(self.count_index, n)
            args.append(f"*{flat}")
        return ", ".join(args)


def _make_pack(enc: RecordEncoder):
    """Generate `pack(buf, offset, seq, *fields[, elements]) -> record size` for one command."""
    ns: dict = {}
    params = ", ".join(("_buf", "_offset", "_seq") + enc.params + (("elements",) if enc.element is not None else ()))
    name = "pack_" + enc.name.lower()
    if enc.fixed:
        ns["_pack_into"] = enc.struct.pack_into
        src = (f"def {name}({params}):\n"
               f"    _pack_into(_buf, _offset, {enc.header_args()}, _seq, {enc.pack_args('', '')})\n"
               f"    return {enc.size}\n")
    else:
        ns["_structs"] = enc.structs
        ns[f"_count_{enc.opcode}"] = enc.element_count
        src = (f"def {name}({params}):\n"
               f"    _n = {enc.count_source('elements')}\n"
               f"    _st = _structs[_n]\n"
               f"    _size = _st.size\n"
               f"    _st.pack_into(_buf, _offset, {enc.opcode}, 0, _size, _seq, {enc.pack_args('_n', 'elements')})\n"
               f"    return _size\n")
    filename = f"<pvgpu encoder {enc.name}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)  # readable tracebacks
    ns["__name__"] = __name__
    exec(compile(src, filename, "exec"), ns)
    fn = ns[name]
    fn.__doc__ = (f"Write one {enc.name} record at `offset` of `buf`; returns its size. Fields: "
                  f"{', '.join(enc.params) or 'none'}"
                  + (f"; elements: flat {', '.join(f.name for f in enc.element.fields)} values" if enc.element else "")
                  + ".")
    fn.source = src
    return fn


ENCODERS: dict[int, RecordEncoder] = {op: RecordEncoder(layout) for op, layout in LAYOUTS.items()}
BY_NAME: dict[str, RecordEncoder] = {e.name: e for e in ENCODERS.values()}
#: The largest record of a command without a trailing array.
MAX_FIXED_RECORD = max(e.size for e in ENCODERS.values() if e.fixed)
#: The largest record that is either fixed-size or an array command's with one element: the
#: sizes the guest's emitters know when they are generated.
MAX_SHORT_RECORD = max([MAX_FIXED_RECORD] + [e.record_size(1) for e in ENCODERS.values() if not e.fixed])


def pack(name: str, buf, offset: int, seq: int, *fields, elements=None) -> int:
    """Convenience front of the generated packers (not for hot loops)."""
    enc = BY_NAME[name]
    if enc.fixed:
        return enc.pack(buf, offset, seq, *fields)
    return enc.pack(buf, offset, seq, *fields, () if elements is None else elements)


def encode(name: str, seq: int, *fields, elements=None) -> bytes:
    """One record as bytes (what `codec.encode` gives for the same command)."""
    enc = BY_NAME[name]
    n = 0 if enc.fixed else enc.element_count(() if elements is None else elements)
    buf = bytearray(enc.record_size(n))
    pack(name, buf, 0, seq, *fields, elements=elements)
    return bytes(buf)
