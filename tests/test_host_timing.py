"""The host's own processing time (issue 9): `Session.busy_s` and the per-frame figures in
`frame_busy_s` exist, reach the service from a worker process, and grow with work. No timed
assertion: only that the counters are there, are positive and add up."""

from __future__ import annotations

import time

import numpy as np

from pvgpu import guest as g
from pvgpu.host.service import HostService

VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let p = array<vec2<f32>, 3>(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));
    return vec4<f32>(p[i], 0.0, 1.0);
}
"""
PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""


def _scene(device):
    ctx = device.get_immediate_context()
    chain = device.create_swap_chain(g.SwapChainDesc(32, 32))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, 32, 32)])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(VS))
    ctx.ps_set_shader(device.create_pixel_shader(PS))
    ctx.ps_set_constant_buffers(0, [cb])
    return ctx, chain, rtv, cb


def _frames(ctx, chain, rtv, cb, count: int, draws: int = 20) -> None:
    for f in range(count):
        ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
        for i in range(draws):
            m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
            m.data[:16] = np.array([f / count, i / draws, 0.5, 1], np.float32).view(np.uint8)
            ctx.unmap(cb, 0)
            ctx.draw(3)
        chain.present()
    chain.wait_idle()


def _busy_after(session, value: float) -> float:
    """session.busy_s once it is above `value` (the guest sees its fence completed a moment
    before the host's ring pass ends and adds its time), or after 30 s whatever it is."""
    deadline = time.monotonic() + 30
    while session.busy_s <= value and time.monotonic() < deadline:
        time.sleep(0.01)
    return session.busy_s


def test_worker_reports_busy_time_per_frame(host):
    """Through a renderer worker process: the figures travel to the service with the stats."""
    device = g.connect(host.socket_path, timeout=30)
    _frames(*_scene(device), count=4)
    device.close()
    record = next(iter(host.sessions.values()))
    assert record.ended.wait(30)
    stats = record.stats
    assert stats.frames == 4
    assert stats.busy_s > 0
    assert len(stats.frame_busy_s) == 4
    assert all(t > 0 for t in stats.frame_busy_s)
    assert sum(stats.frame_busy_s) <= stats.busy_s * (1 + 1e-9)


def test_busy_time_grows_with_work(tmp_path):
    """In-process session: the counter is readable while the guest runs and only grows."""
    with HostService(str(tmp_path / "h.sock"), region_size=32 << 20, isolation="thread") as service:
        device = g.connect(service.socket_path, timeout=30)
        scene = _scene(device)
        _frames(*scene, count=2)
        session = next(iter(service.sessions.values())).session
        first, frames_first = _busy_after(session, 0.0), len(session.frame_busy_s)
        assert first > 0 and frames_first == 2
        _frames(*scene, count=3)
        assert _busy_after(session, first) > first
        assert len(session.frame_busy_s) == frames_first + 3
        assert all(t > 0 for t in session.frame_busy_s)
        device.close()
        deadline = time.monotonic() + 30
        while not next(iter(service.sessions.values())).ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
