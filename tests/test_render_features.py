"""Pipeline features through pvgpu, each compared with the same work done by direct wgpu
calls (or, for pure data paths, with the bytes that must come back)."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.protocol.enums import ErrorCode

W = H = 64


def readback(device: wgpu.GPUDevice, texture, width: int, height: int, bpp: int = 4) -> np.ndarray:
    data = device.queue.read_texture({"texture": texture}, {"bytes_per_row": width * bpp}, (width, height, 1))
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, bpp)


def direct_target(device, width=W, height=H, fmt="rgba8unorm"):
    return device.create_texture(size=(width, height, 1), format=fmt,
                                 usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)


def guest_target(device: g.Device, width=W, height=H):
    chain = device.create_swap_chain(g.SwapChainDesc(width, height))
    return chain, device.create_render_target_view(chain.get_buffer(0))


def presented(host, device_chain) -> np.ndarray:
    device_chain.wait_idle()
    (frames,) = host.frames.values()
    return frames[-1]


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, f"{np.count_nonzero(diff)} values differ, max {diff.max()}"


# --- blending, instancing, scissor ---------------------------------------------------------------
INSTANCED_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };
@vertex
fn vs(@location(0) corner: vec2<f32>, @location(1) offset: vec2<f32>, @location(2) color: vec4<f32>) -> VOut {
    var o: VOut;
    o.pos = vec4<f32>(corner * 0.6 + offset, 0.0, 1.0);
    o.color = color;
    return o;
}
"""
COLOR_PS = """
@fragment
fn ps(@location(0) color: vec4<f32>) -> @location(0) vec4<f32> { return color; }
"""
CORNERS = np.array([[-1, -1], [-1, 1], [1, 1], [-1, -1], [1, 1], [1, -1]], dtype=np.float32)
INSTANCES = np.array([[-0.3, -0.3, 1, 0, 0, 0.5], [0.0, 0.0, 0, 1, 0, 0.5], [0.3, 0.3, 0, 0, 1, 0.75]],
                     dtype=np.float32)
CLEAR = (0.1, 0.2, 0.3, 1.0)
SCISSOR = (4, 6, 60, 56)  # left, top, right, bottom


def test_alpha_blend_instancing_scissor(host, device, wgpu_device):
    chain, rtv = guest_target(device)
    ctx = device.get_immediate_context()
    vb = device.create_buffer(g.BufferDesc(CORNERS.nbytes, g.BindFlag.VERTEX_BUFFER), CORNERS)
    ib = device.create_buffer(g.BufferDesc(INSTANCES.nbytes, g.BindFlag.VERTEX_BUFFER), INSTANCES)
    layout = device.create_input_layout([
        g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT, 0, 0),
        g.InputElementDesc("OFFSET", 0, g.DxgiFormat.R32G32_FLOAT, 1, 0, g.InputClassification.PER_INSTANCE_DATA, 1),
        g.InputElementDesc("COLOR", 0, g.DxgiFormat.R32G32B32A32_FLOAT, 1, g.APPEND_ALIGNED_ELEMENT,
                           g.InputClassification.PER_INSTANCE_DATA, 1),
    ])
    blend = device.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(
        True, g.Blend.SRC_ALPHA, g.Blend.INV_SRC_ALPHA, g.BlendOp.ADD, g.Blend.ONE, g.Blend.INV_SRC_ALPHA,
        g.BlendOp.ADD)]))
    raster = device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE, scissor_enable=True))
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, CLEAR)
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_scissor_rects([g.Rect(*SCISSOR)])
    ctx.rs_set_state(raster)
    ctx.om_set_blend_state(blend)
    ctx.ia_set_input_layout(layout)
    ctx.ia_set_vertex_buffers(0, [vb, ib], [8, 24])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(INSTANCED_VS))
    ctx.ps_set_shader(device.create_pixel_shader(COLOR_PS))
    ctx.draw_instanced(6, 3, 0, 0)
    chain.present()
    actual = presented(host, chain)

    d = wgpu_device
    target = direct_target(d)
    pipeline = d.create_render_pipeline(
        layout="auto",
        vertex={"module": d.create_shader_module(code=INSTANCED_VS), "entry_point": "vs", "buffers": [
            {"array_stride": 8, "step_mode": "vertex",
             "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0}]},
            {"array_stride": 24, "step_mode": "instance",
             "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 1},
                            {"format": "float32x4", "offset": 8, "shader_location": 2}]}]},
        primitive={"topology": "triangle-list", "cull_mode": "none"},
        fragment={"module": d.create_shader_module(code=COLOR_PS), "entry_point": "ps", "targets": [{
            "format": "rgba8unorm", "blend": {
                "color": {"src_factor": "src-alpha", "dst_factor": "one-minus-src-alpha", "operation": "add"},
                "alpha": {"src_factor": "one", "dst_factor": "one-minus-src-alpha", "operation": "add"}}}]})
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                  "store_op": "store", "clear_value": CLEAR}])
    p.set_pipeline(pipeline)
    p.set_vertex_buffer(0, d.create_buffer_with_data(data=CORNERS.tobytes(), usage=wgpu.BufferUsage.VERTEX))
    p.set_vertex_buffer(1, d.create_buffer_with_data(data=INSTANCES.tobytes(), usage=wgpu.BufferUsage.VERTEX))
    left, top, right, bottom = SCISSOR
    p.set_scissor_rect(left, top, right - left, bottom - top)
    p.draw(6, 3, 0, 0)
    p.end()
    d.queue.submit([enc.finish()])
    expected = readback(d, target, W, H)
    assert_same(actual, expected)
    # Blending really happened: the overlap of the red and green quads is a mix of both.
    assert len({tuple(px) for px in actual.reshape(-1, 4)}) >= 5


