"""Shared resources: one guest process creates a RESOURCE_MISC_SHARED texture, another opens
it by its handle and sees the same contents. Each guest here is its own session on the host,
with its own renderer worker process and wgpu device (the service's default isolation)."""

from __future__ import annotations

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError

SIZE = 16
SHARED_RT = g.Texture2DDesc(SIZE, SIZE, bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE,
                            misc_flags=g.ResourceMiscFlag.SHARED)
GRADIENT_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return VOut(vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0), xy);
}
"""
GRADIENT_PS = """
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return vec4<f32>(uv, 0.5, 1.0); }
"""


@pytest.fixture
def second(host):
    d = g.connect(host.socket_path, timeout=30)
    yield d
    d.close()


def draw_gradient(device: g.Device, rtv) -> None:
    ctx = device.get_immediate_context()
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, SIZE, SIZE)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(GRADIENT_VS))
    ctx.ps_set_shader(device.create_pixel_shader(GRADIENT_PS))
    ctx.draw(3)


def contents(device: g.Device, texture) -> np.ndarray:
    ctx = device.get_immediate_context()
    staging = device.create_texture2d(g.Texture2DDesc(SIZE, SIZE, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, texture)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    data = mapped.data.reshape(SIZE, SIZE, 4).copy()
    ctx.unmap(staging, 0)
    staging.release()
    return data


def test_second_process_sees_what_the_first_rendered_and_flushed(device, second):
    tex = device.create_texture2d(SHARED_RT)
    draw_gradient(device, device.create_render_target_view(tex))
    device.get_immediate_context().flush()
    rendered = contents(device, tex)
    assert len(np.unique(rendered.reshape(-1, 4), axis=0)) > 50  # a real picture, not a clear

    opened = second.open_shared_resource(tex.get_shared_handle())
    assert (opened.desc.width, opened.desc.height, opened.desc.format) == (SIZE, SIZE, g.DxgiFormat.R8G8B8A8_UNORM)
    assert opened.desc.bind_flags == SHARED_RT.bind_flags
    np.testing.assert_array_equal(contents(second, opened), rendered)

    # Later writes reach the other process once the writer flushes, in either direction.
    ctx = device.get_immediate_context()
    ctx.clear_render_target_view(device.create_render_target_view(tex), (1.0, 0.0, 0.0, 1.0))
    ctx.flush()
    device.connection.finish()
    assert (contents(second, opened) == [255, 0, 0, 255]).all()
    second.get_immediate_context().clear_render_target_view(second.create_render_target_view(opened),
                                                            (0.0, 0.0, 1.0, 1.0))
    second.get_immediate_context().flush()
    second.connection.finish()
    assert (contents(device, tex) == [0, 0, 255, 255]).all()


def test_initial_data_is_shared_without_a_flush(device, second):
    pixels = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    tex = device.create_texture2d(g.Texture2DDesc(SIZE, SIZE, misc_flags=g.ResourceMiscFlag.SHARED), pixels)
    opened = second.open_shared_resource(tex.get_shared_handle())
    np.testing.assert_array_equal(contents(second, opened), pixels)


def test_unflushed_local_writes_are_not_overwritten(device, second):
    """A holder's own writes that it has not flushed yet win over older published contents."""
    tex = device.create_texture2d(SHARED_RT)
    rtv = device.create_render_target_view(tex)
    device.get_immediate_context().clear_render_target_view(rtv, (0.0, 1.0, 0.0, 1.0))
    device.get_immediate_context().flush()
    opened = second.open_shared_resource(tex.get_shared_handle())
    ctx2 = second.get_immediate_context()
    ctx2.clear_render_target_view(second.create_render_target_view(opened), (1.0, 1.0, 0.0, 1.0))
    # the second process reads its own unflushed write, not the first one's green
    assert (contents(second, opened) == [255, 255, 0, 255]).all()


def test_sharing_errors_are_clear(device, second):
    with pytest.raises(HostReportedError, match="no shared resource has handle"):
        second.open_shared_resource(0x1234)  # open waits for the host's answer and raises it
    plain = device.create_texture2d(g.Texture2DDesc(SIZE, SIZE))
    with pytest.raises(HostReportedError, match="without RESOURCE_MISC_SHARED"):
        plain.get_shared_handle()
    device.create_texture2d(g.Texture2DDesc(SIZE, SIZE, mip_levels=2, misc_flags=g.ResourceMiscFlag.SHARED))
    with pytest.raises(HostReportedError, match="one mip"):
        device.connection.finish()

    tex = device.create_texture2d(g.Texture2DDesc(SIZE, SIZE, misc_flags=g.ResourceMiscFlag.SHARED))
    handle = tex.get_shared_handle()
    tex.release()
    device.connection.finish()
    with pytest.raises(HostReportedError, match="released by its creator"):
        second.open_shared_resource(handle)


def test_files_of_a_dead_worker_are_removed(host, device):
    """A renderer worker that dies (crash, watchdog) leaves no shared-texture files behind."""
    import os
    import time

    tex = device.create_texture2d(SHARED_RT)
    tex.get_shared_handle()
    (record,) = host.sessions.values()
    folder = os.path.join(host.share_dir, f"session-{record.session_id}")
    assert len(os.listdir(folder)) == 1
    record.supervisor.proc.kill()
    deadline = time.monotonic() + 20
    while os.path.exists(folder):
        assert time.monotonic() < deadline, "the dead worker's shared files are still there"
        time.sleep(0.05)


def test_shared_resources_per_guest_are_capped(device):
    for _ in range(64):
        device.create_texture2d(g.Texture2DDesc(4, 4, misc_flags=g.ResourceMiscFlag.SHARED))
    device.connection.finish()
    device.create_texture2d(g.Texture2DDesc(4, 4, misc_flags=g.ResourceMiscFlag.SHARED))
    with pytest.raises(HostReportedError, match="COUNT_LIMIT.*64 shared resources"):
        device.connection.finish()
