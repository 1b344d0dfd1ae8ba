"""The demo cube's DXBC shaders: they assemble at import into valid containers with the
interface of the WGSL pair in `demo.scene` (same constant buffer, texture and sampler slots,
POSITION/TEXCOORD inputs), the translator turns them into WGSL, and wgpu compiles it."""

from __future__ import annotations

import pytest

from pvgpu.demo import dxbc_shaders, scene
from pvgpu.shaders import container, decoder, disasm, ir


def _declarations(code: bytes) -> dict[str, list[ir.Instruction]]:
    program = decoder.decode(container.parse(code).tokens)
    found: dict[str, list[ir.Instruction]] = {}
    for ins in program.instructions:
        found.setdefault(ins.name, []).append(ins)
    return found


def test_both_assemble_to_valid_containers():
    vs = container.parse(dxbc_shaders.VERTEX_SHADER_DXBC)
    ps = container.parse(dxbc_shaders.PIXEL_SHADER_DXBC)
    assert dxbc_shaders.VERTEX_SHADER_DXBC[:4] == b"DXBC" and dxbc_shaders.PIXEL_SHADER_DXBC[:4] == b"DXBC"
    assert (vs.program_type, vs.major, ps.program_type, ps.major) == (ir.ProgramType.VERTEX, 4, ir.ProgramType.PIXEL, 4)
    assert vs.chunks == ("ISGN", "OSGN", "SHDR") and ps.chunks == ("ISGN", "OSGN", "SHDR")


def test_vertex_shader_interface_is_the_scenes():
    vs = container.parse(dxbc_shaders.VERTEX_SHADER_DXBC)
    # the guest's input layout: POSITION float3 at 0, TEXCOORD0 float2 at 12 (VERTEX_STRIDE 20)
    assert [(e.semantic_name, e.semantic_index, e.register, e.mask, e.component_type) for e in vs.inputs] == [
        ("POSITION", 0, 0, 0b0111, ir.ComponentType.FLOAT32), ("TEXCOORD", 0, 1, 0b0011, ir.ComponentType.FLOAT32)]
    assert [(e.semantic_name, e.semantic_index, e.system_value) for e in vs.outputs] == [
        ("SV_Position", 0, ir.SystemValue.POSITION), ("TEXCOORD", 0, ir.SystemValue.UNDEFINED),
        ("TEXCOORD", 1, ir.SystemValue.UNDEFINED)]
    found = _declarations(dxbc_shaders.VERTEX_SHADER_DXBC)
    (cb,) = found["dcl_constantbuffer"]
    assert cb.operands[0].indices[0].immediate == 0
    assert cb.operands[0].indices[1].immediate * 16 == scene.CONSTANTS_BYTES  # mat4x4 + tint
    # the matrix is applied column by column: cb0[0..3] times x, y, z, 1, then cb0[4] is the tint
    reads = sorted({op.indices[1].immediate for ins in decoder.decode(vs.tokens).instructions
                    for op in ins.operands if op.type == ir.OperandType.CONSTANT_BUFFER and not
                    ins.name.startswith("dcl")})
    assert reads == [0, 1, 2, 3, 4]


def test_pixel_shader_interface_is_the_scenes():
    ps = container.parse(dxbc_shaders.PIXEL_SHADER_DXBC)
    vs = container.parse(dxbc_shaders.VERTEX_SHADER_DXBC)
    assert [(e.semantic_name, e.semantic_index) for e in ps.inputs] == \
        [(e.semantic_name, e.semantic_index) for e in vs.outputs]
    assert [(e.semantic_name, e.system_value) for e in ps.outputs] == [("SV_Target", ir.SystemValue.TARGET)]
    found = _declarations(dxbc_shaders.PIXEL_SHADER_DXBC)
    assert [d.operands[0].indices[0].immediate for d in found["dcl_sampler"]] == [0]
    (texture,) = found["dcl_resource"]
    assert texture.operands[0].indices[0].immediate == 0
    assert texture.resource_dimension == ir.ResourceDimension.TEXTURE2D
    assert texture.return_types == (ir.ReturnType.FLOAT,) * 4
    assert [i.name for i in decoder.decode(ps.tokens).instructions if not i.name.startswith("dcl")] == \
        ["sample", "mul", "ret"]


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("//")]


