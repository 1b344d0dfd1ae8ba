"""Renderer worker processes: a renderer that dies, or GPU work that outlasts the watchdog,
costs that guest its device (device-lost, then a reset), never the service or other guests."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections import defaultdict

import pytest

from pvgpu import guest as g
from pvgpu.errors import DeviceLostError
from pvgpu.guest.connection import GuestConnection
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.protocol.enums import DeviceStatus, ErrorCode
from pvgpu.transport.control import read_errors
from pvgpu.transport.local import LocalGuestChannel

WATCHDOG_S = 3.0


@pytest.fixture
def service():
    folder = tempfile.mkdtemp(prefix="pvgpu-iso-")
    frames = defaultdict(list)
    svc = HostService(os.path.join(folder, "h.sock"), region_size=16 << 20, watchdog_s=WATCHDOG_S,
                      presenters=[FrameCallback(lambda sid, f: frames[sid].append(f.pixels.copy()))])
    svc.frames = frames
    svc.start()
    yield svc
    svc.stop()


def clear_and_present(device: g.Device, color) -> None:
    chain = device.create_swap_chain(g.SwapChainDesc(8, 8))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    device.get_immediate_context().clear_render_target_view(rtv, color)
    chain.present()
    chain.wait_idle()


def session_of(service: HostService, channel: LocalGuestChannel):
    return service.sessions[channel.region.get("session_id")]


def test_renderer_crash_is_device_lost_then_a_reset_is_served(service):
    channel = LocalGuestChannel(service.socket_path)
    other = g.connect(service.socket_path)
    try:
        first = g.Device(GuestConnection(channel))
        clear_and_present(first, (1, 0, 0, 1))
        record = session_of(service, channel)
        os.kill(record.supervisor.proc.pid, signal.SIGKILL)  # the renderer crashes
        with pytest.raises(DeviceLostError, match="renderer process exited"):
            first.connection.wait_fence(first.connection.fence(), timeout=20)
        assert channel.region.get("device_status") == DeviceStatus.LOST
        assert any(e.code == ErrorCode.DEVICE_LOST for e in read_errors(channel.region))

        clear_and_present(other, (0, 1, 0, 1))  # the other guest never noticed

        second = g.Device(GuestConnection(channel))  # a new program resets the device
        clear_and_present(second, (0, 0, 1, 1))
        assert record.stats.worker_restarts == 1
        frames = service.frames[channel.region.get("session_id")]
        assert [tuple(f[0, 0]) for f in frames] == [(255, 0, 0, 255), (0, 0, 255, 255)]
    finally:
        other.close()
        channel.close()


HANG_PS = """
@fragment
fn ps(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {
    var acc = 0.0;
    for (var i = 0u; i < 200u; i = i + 1u) { acc = acc + sin(f32(i) + p.x); }
    return vec4<f32>(acc, 0.0, 0.0, 1.0);
}
"""
FULLSCREEN_VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
}
"""


def test_gpu_work_past_the_watchdog_loses_only_that_device(service):
    channel = LocalGuestChannel(service.socket_path)
    try:
        dev = g.Device(GuestConnection(channel, timeout=60))
        ctx = dev.get_immediate_context()
        chain = dev.create_swap_chain(g.SwapChainDesc(64, 64))
        rtv = dev.create_render_target_view(chain.get_buffer(0))
        ctx.om_set_render_targets([rtv])
        ctx.rs_set_viewports([g.Viewport(0, 0, 64, 64)])
        ctx.rs_set_state(dev.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
        ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
        ctx.vs_set_shader(dev.create_vertex_shader(FULLSCREEN_VS))
        ctx.ps_set_shader(dev.create_pixel_shader(HANG_PS))
        # 20 million full-screen triangles with a costly pixel shader: hours of GPU time on the
        # CPU renderer (a real GPU's own timeout would cut it short the same way).
        ctx.draw_instanced(3, 20_000_000, 0, 0)
        started = time.monotonic()
        with pytest.raises(DeviceLostError, match="watchdog"):
            chain.present()
            chain.wait_idle()
        assert time.monotonic() - started < 60
        other = g.connect(service.socket_path)  # the service still serves
        try:
            clear_and_present(other, (0, 1, 0, 1))
        finally:
            other.close()
        again = g.Device(GuestConnection(channel))  # and the guest gets its device back
        clear_and_present(again, (1, 1, 1, 1))
        assert session_of(service, channel).stats.lost_reason.startswith("GPU work ran longer")
    finally:
        channel.close()
