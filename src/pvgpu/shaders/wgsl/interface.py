"""The shader's interface: register and constant-buffer declarations, input/output/system-value
declarations, and the WGSL entry point that moves the stage's inputs into v# registers, runs
the program body and moves o# registers into the stage's outputs.

Mapping (docs/shaders.md has the whole story):
- VS input element i of the ISGN (its position in the signature) is `@location(i)`, a
  `vec4<T>` (T from `spec.vertex_inputs` or the element's component type) whose components
  land at the element's mask in v<register>; SV_VertexID/SV_InstanceID are builtins.
- Varyings (VS outputs, PS inputs) are linked by semantic: each user element at the location
  `spec.varyings` gives it (default: its position among the signature's user elements), a
  vec4 whose .x is the element's first masked component.
- PS SV_Target n is `@location(n)`, typed by the OSGN component type; oDepth is frag_depth,
  oMask the sample mask. SV_Position in a PS reads w as 1/w (D3D gives the clip w).
- CS: `@workgroup_size` from dcl_thread_group; the thread-id registers from the builtins.
"""

from __future__ import annotations

from .. import ir
from ..specialization import Varying
from .writer import MAX_REGISTERS, Writer, mask_components

_S = ir.SystemValue
_C = ir.ComponentType
SCALAR = {_C.UINT32: "u32", _C.SINT32: "i32", _C.FLOAT32: "f32", _C.UNKNOWN: "f32"}
#: dcl_input_ps interpolation -> WGSL @interpolate arguments.
INTERPOLATION = {
    ir.Interpolation.UNDEFINED: "perspective",
    ir.Interpolation.CONSTANT: "flat",
    ir.Interpolation.LINEAR: "perspective",
    ir.Interpolation.LINEAR_CENTROID: "perspective-centroid",
    ir.Interpolation.LINEAR_NOPERSPECTIVE: "linear",
    ir.Interpolation.LINEAR_NOPERSPECTIVE_CENTROID: "linear-centroid",
    ir.Interpolation.LINEAR_SAMPLE: "perspective-sample",
    ir.Interpolation.LINEAR_NOPERSPECTIVE_SAMPLE: "linear-sample",
}
MAX_ICB_VEC4 = 4096
MAX_INDEXABLE_VEC4 = 4096
MAX_CONSTANT_BUFFER_VEC4 = 4096
MAX_THREADS = 1024
_UNSUPPORTED_SV = {
    _S.CLIP_DISTANCE: "SV_ClipDistance", _S.CULL_DISTANCE: "SV_CullDistance",
    _S.PRIMITIVE_ID: "SV_PrimitiveID", _S.RENDER_TARGET_ARRAY_INDEX: "SV_RenderTargetArrayIndex",
    _S.VIEWPORT_ARRAY_INDEX: "SV_ViewportArrayIndex", _S.STENCIL_REF: "SV_StencilRef",
    _S.INNER_COVERAGE: "SV_InnerCoverage", _S.BARYCENTRICS: "SV_Barycentrics",
    _S.SHADINGRATE: "SV_ShadingRate", _S.CULLPRIMITIVE: "SV_CullPrimitive",
}


#: dcl_globalFlags bit: forceEarlyDepthStencil.
FORCE_EARLY_DEPTH_STENCIL = 1 << 2
#: WGSL's clip_distances builtin holds at most this many.
MAX_CLIP_DISTANCES = 8


def _system_value_decl(w: Writer, ins: ir.Instruction, sv: ir.SystemValue, output: bool) -> None:
    """Refuses (or, given the host feature, accepts) a declaration of a system value WGSL
    has only behind a feature, or not at all."""
    if sv == _S.CULL_DISTANCE:
        w.unsupported(ins, "SV_CullDistance is not offered (WGSL has no cull distances)")
    if sv == _S.CLIP_DISTANCE and output and w.stage == ir.ProgramType.VERTEX:
        w.require("clip-distances", ins, "SV_ClipDistance", "clip_distances")
        return
    if sv == _S.PRIMITIVE_ID and not output and w.stage == ir.ProgramType.PIXEL:
        w.require("primitive-index", ins, "SV_PrimitiveID", "primitive_index")
        return
    if sv in _UNSUPPORTED_SV:
        w.unsupported(ins, f"{_UNSUPPORTED_SV[sv]} is not offered")


