"""Direct-wgpu helpers: the reference half of a scene, written with plain wgpu calls on the
`wgpu_device` fixture (no pvgpu code involved).

- `target(d, w, h, ...)`: a render-attachment texture to draw into and read back.
- `texture(d, subresources, mips, layers, dimension=...)`: a sampled texture filled from the
  same bytes the guest passes to CreateTexture* (D3D11's subresource order: slice by slice,
  mips within); 1D textures are 2D ones of height 1 here, 3D mips are (depth, h, w, bpp).
- `buffer(d, data, usage)`: a buffer holding `data` (padded to 4 bytes).
- `pipeline(d, vs, ps, ...)`: a render pipeline from WGSL source with `layout="auto"`.
- `bind(d, pass, pipeline, groups)`: bind groups {group: {binding: resource}} on a render or
  compute pass; empty groups below the highest used one are bound too (auto layouts need them).
- `uniform(buffer)`: a whole buffer as a bind-group resource.
- `dispatch(d, cs, groups, workgroups)`: one compute dispatch (entry point `cs`), submitted
  (or `indirect`, recorded into an `encoder`, counted by a statistics query).
- `storage(d, size, data)`: a STORAGE buffer; `read_volume(d, texture, w, h, depth)`: a 3D mip.
- `readback(d, texture, w, h, ...)`: `queue.read_texture` as (height, width, bytes per texel).
- `read_buffer(d, buffer, size)`: a buffer's bytes (copied through a MAP_READ buffer).
- `generate_mips(d, texture, mips, layers)`: each mip drawn from the one above with a linear
  sampler (what D3D11's GenerateMips asks for: a box filter for even sizes).
"""

from __future__ import annotations

import numpy as np
import wgpu

RGBA8 = "rgba8unorm"
TU, BU = wgpu.TextureUsage, wgpu.BufferUsage


def target(d: wgpu.GPUDevice, width: int, height: int, fmt: str = RGBA8, samples: int = 1,
           usage: int = 0) -> wgpu.GPUTexture:
    usage |= TU.RENDER_ATTACHMENT | (TU.COPY_SRC if samples == 1 else 0)
    return d.create_texture(size=(width, height, 1), format=fmt, sample_count=samples, usage=usage)


def texture(d: wgpu.GPUDevice, subresources: list[np.ndarray], mips: int = 1, layers: int = 1, fmt: str = RGBA8,
            usage: int = 0, dimension: str = "2d") -> wgpu.GPUTexture:
    """2D (and 1D: height 1) subresources are (h, w, bpp) arrays, `layers` slices of `mips`
    mips; with dimension "3d" each is a (depth, h, w, bpp) mip and `layers` is 1."""
    if dimension == "3d":
        size = tuple(reversed(subresources[0].shape[:3]))
    else:
        size = (subresources[0].shape[1], subresources[0].shape[0], layers)
    tex = d.create_texture(size=size, mip_level_count=mips, format=fmt, dimension=dimension,
                           usage=usage | TU.TEXTURE_BINDING | TU.COPY_DST | TU.COPY_SRC)
    for i, data in enumerate(subresources):
        layer, mip = divmod(i, mips)
        box = data.shape[:3] if dimension == "3d" else (1, *data.shape[:2])
        md, mh, mw = box
        bpp = data.nbytes // (mw * mh * md)
        d.queue.write_texture({"texture": tex, "mip_level": mip, "origin": (0, 0, layer)}, np.ascontiguousarray(data),
                              {"bytes_per_row": mw * bpp, "rows_per_image": mh}, (mw, mh, md))
    return tex


def buffer(d: wgpu.GPUDevice, data: np.ndarray | bytes, usage: int) -> wgpu.GPUBuffer:
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    raw += bytes(-len(raw) % 4)
    return d.create_buffer_with_data(data=raw, usage=usage | BU.COPY_SRC | BU.COPY_DST)


def pipeline(d: wgpu.GPUDevice, vs: str, ps: str | None, *, buffers=(), primitive=None, depth_stencil=None,
             targets=({"format": RGBA8},), multisample=None) -> wgpu.GPURenderPipeline:
    return d.create_render_pipeline(
        layout="auto",
        vertex={"module": d.create_shader_module(code=vs), "entry_point": "vs", "buffers": list(buffers)},
        primitive=primitive or {"topology": "triangle-list"},
        depth_stencil=depth_stencil,
        multisample=multisample or {"count": 1},
        fragment=None if ps is None else {"module": d.create_shader_module(code=ps), "entry_point": "ps",
                                          "targets": list(targets)})


def bind(d: wgpu.GPUDevice, render_pass, pipe: wgpu.GPURenderPipeline, groups: dict[int, dict]) -> None:
    used = [i for i, entries in groups.items() if entries]
    for i in range(max(used) + 1 if used else 0):
        entries = [{"binding": b, "resource": r} for b, r in sorted(groups.get(i, {}).items())]
        render_pass.set_bind_group(i, d.create_bind_group(layout=pipe.get_bind_group_layout(i), entries=entries))


