"""A game-like frame (issue 9): 2,000 draws in three passes, repeated with changing constant data.

- shadow pass: depth only, into an R32_TYPELESS shadow map (DSV D32_FLOAT), SHADOW_DRAWS draws,
  each with its object constants written by Map(WRITE_DISCARD) of a dynamic constant buffer;
- main pass: MAIN_DRAWS draws into an offscreen RGBA8 target with a depth buffer, sorted by
  pipeline over 30 pipelines (5 pixel-shader variants x 3 blend/depth-state pairs x 2
  rasterizer states with their vertex-shader variant), each draw with its own texture (one of
  200), its object constants by Map(WRITE_DISCARD) and, every other draw, its material
  constants by UpdateSubresource of a DEFAULT constant buffer; the pixel shader samples its
  texture and the shadow map (comparison sampler);
- post pass: one full-screen triangle into the swap chain's back buffer sampling the main
  pass's target; then Present.

Through pvgpu the figure is the renderer worker's own processing time per frame
(`SessionStats.frame_busy_s`: decode, validation, execution, submits and the GPU waits the
commands ask for, not the waits for the guest), so the Python guest's encoding speed does not
bound it; the guest's encoding time per frame is reported beside it. The baseline is the same
frame written directly on wgpu-py the way a careful programmer would: pipelines and bind groups
made once with explicit layouts, the frame's per-draw constants written with one write_buffer
per buffer and selected by dynamic offsets, one submit, and a completion point per frame (a
mapped read of the frame, as pvgpu's present reads it back). A small target keeps lavapipe's
rasterisation from dominating.

Also: the guest's encoding rate for a draw with three state changes (blend state, constant
buffer, vertex-buffer offset: four commands), timed over batches that fit the ring, the host
drained between batches outside the timing.
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

SIZE = 256  # main target and back buffer
SHADOW_SIZE = 256
SHADOW_DRAWS = 600
MAIN_DRAWS = 1399  # + 1 post-pass draw = 2,000 draws a frame
TEXTURES = 200
TEX_SIZE = 16
PS_VARIANTS = 5
BLENDS = 3  # opaque (depth write), alpha and additive (depth test, no write)
RASTERS = 2  # cull back with the plain VS, cull none with the wobbling VS
PIPELINES = PS_VARIANTS * BLENDS * RASTERS  # 30
OBJ_BYTES = 64  # per-draw object constants (VS cb0), Map(WRITE_DISCARD)
MAT_BYTES = 32  # material constants (PS cb0), UpdateSubresource every other main draw

OBJ_WGSL = """
struct Obj { xform: vec4<f32>, tint: vec4<f32>, light: vec4<f32>, extra: vec4<f32> };
@group(0) @binding(0) var<uniform> obj: Obj;
"""
SHADOW_VS = OBJ_WGSL + """
@vertex
fn vs(@location(0) p: vec2<f32>, @location(1) uv: vec2<f32>) -> @builtin(position) vec4<f32> {
    return vec4<f32>(obj.xform.xy + p * obj.xform.z, obj.xform.w, 1.0);
}
"""
MAIN_VS = OBJ_WGSL + """
struct Out { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32>, @location(1) shadow: vec3<f32>,
             @location(2) tint: vec4<f32> };