def _wgsl_interpolate(interp: str, scalar: str) -> str:
    if scalar != "f32" or interp == "flat":
        return "@interpolate(flat)"
    kind, _, sampling = interp.partition("-")
    return f"@interpolate({kind}, {sampling})" if sampling else f"@interpolate({kind})"


def _value(ins: ir.Instruction, i: int, what: str, w: Writer) -> int:
    if len(ins.values) <= i:
        w.invalid(ins, f"missing {what}")
    return ins.values[i]


# ----- declarations -----

def dcl_temps(w: Writer, ins: ir.Instruction) -> None:
    n = _value(ins, 0, "the temp count", w)
    if n > MAX_REGISTERS:
        w.unsupported(ins, f"{n} temps (at most {MAX_REGISTERS})")
    w.temps = max(w.temps, n)


def dcl_indexable_temp(w: Writer, ins: ir.Instruction) -> None:
    reg, size = _value(ins, 0, "the register", w), _value(ins, 1, "the size", w)
    if reg > MAX_REGISTERS:
        w.invalid(ins, f"x{reg} is out of range")
    if size == 0:
        w.invalid(ins, f"x{reg} has size 0")
    total = sum(s for s, _ in w.indexable.values()) + size
    if total > MAX_INDEXABLE_VEC4:
        w.unsupported(ins, f"indexable temps of {total} registers (at most {MAX_INDEXABLE_VEC4})")
    if reg in w.indexable:
        w.invalid(ins, f"x{reg} is declared twice")
    w.indexable[reg] = (size, ins.values[2] if len(ins.values) > 2 else 4)


def dcl_icb(w: Writer, ins: ir.Instruction) -> None:
    data = ins.data
    if w.icb is not None:
        w.invalid(ins, "a second immediate constant buffer")
    if not data or len(data) % 4:
        w.invalid(ins, f"an immediate constant buffer of {len(data)} dwords (a positive multiple of 4 needed)")
    if len(data) // 4 > MAX_ICB_VEC4:
        w.unsupported(ins, f"an immediate constant buffer of {len(data) // 4} vectors (at most {MAX_ICB_VEC4})")
    w.icb = tuple(data)


def dcl_constantbuffer(w: Writer, ins: ir.Instruction) -> None:
    from ...protocol.bindings import binding_for
    if not ins.operands or len(ins.operands[0].indices) != 2:
        w.invalid(ins, "expects cb#[size]")
    slot, size = ins.operands[0].indices[0].immediate, ins.operands[0].indices[1].immediate
    try:
        binding = binding_for("constant_buffer", slot)
    except ValueError:
        w.invalid(ins, f"constant buffer slot cb{slot} is out of range")
    if size > MAX_CONSTANT_BUFFER_VEC4:
        w.invalid(ins, f"cb{slot} of {size} vectors (at most {MAX_CONSTANT_BUFFER_VEC4})")
    if slot in w.constant_buffers:
        w.invalid(ins, f"cb{slot} is declared twice")
    bound = dict(w.spec.constant_buffer_sizes).get(slot)
    if bound is not None:
        size = min(size, max(bound, 0))
    w.constant_buffers[slot] = size
    if size:
        w.global_decl(f"@group({w.group}) @binding({binding}) var<uniform> cb{slot}: array<vec4<u32>, {size}>;")


def _declared_register(w: Writer, ins: ir.Instruction) -> ir.Operand:
    if not ins.operands:
        w.invalid(ins, "missing its register")
    return ins.operands[0]