# --- textures: mips, shader-resource views of a mip, point sampling, no input layout -------------
FULLSCREEN_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    var o: VOut;
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    o.pos = vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
    o.uv = vec2<f32>(xy.x, 1.0 - xy.y);
    return o;
}
"""
SAMPLE_PS = """
@group(1) @binding(16) var s: sampler;
@group(1) @binding(33) var t: texture_2d<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return textureSample(t, s, uv); }
"""


def _mip_chain(size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    mips, s = [], size
    while s >= 1:
        mips.append(rng.integers(0, 256, (s, s, 4), dtype=np.uint8))
        s //= 2
    return mips


def test_texture_mip_view_sampling(host, device, wgpu_device):
    mips = _mip_chain(16)
    chain, rtv = guest_target(device, 32, 32)
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(16, 16, mip_levels=0), mips)  # 0: the full chain
    srv = device.create_shader_resource_view(tex, most_detailed_mip=1, mip_levels=1)
    sampler = device.create_sampler_state(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT))
    raster = device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE))
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, 32, 32)])
    ctx.rs_set_state(raster)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SAMPLE_PS))
    ctx.ps_set_shader_resources(1, [srv])  # slot 1 -> @binding(33)
    ctx.ps_set_samplers(0, [sampler])
    ctx.draw(3, 0)
    chain.present()
    actual = presented(host, chain)

    d = wgpu_device
    t = d.create_texture(size=(16, 16, 1), mip_level_count=len(mips), format="rgba8unorm",
                         usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
    for level, m in enumerate(mips):
        s = m.shape[0]
        d.queue.write_texture({"texture": t, "mip_level": level}, m.tobytes(), {"bytes_per_row": s * 4,
                                                                                 "rows_per_image": s}, (s, s, 1))
    target = direct_target(d, 32, 32)
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=FULLSCREEN_VS), "entry_point": "vs"},
        primitive={"topology": "triangle-list"},
        fragment={"module": d.create_shader_module(code=SAMPLE_PS), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    bg = d.create_bind_group(layout=pipeline.get_bind_group_layout(1), entries=[
        {"binding": 16, "resource": d.create_sampler()},
        {"binding": 33, "resource": t.create_view(base_mip_level=1, mip_level_count=1)}])
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                  "store_op": "store", "clear_value": (0, 0, 0, 0)}])
    p.set_pipeline(pipeline)
    p.set_bind_group(1, bg)
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    expected = readback(d, target, 32, 32)
    assert_same(actual, expected)
    # Mip 1 (8x8) magnified 4x: each texel of mip 1 covers a 4x4 block.
    assert np.array_equal(actual[0, 0], mips[1][0, 0])


# --- stencil ------------------------------------------------------------------------------------
QUAD_VS = """
@vertex
fn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> { return vec4<f32>(p, 0.5, 1.0); }
"""
SOLID_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""
SMALL = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [0.5, 0.5], [0.5, -0.5]], dtype=np.float32)
FULL = SMALL * 2


def test_stencil_masks_second_draw(host, device, wgpu_device):
    chain, rtv = guest_target(device)
    ctx = device.get_immediate_context()
    ds_tex = device.create_texture2d(g.Texture2DDesc(W, H, g.DxgiFormat.D24_UNORM_S8_UINT,
                                                     bind_flags=g.BindFlag.DEPTH_STENCIL))
    dsv = device.create_depth_stencil_view(ds_tex)
    write = device.create_depth_stencil_state(g.DepthStencilDesc(
        depth_enable=False, stencil_enable=True,
        front_face=g.DepthStencilOpDesc(g.StencilOp.KEEP, g.StencilOp.KEEP, g.StencilOp.REPLACE, g.ComparisonFunc.ALWAYS),
        back_face=g.DepthStencilOpDesc(g.StencilOp.KEEP, g.StencilOp.KEEP, g.StencilOp.REPLACE, g.ComparisonFunc.ALWAYS)))
    test = device.create_depth_stencil_state(g.DepthStencilDesc(
        depth_enable=False, stencil_enable=True, stencil_write_mask=0,
        front_face=g.DepthStencilOpDesc(stencil_func=g.ComparisonFunc.EQUAL),
        back_face=g.DepthStencilOpDesc(stencil_func=g.ComparisonFunc.EQUAL)))
    red = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.array([1, 0, 0, 1], np.float32))
    green = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.array([0, 1, 0, 1], np.float32))
    small = device.create_buffer(g.BufferDesc(SMALL.nbytes, g.BindFlag.VERTEX_BUFFER), SMALL)
    full = device.create_buffer(g.BufferDesc(FULL.nbytes, g.BindFlag.VERTEX_BUFFER), FULL)
    ctx.om_set_render_targets([rtv], dsv)
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    ctx.clear_depth_stencil_view(dsv, g.ClearFlag.DEPTH | g.ClearFlag.STENCIL, 1.0, 0)
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)]))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(QUAD_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SOLID_PS))
    ctx.om_set_depth_stencil_state(write, 1)
    ctx.ps_set_constant_buffers(0, [red])
    ctx.ia_set_vertex_buffers(0, [small], [8])
    ctx.draw(6)
    ctx.om_set_depth_stencil_state(test, 1)
    ctx.ps_set_constant_buffers(0, [green])
    ctx.ia_set_vertex_buffers(0, [full], [8])
    ctx.draw(6)
    chain.present()
    actual = presented(host, chain)

    d = wgpu_device
    target = direct_target(d)
    depth = d.create_texture(size=(W, H, 1), format="depth24plus-stencil8", usage=wgpu.TextureUsage.RENDER_ATTACHMENT)
    vs = d.create_shader_module(code=QUAD_VS)
    ps = d.create_shader_module(code=SOLID_PS)

    def pipeline(face, write_mask):
        return d.create_render_pipeline(
            layout="auto", vertex={"module": vs, "entry_point": "vs", "buffers": [{
                "array_stride": 8, "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0}]}]},
            primitive={"topology": "triangle-list", "cull_mode": "none"},
            depth_stencil={"format": "depth24plus-stencil8", "depth_write_enabled": False, "depth_compare": "always",
                           "stencil_front": face, "stencil_back": face, "stencil_write_mask": write_mask},
            fragment={"module": ps, "entry_point": "ps", "targets": [{"format": "rgba8unorm"}]})

    p1 = pipeline({"compare": "always", "pass_op": "replace"}, 0xFF)
    p2 = pipeline({"compare": "equal"}, 0)
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(
        color_attachments=[{"view": target.create_view(), "load_op": "clear", "store_op": "store",
                            "clear_value": (0, 0, 0, 1)}],
        depth_stencil_attachment={"view": depth.create_view(), "depth_load_op": "clear", "depth_store_op": "store",
                                  "depth_clear_value": 1.0, "stencil_load_op": "clear", "stencil_store_op": "store",
                                  "stencil_clear_value": 0})
    p.set_stencil_reference(1)
    for pl, color, verts in ((p1, (1, 0, 0, 1), SMALL), (p2, (0, 1, 0, 1), FULL)):
        p.set_pipeline(pl)
        cb = d.create_buffer_with_data(data=np.array(color, np.float32).tobytes(), usage=wgpu.BufferUsage.UNIFORM)
        p.set_bind_group(1, d.create_bind_group(layout=pl.get_bind_group_layout(1), entries=[
            {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 16}}]))
        p.set_bind_group(0, d.create_bind_group(layout=pl.get_bind_group_layout(0), entries=[]))
        p.set_vertex_buffer(0, d.create_buffer_with_data(data=verts.tobytes(), usage=wgpu.BufferUsage.VERTEX))
        p.draw(6)
    p.end()
    d.queue.submit([enc.finish()])
    expected = readback(d, target, W, H)
    assert_same(actual, expected)
    assert tuple(actual[H // 2, W // 2]) == (0, 255, 0, 255)  # inside the stencilled square: green
    assert tuple(actual[2, 2]) == (0, 0, 0, 255)  # outside: the green quad was masked


# --- D3D11 data paths: updates between draws, copies, maps --------------------------------------
def test_constant_buffer_updates_between_draws_keep_d3d11_order(host, device):
    """Each draw sees the constant buffer contents as of its own call, whether the update is a
    whole-buffer UpdateSubresource, a partial one, or Map(WRITE_DISCARD)."""
    chain, rtv = guest_target(device)
    ctx = device.get_immediate_context()
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER))
    dyn = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    quads = [np.array([[x0, -1], [x0, 1], [x0 + 0.5, 1], [x0, -1], [x0 + 0.5, 1], [x0 + 0.5, -1]], np.float32)
             for x0 in (-1.0, -0.5, 0.0, 0.5)]
    vbs = [device.create_buffer(g.BufferDesc(q.nbytes, g.BindFlag.VERTEX_BUFFER), q) for q in quads]
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)]))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(QUAD_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SOLID_PS))
    ctx.ps_set_constant_buffers(0, [cb])
    ctx.update_subresource(cb, 0, None, np.array([1, 0, 0, 1], np.float32))
    ctx.ia_set_vertex_buffers(0, [vbs[0]], [8])
    ctx.draw(6)
    ctx.update_subresource(cb, 0, None, np.array([0, 1, 0, 1], np.float32))  # whole buffer
    ctx.ia_set_vertex_buffers(0, [vbs[1]], [8])
    ctx.draw(6)
    ctx.update_subresource(cb, 0, g.Box(8, 0, 0, 16, 1, 1), np.array([1, 1], np.float32))  # partial: b, a
    ctx.ia_set_vertex_buffers(0, [vbs[2]], [8])
    ctx.draw(6)
    ctx.ps_set_constant_buffers(0, [dyn])
    for color, vb in (((1, 1, 1, 1), vbs[3]),):
        mapped = ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
        mapped.data[:] = np.frombuffer(np.array(color, np.float32).tobytes(), np.uint8)
        ctx.unmap(dyn, 0)
        ctx.ia_set_vertex_buffers(0, [vb], [8])
        ctx.draw(6)
    chain.present()
    frame = presented(host, chain)
    row = frame[H // 2]
    assert tuple(row[8]) == (255, 0, 0, 255)
    assert tuple(row[24]) == (0, 255, 0, 255)
    assert tuple(row[40]) == (0, 255, 255, 255)
    assert tuple(row[56]) == (255, 255, 255, 255)


def test_copy_resource_then_map_read_staging(host, device):
    chain, rtv = guest_target(device, 48, 32)
    ctx = device.get_immediate_context()
    ctx.clear_render_target_view(rtv, (0.0, 0.5, 1.0, 1.0))
    staging = device.create_texture2d(g.Texture2DDesc(48, 32, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, chain.get_buffer(0))
    mapped = ctx.map(staging, 0, g.MapType.READ)
    ctx.unmap(staging, 0)
    assert mapped.row_pitch == 48 * 4
    pixels = mapped.data.reshape(32, 48, 4)
    assert np.abs(pixels.astype(int) - [0, 128, 255, 255]).max() <= 1  # 0.5 is a tie GPUs round either way


def test_update_subresource_box_and_map_read(device):
    ctx = device.get_immediate_context()
    base = np.arange(8 * 8 * 4, dtype=np.uint8).reshape(8, 8, 4)
    tex = device.create_texture2d(g.Texture2DDesc(8, 8, bind_flags=g.BindFlag.SHADER_RESOURCE), base)
    patch = np.full((3, 2, 4), 200, np.uint8)
    ctx.update_subresource(tex, 0, g.Box(5, 1, 0, 7, 4, 1), patch)
    staging = device.create_texture2d(g.Texture2DDesc(8, 8, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    got = ctx.map(staging, 0, g.MapType.READ).data.reshape(8, 8, 4)
    ctx.unmap(staging, 0)
    expected = base.copy()
    expected[1:4, 5:7] = 200
    assert np.array_equal(got, expected)

    buf = device.create_buffer(g.BufferDesc(64, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    src = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER), np.arange(64, dtype=np.uint8))
    ctx.copy_resource(buf, src)
    assert np.array_equal(ctx.map(buf, 0, g.MapType.READ).data, np.arange(64, dtype=np.uint8))
    ctx.unmap(buf, 0)


def test_resize_buffers(host, device):
    chain, rtv = guest_target(device, 32, 16)
    ctx = device.get_immediate_context()
    ctx.clear_render_target_view(rtv, (1, 0, 0, 1))
    chain.present()
    # DXGI refuses to resize while a view of the back buffer is alive.
    chain.resize_buffers(2, 20, 10)
    with pytest.raises(HostReportedError, match="RESIZE_BUFFERS.*release"):
        device.connection.finish()
    rtv.release()
    chain.resize_buffers(2, 20, 10)
    rtv = device.create_render_target_view(chain.get_buffer(0))
    ctx.clear_render_target_view(rtv, (0, 0, 1, 1))
    chain.present()
    chain.wait_idle()
    (frames,) = host.frames.values()
    assert frames[0].shape == (16, 32, 4) and tuple(frames[0][0, 0]) == (255, 0, 0, 255)
    assert frames[-1].shape == (10, 20, 4) and tuple(frames[-1][0, 0]) == (0, 0, 255, 255)


def _read_texture(device: g.Device, tex, w: int, h: int) -> np.ndarray:
    ctx = device.get_immediate_context()
    staging = device.create_texture2d(g.Texture2DDesc(w, h, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    data = ctx.map(staging, 0, g.MapType.READ).data.reshape(h, w, 4).copy()
    ctx.unmap(staging, 0)
    return data


def test_clear_then_update_keeps_d3d11_order(device):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, bind_flags=g.BindFlag.RENDER_TARGET))
    rtv = device.create_render_target_view(tex)
    ctx.clear_render_target_view(rtv, (1, 0, 0, 1))
    ctx.update_subresource(tex, 0, g.Box(0, 0, 0, 2, 1, 1), np.full((1, 2, 4), 7, np.uint8))
    got = _read_texture(device, tex, 4, 4)
    assert tuple(got[0, 0]) == (7, 7, 7, 7) and tuple(got[0, 3]) == (255, 0, 0, 255)


def test_released_view_keeps_its_clear_and_binding(device):
    """D3D11: Release() drops the app's reference; recorded work and bound state stay."""
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, bind_flags=g.BindFlag.RENDER_TARGET))
    rtv = device.create_render_target_view(tex)
    ctx.clear_render_target_view(rtv, (0, 1, 0, 1))
    rtv.release()
    assert tuple(_read_texture(device, tex, 4, 4)[1, 1]) == (0, 255, 0, 255)


