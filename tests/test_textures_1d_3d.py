"""Texture1D and Texture3D through pvgpu: sampled, updated with boxes, copied, mapped and
written by compute, compared with direct wgpu (a real WebGPU 1D texture for the 1D case, whose
emulation as a height-1 2D texture must give the same pixels) or with the bytes D3D11 demands."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu

from pvgpu import guest as g
from pvgpu.errors import HostReportedError

from test_render_features import W, H, direct_target, guest_target, presented, readback
from test_texture_arrays import VS as FULLSCREEN_VS  # a full-screen triangle with uv

#: pvgpu's convention: a Texture1D is a texture_2d of height 1, sampled at v = 0.5.
PS_1D_AS_2D = """
@group(1) @binding(16) var smp: sampler;
@group(1) @binding(32) var tex: texture_2d<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return textureSample(tex, smp, vec2<f32>(uv.x, 0.5)); }
"""
PS_1D_NATIVE = """
@group(0) @binding(16) var smp: sampler;
@group(0) @binding(32) var tex: texture_1d<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return textureSample(tex, smp, uv.x); }
"""
#: a 3D texture sampled at a depth that varies across the frame (linear filtering between slices).
PS_3D = """
@group({group}) @binding(16) var smp: sampler;
@group({group}) @binding(32) var tex: texture_3d<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {{
    return textureSample(tex, smp, vec3<f32>(uv, uv.x * 0.8 + 0.1));
}}
"""
UV_PS = """
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return vec4<f32>(uv, 0.25, 1.0); }
"""
RAMP = np.stack([np.linspace(0, 255, 16), np.linspace(255, 0, 16), np.full(16, 64), np.full(16, 255)],
                axis=1).astype(np.uint8)
VOLUME = np.random.default_rng(3).integers(0, 256, (4, 8, 8, 4), dtype=np.uint8)  # depth, height, width, rgba


def read_volume(device: g.Device, tex, width: int, height: int, depth: int) -> np.ndarray:
    """Mip 0 of an RGBA8 Texture3D as (depth, height, width, 4), through a STAGING copy and Map."""
    ctx = device.get_immediate_context()
    staging = device.create_texture3d(g.Texture3DDesc(width, height, depth, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    got = mapped.data.reshape(depth, height, width, 4).copy()
    ctx.unmap(staging, 0)
    return got


def draw_fullscreen(device: g.Device, ps: str, srv: g.ShaderResourceView, filter=g.Filter.MIN_MAG_MIP_LINEAR):
    chain, rtv = guest_target(device)
    ctx = device.get_immediate_context()
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(device.create_pixel_shader(ps))
    ctx.ps_set_shader_resources(0, [srv])
    ctx.ps_set_samplers(0, [device.create_sampler_state(g.SamplerDesc(filter))])
    ctx.draw(3)
    chain.present()
    return chain


def direct_fullscreen(d: wgpu.GPUDevice, ps: str, view, sampler) -> np.ndarray:
    target = direct_target(d)
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=FULLSCREEN_VS), "entry_point": "vs"},
        primitive={"topology": "triangle-list"},
        fragment={"module": d.create_shader_module(code=ps), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                  "store_op": "store", "clear_value": (0, 0, 0, 0)}])
    p.set_pipeline(pipeline)
    p.set_bind_group(0, d.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 16, "resource": sampler}, {"binding": 32, "resource": view}]))
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    return readback(d, target, W, H)


def test_texture1d_matches_a_native_webgpu_1d_texture(host, device, wgpu_device):
    tex = device.create_texture1d(g.Texture1DDesc(16), RAMP)
    chain = draw_fullscreen(device, PS_1D_AS_2D, device.create_shader_resource_view(tex))
    actual = presented(host, chain)

    d = wgpu_device
    native = d.create_texture(size=(16, 1, 1), dimension="1d", format="rgba8unorm",
                              usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
    d.queue.write_texture({"texture": native}, RAMP.tobytes(), {"bytes_per_row": 64}, (16, 1, 1))
    sampler = d.create_sampler(mag_filter="linear", min_filter="linear", mipmap_filter="linear")
    expected = direct_fullscreen(d, PS_1D_NATIVE.replace("@group(0)", "@group(0)"), native.create_view(), sampler)
    assert len(np.unique(expected[0, :, 0])) > 8  # a gradient, not a flat colour
    assert np.abs(actual.astype(int) - expected).max() <= 1


def test_texture1d_array_mips_and_slices(device):
    """A 1D array with mips: each (slice, mip) keeps its own texels through update and map."""
    ctx = device.get_immediate_context()
    rng = np.random.default_rng(5)
    subresources = [rng.integers(0, 256, (w, 4), dtype=np.uint8) for _ in range(3) for w in (8, 4, 2, 1)]
    tex = device.create_texture1d(g.Texture1DDesc(8, mip_levels=4, array_size=3), subresources)
    staging = device.create_texture1d(g.Texture1DDesc(8, mip_levels=4, array_size=3, usage=g.Usage.STAGING,
                                                      bind_flags=0, cpu_access_flags=g.CpuAccessFlag.READ))
    patch = np.full((2, 4), 7, np.uint8)
    ctx.update_subresource(tex, 1 + 2 * 4, g.Box(1, 0, 0, 3, 1, 1), patch)  # mip 1 of slice 2, texels 1..2
    subresources[9][1:3] = patch
    ctx.copy_resource(staging, tex)
    for index, want in enumerate(subresources):
        mapped = ctx.map(staging, index, g.MapType.READ)
        np.testing.assert_array_equal(mapped.data.reshape(want.shape), want, err_msg=f"subresource {index}")
        ctx.unmap(staging, index)


def test_texture3d_sampling_matches_direct_wgpu(host, device, wgpu_device):
    tex = device.create_texture3d(g.Texture3DDesc(8, 8, 4), VOLUME)
    chain = draw_fullscreen(device, PS_3D.format(group=1), device.create_shader_resource_view(tex))
    actual = presented(host, chain)

    d = wgpu_device
    volume = d.create_texture(size=(8, 8, 4), dimension="3d", format="rgba8unorm",
                              usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
    d.queue.write_texture({"texture": volume}, VOLUME.tobytes(), {"bytes_per_row": 32, "rows_per_image": 8},
                          (8, 8, 4))
    sampler = d.create_sampler(mag_filter="linear", min_filter="linear", mipmap_filter="linear")
    expected = direct_fullscreen(d, PS_3D.format(group=0), volume.create_view(), sampler)
    assert len(np.unique(expected.reshape(-1, 4), axis=0)) > 100
    assert np.abs(actual.astype(int) - expected).max() <= 1


def test_texture3d_box_update_copy_region_and_map(device):
    ctx = device.get_immediate_context()
    volume = VOLUME.copy()
    tex = device.create_texture3d(g.Texture3DDesc(8, 8, 4, mip_levels=2), [volume, np.zeros((2, 4, 4, 4), np.uint8)])
    box = g.Box(2, 1, 1, 6, 4, 3)  # x 2..5, y 1..3, z 1..2
    patch = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    ctx.update_subresource(tex, 0, box, patch)
    volume[1:3, 1:4, 2:6] = patch
    # mip 1 (4x4x2) gets a 2x2x2 block of mip 0 at (1, 1, 0) through CopySubresourceRegion
    ctx.copy_subresource_region(tex, 1, 1, 1, 0, tex, 0, g.Box(4, 2, 1, 6, 4, 3))
    mip1 = np.zeros((2, 4, 4, 4), np.uint8)
    mip1[0:2, 1:3, 1:3] = volume[1:3, 2:4, 4:6]
    staging = device.create_texture3d(g.Texture3DDesc(8, 8, 4, mip_levels=2, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    for mip, want in ((0, volume), (1, mip1)):
        mapped = ctx.map(staging, mip, g.MapType.READ)
        assert mapped.depth_pitch == want.shape[1] * want.shape[2] * 4
        np.testing.assert_array_equal(mapped.data.reshape(want.shape), want, err_msg=f"mip {mip}")
        ctx.unmap(staging, mip)


def test_texture3d_written_by_compute_matches_direct_wgpu(device, wgpu_device):
    code = """