def dcl_input(w: Writer, ins: ir.Instruction) -> None:
    op = _declared_register(w, ins)
    if op.type == ir.OperandType.INPUT:
        if len(op.indices) != 1:
            w.unsupported(ins, "inputs with more than one index dimension")
        reg = op.indices[0].immediate
        if reg >= 32:
            w.invalid(ins, f"v{reg} is out of range")
        w.input_registers.add(reg)
        if ins.system_value is not None:
            _system_value_decl(w, ins, ins.system_value, output=False)
        if ins.name.startswith("dcl_input_ps"):
            w.decl.setdefault("ps_interpolation", {})[(reg, op.mask)] = ins.interpolation
        return
    if op.type == ir.OperandType.INPUT_PRIMITIVEID:
        w.unsupported(ins, "SV_PrimitiveID (vPrim) is not offered")
    from .writer import SPECIAL_REGISTERS
    if op.type in SPECIAL_REGISTERS:
        w._register(op, write=False)
        return
    w.unsupported(ins, f"input {op.type.name} is not supported")


def dcl_output(w: Writer, ins: ir.Instruction) -> None:
    op = _declared_register(w, ins)
    if op.type == ir.OperandType.OUTPUT:
        if len(op.indices) != 1:
            w.unsupported(ins, "outputs with more than one index dimension")
        reg = op.indices[0].immediate
        if reg >= 32:
            w.invalid(ins, f"o{reg} is out of range")
        if ins.system_value is not None:
            _system_value_decl(w, ins, ins.system_value, output=True)
        w.output_registers.add(reg)
        return
    if op.type == ir.OperandType.OUTPUT_STENCIL_REF:
        w.unsupported(ins, "SV_StencilRef output is not offered")
    from .writer import SPECIAL_REGISTERS
    if op.type in SPECIAL_REGISTERS:
        w._register(op, write=True)
        return
    w.unsupported(ins, f"output {op.type.name} is not supported")


def dcl_thread_group(w: Writer, ins: ir.Instruction) -> None:
    x, y, z = (_value(ins, i, "a thread-group size", w) for i in range(3))
    if not (1 <= x <= 1024 and 1 <= y <= 1024 and 1 <= z <= 64 and x * y * z <= MAX_THREADS):
        w.invalid(ins, f"thread group {x}x{y}x{z} is outside D3D11's limits")
    w.decl["workgroup_size"] = (x, y, z)


def dcl_indexrange(w: Writer, ins: ir.Instruction) -> None:
    """Records the range `v#`/`o#` relative indexing may reach (writer._io_registers)."""
    op = _declared_register(w, ins)
    if op.type not in (ir.OperandType.INPUT, ir.OperandType.OUTPUT) or len(op.indices) != 1:
        w.unsupported(ins, f"an index range over {op.type.name.lower()} registers")
    first, count = op.indices[0].immediate, _value(ins, 0, "the register count", w)
    if count == 0 or first + count > 32:
        w.invalid(ins, f"registers {first}..{first + count - 1} are out of range")
    w.decl.setdefault("index_ranges", []).append((op.type, first, count))


def dcl_global_flags(w: Writer, ins: ir.Instruction) -> None:
    """forceEarlyDepthStencil (a PS's): `@early_depth_test(force)` given the host's
    "shader-early-depth-test"; without it the flag is dropped where that changes nothing
    observable, i.e. unless the PS has UAVs (whose writes early tests suppress) or writes depth
    (which forced early tests ignore); then refused. The other flags change no result."""
    if ins.flags & FORCE_EARLY_DEPTH_STENCIL and w.stage == ir.ProgramType.PIXEL:
        w.decl["early_depth"] = ins


def ignore(w: Writer, ins: ir.Instruction) -> None:
    return None


def refuse(what: str):
    def handle(w: Writer, ins: ir.Instruction) -> None:
        w.unsupported(ins, what)
    return handle


# ----- the entry point -----

def _scalar(element: ir.SignatureElement) -> str:
    return SCALAR.get(element.component_type, "f32")


def _place(w: Writer, reg: str, comps: list[int], source: str, scalar: str, width: int) -> None:
    """Writes `source` (a `vec{width}<scalar>` or scalar expression) component j into reg's
    component comps[j], as bits."""
    bits = source if scalar == "u32" else f"bitcast<{'u32' if width == 1 else f'vec{width}<u32>'}>({source})"
    if width == 1:
        w.line(f"{reg}.{'xyzw'[comps[0]]} = {bits};")
        return
    if comps == [0, 1, 2, 3]:
        w.line(f"{reg} = {bits};")
        return
    parts = [f"{bits}.{'xyzw'[comps.index(c)]}" if c in comps else f"{reg}.{'xyzw'[c]}" for c in range(4)]
    w.line(f"{reg} = vec4<u32>({', '.join(parts)});")


