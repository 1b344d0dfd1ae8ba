"""Field types of the protocol spec.

A field has a wire type (its size and struct code, its C type) and a meaning the host
checks before use: an object id of some kinds, a new id, an enum value, a flag set, one half
of a heap range, or the count of a trailing array. Encoders, decoders, the C header and the
protocol page are all derived from these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field as dc_field


@dataclass(frozen=True)
class WireType:
    name: str
    code: str  # struct module code, little-endian standard sizes
    size: int
    c_type: str


U16 = WireType("u16", "H", 2, "uint16_t")
U32 = WireType("u32", "I", 4, "uint32_t")
I32 = WireType("i32", "i", 4, "int32_t")
U64 = WireType("u64", "Q", 8, "uint64_t")
F32 = WireType("f32", "f", 4, "float")


class Meaning(enum.Enum):
    PLAIN = "plain"
    OBJECT = "object"  # id of a live object of one of `kinds`
    NEW_OBJECT = "new_object"  # id the command creates, of kind `kinds[0]`
    ENUM = "enum"  # value of `enum`
    FLAGS = "flags"  # bit set of `enum`
    BOOL = "bool"  # 0 or 1
    HEAP_OFFSET = "heap_offset"  # start of a heap range; `pair` names its size field
    HEAP_SIZE = "heap_size"
    COUNT = "count"  # element count of the trailing array, at most `limit`
    PAD = "pad"


@dataclass(frozen=True)
class Field:
    name: str
    wire: WireType
    doc: str = ""
    meaning: Meaning = Meaning.PLAIN
    kinds: tuple = ()
    optional: bool = False  # OBJECT: 0 means "none"
    enum: type | None = None
    pair: str = ""  # HEAP_OFFSET -> its size field; HEAP_SIZE -> range name
    limit: int = 0  # COUNT: the most elements allowed


@dataclass(frozen=True)
class StructSpec:
    """A fixed-layout record of fields, used as an array element or a control-page entry."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""
    layout: "object" = dc_field(default=None, compare=False)  # filled by codec


def u32(name: str, doc: str = "") -> Field:
    return Field(name, U32, doc)


def i32(name: str, doc: str = "") -> Field:
    return Field(name, I32, doc)


def u64(name: str, doc: str = "") -> Field:
    return Field(name, U64, doc)


def f32(name: str, doc: str = "") -> Field:
    return Field(name, F32, doc)


def boolean(name: str, doc: str = "") -> Field:
    return Field(name, U32, doc, Meaning.BOOL)


def obj(name: str, *kinds, optional: bool = False, doc: str = "") -> Field:
    return Field(name, U32, doc, Meaning.OBJECT, kinds=tuple(kinds), optional=optional)


def new_obj(name: str, kind, doc: str = "") -> Field:
    return Field(name, U32, doc, Meaning.NEW_OBJECT, kinds=(kind,))


def enum_field(name: str, enum_type: type, doc: str = "") -> Field:
    return Field(name, U32, doc, Meaning.ENUM, enum=enum_type)


def flags_field(name: str, enum_type: type, doc: str = "") -> Field:
    return Field(name, U32, doc, Meaning.FLAGS, enum=enum_type)


def heap_range(name: str, doc: str = "") -> tuple[Field, Field]:
    """Two fields, `<name>_offset` and `<name>_size`: a byte range of the shared heap."""
    return (
        Field(f"{name}_offset", U64, doc or f"heap offset of {name}", Meaning.HEAP_OFFSET, pair=f"{name}_size"),
        Field(f"{name}_size", U64, f"byte size of {name} (0: none)", Meaning.HEAP_SIZE, pair=name),
    )


def count(name: str, limit: int, doc: str = "") -> Field:
    return Field(name, U32, doc or f"number of array elements (at most {limit})", Meaning.COUNT, limit=limit)
