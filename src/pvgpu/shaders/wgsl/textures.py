"""Texture instructions: the `sample` family, `ld`, `ld_ms`, the `gather4` family, `resinfo`,
`sampleinfo`, `samplepos` and `lod`, on t# textures (and `resinfo` on u# typed texture UAVs).

D3D11 rules written out where WGSL differs:
- the resource operand's swizzle applies to the result, then the destination's mask;
- `ld`/`ld_ms` outside the mip range, array or texture give 0 in every component
  (WGSL only promises some in-bounds value), checked in one helper per texture type;
- a sampled array index is rounded to nearest even and clamped to the layers;
- 1D textures are 2D textures of height 1 (sampled at v = 0.5, loaded at y = 0);
- a depth texture's reads are (d, 0, 0, 1); comparisons replicate their result;
- `gather4_po`'s programmable offset becomes a constant offset where it is an immediate in
  WGSL's range, otherwise a shift of the coordinates by offset / size of mip 0 (exact for
  power-of-two sizes, which is what the hardware's fixed-point texel addressing gives too).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .. import ir
from .slots import Dim, Sampler, StorageTexture, Texture, slot_of, swizzled

if TYPE_CHECKING:
    from .writer import Writer

_T = ir.OperandType
_PIXEL = ir.ProgramType.PIXEL
_IMPLICIT = {"sample", "sample_b", "sample_c", "lod"}

#: Standard D3D sample positions (1/16 pixel units) for 1, 2, 4, 8 and 16 samples, in order:
#: the table `samplepos` indexes at count - 1 + index.
SAMPLE_POSITIONS: tuple[tuple[int, int], ...] = (
    (0, 0),
    (4, 4), (-4, -4),
    (-2, -6), (6, -2), (-6, 2), (2, 6),
    (1, -3), (-1, 3), (5, 1), (-3, -5), (-5, 5), (-7, -1), (3, 7), (7, -7),
    (1, 1), (-1, -3), (-3, 2), (4, -1), (-5, -2), (2, 5), (5, 3), (3, -5),
    (-2, 6), (0, -7), (-4, -6), (-6, 4), (-8, 0), (7, -4), (6, 7), (-7, -8),
)


def _ident(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_")


def _texture(w: "Writer", ins: ir.Instruction, op: ir.Operand) -> Texture:
    return slot_of(w, ins, op, Texture)  # type: ignore[return-value]


def _sampler(w: "Writer", ins: ir.Instruction, op: ir.Operand, comparison: bool) -> Sampler:
    s: Sampler = slot_of(w, ins, op, Sampler)  # type: ignore[assignment]
    if s.comparison != comparison:
        w.invalid(ins, f"{s.name} is declared {'mode_comparison' if s.comparison else 'mode_default'}; "
                       f"{ins.name} needs a {'comparison' if comparison else 'default'} sampler")
    return s


def _operands(w: "Writer", ins: ir.Instruction, count: int) -> tuple[ir.Operand, ...]:
    if len(ins.operands) != count:
        w.invalid(ins, f"{len(ins.operands)} operands, expected {count}")
    return ins.operands


def _layer_helper(w: "Writer") -> str:
    return w.helper("sample_layer", """fn sample_layer(a: f32, layers: u32) -> i32 {
    let r = round(a);
    if (!(r > 0.0)) {
        return 0i;
    }
    return i32(min(r, f32(max(layers, 1u) - 1u)));
}""")


def _sample_coords(w: "Writer", tex: Texture, addr: ir.Operand) -> tuple[str, str | None]:
    """(WGSL float coordinates, array index or None) of a sampling address."""
    a = w.tmp(w.src(addr, "f32", 4), "vec4<f32>")
    d = tex.dim
    if d.one_d:
        coords, layer = f"vec2<f32>({a}.x, 0.5)", "y"
    elif d.coords == 2:
        coords, layer = f"{a}.xy", "z"
    else:
        coords, layer = f"{a}.xyz", "w"
    if not d.array:
        return coords, None
    return coords, f"{_layer_helper(w)}({a}.{layer}, textureNumLayers({tex.name}))"


def _const_offset(w: "Writer", ins: ir.Instruction, dim: Dim, values: tuple[int, ...] | None) -> str | None:
    """A WGSL constant texel offset from `aoffimmi` values, None where there is none to apply."""
    if not values or dim.offsets == 0:
        return None
    picked = [values[0], 0] if dim.one_d else list(values[:dim.coords])
    picked = [v - 16 if v > 7 else v for v in picked]  # 4-bit two's complement, however it was decoded
    if not any(picked):
        return None
    if any(not -8 <= v <= 7 for v in picked):
        w.invalid(ins, f"texel offset {tuple(values)} is outside -8..7")
    return f"vec{len(picked)}<i32>({', '.join(f'{v}i' for v in picked)})"


def _args(*parts: str | None) -> str:
    return ", ".join(p for p in parts if p is not None)


def _store_vec4(w: "Writer", ins: ir.Instruction, value: str, kind: str, res_op: ir.Operand) -> None:
    w.dst(ins.operands[0], swizzled(value, res_op), kind, ins.saturate)


def _require_float(w: "Writer", ins: ir.Instruction, tex: Texture) -> None:
    if tex.scalar != "f32":
        w.unsupported(ins, f"{tex.name} is a {tex.kind} texture; only float textures can be sampled")


def _not_multisampled(w: "Writer", ins: ir.Instruction, tex: Texture) -> None:
    """WGSL samples no multisampled texture (D3D11 reads those with ld_ms only)."""
    if tex.dim.ms:
        w.unsupported(ins, f"sampling multisampled texture {tex.name} ({tex.dim.wgsl.replace('_', ' ')}): "
                           "WGSL has no sampling of multisampled textures")


def _check_stage(w: "Writer", ins: ir.Instruction) -> None:
    if ins.name in _IMPLICIT and w.stage != _PIXEL:
        w.unsupported(ins, "implicit-derivative sampling outside a pixel shader")


def _depth_vec4(expr: str) -> str:
    return f"vec4<f32>({expr}, 0.0, 0.0, 1.0)"


def sample(w: "Writer", ins: ir.Instruction) -> None:
    """sample, sample_l, sample_b, sample_d: dst, address, resource, sampler[, lod | bias | ddx, ddy]."""
    extra = {"sample": 0, "sample_l": 1, "sample_b": 1, "sample_d": 2}[ins.name]
    ops = _operands(w, ins, 4 + extra)
    tex = _texture(w, ins, ops[2])
    smp = _sampler(w, ins, ops[3], comparison=False)
    _not_multisampled(w, ins, tex)
    _require_float(w, ins, tex)
    _check_stage(w, ins)
    depth = tex.kind == "depth"
    coords, layer = _sample_coords(w, tex, ops[1])
    offset = _const_offset(w, ins, tex.dim, ins.sample_offsets)
    if ins.name == "sample":
        call = f"textureSample({_args(tex.name, smp.name, coords, layer, offset)})"
    elif ins.name == "sample_l":
        lod = w.src(ops[4], "f32", 1)
        if depth:
            # a depth texture's level is an integer in WGSL: nearest mip
            lod = f"i32(round(clamp({lod}, 0.0, 64.0)))"
        call = f"textureSampleLevel({_args(tex.name, smp.name, coords, layer, lod, offset)})"
    elif ins.name == "sample_b":
        if depth:
            w.unsupported(ins, f"biased sampling of depth texture {tex.name} (WGSL has none)")
        call = f"textureSampleBias({_args(tex.name, smp.name, coords, layer, w.src(ops[4], 'f32', 1), offset)})"
    else:
        if depth:
            w.unsupported(ins, f"gradient sampling of depth texture {tex.name} (WGSL has none)")
        n = tex.dim.wgsl_coords
        if tex.dim.one_d:
            ddx, ddy = (f"vec2<f32>({w.src(o, 'f32', 1)}, 0.0)" for o in ops[4:6])
        else:
            ddx, ddy = (w.src(o, "f32", n) for o in ops[4:6])
        call = f"textureSampleGrad({_args(tex.name, smp.name, coords, layer, ddx, ddy, offset)})"
    value = _depth_vec4(call) if depth else call
    _store_vec4(w, ins, w.tmp(value, "vec4<f32>"), "f32", ops[2])


def sample_c(w: "Writer", ins: ir.Instruction) -> None:
    """sample_c, sample_c_lz: dst, address, resource, sampler, reference. The result is one
    value, replicated (the resource swizzle picks among identical components)."""
    ops = _operands(w, ins, 5)
    tex = _texture(w, ins, ops[2])
    smp = _sampler(w, ins, ops[3], comparison=True)
    _not_multisampled(w, ins, tex)
    if tex.kind != "depth":
        w.unsupported(ins, f"comparison sampling of {tex.kind} texture {tex.name}")
    _check_stage(w, ins)
    coords, layer = _sample_coords(w, tex, ops[1])
    ref = w.src(ops[4], "f32", 1)
    offset = _const_offset(w, ins, tex.dim, ins.sample_offsets)
    fn = "textureSampleCompare" if ins.name == "sample_c" else "textureSampleCompareLevel"
    value = w.tmp(f"{fn}({_args(tex.name, smp.name, coords, layer, ref, offset)})", "f32")
    w.dst(ins.operands[0], value, "f32", ins.saturate)


def _gather_component(w: "Writer", ins: ir.Instruction, op: ir.Operand) -> int:
    """gather4's channel: the sampler operand's selected component (s0.y gathers green)."""
    if op.selection == ir.Selection.MASK:
        return 0
    return op.swizzle[0]


def gather(w: "Writer", ins: ir.Instruction) -> None:
    """gather4, gather4_c, gather4_po, gather4_po_c."""
    po = "_po" in ins.name
    compare = ins.name.endswith("_c")
    ops = _operands(w, ins, 4 + po + compare)
    res_op, smp_op = ops[2 + po], ops[3 + po]
    tex = _texture(w, ins, res_op)
    smp = _sampler(w, ins, smp_op, comparison=compare)
    d = tex.dim
    if d.one_d or d.ms or d.coords == 3 and not d.cube:
        w.unsupported(ins, f"gather from a {d.wgsl.replace('_', ' ')} texture{' (1D)' if d.one_d else ''}")
    if compare and tex.kind != "depth":
        w.unsupported(ins, f"comparison gather of {tex.kind} texture {tex.name}")
    # a depth texture has no green or blue (0) and no alpha (1) to gather
    missing = None
    if tex.kind == "depth" and not compare and _gather_component(w, ins, smp_op) != 0:
        missing = "vec4<f32>(1.0)" if _gather_component(w, ins, smp_op) == 3 else "vec4<f32>()"
    coords, layer = _sample_coords(w, tex, ops[1])
    offset = None if d.cube else _const_offset(w, ins, d, ins.sample_offsets)
    if po:
        if d.cube:
            w.unsupported(ins, "programmable offsets on a cube texture")
        offset, coords = _programmable_offset(w, ins, tex, ops[2], coords)
    if compare:
        ref = w.src(ops[4 + po], "f32", 1)
        call = f"textureGatherCompare({_args(tex.name, smp.name, coords, layer, ref, offset)})"
    elif tex.kind == "depth":
        call = f"textureGather({_args(tex.name, smp.name, coords, layer, offset)})"
    else:
        comp = _gather_component(w, ins, smp_op)
        call = f"textureGather({_args(str(comp), tex.name, smp.name, coords, layer, offset)})"
    vt = f"vec4<{tex.scalar}>"
    value = missing or call
    _store_vec4(w, ins, w.tmp(value, vt), tex.scalar, res_op)


def _programmable_offset(w: "Writer", ins: ir.Instruction, tex: Texture, op: ir.Operand,
                         coords: str) -> tuple[str | None, str]:
    """(constant offset or None, coordinates): gather4_po's offset operand (low 6 bits signed)."""
    if op.type == _T.IMMEDIATE32 and op.values:
        vals = [op.values[c] if len(op.values) == 4 else op.values[0] for c in op.swizzle[:2]]
        sig = [((v & 0x3F) ^ 0x20) - 0x20 for v in vals]
        if all(-8 <= v <= 7 for v in sig):
            if not any(sig):
                return None, coords
            return f"vec2<i32>({sig[0]}i, {sig[1]}i)", coords
    off = w.src(op, "i32", 2)
    shifted = f"((({off}) << vec2<u32>(26u)) >> vec2<u32>(26u))"
    size = f"vec2<f32>(textureDimensions({tex.name}, 0).xy)"
    return None, f"({coords} + vec2<f32>({shifted}) / {size})"


