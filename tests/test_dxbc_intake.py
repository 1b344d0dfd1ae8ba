"""DXBC through the guest API: shader creation, stage checks, input layouts matched by
semantic, refused stages, and a DirectXTK effect drawn end to end against its expected colour."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.shaders.container import with_checksum

from conformance import guest as gh

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "dxbc" / "directxtk"
F = g.DxgiFormat


def blob(name: str) -> bytes:
    path = CORPUS / f"{name}.dxbc"
    if not path.exists():
        pytest.skip(f"the DXBC corpus is absent ({CORPUS}): these tests need ../shared/dxbc")
    return path.read_bytes()


def refused(device: g.Device, fn, *words: str) -> str:
    """Run `fn`, synchronise, and return the host's error text, which must name `words`."""
    fn()
    with pytest.raises(HostReportedError) as e:
        device.connection.finish()
    text = str(e.value)
    for w in words:
        assert w.lower() in text.lower(), text
    return text


def synced(device: g.Device) -> None:
    device.connection.finish()


@pytest.mark.parametrize("create,stage", [("create_geometry_shader", "geometry"), ("create_hull_shader", "hull"),
                                          ("create_domain_shader", "domain")])
def test_unoffered_stages_are_refused_by_name(device, create, stage):
    refused(device, lambda: getattr(device, create)(blob("BasicEffect_VSBasic")), "UNSUPPORTED", stage)


def test_blob_of_the_wrong_stage_is_refused(device):
    refused(device, lambda: device.create_vertex_shader(blob("BasicEffect_PSBasic")), "pixel shader",
            "not a vertex shader")


def test_bad_checksum_is_refused(device):
    data = bytearray(blob("BasicEffect_VSBasic"))
    data[4] ^= 0xFF
    refused(device, lambda: device.create_vertex_shader(bytes(data)), "checksum")


def test_corrupt_program_is_refused_not_fatal(device):
    data = bytearray(blob("BasicEffect_VSBasic"))
    shdr = data.find(b"SHDR")
    struct.pack_into("<I", data, shdr + 8 + 8, 0x7FF)  # first instruction: an unknown opcode
    refused(device, lambda: device.create_vertex_shader(with_checksum(bytes(data))), "DXBC")
    device.create_vertex_shader(blob("BasicEffect_VSBasic"))  # the session still serves
    synced(device)


LIT_VS = "BasicEffect_VSBasicVertexLightingTx"  # inputs SV_Position 0, NORMAL 0, TEXCOORD 0


def test_input_layout_matches_semantics_case_insensitively(device):
    elements = [g.InputElementDesc("texcoord", 0, F.R32G32_FLOAT, 0, 24),
                g.InputElementDesc("Normal", 0, F.R32G32B32_FLOAT, 0, 12),
                g.InputElementDesc("sv_position", 0, F.R32G32B32_FLOAT, 0, 0),
                g.InputElementDesc("COLOR", 3, F.R8G8B8A8_UNORM, 1, 0)]  # extra: allowed
    device.create_input_layout(elements, blob(LIT_VS))
    synced(device)


def test_input_layout_missing_semantic_is_named(device):
    elements = [g.InputElementDesc("SV_Position", 0, F.R32G32B32_FLOAT, 0, 0),
                g.InputElementDesc("NORMAL", 0, F.R32G32B32_FLOAT, 0, 12),
                g.InputElementDesc("TEXCOORD", 1, F.R32G32_FLOAT, 0, 24)]  # index 1, the shader reads 0
    refused(device, lambda: device.create_input_layout(elements, blob(LIT_VS)), "TEXCOORD0")


def test_input_layout_with_a_pixel_shader_is_refused(device):
    elements = [g.InputElementDesc("COLOR", 0, F.R32G32B32A32_FLOAT)]
    refused(device, lambda: device.create_input_layout(elements, blob("BasicEffect_PSBasic")), "not a vertex shader")


def identity_rows() -> np.ndarray:
    return np.eye(4, dtype=np.float32)


def test_basic_effect_draws_its_diffuse_colour(host, device):
    """DirectXTK's BasicEffect (VSBasicNoFog + PSBasicNoFog, fxc-compiled): position times the
    WorldViewProj rows in cb0[22..25], colour cb0[0]. A triangle over the left half of a 16x16
    target comes out in exactly that colour, the rest keeps the clear colour."""
    ctx = device.get_immediate_context()
    vs_code = blob("BasicEffect_VSBasicNoFog")
    vs = device.create_vertex_shader(vs_code)
    ps = device.create_pixel_shader(blob("BasicEffect_PSBasicNoFog"))
    layout = device.create_input_layout([g.InputElementDesc("SV_Position", 0, F.R32G32B32A32_FLOAT)], vs_code)
    cb = np.zeros((26, 4), np.float32)
    cb[0] = (1.0, 0.5, 0.25, 1.0)
    cb[22:26] = identity_rows()
    constants = device.create_buffer(g.BufferDesc(cb.nbytes, g.BindFlag.CONSTANT_BUFFER), cb)
    # a rectangle over columns 0..7 (clip x from -1 to 0), as two triangles
    quad = np.array([(-1, -1, 0.5, 1), (-1, 1, 0.5, 1), (0, 1, 0.5, 1),
                     (-1, -1, 0.5, 1), (0, 1, 0.5, 1), (0, -1, 0.5, 1)], np.float32)
    vb = device.create_buffer(g.BufferDesc(quad.nbytes, g.BindFlag.VERTEX_BUFFER), quad)
    chain, rtv = gh.swap_chain_target(device, 16, 16)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 1, 1))
    ctx.ia_set_input_layout(layout)
    ctx.ia_set_vertex_buffers(0, [vb], [16])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(vs)
    ctx.vs_set_constant_buffers(0, [constants])
    ctx.ps_set_shader(ps)
    ctx.rs_set_viewports([g.Viewport(0, 0, 16, 16)])
    ctx.draw(6, 0)
    chain.present()
    frame = gh.presented(host, chain)
    assert (frame[:, :8] == (255, 128, 64, 255)).all(), frame[:, :8].reshape(-1, 4)[:4]
    assert (frame[:, 8:] == (0, 0, 255, 255)).all()


def test_translations_are_shared_between_sessions(host):
    """One translation per distinct blob and specialization per service: a second guest process
    creating the same shaders finds the first one's WGSL in the service's cache folder (each
    session's renderer is a process of its own) and adds nothing."""
    cache = Path(host.share_dir) / "shader-cache"
    vs_code, ps_code = blob("BasicEffect_VSBasicNoFog"), blob("BasicEffect_PSBasicNoFog")

    def create_both() -> None:
        dev = g.connect(host.socket_path, timeout=30)
        try:
            dev.create_vertex_shader(vs_code)
            dev.create_pixel_shader(ps_code)
            dev.connection.finish()
        finally:
            dev.close()

    create_both()
    first = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.wgsl")}
    assert len(first) == 2, sorted(first)
    assert all("@vertex" in p.read_text() or "@fragment" in p.read_text() for p in cache.glob("*.wgsl"))
    create_both()
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.wgsl")} == first
