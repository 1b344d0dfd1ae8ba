"""Guest-side helpers: the pvgpu half of a scene, written with the D3D11-style guest API.

- `swap_chain_target(device, w, h)`: a swap chain and a render-target view of its back buffer.
- `presented(host, chain)`: wait for the host, return the last frame it presented (RGBA8).
- `read_texture(device, texture, subresource)`: D3D11's readback idiom (CopyResource into a
  STAGING texture, Map(READ)), as (height, width, bytes per texel) uint8.
- `read_buffer(device, buffer)`: the same for a buffer (flat uint8).
- `read_volume(device, texture3d, mip)`: the same for a Texture3D, (depth, height, width, bpp).
- `dispatch(device, cs, groups, constants=, resources=, uavs=, indirect=)`: the compute
  stage's bindings and a Dispatch / DispatchIndirect; the views are unbound afterwards.
- `wait_data(ctx, query)`: poll GetData until the result is there.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from pvgpu import guest as g
from pvgpu.guest.device import Buffer, Texture1D, Texture3D, texel_bytes


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
        create = {Texture1D: device.create_texture1d, Texture3D: device.create_texture3d}.get(
            type(resource), device.create_texture2d)
        staging = create(dataclasses.replace(resource.desc, usage=g.Usage.STAGING, bind_flags=0,
                                             cpu_access_flags=g.CpuAccessFlag.READ, misc_flags=0))
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


def read_volume(device: g.Device, texture, mip: int = 0) -> np.ndarray:
    """One mip of a Texture3D (CopyResource into a STAGING texture, Map(READ)), as (depth,
    height, width, bytes per texel) uint8, following the mapping's row and depth pitches."""
    ctx = device.get_immediate_context()
    staging = staging_copy(device, texture)
    w, h, depth = staging.subresource_extent(mip)
    bpp = texel_bytes(staging.desc.format)
    m = ctx.map(staging, mip, g.MapType.READ)
    data = np.stack([np.stack([m.data[z * m.depth_pitch + y * m.row_pitch:][:w * bpp] for y in range(h)])
                     for z in range(depth)]).reshape(depth, h, w, bpp).copy()
    ctx.unmap(staging, mip)
    return data


def dispatch(device: g.Device, cs, groups=(1, 1, 1), *, constants=(), resources=(), uavs=(), indirect=None) -> None:
    """CSSetShader(`cs`: a ComputeShader or WGSL), the compute stage's constant buffers, shader
    resources and unordered-access views (sequences from slot 0), then Dispatch(*groups) or,
    with `indirect` = (buffer, offset), DispatchIndirect. The views are unbound afterwards (as
    an application would before reading the resources elsewhere)."""
    ctx = device.get_immediate_context()
    ctx.cs_set_shader(device.create_compute_shader(cs) if isinstance(cs, str) else cs)
    if constants:
        ctx.cs_set_constant_buffers(0, list(constants))
    if resources:
        ctx.cs_set_shader_resources(0, list(resources))
    if uavs:
        ctx.cs_set_unordered_access_views(0, list(uavs))
    if indirect is not None:
        ctx.dispatch_indirect(*indirect)
    else:
        ctx.dispatch(*groups)
    if resources:
        ctx.cs_set_shader_resources(0, [None] * len(resources))
    if uavs:
        ctx.cs_set_unordered_access_views(0, [None] * len(uavs))


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