def _load_helper(w: "Writer", tex: Texture) -> str:
    """fn(t, coords: vecN<i32>, layer: i32, mip_or_sample: i32) -> vec4<S>, zero out of range."""
    d = tex.dim
    n = d.wgsl_coords
    s = tex.scalar
    name = f"load_{_ident(tex.wgsl_type)}"
    ivec, uvec = f"vec{n}<i32>", f"vec{n}<u32>"
    checks = []
    if d.ms:
        checks.append("if (u32(m) >= textureNumSamples(t)) {\n        return zero;\n    }")
        size = "textureDimensions(t)"
    else:
        checks.append("if (u32(m) >= textureNumLevels(t)) {\n        return zero;\n    }")
        size = "textureDimensions(t, m)"
    if d.array:
        checks.append("if (u32(layer) >= textureNumLayers(t)) {\n        return zero;\n    }")
    load = f"textureLoad(t, c{', layer' if d.array else ''}, m)"
    if tex.kind == "depth":
        load = _depth_vec4(load)
    body = "\n    ".join(checks)
    code = f"""fn {name}(t: {tex.wgsl_type}, c: {ivec}, layer: i32, m: i32) -> vec4<{s}> {{
    let zero = vec4<{s}>();
    {body}
    if (any({uvec}(c) >= {size})) {{
        return zero;
    }}
    return {load};
}}"""
    return w.helper(name, code)


