"""A GPU-bound scene (issue 9): a heavy pixel shader over a large target, few draws, presented
every frame.

Each frame clears the swap chain's back buffer and draws DRAWS full-screen triangles with
additive blending; each triangle's pixel shader runs a fixed loop of `iterations` steps of ALU
work per pixel (ITERATIONS by default), with the draw's constants (resolution, phase, tint,
weight) updated every frame. The target is `size` (3840x2160 by default). Then Present.

Through pvgpu the figure is the guest's frame rate: frames presented per second by a guest
process through a HostService, counted from the first measured frame's commands to the host
having handled the last present (the guest's SwapChain.wait_idle), so each frame's present and
its read-back of the back buffer (pvgpu's present reads the back buffer back and hands it to a
presenter) are included. The baseline is the same frame drawn directly with wgpu-py in one
process, with the same read-back per frame (copy the target to a buffer and map it, as
game_frame.py's DirectGame does). ratio = pvgpu fps / direct fps (the target on a real GPU:
>= 0.95, the shader's cost hiding pvgpu's per-frame overhead).

On a CPU rasteriser (lavapipe) a 4K frame with this shader takes seconds: use a small size and
fewer iterations there (`--size 512x512 --iterations 64`).

    python -m benchmarks.gpu_bound [--frames N] [--size WxH] [--iterations N]
"""

from __future__ import annotations

import argparse
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

SIZE = (3840, 2160)  # default target (width, height)
ITERATIONS = 256  # ALU loop steps per pixel per draw: the knob that makes the frame GPU-bound
DRAWS = 2  # full-screen triangles per frame, blended additively
WARMUP = 2  # frames drawn before timing starts (shader compiles, pipeline creation, first uses)
CB_BYTES = 32  # per-draw constants: view (1/w, 1/h, phase, weight), tint

#: Full-screen triangle from the vertex index (no vertex buffer, no input layout).
VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let p = array<vec2<f32>, 3>(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));
    return vec4<f32>(p[i], 0.0, 1.0);
}
"""
#: The heavy pixel shader; @ITERATIONS@ is replaced by the loop count. The loop is bounded
#: (fract) and depends on the pixel and the constants, so nothing folds it away.
PS = """
struct K { view: vec4<f32>, tint: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let uv = pos.xy * k.view.xy;
    let c = uv * 0.75 + vec2<f32>(k.view.z, 0.37);
    var z = uv;
    var acc = vec3<f32>(0.0);
    for (var i = 0u; i < @ITERATIONS@u; i = i + 1u) {
        z = fract(vec2<f32>(z.x * z.x - z.y * z.y, 2.0 * z.x * z.y) + c);
        acc = acc + vec3<f32>(z.x, z.y, z.x * z.y);
    }
    let n = f32(@ITERATIONS@u);
    return vec4<f32>(acc / n * k.tint.rgb * k.view.w, k.view.w);
}
"""


def pixel_shader(iterations: int) -> str:
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    return PS.replace("@ITERATIONS@", str(int(iterations)))


def constants(frame: int, draw: int, width: int, height: int) -> np.ndarray:
    """Draw `draw`'s constants in frame `frame` (float32 x8)."""
    tints = [(1.0, 0.6, 0.3), (0.3, 0.7, 1.0), (0.6, 1.0, 0.5), (1.0, 0.4, 0.9)]
    t = tints[draw % len(tints)]
    return np.array([1.0 / width, 1.0 / height, 0.013 * frame + 0.21 * draw, 1.0 / DRAWS, t[0], t[1], t[2], 1.0],
                    np.float32)


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


# --- through pvgpu: a guest process ------------------------------------------------------------
GUEST = r"""
import json, sys, time
from pvgpu import guest as g
sys.path.insert(0, sys.argv[6])
from benchmarks import gpu_bound as G
socket_path, frames, warmup, w, h, iterations = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                                 int(sys.argv[5]), int(sys.argv[7]))
dev = g.connect(socket_path)
ctx = dev.get_immediate_context()
chain = dev.create_swap_chain(g.SwapChainDesc(w, h))
back_rtv = dev.create_render_target_view(chain.get_buffer(0))
cbs = [dev.create_buffer(g.BufferDesc(G.CB_BYTES, g.BindFlag.CONSTANT_BUFFER)) for _ in range(G.DRAWS)]
vs, ps = dev.create_vertex_shader(G.VS), dev.create_pixel_shader(G.pixel_shader(iterations))
B = g.Blend
add = dev.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, B.ONE, B.ONE)]))
no_cull = dev.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE))
ds_off = dev.create_depth_stencil_state(g.DepthStencilDesc(depth_enable=False))
ctx.ia_set_input_layout(None)
ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
ctx.vs_set_shader(vs)
ctx.ps_set_shader(ps)
ctx.om_set_blend_state(add)
ctx.om_set_depth_stencil_state(ds_off)
ctx.rs_set_state(no_cull)
ctx.om_set_render_targets([back_rtv])
ctx.rs_set_viewports([g.Viewport(0, 0, w, h)])

def frame(f):
    ctx.clear_render_target_view(back_rtv, (0.0, 0.0, 0.0, 0.0))
    for d in range(G.DRAWS):
        ctx.update_subresource(cbs[d], 0, None, G.constants(f, d, w, h))
        ctx.ps_set_constant_buffers(0, [cbs[d]])
        ctx.draw(3)
    chain.present()

for f in range(warmup):
    frame(f)
chain.wait_idle()
start = time.perf_counter()
for f in range(warmup, warmup + frames):
    frame(f)
chain.wait_idle()  # the host has handled (read back and handed on) every present
elapsed = time.perf_counter() - start
errors = [e.detail for e in dev.host_errors()]
dev.close()
print(json.dumps({"elapsed_s": elapsed, "errors": errors}))
"""


