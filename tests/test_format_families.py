"""Format reinterpretation within a family: TYPELESS textures viewed through typed members
(sRGB and UNORM views of one RGBA8 texture; a depth buffer written through a D32_FLOAT
depth-stencil view and sampled through an R32_FLOAT view with a comparison sampler, the
shadow-map pattern), compared with the same work done by direct wgpu calls."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu

from pvgpu import guest as g
from pvgpu.errors import HostReportedError

from test_render_features import W, H, direct_target, guest_target, presented, readback
from test_texture_arrays import VS as FULLSCREEN_VS  # a full-screen triangle with uv

F = g.DxgiFormat
#: a gradient, written through the sRGB view (so encoded) and read back through the UNORM one.
GRADIENT_PS = """
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return vec4<f32>(uv.x, uv.y, 0.5, 1.0); }
"""
#: a slanted plane: depth runs from 0.1 at the left to 0.9 at the right.
SLANT_VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u)) * 2.0 - 1.0;
    return vec4<f32>(xy, 0.1 + (xy.x + 1.0) * 0.4, 1.0);
}
"""
SHADOW_PS = """
@group({group}) @binding(16) var shadow_sampler: sampler_comparison;
@group({group}) @binding(32) var shadow: texture_depth_2d;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {{
    let lit = textureSampleCompare(shadow, shadow_sampler, uv, 0.5);
    return vec4<f32>(lit, 1.0 - lit, uv.y, 1.0);
}}
"""
NO_CULL = g.RasterizerDesc(cull_mode=g.CullMode.NONE)


def fullscreen_state(device: g.Device, ctx, rtv, ps: str) -> None:
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_state(device.create_rasterizer_state(NO_CULL))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(device.create_pixel_shader(ps))


def direct_pass(d: wgpu.GPUDevice, enc, vs: str, ps: str | None, color_view=None, color_format=None,
                depth_view=None, bind_entries=None):
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=vs), "entry_point": "vs"},
        primitive={"topology": "triangle-list"},
        depth_stencil={"format": "depth32float", "depth_write_enabled": True, "depth_compare": "always"}
        if depth_view else None,
        fragment={"module": d.create_shader_module(code=ps), "entry_point": "ps",
                  "targets": [{"format": color_format}]} if ps else None)
    p = enc.begin_render_pass(
        color_attachments=[{"view": color_view, "load_op": "clear", "store_op": "store",
                            "clear_value": (0, 0, 0, 0)}] if color_view else [],
        depth_stencil_attachment={"view": depth_view, "depth_load_op": "clear", "depth_store_op": "store",
                                  "depth_clear_value": 1.0} if depth_view else None)
    p.set_pipeline(pipeline)
    if bind_entries:
        p.set_bind_group(0, d.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=bind_entries))
    p.draw(3)
    p.end()