def _gather(reg: str, comps: list[int]) -> str:
    """A vec4<u32> whose component j is reg's component comps[j] (the rest 0)."""
    if comps == [0, 1, 2, 3]:
        return reg
    parts = [f"{reg}.{'xyzw'[c]}" for c in comps] + ["0u"] * (4 - len(comps))
    return f"vec4<u32>({', '.join(parts)})"


def user_elements(elements: tuple[ir.SignatureElement, ...]) -> list[ir.SignatureElement]:
    return [e for e in elements if e.system_value == _S.UNDEFINED]


def default_varyings(elements: tuple[ir.SignatureElement, ...],
                     interpolation: dict[int, str] | None = None) -> tuple[Varying, ...]:
    """Each user element at its position among them; interpolation by register (PS) or by
    type."""
    out = []
    for k, e in enumerate(user_elements(elements)):
        scalar = _scalar(e)
        interp = (interpolation or {}).get(e.register, "perspective")
        if scalar != "f32":
            interp = "flat"
        out.append(Varying(e.semantic_name.upper(), e.semantic_index, k, interp, scalar))
    return tuple(out)


def ps_interpolations(program: ir.Program) -> dict[int, str]:
    """PS input register -> interpolation from its dcl_input_ps declarations."""
    out: dict[int, str] = {}
    for ins in program.instructions:
        if ins.name.startswith("dcl_input_ps") and ins.operands and ins.operands[0].type == ir.OperandType.INPUT \
                and ins.operands[0].indices and ins.interpolation is not None:
            out[ins.operands[0].indices[0].immediate] = INTERPOLATION.get(ins.interpolation, "perspective")
    return out


def _varyings(w: Writer, elements: tuple[ir.SignatureElement, ...]) -> dict[tuple[str, int], Varying]:
    if w.spec.varyings is not None:
        chosen = w.spec.varyings
    else:
        interp = ps_interpolations(w.program) if w.stage == ir.ProgramType.PIXEL else None
        chosen = default_varyings(elements, interp)
    return {(v.semantic.upper(), v.index): v for v in chosen}


def _check_element(w: Writer, e: ir.SignatureElement, allowed: set[ir.SystemValue], where: str) -> None:
    if e.system_value in _UNSUPPORTED_SV and e.system_value not in allowed:
        w.unsupported(None, f"{where} {e.semantic_name}{e.semantic_index}: {_UNSUPPORTED_SV[e.system_value]} is not offered")
    if e.system_value != _S.UNDEFINED and e.system_value not in allowed:
        w.unsupported(None, f"{where} {e.semantic_name}{e.semantic_index}: system value "
                            f"{e.system_value.name} is not supported here")
    if e.system_value in (_S.DEPTH, _S.DEPTH_GREATER_EQUAL, _S.DEPTH_LESS_EQUAL, _S.COVERAGE):
        return  # not in a register (fxc stores register 0xFFFFFFFF)
    if e.register >= 32:
        w.invalid(None, f"{where} {e.semantic_name}{e.semantic_index}: register {e.register} is out of range")
    if not e.mask & 0xF:
        w.invalid(None, f"{where} {e.semantic_name}{e.semantic_index}: empty component mask")


