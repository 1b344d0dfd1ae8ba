"""Views that reinterpret a TYPELESS texture: an R8G8B8A8_TYPELESS texture rendered through an
sRGB render-target view and sampled through a UNORM view, and an R32_TYPELESS depth buffer
bound through a read-only depth-stencil view while a pixel shader reads it through an
R32_FLOAT shader-resource view. The references use WebGPU's own means: an sRGB texture whose
bytes are copied into a UNORM one, and a depth attachment with depth_read_only."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

from . import direct
from .pair import CLEAR, POINT, W, H, DepthStencil, Draw, Steps, Target, Texture, changed_pixels, quad
from .scene import scene
from .wgsl import FULLSCREEN_VS, UV_PS, sampling_ps

F = g.DxgiFormat
B = g.BindFlag
SIZE = 16
LINEAR_CLEAR = (0.5, 0.25, 0.0, 1.0)  # stored sRGB-encoded: (188, 137, 0, 255)
GRADIENT_VIEWPORT = (3, 2, 11, 12)


@scene("R8G8B8A8_TYPELESS texture: cleared and drawn through an R8G8B8A8_UNORM_SRGB render-target view, "
       "sampled through an R8G8B8A8_UNORM view")
def test_typeless_srgb_target_unorm_view(pair):
    dev, ctx, d = pair.device, pair.ctx, pair.wgpu
    gradient = Draw(layout=None, vs=FULLSCREEN_VS, ps=UV_PS, viewport=(*GRADIENT_VIEWPORT, 0.0, 1.0))
    sample = Draw(layout=None, vs=FULLSCREEN_VS, ps=sampling_ps("textureSample(t, s, uv)"), samplers={0: POINT})
    f = Steps(pair)
    tex = dev.create_texture2d(g.Texture2DDesc(SIZE, SIZE, F.R8G8B8A8_TYPELESS,
                                               bind_flags=B.RENDER_TARGET | B.SHADER_RESOURCE))
    srgb = dev.create_render_target_view(tex, F.R8G8B8A8_UNORM_SRGB)
    ctx.om_set_render_targets([srgb])
    ctx.clear_render_target_view(srgb, LINEAR_CLEAR)
    pair.draw_guest(gradient, Target(SIZE, SIZE), {})
    ctx.om_set_render_targets([f.rtv])
    ctx.ps_set_shader_resources(0, [dev.create_shader_resource_view(tex, F.R8G8B8A8_UNORM)])
    pair.draw_guest(sample, f.t, f.cache)
    ctx.ps_set_shader_resources(0, [None])

    # direct wgpu (wgpu-py has no view_formats): render into an rgba8unorm-srgb texture, copy its
    # bytes into an rgba8unorm one (WebGPU copies between formats that differ only in sRGB-ness)
    srgb_tex = d.create_texture(size=(SIZE, SIZE, 1), format="rgba8unorm-srgb",
                                usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    unorm_tex = direct.texture(d, [np.zeros((SIZE, SIZE, 4), np.uint8)])
    pipe = direct.pipeline(d, FULLSCREEN_VS, UV_PS, targets=({"format": "rgba8unorm-srgb"},))
    p = f.encoder.begin_render_pass(color_attachments=[{"view": srgb_tex.create_view(), "load_op": "clear",
                                                        "store_op": "store", "clear_value": LINEAR_CLEAR}])
    p.set_pipeline(pipe)
    p.set_viewport(*GRADIENT_VIEWPORT, 0.0, 1.0)
    p.draw(3)
    p.end()
    f.encoder.copy_texture_to_texture({"texture": srgb_tex}, {"texture": unorm_tex}, (SIZE, SIZE, 1))
    placeholder = Texture([])
    f.direct(Draw(layout=None, vs=sample.vs, ps=sample.ps, samplers={0: POINT}, textures={0: placeholder}),
             views={id(placeholder): (placeholder, unorm_tex.create_view())})
    frame = f.compare(min_colors=60)
    assert (np.abs(frame[0, 0].astype(int) - (188, 137, 0, 255)) <= 1).all()  # encoded on write, raw on read
    x = 3 * (GRADIENT_VIEWPORT[0] + GRADIENT_VIEWPORT[2] // 2)
    assert frame[12, x, 0] > 160  # the gradient's middle (0.5 linear) is stored encoded, not 128


#: Depth from 0.1 at the left edge to 0.9 at the right, written by a depth-only draw.
SLANT_VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u)) * 2.0 - 1.0;
    return vec4<f32>(xy, 0.1 + (xy.x + 1.0) * 0.4, 1.0);
}
"""
#: The depth buffer read at the pixel being shaded (through the R32_FLOAT view).
DEPTH_PS = """
@group(1) @binding(32) var depth: texture_depth_2d;
@fragment
fn ps(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let z = textureLoad(depth, vec2<i32>(pos.xy), 0);
    return vec4<f32>(z, 1.0 - z, fract(z * 8.0), 1.0);
}
"""
WRITE_ALWAYS = DepthStencil(g.DepthStencilDesc(depth_func=g.ComparisonFunc.ALWAYS),
                            {"depth_compare": "always", "depth_write_enabled": True})
