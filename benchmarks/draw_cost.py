"""Host cost per draw with state changes between draws: every draw switches blend state
(so the pipeline), constant buffer (so a bind group) and vertex-buffer offset. Through
pvgpu (guest process -> ring -> renderer worker) next to the same calls made directly on
wgpu in one process. Each draw covers a few pixels, so the GPU's share is small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import wgpu

from pvgpu.host import gpu
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService

SIZE = 128
COLORS = 8
VS = """
@vertex
fn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> { return vec4<f32>(p, 0.0, 1.0); }
"""
PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""


#: The same two shaders as DXBC (fxc-style assembly, assembled by pvgpu's assembler): what a
#: Direct3D 11 program passes. Measures what translated shaders add per draw (the bind-time
#: specialization the host reads off the bound state).
VS_ASM = """
// in: POSITION 0 xy 0 float
vs_4_0
dcl_input v0.xy
dcl_output_siv o0.xyzw, position
mov o0.xy, v0.xyxx
mov o0.zw, l(0, 0, 0, 1.0)
ret
"""
PS_ASM = """
ps_4_0
dcl_constantbuffer CB0[1], immediateIndexed
dcl_output o0.xyzw
mov o0.xyzw, cb0[0].xyzw
ret
"""


def shader_code(kind: str) -> tuple:
    """(vertex shader, pixel shader) as WGSL source or DXBC bytes."""
    if kind == "dxbc":
        from pvgpu.shaders.assembler import assemble
        return assemble(VS_ASM), assemble(PS_ASM)
    return VS, PS


def quads(draws: int) -> np.ndarray:
    """`draws` small quads (6 float2 vertices each) spread over the target."""
    rng = np.random.default_rng(1)
    corners = np.array([[0, 0], [0, 1], [1, 1], [0, 0], [1, 1], [1, 0]], np.float32) * 0.06
    origin = rng.uniform(-1, 0.94, (draws, 1, 2)).astype(np.float32)
    return (origin + corners).reshape(-1, 2)


def colors() -> np.ndarray:
    return np.random.default_rng(2).uniform(0, 1, (COLORS, 4)).astype(np.float32)


GUEST = r"""
import sys
import numpy as np
from pvgpu import guest as g
sys.path.insert(0, sys.argv[4])
from benchmarks.draw_cost import COLORS, SIZE, colors, quads, shader_code
socket_path, frames, draws = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
VS, PS = shader_code(sys.argv[5])
dev = g.connect(socket_path)
ctx = dev.get_immediate_context()
chain = dev.create_swap_chain(g.SwapChainDesc(SIZE, SIZE))
rtv = dev.create_render_target_view(chain.get_buffer(0))
verts = quads(draws)
vb = dev.create_buffer(g.BufferDesc(verts.nbytes, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE), verts)
cbs = [dev.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.IMMUTABLE), c) for c in colors()]
blends = [dev.create_blend_state(g.BlendDesc()),
          dev.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, g.Blend.SRC_ALPHA, g.Blend.INV_SRC_ALPHA)]))]
ctx.om_set_render_targets([rtv])
ctx.rs_set_viewports([g.Viewport(0, 0, SIZE, SIZE)])
ctx.rs_set_state(dev.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
ctx.ia_set_input_layout(dev.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)],
                                                VS if isinstance(VS, bytes) else None))
ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
ctx.vs_set_shader(dev.create_vertex_shader(VS))
ctx.ps_set_shader(dev.create_pixel_shader(PS))
for f in range(frames):
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    for i in range(draws):
        ctx.om_set_blend_state(blends[i & 1])
        ctx.ps_set_constant_buffers(0, [cbs[i % COLORS]])
        ctx.ia_set_vertex_buffers(0, [vb], [8], [i * 48])
        ctx.draw(6)
    chain.present()