def _vertex(w: Writer) -> list[str]:
    fields: list[str] = []
    overrides = dict(w.spec.vertex_inputs)
    with w.capture() as body:
        for i, e in enumerate(w.blob.inputs):
            _check_element(w, e, {_S.VERTEX_ID, _S.INSTANCE_ID}, "VS input")
            comps = mask_components(e.mask)
            reg = f"v{e.register}"
            w.input_registers.add(e.register)
            if e.system_value == _S.VERTEX_ID:
                fields.append(f"@builtin(vertex_index) vertex_id: u32")
                # D3D11's SV_VertexID is the index value (DrawIndexed*) or counts from 0 (Draw*);
                # WGSL's vertex_index adds the base vertex or the first vertex
                base = w.spec.base_vertex
                if not 0 <= base < 1 << 32:
                    w.invalid(None, f"base vertex {base}")
                value = f"input.vertex_id - {base}u" if base else "input.vertex_id"
                _place(w, reg, comps[:1], value, "u32", 1)
            elif e.system_value == _S.INSTANCE_ID:
                fields.append(f"@builtin(instance_index) instance_id: u32")
                # D3D11 counts SV_InstanceID from 0, WGSL's instance_index from the first instance
                base = w.spec.base_instance
                if not 0 <= base < 1 << 32:
                    w.invalid(None, f"base instance {base}")
                value = f"input.instance_id - {base}u" if base else "input.instance_id"
                _place(w, reg, comps[:1], value, "u32", 1)
            else:
                scalar = overrides.get(i, _scalar(e))
                if scalar not in ("f32", "u32", "i32"):
                    w.invalid(None, f"vertex input {i}: type {scalar!r}")
                fields.append(f"@location({i}) a{i}: vec4<{scalar}>")
                _place(w, reg, comps, f"input.a{i}", scalar, 4)
        w.line("shader_main();")
        w.line("var output: VsOut;")
        out_fields: list[str] = []
        varyings = _varyings(w, w.blob.outputs)
        has_position = False
        clip: list[str] = []
        vs_out_allowed = {_S.POSITION}
        if "clip-distances" in w.spec.features:
            vs_out_allowed.add(_S.CLIP_DISTANCE)
        for e in w.blob.outputs:
            _check_element(w, e, vs_out_allowed, "VS output")
            reg = f"o{e.register}"
            w.output_registers.add(e.register)
            comps = mask_components(e.mask)
            if e.system_value == _S.POSITION:
                if has_position:
                    w.invalid(None, "two SV_Position outputs")
                has_position = True
                out_fields.append("@builtin(position) position: vec4<f32>")
                w.line(f"output.position = bitcast<vec4<f32>>({reg});")
                continue
            if e.system_value == _S.CLIP_DISTANCE:
                # D3D packs clip distances into up to two registers; each component, in
                # signature order, is the next element of WGSL's array
                w.require("clip-distances", None, f"VS output {e.semantic_name}{e.semantic_index}", "clip_distances")
                clip += [f"{reg}.{'xyzw'[c]}" for c in comps]
                continue
            v = varyings.get((e.semantic_name.upper(), e.semantic_index))
            if v is None:
                continue
            name = f"l{v.location}"
            out_fields.append(f"@location({v.location}) {_wgsl_interpolate(v.interpolation, v.scalar)} {name}: vec4<{v.scalar}>")
            value = _gather(reg, comps)
            w.line(f"output.{name} = {value if v.scalar == 'u32' else f'bitcast<vec4<{v.scalar}>>({value})'};")
        if not has_position:
            out_fields.insert(0, "@builtin(position) position: vec4<f32>")
        if len(clip) > MAX_CLIP_DISTANCES:
            w.invalid(None, f"{len(clip)} clip distances (at most {MAX_CLIP_DISTANCES})")
        if clip:
            out_fields.append(f"@builtin(clip_distances) clip_distances: array<f32, {len(clip)}>")
            for k, c in enumerate(clip):
                w.line(f"output.clip_distances[{k}] = bitcast<f32>({c});")
        w.line("return output;")
    _check_locations(w, out_fields)
    params = "input: VsIn" if fields else ""
    return [*_struct("VsIn", fields), *_struct("VsOut", out_fields),
            "@vertex", f"fn main({params}) -> VsOut {{", *body, "}"]


def _check_locations(w: Writer, fields: list[str]) -> None:
    seen = set()
    for f in fields:
        if f.startswith("@location("):
            loc = f[len("@location("):f.index(")")]
            if loc in seen:
                w.invalid(None, f"two values at @location({loc})")
            seen.add(loc)


def _struct(name: str, fields: list[str]) -> list[str]:
    if not fields:
        return []
    return [f"struct {name} {{", *(f"    {f}," for f in fields), "}", ""]


