"""PSSetSamplers / CreateSamplerState: filters, address modes, anisotropy, LOD clamps, and
comparison sampling of a depth texture. Each scene samples a texture over the whole target;
the baseline uses another sampler."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

from . import direct, guest
from .pair import (
    LINEAR, POINT, W, H, Draw, Sampler, Texture, assert_same, changed_pixels, draw as pair_draw, mip_chain, pattern,
)
from .scene import scene
from .wgsl import FULLSCREEN_VS, sampling_ps

A = g.TextureAddressMode
ADDRESS = {A.WRAP: "repeat", A.MIRROR: "mirror-repeat", A.CLAMP: "clamp-to-edge"}


def sample_scene(pair, sampler: Sampler, baseline: Sampler, expr: str = "textureSample(t, s, uv)",
                 texture: Texture | None = None, vs: str = FULLSCREEN_VS, vertex_count: int = 3,
                 min_changed: int = 100):
    texture = texture or Texture([pattern(4, seed=11)])
    draw = Draw(layout=None, vs=vs, ps=sampling_ps(expr), textures={0: texture}, samplers={0: sampler},
                call=pair_draw(vertex_count))
    base = Draw(layout=None, vs=vs, ps=draw.ps, textures={0: texture}, samplers={0: baseline}, call=draw.call)
    return pair.check([draw], baseline=[base], min_changed=min_changed)


@scene("Filter MIN_MAG_MIP_POINT: magnified texels stay blocks")
def test_filter_point(pair):
    r = sample_scene(pair, POINT, LINEAR)
    assert len(np.unique(r.frame.reshape(-1, 4), axis=0)) == 16


@scene("Filter MIN_MAG_MIP_LINEAR: magnified texels blend")
def test_filter_linear(pair):
    r = sample_scene(pair, LINEAR, POINT)
    assert len(np.unique(r.frame.reshape(-1, 4), axis=0)) > 100


@scene("Filter MIN_POINT_MAG_LINEAR_MIP_POINT: magnification takes the mag filter")
def test_filter_mixed(pair):
    mixed = Sampler(g.SamplerDesc(g.Filter.MIN_POINT_MAG_LINEAR_MIP_POINT), {"mag_filter": "linear"})
    sample_scene(pair, mixed, Sampler(g.SamplerDesc(g.Filter.MIN_LINEAR_MAG_MIP_POINT), {"min_filter": "linear"}))


def address_scene(pair, mode: g.TextureAddressMode, other: g.TextureAddressMode):
    def sampler(m):
        return Sampler(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT, m, m, m),
                       {"address_mode_u": ADDRESS[m], "address_mode_v": ADDRESS[m], "address_mode_w": ADDRESS[m]})
    sample_scene(pair, sampler(mode), sampler(other), "textureSample(t, s, uv * vec2<f32>(3.0, 2.5) - 1.0)")


@scene("AddressU/V WRAP: coordinates outside [0, 1] repeat the texture")
def test_address_wrap(pair):
    address_scene(pair, A.WRAP, A.CLAMP)


@scene("AddressU/V MIRROR: coordinates outside [0, 1] mirror the texture")
def test_address_mirror(pair):
    address_scene(pair, A.MIRROR, A.WRAP)


@scene("AddressU/V CLAMP: coordinates outside [0, 1] take the edge texels")
def test_address_clamp(pair):
    address_scene(pair, A.CLAMP, A.MIRROR)


#: A floor receding into the distance (w grows with v): strongly anisotropic footprints.
FLOOR_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    var corners = array<vec2<f32>, 6>(vec2(0.0, 0.0), vec2(0.0, 1.0), vec2(1.0, 1.0), vec2(0.0, 0.0),
                                      vec2(1.0, 1.0), vec2(1.0, 0.0));
    let c = corners[i];
    let w = 1.0 + 7.0 * c.y;
    return VOut(vec4<f32>((c.x - 0.5) * 4.0, c.y * 8.0 - 1.0, 0.5 * w, w), c * vec2<f32>(4.0, 24.0));
}
"""


@scene("Filter ANISOTROPIC, MaxAnisotropy 16, on a receding textured floor")
def test_filter_anisotropic(pair):
    wrap = {"address_mode_u": "repeat", "address_mode_v": "repeat"}
    aniso = Sampler(g.SamplerDesc(g.Filter.ANISOTROPIC, A.WRAP, A.WRAP, max_anisotropy=16),
                    {"mag_filter": "linear", "min_filter": "linear", "mipmap_filter": "linear", "max_anisotropy": 16,
                     **wrap})
    trilinear = Sampler(g.SamplerDesc(g.Filter.MIN_MAG_MIP_LINEAR, A.WRAP, A.WRAP), {**LINEAR.wgpu, **wrap})
    sample_scene(pair, aniso, trilinear, texture=Texture(mip_chain(32), mips=6), vs=FLOOR_VS, vertex_count=6,
                 min_changed=50)


