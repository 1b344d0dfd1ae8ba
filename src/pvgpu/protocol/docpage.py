"""The protocol reference page `docs/protocol.md`, generated from the spec."""

from __future__ import annotations

import enum

from . import layout, spec
from . import bindings
from .bindings import (CB_BINDING_BASE, SAMPLER_BINDING_BASE, SRV_BINDING_BASE, UAV_BINDING_BASE,
                       UAV_COUNTER_BINDING_BASE)
from .cheader import c_command_name, c_struct_name, control_c_type, used_enums
from .codec import HEADER_SIZE, LAYOUTS, RECORD_ALIGN, STRUCT_LAYOUTS, Slot
from .enums import ErrorCode, ObjectKind, ShaderStage
from .types import Field, Meaning, count, heap_range

#: What each error code means; the test keeps this complete.
ERROR_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_OPCODE: "The record's opcode names no command.",
    ErrorCode.TRUNCATED_RECORD: "The record claims more bytes than the guest has published.",
    ErrorCode.SIZE_MISMATCH: "The record's size is not exactly what its opcode and element count need.",
    ErrorCode.HEAP_RANGE: "A heap range does not lie inside the heap.",
    ErrorCode.WRONG_KIND: "An id names a live object of a kind the field does not accept.",
    ErrorCode.DEAD_ID: "An id names no live object.",
    ErrorCode.BAD_ENUM: "An enum, flag or bool field holds a value outside its set.",
    ErrorCode.COUNT_LIMIT: "An element count is above its limit.",
    ErrorCode.ID_IN_USE: "A command that creates an object names an id that is already live.",
    ErrorCode.QUOTA: "The host's limit on this guest's objects or memory was reached.",
    ErrorCode.INVALID_CALL: "The command is well formed but breaks a Direct3D 11 usage rule.",
    ErrorCode.UNSUPPORTED: "The command asks for something this host does not support.",
    ErrorCode.HOST_GPU_ERROR: "The host's GPU API reported an error while executing the command.",
    ErrorCode.BAD_FRAMING: f"The record's size is below {HEADER_SIZE} or not a multiple of {RECORD_ALIGN}.",
    ErrorCode.VERSION: "The guest's protocol major version is not the host's.",
    ErrorCode.DEVICE_LOST: "The host has put the device in the lost state (`device_status` is `LOST`).",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _enum_link(e: type[enum.Enum]) -> str:
    return f"[`{e.__name__}`](#{e.__name__.lower()})"


def _meaning(f: Field, element: str = "") -> str:
    """What a field must hold, in words, followed by its doc unless the doc says the same."""
    m = f.meaning
    kinds = " or ".join(f"`{k.name}`" for k in f.kinds)
    doc = f.doc
    if m is Meaning.OBJECT:
        note = ("id of a live object of any kind" if set(f.kinds) == set(ObjectKind)
                else f"id of a live {kinds}") + (", or 0 for none" if f.optional else "")
    elif m is Meaning.NEW_OBJECT:
        note = f"id for the new {kinds}; must not be live"
    elif m is Meaning.ENUM:
        note = f"one of {_enum_link(f.enum)}"
    elif m is Meaning.FLAGS:
        note = (f"{_enum_link(f.enum)} bits" if list(f.enum)
                else f"0 (no {_enum_link(f.enum)} bits are defined yet)")
    elif m is Meaning.BOOL:
        note = "0 or 1"
    elif m is Meaning.HEAP_OFFSET:
        name = f.pair.removesuffix("_size")
        note = f"heap range `{name}`: byte offset into the heap (its size is `{f.pair}`)"
        doc = "" if doc == heap_range(name)[0].doc else doc
    elif m is Meaning.HEAP_SIZE:
        note = f"heap range `{f.pair}`: byte size, 0 for none"
        doc = "" if doc == heap_range(f.pair)[1].doc else doc
    elif m is Meaning.COUNT:
        note = f"number of trailing {element} elements, at most {f.limit}"
        doc = "" if doc == count(f.name, f.limit).doc else doc
    elif m is Meaning.PAD:
        note = "padding; write 0"
    else:
        note = ""
    return ". ".join(x for x in (note, doc) if x)