def _pixel(w: Writer) -> list[str]:
    fields: list[str] = []
    varyings = _varyings(w, w.blob.inputs)
    with w.capture() as body:
        for e in w.blob.inputs:
            ps_in_allowed = {_S.POSITION, _S.IS_FRONT_FACE, _S.SAMPLE_INDEX}
            if "primitive-index" in w.spec.features:
                ps_in_allowed.add(_S.PRIMITIVE_ID)
            _check_element(w, e, ps_in_allowed, "PS input")
            reg = f"v{e.register}"
            comps = mask_components(e.mask)
            w.input_registers.add(e.register)
            if e.system_value == _S.POSITION:
                if "@builtin(position) position: vec4<f32>" not in fields:
                    fields.append("@builtin(position) position: vec4<f32>")
                pos = w.tmp("bitcast<vec4<u32>>(vec4<f32>(input.position.xyz, 1.0f / input.position.w))",
                            "vec4<u32>")
                w.line(f"{reg} = vec4<u32>({_merge(reg, comps, pos)});")
            elif e.system_value == _S.IS_FRONT_FACE:
                fields.append("@builtin(front_facing) front_facing: bool")
                _place(w, reg, comps[:1], "select(0u, 0xffffffffu, input.front_facing)", "u32", 1)
            elif e.system_value == _S.SAMPLE_INDEX:
                fields.append("@builtin(sample_index) sample_index: u32")
                _place(w, reg, comps[:1], "input.sample_index", "u32", 1)
            elif e.system_value == _S.PRIMITIVE_ID:
                w.require("primitive-index", None, f"PS input {e.semantic_name}", "primitive_index")
                fields.append("@builtin(primitive_index) primitive_index: u32")
                _place(w, reg, comps[:1], "input.primitive_index", "u32", 1)
            else:
                v = varyings.get((e.semantic_name.upper(), e.semantic_index))
                if v is None:
                    continue  # no VS output provides it: reads 0
                name = f"l{v.location}"
                fields.append(f"@location({v.location}) {_wgsl_interpolate(v.interpolation, v.scalar)} {name}: vec4<{v.scalar}>")
                _place(w, reg, comps, f"input.{name}", v.scalar, 4)
        if "frag_quad" in w.special:  # coarse derivatives: the pixel's column/row in its 2x2 quad
            if "@builtin(position) position: vec4<f32>" not in fields:
                fields.append("@builtin(position) position: vec4<f32>")
            w.line("frag_quad = (vec2<u32>(input.position.xy) & vec2<u32>(1u)) != vec2<u32>(0u);")
        if "vCoverage" in w.special:
            fields.append("@builtin(sample_mask) coverage: u32")
            w.line("vCoverage = vec4<u32>(input.coverage);")
        w.line("shader_main();")
        out_fields: list[str] = []
        assigns: list[str] = []
        for e in w.blob.outputs:
            _check_element(w, e, {_S.TARGET, _S.DEPTH, _S.DEPTH_GREATER_EQUAL, _S.DEPTH_LESS_EQUAL,
                                  _S.COVERAGE}, "PS output")
            if e.system_value == _S.TARGET:
                if e.semantic_index > 7:
                    w.invalid(None, f"SV_Target{e.semantic_index}")
                scalar = _scalar(e)
                w.output_registers.add(e.register)
                out_fields.append(f"@location({e.semantic_index}) target{e.semantic_index}: vec4<{scalar}>")
                value = f"o{e.register}"
                assigns.append(f"output.target{e.semantic_index} = "
                               f"{value if scalar == 'u32' else f'bitcast<vec4<{scalar}>>({value})'};")
            elif e.system_value in (_S.DEPTH, _S.DEPTH_GREATER_EQUAL, _S.DEPTH_LESS_EQUAL):
                name = {_S.DEPTH: "oDepth", _S.DEPTH_GREATER_EQUAL: "oDepthGE", _S.DEPTH_LESS_EQUAL: "oDepthLE"}[e.system_value]
                w.special[name] = f"var<private> {name}: vec4<u32>;"
                if "@builtin(frag_depth) depth: f32" in out_fields:
                    w.invalid(None, "two depth outputs")
                out_fields.append("@builtin(frag_depth) depth: f32")
                assigns.append(f"output.depth = bitcast<f32>({name}.x);")
            elif e.system_value == _S.COVERAGE:
                w.special["oMask"] = "var<private> oMask: vec4<u32>;"
                out_fields.append("@builtin(sample_mask) mask: u32")
                assigns.append("output.mask = oMask.x;")
        if out_fields:
            w.line("var output: PsOut;")
            for a in assigns:
                w.line(a)
            w.line("return output;")
    _check_locations(w, fields)
    params = "input: PsIn" if fields else ""
    ret = " -> PsOut" if out_fields else ""
    stage = "@fragment"
    early = w.decl.get("early_depth")
    if early is not None:
        writes_depth = "@builtin(frag_depth) depth: f32" in out_fields
        if "shader-early-depth-test" in w.spec.features:
            if writes_depth:
                w.unsupported(early, "forceEarlyDepthStencil in a pixel shader that writes depth")
            stage += " @early_depth_test(force)"
        elif w.shader.uavs or writes_depth:
            w.require("shader-early-depth-test", early,
                      "forceEarlyDepthStencil in a pixel shader with UAVs or a depth output")
    return [*_struct("PsIn", fields), *_struct("PsOut", out_fields),
            stage, f"fn main({params}){ret} {{", *body, "}"]


