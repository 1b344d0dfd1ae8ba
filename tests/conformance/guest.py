"""Guest-side helpers: the pvgpu half of a scene, written with the D3D11-style guest API.

- `swap_chain_target(device, w, h)`: a swap chain and a render-target view of its back buffer.
- `presented(host, chain)`: wait for the host, return the last frame it presented (RGBA8).
- `read_texture(device, texture, subresource)`: D3D11's readback idiom (CopyResource into a
  STAGING texture, Map(READ)), as (height, width, bytes per texel) uint8.
- `read_buffer(device, buffer)`: the same for a buffer (flat uint8).
- `wait_data(ctx, query)`: poll GetData until the result is there.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from pvgpu import guest as g
from pvgpu.guest.device import Buffer, texel_bytes


def swap_chain_target(device: g.Device, width: int, height: int):
    chain = device.create_swap_chain(g.SwapChainDesc(width, height))
    return chain, device.create_render_target_view(chain.get_buffer(0))


def presented(host, chain) -> np.ndarray:
    """The frame `chain` presented last (raises HostReportedError if the host refused anything)."""
    chain.wait_idle()
    (frames,) = host.frames.values()
    return frames[-1].copy()


def staging_copy(device: g.Device, resource):
    """A STAGING, CPU-readable copy of `resource` (CopyResource), ready for Map(READ)."""
    ctx = device.get_immediate_context()
    if isinstance(resource, Buffer):
        staging = device.create_buffer(g.BufferDesc(resource.desc.byte_width, 0, g.Usage.STAGING,
                                                    g.CpuAccessFlag.READ))
    else:
        staging = device.create_texture2d(dataclasses.replace(
            resource.desc, usage=g.Usage.STAGING, bind_flags=0, cpu_access_flags=g.CpuAccessFlag.READ, misc_flags=0))
    ctx.copy_resource(staging, resource)
    return staging


def map_read(device: g.Device, staging, subresource: int = 0) -> np.ndarray:
    """Map(READ) one subresource of a STAGING texture: (height, width, bytes per texel)."""
    ctx = device.get_immediate_context()
    w, h = staging.subresource_size(subresource)
    mapped = ctx.map(staging, subresource, g.MapType.READ)
    bpp = texel_bytes(staging.desc.format)
    rows = [mapped.data[y * mapped.row_pitch:y * mapped.row_pitch + w * bpp] for y in range(h)]
    data = np.stack(rows).reshape(h, w, bpp).copy()
    ctx.unmap(staging, subresource)
    return data


def read_texture(device: g.Device, texture, subresource: int = 0) -> np.ndarray:
    return map_read(device, staging_copy(device, texture), subresource)


def read_buffer(device: g.Device, buffer) -> np.ndarray:
    ctx = device.get_immediate_context()
    staging = staging_copy(device, buffer)
    data = ctx.map(staging, 0, g.MapType.READ).data.copy()
    ctx.unmap(staging, 0)
    return data


def wait_data(ctx, query, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while (value := ctx.get_data(query)) is None:
        assert time.monotonic() < deadline, f"GetData of {query} never returned a result"
        time.sleep(0.001)
    return value