@vertex
fn vs(@location(0) p: vec2<f32>, @location(1) uv: vec2<f32>) -> Out {
    var xy = obj.xform.xy + p * obj.xform.z;
    WOBBLE
    var o: Out;
    o.pos = vec4<f32>(xy, obj.xform.w, 1.0);
    o.uv = uv;
    o.shadow = vec3<f32>(xy.x * 0.5 + 0.5, 0.5 - xy.y * 0.5, obj.xform.w - 0.01);
    o.tint = obj.tint;
    return o;
}
"""
MAIN_VS_VARIANTS = [MAIN_VS.replace("WOBBLE", ""),
                    MAIN_VS.replace("WOBBLE", "xy = xy + vec2<f32>(sin(obj.light.w + xy.y * 9.0), 0.0) * 0.004;")]
MAIN_PS = """
struct Mat { color: vec4<f32>, params: vec4<f32> };
@group(1) @binding(0) var<uniform> mat: Mat;
@group(1) @binding(16) var samp: sampler;
@group(1) @binding(17) var cmp: sampler_comparison;
@group(1) @binding(32) var albedo: texture_2d<f32>;
@group(1) @binding(33) var shadow_map: texture_depth_2d;
@fragment
fn ps(@location(0) uv: vec2<f32>, @location(1) shadow: vec3<f32>, @location(2) tint: vec4<f32>)
        -> @location(0) vec4<f32> {
    let t = textureSample(albedo, samp, uv);
    let lit = textureSampleCompare(shadow_map, cmp, shadow.xy, shadow.z);
    let shade = mix(0.4, 1.0, lit);
    var c = t * tint * mat.color;
    VARIANT
    return vec4<f32>(c.rgb * shade, c.a);
}
"""
PS_VARIANT_CODE = [
    "",
    "c = vec4<f32>(vec3<f32>(dot(c.rgb, vec3<f32>(0.299, 0.587, 0.114))), c.a);",
    "c = vec4<f32>(c.rgb * (1.0 + mat.params.x * sin(uv.x * 20.0)), c.a);",
    "c = vec4<f32>(pow(c.rgb, vec3<f32>(mat.params.y + 0.5)), c.a);",
    "c = vec4<f32>(c.bgr * mat.params.z + c.rgb * (1.0 - mat.params.z), c.a * 0.8);",
]
MAIN_PS_VARIANTS = [MAIN_PS.replace("VARIANT", v) for v in PS_VARIANT_CODE]
POST_VS = """
struct Out { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> Out {
    let p = array<vec2<f32>, 3>(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));
    var o: Out;
    o.pos = vec4<f32>(p[i], 0.0, 1.0);
    o.uv = vec2<f32>(p[i].x * 0.5 + 0.5, 0.5 - p[i].y * 0.5);
    return o;
}
"""
POST_PS = """
@group(1) @binding(16) var samp: sampler;
@group(1) @binding(32) var scene: texture_2d<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {
    let c = textureSample(scene, samp, uv).rgb;
    let d = uv - vec2<f32>(0.5);
    let vignette = 1.0 - dot(d, d) * 1.2;
    return vec4<f32>(c / (c + vec3<f32>(0.25)) * 1.25 * vignette, 1.0);
}
"""

#: The guest-rate loop's shaders (benchmarks/draw_cost.py's pair).
RATE_VS = """
@vertex
fn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> { return vec4<f32>(p * 0.05, 0.5, 1.0); }
"""
RATE_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""


def quad() -> np.ndarray:
    """A unit quad, position and uv (two triangles, clockwise as D3D's default front face)."""
    return np.array([[0, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1], [1, 1, 1, 0], [1, 0, 1, 1]],
                     np.float32)


def textures() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (TEXTURES, TEX_SIZE, TEX_SIZE, 4), dtype=np.uint8)


