"""The C header `pvgpu_protocol.h`, generated from the spec.

Structs are written from codec's slot lists (explicit `_padN` members included), and every
size and offset gets a static assertion, so a C guest driver and the Python codec agree on
the wire layout by construction: if they ever drift, the header stops compiling. The header
is valid C11 and C++17 (`PVGPU_STATIC_ASSERT` is `_Static_assert` or `static_assert`, and
the declarations sit in `extern "C"`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from . import enums, layout, spec
from .codec import HEADER_SIZE, LAYOUTS, RECORD_ALIGN, STRUCT_LAYOUTS, CommandLayout, Slot
from .types import Field, Meaning

#: Enums the control page and the error log use; the rest are found through Field.enum.
EXTRA_ENUMS: tuple[type[enum.Enum], ...] = (
    enums.ObjectKind, enums.ErrorCode, enums.DeviceStatus, enums.GuestState, enums.Feature,
    enums.MapType, enums.DxgiFormat, enums.FormatSupport, enums.QueryType,
)


def upper_snake(name: str) -> str:
    """`DxgiFormat` -> `DXGI_FORMAT`, `CREATE_TEXTURE2D` stays as it is."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def used_enums() -> list[type[enum.Enum]]:
    """Every enum the spec's fields name plus EXTRA_ENUMS, in enums.py's definition order."""
    found: set[type[enum.Enum]] = set(EXTRA_ENUMS)
    for fields in [c.fields for c in spec.COMMANDS] + [s.fields for s in spec.STRUCTS]:
        found.update(f.enum for f in fields if f.enum is not None)
    order = [v for v in vars(enums).values() if isinstance(v, type)]
    return sorted(found, key=lambda e: (order.index(e) if e in order else len(order), e.__name__))


#: Control fields that are arrays of entries rather than one value of their wire type:
#: name -> (element struct, C name of the length, length).
CONTROL_ARRAYS: dict[str, tuple[str, str, int]] = {
    "error_log": ("PvgpuErrorEntry", "PVGPU_ERROR_LOG_ENTRIES", layout.ERROR_LOG_ENTRIES),
    "display_modes": ("PvgpuDisplayMode", "PVGPU_MAX_DISPLAY_MODES", layout.MAX_DISPLAY_MODES),
    "format_support": ("uint16_t", "PVGPU_FORMAT_TABLE_ENTRIES", layout.FORMAT_TABLE_ENTRIES),
}


def control_c_type(field: layout.ControlField, numeric: bool = False) -> str:
    """C type of a control field; arrays as `Struct[LENGTH_NAME]` (or `Struct[32]` if numeric)."""
    if field.name not in CONTROL_ARRAYS:
        return field.wire.c_type
    struct_name, length_name, length = CONTROL_ARRAYS[field.name]
    return f"{struct_name}[{length if numeric else length_name}]"


def c_struct_name(name: str) -> str:
    return f"Pvgpu{name}"


def c_command_name(cmd: CommandLayout) -> str:
    return f"PvgpuCmd{cmd.cls.__name__}"


def _comment(text: str) -> str:
    """Text made safe inside a /* */ comment (no terminator, no trigraphs)."""
    return text.replace("*/", "* /").replace("??", "? ?")


class _Writer:
    """Collects lines; refuses to #define one name twice, so name clashes fail loudly."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.defined: set[str] = set()

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def define(self, name: str, value: str, doc: str = "") -> None:
        if name in self.defined:
            raise ValueError(f"C header: {name} would be defined twice")
        self.defined.add(name)
        self.line(f"#define {name} {value}" + (f"  /* {_comment(doc)} */" if doc else ""))

    def struct(self, name: str, members: Iterable[tuple[str, str, int, str]], size: int,
               doc: str = "", trailer: str = "") -> None:
        """members: (C type, member name with any array suffix, offset, doc)."""
        members = list(members)
        if doc:
            self.line(f"/* {_comment(doc)} */")
        self.line(f"typedef struct {name} {{")
        for c_type, member, _offset, mdoc in members:
            self.line(f"    {c_type} {member};" + (f"  /* {_comment(mdoc)} */" if mdoc else ""))
        if trailer:
            self.line(f"    /* {_comment(trailer)} */")
        self.line(f"}} {name};")
        self.line(f'PVGPU_STATIC_ASSERT(sizeof({name}) == {size}, "{name} must be {size} bytes");')
        for _c_type, member, offset, _doc in members:
            field = member.split("[")[0]
            self.line(f'PVGPU_STATIC_ASSERT(offsetof({name}, {field}) == {offset}, '
                      f'"{name}.{field} must be at offset {offset}");')
        self.line()


def _member_doc(f: Field) -> str:
    """A short note in C terms (which PVGPU_* names apply), then the field's own doc."""
    m = f.meaning
    kinds = " or ".join(k.name for k in f.kinds)
    if m is Meaning.OBJECT:
        note = "any object id" if set(f.kinds) == set(enums.ObjectKind) else f"id of a {kinds}"
        note += " (0: none)" if f.optional else ""
    elif m is Meaning.NEW_OBJECT:
        note = f"new {kinds} id"
    elif m is Meaning.ENUM:
        note = f"PVGPU_{upper_snake(f.enum.__name__)}_*"
    elif m is Meaning.FLAGS:
        note = (f"PVGPU_{upper_snake(f.enum.__name__)}_* bits" if list(f.enum)
                else f"0 (no {f.enum.__name__} bits are defined yet)")
    elif m is Meaning.BOOL:
        note = "0 or 1"
    elif m is Meaning.PAD:
        note = "padding, write 0"
    else:
        note = ""
    return "; ".join(x for x in (note, f.doc) if x)


