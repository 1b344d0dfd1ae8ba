"""Shared helpers for the WGSL writer's tests.

- `render(device, wgsl, ...)`: runs a translated pixel shader over a small render target (one
  per SV_Target the module declares: rgba32float / rgba32uint / rgba32sint by its type) with a
  full-screen WGSL vertex shader, given constant-buffer contents (and constant varyings for
  the PS's inputs), and returns each target's texels as numpy uint32 bit patterns.
- `run_pixel_shader(...)`: the same, target 0 only.
- A tiny IR builder (`ps`, `dst`, `src`, `imm`, `cb_rel`, `ins`) to write pixel shaders as
  `pvgpu.shaders.ir` objects until the assembler exists.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

import numpy as np

from pvgpu.protocol.bindings import binding_for
from pvgpu.shaders import ir
from pvgpu.shaders.translate import DxbcShader

T = ir.OperandType
_TARGET = re.compile(r"@location\((\d+)\)\s+target\d+:\s*vec4<(f32|u32|i32)>")
_PS_INPUT = re.compile(r"@location\((\d+)\)\s+(@interpolate\([^)]*\))?\s*(l\d+):\s*vec4<(f32|u32|i32)>")
_UNIFORM = re.compile(r"@group\((\d+)\)\s*@binding\((\d+)\)\s*var<uniform>\s*(cb\d+)\s*:\s*array<vec4<u32>,\s*(\d+)>")
_FORMATS = {"f32": "rgba32float", "u32": "rgba32uint", "i32": "rgba32sint"}


def bits(values: Sequence[float | int] | np.ndarray) -> np.ndarray:
    """Floats and ints as their 32-bit patterns: a float is packed as f32, an int as u32/i32."""
    out = []
    for v in values:
        if isinstance(v, float):
            out.append(struct.unpack("<I", struct.pack("<f", v))[0])
        else:
            out.append(int(v) & 0xFFFFFFFF)
    return np.array(out, dtype=np.uint32)


def as_float(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.uint32).view(np.float32)


def _vertex_shader(wgsl: str, varyings: dict[int, Sequence[float | int]]) -> str:
    fields = ["@builtin(position) position: vec4<f32>"]
    assigns = []
    for m in _PS_INPUT.finditer(wgsl):
        loc, interp, name, scalar = int(m.group(1)), m.group(2) or "", m.group(3), m.group(4)
        fields.append(f"@location({loc}) {interp} {name}: vec4<{scalar}>")
        value = bits(varyings.get(loc, (0, 0, 0, 0)))
        parts = ", ".join(f"{int(b)}u" for b in value)
        assigns.append(f"out.{name} = bitcast<vec4<{scalar}>>(vec4<u32>({parts}));")
    body = "\n    ".join(assigns)
    return f"""
struct HarnessOut {{
    {(','.join(fields))},
}}

@vertex
fn main(@builtin(vertex_index) i: u32) -> HarnessOut {{
    var p = array<vec2<f32>, 3>(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));
    var out: HarnessOut;
    out.position = vec4<f32>(p[i], 0.0, 1.0);
    {body}
    return out;
}}
"""


def render(device, wgsl: str, *, constant_buffers: dict[int, Sequence[float | int] | np.ndarray] | None = None,
           size: tuple[int, int] = (4, 4), varyings: dict[int, Sequence[float | int]] | None = None
           ) -> dict[int, np.ndarray]:
    """Draws a full-screen triangle with `wgsl`'s fragment shader; returns location -> texels
    (height, width, 4) uint32. Constant buffers are given as flat lists of 32-bit values."""
    import wgpu
    constant_buffers = constant_buffers or {}
    width, height = size
    targets = {int(m.group(1)): m.group(2) for m in _TARGET.finditer(wgsl)}
    if not targets:
        raise AssertionError("the module declares no SV_Target output")
    ps_module = device.create_shader_module(code=wgsl)
    vs_module = device.create_shader_module(code=_vertex_shader(wgsl, varyings or {}))

    layout_entries, group_entries, keep = [], [], []
    for m in _UNIFORM.finditer(wgsl):
        group, binding, name, count = int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))
        if len(re.findall(rf"\b{name}\b", wgsl)) < 2:
            continue  # declared, unused: not in the derived layout
        slot = int(name[2:])
        assert binding == binding_for("constant_buffer", slot) and group == 1
        data = np.zeros(count * 4, dtype=np.uint32)
        given = bits(constant_buffers.get(slot, ()))[: count * 4]
        data[: len(given)] = given
        buf = device.create_buffer_with_data(data=data.tobytes(), usage=wgpu.BufferUsage.UNIFORM)
        keep.append(buf)
        layout_entries.append({"binding": binding, "visibility": wgpu.ShaderStage.FRAGMENT,
                               "buffer": {"type": wgpu.BufferBindingType.uniform}})
        group_entries.append({"binding": binding, "resource": {"buffer": buf, "offset": 0, "size": data.nbytes}})
    layouts = [device.create_bind_group_layout(entries=[]), device.create_bind_group_layout(entries=layout_entries)]
    pipeline_layout = device.create_pipeline_layout(bind_group_layouts=layouts)
    textures = {loc: device.create_texture(size=(width, height, 1), format=_FORMATS[kind],
                                           usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
                for loc, kind in sorted(targets.items())}
    n_targets = max(targets) + 1
    color_targets = [{"format": _FORMATS[targets[i]]} if i in targets else None for i in range(n_targets)]
    pipeline = device.create_render_pipeline(
        layout=pipeline_layout,
        vertex={"module": vs_module, "entry_point": "main"},
        fragment={"module": ps_module, "entry_point": "main", "targets": color_targets},
        primitive={"topology": wgpu.PrimitiveTopology.triangle_list},
    )
    bind_groups = [device.create_bind_group(layout=layouts[0], entries=[]),
                   device.create_bind_group(layout=layouts[1], entries=group_entries)]
    encoder = device.create_command_encoder()
    attachments = [{"view": textures[i].create_view(), "load_op": wgpu.LoadOp.clear,
                    "store_op": wgpu.StoreOp.store, "clear_value": (0, 0, 0, 0)} if i in textures else None
                   for i in range(n_targets)]
    rp = encoder.begin_render_pass(color_attachments=attachments)
    rp.set_pipeline(pipeline)
    for i, bg in enumerate(bind_groups):
        rp.set_bind_group(i, bg)
    rp.draw(3)
    rp.end()
    device.queue.submit([encoder.finish()])
    out = {}
    for loc, tex in textures.items():
        raw = device.queue.read_texture({"texture": tex, "origin": (0, 0, 0)},
                                        {"offset": 0, "bytes_per_row": width * 16, "rows_per_image": height},
                                        (width, height, 1))
        out[loc] = np.frombuffer(bytes(raw), dtype=np.uint32).reshape(height, width, 4).copy()
    return out


def run_pixel_shader(device, wgsl: str, **kwargs) -> np.ndarray:
    """Target 0's texels (height, width, 4) as uint32 bit patterns."""
    return render(device, wgsl, **kwargs)[0]


