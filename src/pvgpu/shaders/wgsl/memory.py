"""Buffer and UAV memory: `ld_raw`, `ld_structured`, `store_raw`, `store_structured`,
`ld_uav_typed`, `store_uav_typed`, `bufinfo`, and `ld` of a typed buffer SRV.

Every buffer (t#, u#) and group-shared memory (g#) is an array of 32-bit words; typed buffer
views hold `components` words per element (the bound format's). D3D11's out-of-range rules
are written out: a read past the end gives 0 (per word for raw and structured, per element
for typed buffers and textures), a write past the end is dropped. Each buffer gets its own
small word-access helpers, because WGSL cannot pass a storage pointer to a function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ir
from .slots import Buffer, StorageTexture, slot_of, swizzled

if TYPE_CHECKING:
    from .writer import Writer

ONE = {"f32": "0x3f800000u", "u32": "1u", "i32": "1u"}


def _operands(w: "Writer", ins: ir.Instruction, count: int) -> tuple[ir.Operand, ...]:
    if len(ins.operands) != count:
        w.invalid(ins, f"{len(ins.operands)} operands, expected {count}")
    return ins.operands


def _buffer(w: "Writer", ins: ir.Instruction, op: ir.Operand, *layouts: str) -> Buffer:
    buf: Buffer = slot_of(w, ins, op, Buffer)  # type: ignore[assignment]
    if layouts and buf.layout not in layouts:
        w.invalid(ins, f"{buf.name} is a {buf.layout} buffer, not {' or '.join(layouts)}")
    return buf


def _writable(w: "Writer", ins: ir.Instruction, buf: Buffer) -> None:
    if not buf.writable:
        w.invalid(ins, f"{buf.name} is read-only")


def load_word(w: "Writer", buf: Buffer) -> str:
    """Helper fn(i: u32) -> u32: word i, 0 past the end."""
    name = f"load_word_{buf.name}"
    return w.helper(name, f"""fn {name}(i: u32) -> u32 {{
    if (i < {buf.length()}) {{
        return {buf.load("i")};
    }}
    return 0u;
}}""")


def store_word(w: "Writer", buf: Buffer) -> str:
    """Helper fn(i: u32, v: u32): stores word i, dropped past the end."""
    name = f"store_word_{buf.name}"
    return w.helper(name, f"""fn {name}(i: u32, v: u32) {{
    if (i < {buf.length()}) {{
        {buf.store("i", "v")}
    }}
}}""")


def word_address(w: "Writer", ins: ir.Instruction, buf: Buffer, ops: list[ir.Operand]) -> tuple[str, str]:
    """(first word index, u32 count of words from it that belong to the addressed element):
    raw: ops = [byte offset]; structured: [structure index, byte offset]; typed: [element index].
    A count of 0 means the address is out of range; both are fresh temps."""
    words = buf.length()
    if buf.layout == "raw":
        first = w.tmp(f"{w.src(ops[0], 'u32', 1)} >> 2u", "u32")
        return first, w.tmp(f"select(0u, {words} - {first}, {first} < {words})", "u32")
    if buf.layout == "structured":
        per = buf.stride // 4
        index = w.tmp(w.src(ops[0], "u32", 1), "u32")
        within = w.tmp(f"{w.src(ops[1], 'u32', 1)} >> 2u", "u32")
        count = f"({words} / {per}u)"
        ok = f"{index} < {count} && {within} < {per}u"
        first = w.tmp(f"select(0u, {index} * {per}u + {within}, {ok})", "u32")
        return first, w.tmp(f"select(0u, {per}u - {within}, {ok})", "u32")
    per = buf.components
    index = w.tmp(w.src(ops[0], "u32", 1), "u32")
    ok = f"{index} < {words} / {per}u"
    first = w.tmp(f"select(0u, {index} * {per}u, {ok})", "u32")
    return first, w.tmp(f"select(0u, {per}u, {ok})", "u32")


def _read_words(w: "Writer", ins: ir.Instruction, buf: Buffer, first: str, avail: str, res_op: ir.Operand) -> None:
    """dst component c = word first + (resource swizzle)[c], 0 where that word is not in the element."""
    dst = ins.operands[0]
    if res_op.selection == ir.Selection.SWIZZLE:
        sw = res_op.swizzle
    elif res_op.selection == ir.Selection.SELECT1:
        sw = (res_op.swizzle[0],) * 4
    else:
        sw = (0, 1, 2, 3)
    mask = dst.mask if dst.components == 4 else 1
    fn = load_word(w, buf)
    parts = []
    for c in range(4):
        if mask >> c & 1:
            k = sw[c]
            parts.append(f"select(0u, {fn}({first} + {k}u), {k}u < {avail})")
        else:
            parts.append("0u")
    w.dst(dst, f"vec4<u32>({', '.join(parts)})", "u32")


def _write_words(w: "Writer", ins: ir.Instruction, buf: Buffer, first: str, avail: str, value_op: ir.Operand) -> None:
    dst = ins.operands[0]
    mask = dst.mask if dst.components == 4 else 1
    value = w.tmp(w.src(value_op, "u32", 4), "vec4<u32>")
    fn = store_word(w, buf)
    for c in range(4):
        if mask >> c & 1:
            with w.block(f"if ({c}u < {avail})"):
                w.line(f"{fn}({first} + {c}u, {value}.{'xyzw'[c]});")


def ld_raw(w: "Writer", ins: ir.Instruction) -> None:
    """ld_raw dst, byte offset, t#/u#/g#."""
    ops = _operands(w, ins, 3)
    buf = _buffer(w, ins, ops[2], "raw")
    first, avail = word_address(w, ins, buf, [ops[1]])
    _read_words(w, ins, buf, first, avail, ops[2])