def _merge(reg: str, comps: list[int], value: str) -> str:
    """The components of `reg` with comps replaced by the same components of `value`."""
    return ", ".join(f"{value}.{'xyzw'[c]}" if c in comps else f"{reg}.{'xyzw'[c]}" for c in range(4))


def _compute(w: Writer) -> list[str]:
    size = w.decl.get("workgroup_size")
    if size is None:
        w.invalid(None, "a compute shader without dcl_thread_group")
    builtins = {"vThreadID": ("global_invocation_id", "vec3<u32>", "vec4<u32>({}, 0u)"),
                "vThreadGroupID": ("workgroup_id", "vec3<u32>", "vec4<u32>({}, 0u)"),
                "vThreadIDInGroup": ("local_invocation_id", "vec3<u32>", "vec4<u32>({}, 0u)"),
                "vThreadIDInGroupFlattened": ("local_invocation_index", "u32", "vec4<u32>({})")}
    params = []
    with w.capture() as body:
        for name, (builtin, type_, conv) in builtins.items():
            if name in w.special:
                params.append(f"@builtin({builtin}) {builtin}: {type_}")
                w.line(f"{name} = {conv.format(builtin)};")
        w.line("shader_main();")
    x, y, z = size
    return [f"@compute @workgroup_size({x}, {y}, {z})", f"fn main({', '.join(params)}) {{", *body, "}"]


def finish(w: Writer) -> None:
    """Builds the entry point (after the body, so that every register it uses is known)."""
    if w.stage == ir.ProgramType.VERTEX:
        w.entry = _vertex(w)
    elif w.stage == ir.ProgramType.PIXEL:
        w.entry = _pixel(w)
    elif w.stage == ir.ProgramType.COMPUTE:
        w.entry = _compute(w)
    else:
        w.unsupported(None, f"{w.stage.name.lower()} shaders are not supported")


HANDLERS = {
    "dcl_temps": dcl_temps,
    "dcl_indexableTemp": dcl_indexable_temp,
    "dcl_immediateConstantBuffer": dcl_icb,
    "dcl_constantbuffer": dcl_constantbuffer,
    "dcl_input": dcl_input,
    "dcl_input_sgv": dcl_input,
    "dcl_input_siv": dcl_input,
    "dcl_input_ps": dcl_input,
    "dcl_input_ps_sgv": dcl_input,
    "dcl_input_ps_siv": dcl_input,
    "dcl_output": dcl_output,
    "dcl_output_sgv": dcl_output,
    "dcl_output_siv": dcl_output,
    "dcl_thread_group": dcl_thread_group,
    "dcl_globalFlags": dcl_global_flags,
    "dcl_indexrange": dcl_indexrange,
    "dcl_function_body": refuse("class linkage (interfaces) is not supported"),
    "dcl_function_table": refuse("class linkage (interfaces) is not supported"),
    "dcl_interface": refuse("class linkage (interfaces) is not supported"),
}
