"""Texture arrays and cube maps through pvgpu, compared with the same sampling done by direct
wgpu calls; render targets and subresources of single array slices."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

SIZE = 32
COLORS = np.array([[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 255, 0, 255],
                   [0, 255, 255, 255], [255, 0, 255, 255]], np.uint8)
VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return VOut(vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0), vec2<f32>(xy.x, 1.0 - xy.y));
}
"""
ARRAY_PS = """
@group(1) @binding(16) var s: sampler;
@group(1) @binding(32) var t: texture_2d_array<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {
    return textureSample(t, s, uv, i32(uv.x * 3.0));
}
"""
CUBE_PS = """
@group(1) @binding(16) var s: sampler;
@group(1) @binding(32) var t: texture_cube<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {
    let a = uv * 6.2831853;
    let dir = vec3<f32>(cos(a.x) * sin(a.y * 0.5), cos(a.y * 0.5), sin(a.x) * sin(a.y * 0.5));
    return textureSample(t, s, dir);
}
"""


def faces(n: int) -> list[np.ndarray]:
    return [np.broadcast_to(COLORS[i], (4, 4, 4)).copy() for i in range(n)]


def draw_through_pvgpu(host, device, ps: str, slices: int, misc: int) -> np.ndarray:
    chain = device.create_swap_chain(g.SwapChainDesc(SIZE, SIZE))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, array_size=slices, misc_flags=misc), faces(slices))
    ctx = device.get_immediate_context()
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, SIZE, SIZE)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(VS))
    ctx.ps_set_shader(device.create_pixel_shader(ps))
    ctx.ps_set_shader_resources(0, [device.create_shader_resource_view(tex)])
    ctx.ps_set_samplers(0, [device.create_sampler_state(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT))])
    ctx.draw(3)
    chain.present()
    chain.wait_idle()
    return list(host.frames.values())[0][-1]


def draw_directly(d: wgpu.GPUDevice, ps: str, slices: int, dimension: str) -> np.ndarray:
    tex = d.create_texture(size=(4, 4, slices), format="rgba8unorm",
                           usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
    for i, face in enumerate(faces(slices)):
        d.queue.write_texture({"texture": tex, "origin": (0, 0, i)}, face.tobytes(),
                              {"bytes_per_row": 16, "rows_per_image": 4}, (4, 4, 1))
    target = d.create_texture(size=(SIZE, SIZE, 1), format="rgba8unorm",
                              usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=VS), "entry_point": "vs"},
        primitive={"topology": "triangle-list"},
        fragment={"module": d.create_shader_module(code=ps), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    group = d.create_bind_group(layout=pipeline.get_bind_group_layout(1), entries=[
        {"binding": 16, "resource": d.create_sampler()},
        {"binding": 32, "resource": tex.create_view(dimension=dimension)}])
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                  "store_op": "store", "clear_value": (0, 0, 0, 0)}])
    p.set_pipeline(pipeline)
    p.set_bind_group(1, group)
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    data = d.queue.read_texture({"texture": target}, {"bytes_per_row": SIZE * 4}, (SIZE, SIZE, 1))
    return np.frombuffer(data, np.uint8).reshape(SIZE, SIZE, 4)


def test_texture_array_sampling_matches_direct_wgpu(host, device, wgpu_device):
    got = draw_through_pvgpu(host, device, ARRAY_PS, 3, 0)
    assert np.array_equal(got, draw_directly(wgpu_device, ARRAY_PS, 3, "2d-array"))
    assert [tuple(got[SIZE // 2, x]) for x in (2, SIZE // 2, SIZE - 3)] == [tuple(c) for c in COLORS[:3]]


def test_cube_map_sampling_matches_direct_wgpu(host, device, wgpu_device):
    got = draw_through_pvgpu(host, device, CUBE_PS, 6, g.ResourceMiscFlag.TEXTURECUBE)
    assert np.array_equal(got, draw_directly(wgpu_device, CUBE_PS, 6, "cube"))
    assert len({tuple(px) for px in got.reshape(-1, 4)}) == 6  # every face shows somewhere


def test_render_target_and_subresources_of_one_slice(device):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, mip_levels=2, array_size=3,
                                                  bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE),
                                  [np.full((s, s, 4), 10 * i + m, np.uint8) for i in range(3)
                                   for m, s in enumerate((4, 2))])
    ctx.clear_render_target_view(device.create_render_target_view(tex, mip_slice=1, array_slice=2), (1, 1, 1, 1))
    ctx.update_subresource(tex, 0 + 1 * 2, None, np.full((4, 4, 4), 77, np.uint8))  # mip 0 of slice 1
    staging = device.create_texture2d(g.Texture2DDesc(4, 4, mip_levels=2, array_size=3, usage=g.Usage.STAGING,
                                                      bind_flags=0, cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    seen = {}
    for sub in range(6):
        seen[sub] = set(ctx.map(staging, sub, g.MapType.READ).data.tolist())
        ctx.unmap(staging, sub)
    assert seen == {0: {0}, 1: {1}, 2: {77}, 3: {11}, 4: {20}, 5: {255}}
