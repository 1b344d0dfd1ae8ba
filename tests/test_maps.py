"""Map with each D3D11 map type, and DO_NOT_WAIT's "still drawing"."""

from __future__ import annotations

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import PvgpuError, WasStillDrawingError
from pvgpu.guest.connection import GuestConnection
from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import MAP_FLAG_DO_NOT_WAIT, DeviceStatus, GuestState
from pvgpu.protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from pvgpu.transport.control import format_control_page
from pvgpu.transport.region import Region

STAGING_RW = g.CpuAccessFlag.READ | g.CpuAccessFlag.WRITE


def read_all(ctx, resource, subresource=0) -> np.ndarray:
    data = ctx.map(resource, subresource, g.MapType.READ).data.copy()
    ctx.unmap(resource, subresource)
    return data


def test_read_write_on_staging_keeps_what_was_not_changed(device):
    ctx = device.get_immediate_context()
    initial = np.arange(4 * 4 * 4, dtype=np.uint8)
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, usage=g.Usage.STAGING, bind_flags=0,
                                                  cpu_access_flags=STAGING_RW), initial)
    mapped = ctx.map(tex, 0, g.MapType.READ_WRITE)
    assert np.array_equal(mapped.data, initial)
    mapped.data[mapped.row_pitch:mapped.row_pitch + 4] = 255  # one texel of row 1
    ctx.unmap(tex, 0)
    expected = initial.copy()
    expected[16:20] = 255
    assert np.array_equal(read_all(ctx, tex), expected)


def test_write_only_staging_then_copy(device):
    ctx = device.get_immediate_context()
    buf = device.create_buffer(g.BufferDesc(32, 0, g.Usage.STAGING, g.CpuAccessFlag.WRITE), bytes(range(32)))
    mapped = ctx.map(buf, 0, g.MapType.WRITE)
    assert bytes(mapped.data) == bytes(range(32))  # D3D11 keeps the contents for WRITE
    mapped.data[:4] = [9, 9, 9, 9]
    ctx.unmap(buf, 0)
    out = device.create_buffer(g.BufferDesc(32, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    ctx.copy_resource(out, buf)
    assert bytes(read_all(ctx, out)) == bytes([9, 9, 9, 9]) + bytes(range(4, 32))
    with pytest.raises(PvgpuError, match="Map\\(READ\\) needs a STAGING resource with CPU access READ"):
        ctx.map(buf, 0, g.MapType.READ)


def test_write_no_overwrite_appends_to_a_dynamic_buffer(device):
    ctx = device.get_immediate_context()
    dyn = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    with pytest.raises(PvgpuError, match="before any Map\\(WRITE_DISCARD\\)"):
        ctx.map(dyn, 0, g.MapType.WRITE_NO_OVERWRITE)
    first = ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    first.data[:16] = 1
    ctx.unmap(dyn, 0)
    more = ctx.map(dyn, 0, g.MapType.WRITE_NO_OVERWRITE)
    assert more.data[:16].tolist() == [1] * 16  # the contents so far
    more.data[32:48] = 7  # append, leaving what the GPU may still read untouched
    ctx.unmap(dyn, 0)
    out = device.create_buffer(g.BufferDesc(64, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    ctx.copy_resource(out, dyn)
    got = read_all(ctx, out)
    assert got[:16].tolist() == [1] * 16 and not got[16:32].any() and got[32:48].tolist() == [7] * 16
    assert not device.host_errors()


class HeldHost:
    """A host that answers the handshake and then does nothing until told to."""

    def __init__(self, region: Region):
        self.region = region

    def ring_doorbell(self) -> None:
        if self.region.get("guest_state") == GuestState.HELLO:
            self.region.set("device_status", DeviceStatus.READY)

    def wait_interrupt(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


def test_do_not_wait_says_still_drawing_then_delivers():
    plan = L.RegionLayout.plan(1 << 20, 8192)
    region = Region.create(plan.region_size)
    try:
        format_control_page(region, plan, 0, PROTOCOL_MAJOR, PROTOCOL_MINOR)
        device = g.Device(GuestConnection(HeldHost(region), timeout=2))
        ctx = device.get_immediate_context()
        buf = device.create_buffer(g.BufferDesc(16, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
        with pytest.raises(WasStillDrawingError):
            ctx.map(buf, 0, g.MapType.READ, MAP_FLAG_DO_NOT_WAIT)
        with pytest.raises(WasStillDrawingError):  # asking again does not queue a second readback
            ctx.map(buf, 0, g.MapType.READ, MAP_FLAG_DO_NOT_WAIT)
        # The host does its work: the bytes land in the heap range, the fence completes.
        ((off, fence, *_rest),) = ctx._readbacks.values()
        region.heap[off:off + 16] = bytes(range(16))
        region.set("fence_completed", fence)
        data = ctx.map(buf, 0, g.MapType.READ, MAP_FLAG_DO_NOT_WAIT).data
        assert bytes(data) == bytes(range(16))
    finally:
        region.close()