def _field_rows(slots: list[Slot], element: str = "") -> list[tuple[str, ...]]:
    return [(str(s.offset), f"`{s.field.name}`", f"`{s.field.wire.c_type}`", _meaning(s.field, element))
            for s in slots]


FIELD_HEADER = ("Offset", "Field", "C type", "Meaning")


def _overview() -> list[str]:
    pad = spec.BY_NAME["PAD"]
    return [
        "## Records",
        "",
        "The guest writes records into the command ring; the host decodes and executes them in",
        "order. All values are little-endian. A record is:",
        "",
        f"1. a {HEADER_SIZE}-byte header (`PvgpuRecordHeader`),",
        "2. the command's fixed payload (`PvgpuCmd<Name>`), whose fields are naturally aligned with",
        "   explicit `_padN` fields (`uint64_t` fields sit at multiples of 8),",
        "3. for commands with a trailing array, `count` elements of the array's struct,",
        f"4. zero bytes up to the next multiple of {RECORD_ALIGN}.",
        "",
        *_table(("Offset", "Field", "C type", "Meaning"), [
            ("0", "`opcode`", "`uint16_t`", "the command, see below"),
            ("2", "`flags`", "`uint16_t`", "0"),
            ("4", "`size`", "`uint32_t`", f"bytes in the whole record, header included; a multiple of {RECORD_ALIGN}"),
            ("8", "`sequence`", "`uint64_t`", "the guest's number for the record, echoed in the error log"),
        ]),
        f"`size` is exact: it must equal `{HEADER_SIZE} + payload + count * element size` rounded up to",
        f"{RECORD_ALIGN}, or the record is rejected (`SIZE_MISMATCH`, or `BAD_FRAMING` if it is not a",
        f"multiple of {RECORD_ALIGN} of at least {HEADER_SIZE}). Records never wrap around the end of the",
        f"ring: a `PAD` record (opcode {pad.opcode}) whose `size` covers the rest of the ring fills the tail,",
        "and the host skips it.",
        "",
        "Offsets in the field tables below are from the start of the payload, i.e. byte",
        f"{HEADER_SIZE} of the record. Before executing a record the host checks that opcode and size",
        "are valid, enum, flag and bool fields hold defined values, counts are within their limits,",
        "ids name live objects of the kinds the field accepts, and heap ranges lie inside the heap.",
        "The C header `include/pvgpu_protocol.h` declares the same structs with static asserts on",
        "every size and offset.",
        "",
    ]


def _commands() -> list[str]:
    pad = spec.BY_NAME["PAD"]
    out = ["## Commands", ""]
    out += _table(("Opcode", "Command", "Payload bytes", "Trailing array"), [
        (str(c.opcode), f"[`{c.name}`](#{c.name.lower()})", str(c.fixed_size),
         f"[`{c.element.spec.name}`](#{c.element.spec.name.lower()})" if c.element else "")
        for c in LAYOUTS.values()])
    for c in LAYOUTS.values():
        predicated = " Skipped while a SET_PREDICATION predicate holds." if c.command.predicated else ""
        out += [f"### {c.name}", "", f"Opcode {c.opcode}. {c.command.doc}{predicated}", ""]
        if c.opcode == pad.opcode:
            out += [f"No payload struct: `size` (any multiple of {RECORD_ALIGN}, at least {HEADER_SIZE}) says how many "
                    "bytes to skip; the bytes after the header are ignored.", ""]
            continue
        if not c.slots:
            out += [f"No payload: the record is the {HEADER_SIZE}-byte header alone.", ""]
            continue
        element = f"[`{c.element.spec.name}`](#{c.element.spec.name.lower()})" if c.element else ""
        out += [f"Payload: {c.fixed_size} bytes, `{c_command_name(c)}`."
                + (f" Followed by `{c.count_field.name}` {element} elements of {c.element.size} bytes."
                   if c.element else f" Record size: {c.fixed_record_size} bytes."), ""]
        out += _table(FIELD_HEADER, _field_rows(c.slots, element))
    return out