def ld_structured(w: "Writer", ins: ir.Instruction) -> None:
    """ld_structured dst, structure index, byte offset, t#/u#/g#."""
    ops = _operands(w, ins, 4)
    buf = _buffer(w, ins, ops[3], "structured")
    first, avail = word_address(w, ins, buf, [ops[1], ops[2]])
    _read_words(w, ins, buf, first, avail, ops[3])


def store_raw(w: "Writer", ins: ir.Instruction) -> None:
    """store_raw u#/g#.mask, byte offset, value."""
    ops = _operands(w, ins, 3)
    buf = _buffer(w, ins, ops[0], "raw")
    _writable(w, ins, buf)
    first, avail = word_address(w, ins, buf, [ops[1]])
    _write_words(w, ins, buf, first, avail, ops[2])


def store_structured(w: "Writer", ins: ir.Instruction) -> None:
    """store_structured u#/g#.mask, structure index, byte offset, value."""
    ops = _operands(w, ins, 4)
    buf = _buffer(w, ins, ops[0], "structured")
    _writable(w, ins, buf)
    first, avail = word_address(w, ins, buf, [ops[1], ops[2]])
    _write_words(w, ins, buf, first, avail, ops[3])


def _typed_load(w: "Writer", buf: Buffer) -> str:
    """Helper fn(i: u32) -> vec4<u32>: element i of a typed buffer, missing components
    (0, 0, 1), all 0 past the end."""
    name = f"load_element_{buf.name}"
    n = buf.components
    parts = [buf.load(f"b + {c}u") if c < n else ("0u" if c < 3 else ONE[buf.scalar]) for c in range(4)]
    return w.helper(name, f"""fn {name}(i: u32) -> vec4<u32> {{
    if (i >= {buf.length()} / {n}u) {{
        return vec4<u32>();
    }}
    let b = i * {n}u;
    return vec4<u32>({', '.join(parts)});
}}""")


def ld_typed_buffer(w: "Writer", ins: ir.Instruction) -> None:
    """ld dst, element index (.x), typed buffer t# (or ld_uav_typed on a typed buffer u#)."""
    ops = ins.operands
    buf = _buffer(w, ins, ops[2], "typed")
    value = w.tmp(f"{_typed_load(w, buf)}({w.src(ops[1], 'u32', 1)})", "vec4<u32>")
    w.dst(ops[0], swizzled(value, ops[2]), "u32")


