"""The protocol reference page `docs/protocol.md`: the guest-driver contract.

The page has two kinds of parts. Reference sections (records, commands, field tables, enums,
the control page's fields, error codes, the binding convention) are generated from the spec.
Written sections (region layout, handshake and reset, ring rules and memory ordering, doorbells,
heap, fences, errors, device-lost, ids and quotas, maps, presentation, versioning) are markdown
files in `contract/`, taken in file-name order, in which `{{NAME}}` is replaced by a value from
the code (`contract_values`) and a line `{{>block}}` by a generated table (`BLOCKS`), so the
numbers they state are the code's own.
"""

from __future__ import annotations

import enum
import inspect
import re
from dataclasses import fields as dataclass_fields
from pathlib import Path

from . import layout, spec
from . import bindings
from .bindings import (CB_BINDING_BASE, SAMPLER_BINDING_BASE, SRV_BINDING_BASE, UAV_BINDING_BASE,
                       UAV_COUNTER_BINDING_BASE)
from .cheader import c_command_name, c_struct_name, control_c_type, used_enums
from .codec import HEADER_SIZE, LAYOUTS, PAD_OPCODE, RECORD_ALIGN, STRUCT_LAYOUTS, Slot
from .enums import DeviceStatus, ErrorCode, Feature, GuestState, ObjectKind, ShaderStage
from .types import Field, Meaning, count, heap_range

CONTRACT_DIR = Path(__file__).resolve().parent / "contract"

#: What each error code means; the test keeps this complete.
ERROR_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_OPCODE: "The record's opcode names no command.",
    ErrorCode.TRUNCATED_RECORD: "The record claims more bytes than the guest has published.",
    ErrorCode.SIZE_MISMATCH: "The record's size is not exactly what its opcode and element count need.",
    ErrorCode.HEAP_RANGE: "A heap range does not lie inside the heap.",
    ErrorCode.WRONG_KIND: "An id names a live object of a kind the field does not accept.",
    ErrorCode.DEAD_ID: "An id names no live object.",
    ErrorCode.BAD_ENUM: "An enum, flag or bool field holds a value outside its set, or the record header's `flags` are not 0.",
    ErrorCode.COUNT_LIMIT: "An element count is above its limit.",
    ErrorCode.ID_IN_USE: "A command that creates an object names an id that is already live.",
    ErrorCode.QUOTA: "The host's limit on this guest's objects or memory was reached.",
    ErrorCode.INVALID_CALL: "The command is well formed but breaks a Direct3D 11 usage rule.",
    ErrorCode.UNSUPPORTED: "The command asks for something this host does not support.",
    ErrorCode.HOST_GPU_ERROR: "The host's GPU API reported an error while executing the command.",
    ErrorCode.BAD_FRAMING: (f"The record's size is below {HEADER_SIZE} or not a multiple of {RECORD_ALIGN}, or the ring "
                            "positions are corrupt; the device is lost."),
    ErrorCode.VERSION: "The guest's protocol major version is not the host's.",
    ErrorCode.DEVICE_LOST: "The host has put the device in the lost state (`device_status` is `LOST`).",
}


#: What each feature bit gates and when this host offers it; the test keeps this complete.
FEATURE_MEANINGS: dict[Feature, tuple[str, str]] = {
    Feature.WGSL_SHADERS: ("shader code in WGSL (`ShaderLanguage.WGSL`)", "always"),
    Feature.TEXTURE2D: ("`CREATE_TEXTURE2D` and 2D views", "always"),
    Feature.HEADLESS_PRESENT: ("`PRESENT` to the host's presenters", "always"),
    Feature.INSTANCING: ("per-instance input-layout elements, instanced draws", "always"),
    Feature.ANISOTROPIC_FILTERING: ("`Filter.ANISOTROPIC` and `COMPARISON_ANISOTROPIC` samplers", "always"),
    Feature.FILL_WIREFRAME: ("`FillMode.WIREFRAME` rasterizer states",
                             "when the GPU has wgpu's `polygon-mode-line`"),
    Feature.DEPTH_CLIP_CONTROL: ("rasterizer states with `depth_clip_enable` 0",
                                 "never yet (wgpu-py 0.32 drops unclipped depth)"),
    Feature.TIMESTAMP_QUERIES: ("`TIMESTAMP` queries (`TIMESTAMP_DISJOINT` needs no bit)",
                                "when the GPU has `timestamp-query` and `timestamp-query-inside-encoders`"),
    Feature.COMPUTE_SHADERS: ("compute shaders, `DISPATCH*`, unordered-access views, structured and raw buffers",
                              "always"),
    Feature.TEXTURE1D: ("`CREATE_TEXTURE1D` and 1D views (2D textures of height 1 on the host)", "always"),
    Feature.TEXTURE3D: ("`CREATE_TEXTURE3D` and 3D views", "always"),
    Feature.SHARED_RESOURCES: ("`RESOURCE_MISC_SHARED` textures, `GET_SHARED_HANDLE`, `OPEN_SHARED_RESOURCE`",
                               "always by `pvgpu serve`"),
    Feature.PREDICATION: ("`SET_PREDICATION` (creating `OCCLUSION_PREDICATE` queries needs no bit)", "always"),
    Feature.PIPELINE_STATISTICS_QUERIES: ("`PIPELINE_STATISTICS` queries",
                                          "when the GPU has `pipeline-statistics-query`"),
}

