"""Bind-time specialization of DXBC shaders through the whole stack: what WGSL fixes when a
module is compiled but D3D11 leaves to bind time (a constant buffer smaller than declared, a
depth texture behind a float SRV, a typed UAV's format, a typed buffer's element size) is read
off what is bound, and one shader object serves each binding correctly in turn (no stale
variant). Shaders are written with the project's assembler."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.shaders.assembler import assemble

from conformance import guest as gh

F = g.DxgiFormat
B = g.BindFlag

FULLSCREEN_VS = assemble("""
vs_4_0
dcl_input_sgv v0.x, vertex_id
dcl_output_siv o0.xyzw, position
dcl_temps 1
ishl r0.x, v0.x, l(1)
and r0.x, r0.x, l(2)
and r0.y, v0.x, l(2)
utof r0.xy, r0.xyxx
mad o0.xy, r0.xyxx, l(2.0, 2.0, 0.0, 0.0), l(-1.0, -1.0, 0.0, 0.0)
mov o0.zw, l(0, 0, 0.5, 1.0)
ret
""")

CB_PS = assemble("""
ps_4_0
dcl_constantbuffer CB0[4], immediateIndexed
dcl_output o0.xyzw
add o0.xyzw, cb0[0].xyzw, cb0[3].xyzw
ret
""")

LOAD_PS = assemble("""
ps_4_0
dcl_resource_texture2d (float,float,float,float) t0
dcl_output o0.xyzw
ld o0.xyzw, l(0, 0, 0, 0), t0.xyzw
ret
""")


def draw_fullscreen(device: g.Device, ps, *, constants=None, resources=None, size=4) -> np.ndarray:
    ctx = device.get_immediate_context()
    chain, rtv = gh.swap_chain_target(device, size, size)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 1, 1))
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.rs_set_viewports([g.Viewport(0, 0, size, size)])
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(ps)
    if constants is not None:
        ctx.ps_set_constant_buffers(0, [constants])
    if resources is not None:
        ctx.ps_set_shader_resources(0, [resources])
    ctx.draw(3, 0)
    ctx.ps_set_shader_resources(0, [None])
    chain.present()
    return chain


def frame_of(host, device, **kw) -> np.ndarray:
    chain = draw_fullscreen(device, **kw)
    return gh.presented(host, chain)


def test_constant_buffer_smaller_than_declared_reads_zero_past_its_end(host, device):
    """The shader declares cb0[4] and adds cb0[0] + cb0[3]; a 16-byte buffer is bound: D3D11
    reads 0 past the bound range, so the sum is cb0[0]. Then a 64-byte buffer, through the same
    shader object: now cb0[3] counts."""
    ps = device.create_pixel_shader(CB_PS)
    small = device.create_buffer(g.BufferDesc(16, B.CONSTANT_BUFFER), np.array([0.25, 0.5, 0.75, 1.0], np.float32))
    frame = frame_of(host, device, ps=ps, constants=small)
    assert (frame == (64, 128, 191, 255)).all(), frame[0, 0]
    full = np.zeros((4, 4), np.float32)
    full[0] = (0.25, 0.5, 0.0, 1.0)
    full[3] = (0.5, 0.0, 0.25, 0.0)
    big = device.create_buffer(g.BufferDesc(64, B.CONSTANT_BUFFER), full)
    frame = frame_of(host, device, ps=ps, constants=big)
    assert (frame == (191, 128, 64, 255)).all(), frame[0, 0]


def test_float_srv_of_a_depth_texture_and_of_a_colour_texture(host, device):
    """`ld` from a t0 declared float: bound to an R32_FLOAT view of a depth texture (WGSL needs
    texture_depth_2d there) it reads (depth, 0, 0, 1); bound to an R32_FLOAT colour texture next,
    the same shader object reads that texture's value."""
    ctx = device.get_immediate_context()
    ps = device.create_pixel_shader(LOAD_PS)
    depth = device.create_texture2d(g.Texture2DDesc(4, 4, F.R32_TYPELESS, bind_flags=B.DEPTH_STENCIL | B.SHADER_RESOURCE))
    dsv = device.create_depth_stencil_view(depth, F.D32_FLOAT)
    ctx.clear_depth_stencil_view(dsv, g.ClearFlag.DEPTH, 0.5, 0)
    frame = frame_of(host, device, ps=ps, resources=device.create_shader_resource_view(depth, F.R32_FLOAT))
    assert (frame == (128, 0, 0, 255)).all(), frame[0, 0]
    colour = device.create_texture2d(g.Texture2DDesc(4, 4, F.R32_FLOAT, bind_flags=B.SHADER_RESOURCE),
                                     np.full((4, 4), 0.25, np.float32))
    frame = frame_of(host, device, ps=ps, resources=device.create_shader_resource_view(colour))
    assert (frame == (64, 0, 0, 255)).all(), frame[0, 0]