def _int_coords(w: "Writer", tex: Texture, a: str, ins: ir.Instruction) -> tuple[str, str]:
    """(vecN<i32> texel coordinates with the immediate offset added, array index) from an
    integer address temp `a`."""
    d = tex.dim
    if d.one_d:
        coords, layer = f"vec2<i32>({a}.x, 0i)", f"{a}.y"
    elif d.coords == 2:
        coords, layer = f"{a}.xy", f"{a}.z"
    else:
        coords, layer = f"{a}.xyz", "0i"
    off = _const_offset(w, ins, d, ins.sample_offsets)
    if off is not None:
        coords = f"({coords} + {off})"
    return coords, (layer if d.array else "0i")


def ld(w: "Writer", ins: ir.Instruction) -> None:
    """ld dst, address (int: coordinates, array index, mip in .w), resource."""
    ops = _operands(w, ins, 3)
    entry = slot_of(w, ins, ops[2])
    if not isinstance(entry, Texture):
        from . import memory
        memory.ld_typed_buffer(w, ins)
        return
    tex = entry
    if tex.dim.ms:
        w.invalid(ins, f"{tex.name} is multisampled: it is read with ld_ms")
    if tex.dim.cube:
        w.invalid(ins, f"{tex.name} is a cube texture, which ld cannot read")
    a = w.tmp(w.src(ops[1], "i32", 4), "vec4<i32>")
    coords, layer = _int_coords(w, tex, a, ins)
    value = f"{_load_helper(w, tex)}({tex.name}, {coords}, {layer}, {a}.w)"
    _store_vec4(w, ins, w.tmp(value, f"vec4<{tex.scalar}>"), tex.scalar, ops[2])