#: Who writes each control-page field (the other side only reads it); the test keeps this complete.
CONTROL_WRITERS: dict[str, str] = {
    "magic": "host, last when formatting (release)",
    "host_version_major": "host", "host_version_minor": "host", "offered_features": "host",
    "requested_features": "guest, before HELLO",
    "accepted_features": "host, before READY",
    "region_size": "host", "ring_offset": "host", "ring_size": "host", "heap_offset": "host", "heap_size": "host",
    "guest_version_major": "guest, before HELLO", "guest_version_minor": "guest, before HELLO",
    "guest_state": "guest (release); zeroed when the host formats the page",
    "device_status": "host (release)",
    "guest_pid": "guest, before HELLO",
    "session_id": "host",
    "ring_producer": "guest (release)",
    "ring_consumer": "host (release)",
    "fence_completed": "host (release)",
    "fence_submitted": "guest (informational)",
    "presented_frames": "host, under frame_stats_sequence",
    "present_refresh_count": "host, under frame_stats_sequence",
    "sync_refresh_count": "host, under frame_stats_sequence",
    "sync_time_ns": "host, under frame_stats_sequence",
    "frame_stats_sequence": "host (seqlock: odd, fields, even with release)",
    "error_count": "host (release, after the entry)",
    "error_log": "host",
    "display_mode_count": "host", "display_mode_chosen": "host",
    "display_modes": "host", "display_fullscreen": "host", "display_refresh": "host",
    "format_support": "host",
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


def _control_fields() -> list[str]:
    return _table(("Offset", "Field", "Type", "Written by", "Meaning"), [
        (str(f.offset), f"`{f.name}`", f"`{control_c_type(f, numeric=True)}`", CONTROL_WRITERS[f.name], f.doc)
        for f in layout.CONTROL_FIELDS])


def _error_entry() -> list[str]:
    return _table(("Offset", "Field", "C type", "Meaning"), [
        ("0", "`code`", "`uint32_t`", "an error code below"),
        ("4", "`opcode`", "`uint32_t`", "opcode of the rejected record (0: none)"),
        ("8", "`sequence`", "`uint64_t`", "`sequence` of the rejected record (0: none)"),
        ("16", "`detail`", f"`char[{layout.ERROR_DETAIL_BYTES}]`",
         "UTF-8 description, NUL padded (not terminated when it fills the field)"),
    ])


def _error_codes() -> list[str]:
    return _table(("Code", "Name", "Meaning"),
                  [(str(int(c)), f"`{c.name}`", ERROR_MEANINGS.get(c, "")) for c in ErrorCode])


def _feature_gates() -> dict[Feature, list[str]]:
    """What the spec says each feature bit gates: whole commands (`Command.feature`) and field
    values (`spec.FEATURE_USES`); empty when the spec does not gate features."""
    gates: dict[Feature, list[str]] = {f: [] for f in Feature}
    for c in spec.COMMANDS:
        feature = getattr(c, "feature", None)
        if feature:
            gates[Feature(feature)].append(f"`{c.name}`")
    for use in getattr(spec, "FEATURE_USES", ()):
        f = use.field_spec
        where = f"`{use.command}.{'elements[].' if use.element else ''}{use.field}`"
        if use.mask:
            names = "|".join(m.name for m in f.enum if int(m) & use.mask)
            gates[Feature(use.feature)].append(f"{where} with {names}")
        else:
            names = " or ".join(f.enum(v).name if f.enum is not None else str(v) for v in sorted(use.values))
            gates[Feature(use.feature)].append(f"{where} = {names}")
    return gates


def _feature_table() -> list[str]:
    gates = _feature_gates()
    enforced = any(gates.values())
    rows = []
    for f in Feature:
        what, offered = FEATURE_MEANINGS[f]
        row = [f"0x{int(f):X}", f"`{f.name}`", what]
        if enforced:
            ungated = getattr(spec, "UNGATED_FEATURES", {}).get(f)
            row.append("; ".join(gates[f]) or (f"nothing: {ungated}" if ungated else "nothing"))
        rows.append(tuple(row + [offered]))
    header = ("Bit", "Name", "Capability") + (("Refused without the bit",) if enforced else ()) + ("Offered",)
    return _table(header, rows)


def _feature_enforcement() -> list[str]:
    if any(_feature_gates().values()):
        return ["A command that uses a capability the session did not accept (the commands and field values",
                "in the table) is refused with `UNSUPPORTED`, the detail naming the feature bit; nothing",
                "else happens and the session goes on.", ""]
    return ["This host version does not refuse commands that use a capability whose bit was not",
            "accepted; a guest must not rely on that.", ""]


def _limits() -> list[str]:
    v = contract_values()
    return _table(("Limit", "Value", "Beyond it"), [
        ("live objects per session (every kind)", v["MAX_OBJECTS"], "`QUOTA`"),
        ("GPU memory per session (see below)", f"{v['MAX_BYTES']} bytes ({v['MAX_BYTES_GIB']} GiB)", "`QUOTA`"),
        ("renamed buffer backings in flight (`MAP_WRITE_DISCARD`)", f"{v['RENAME_BYTES_CAP_MIB']} MiB",
         "the update is written in place after a submit (same result, slower)"),
        ("released memory the host's caches may still reference", f"{v['CACHE_RETAIN_MIB']} MiB",
         "those caches are dropped"),
        ("a frame read back for the host's CPU presenters", f"{v['MAX_FRAME_MIB']} MiB (8K UHD RGBA8 fits), "
         f"at most {v['FRAME_SLOTS']} in flight", "not read back; counted as `frames_too_large`"),
        ("shared textures a session holds (created or opened)", v["MAX_SHARED_SURFACES"], "`COUNT_LIMIT`"),
        ("buffer `byte_width`", f"1..{v['MAX_BUFFER_BYTES']}", "`INVALID_CALL`"),
        ("1D/2D texture width and height", f"1..{v['MAX_TEXTURE_DIM']}", "`INVALID_CALL`"),
        ("3D texture width, height and depth", f"1..{v['MAX_TEXTURE3D_DIM']}", "`INVALID_CALL`"),
        ("texture `array_size`", f"1..{v['MAX_ARRAY_SIZE']}", "`INVALID_CALL`"),
        ("DXBC shader container", f"{v['MAX_DXBC_BYTES']} bytes", "`INVALID_CALL`"),
        ("vertices x instances of one draw", v["MAX_DRAW_INVOCATIONS"], "`COUNT_LIMIT`"),
        ("thread groups of one dispatch (x*y*z)", v["MAX_DISPATCH_GROUPS_TOTAL"], "`COUNT_LIMIT`"),
        ("array element counts of a record", "each command's `count` field says", "`COUNT_LIMIT`"),
        ("one record", f"`ring_size / 2` bytes ({v['MAX_RECORD_DEFAULT']} with the default ring)",
         "cannot be placed (see [Command ring](#command-ring))"),
        ("rejected records in a row / in a session", f"{v['MAX_CONSECUTIVE_ERRORS']} / {v['MAX_TOTAL_ERRORS']}",
         "device lost"),
        ("one wait for the GPU, one shader translation or pipeline compilation (watchdog)", f"{v['WATCHDOG_S']} s (`pvgpu serve --watchdog`)", "device lost"),
        ("sessions one host service serves at once", v["MAX_SESSIONS"], "the connection is closed at once"),
    ])


#: Generated tables the written sections place with a line `{{>name}}`.
BLOCKS = {
    "control_fields": _control_fields, "error_entry": _error_entry, "error_codes": _error_codes,
    "feature_table": _feature_table, "feature_enforcement": _feature_enforcement, "limits": _limits,
}


def _smallest(ok, lo: int, hi: int) -> int:
    """The smallest n in [lo, hi] with ok(n), for a monotonic ok."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _plans(region_size: int, ring_size: int) -> bool:
    try:
        layout.RegionLayout.plan(region_size, ring_size)
        return True
    except ValueError:
        return False


def contract_values() -> dict[str, str]:
    """The code's values the written sections name, as text.

    The doc page is the one part of `protocol` that reads values from the transport, guest and
    host packages (quotas, limits, peer ids, registers): imported here, when the page is
    generated, so importing `pvgpu.protocol` stays free of them."""
    from ..guest import connection as guest_connection, swapchain as guest_swapchain
    from ..guest import ivshmem as guest_ivshmem
    from ..host import objects, pacing, service, session, worker
    from ..host.render import compute, draws, dxbc, memory, renderer, resources, shared_textures
    from ..transport import heap, ivshmem, local

    big = 1 << 40
    min_ring = 1 << _smallest(lambda k: _plans(big, 1 << k), 0, 40)
    heap_start = layout.CONTROL_PAGE_SIZE + layout.DEFAULT_RING_SIZE
    min_heap = _smallest(lambda n: _plans(heap_start + n, layout.DEFAULT_RING_SIZE), 0, 1 << 30)
    spec_records = [((l.record_size(l.count_field.limit) if l.element is not None else l.fixed_record_size), l.name)
                    for l in LAYOUTS.values() if l.opcode != PAD_OPCODE]
    largest, largest_name = max(spec_records)
    v: dict[str, object] = {
        "PROTOCOL_MAJOR": spec.PROTOCOL_MAJOR, "PROTOCOL_MINOR": spec.PROTOCOL_MINOR,
        "MAGIC_HEX": f"{layout.MAGIC:016X}",
        "CONTROL_PAGE_SIZE": layout.CONTROL_PAGE_SIZE, "CACHE_LINE": layout.CACHE_LINE,
        "ERROR_LOG_ENTRIES": layout.ERROR_LOG_ENTRIES, "ERROR_ENTRY_SIZE": layout.ERROR_ENTRY_SIZE,
        "ERROR_DETAIL_BYTES": layout.ERROR_DETAIL_BYTES, "MAX_DISPLAY_MODES": layout.MAX_DISPLAY_MODES,
        "DISPLAY_MODE_SIZE": layout.DISPLAY_MODE.size, "FORMAT_TABLE_LAST": layout.FORMAT_TABLE_ENTRIES - 1,
        "MIN_REFRESH": layout.MIN_REFRESH, "MAX_REFRESH": layout.MAX_REFRESH,
        "DESKTOP_REFRESH": layout.DESKTOP_REFRESH,
        "DEFAULT_RING_SIZE": layout.DEFAULT_RING_SIZE, "DEFAULT_RING_MIB": layout.DEFAULT_RING_SIZE >> 20,
        "DEFAULT_REGION_MIB": _default(service.HostService, "region_size") >> 20,
        "MIN_RING_SIZE": min_ring, "MIN_HEAP_SIZE": min_heap,
        "RECORD_ALIGN": RECORD_ALIGN, "HEADER_SIZE": HEADER_SIZE, "PAD_OPCODE": PAD_OPCODE,
        "MAX_RECORD_DEFAULT": layout.DEFAULT_RING_SIZE // 2,
        "MAX_SPEC_RECORD": largest, "MAX_SPEC_RECORD_NAME": largest_name,
        "DS_INITIALIZING": int(DeviceStatus.INITIALIZING), "DS_READY": int(DeviceStatus.READY),
        "DS_REFUSED": int(DeviceStatus.REFUSED), "DS_LOST": int(DeviceStatus.LOST),
        "GS_NONE": int(GuestState.NONE), "GS_HELLO": int(GuestState.HELLO), "GS_RESET": int(GuestState.RESET),
        "GUEST_TIMEOUT": f"{guest_connection.DEFAULT_TIMEOUT:g}",
        "POLL_INTERVAL": f"{_default(session.Session.run, 'poll_interval'):g}",
        "LOCAL_HELLO_SIZE": local.HELLO.size, "LOCAL_HELLO_TAG": local.HELLO_TAG.decode(),
        "IVSHMEM_VENDOR": f"{guest_ivshmem.VENDOR:04x}", "IVSHMEM_DEVICE": f"{guest_ivshmem.DEVICE:04x}",
        "IVSHMEM_VECTORS": ivshmem.VECTORS, "HOST_PEER_ID": ivshmem.HOST_PEER_ID,
        "IVSHMEM_PROTOCOL_VERSION": ivshmem.PROTOCOL_VERSION,
        "IVPOSITION_REGISTER": guest_ivshmem.IVPOSITION_REGISTER, "DOORBELL_REGISTER": guest_ivshmem.DOORBELL_REGISTER,
        "DOORBELL_VALUE": f"0x{ivshmem.doorbell_value():08X}",
        "BACKOFF_MIN_US": f"{guest_ivshmem.MIN_BACKOFF * 1e6:g}", "BACKOFF_MAX_US": f"{guest_ivshmem.MAX_BACKOFF * 1e6:g}",
        "HEAP_ALIGN": heap.HEAP_ALIGN,
        "MAX_OBJECTS": objects.DEFAULT_MAX_OBJECTS, "MAX_BYTES": objects.DEFAULT_MAX_BYTES,
        "MAX_BYTES_GIB": f"{objects.DEFAULT_MAX_BYTES / (1 << 30):g}",
        "MAX_SHARED_SURFACES": shared_textures.MAX_SHARED_SURFACES,
        "RENAME_BYTES_CAP_MIB": memory.RENAME_BYTES_CAP >> 20, "CACHE_RETAIN_MIB": memory.CACHE_RETAIN_BYTES >> 20,
        "MAX_FRAME_MIB": renderer.MAX_FRAME_BYTES >> 20, "FRAME_SLOTS": worker.FRAME_SLOTS,
        "MAX_BUFFER_BYTES": resources.MAX_BUFFER_BYTES, "MAX_TEXTURE_DIM": resources.MAX_TEXTURE_DIM,
        "MAX_TEXTURE3D_DIM": resources.MAX_TEXTURE3D_DIM, "MAX_ARRAY_SIZE": resources.MAX_ARRAY_SIZE,
        "MAX_DXBC_BYTES": dxbc.MAX_DXBC_BYTES, "MAX_DRAW_INVOCATIONS": draws.MAX_DRAW_INVOCATIONS,
        "MAX_DISPATCH_GROUPS_TOTAL": compute.MAX_DISPATCH_GROUPS_TOTAL,
        "MAX_CONSECUTIVE_ERRORS": session.MAX_CONSECUTIVE_ERRORS, "MAX_TOTAL_ERRORS": session.MAX_TOTAL_ERRORS,
        "WATCHDOG_S": f"{worker.DEFAULT_WATCHDOG_S:g}", "SHUTDOWN_REASON": service.SHUTDOWN_REASON,
        "MAX_SESSIONS": _default(service.HostService, "max_sessions"),
        "PACING_MAX_WAIT_MS": pacing.MAX_WAIT_NS // 1_000_000,
        "GUEST_FRAME_LATENCY": guest_swapchain.MAX_FRAME_LATENCY,
    }
    return {k: str(x) for k, x in v.items()}


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


_VALUE = re.compile(r"\{\{([A-Za-z0-9_]+)\}\}")
_BLOCK = re.compile(r"^\{\{>([a-z0-9_]+)\}\}$")


def contract_files() -> list[Path]:
    return sorted(CONTRACT_DIR.glob("*.md"))


def render_contract(text: str, values: dict[str, str], where: str = "") -> list[str]:
    """A written section's lines with its `{{NAME}}` values and `{{>block}}` tables filled in."""
    out: list[str] = []
    for line in text.splitlines():
        block = _BLOCK.match(line)
        if block:
            if block.group(1) not in BLOCKS:
                raise KeyError(f"{where}: no generated block {block.group(1)!r}")
            out += BLOCKS[block.group(1)]()
            continue

        def value(m: re.Match) -> str:
            if m.group(1) not in values:
                raise KeyError(f"{where}: no value {m.group(1)!r} (docpage.contract_values)")
            return values[m.group(1)]
        out.append(_VALUE.sub(value, line))
    return out + [""]


def _contract() -> list[str]:
    values = contract_values()
    out: list[str] = []
    for path in contract_files():
        out += render_contract(path.read_text(), values, path.name)
    return out


def _contents(lines: list[str]) -> list[str]:
    """A table of contents of the page's `##` sections."""
    out = ["## Contents", ""]
    for line in lines:
        if line.startswith("## "):
            title = line[3:]
            anchor = re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
            out.append(f"- [{title}](#{anchor})")
    return out + [""]


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
    body = [*_contract(), *_overview(), *_commands(), *_elements(), *_enums(), *_bindings()]
    lines = [
        "# pvgpu protocol reference",
        "",
        "<!-- Generated by pvgpu from src/pvgpu/protocol (spec.py, enums.py, layout.py, the written sections in",
        "     contract/*.md and the code's values they name); do not edit.",
        "     Regenerate with `pvgpu protocol-doc > docs/protocol.md`. -->",
        "",
        f"Protocol version {spec.PROTOCOL_MAJOR}.{spec.PROTOCOL_MINOR}.",
        "",
        "A guest driver records Direct3D 11 style commands as binary records in a ring in shared",
        "memory; bulk data (initial contents, uploads, shader code, readbacks) travels through the",
        "shared heap, named by heap ranges.",
        "",
        *_contents(body), *body,
    ]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