def test_texture_bound_as_target_reads_as_unbound(device):
    """Binding a texture as render target while it is a shader resource: D3D11 unbinds the
    input, so the draw still happens (wgpu would reject the whole command buffer)."""
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(32, 32, bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE))
    rtv = device.create_render_target_view(tex)
    srv = device.create_shader_resource_view(tex)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 1, 1))
    ctx.rs_set_viewports([g.Viewport(0, 0, 32, 32)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SAMPLE_PS))
    ctx.ps_set_shader_resources(1, [srv])
    ctx.ps_set_samplers(0, [device.create_sampler_state(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT))])
    ctx.draw(3)
    device.connection.finish()  # raises if the host rejected anything
    # The unbound input reads as zeros, so the draw wrote transparent black.
    assert tuple(_read_texture(device, tex, 32, 32)[5, 5]) == (0, 0, 0, 0)


def test_copy_subresource_region(device):
    ctx = device.get_immediate_context()
    mips = [np.arange(8 * 8 * 4, dtype=np.uint8).reshape(8, 8, 4), np.full((4, 4, 4), 9, np.uint8)]
    src = device.create_texture2d(g.Texture2DDesc(8, 8, mip_levels=2), mips)
    dst = device.create_texture2d(g.Texture2DDesc(8, 8, mip_levels=2), [np.zeros((8, 8, 4), np.uint8),
                                                                        np.zeros((4, 4, 4), np.uint8)])
    ctx.copy_subresource_region(dst, 0, 5, 4, 0, src, 0, g.Box(1, 2, 0, 4, 5, 1))  # 3x3 block
    ctx.copy_subresource_region(dst, 1, 0, 0, 0, src, 1)  # a whole mip
    staging = device.create_texture2d(g.Texture2DDesc(8, 8, mip_levels=2, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, dst)
    got = ctx.map(staging, 0, g.MapType.READ).data.reshape(8, 8, 4)
    ctx.unmap(staging, 0)
    expected = np.zeros((8, 8, 4), np.uint8)
    expected[4:7, 5:8] = mips[0][2:5, 1:4]
    assert np.array_equal(got, expected)
    assert np.all(ctx.map(staging, 1, g.MapType.READ).data == 9)
    ctx.unmap(staging, 1)

    a = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER), np.arange(64, dtype=np.uint8))
    b = device.create_buffer(g.BufferDesc(64, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    ctx.copy_subresource_region(b, 0, 8, 0, 0, a, 0, g.Box(16, 0, 0, 32, 1, 1))
    got = ctx.map(b, 0, g.MapType.READ).data
    ctx.unmap(b, 0)
    assert np.array_equal(got[8:24], np.arange(16, 32)) and not got[:8].any() and not got[24:].any()

    # Out-of-range boxes are refused with the command named, and nothing else is lost.
    ctx.copy_subresource_region(dst, 0, 6, 6, 0, src, 0, g.Box(0, 0, 0, 4, 4, 1))
    device.connection.kick()
    device.connection.wait_fence(device.connection.fence())
    (entry,) = device.host_errors()
    assert entry.code == ErrorCode.INVALID_CALL and "does not fit" in entry.detail


def test_generate_mips_box_filters_each_level(device):
    ctx = device.get_immediate_context()
    base = np.random.default_rng(5).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    tex = device.create_texture2d(g.Texture2DDesc(16, 16, mip_levels=0, misc_flags=g.ResourceMiscFlag.GENERATE_MIPS,
                                                  bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE),
                                  [base] + [np.zeros((s, s, 4), np.uint8) for s in (8, 4, 2, 1)])
    ctx.generate_mips(device.create_shader_resource_view(tex))
    staging = device.create_texture2d(g.Texture2DDesc(16, 16, mip_levels=5, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    expected = base.astype(np.float64)
    for mip in range(1, 5):
        expected = expected.reshape(expected.shape[0] // 2, 2, expected.shape[1] // 2, 2, 4).mean(axis=(1, 3))
        size = 16 >> mip
        got = ctx.map(staging, mip, g.MapType.READ).data.reshape(size, size, 4)
        ctx.unmap(staging, mip)
        assert np.abs(got.astype(np.float64) - expected).max() <= 1.5 * mip, f"mip {mip}"
    # Without the misc flag: a clear error, nothing drawn.
    plain = device.create_texture2d(g.Texture2DDesc(4, 4, mip_levels=0,
                                                    bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE))
    ctx.generate_mips(device.create_shader_resource_view(plain))
    device.connection.kick()
    device.connection.wait_fence(device.connection.fence())
    (entry,) = device.host_errors()
    assert entry.code == ErrorCode.INVALID_CALL and "GENERATE_MIPS" in entry.detail


def test_indirect_draws_match_direct_draws(host, device):
    """DrawInstancedIndirect / DrawIndexedInstancedIndirect draw what the same direct draws do."""
    frames = []
    for indirect in (False, True):
        chain, rtv = guest_target(device, 32, 32)
        ctx = device.get_immediate_context()
        quads = np.concatenate([SMALL - 0.4, SMALL + 0.4]).astype(np.float32)
        vb = device.create_buffer(g.BufferDesc(quads.nbytes, g.BindFlag.VERTEX_BUFFER), quads)
        ib = device.create_buffer(g.BufferDesc(12, g.BindFlag.INDEX_BUFFER), np.arange(6, dtype=np.uint16))
        red = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.array([1, 0, 0, 1], np.float32))
        args = np.array([6, 1, 0, 0, 6, 1, 0, 6, 0, 0], np.uint32)  # (non-indexed) then (indexed, base vertex 6)
        arg_buf = device.create_buffer(g.BufferDesc(args.nbytes, 0, misc_flags=g.ResourceMiscFlag.DRAWINDIRECT_ARGS),
                                       args)
        ctx.om_set_render_targets([rtv])
        ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
        ctx.rs_set_viewports([g.Viewport(0, 0, 32, 32)])
        ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
        ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("P", 0, g.DxgiFormat.R32G32_FLOAT)]))
        ctx.ia_set_vertex_buffers(0, [vb], [8])
        ctx.ia_set_index_buffer(ib, g.DxgiFormat.R16_UINT)
        ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
        ctx.vs_set_shader(device.create_vertex_shader(QUAD_VS))
        ctx.ps_set_shader(device.create_pixel_shader(SOLID_PS))
        ctx.ps_set_constant_buffers(0, [red])
        if indirect:
            ctx.draw_instanced_indirect(arg_buf, 0)
            ctx.draw_indexed_instanced_indirect(arg_buf, 16)
        else:
            ctx.draw_instanced(6, 1, 0, 0)
            ctx.draw_indexed_instanced(6, 1, 0, 6, 0)
        chain.present()
        chain.wait_idle()
        frames.append(list(host.frames.values())[0][-1].copy())
    assert np.array_equal(frames[0], frames[1])
    assert (frames[1][..., 0] == 255).sum() > 50  # both quads are there
    # Arguments outside the buffer, or a buffer without the misc flag: refused, named.
    ctx.draw_instanced_indirect(arg_buf, 32)
    ctx.draw_instanced_indirect(vb, 0)
    device.connection.kick()
    device.connection.wait_fence(device.connection.fence())
    details = [e.detail for e in device.host_errors()]
    assert len(details) == 2 and "inside the" in details[0] and "DRAWINDIRECT_ARGS" in details[1]


TRIANGLE = np.array([[-0.8, -0.7], [0.1, 0.9], [0.9, -0.3]], dtype=np.float32)


def test_msaa_render_and_resolve_match_direct_wgpu(host, device, wgpu_device):
    chain, back_rtv = guest_target(device)
    ctx = device.get_immediate_context()
    msaa = device.create_texture2d(g.Texture2DDesc(W, H, sample_count=4, bind_flags=g.BindFlag.RENDER_TARGET))
    rtv = device.create_render_target_view(msaa)
    vb = device.create_buffer(g.BufferDesc(TRIANGLE.nbytes, g.BindFlag.VERTEX_BUFFER), TRIANGLE)
    red = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.array([1, 0, 0, 1], np.float32))
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("P", 0, g.DxgiFormat.R32G32_FLOAT)]))
    ctx.ia_set_vertex_buffers(0, [vb], [8])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(QUAD_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SOLID_PS))
    ctx.ps_set_constant_buffers(0, [red])
    ctx.draw(3)
    ctx.resolve_subresource(chain.get_buffer(0), 0, msaa, 0, g.DxgiFormat.R8G8B8A8_UNORM)
    chain.present()
    actual = presented(host, chain)

    d = wgpu_device
    ms = d.create_texture(size=(W, H, 1), format="rgba8unorm", sample_count=4,
                          usage=wgpu.TextureUsage.RENDER_ATTACHMENT)
    target = direct_target(d)
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=QUAD_VS), "entry_point": "vs", "buffers": [
            {"array_stride": 8, "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0}]}]},
        primitive={"topology": "triangle-list", "cull_mode": "none"}, multisample={"count": 4},
        fragment={"module": d.create_shader_module(code=SOLID_PS), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    cb = d.create_buffer_with_data(data=np.array([1, 0, 0, 1], np.float32).tobytes(), usage=wgpu.BufferUsage.UNIFORM)
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": ms.create_view(), "resolve_target": target.create_view(),
                                                  "load_op": "clear", "store_op": "store",
                                                  "clear_value": (0, 0, 0, 1)}])
    p.set_pipeline(pipeline)
    p.set_bind_group(0, d.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[]))
    p.set_bind_group(1, d.create_bind_group(layout=pipeline.get_bind_group_layout(1), entries=[
        {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 16}}]))
    p.set_vertex_buffer(0, d.create_buffer_with_data(data=TRIANGLE.tobytes(), usage=wgpu.BufferUsage.VERTEX))
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    assert_same(actual, readback(d, target, W, H))
    edge = {int(v) for v in actual[..., 0].reshape(-1)} - {0, 255}
    assert edge, "no partly covered pixels: the resolve did not average samples"
    # A multisampled texture cannot be read back directly: a clear error, not a lost frame.
    ctx.copy_resource(device.create_texture2d(g.Texture2DDesc(W, H, sample_count=4,
                                                              bind_flags=g.BindFlag.RENDER_TARGET)), msaa)
    device.connection.kick()
    device.connection.wait_fence(device.connection.fence())
    (entry,) = device.host_errors()
    assert entry.code == ErrorCode.UNSUPPORTED and "resolve them first" in entry.detail