def _slot_members(slots: list[Slot]) -> list[tuple[str, str, int, str]]:
    return [(s.field.wire.c_type, s.field.name, s.offset, _member_doc(s.field)) for s in slots]


def _hex(value: int) -> str:
    return f"0x{value:08X}u" if value <= 0xFFFFFFFF else f"0x{value:016X}ULL"


def _enums(w: _Writer) -> None:
    w.line("/* ---- enumerations (values are Direct3D 11's and DXGI's where they exist) ---- */")
    w.line()
    for e in used_enums():
        prefix = f"PVGPU_{upper_snake(e.__name__)}"
        members = list(e)
        if not members:
            w.line(f"/* {e.__name__}: no values are defined yet; send 0. */")
            w.line()
            continue
        w.line(f"/* {e.__name__}{' (flags)' if issubclass(e, enum.Flag) else ''} */")
        for m in members:
            value = _hex(int(m)) if issubclass(e, enum.Flag) else f"{int(m)}u"
            w.define(f"{prefix}_{m.name}", value)
        w.line()


def _control(w: _Writer) -> None:
    w.line("/* ---- control page (the first PVGPU_CONTROL_PAGE_SIZE bytes of the region) ---- */")
    w.line()
    w.define("PVGPU_CACHE_LINE", f"{layout.CACHE_LINE}u")
    w.define("PVGPU_ERROR_LOG_ENTRIES", f"{layout.ERROR_LOG_ENTRIES}u")
    w.define("PVGPU_ERROR_DETAIL_BYTES", f"{layout.ERROR_DETAIL_BYTES}u")
    w.define("PVGPU_MAX_DISPLAY_MODES", f"{layout.MAX_DISPLAY_MODES}u")
    w.define("PVGPU_FORMAT_TABLE_ENTRIES", f"{layout.FORMAT_TABLE_ENTRIES}u")
    w.line()
    for f in layout.CONTROL_FIELDS:
        w.define(f"PVGPU_CTRL_{f.name.upper()}_OFFSET", f"{f.offset}u", f"{control_c_type(f)}: {f.doc}")
    w.line()
    w.struct("PvgpuErrorEntry", [
        ("uint32_t", "code", 0, "PVGPU_ERROR_CODE_*"),
        ("uint32_t", "opcode", 4, "opcode of the rejected record"),
        ("uint64_t", "sequence", 8, "sequence number of the rejected record"),
        ("char", "detail[PVGPU_ERROR_DETAIL_BYTES]", 16, "UTF-8, NUL padded, not always NUL terminated"),
    ], layout.ERROR_ENTRY_SIZE, "Entry i of the error log is at PVGPU_CTRL_ERROR_LOG_OFFSET + "
       "(i % PVGPU_ERROR_LOG_ENTRIES) * sizeof(PvgpuErrorEntry).")
    w.struct("PvgpuDisplayMode", [
        ("uint32_t", "width", 0, ""),
        ("uint32_t", "height", 4, ""),
        ("uint32_t", "refresh_millihertz", 8, "refresh rate in millihertz"),
    ], layout.DISPLAY_MODE.size, "Entry i is at PVGPU_CTRL_DISPLAY_MODES_OFFSET + i * sizeof(PvgpuDisplayMode).")