def ld_ms(w: "Writer", ins: ir.Instruction) -> None:
    """ld_ms dst, address (int), resource, sample index."""
    ops = _operands(w, ins, 4)
    tex = _texture(w, ins, ops[2])
    if not tex.dim.ms:
        w.unsupported(ins, f"ld_ms from {tex.name}, which is not multisampled")
    a = w.tmp(w.src(ops[1], "i32", 4), "vec4<i32>")
    coords, layer = _int_coords(w, tex, a, ins)
    value = f"{_load_helper(w, tex)}({tex.name}, {coords}, {layer}, {w.src(ops[3], 'i32', 1)})"
    _store_vec4(w, ins, w.tmp(value, f"vec4<{tex.scalar}>"), tex.scalar, ops[2])


def _resinfo_parts(d: Dim, t: str, s: str) -> list[str]:
    layers = f"textureNumLayers({t})" if d.array else "0u"
    if d.one_d:
        return [f"{s}.x", layers, "0u"]
    if d.coords == 2 or d.cube:
        return [f"{s}.x", f"{s}.y", layers]
    return [f"{s}.x", f"{s}.y", f"{s}.z"]


def _resinfo_value(w: "Writer", entry: Texture | StorageTexture, mip: str) -> str:
    """A vec4<u32> expression: (sizes D3D reports for the dimension, 0 where none, mip count);
    sizes are 0 for a mip past the last, the count stays. Storage textures are queried inline
    (naga counts a storage texture passed to a function as read)."""
    d = entry.dim
    if isinstance(entry, StorageTexture) or d.ms:
        s = w.tmp(f"textureDimensions({entry.name})", f"vec{d.wgsl_coords}<u32>" if d.coords < 3 else "vec3<u32>")
        full = f"vec4<u32>({', '.join(_resinfo_parts(d, entry.name, s))}, 1u)"
        return f"select(vec4<u32>(0u, 0u, 0u, 1u), {full}, {mip} == 0u)"
    return f"{_resinfo_helper(w, entry)}({entry.name}, {mip})"