@group(2) @binding(160) var vol: texture_storage_3d<rgba8unorm, write>;
@compute @workgroup_size(4, 4, 4)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    textureStore(vol, vec3<i32>(id), vec4<f32>(vec3<f32>(id) / 7.0, 1.0));
}"""
    ctx = device.get_immediate_context()
    tex = device.create_texture3d(g.Texture3DDesc(8, 8, 8, bind_flags=g.BindFlag.UNORDERED_ACCESS))
    ctx.cs_set_shader(device.create_compute_shader(code))
    ctx.cs_set_unordered_access_views(0, [device.create_unordered_access_view(tex)])
    ctx.dispatch(2, 2, 2)
    got = read_volume(device, tex, 8, 8, 8)

    d = wgpu_device
    vol = d.create_texture(size=(8, 8, 8), dimension="3d", format="rgba8unorm",
                           usage=wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_SRC)
    from test_compute import direct_dispatch
    direct_dispatch(d, code, {160: vol.create_view()}, (2, 2, 2))
    expected = np.frombuffer(d.queue.read_texture({"texture": vol}, {"bytes_per_row": 256, "rows_per_image": 8},
                                                  (8, 8, 8)), dtype=np.uint8).reshape(8, 8, 256)[:, :, :32]
    np.testing.assert_array_equal(got, expected.reshape(8, 8, 8, 4))
    assert len(np.unique(got[..., 2])) == 8  # every depth slice was written


def test_render_targets_of_texture3d_slices(device, wgpu_device):
    """A render-target view of one W slice of a Texture3D: a draw into slice 2 (loading what
    the slice held) and a clear of slice 1; the other slices keep their initial data."""
    ctx = device.get_immediate_context()
    tex = device.create_texture3d(g.Texture3DDesc(8, 8, 4, bind_flags=g.BindFlag.RENDER_TARGET), VOLUME)
    ctx.clear_render_target_view(device.create_render_target_view(tex, array_slice=1), (0.0, 0.5, 1.0, 1.0))
    rtv = device.create_render_target_view(tex, array_slice=2)
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, 4, 8)])  # the left half only: the right half keeps its texels
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.vs_set_shader(device.create_vertex_shader(FULLSCREEN_VS))
    ctx.ps_set_shader(device.create_pixel_shader(UV_PS))
    ctx.draw(3)
    ctx.om_set_render_targets([])
    got = read_volume(device, tex, 8, 8, 4)

    d = wgpu_device
    target = d.create_texture(size=(8, 8, 1), format="rgba8unorm",
                              usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC |
                              wgpu.TextureUsage.COPY_DST)
    d.queue.write_texture({"texture": target}, VOLUME[2].tobytes(), {"bytes_per_row": 32}, (8, 8, 1))
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=FULLSCREEN_VS), "entry_point": "vs"},
        primitive={"topology": "triangle-list"},
        fragment={"module": d.create_shader_module(code=UV_PS), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "load",
                                                  "store_op": "store"}])
    p.set_pipeline(pipeline)
    p.set_viewport(0, 0, 4, 8, 0, 1)
    p.draw(3)
    p.end()
    d.queue.submit([enc.finish()])
    drawn = readback(d, target, 8, 8)
    assert np.abs(got[1].astype(int) - [0, 128, 255, 255]).max() <= 1  # the clear (0.5 rounds either way)
    np.testing.assert_array_equal(got[2], drawn)
    assert not np.array_equal(drawn[:, :4], VOLUME[2][:, :4]) and np.array_equal(drawn[:, 4:], VOLUME[2][:, 4:])
    np.testing.assert_array_equal(got[0], VOLUME[0])
    np.testing.assert_array_equal(got[3], VOLUME[3])


@pytest.mark.parametrize("make, message", [
    (lambda d: d.create_texture3d(g.Texture3DDesc(4, 4, 4, g.DxgiFormat.D32_FLOAT,
                                                  bind_flags=g.BindFlag.DEPTH_STENCIL)), "Texture3D"),
    (lambda d: d.create_texture3d(g.Texture3DDesc(4096, 4, 4)), "outside 1..2048"),
    (lambda d: d.create_render_target_view(d.create_texture3d(g.Texture3DDesc(
        4, 4, 4, bind_flags=g.BindFlag.RENDER_TARGET)), array_slice=4), "W slice 4 is outside"),
    (lambda d: d.create_shader_resource_view(d.create_texture3d(g.Texture3DDesc(4, 4, 4)),
                                             view_dimension=g.SrvDimension.TEXTURE2D), "cannot view a Texture3D"),
    (lambda d: d.create_texture1d(g.Texture1DDesc(8, misc_flags=g.ResourceMiscFlag.TEXTURECUBE)), "cube"),
    (lambda d: d.create_unordered_access_view(d.create_texture3d(g.Texture3DDesc(
        4, 4, 4, bind_flags=g.BindFlag.UNORDERED_ACCESS)), first_array_slice=1, array_size=2), "depth slices"),
])
def test_1d_3d_rules_are_clear_errors(device, make, message):
    make(device)
    with pytest.raises(HostReportedError, match=message):
        device.connection.finish()


def test_reading_back_a_thin_tall_volume_goes_in_bounded_slices(device):
    """A 1x512x512 R8 volume's rows pad to 256 bytes each (64 MiB in one copy): the host reads
    it in slices of bounded size, and every texel comes back where it belongs."""
    from pvgpu.host.render.readback import MAX_STAGING_BYTES
    assert 256 * 512 * 512 > MAX_STAGING_BYTES
    ctx = device.get_immediate_context()
    volume = np.random.default_rng(9).integers(0, 256, (512, 512, 1), dtype=np.uint8)
    desc = dict(usage=g.Usage.STAGING, bind_flags=0, cpu_access_flags=g.CpuAccessFlag.READ | g.CpuAccessFlag.WRITE)
    staging = device.create_texture3d(g.Texture3DDesc(1, 512, 512, g.DxgiFormat.R8_UNORM, **desc))
    ctx.update_subresource(staging, 0, None, volume)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    np.testing.assert_array_equal(mapped.data.reshape(volume.shape), volume)
    ctx.unmap(staging, 0)