def test_typed_uav_store_in_the_bound_format(device):
    """store_uav_typed to u0 declared (float,float,float,float): WGSL's storage texture needs the
    bound view's format, here R8G8B8A8_UNORM, then R32G32B32A32_FLOAT through the same shader."""
    cs = device.create_compute_shader(assemble("""
cs_5_0
dcl_globalFlags refactoringAllowed
dcl_uav_typed_texture2d (float,float,float,float) u0
dcl_input vThreadID.xy
dcl_thread_group 4, 4, 1
store_uav_typed u0.xyzw, vThreadID.xyyy, l(1.0, 0.5, 0.25, 1.0)
ret
"""))
    rgba8 = device.create_texture2d(g.Texture2DDesc(4, 4, F.R8G8B8A8_UNORM, bind_flags=B.UNORDERED_ACCESS))
    gh.dispatch(device, cs, uavs=[device.create_unordered_access_view(rgba8)])
    texels = gh.read_texture(device, rgba8)
    assert (texels == (255, 128, 64, 255)).all(), texels[0, 0]
    rgba32 = device.create_texture2d(g.Texture2DDesc(4, 4, F.R32G32B32A32_FLOAT, bind_flags=B.UNORDERED_ACCESS))
    gh.dispatch(device, cs, uavs=[device.create_unordered_access_view(rgba32)])
    values = gh.read_texture(device, rgba32).view(np.float32).reshape(4, 4, 4)
    assert (values == (1.0, 0.5, 0.25, 1.0)).all(), values[0, 0]