def test_srgb_and_unorm_views_of_one_typeless_texture(device, wgpu_device):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(W, H, F.R8G8B8A8_TYPELESS,
                                                  bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE))
    fullscreen_state(device, ctx, device.create_render_target_view(tex, F.R8G8B8A8_UNORM_SRGB), GRADIENT_PS)
    ctx.draw(3)
    staging = device.create_texture2d(g.Texture2DDesc(W, H, F.R8G8B8A8_TYPELESS, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    stored = mapped.data.reshape(H, W, 4).copy()
    ctx.unmap(staging, 0)
    device.create_shader_resource_view(tex, F.R8G8B8A8_UNORM)  # the UNORM view of the same texels
    device.connection.finish()

    d = wgpu_device
    target = d.create_texture(size=(W, H, 1), format="rgba8unorm-srgb",
                              usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    enc = d.create_command_encoder()
    direct_pass(d, enc, FULLSCREEN_VS, GRADIENT_PS, target.create_view(), "rgba8unorm-srgb")
    d.queue.submit([enc.finish()])
    expected = readback(d, target, W, H)
    assert abs(int(expected[0, W // 2, 0]) - 188) <= 2  # 0.5 linear is stored sRGB-encoded
    assert np.abs(stored.astype(int) - expected).max() <= 1


def test_r32_typeless_depth_buffer_sampled_with_a_comparison_sampler(host, device, wgpu_device):
    """The shadow-map pattern: R32_TYPELESS, DSV D32_FLOAT, SRV R32_FLOAT, SampleCmp."""
    ctx = device.get_immediate_context()
    depth = device.create_texture2d(g.Texture2DDesc(W, H, F.R32_TYPELESS,
                                                    bind_flags=g.BindFlag.DEPTH_STENCIL | g.BindFlag.SHADER_RESOURCE))
    dsv = device.create_depth_stencil_view(depth, F.D32_FLOAT)
    ctx.clear_depth_stencil_view(dsv, g.ClearFlag.DEPTH, 1.0)
    ctx.om_set_render_targets([], dsv)
    ctx.om_set_depth_stencil_state(device.create_depth_stencil_state(g.DepthStencilDesc(
        depth_func=g.ComparisonFunc.ALWAYS)))
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_state(device.create_rasterizer_state(NO_CULL))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(SLANT_VS))
    ctx.ps_set_shader(None)
    ctx.draw(3)
    chain, rtv = guest_target(device)
    fullscreen_state(device, ctx, rtv, SHADOW_PS.format(group=1))
    ctx.ps_set_shader_resources(0, [device.create_shader_resource_view(depth, F.R32_FLOAT)])
    ctx.ps_set_samplers(0, [device.create_sampler_state(g.SamplerDesc(
        g.Filter.COMPARISON_MIN_MAG_MIP_POINT, comparison_func=g.ComparisonFunc.LESS))])
    ctx.draw(3)
    chain.present()
    actual = presented(host, chain)

    d = wgpu_device
    depth_tex = d.create_texture(size=(W, H, 1), format="depth32float",
                                 usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING)
    target = direct_target(d)
    enc = d.create_command_encoder()
    direct_pass(d, enc, SLANT_VS, None, depth_view=depth_tex.create_view())
    sampler = d.create_sampler(compare="less")
    direct_pass(d, enc, FULLSCREEN_VS, SHADOW_PS.format(group=0), target.create_view(), "rgba8unorm",
                bind_entries=[{"binding": 16, "resource": sampler},
                              {"binding": 32, "resource": depth_tex.create_view(aspect="depth-only")}])
    d.queue.submit([enc.finish()])
    expected = readback(d, target, W, H)
    lit = expected[H // 2, :, 0]
    assert lit[0] != lit[-1]  # the comparison flips across the slanted depth
    assert np.abs(actual.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("make, message", [
    (lambda d: d.create_shader_resource_view(d.create_texture2d(g.Texture2DDesc(4, 4, F.R8G8B8A8_TYPELESS))),
     "names a typed format, not R8G8B8A8_TYPELESS"),
    (lambda d: d.create_shader_resource_view(d.create_texture2d(g.Texture2DDesc(4, 4, F.R8G8B8A8_TYPELESS)),
                                             F.R8G8B8A8_UINT), "cannot view a R8G8B8A8_TYPELESS texture"),
    (lambda d: d.create_shader_resource_view(d.create_texture2d(g.Texture2DDesc(4, 4, F.R8G8B8A8_UNORM)),
                                             F.R8G8B8A8_SNORM), "cannot view a R8G8B8A8_UNORM texture"),
    (lambda d: d.create_texture2d(g.Texture2DDesc(4, 4, F.R24G8_TYPELESS)), "DEPTH_STENCIL bind flag"),
    (lambda d: d.create_depth_stencil_view(d.create_texture2d(g.Texture2DDesc(
        4, 4, F.R32_TYPELESS, bind_flags=g.BindFlag.DEPTH_STENCIL)), F.R32_FLOAT), "needs a depth format"),
])
def test_views_outside_the_family_are_refused(device, make, message):
    make(device)
    with pytest.raises(HostReportedError, match=message):
        device.connection.finish()