def pvgpu_frames(frames: int, size: tuple[int, int], iterations: int, warmup: int = WARMUP) -> dict:
    """Run the guest; its presented frame rate, the host's presented-frame timestamps and busy
    time per frame, and the last frame's pixels."""
    width, height = size
    total = warmup + frames
    presented: list[float] = []
    last: list[np.ndarray] = []

    def on_frame(sid, f) -> None:
        presented.append(time.perf_counter())
        if f.index == total - 1:  # copy only the frame that is compared (a 4K copy per frame costs)
            last[:] = [f.pixels.copy()]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="pvgpu-gpubound-") as tmp:
        with HostService(os.path.join(tmp, "h.sock"), region_size=64 << 20,
                         presenters=[FrameCallback(on_frame)]) as service:
            out = subprocess.run([sys.executable, "-c", GUEST, service.socket_path, str(frames), str(warmup),
                                  str(width), str(height), repo, str(iterations)],
                                 capture_output=True, text=True, timeout=3600)
            if out.returncode != 0:
                raise RuntimeError(f"gpu_bound guest failed:\n{out.stderr}")
            records = list(service.sessions.values())
            records[0].ended.wait(30)
            stats = records[0].stats
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not last:
        raise RuntimeError(f"the last frame ({total - 1}) was not presented ({len(presented)} frames were)")
    timed = presented[warmup:total]
    busy = list(stats.frame_busy_s)[-frames:]
    return {"fps": frames / result["elapsed_s"], "frame_s": result["elapsed_s"] / frames,
            "presented_fps": (len(timed) - 1) / (timed[-1] - timed[0]) if len(timed) > 1 else float("nan"),
            "host_busy_frame_s": float(np.median(busy)) if busy else float("nan"),
            "frames_presented": len(presented), "host_errors": stats.errors, "guest_errors": result["errors"],
            "pipeline_hits": stats.pipeline_hits, "pipeline_misses": stats.pipeline_misses,
            "last_frame": last[0]}