@pytest.mark.parametrize("fmt,components,expected", [
    (F.R32G32_FLOAT, 2, (3.0, 4.0, 0.0, 1.0)),
    (F.R32G32B32A32_FLOAT, 4, (5.0, 6.0, 7.0, 8.0)),
])
def test_typed_buffer_element_size_is_the_views(device, fmt, components, expected):
    """ld from a typed buffer SRV: element 1's address depends on the bound view's format (only
    known at bind time), and missing components read as D3D11 fills them (0, 0, 1)."""
    cs = device.create_compute_shader(assemble("""
cs_5_0
dcl_globalFlags refactoringAllowed
dcl_resource_buffer (float,float,float,float) t0
dcl_uav_raw u0
dcl_temps 1
dcl_thread_group 1, 1, 1
ld r0.xyzw, l(1, 1, 1, 1), t0.xyzw
store_raw u0.xyzw, l(0), r0.xyzw
ret
"""))
    data = np.arange(1, 9, dtype=np.float32)
    src = device.create_buffer(g.BufferDesc(data.nbytes, B.SHADER_RESOURCE), data)
    srv = device.create_shader_resource_view(src, fmt, first_element=0, num_elements=8 // components)
    dst = device.create_buffer(g.BufferDesc(16, B.UNORDERED_ACCESS, misc_flags=g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS))
    uav = device.create_unordered_access_view(dst, F.R32_TYPELESS, first_element=0, num_elements=4,
                                              flags=g.BufferViewFlag.RAW)
    gh.dispatch(device, cs, resources=[srv], uavs=[uav])
    got = struct.unpack("<4f", gh.read_buffer(device, dst).tobytes())
    assert got == expected


IDS_VS = assemble("""
// Input signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// POSITION                 0   xy          0     NONE   float   xy
// SV_VertexID              0   x           1   VERTID    uint   x
// SV_InstanceID            0   x           2   INSTID    uint   x
//
// Output signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Position              0   xyzw        0      POS   float   xyzw
// TEXCOORD                 0   xy          1     NONE    uint   xy
//
vs_4_0
dcl_input v0.xy
dcl_input_sgv v1.x, vertex_id
dcl_input_sgv v2.x, instance_id
dcl_output_siv o0.xyzw, position
dcl_output o1.xy
mov o0.xy, v0.xyxx
mov o0.zw, l(0, 0, 0, 1.0)
mov o1.x, v1.x
mov o1.y, v2.x
ret
""")

IDS_PS = assemble("""
// Input signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Position              0   xyzw        0      POS   float
// TEXCOORD                 0   xy          1     NONE    uint   xy
//
// Output signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Target                0   xyzw        0   TARGET   float   xyzw
//
ps_4_0
dcl_input_ps constant v1.xy
dcl_output o0.xyzw
dcl_temps 1
utof r0.xy, v1.xyxx
mul o0.xy, r0.xyxx, l(0.003921569, 0.003921569, 0, 0)
mov o0.zw, l(0, 0, 0, 1.0)
ret
""")


def test_vertex_and_instance_ids_count_as_d3d11_does(host, device):
    """SV_VertexID is the index value of an indexed draw (BaseVertexLocation not added) and
    counts from 0 in a non-indexed one (StartVertexLocation not added); SV_InstanceID counts from
    0 whatever StartInstanceLocation is. WGSL's vertex_index / instance_index include those bases,
    so the host rebases the draw (bases 0, vertex buffer offsets moved instead) or, where it
    cannot, specializes the shader on the bases. One point per pixel of an 8x1 target; red =
    vertex id, green = instance id."""
    ctx = device.get_immediate_context()
    xs = np.array([[(i + 0.5) / 4 - 1, 0.0] for i in range(8)], np.float32)
    vb = device.create_buffer(g.BufferDesc(xs.nbytes, B.VERTEX_BUFFER), xs)
    ib = device.create_buffer(g.BufferDesc(8, B.INDEX_BUFFER), np.array([3, 2, 1, 0], np.uint16))
    chain, rtv = gh.swap_chain_target(device, 8, 1)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (1, 1, 1, 1))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("POSITION", 0, F.R32G32_FLOAT)], IDS_VS))
    ctx.ia_set_vertex_buffers(0, [vb], [8])
    ctx.ia_set_index_buffer(ib, F.R16_UINT)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.POINTLIST)
    ctx.rs_set_viewports([g.Viewport(0, 0, 8, 1)])
    ctx.vs_set_shader(device.create_vertex_shader(IDS_VS))
    ctx.ps_set_shader(device.create_pixel_shader(IDS_PS))
    ctx.draw(2, 0)                        # pixels 0, 1: vertex ids 0, 1
    ctx.draw(2, 2)                        # pixels 2, 3: vertex ids 0, 1 (not 2, 3)
    ctx.draw_indexed(4, 0, 4)             # pixels 7..4: the index values 3..0 (not 7..4)
    ctx.draw_instanced(1, 3, 1, 5)        # pixel 1 again, instances 0, 1, 2 (the last drawn wins)
    # a negative base vertex with the buffer at offset 0 cannot be rebased (the offset would be
    # negative): the base becomes a specialization of the shader instead
    ctx.ia_set_index_buffer(device.create_buffer(g.BufferDesc(4, B.INDEX_BUFFER), np.array([8, 9], np.uint16)),
                            F.R16_UINT)
    ctx.draw_indexed(2, 0, -4)            # pixels 4, 5 again: index values 8, 9
    chain.present()
    frame = gh.presented(host, chain)
    assert frame[0, :, 0].tolist() == [0, 0, 0, 1, 8, 9, 2, 3]
    assert frame[0, :, 1].tolist() == [0, 2, 0, 0, 0, 0, 0, 0]
    # rebased draws share one translation: the VS at creation, drawn (any base the draw could
    # rebase), drawn with the base -4; the PS at creation and drawn. A translation per distinct
    # base (2, 4, 1 and 5, -4) would be three more.
    translations = list((Path(host.share_dir) / "shader-cache").glob("*.wgsl"))
    assert len(translations) <= 5, len(translations)