def _elements() -> list[str]:
    out = ["## Array elements and results", ""]
    for sl in STRUCT_LAYOUTS.values():
        users = ", ".join(f"`{c.name}`" for c in LAYOUTS.values() if c.element is sl)
        out += [f"### {sl.spec.name}", "",
                f"`{c_struct_name(sl.spec.name)}`, {sl.size} bytes"
                + (f"; {sl.spec.doc}" if sl.spec.doc else "") + (f". Used by {users}." if users else "."), ""]
        out += _table(FIELD_HEADER, _field_rows(sl.slots))
    return out


def _enums() -> list[str]:
    out = ["## Enumerations", "",
           "Values are Direct3D 11's and DXGI's where they exist. In C they are",
           "`PVGPU_<ENUM>_<MEMBER>`, e.g. `PVGPU_BIND_FLAG_VERTEX_BUFFER`.", ""]
    all_fields = [(c.name, f) for c in spec.COMMANDS for f in c.fields]
    all_fields += [(s.name, f) for s in spec.STRUCTS for f in s.fields]
    for e in used_enums():
        flags = issubclass(e, enum.Flag)
        users = ", ".join(f"`{owner}.{f.name}`" for owner, f in all_fields if f.enum is e)
        out += [f"### {e.__name__}", ""]
        doc = " ".join((e.__doc__ or "").split())
        lines = [x for x in (doc, "Flag bits: a value is any OR of these." if flags else "",
                             f"Used by {users}." if users else "") if x]
        out += ([" ".join(lines), ""] if lines else [])
        if not list(e):
            out += ["No values are defined yet: send 0.", ""]
            continue
        out += _table(("Name", "Value"), [(f"`{m.name}`", f"0x{int(m):X}" if flags else str(int(m))) for m in e])
    return out


def _control_page() -> list[str]:
    out = ["## Control page", "",
           f"The first {layout.CONTROL_PAGE_SIZE} bytes of the shared region. Positions and fence values sit on",
           f"{layout.CACHE_LINE}-byte lines of their own. The magic is `0x{layout.MAGIC:016X}`; the host",
           "writes it last, so a guest that sees it sees a complete page.", ""]
    out += _table(("Offset", "Field", "Type", "Meaning"), [
        (str(f.offset), f"`{f.name}`", f"`{control_c_type(f, numeric=True)}`", f.doc) for f in layout.CONTROL_FIELDS])
    out += [f"`PvgpuDisplayMode`, {layout.DISPLAY_MODE.size} bytes: `width`, `height`, "
            "`refresh_millihertz` (each `uint32_t`).", ""]
    return out


def _errors() -> list[str]:
    out = ["## Errors", "",
           "When the host rejects a record, or executing it fails, it appends an entry to the error log",
           "in the control page. `error_count` counts every error ever logged; entry i is at",
           f"`error_log + (i % {layout.ERROR_LOG_ENTRIES}) * {layout.ERROR_ENTRY_SIZE}`, so the log keeps "
           f"the last {layout.ERROR_LOG_ENTRIES}.", ""]
    out += _table(("Offset", "Field", "C type", "Meaning"), [
        ("0", "`code`", "`uint32_t`", "an error code below"),
        ("4", "`opcode`", "`uint32_t`", "opcode of the rejected record"),
        ("8", "`sequence`", "`uint64_t`", "`sequence` of the rejected record"),
        ("16", "`detail`", f"`char[{layout.ERROR_DETAIL_BYTES}]`",
         "UTF-8 description, NUL padded (not terminated when it fills the field)"),
    ])
    out += _table(("Code", "Name", "Meaning"),
                  [(str(int(c)), f"`{c.name}`", ERROR_MEANINGS.get(c, "")) for c in ErrorCode])
    return out