def test_the_listing_is_what_the_disassembler_prints():
    for code, text in ((dxbc_shaders.VERTEX_SHADER_DXBC, dxbc_shaders.VERTEX_SHADER_ASM),
                       (dxbc_shaders.PIXEL_SHADER_DXBC, dxbc_shaders.PIXEL_SHADER_ASM)):
        blob = container.parse(code)
        listing = disasm.disassemble(decoder.decode(blob.tokens), blob)
        assert _code_lines(listing) == _code_lines(text)
        assert len(_code_lines(text)) > 8


def test_translated_and_compiled_on_wgpu():
    translate = pytest.importorskip("pvgpu.shaders.translate", reason="the DXBC translator is not there yet")
    vs = translate.load(dxbc_shaders.VERTEX_SHADER_DXBC)
    ps = translate.load(dxbc_shaders.PIXEL_SHADER_DXBC)
    vs_varyings, ps_varyings = translate.link(vs, ps)
    assert [(v.semantic, v.index) for v in vs_varyings] == [("TEXCOORD", 0), ("TEXCOORD", 1)]
    assert [(v.semantic, v.index) for v in ps_varyings] == [("TEXCOORD", 0), ("TEXCOORD", 1)]
    from pvgpu.shaders.specialization import Specialization
    vs_wgsl = translate.to_wgsl(vs, Specialization(varyings=vs_varyings))
    ps_wgsl = translate.to_wgsl(ps, Specialization(varyings=ps_varyings))
    assert "@vertex" in vs_wgsl and "@fragment" in ps_wgsl
    gpu = pytest.importorskip("pvgpu.host.gpu")
    device = gpu.open_device()[0]
    for source in (vs_wgsl, ps_wgsl):
        module = device.create_shader_module(code=source)
        assert module is not None


def test_the_dxbc_cube_draws_the_same_pixels_as_the_wgsl_cube(host, device):
    """Through the guest API and the host: frame 3 of the cube with the scene's WGSL shaders,
    then the same frame with the DXBC pair (input layout matched to the DXBC vertex
    shader's signature); the pictures agree (at most 1 in 255 on a channel: interpolation
    and rounding order may differ)."""
    import numpy as np

    from pvgpu import guest as g
    from pvgpu.demo.guest_cube import GuestCube

    cube = GuestCube(device, 64, 48)
    cube.draw_frame(3)
    cube.swap_chain.wait_idle()
    (frames,) = host.frames.values()
    wgsl_frame = frames[-1].copy()
    cube.vs = device.create_vertex_shader(dxbc_shaders.VERTEX_SHADER_DXBC)
    cube.ps = device.create_pixel_shader(dxbc_shaders.PIXEL_SHADER_DXBC)
    cube.layout = device.create_input_layout([
        g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32B32_FLOAT, 0, 0),
        g.InputElementDesc("TEXCOORD", 0, g.DxgiFormat.R32G32_FLOAT, 0, 12),
    ], dxbc_shaders.VERTEX_SHADER_DXBC)
    cube.draw_frame(3)
    cube.swap_chain.wait_idle()
    dxbc_frame = frames[-1].copy()
    assert len(frames) == 2
    clear = np.round(np.array(scene.CLEAR_COLOR) * 255)
    covered = (np.abs(wgsl_frame.astype(int) - clear).sum(axis=-1) > 3).mean()
    assert 0.1 < covered < 0.9, covered  # the cube is there, and so is the background
    difference = np.abs(wgsl_frame.astype(int) - dxbc_frame.astype(int))
    assert difference.max() <= 1, (difference.max(), (difference > 1).sum())