# ----- a tiny IR builder -----

def _mask(text: str) -> int:
    return sum(1 << "xyzw".index(c) for c in text)


def dst(type_: T, index: int, mask: str = "xyzw") -> ir.Operand:
    return ir.Operand(type_, 4, ir.Selection.MASK, _mask(mask), (0, 0, 0, 0), (ir.Index(index),))


def src(type_: T, index: int | tuple[int, ...], swizzle: str = "xyzw",
        modifier: ir.Modifier = ir.Modifier.NONE, relative: ir.Operand | None = None) -> ir.Operand:
    """A register source; `index` is one number or (slot, register) for cb#[..]; `relative`
    adds a relative part to the last index."""
    idx = index if isinstance(index, tuple) else (index,)
    indices = [ir.Index(i) for i in idx]
    if relative is not None:
        indices[-1] = ir.Index(idx[-1], relative, ir.IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE)
    sw = tuple("xyzw".index(c) for c in (swizzle * 4)[:4]) if len(swizzle) < 4 else tuple("xyzw".index(c) for c in swizzle)
    sel = ir.Selection.SELECT1 if len(swizzle) == 1 else ir.Selection.SWIZZLE
    return ir.Operand(type_, 4, sel, 0b1111, sw, tuple(indices), modifier=modifier)


def imm(*values: float | int, modifier: ir.Modifier = ir.Modifier.NONE) -> ir.Operand:
    b = tuple(int(x) for x in bits(values))
    if len(b) == 1:
        return ir.Operand(T.IMMEDIATE32, 1, ir.Selection.MASK, 1, (0, 0, 0, 0), values=b, modifier=modifier)
    return ir.Operand(T.IMMEDIATE32, 4, ir.Selection.SWIZZLE, 0b1111, (0, 1, 2, 3), values=b, modifier=modifier)


def ins(name: str, *operands: ir.Operand, **fields) -> ir.Instruction:
    return ir.Instruction(name=name, opcode=0, operands=operands, **fields)


def dcl_temps(n: int) -> ir.Instruction:
    return ins("dcl_temps", values=(n,))


def dcl_cb(slot: int, size: int) -> ir.Instruction:
    op = ir.Operand(T.CONSTANT_BUFFER, 4, ir.Selection.SWIZZLE, 0b1111, (0, 1, 2, 3), (ir.Index(slot), ir.Index(size)))
    return ins("dcl_constantbuffer", op, dynamic_indexed=True)


def ps(instructions: Sequence[ir.Instruction], *, targets: Sequence[str] = ("u32",),
       position: int | None = None) -> DxbcShader:
    """A pixel shader: `targets` are SV_Target0.. component types (o0, o1, ...); `position`:
    the v# register SV_Position is read into (declared before the instructions)."""
    ctype = {"f32": ir.ComponentType.FLOAT32, "u32": ir.ComponentType.UINT32, "i32": ir.ComponentType.SINT32}
    outputs = tuple(ir.SignatureElement("SV_Target", i, ir.SystemValue.TARGET, ctype[k], i, 0b1111, 0)
                    for i, k in enumerate(targets))
    inputs: tuple[ir.SignatureElement, ...] = ()
    head: list[ir.Instruction] = []
    if position is not None:
        inputs = (ir.SignatureElement("SV_Position", 0, ir.SystemValue.POSITION, ir.ComponentType.FLOAT32,
                                      position, 0b1111, 0b0011),)
        head.append(ins("dcl_input_ps_siv", dst(T.INPUT, position, "xy"),
                        interpolation=ir.Interpolation.LINEAR_NOPERSPECTIVE, system_value=ir.SystemValue.POSITION))
    head += [ins("dcl_output", dst(T.OUTPUT, i)) for i in range(len(targets))]
    program = ir.Program(ir.ProgramType.PIXEL, 5, 0, tuple(head) + tuple(instructions))
    blob = ir.ShaderBlob(ir.ProgramType.PIXEL, 5, 0, b"", inputs=inputs, outputs=outputs)
    cbs = {}
    for i in program.instructions:
        if i.name == "dcl_constantbuffer":
            cbs[i.operands[0].indices[0].immediate] = i.operands[0].indices[1].immediate
    return DxbcShader(blob=blob, program=program, stage=ir.ProgramType.PIXEL, textures={}, buffers={}, uavs={},
                      samplers={}, constant_buffers=cbs, workgroup_size=None)