def main_pipeline(i: int) -> tuple[int, int, int]:
    """(pixel-shader variant, blend, rasterizer) of main draw i: draws sorted by pipeline."""
    p = i * PIPELINES // MAIN_DRAWS
    return p % PS_VARIANTS, (p // PS_VARIANTS) % BLENDS, p // (PS_VARIANTS * BLENDS)


def main_texture(i: int) -> int:
    return (i * 7) % TEXTURES


def frame_constants(frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame's changing constants: shadow objects, main objects (float32 x16 each) and
    materials (float32 x8, one per pair of main draws)."""
    rng = np.random.default_rng(10)  # same scene layout every frame, moved by `frame`
    def objects(n: int) -> np.ndarray:
        o = np.zeros((n, 16), np.float32)
        o[:, 0:2] = rng.uniform(-1, 0.94, (n, 2))
        o[:, 0] += 0.02 * np.sin(frame * 0.1 + np.arange(n))
        o[:, 2] = 0.06
        o[:, 3] = rng.uniform(0.05, 0.95, n)
        o[:, 4:8] = rng.uniform(0.3, 1.0, (n, 4))
        o[:, 11] = frame * 0.05
        return o
    shadow, main = objects(SHADOW_DRAWS), objects(MAIN_DRAWS)
    mats = np.zeros(((MAIN_DRAWS + 1) // 2, 8), np.float32)
    mats[:, 0:4] = rng.uniform(0.5, 1.0, (len(mats), 4))
    mats[:, 4:7] = 0.5 + 0.5 * np.sin(frame * 0.2 + np.arange(len(mats))[:, None] * np.array([1, 2, 3]))
    return shadow, main, mats


# --- through pvgpu: a guest process ------------------------------------------------------------
GUEST = r"""
import json, sys, time
import numpy as np
from pvgpu import guest as g
sys.path.insert(0, sys.argv[4])
from benchmarks import game_frame as G
socket_path, frames, rate_draws = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
F = g.DxgiFormat
dev = g.connect(socket_path)
ctx = dev.get_immediate_context()
chain = dev.create_swap_chain(g.SwapChainDesc(G.SIZE, G.SIZE))
back_rtv = dev.create_render_target_view(chain.get_buffer(0))
scene = dev.create_texture2d(g.Texture2DDesc(G.SIZE, G.SIZE, F.R8G8B8A8_UNORM,
                                             bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE))
scene_rtv, scene_srv = dev.create_render_target_view(scene), dev.create_shader_resource_view(scene)
scene_dsv = dev.create_depth_stencil_view(dev.create_texture2d(g.Texture2DDesc(G.SIZE, G.SIZE, F.D32_FLOAT,
                                                                               bind_flags=g.BindFlag.DEPTH_STENCIL)))
shadow = dev.create_texture2d(g.Texture2DDesc(G.SHADOW_SIZE, G.SHADOW_SIZE, F.R32_TYPELESS,
                                              bind_flags=g.BindFlag.DEPTH_STENCIL | g.BindFlag.SHADER_RESOURCE))
shadow_dsv, shadow_srv = dev.create_depth_stencil_view(shadow, F.D32_FLOAT), dev.create_shader_resource_view(shadow, F.R32_FLOAT)
tex_srvs = [dev.create_shader_resource_view(dev.create_texture2d(g.Texture2DDesc(G.TEX_SIZE, G.TEX_SIZE), t))
            for t in G.textures()]
vb = dev.create_buffer(g.BufferDesc(G.quad().nbytes, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE), G.quad())
layout = dev.create_input_layout([g.InputElementDesc("POSITION", 0, F.R32G32_FLOAT),
                                  g.InputElementDesc("TEXCOORD", 0, F.R32G32_FLOAT)])
obj_cb = dev.create_buffer(g.BufferDesc(G.OBJ_BYTES, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
mat_cb = dev.create_buffer(g.BufferDesc(G.MAT_BYTES, g.BindFlag.CONSTANT_BUFFER))
shadow_vs = dev.create_vertex_shader(G.SHADOW_VS)
main_vs = [dev.create_vertex_shader(v) for v in G.MAIN_VS_VARIANTS]
main_ps = [dev.create_pixel_shader(p) for p in G.MAIN_PS_VARIANTS]
post_vs, post_ps = dev.create_vertex_shader(G.POST_VS), dev.create_pixel_shader(G.POST_PS)
B = g.Blend
blends = [dev.create_blend_state(g.BlendDesc()),
          dev.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, B.SRC_ALPHA, B.INV_SRC_ALPHA)])),
          dev.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, B.ONE, B.ONE)]))]
ds_write = dev.create_depth_stencil_state(g.DepthStencilDesc())
ds_test = dev.create_depth_stencil_state(g.DepthStencilDesc(depth_write_mask=g.DepthWriteMask.ZERO))
ds_off = dev.create_depth_stencil_state(g.DepthStencilDesc(depth_enable=False))
depth_states = [ds_write, ds_test, ds_test]
rasters = [dev.create_rasterizer_state(g.RasterizerDesc()),
           dev.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE))]
shadow_rs = dev.create_rasterizer_state(g.RasterizerDesc(depth_bias=100, slope_scaled_depth_bias=1.0))
linear = dev.create_sampler_state(g.SamplerDesc(address_u=g.TextureAddressMode.WRAP, address_v=g.TextureAddressMode.WRAP))
cmp = dev.create_sampler_state(g.SamplerDesc(g.Filter.COMPARISON_MIN_MAG_LINEAR_MIP_POINT,
                                             comparison_func=g.ComparisonFunc.LESS_EQUAL))
plan = [G.main_pipeline(i) for i in range(G.MAIN_DRAWS)]
tex_of = [tex_srvs[G.main_texture(i)] for i in range(G.MAIN_DRAWS)]
WD = g.MapType.WRITE_DISCARD

