"""The DXGI format table: derived from the host's wgpu capabilities, offered to the guest in
the control page, and true: every format it offers works, every other one is refused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from pvgpu import guest as g
from pvgpu.host import gpu
from pvgpu.host.render.formats import TYPELESS
from pvgpu.protocol.enums import DEPTH_FORMATS, FORMAT_BYTES, DxgiFormat, ErrorCode, FormatSupport as S

TABLE = gpu.format_table()


def test_guest_sees_the_host_table(device):
    for fmt in DxgiFormat:
        assert device.check_format_support(fmt) == TABLE[fmt], fmt.name
    rgba = device.check_format_support(g.DxgiFormat.R8G8B8A8_UNORM)
    assert rgba & (S.TEXTURE2D | S.RENDER_TARGET | S.BLENDABLE | S.SHADER_SAMPLE | S.DISPLAY) == \
        S.TEXTURE2D | S.RENDER_TARGET | S.BLENDABLE | S.SHADER_SAMPLE | S.DISPLAY
    assert device.check_format_support(g.DxgiFormat.R16_UINT) & S.INDEX_BUFFER
    assert not device.check_format_support(g.DxgiFormat.NV12)


def test_every_offered_texture_format_works(device):
    ctx = device.get_immediate_context()
    checked = 0
    for fmt, caps in TABLE.items():
        if not caps & S.TEXTURE2D:
            continue
        bind = 0
        if caps & S.SHADER_LOAD:
            bind |= g.BindFlag.SHADER_RESOURCE
        if caps & S.RENDER_TARGET:
            bind |= g.BindFlag.RENDER_TARGET
        if caps & S.DEPTH_STENCIL:
            bind = g.BindFlag.DEPTH_STENCIL | (g.BindFlag.SHADER_RESOURCE if caps & S.SHADER_LOAD else 0)
        tex = device.create_texture2d(g.Texture2DDesc(4, 4, fmt, bind_flags=bind))
        family = TYPELESS.get(fmt)
        views = {} if family is None else family.depth_views if caps & S.DEPTH_STENCIL else family.color_views
        # a TYPELESS texture's views name a typed member of its family (depth ones for a DSV)
        dsv_format = next((v for v in views if v in DEPTH_FORMATS), 0)
        other_format = next((v for v in views if v not in DEPTH_FORMATS), 0)
        if caps & S.DEPTH_STENCIL:  # (R32_TYPELESS and R16_TYPELESS may be either: tested as depth here)
            ctx.clear_depth_stencil_view(device.create_depth_stencil_view(tex, dsv_format), g.ClearFlag.DEPTH, 1.0, 0)
        elif caps & S.RENDER_TARGET:
            ctx.clear_render_target_view(device.create_render_target_view(tex, other_format), (1.0, 1.0, 1.0, 1.0))
        if caps & S.SHADER_LOAD:
            device.create_shader_resource_view(tex, other_format)
        if caps & S.CPU_READBACK and caps & (S.RENDER_TARGET | S.DEPTH_STENCIL) and not views:
            staging = device.create_texture2d(g.Texture2DDesc(4, 4, fmt, usage=g.Usage.STAGING, bind_flags=0,
                                                              cpu_access_flags=g.CpuAccessFlag.READ))
            ctx.copy_resource(staging, tex)
            data = ctx.map(staging, 0, g.MapType.READ).data
            ctx.unmap(staging, 0)
            assert data.size == 16 * FORMAT_BYTES[fmt] and np.any(data != 0), f"{fmt.name}: the clear did not land"
        device.connection.finish()  # raises HostReportedError naming the format if anything failed
        checked += 1
    assert checked >= 40


def test_formats_not_offered_are_refused_clearly(device):
    refused = [f for f, caps in TABLE.items() if not caps & S.TEXTURE2D and f != DxgiFormat.UNKNOWN]
    assert len(refused) > 50
    for fmt in refused:
        device.create_texture2d(g.Texture2DDesc(4, 4, fmt, bind_flags=g.BindFlag.SHADER_RESOURCE))
        device.get_immediate_context().flush()  # a good command between: no device-lost for a long list
    device.connection.kick()
    device.connection.wait_fence(device.connection.fence())
    errors = device.host_errors()
    assert {e.code for e in errors} == {ErrorCode.UNSUPPORTED}
    assert any("pvgpu formats" in e.detail for e in errors)
    # Non-renderable formats asked to be render targets are refused too, not passed to wgpu.
    for fmt, caps in TABLE.items():
        if caps & S.TEXTURE2D and not caps & (S.RENDER_TARGET | S.DEPTH_STENCIL) and fmt not in DEPTH_FORMATS:
            device.create_texture2d(g.Texture2DDesc(4, 4, fmt, bind_flags=g.BindFlag.RENDER_TARGET))
            device.connection.kick()
            device.connection.wait_fence(device.connection.fence())
            (entry,) = device.host_errors()
            assert entry.code == ErrorCode.UNSUPPORTED and "render target" in entry.detail
            break


def test_formats_command_lists_every_format():
    out = subprocess.run([sys.executable, "-m", "pvgpu.cli", "formats"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines()[2:] if line.strip()]
    assert len(rows) == len(DxgiFormat)
    row = next(r for r in rows if " R8G8B8A8_UNORM " in r)
    assert row.split()[0] == "28" and row.split().count("Y") == bin(int(TABLE[DxgiFormat.R8G8B8A8_UNORM])).count("1")