chain.wait_idle()
dev.close()
"""


def pvgpu_us_per_draw(frames: int, draws: int, shaders: str = "wgsl") -> tuple[float, dict]:
    times: list[float] = []
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="pvgpu-draws-") as tmp:
        with HostService(os.path.join(tmp, "h.sock"), region_size=64 << 20,
                         presenters=[FrameCallback(lambda sid, f: times.append(time.perf_counter()))]) as service:
            subprocess.run([sys.executable, "-c", GUEST, service.socket_path, str(frames), str(draws), repo, shaders],
                           check=True, timeout=900)
            records = list(service.sessions.values())
    skip = min(2, frames - 2)
    # the median frame: steady state (the frame that captures the run for replay costs about
    # twice an ordinary one, once)
    per_frame = float(np.median(np.diff(times[skip:])))
    stats = records[0].stats
    return per_frame / draws * 1e6, {"hits": stats.pipeline_hits, "misses": stats.pipeline_misses}


def direct_us_per_draw(frames: int, draws: int) -> float:
    device, _ = gpu.open_device()
    target = device.create_texture(size=(SIZE, SIZE, 1), format="rgba8unorm",
                                   usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    view = target.create_view()
    verts = quads(draws)
    vb = device.create_buffer_with_data(data=verts.tobytes(), usage=wgpu.BufferUsage.VERTEX)
    vs, ps = device.create_shader_module(code=VS), device.create_shader_module(code=PS)
    blends = [None, {"color": {"src_factor": "src-alpha", "dst_factor": "one-minus-src-alpha", "operation": "add"},
                     "alpha": {"src_factor": "one", "dst_factor": "zero", "operation": "add"}}]
    pipelines = []
    for blend in blends:
        target_desc = {"format": "rgba8unorm"} | ({"blend": blend} if blend else {})
        pipelines.append(device.create_render_pipeline(
            layout="auto", vertex={"module": vs, "entry_point": "vs", "buffers": [
                {"array_stride": 8, "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0}]}]},
            primitive={"topology": "triangle-list", "cull_mode": "none"},
            fragment={"module": ps, "entry_point": "ps", "targets": [target_desc]}))
    cbs = [device.create_buffer_with_data(data=c.tobytes(), usage=wgpu.BufferUsage.UNIFORM) for c in colors()]
    groups = [[device.create_bind_group(layout=p.get_bind_group_layout(1), entries=[
        {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 16}}]) for cb in cbs] for p in pipelines]
    empty = [device.create_bind_group(layout=p.get_bind_group_layout(0), entries=[]) for p in pipelines]
    readback = device.create_buffer(size=SIZE * 4 * SIZE, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)

    def frame() -> None:
        enc = device.create_command_encoder()
        p = enc.begin_render_pass(color_attachments=[{"view": view, "load_op": "clear", "store_op": "store",
                                                      "clear_value": (0, 0, 0, 1)}])
        p.set_viewport(0, 0, SIZE, SIZE, 0, 1)
        for i in range(draws):
            k = i & 1
            p.set_pipeline(pipelines[k])
            p.set_bind_group(0, empty[k])
            p.set_bind_group(1, groups[k][i % COLORS])
            p.set_vertex_buffer(0, vb, i * 48)
            p.draw(6)
        p.end()
        enc.copy_texture_to_buffer({"texture": target}, {"buffer": readback, "bytes_per_row": SIZE * 4,
                                                         "rows_per_image": SIZE}, (SIZE, SIZE, 1))
        device.queue.submit([enc.finish()])
        readback.map_sync(wgpu.MapMode.READ)
        readback.unmap()

    frame()
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        frame()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / draws * 1e6


def measure(frames: int = 20, draws: int = 1000, dxbc: bool = True) -> dict:
    """Per-draw host cost through pvgpu (WGSL shaders, and DXBC shaders where `dxbc`) and direct."""
    pv, cache = pvgpu_us_per_draw(frames, draws)
    out = {"pvgpu_us": pv, "direct_us": direct_us_per_draw(frames, draws), **cache}
    if dxbc:
        out["pvgpu_dxbc_us"] = pvgpu_us_per_draw(frames, draws, "dxbc")[0]
    return out


if __name__ == "__main__":
    print(json.dumps(measure()))