def frame(f):
    shadow_k, main_k, mats = G.frame_constants(f)
    shadow_b, main_b, mat_b = shadow_k.view(np.uint8), main_k.view(np.uint8), mats.view(np.uint8)
    ctx.ia_set_input_layout(layout)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.ia_set_vertex_buffers(0, [vb], [16], [0])
    # shadow pass
    ctx.ps_set_shader_resources(0, [None, None])  # last frame's post pass and main pass views
    ctx.om_set_render_targets([], shadow_dsv)
    ctx.clear_depth_stencil_view(shadow_dsv, g.ClearFlag.DEPTH, 1.0)
    ctx.rs_set_viewports([g.Viewport(0, 0, G.SHADOW_SIZE, G.SHADOW_SIZE)])
    ctx.rs_set_state(shadow_rs)
    ctx.om_set_depth_stencil_state(ds_write)
    ctx.om_set_blend_state(None)
    ctx.vs_set_shader(shadow_vs)
    ctx.ps_set_shader(None)
    ctx.vs_set_constant_buffers(0, [obj_cb])
    for i in range(G.SHADOW_DRAWS):
        m = ctx.map(obj_cb, 0, WD)
        m.data[:] = shadow_b[i]
        ctx.unmap(obj_cb, 0)
        ctx.draw(6)
    # main pass
    ctx.om_set_render_targets([scene_rtv], scene_dsv)
    ctx.clear_render_target_view(scene_rtv, (0.1, 0.1, 0.15, 1.0))
    ctx.clear_depth_stencil_view(scene_dsv, g.ClearFlag.DEPTH, 1.0)
    ctx.rs_set_viewports([g.Viewport(0, 0, G.SIZE, G.SIZE)])
    ctx.ps_set_shader_resources(1, [shadow_srv])
    ctx.ps_set_samplers(0, [linear, cmp])
    ctx.ps_set_constant_buffers(0, [mat_cb])
    current = None
    for i in range(G.MAIN_DRAWS):
        p = plan[i]
        if p != current:
            ps, blend, raster = p
            if current is None or raster != current[2]:
                ctx.vs_set_shader(main_vs[raster])
                ctx.rs_set_state(rasters[raster])
            if current is None or ps != current[0]:
                ctx.ps_set_shader(main_ps[ps])
            if current is None or blend != current[1]:
                ctx.om_set_blend_state(blends[blend])
                ctx.om_set_depth_stencil_state(depth_states[blend])
            current = p
        m = ctx.map(obj_cb, 0, WD)
        m.data[:] = main_b[i]
        ctx.unmap(obj_cb, 0)
        if not i & 1:
            ctx.update_subresource(mat_cb, 0, None, mat_b[i >> 1])
        ctx.ps_set_shader_resources(0, [tex_of[i]])
        ctx.draw(6)
    # post pass
    ctx.om_set_render_targets([back_rtv])
    ctx.ps_set_shader_resources(0, [scene_srv, None])
    ctx.ps_set_samplers(0, [linear])
    ctx.vs_set_shader(post_vs)
    ctx.ps_set_shader(post_ps)
    ctx.ia_set_input_layout(None)
    ctx.om_set_blend_state(None)
    ctx.om_set_depth_stencil_state(ds_off)
    ctx.rs_set_state(rasters[1])
    ctx.draw(3)

encode = []
for f in range(frames):
    t0 = time.perf_counter()
    frame(f)
    encode.append(time.perf_counter() - t0)
    chain.present()
chain.wait_idle()
errors = [e.detail for e in dev.host_errors()]

# the guest's rate for a draw with three state changes (4 commands), batches that fit the ring
cbs = [dev.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.IMMUTABLE),
                         np.full(4, i / 8, np.float32)) for i in range(8)]
