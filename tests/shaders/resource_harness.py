"""Runs translated compute shaders with resources bound, on a direct wgpu device (for the
resource instructions' tests).

- `cs(instructions, group=(1, 1, 1))`: a compute shader (`DxbcShader`) from IR instructions
  (builder functions come from harness.py, plus the declaration builders here).
- `dispatch(device, shader, bindings, groups=(1, 1, 1))`: translates it, creates the
  pipeline with wgpu's derived layout and runs it; `bindings` maps t#/s#/u# names to wgpu
  resources (`Buf` for buffers whose contents come back, a texture view, a sampler). Returns
  every `Buf`'s contents after the dispatch as uint32 arrays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pvgpu.protocol.bindings import binding_for
from pvgpu.shaders import ir
from pvgpu.shaders.specialization import DEFAULT, Specialization
from pvgpu.shaders.translate import DxbcShader, to_wgsl

from .harness import ins

T = ir.OperandType
D = ir.ResourceDimension
R = ir.ReturnType


def slot(type_: T, n: int, swizzle: str = "xyzw") -> ir.Operand:
    """A t#/s#/u#/g# operand (source form: swizzle; a destination uses `slot_mask`)."""
    sw = tuple("xyzw".index(c) for c in swizzle)
    return ir.Operand(type_, 4, ir.Selection.SWIZZLE, 0b1111, sw, (ir.Index(n),))


def slot_mask(type_: T, n: int, mask: str = "xyzw") -> ir.Operand:
    m = sum(1 << "xyzw".index(c) for c in mask)
    return ir.Operand(type_, 4, ir.Selection.MASK, m, (0, 0, 0, 0), (ir.Index(n),))


def sampler(n: int) -> ir.Operand:
    return ir.Operand(T.SAMPLER, 0, ir.Selection.MASK, 0, (0, 0, 0, 0), (ir.Index(n),))


def gather_sampler(n: int, component: str) -> ir.Operand:
    c = "xyzw".index(component)
    return ir.Operand(T.SAMPLER, 4, ir.Selection.SELECT1, 0b1111, (c,) * 4, (ir.Index(n),))


def dcl_texture(n: int, dim: D, rt: R = R.FLOAT) -> ir.Instruction:
    return ins("dcl_resource", slot(T.RESOURCE, n), resource_dimension=dim, return_types=(rt,) * 4)


def dcl_sampler(n: int, comparison: bool = False) -> ir.Instruction:
    mode = ir.SamplerMode.COMPARISON if comparison else ir.SamplerMode.DEFAULT
    return ins("dcl_sampler", sampler(n), sampler_mode=mode)


def dcl_uav_raw(n: int) -> ir.Instruction:
    return ins("dcl_uav_raw", slot(T.UNORDERED_ACCESS_VIEW, n))


def dcl_uav_structured(n: int, stride: int) -> ir.Instruction:
    return ins("dcl_uav_structured", slot(T.UNORDERED_ACCESS_VIEW, n), values=(stride,))


def dcl_uav_typed(n: int, dim: D, rt: R = R.UINT) -> ir.Instruction:
    return ins("dcl_uav_typed", slot(T.UNORDERED_ACCESS_VIEW, n), resource_dimension=dim, return_types=(rt,) * 4)


def dcl_resource_raw(n: int) -> ir.Instruction:
    return ins("dcl_resource_raw", slot(T.RESOURCE, n))


def dcl_resource_structured(n: int, stride: int) -> ir.Instruction:
    return ins("dcl_resource_structured", slot(T.RESOURCE, n), values=(stride,))


def dcl_tgsm_raw(n: int, size: int) -> ir.Instruction:
    return ins("dcl_tgsm_raw", slot(T.THREAD_GROUP_SHARED_MEMORY, n), values=(size,))


def dcl_tgsm_structured(n: int, stride: int, count: int) -> ir.Instruction:
    return ins("dcl_tgsm_structured", slot(T.THREAD_GROUP_SHARED_MEMORY, n), values=(stride, count))


def cs(instructions: Sequence[ir.Instruction], group: tuple[int, int, int] = (1, 1, 1)) -> DxbcShader:
    head = [ins("dcl_thread_group", values=group)]
    program = ir.Program(ir.ProgramType.COMPUTE, 5, 0, tuple(head) + tuple(instructions))
    blob = ir.ShaderBlob(ir.ProgramType.COMPUTE, 5, 0, b"")
    return DxbcShader(blob=blob, program=program, stage=ir.ProgramType.COMPUTE, textures={}, buffers={}, uavs={},
                      samplers={}, constant_buffers={}, workgroup_size=group)


@dataclass
class Buf:
    """A storage buffer with initial 32-bit contents; its final contents come back."""
    words: Sequence[int] | np.ndarray


_DECL = re.compile(r"@group\((\d+)\) @binding\((\d+)\) var(?:<[^>]*>)? (\w+):")
_KINDS = {"t": "shader_resource", "s": "sampler", "u": "unordered_access"}