def _resinfo_helper(w: "Writer", entry: Texture) -> str:
    name = f"resinfo_{_ident(entry.wgsl_type)}"
    levels = "textureNumLevels(t)"
    size = "textureDimensions(t, mip)"
    parts = _resinfo_parts(entry.dim, "t", "s")
    code = f"""fn {name}(t: {entry.wgsl_type}, mip: u32) -> vec4<u32> {{
    let levels = {levels};
    if (mip >= levels) {{
        return vec4<u32>(0u, 0u, 0u, levels);
    }}
    let s = {size};
    return vec4<u32>({', '.join(parts)}, levels);
}}"""
    return w.helper(name, code)


def resinfo(w: "Writer", ins: ir.Instruction) -> None:
    """resinfo[_uint|_rcpFloat] dst, mip level, resource."""
    ops = _operands(w, ins, 3)
    entry = slot_of(w, ins, ops[2], Texture, StorageTexture)
    info = w.tmp(_resinfo_value(w, entry, w.tmp(w.src(ops[1], "u32", 1), "u32")), "vec4<u32>")
    how = ins.resinfo_type or ir.ResInfoType.FLOAT
    if how == ir.ResInfoType.UINT:
        _store_vec4(w, ins, info, "u32", ops[2])
        return
    value = f"vec4<f32>({info})"
    if how == ir.ResInfoType.RCP_FLOAT:
        d = entry.dim
        sizes = 1 if d.one_d else (2 if d.coords == 2 or d.cube else 3)
        parts = [f"1.0 / f32({info}.{'xyz'[i]})" if i < sizes else f"f32({info}.{'xyz'[i]})" for i in range(3)]
        value = f"vec4<f32>({', '.join(parts)}, f32({info}.w))"
    _store_vec4(w, ins, w.tmp(value, "vec4<f32>"), "f32", ops[2])


def _sample_count(w: "Writer", ins: ir.Instruction, op: ir.Operand) -> str:
    """A u32 expression: the sample count of a t# (0 for a texture that is not multisampled)."""
    if op.type == _T.RASTERIZER:
        # the render targets' sample count: bind-time, from the specialization (0: unknown)
        count = w.spec.sample_count
        if count <= 0:
            w.unsupported(ins, "the render target's sample count (rasterizer operand) is not known "
                               "(Specialization.sample_count)")
        if count > 32:
            w.invalid(ins, f"a sample count of {count}")
        return f"{count}u"
    tex = _texture(w, ins, op)
    return "textureNumSamples(" + tex.name + ")" if tex.dim.ms else "0u"