def _storage_coords(w: "Writer", tex: StorageTexture, op: ir.Operand) -> tuple[str, str | None]:
    a = w.tmp(w.src(op, "u32", 4), "vec4<u32>")
    d = tex.dim
    if d.one_d:
        return f"vec2<u32>({a}.x, 0u)", (f"{a}.y" if d.array else None)
    if d.coords == 2:
        return f"{a}.xy", (f"{a}.z" if d.array else None)
    return f"{a}.xyz", None


def _storage_in_range(tex: StorageTexture, coords: str, layer: str | None) -> str:
    cond = f"all({coords} < textureDimensions({tex.name}))"
    if layer is not None:
        cond += f" && {layer} < textureNumLayers({tex.name})"
    return cond


def ld_uav_typed(w: "Writer", ins: ir.Instruction) -> None:
    """ld_uav_typed dst, address (uint), u#."""
    ops = _operands(w, ins, 3)
    entry = slot_of(w, ins, ops[2], Buffer, StorageTexture)
    if isinstance(entry, Buffer):
        ld_typed_buffer(w, ins)
        return
    tex = entry
    if tex.access == "write":
        w.invalid(ins, f"{tex.name} is not readable")
    coords, layer = _storage_coords(w, tex, ops[1])
    cond = _storage_in_range(tex, coords, layer)
    vt = f"vec4<{tex.scalar}>"
    value = w.var(f"{vt}()", vt)
    with w.block(f"if ({cond})"):
        args = ", ".join(x for x in (tex.name, coords, layer) if x)
        w.line(f"{value} = textureLoad({args});")
    w.dst(ops[0], swizzled(value, ops[2]), tex.scalar)


def store_uav_typed(w: "Writer", ins: ir.Instruction) -> None:
    """store_uav_typed u#, address (uint), value: the whole element; dropped out of range."""
    ops = _operands(w, ins, 3)
    entry = slot_of(w, ins, ops[0], Buffer, StorageTexture)
    if isinstance(entry, Buffer):
        buf = entry
        if buf.layout != "typed":
            w.invalid(ins, f"{buf.name} is a {buf.layout} buffer, not a typed one")
        first, avail = word_address(w, ins, buf, [ops[1]])
        value = w.tmp(w.src(ops[2], "u32", 4), "vec4<u32>")
        fn = store_word(w, buf)
        with w.block(f"if ({avail} != 0u)"):
            for c in range(buf.components):
                w.line(f"{fn}({first} + {c}u, {value}.{'xyzw'[c]});")
        return
    tex = entry
    coords, layer = _storage_coords(w, tex, ops[1])
    value = w.tmp(w.src(ops[2], tex.scalar, 4), f"vec4<{tex.scalar}>")
    with w.block(f"if ({_storage_in_range(tex, coords, layer)})"):
        args = ", ".join(x for x in (tex.name, coords, layer, value) if x)
        w.line(f"textureStore({args});")


def bufinfo(w: "Writer", ins: ir.Instruction) -> None:
    """bufinfo dst, t#/u#: typed: (elements, 0, 0, 0); raw: (bytes, ...); structured: (structures, stride, 0, 0)."""
    ops = _operands(w, ins, 2)
    buf = _buffer(w, ins, ops[1])
    if buf.shared:
        w.invalid(ins, "bufinfo of group-shared memory")
    words = buf.length()
    if buf.layout == "typed":
        value = f"vec4<u32>({words} / {buf.components}u, 0u, 0u, 0u)"
    elif buf.layout == "raw":
        value = f"vec4<u32>({words} * 4u, 0u, 0u, 0u)"
    else:
        value = f"vec4<u32>({words} / {buf.stride // 4}u, {buf.stride}u, 0u, 0u)"
    w.dst(ops[0], swizzled(w.tmp(value, "vec4<u32>"), ops[1]), "u32")


HANDLERS = {
    "ld_raw": ld_raw,
    "ld_structured": ld_structured,
    "store_raw": store_raw,
    "store_structured": store_structured,
    "ld_uav_typed": ld_uav_typed,
    "store_uav_typed": store_uav_typed,
    "bufinfo": bufinfo,
}