def dispatch(device, shader: DxbcShader, bindings: dict[str, object], groups: tuple[int, int, int] = (1, 1, 1),
             spec: Specialization = DEFAULT) -> dict[str, np.ndarray]:
    import wgpu
    wgsl = to_wgsl(shader, spec)
    module = device.create_shader_module(code=wgsl)
    pipeline = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
    entries, buffers = [], {}
    for m in _DECL.finditer(wgsl):
        group, binding, name = int(m.group(1)), int(m.group(2)), m.group(3)
        assert group == 2 and binding == binding_for(_KINDS[name[0]], int(name[1:])), m.group(0)
        if len(re.findall(rf"\b{name}\b", wgsl)) < 2:
            continue
        res = bindings[name]
        if isinstance(res, Buf):
            data = np.asarray(res.words, dtype=np.uint32)
            buf = device.create_buffer_with_data(data=data.tobytes(), usage=wgpu.BufferUsage.STORAGE
                                                 | wgpu.BufferUsage.COPY_SRC)
            buffers[name] = buf
            res = {"buffer": buf, "offset": 0, "size": data.nbytes}
        entries.append({"binding": binding, "resource": res})
    encoder = device.create_command_encoder()
    cp = encoder.begin_compute_pass()
    cp.set_pipeline(pipeline)
    for g in range(2):
        cp.set_bind_group(g, device.create_bind_group(layout=pipeline.get_bind_group_layout(g), entries=[]))
    cp.set_bind_group(2, device.create_bind_group(layout=pipeline.get_bind_group_layout(2), entries=entries))
    cp.dispatch_workgroups(*groups)
    cp.end()
    device.queue.submit([encoder.finish()])
    return {name: np.frombuffer(bytes(device.queue.read_buffer(buf)), dtype=np.uint32).copy()
            for name, buf in buffers.items()}


def texture(device, data: np.ndarray | list[np.ndarray], fmt: str, *, dimension: str = "2d", layers: int = 1,
            view_dimension: str | None = None, sample_count: int = 1, usage_storage: bool = False):
    """A texture from per-mip arrays (height, width, channels) of any dtype, or (depth, height,
    width, channels) for 3D / layered textures; returns (texture, view)."""
    import wgpu
    mips = data if isinstance(data, list) else [data]
    first = mips[0]
    if dimension == "3d" or layers > 1:
        depth, height, width = first.shape[:3]
    else:
        height, width = first.shape[:2]
        depth = 1
    usage = wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST
    if usage_storage:
        usage |= wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_SRC
    tex = device.create_texture(size=(width, height, depth), format=fmt, dimension=dimension,
                                mip_level_count=len(mips), usage=usage, sample_count=sample_count)
    for level, arr in enumerate(mips):
        arr = np.ascontiguousarray(arr)
        h, w = (arr.shape[1], arr.shape[2]) if arr.ndim == 4 else (arr.shape[0], arr.shape[1])
        d = arr.shape[0] if arr.ndim == 4 else 1
        row = arr.nbytes // (d * h)
        device.queue.write_texture({"texture": tex, "mip_level": level}, arr.tobytes(),
                                   {"offset": 0, "bytes_per_row": row, "rows_per_image": h}, (w, h, d))
    view = tex.create_view(dimension=view_dimension) if view_dimension else tex.create_view()
    return tex, view


_TARGET = re.compile(r"@location\((\d+)\)\s+target\d+:\s*vec4<(f32|u32|i32)>")
_TARGET_FORMATS = {"f32": "rgba32float", "u32": "rgba32uint", "i32": "rgba32sint"}


def render(device, shader: DxbcShader, bindings: dict[str, object], size: tuple[int, int] = (4, 4),
           spec: Specialization = DEFAULT) -> dict[int, np.ndarray]:
    """Draws a full-screen triangle with a translated pixel shader and `bindings` (t#/s# names
    -> texture views and samplers) in group 1; returns location -> texels (h, w, 4) uint32."""
    import wgpu

    from .harness import _vertex_shader
    wgsl = to_wgsl(shader, spec)
    width, height = size
    targets = {int(m.group(1)): m.group(2) for m in _TARGET.finditer(wgsl)}
    ps_module = device.create_shader_module(code=wgsl)
    vs_module = device.create_shader_module(code=_vertex_shader(wgsl, {}))
    n = max(targets) + 1
    pipeline = device.create_render_pipeline(
        layout="auto", vertex={"module": vs_module, "entry_point": "main"},
        fragment={"module": ps_module, "entry_point": "main",
                  "targets": [{"format": _TARGET_FORMATS[targets[i]]} if i in targets else None for i in range(n)]},
        primitive={"topology": wgpu.PrimitiveTopology.triangle_list})
    entries = []
    for m in _DECL.finditer(wgsl):
        group, binding, name = int(m.group(1)), int(m.group(2)), m.group(3)
        assert group == 1 and binding == binding_for(_KINDS[name[0]], int(name[1:])), m.group(0)
        if len(re.findall(rf"\b{name}\b", wgsl)) >= 2:
            entries.append({"binding": binding, "resource": bindings[name]})
    textures = {loc: device.create_texture(size=(width, height, 1), format=_TARGET_FORMATS[kind],
                                           usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
                for loc, kind in targets.items()}
    encoder = device.create_command_encoder()
    rp = encoder.begin_render_pass(color_attachments=[
        {"view": textures[i].create_view(), "load_op": "clear", "store_op": "store", "clear_value": (0, 0, 0, 0)}
        if i in textures else None for i in range(n)])
    rp.set_pipeline(pipeline)
    rp.set_bind_group(0, device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[]))
    rp.set_bind_group(1, device.create_bind_group(layout=pipeline.get_bind_group_layout(1), entries=entries))
    rp.draw(3)
    rp.end()
    device.queue.submit([encoder.finish()])
    out = {}
    for loc, tex in textures.items():
        raw = device.queue.read_texture({"texture": tex}, {"bytes_per_row": width * 16, "rows_per_image": height},
                                        (width, height, 1))
        out[loc] = np.frombuffer(bytes(raw), dtype=np.uint32).reshape(height, width, 4).copy()
    return out