def sampleinfo(w: "Writer", ins: ir.Instruction) -> None:
    """sampleinfo[_uint] dst, resource: (count, 0, 0, 0), as float unless _uint."""
    ops = _operands(w, ins, 2)
    count = w.tmp(_sample_count(w, ins, ops[1]), "u32")
    as_uint = ins.resinfo_type == ir.ResInfoType.UINT
    if as_uint:
        _store_vec4(w, ins, f"vec4<u32>({count}, 0u, 0u, 0u)", "u32", ops[1])
    else:
        _store_vec4(w, ins, f"vec4<f32>(f32({count}), 0.0, 0.0, 0.0)", "f32", ops[1])


def samplepos(w: "Writer", ins: ir.Instruction) -> None:
    """samplepos dst, resource, sample index: the standard position, (0, 0) out of range."""
    ops = _operands(w, ins, 3)
    count = w.tmp(_sample_count(w, ins, ops[1]), "u32")
    index = w.src(ops[2], "u32", 1)
    rows = ", ".join(f"vec2<f32>({x / 16!r}, {y / 16!r})" for x, y in SAMPLE_POSITIONS)
    fn = w.helper("sample_position", f"""fn sample_position(count: u32, index: u32) -> vec2<f32> {{
    let table = array<vec2<f32>, {len(SAMPLE_POSITIONS)}>({rows});
    if (index >= count || countOneBits(count) != 1u || count > 16u) {{
        return vec2<f32>();
    }}
    return table[count - 1u + index];
}}""")
    pos = w.tmp(f"{fn}({count}, {index})", "vec2<f32>")
    _store_vec4(w, ins, f"vec4<f32>({pos}, 0.0, 0.0)", "f32", ops[1])


def lod(w: "Writer", ins: ir.Instruction) -> None:
    """lod dst, address, resource, sampler: (clamped, unclamped, 0, 0) from the coordinates'
    screen derivatives (the isotropic estimate; the sampler's own LOD clamps and bias are
    not applied: WGSL has no level-of-detail query)."""
    ops = _operands(w, ins, 4)
    tex = _texture(w, ins, ops[2])
    _sampler(w, ins, ops[3], comparison=False)
    _check_stage(w, ins)
    d = tex.dim
    if d.cube or d.ms:
        w.unsupported(ins, f"level of detail of a {d.wgsl.replace('_', ' ')} texture (WGSL has no query)")
    a = w.tmp(w.src(ops[1], "f32", 4), "vec4<f32>")
    n = d.coords
    coords = f"{a}.{'xyz'[:n]}" if n > 1 else f"{a}.x"
    dims = f"textureDimensions({tex.name}, 0)"
    size = f"vec{n}<f32>({dims}.{'xyz'[:n]})" if n > 1 else f"f32({dims}.x)"
    dx = w.tmp(f"dpdx({coords}) * {size}", "f32" if n == 1 else f"vec{n}<f32>")
    dy = w.tmp(f"dpdy({coords}) * {size}", "f32" if n == 1 else f"vec{n}<f32>")
    raw = w.tmp(f"0.5 * log2(max(dot({dx}, {dx}), dot({dy}, {dy})))" if n > 1
                else f"0.5 * log2(max({dx} * {dx}, {dy} * {dy}))", "f32")
    top = f"f32(textureNumLevels({tex.name}) - 1u)"
    value = f"vec4<f32>(clamp({raw}, 0.0, {top}), {raw}, 0.0, 0.0)"
    _store_vec4(w, ins, w.tmp(value, "vec4<f32>"), "f32", ops[2])


HANDLERS = {
    "sample": sample,
    "sample_l": sample,
    "sample_b": sample,
    "sample_d": sample,
    "sample_c": sample_c,
    "sample_c_lz": sample_c,
    "gather4": gather,
    "gather4_c": gather,
    "gather4_po": gather,
    "gather4_po_c": gather,
    "ld": ld,
    "ld_ms": ld_ms,
    "resinfo": resinfo,
    "sampleinfo": sampleinfo,
    "samplepos": samplepos,
    "lod": lod,
}