def test_wireframe_fill_matches_direct_wgpu(host, device, wgpu_device):
    if not device.connection.accepted_features & g.Feature.FILL_WIREFRAME:
        # The host says it cannot: then the state is refused, clearly.
        device.create_rasterizer_state(g.RasterizerDesc(fill_mode=g.FillMode.WIREFRAME))
        device.connection.kick()
        device.connection.wait_fence(device.connection.fence())
        (entry,) = device.host_errors()
        assert entry.code == ErrorCode.UNSUPPORTED and "WIREFRAME" in entry.detail
        return
    chain, rtv = guest_target(device)
    ctx = device.get_immediate_context()
    vb = device.create_buffer(g.BufferDesc(TRIANGLE.nbytes, g.BindFlag.VERTEX_BUFFER), TRIANGLE)
    red = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.array([1, 0, 0, 1], np.float32))
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(fill_mode=g.FillMode.WIREFRAME,
                                                                     cull_mode=g.CullMode.NONE)))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("P", 0, g.DxgiFormat.R32G32_FLOAT)]))
    ctx.ia_set_vertex_buffers(0, [vb], [8])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(QUAD_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SOLID_PS))
    ctx.ps_set_constant_buffers(0, [red])
    ctx.draw(3)
    chain.present()
    actual = presented(host, chain)

    d = wgpu_device
    target = direct_target(d)
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=QUAD_VS), "entry_point": "vs", "buffers": [
            {"array_stride": 8, "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0}]}]},
        primitive={"topology": "triangle-list", "cull_mode": "none", "polygon_mode": "Line"},
        fragment={"module": d.create_shader_module(code=SOLID_PS), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    cb = d.create_buffer_with_data(data=np.array([1, 0, 0, 1], np.float32).tobytes(), usage=wgpu.BufferUsage.UNIFORM)
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                  "store_op": "store", "clear_value": (0, 0, 0, 1)}])
    p.set_pipeline(pipeline)
    p.set_bind_group(0, d.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[]))
    p.set_bind_group(1, d.create_bind_group(layout=pipeline.get_bind_group_layout(1), entries=[
        {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 16}}]))
    p.set_vertex_buffer(0, d.create_buffer_with_data(data=TRIANGLE.tobytes(), usage=wgpu.BufferUsage.VERTEX))
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    assert_same(actual, readback(d, target, W, H))
    assert tuple(actual[H // 2, W // 2]) == (0, 0, 0, 255)  # the inside is not filled
    assert (actual[..., 0] == 255).sum() > 20  # the edges are drawn


def test_copies_and_resolves_wgpu_cannot_do_are_refused_alone(host, device):
    """Each is refused with the command named, and the frame around them still arrives."""
    chain, rtv = guest_target(device, 8, 8)
    ctx = device.get_immediate_context()
    ctx.clear_render_target_view(rtv, (0, 1, 0, 1))
    buf = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER), np.arange(64, dtype=np.uint8))
    ctx.copy_subresource_region(buf, 0, 32, 0, 0, buf, 0, g.Box(0, 0, 0, 16, 1, 1))  # within one buffer
    small = device.create_texture2d(g.Texture2DDesc(4, 4, g.DxgiFormat.D32_FLOAT, bind_flags=g.BindFlag.DEPTH_STENCIL))
    big = device.create_texture2d(g.Texture2DDesc(8, 8, g.DxgiFormat.D32_FLOAT, bind_flags=g.BindFlag.DEPTH_STENCIL))
    ctx.copy_subresource_region(big, 0, 0, 0, 0, small, 0)  # depth into a larger mip
    msaa = device.create_texture2d(g.Texture2DDesc(8, 8, sample_count=4, bind_flags=g.BindFlag.RENDER_TARGET))
    staging = device.create_texture2d(g.Texture2DDesc(8, 8, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.resolve_subresource(staging, 0, msaa, 0)  # into a non-DEFAULT texture
    chain.present()
    with pytest.raises(HostReportedError) as info:
        chain.wait_idle()
    assert [line.split(":")[0].split()[-1] for line in str(info.value).splitlines()[1:]] == \
        ["COPY_SUBRESOURCE_REGION", "COPY_SUBRESOURCE_REGION", "RESOLVE_SUBRESOURCE"]
    (frames,) = host.frames.values()
    assert tuple(frames[-1][0, 0]) == (0, 255, 0, 255)


def test_update_and_map_of_a_full_mip_chain_use_each_mips_size(device):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(8, 8, mip_levels=0, usage=g.Usage.STAGING, bind_flags=0,
                                                  cpu_access_flags=g.CpuAccessFlag.READ | g.CpuAccessFlag.WRITE))
    ctx.update_subresource(tex, 1, None, np.full((4, 4, 4), 5, np.uint8))  # mip 1: 4x4
    mapped = ctx.map(tex, 3, g.MapType.READ)  # mip 3: 1x1
    assert mapped.row_pitch == 4 and mapped.data.size == 4
    ctx.unmap(tex, 3)
    assert set(ctx.map(tex, 1, g.MapType.READ).data.tolist()) == {5}
    ctx.unmap(tex, 1)


def test_sampling_one_mip_while_rendering_another(device):
    """A downsample chain: render into mip 1 while sampling mip 0 of the same texture."""
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(16, 16, mip_levels=2,
                                                  bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE),
                                  [np.full((16, 16, 4), 200, np.uint8), np.zeros((8, 8, 4), np.uint8)])
    ctx.om_set_render_targets([device.create_render_target_view(tex, mip_slice=1)])
    ctx.rs_set_viewports([g.Viewport(0, 0, 8, 8)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(device.create_pixel_shader(SAMPLE_PS))
    ctx.ps_set_shader_resources(1, [device.create_shader_resource_view(tex, most_detailed_mip=0, mip_levels=1)])
    ctx.ps_set_samplers(0, [device.create_sampler_state(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT))])
    ctx.draw(3)
    staging = device.create_texture2d(g.Texture2DDesc(16, 16, mip_levels=2, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    assert set(ctx.map(staging, 1, g.MapType.READ).data.tolist()) == {200}
    ctx.unmap(staging, 1)


def test_depth_clip_disable_is_refused_clearly(device):
    """wgpu-py 0.32 drops PrimitiveState.unclipped_depth, so pvgpu does not offer
    DEPTH_CLIP_CONTROL and refuses DepthClipEnable = FALSE instead of ignoring it."""
    assert not device.connection.accepted_features & g.Feature.DEPTH_CLIP_CONTROL
    device.create_rasterizer_state(g.RasterizerDesc(depth_clip_enable=False))
    with pytest.raises(HostReportedError) as info:
        device.connection.finish()
    assert "UNSUPPORTED" in str(info.value) and "DEPTH_CLIP_CONTROL" in str(info.value)