def generate_c_header() -> str:
    """The text of include/pvgpu_protocol.h (ends with a newline)."""
    w = _Writer()
    w.line("/* pvgpu_protocol.h: wire format of the pvgpu paravirtual GPU protocol.")
    w.line(" *")
    w.line(" * Generated by pvgpu from its protocol spec; do not edit.")
    w.line(" * Regenerate with: pvgpu header > include/pvgpu_protocol.h")
    w.line(" *")
    w.line(" * All values are little-endian. A record is a PvgpuRecordHeader, the command's")
    w.line(" * payload struct, then its trailing array elements if it has one, zero padded to a")
    w.line(" * multiple of PVGPU_RECORD_ALIGN bytes; header.size is that padded size, exactly. */")
    w.line("#ifndef PVGPU_PROTOCOL_H")
    w.line("#define PVGPU_PROTOCOL_H")
    w.line()
    w.line("#include <stddef.h>")
    w.line("#include <stdint.h>")
    w.line()
    w.line("#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__")
    w.line('#error "pvgpu_protocol.h: the structs below are only the wire format on little-endian targets"')
    w.line("#endif")
    w.line()
    w.line("#ifdef __cplusplus")
    w.line("#define PVGPU_STATIC_ASSERT(condition, message) static_assert(condition, message)")
    w.line('extern "C" {')
    w.line("#else")
    w.line("#define PVGPU_STATIC_ASSERT(condition, message) _Static_assert(condition, message)")
    w.line("#endif")
    w.line()
    w.line('PVGPU_STATIC_ASSERT(sizeof(float) == 4, "pvgpu needs a 32-bit float");')
    w.line()
    w.define("PVGPU_PROTOCOL_MAJOR", f"{spec.PROTOCOL_MAJOR}u")
    w.define("PVGPU_PROTOCOL_MINOR", f"{spec.PROTOCOL_MINOR}u")
    w.define("PVGPU_MAGIC", f"0x{layout.MAGIC:016X}ULL", "'PVGPU\\0\\1\\0' read as a little-endian uint64_t")
    w.define("PVGPU_CONTROL_PAGE_SIZE", f"{layout.CONTROL_PAGE_SIZE}u")
    w.define("PVGPU_RECORD_ALIGN", f"{RECORD_ALIGN}u")
    w.define("PVGPU_RECORD_HEADER_SIZE", f"{HEADER_SIZE}u")
    for name, value in vars(spec).items():
        if name.startswith("MAX_") and isinstance(value, int):
            w.define(f"PVGPU_{name}", f"{value}u")
    w.define("PVGPU_APPEND_ALIGNED_ELEMENT", _hex(spec.APPEND_ALIGNED_ELEMENT),
             "InputElement.aligned_byte_offset: right after the previous element")
    w.line()

    _enums(w)

    w.line("/* ---- records ---- */")
    w.line()
    w.struct("PvgpuRecordHeader", [
        ("uint16_t", "opcode", 0, "PVGPU_OP_*"),
        ("uint16_t", "flags", 2, "0"),
        ("uint32_t", "size", 4, "whole record in bytes, header included, a multiple of 16"),
        ("uint64_t", "sequence", 8, "guest's sequence number, echoed in the error log"),
    ], HEADER_SIZE)
    w.line("/* Size of a record whose payload (fixed part plus array elements) is payload_bytes. */")
    w.line("static inline uint32_t pvgpu_record_size(uint32_t payload_bytes)")
    w.line("{")
    w.line("    return (PVGPU_RECORD_HEADER_SIZE + payload_bytes + (PVGPU_RECORD_ALIGN - 1u)) "
           "& ~(uint32_t)(PVGPU_RECORD_ALIGN - 1u);")
    w.line("}")
    w.line()
    for cmd in LAYOUTS.values():
        w.define(f"PVGPU_OP_{cmd.name}", f"{cmd.opcode}u", cmd.command.doc)
    w.line()

    w.line("/* ---- array elements ---- */")
    w.line()
    for sl in STRUCT_LAYOUTS.values():
        w.struct(c_struct_name(sl.spec.name), _slot_members(sl.slots), sl.size, sl.spec.doc)

    w.line("/* ---- command payloads (they follow the PvgpuRecordHeader) ---- */")
    w.line()
    for cmd in LAYOUTS.values():
        if not cmd.slots:
            w.line(f"/* PVGPU_OP_{cmd.name}: no payload. {_comment(cmd.command.doc)} */")
            w.line()
            continue
        trailer = ""
        if cmd.element is not None:
            element = c_struct_name(cmd.element.spec.name)
            trailer = (f"followed by {cmd.count_field.name} {element} elements "
                       f"(PVGPU_{cmd.name}_ELEMENT_SIZE bytes each)")
            w.define(f"PVGPU_{cmd.name}_ELEMENT_SIZE", f"{cmd.element.size}u", element)
        w.struct(c_command_name(cmd), _slot_members(cmd.slots), cmd.fixed_size,
                 f"PVGPU_OP_{cmd.name}: {cmd.command.doc}", trailer)

    _control(w)
    w.line("#ifdef __cplusplus")
    w.line('} /* extern "C" */')
    w.line("#endif")
    w.line()
    w.line("#endif /* PVGPU_PROTOCOL_H */")
    return "\n".join(w.lines) + "\n"