def uniform(buf: wgpu.GPUBuffer) -> dict:
    """A bind-group resource for a whole (uniform or storage) buffer."""
    return {"buffer": buf, "offset": 0, "size": buf.size}


def dispatch(d: wgpu.GPUDevice, cs: str, groups: dict[int, dict], workgroups=(1, 1, 1), *, indirect=None,
             encoder=None, statistics=None) -> None:
    """Run compute shader `cs` (entry point `cs`) once with bind groups {group: {binding: resource}}.
    `indirect`: (buffer, offset) whose three counts replace `workgroups`; `encoder`: record into
    it (the caller submits) instead of submitting; `statistics`: (query set, slot) of a
    pipeline-statistics query around the dispatch."""
    pipe = d.create_compute_pipeline(layout="auto", compute={"module": d.create_shader_module(code=cs),
                                                             "entry_point": "cs"})
    enc = encoder or d.create_command_encoder()
    p = enc.begin_compute_pass()
    if statistics is not None:
        p._begin_pipeline_statistics_query(*statistics)
    p.set_pipeline(pipe)
    bind(d, p, pipe, groups)
    if indirect is not None:
        p.dispatch_workgroups_indirect(*indirect)
    else:
        p.dispatch_workgroups(*workgroups)
    if statistics is not None:
        p._end_pipeline_statistics_query()
    p.end()
    if encoder is None:
        d.queue.submit([enc.finish()])


def storage(d: wgpu.GPUDevice, size: int, data: np.ndarray | bytes | None = None) -> wgpu.GPUBuffer:
    """A STORAGE buffer of `size` bytes (zeros, or `data` followed by zeros), readable back."""
    raw = b"" if data is None else (data.tobytes() if isinstance(data, np.ndarray) else bytes(data))
    return buffer(d, raw + bytes(size - len(raw)), BU.STORAGE)


def read_volume(d: wgpu.GPUDevice, tex: wgpu.GPUTexture, width: int, height: int, depth: int, bpp: int = 4,
                mip: int = 0) -> np.ndarray:
    """One mip of a 3D texture as (depth, height, width, bytes per texel)."""
    data = d.queue.read_texture({"texture": tex, "mip_level": mip, "origin": (0, 0, 0)},
                                {"bytes_per_row": width * bpp, "rows_per_image": height}, (width, height, depth))
    return np.frombuffer(data, dtype=np.uint8).reshape(depth, height, width, bpp).copy()


def readback(d: wgpu.GPUDevice, tex: wgpu.GPUTexture, width: int, height: int, bpp: int = 4, mip: int = 0,
             layer: int = 0, aspect: str = "all") -> np.ndarray:
    data = d.queue.read_texture({"texture": tex, "mip_level": mip, "origin": (0, 0, layer), "aspect": aspect},
                                {"bytes_per_row": width * bpp}, (width, height, 1))
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, bpp).copy()


def read_buffer(d: wgpu.GPUDevice, buf: wgpu.GPUBuffer, size: int) -> np.ndarray:
    out = d.create_buffer(size=(size + 3) // 4 * 4, usage=BU.COPY_DST | BU.MAP_READ)
    enc = d.create_command_encoder()
    enc.copy_buffer_to_buffer(buf, 0, out, 0, out.size)
    d.queue.submit([enc.finish()])
    out.map_sync("READ")
    data = np.frombuffer(out.read_mapped(), np.uint8)[:size].copy()
    out.unmap()
    return data


MIP_BLIT = """
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var smp: sampler;
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return VOut(vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0), vec2<f32>(xy.x, 1.0 - xy.y));
}
@fragment
fn ps(v: VOut) -> @location(0) vec4<f32> { return textureSampleLevel(src, smp, v.uv, 0.0); }
"""


def generate_mips(d: wgpu.GPUDevice, tex: wgpu.GPUTexture, mips: int, layers: int = 1, fmt: str = RGBA8) -> None:
    """Fill mips 1.. of `tex` (which needs RENDER_ATTACHMENT) from mip 0, each from the one above."""
    pipe = pipeline(d, MIP_BLIT, MIP_BLIT, targets=({"format": fmt},))
    smp = d.create_sampler(mag_filter="linear", min_filter="linear")
    enc = d.create_command_encoder()
    for layer in range(layers):
        for mip in range(1, mips):
            one = {"dimension": "2d", "mip_level_count": 1, "base_array_layer": layer, "array_layer_count": 1}
            p = enc.begin_render_pass(color_attachments=[{
                "view": tex.create_view(base_mip_level=mip, **one), "load_op": "clear", "store_op": "store",
                "clear_value": (0, 0, 0, 0)}])
            p.set_pipeline(pipe)
            bind(d, p, pipe, {0: {0: tex.create_view(base_mip_level=mip - 1, **one), 1: smp}})
            p.draw(3)
            p.end()
    d.queue.submit([enc.finish()])