# --- direct wgpu: the same frame, one process ------------------------------------------------
class DirectScene:
    """The frame as a wgpu-py program draws it, read back every frame like pvgpu's present."""

    def __init__(self, device: wgpu.GPUDevice, size: tuple[int, int], iterations: int):
        self.device = d = device
        self.width, self.height = width, height = size
        U, T, Fr = wgpu.BufferUsage, wgpu.TextureUsage, wgpu.ShaderStage.FRAGMENT
        self.back = d.create_texture(size=(width, height, 1), format="rgba8unorm",
                                     usage=T.RENDER_ATTACHMENT | T.COPY_SRC)
        self.back_view = self.back.create_view()
        self.row = (width * 4 + 255) // 256 * 256  # bytes_per_row must be a multiple of 256
        self.readback = d.create_buffer(size=self.row * height, usage=U.MAP_READ | U.COPY_DST)
        layout = d.create_bind_group_layout(entries=[
            {"binding": 0, "visibility": Fr, "buffer": {"type": "uniform", "min_binding_size": CB_BYTES}}])
        empty_layout = d.create_bind_group_layout(entries=[])
        self.cbs = [d.create_buffer(size=CB_BYTES, usage=U.UNIFORM | U.COPY_DST) for _ in range(DRAWS)]
        self.groups = [d.create_bind_group(layout=layout, entries=[
            {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": CB_BYTES}}]) for cb in self.cbs]
        self.empty_group = d.create_bind_group(layout=empty_layout, entries=[])
        add = {"operation": "add"}
        self.pipeline = d.create_render_pipeline(
            layout=d.create_pipeline_layout(bind_group_layouts=[empty_layout, layout]),
            vertex={"module": d.create_shader_module(code=VS), "entry_point": "vs"},
            primitive={"topology": "triangle-list", "cull_mode": "none"},
            fragment={"module": d.create_shader_module(code=pixel_shader(iterations)), "entry_point": "ps",
                      "targets": [{"format": "rgba8unorm", "blend": {
                          "color": {"src_factor": "one", "dst_factor": "one"} | add,
                          "alpha": {"src_factor": "one", "dst_factor": "zero"} | add}}]})

    def render(self, frame: int) -> None:
        d, w, h = self.device, self.width, self.height
        for i, cb in enumerate(self.cbs):
            d.queue.write_buffer(cb, 0, constants(frame, i, w, h))
        enc = d.create_command_encoder()
        p = enc.begin_render_pass(color_attachments=[{"view": self.back_view, "load_op": "clear",
                                                      "store_op": "store", "clear_value": (0, 0, 0, 0)}])
        p.set_pipeline(self.pipeline)
        p.set_bind_group(0, self.empty_group)
        for group in self.groups:
            p.set_bind_group(1, group)
            p.draw(3)
        p.end()
        enc.copy_texture_to_buffer({"texture": self.back}, {"buffer": self.readback, "bytes_per_row": self.row,
                                                            "rows_per_image": h}, (w, h, 1))
        d.queue.submit([enc.finish()])
        self.readback.map_sync(wgpu.MapMode.READ)  # the completion point
        data = np.frombuffer(self.readback.read_mapped(copy=True), np.uint8)
        self.readback.unmap()
        self.pixels = data.reshape(h, self.row)[:, :w * 4].reshape(h, w, 4)


def direct_frames(frames: int, size: tuple[int, int], iterations: int, warmup: int = WARMUP) -> dict:
    device, _ = gpu.open_device()
    scene = DirectScene(device, size, iterations)
    for f in range(warmup):
        scene.render(f)
    start = time.perf_counter()
    for f in range(warmup, warmup + frames):
        scene.render(f)
    elapsed = time.perf_counter() - start
    return {"fps": frames / elapsed, "frame_s": elapsed / frames, "last_frame": scene.pixels}


def measure(frames: int = 30, size: tuple[int, int] = SIZE, iterations: int = ITERATIONS) -> dict:
    pv = pvgpu_frames(frames, size, iterations)
    direct = direct_frames(frames, size, iterations)
    # The same picture both ways (the same work): the last frames' difference, 0-255 per channel
    a, b = pv.pop("last_frame").astype(np.int16), direct.pop("last_frame").astype(np.int16)
    diff = np.abs(a - b)
    return {"pvgpu": pv, "direct": direct, "ratio": pv["fps"] / direct["fps"], "frames": frames,
            "size": list(size), "iterations": iterations, "draws": DRAWS,
            "image_diff_max": int(diff.max()), "image_diff_mean": float(diff.mean()),
            "image_std": float(b[:, :, :3].std())}  # > 0: the shader's pattern, not a blank frame


def rows(m: dict) -> list[tuple[str, str, str, str]]:
    """`pvgpu bench` rows: (name, value, baseline, ratio)."""
    pv, d = m["pvgpu"], m["direct"]
    w, h = m["size"]
    return [
        (f"GPU-bound {w}x{h} x{m['iterations']}: fps", f"{pv['fps']:.2f}", f"{d['fps']:.2f} (direct)",
         f"{m['ratio']:.3f}"),
        ("  frame time, ms", f"{pv['frame_s'] * 1e3:.1f}", f"{d['frame_s'] * 1e3:.1f} (direct)",
         f"{pv['frame_s'] / d['frame_s']:.3f}"),
        ("  presented fps (host side)", f"{pv['presented_fps']:.2f}", f"{d['fps']:.2f} (direct)",
         f"{pv['presented_fps'] / d['fps']:.3f}"),
        ("  host busy/frame, ms", f"{pv['host_busy_frame_s'] * 1e3:.1f}", f"{d['frame_s'] * 1e3:.1f} (direct)",
         f"{pv['host_busy_frame_s'] / d['frame_s']:.3f}"),
        ("  last frame vs direct, max diff", f"{m['image_diff_max']}", f"{m['image_diff_mean']:.4f} mean", ""),
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--size", type=parse_size, default=SIZE, metavar="WxH", help="target size (default 3840x2160)")
    ap.add_argument("--iterations", type=int, default=ITERATIONS,
                    help=f"ALU loop steps per pixel per draw (default {ITERATIONS})")
    args = ap.parse_args()
    result = measure(args.frames, args.size, args.iterations)
    print(json.dumps(result))
    for r in rows(result):
        print(f"| {r[0]:<34} | {r[1]:>16} | {r[2]:>16} | {r[3]:>8} |")