TEST_ONLY = DepthStencil(g.DepthStencilDesc(depth_write_mask=g.DepthWriteMask.ZERO, depth_func=g.ComparisonFunc.LESS),
                         {"depth_compare": "less", "depth_write_enabled": False})
DEPTH = Target(depth=F.D32_FLOAT)


@scene("Read-only depth-stencil view (DSV_FLAG READ_ONLY_DEPTH) bound while the same R32_TYPELESS texture "
       "is read through an R32_FLOAT shader-resource view")
def test_read_only_depth_view_sampled(pair):
    dev, ctx, d = pair.device, pair.ctx, pair.wgpu
    slant = Draw(layout=None, vs=SLANT_VS, ps=None, depth=WRITE_ALWAYS)
    tested = Draw(quad(-0.8, -0.8, 0.8, 0.8, z=0.5), ps=DEPTH_PS, depth=TEST_ONLY)
    f = Steps(pair)
    tex = dev.create_texture2d(g.Texture2DDesc(W, H, F.R32_TYPELESS, bind_flags=B.DEPTH_STENCIL | B.SHADER_RESOURCE))
    dsv = dev.create_depth_stencil_view(tex, F.D32_FLOAT)
    ctx.om_set_render_targets([], dsv)
    ctx.clear_depth_stencil_view(dsv, g.ClearFlag.DEPTH, 1.0)
    pair.draw_guest(slant, DEPTH, f.cache)
    ctx.om_set_render_targets([f.rtv], dev.create_depth_stencil_view(tex, F.D32_FLOAT,
                                                                     flags=g.DsvFlag.READ_ONLY_DEPTH))
    ctx.ps_set_shader_resources(0, [dev.create_shader_resource_view(tex, F.R32_FLOAT)])
    pair.draw_guest(tested, DEPTH, f.cache)
    ctx.ps_set_shader_resources(0, [None])
    ctx.om_set_render_targets([f.rtv])

    depth = d.create_texture(size=(W, H, 1), format="depth32float",
                             usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING)
    f.direct()  # the back buffer's clear
    p = f.encoder.begin_render_pass(color_attachments=[], depth_stencil_attachment={
        "view": depth.create_view(), "depth_load_op": "clear", "depth_store_op": "store", "depth_clear_value": 1.0})
    pair.draw_direct(p, slant, DEPTH)
    p.end()
    placeholder = Texture([])
    p = f.encoder.begin_render_pass(
        color_attachments=[{"view": f.tex.create_view(), "load_op": "load", "store_op": "store"}],
        depth_stencil_attachment={"view": depth.create_view(), "depth_read_only": True})
    pair.draw_direct(p, Draw(tested.vertices, ps=DEPTH_PS, depth=TEST_ONLY, textures={0: placeholder}), DEPTH,
                     {id(placeholder): (placeholder, depth.create_view(aspect="depth-only"))})
    p.end()
    frame = f.compare(min_colors=10)
    # the depth test failed (z 0.5 > stored): the clear colour, within GPUs' rounding
    assert np.abs(frame[H // 2, 10].astype(int) - [round(c * 255) for c in CLEAR]).max() <= 1
    right = frame[H // 2, 30:42, 0].astype(int)
    assert (right > 128).all() and right[-1] > right[0]  # passed, showing the stored depth (0.5 .. 0.9)
    untested = pair.run_direct([Draw(tested.vertices, ps=DEPTH_PS.replace(
        "textureLoad(depth, vec2<i32>(pos.xy), 0)", "0.5").replace(
        "@group(1) @binding(32) var depth: texture_depth_2d;", ""))], Target())[0][0]
    assert changed_pixels(frame, untested) > 200  # the depth test and the depth reads both changed the picture