def _binding_row(what: str, command: str, base: int, n: int) -> tuple[str, ...]:
    return (what, f"`{command}`", f"`@binding({base} + n)`", f"0..{n - 1}", f"{base}..{base + n - 1}")


def _bindings() -> list[str]:
    stages = ", ".join(f"`{s.name}` = {int(s)}" for s in ShaderStage)
    return [
        "## WGSL binding convention", "",
        f"Shaders are WGSL. Resources bound to shader stage S live in `@group(S)` ({stages}); within",
        "the group:", "",
        *_table(("D3D11 slot n of", "Set by", "WGSL binding", "Slots", "Bindings"), [
            _binding_row("constant buffers", "SET_CONSTANT_BUFFERS", CB_BINDING_BASE, spec.MAX_CONSTANT_BUFFERS),
            _binding_row("samplers", "SET_SAMPLERS", SAMPLER_BINDING_BASE, spec.MAX_SAMPLERS),
            _binding_row("shader resources", "SET_SHADER_RESOURCES", SRV_BINDING_BASE, spec.MAX_SHADER_RESOURCES),
            _binding_row("unordered-access views (compute)", "SET_UNORDERED_ACCESS_VIEWS", UAV_BINDING_BASE,
                         spec.MAX_UNORDERED_ACCESS_VIEWS),
            _binding_row("UAV counters (append/consume, counter views)", "SET_UNORDERED_ACCESS_VIEWS",
                         UAV_COUNTER_BINDING_BASE, spec.MAX_UNORDERED_ACCESS_VIEWS),
        ]),
        *" ".join(bindings.__doc__.split("\n\n", 2)[2].split()).replace(". ", ".\n").splitlines(), "",
        "Binding numbers outside these ranges stand for nothing. For example, a pixel shader's",
        "constant buffer 0, sampler 0 and shader resource 0:",
        "",
        "```wgsl",
        f"@group({int(ShaderStage.PIXEL)}) @binding({CB_BINDING_BASE}) var<uniform> params: Params;",
        f"@group({int(ShaderStage.PIXEL)}) @binding({SAMPLER_BINDING_BASE}) var samp: sampler;",
        f"@group({int(ShaderStage.PIXEL)}) @binding({SRV_BINDING_BASE}) var tex: texture_2d<f32>;",
        "```",
        "",
        "Input layout element i (`CREATE_INPUT_LAYOUT`) feeds the vertex shader's `@location(i)`.",
        "A vertex shader must have exactly one `@vertex` entry point, a pixel shader exactly one",
        "`@fragment` entry point and a compute shader exactly one `@compute` entry point.",
        "",
        "`pvgpu.protocol.bindings` has these numbers and `binding_for(kind, slot)` /",
        "`slot_for(binding)`.",
        "",
    ]


def generate_protocol_doc() -> str:
    """The text of docs/protocol.md (ends with a newline)."""
    lines = [
        "# pvgpu protocol reference",
        "",
        "<!-- Generated by pvgpu from src/pvgpu/protocol (spec.py, enums.py, layout.py); do not edit.",
        "     Regenerate with pvgpu.protocol.docpage.generate_protocol_doc(). -->",
        "",
        f"Protocol version {spec.PROTOCOL_MAJOR}.{spec.PROTOCOL_MINOR}.",
        "",
        "A guest driver records Direct3D 11 style commands as binary records in a ring in shared",
        "memory; bulk data (initial contents, uploads, shader code, readbacks) travels through the",
        "shared heap, named by heap ranges.",
        "",
        *_overview(), *_commands(), *_elements(), *_enums(), *_control_page(), *_errors(), *_bindings(),
    ]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