@scene("Sampler MinLOD / MaxLOD clamp the level of detail")
def test_sampler_lod_clamp(pair):
    clamped = Sampler(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT, min_lod=1.0, max_lod=2.5),
                      {"lod_min_clamp": 1.0, "lod_max_clamp": 2.5})
    r = sample_scene(pair, clamped, POINT, "textureSampleLevel(t, s, uv, uv.x * 5.0)",
                     texture=Texture(mip_chain(16, solid=True), mips=5))
    mips = mip_chain(16, solid=True)
    seen = {tuple(c) for c in r.frame.reshape(-1, 4)}
    assert seen <= {tuple(m[0, 0]) for m in mips[1:4]} and tuple(mips[0][0, 0]) not in seen


# --- comparison sampling ---------------------------------------------------------------------------
DEPTH_VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    var p = array<vec3<f32>, 6>(vec3(-0.9, -0.9, 0.2), vec3(-0.9, 0.9, 0.2), vec3(0.9, 0.9, 0.8),
                                vec3(-0.9, -0.9, 0.2), vec3(0.9, 0.9, 0.8), vec3(0.9, -0.9, 0.8));
    return vec4<f32>(p[i], 1.0);
}
"""
# The reference depth: 0.45..0.55 down the target, exactly 1.0 (the cleared depth) in its right
# quarter, where LESS_EQUAL passes on cleared texels and LESS would not.
COMPARE_PS = sampling_ps("textureSampleCompare(t, s, uv, select(0.45 + 0.1 * uv.y, 1.0, uv.x > 0.75))",
                         texture="texture_depth_2d",
                         sampler="sampler_comparison", result="f32")
DW, DH = 12, 8  # the depth texture: magnified 4x, so the linear comparison filter shows


def compare_guest(pair, func: g.ComparisonFunc) -> np.ndarray:
    dev, ctx = pair.device, pair.ctx
    depth = dev.create_texture2d(g.Texture2DDesc(DW, DH, g.DxgiFormat.D32_FLOAT,
                                                 bind_flags=g.BindFlag.DEPTH_STENCIL | g.BindFlag.SHADER_RESOURCE))
    dsv = dev.create_depth_stencil_view(depth)
    ctx.om_set_render_targets([], dsv)
    ctx.clear_depth_stencil_view(dsv, g.ClearFlag.DEPTH, 1.0)
    ctx.rs_set_viewports([g.Viewport(0, 0, DW, DH)])
    ctx.rs_set_state(dev.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.om_set_depth_stencil_state(dev.create_depth_stencil_state(g.DepthStencilDesc()))
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(dev.create_vertex_shader(DEPTH_VS))
    ctx.ps_set_shader(None)
    ctx.draw(6)
    chain, rtv = guest.swap_chain_target(dev, W, H)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.vs_set_shader(dev.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(dev.create_pixel_shader(COMPARE_PS))
    ctx.ps_set_shader_resources(0, [dev.create_shader_resource_view(depth)])
    ctx.ps_set_samplers(0, [dev.create_sampler_state(g.SamplerDesc(g.Filter.COMPARISON_MIN_MAG_MIP_LINEAR,
                                                                   comparison_func=func))])
    ctx.draw(3)
    chain.present()
    return guest.presented(pair.host, chain)


def compare_direct(pair, compare: str) -> np.ndarray:
    d = pair.wgpu
    depth = direct.target(d, DW, DH, "depth32float", usage=wgpu.TextureUsage.TEXTURE_BINDING)
    color = direct.target(d, W, H)
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[], depth_stencil_attachment={
        "view": depth.create_view(), "depth_load_op": "clear", "depth_store_op": "store", "depth_clear_value": 1.0})
    p.set_pipeline(direct.pipeline(d, DEPTH_VS, None, primitive={"topology": "triangle-list", "cull_mode": "none"},
                                   depth_stencil={"format": "depth32float", "depth_write_enabled": True,
                                                  "depth_compare": "less"}))
    p.draw(6)
    p.end()
    p = enc.begin_render_pass(color_attachments=[{"view": color.create_view(), "load_op": "clear",
                                                  "store_op": "store", "clear_value": (0, 0, 0, 1)}])
    pipe = direct.pipeline(d, FULLSCREEN_VS, COMPARE_PS)
    p.set_pipeline(pipe)
    smp = d.create_sampler(mag_filter="linear", min_filter="linear", mipmap_filter="linear", compare=compare)
    direct.bind(d, p, pipe, {1: {16: smp, 32: depth.create_view()}})
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    return direct.readback(d, color, W, H)


@scene("SampleCmp: COMPARISON_MIN_MAG_MIP_LINEAR sampler (LESS_EQUAL) on a D32_FLOAT shader resource")
def test_comparison_sampler_on_depth(pair):
    actual = compare_guest(pair, g.ComparisonFunc.LESS_EQUAL)
    expected = compare_direct(pair, "less-equal")
    assert_same(actual, expected)
    assert len(np.unique(expected.reshape(-1, 4), axis=0)) > 3  # 0, 1 and filtered values between
    assert changed_pixels(expected, compare_direct(pair, "greater")) > 100
    assert changed_pixels(expected, compare_direct(pair, "less")) > 20