ctx.om_set_render_targets([back_rtv])
ctx.ps_set_shader_resources(0, [None, None])
ctx.ia_set_input_layout(dev.create_input_layout([g.InputElementDesc("POSITION", 0, F.R32G32_FLOAT)]))
ctx.vs_set_shader(dev.create_vertex_shader(G.RATE_VS))
ctx.ps_set_shader(dev.create_pixel_shader(G.RATE_PS))
ctx.om_set_depth_stencil_state(ds_off)
encoded = 0.0
batch = 2000
for b in range(max(1, rate_draws // batch)):
    t0 = time.perf_counter()
    for i in range(batch):
        ctx.om_set_blend_state(blends[i & 1])
        ctx.ps_set_constant_buffers(0, [cbs[i & 7]])
        ctx.ia_set_vertex_buffers(0, [vb], [16], [(i & 3) * 16])
        ctx.draw(3)
    encoded += time.perf_counter() - t0
    dev.connection.finish()  # the host drains the ring outside the timing
draws = max(1, rate_draws // batch) * batch
dev.close()
print(json.dumps({"encode_s": encode, "errors": errors, "rate_draws": draws, "rate_s": encoded}))
"""


def pvgpu_frames(frames: int, rate_draws: int = 20_000, on_worker=None) -> dict:
    """Run the guest; the host's per-frame processing times, the guest's encoding times, the
    presented frames' wall times. `on_worker(pid)` is called once the renderer worker runs."""
    presented: list[float] = []
    last: list[np.ndarray] = []

    def on_frame(sid, f) -> None:
        presented.append(time.perf_counter())
        last[:] = [f.pixels.copy()]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="pvgpu-game-") as tmp:
        with HostService(os.path.join(tmp, "h.sock"), region_size=128 << 20,
                         presenters=[FrameCallback(on_frame)]) as service:
            guest = subprocess.Popen([sys.executable, "-c", GUEST, service.socket_path, str(frames), str(rate_draws),
                                      repo], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if on_worker is not None:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not service.sessions:
                    time.sleep(0.01)
                while time.monotonic() < deadline:
                    sup = next(iter(service.sessions.values())).supervisor if service.sessions else None
                    if sup is not None and sup.proc is not None:
                        on_worker(sup.proc.pid)
                        break
                    time.sleep(0.01)
            out, err = guest.communicate(timeout=1800)
            if guest.returncode != 0:
                raise RuntimeError(f"game_frame guest failed:\n{err}")
            records = list(service.sessions.values())
            records[0].ended.wait(30)
            stats = records[0].stats
    result = json.loads(out.strip().splitlines()[-1])
    skip = min(3, frames - 2)  # shader compiles and first uses
    host = stats.frame_busy_s[-frames:][skip:]
    waits = stats.frame_gpu_wait_s[-frames:][skip:]
    return {"host_frame_s": float(np.median(host)), "host_frame_mean_s": float(np.mean(host)),
            "host_cpu_frame_s": float(np.median(np.array(host) - np.array(waits))),
            "runs_replayed": stats.runs_replayed, "commands_replayed": stats.commands_replayed,
            "capture_failures": stats.capture_failures,
            "commands": stats.commands,
            "guest_encode_s": float(np.median(result["encode_s"][skip:])),
            "wall_frame_s": (presented[-1] - presented[skip]) / (len(presented) - 1 - skip),
            "guest_cmds_per_s": 4 * result["rate_draws"] / result["rate_s"],
            "guest_draws_per_s": result["rate_draws"] / result["rate_s"],
            "host_errors": stats.errors, "guest_errors": result["errors"],
            "pipeline_hits": stats.pipeline_hits, "pipeline_misses": stats.pipeline_misses,
            "last_frame": last[0]}


# --- direct wgpu: the same frame, one process ------------------------------------------------
class DirectGame:
    """The frame as a careful wgpu-py program draws it."""

    def __init__(self, device: wgpu.GPUDevice):
        self.device = d = device
        U, T = wgpu.BufferUsage, wgpu.TextureUsage
        V, Fr = wgpu.ShaderStage.VERTEX, wgpu.ShaderStage.FRAGMENT
        self.align = align = max(256, d.limits.get("min-uniform-buffer-offset-alignment", 256))
        self.scene = d.create_texture(size=(SIZE, SIZE, 1), format="rgba8unorm",
                                      usage=T.RENDER_ATTACHMENT | T.TEXTURE_BINDING)
        self.scene_view = self.scene.create_view()
        self.depth_view = d.create_texture(size=(SIZE, SIZE, 1), format="depth32float",
                                           usage=T.RENDER_ATTACHMENT).create_view()
        shadow = d.create_texture(size=(SHADOW_SIZE, SHADOW_SIZE, 1), format="depth32float",
                                  usage=T.RENDER_ATTACHMENT | T.TEXTURE_BINDING)
        self.shadow_view = shadow.create_view()
        self.back = d.create_texture(size=(SIZE, SIZE, 1), format="rgba8unorm", usage=T.RENDER_ATTACHMENT | T.COPY_SRC)
        self.back_view = self.back.create_view()
        self.readback = d.create_buffer(size=SIZE * SIZE * 4, usage=U.MAP_READ | U.COPY_DST)
        self.vb = d.create_buffer_with_data(data=quad().tobytes(), usage=U.VERTEX)
        self.shadow_objs = d.create_buffer(size=SHADOW_DRAWS * align, usage=U.UNIFORM | U.COPY_DST)
        self.main_objs = d.create_buffer(size=MAIN_DRAWS * align, usage=U.UNIFORM | U.COPY_DST)
        self.mats = d.create_buffer(size=(MAIN_DRAWS + 1) // 2 * align, usage=U.UNIFORM | U.COPY_DST)
        self._staging = {"shadow": np.zeros((SHADOW_DRAWS, align // 4), np.float32),
                         "main": np.zeros((MAIN_DRAWS, align // 4), np.float32),
                         "mats": np.zeros(((MAIN_DRAWS + 1) // 2, align // 4), np.float32)}
        obj_layout = d.create_bind_group_layout(entries=[
            {"binding": 0, "visibility": V, "buffer": {"type": "uniform", "has_dynamic_offset": True,
                                                       "min_binding_size": OBJ_BYTES}}])
        mat_layout = d.create_bind_group_layout(entries=[
            {"binding": 0, "visibility": Fr, "buffer": {"type": "uniform", "has_dynamic_offset": True,
                                                        "min_binding_size": MAT_BYTES}},
            {"binding": 16, "visibility": Fr, "sampler": {"type": "filtering"}},
            {"binding": 17, "visibility": Fr, "sampler": {"type": "comparison"}},
            {"binding": 32, "visibility": Fr, "texture": {"sample_type": "float", "view_dimension": "2d"}},
            {"binding": 33, "visibility": Fr, "texture": {"sample_type": "depth", "view_dimension": "2d"}}])
        post_layout = d.create_bind_group_layout(entries=[
            {"binding": 16, "visibility": Fr, "sampler": {"type": "filtering"}},
            {"binding": 32, "visibility": Fr, "texture": {"sample_type": "float", "view_dimension": "2d"}}])
        empty_layout = d.create_bind_group_layout(entries=[])
        linear = d.create_sampler(address_mode_u="repeat", address_mode_v="repeat", mag_filter="linear",
                                  min_filter="linear", mipmap_filter="linear")
        cmp = d.create_sampler(compare="less-equal", mag_filter="linear", min_filter="linear")
        self.shadow_group = d.create_bind_group(layout=obj_layout, entries=[
            {"binding": 0, "resource": {"buffer": self.shadow_objs, "offset": 0, "size": OBJ_BYTES}}])
        self.main_group = d.create_bind_group(layout=obj_layout, entries=[
            {"binding": 0, "resource": {"buffer": self.main_objs, "offset": 0, "size": OBJ_BYTES}}])
        tex_views = []
        for t in textures():
            tex = d.create_texture(size=(TEX_SIZE, TEX_SIZE, 1), format="rgba8unorm",
                                   usage=T.TEXTURE_BINDING | T.COPY_DST)
            d.queue.write_texture({"texture": tex}, t.tobytes(), {"bytes_per_row": TEX_SIZE * 4},
                                  (TEX_SIZE, TEX_SIZE, 1))
            tex_views.append(tex.create_view())
        self.tex_groups = [d.create_bind_group(layout=mat_layout, entries=[
            {"binding": 0, "resource": {"buffer": self.mats, "offset": 0, "size": MAT_BYTES}},
            {"binding": 16, "resource": linear}, {"binding": 17, "resource": cmp},
            {"binding": 32, "resource": v}, {"binding": 33, "resource": self.shadow_view}]) for v in tex_views]
        self.post_group = d.create_bind_group(layout=post_layout, entries=[
            {"binding": 16, "resource": linear}, {"binding": 32, "resource": self.scene_view}])
        self.empty_group = d.create_bind_group(layout=empty_layout, entries=[])
        buffers = [{"array_stride": 16, "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0},
                                                       {"format": "float32x2", "offset": 8, "shader_location": 1}]}]
        depth = {"format": "depth32float", "depth_write_enabled": True, "depth_compare": "less"}
        self.shadow_pipeline = d.create_render_pipeline(
            layout=d.create_pipeline_layout(bind_group_layouts=[obj_layout]),
            vertex={"module": d.create_shader_module(code=SHADOW_VS), "entry_point": "vs", "buffers": buffers},
            primitive={"topology": "triangle-list", "front_face": "cw", "cull_mode": "back"},
            depth_stencil=depth | {"depth_bias": 100, "depth_bias_slope_scale": 1.0})
        main_layout = d.create_pipeline_layout(bind_group_layouts=[obj_layout, mat_layout])
        vs = [d.create_shader_module(code=c) for c in MAIN_VS_VARIANTS]
        ps = [d.create_shader_module(code=c) for c in MAIN_PS_VARIANTS]
        add = {"operation": "add"}
        blend_descs = [None,
                       {"color": {"src_factor": "src-alpha", "dst_factor": "one-minus-src-alpha"} | add,
                        "alpha": {"src_factor": "one", "dst_factor": "zero"} | add},
                       {"color": {"src_factor": "one", "dst_factor": "one"} | add,
                        "alpha": {"src_factor": "one", "dst_factor": "zero"} | add}]
        self.pipelines = {}
        for p in range(PIPELINES):
            v, b, r = p % PS_VARIANTS, (p // PS_VARIANTS) % BLENDS, p // (PS_VARIANTS * BLENDS)
            target = {"format": "rgba8unorm"} | ({"blend": blend_descs[b]} if blend_descs[b] else {})
            self.pipelines[(v, b, r)] = d.create_render_pipeline(
                layout=main_layout,
                vertex={"module": vs[r], "entry_point": "vs", "buffers": buffers},
                primitive={"topology": "triangle-list", "front_face": "cw", "cull_mode": ("back", "none")[r]},
                depth_stencil=depth | {"depth_write_enabled": b == 0},
                fragment={"module": ps[v], "entry_point": "ps", "targets": [target]})
        self.post_pipeline = d.create_render_pipeline(
            layout=d.create_pipeline_layout(bind_group_layouts=[empty_layout, post_layout]),
            vertex={"module": d.create_shader_module(code=POST_VS), "entry_point": "vs"},
            primitive={"topology": "triangle-list"},
            fragment={"module": d.create_shader_module(code=POST_PS), "entry_point": "ps",
                      "targets": [{"format": "rgba8unorm"}]})
        self.plan = [(self.pipelines[main_pipeline(i)], self.tex_groups[main_texture(i)]) for i in range(MAIN_DRAWS)]

    def render(self, frame: int) -> float:
        """Draw one frame; returns the CPU seconds to encode and submit (the call's time
        includes the completion wait too)."""
        t0 = time.perf_counter()
        d, a = self.device, self.align
        shadow_k, main_k, mats = frame_constants(frame)
        st = self._staging
        st["shadow"][:, :16], st["main"][:, :16], st["mats"][:, :8] = shadow_k, main_k, mats
        d.queue.write_buffer(self.shadow_objs, 0, st["shadow"])
        d.queue.write_buffer(self.main_objs, 0, st["main"])
        d.queue.write_buffer(self.mats, 0, st["mats"])
        enc = d.create_command_encoder()
        p = enc.begin_render_pass(color_attachments=[], depth_stencil_attachment={
            "view": self.shadow_view, "depth_clear_value": 1.0, "depth_load_op": "clear", "depth_store_op": "store"})
        p.set_pipeline(self.shadow_pipeline)
        p.set_vertex_buffer(0, self.vb)
        group = self.shadow_group
        for i in range(SHADOW_DRAWS):
            p.set_bind_group(0, group, [i * a])
            p.draw(6)
        p.end()
        p = enc.begin_render_pass(
            color_attachments=[{"view": self.scene_view, "load_op": "clear", "store_op": "store",
                                "clear_value": (0.1, 0.1, 0.15, 1.0)}],
            depth_stencil_attachment={"view": self.depth_view, "depth_clear_value": 1.0, "depth_load_op": "clear",
                                      "depth_store_op": "store"})
        p.set_vertex_buffer(0, self.vb)
        group, current = self.main_group, None
        for i, (pipeline, tex_group) in enumerate(self.plan):
            if pipeline is not current:
                p.set_pipeline(pipeline)
                current = pipeline
            p.set_bind_group(0, group, [i * a])
            p.set_bind_group(1, tex_group, [(i >> 1) * a])
            p.draw(6)
        p.end()
        p = enc.begin_render_pass(color_attachments=[{"view": self.back_view, "load_op": "clear",
                                                      "store_op": "store", "clear_value": (0, 0, 0, 1)}])
        p.set_pipeline(self.post_pipeline)
        p.set_bind_group(0, self.empty_group)
        p.set_bind_group(1, self.post_group)
        p.draw(3)
        p.end()
        enc.copy_texture_to_buffer({"texture": self.back}, {"buffer": self.readback, "bytes_per_row": SIZE * 4,
                                                            "rows_per_image": SIZE}, (SIZE, SIZE, 1))
        d.queue.submit([enc.finish()])
        cpu = time.perf_counter() - t0
        self.readback.map_sync(wgpu.MapMode.READ)  # the completion point
        self.pixels = np.frombuffer(self.readback.read_mapped(copy=True), np.uint8).reshape(SIZE, SIZE, 4)
        self.readback.unmap()
        return cpu


def direct_frames(frames: int) -> dict:
    device, _ = gpu.open_device()
    game = DirectGame(device)
    skip = min(3, frames - 2)
    walls, cpus = [], []
    for f in range(frames):
        t0 = time.perf_counter()
        cpus.append(game.render(f))
        walls.append(time.perf_counter() - t0)
    return {"frame_s": float(np.median(walls[skip:])), "frame_mean_s": float(np.mean(walls[skip:])),
            "cpu_s": float(np.median(cpus[skip:])), "last_frame": game.pixels}


def measure(frames: int = 30, rate_draws: int = 20_000, on_worker=None, without_replay: bool = True) -> dict:
    pv = pvgpu_frames(frames, rate_draws, on_worker)
    off = None
    if without_replay:  # the same through the per-command path alone (host/replay.py turned off)
        saved = os.environ.get("PVGPU_REPLAY")
        os.environ["PVGPU_REPLAY"] = "0"
        try:
            off = pvgpu_frames(frames, 0)
        finally:
            if saved is None:
                del os.environ["PVGPU_REPLAY"]
            else:
                os.environ["PVGPU_REPLAY"] = saved
        off.pop("last_frame")
    direct = direct_frames(frames)
    # The same picture both ways (the same work): the last frames' difference, 0-255 per channel
    a, b = pv.pop("last_frame").astype(int), direct.pop("last_frame").astype(int)
    diff = np.abs(a - b)
    return {"pvgpu": pv, "direct": direct, "ratio": pv["host_frame_s"] / direct["frame_s"], "frames": frames,
            "without_replay": off,
            "image_diff_mean": float(diff.mean()), "image_diff_max": int(diff.max()),
            "image_diff_over_8": float((diff > 8).mean())}


def rows(m: dict) -> list[tuple[str, str, str, str]]:
    """`pvgpu bench` rows: (name, value, baseline, ratio)."""
    pv, d = m["pvgpu"], m["direct"]
    hits, misses = pv["pipeline_hits"], pv["pipeline_misses"]
    return [
        ("game frame: host time/frame, ms", f"{pv['host_frame_s'] * 1e3:.1f}", f"{d['frame_s'] * 1e3:.1f} (direct)",
         f"{m['ratio']:.2f}"),
        ("  direct: encode+submit CPU, ms", "", f"{d['cpu_s'] * 1e3:.1f}", ""),
        ("  host CPU/frame (GPU waits out), ms", f"{pv['host_cpu_frame_s'] * 1e3:.1f}",
         f"{d['cpu_s'] * 1e3:.1f} (direct CPU)", f"{pv['host_cpu_frame_s'] / d['cpu_s']:.2f}"),
        ("  commands replayed (host/replay)", f"{pv['commands_replayed'] / max(1, pv['commands']):.3f}",
         f"{pv['runs_replayed']} runs", ""),
        *([("  runs not captured: " + "; ".join(f"{k} x{v}" for k, v in pv["capture_failures"].items())[:60],
            "", "", "")] if pv.get("capture_failures") else []),
        *([("  without replay: host time/frame, ms", f"{m['without_replay']['host_frame_s'] * 1e3:.1f}",
            f"{pv['host_frame_s'] * 1e3:.1f} (replay)",
            f"{m['without_replay']['host_frame_s'] / pv['host_frame_s']:.2f}"),
           ("  without replay: host CPU/frame, ms", f"{m['without_replay']['host_cpu_frame_s'] * 1e3:.1f}",
            f"{d['cpu_s'] * 1e3:.1f} (direct CPU)", f"{m['without_replay']['host_cpu_frame_s'] / d['cpu_s']:.2f}")]
          if m.get("without_replay") else []),
        ("  guest encode/frame, ms", f"{pv['guest_encode_s'] * 1e3:.1f}", f"{pv['host_frame_s'] * 1e3:.1f} (host)",
         f"{pv['guest_encode_s'] / pv['host_frame_s']:.2f}"),
        ("  presented frame interval, ms", f"{pv['wall_frame_s'] * 1e3:.1f}", f"{d['frame_s'] * 1e3:.1f} (direct)",
         f"{pv['wall_frame_s'] / d['frame_s']:.2f}"),
        ("  its pipeline cache hit rate", f"{hits / max(1, hits + misses):.4f}", f"{hits}/{hits + misses}", ""),
        ("  last frame vs direct, max diff", f"{m['image_diff_max']}", f"{m['image_diff_mean']:.3f} mean", ""),
        ("guest: commands/s, draw+3 states", f"{pv['guest_cmds_per_s']:,.0f}",
         f"{pv['guest_draws_per_s']:,.0f} draws/s", ""),
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rate-draws", type=int, default=20_000)
    ap.add_argument("--py-spy", metavar="OUT", help="record the renderer worker with py-spy (--format raw) into OUT")
    args = ap.parse_args()
    spy: list[subprocess.Popen] = []
    hook = None
    if args.py_spy:
        exe = os.path.join(os.path.dirname(sys.executable), "py-spy")
        hook = lambda pid: spy.append(subprocess.Popen(  # noqa: E731
            [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", args.py_spy],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    result = measure(args.frames, args.rate_draws, hook)
    for s in spy:
        s.wait(60)  # py-spy ends with the worker
    print(json.dumps(result))
    for r in rows(result):
        print(f"| {r[0]:<34} | {r[1]:>16} | {r[2]:>16} | {r[3]:>8} |")
