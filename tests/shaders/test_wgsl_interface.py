"""The shader interface: varyings linked by semantic, system values, entry points; and the
corpora (../shared/dxbc): every VS/PS/CS blob translates (or is refused as unsupported, naming
what) and wgpu accepts the WGSL."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from pvgpu.shaders import ir, translate
from pvgpu.shaders.errors import ShaderUnsupported
from pvgpu.shaders.specialization import Specialization, Varying

from .harness import T, dst, imm, ins, ps, render, src

CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "dxbc"))
F32, U32 = ir.ComponentType.FLOAT32, ir.ComponentType.UINT32
UNDEF = ir.SystemValue.UNDEFINED


def _corpus(name: str) -> list[Path]:
    folder = CORPUS / name
    if not folder.is_dir():
        pytest.skip(f"the DXBC corpus {folder} is absent (see ../shared/dxbc/README.md)")
    return sorted(folder.glob("*.dxbc"))


def _element(name, index, reg, mask, ctype=F32, sv=UNDEF):
    return ir.SignatureElement(name, index, sv, ctype, reg, mask, mask)


def test_directxtk_corpus_translates_and_compiles(wgpu_device):
    files = _corpus("directxtk")
    failures = []
    for f in files:
        try:
            shader = translate.load(f.read_bytes())
            wgpu_device.create_shader_module(code=translate.to_wgsl(shader))
        except Exception as e:  # noqa: BLE001 - every failure is reported by name
            failures.append(f"{f.name}: {type(e).__name__}: {str(e)[:300]}")
    assert len(files) == 173
    assert not failures, "\n".join(failures)


def test_vkd3d_corpus_translates_or_is_refused(wgpu_device):
    files = _corpus("vkd3d-d3d12")
    accepted, refused, failures = 0, {}, []
    for f in files:
        try:
            shader = translate.load(f.read_bytes())
            source = translate.to_wgsl(shader)
        except ShaderUnsupported as e:
            refused[f.name] = e.message
            continue
        except Exception as e:  # noqa: BLE001
            if "no shader program chunk" in str(e):
                continue  # root signatures
            failures.append(f"{f.name}: {type(e).__name__}: {e}")
            continue
        try:
            wgpu_device.create_shader_module(code=source)
            accepted += 1
        except Exception as e:  # noqa: BLE001
            failures.append(f"{f.name}: naga: {str(e)[:400]}")
    assert not failures, "\n".join(failures)
    # refused: other stages (33), SM 5.1 (5), doubles, clip distances, ... each with its reason
    assert all(len(m) > 10 for m in refused.values()), refused
    assert sum("shaders are not supported" in m for m in refused.values()) == 33
    assert accepted >= 230, refused


def test_vertex_shader_interface():
    files = _corpus("directxtk")
    vs = translate.load(next(f for f in files if f.name == "BasicEffect_VSBasicVertexLightingTx.dxbc").read_bytes())
    wgsl = translate.to_wgsl(vs)
    assert "@vertex" in wgsl and "@builtin(position) position: vec4<f32>" in wgsl
    for i in range(len(vs.blob.inputs)):
        assert f"@location({i}) a{i}: vec4<f32>" in wgsl
    # an input layout feeding integers to location 1
    wgsl = translate.to_wgsl(vs, Specialization(vertex_inputs=((1, "u32"),)))
    assert "@location(1) a1: vec4<u32>" in wgsl


def test_link_by_semantic_and_pixel_interpolation():
    vs_out = (_element("SV_Position", 0, 0, 0b1111, sv=ir.SystemValue.POSITION), _element("COLOR", 0, 1, 0b1111),
              _element("TEXCOORD", 3, 2, 0b0011), _element("BLENDINDICES", 0, 2, 0b0100, U32),
              _element("UNUSED", 0, 3, 0b1111))
    ps_in = (_element("texcoord", 3, 0, 0b0011), _element("BLENDINDICES", 0, 1, 0b0001, U32),
             _element("MISSING", 0, 2, 0b1111), _element("COLOR", 0, 3, 0b1111))
    vs = _shader(ir.ProgramType.VERTEX, vs_out, "outputs")
    ps_program = [ins("dcl_input_ps", dst(T.INPUT, 0, "xy"), interpolation=ir.Interpolation.LINEAR_NOPERSPECTIVE),
                  ins("dcl_input_ps", dst(T.INPUT, 3), interpolation=ir.Interpolation.LINEAR_CENTROID)]
    pix = _shader(ir.ProgramType.PIXEL, ps_in, "inputs", ps_program)
    vs_vary, ps_vary = translate.link(vs, pix)
    assert vs_vary == (Varying("COLOR", 0, 0, "perspective-centroid", "f32"),
                       Varying("TEXCOORD", 3, 1, "linear", "f32"),
                       Varying("BLENDINDICES", 0, 2, "flat", "u32"),
                       Varying("UNUSED", 0, 3, "perspective", "f32"))
    assert ps_vary == (vs_vary[0], vs_vary[1], vs_vary[2])
    vs_wgsl = translate.to_wgsl(vs, Specialization(varyings=vs_vary))
    assert "@location(1) @interpolate(linear) l1: vec4<f32>" in vs_wgsl
    assert "output.l2 = vec4<u32>(o2.z, 0u, 0u, 0u);" in vs_wgsl
    ps_wgsl = translate.to_wgsl(pix, Specialization(varyings=ps_vary))
    assert "@location(0) @interpolate(perspective, centroid) l0: vec4<f32>" in ps_wgsl
    assert "@location(2) @interpolate(flat) l2: vec4<u32>" in ps_wgsl
    assert "MISSING" not in ps_wgsl and len(re.findall(r"@location\(\d+\) @interpolate", ps_wgsl)) == 3


def _shader(stage, elements, role, program=()):
    blob = ir.ShaderBlob(stage, 5, 0, b"", **{role: elements})
    return translate.DxbcShader(blob=blob, program=ir.Program(stage, 5, 0, tuple(program)), stage=stage,
                                textures={}, buffers={}, uavs={}, samplers={}, constant_buffers={},
                                workgroup_size=None)


def test_pixel_inputs_land_at_their_masks(wgpu_device):
    # TEXCOORD0 in v1.zw, COLOR0 in v1.xy: one register, two elements; integer ID in v2.x
    shader = ps([ins("dcl_input_ps", dst(T.INPUT, 1, "zw"), interpolation=ir.Interpolation.LINEAR),
                 ins("dcl_input_ps", dst(T.INPUT, 1, "xy"), interpolation=ir.Interpolation.LINEAR),
                 ins("dcl_input_ps", dst(T.INPUT, 2, "x"), interpolation=ir.Interpolation.CONSTANT),
                 ins("mov", dst(T.OUTPUT, 0), src(T.INPUT, 1)),
                 ins("mov", dst(T.OUTPUT, 1), src(T.INPUT, 2, "xxxx"))], targets=("f32", "u32"))
    blob = ir.ShaderBlob(ir.ProgramType.PIXEL, 5, 0, b"", outputs=shader.blob.outputs,
                         inputs=(_element("TEXCOORD", 0, 1, 0b1100), _element("COLOR", 0, 1, 0b0011),
                                 _element("ID", 0, 2, 0b0001, U32)))
    shader = translate.DxbcShader(**{**shader.__dict__, "blob": blob})
    wgsl = translate.to_wgsl(shader)
    out = render(wgpu_device, wgsl, size=(2, 2),
                 varyings={0: (0.25, 0.5, 0.0, 0.0), 1: (3.0, 4.0, 0.0, 0.0), 2: (77, 0, 0, 0)})
    assert list(out[0][1, 1].view(np.float32)) == [3.0, 4.0, 0.25, 0.5]
    assert int(out[1][0, 0, 0]) == 77


def test_pixel_position_front_face(wgpu_device):
    shader = ps([ins("dcl_input_ps_sgv", dst(T.INPUT, 1, "x"), system_value=ir.SystemValue.IS_FRONT_FACE),
                 ins("mov", dst(T.OUTPUT, 0, "xyw"), src(T.INPUT, 0, "xyww")),
                 ins("mov", dst(T.OUTPUT, 0, "z"), src(T.INPUT, 1, "x"))], targets=("f32",), position=0)
    blob = ir.ShaderBlob(ir.ProgramType.PIXEL, 5, 0, b"", outputs=shader.blob.outputs,
                         inputs=shader.blob.inputs + (_element("SV_IsFrontFace", 0, 1, 0b0001, U32,
                                                               ir.SystemValue.IS_FRONT_FACE),))
    shader = translate.DxbcShader(**{**shader.__dict__, "blob": blob})
    out = render(wgpu_device, translate.to_wgsl(shader), size=(4, 2))[0]
    texel = out[1, 2]
    x, y, _, w = texel.view(np.float32)
    assert (x, y, w) == (2.5, 1.5, 1.0)
    assert int(texel[2]) == 0xFFFFFFFF  # counter-clockwise full-screen triangle: front facing


def test_depth_and_unsupported_system_values():
    shader = ps([ins("mov", dst(T.OUTPUT, 0), imm(1, 1, 1, 1)),
                 ins("mov", ir.Operand(T.OUTPUT_DEPTH, 1, ir.Selection.MASK, 1), imm(0.5))])
    blob = ir.ShaderBlob(ir.ProgramType.PIXEL, 5, 0, b"", outputs=shader.blob.outputs + (
        _element("SV_Depth", 0, 0xFFFFFFFF, 0b0001, F32, ir.SystemValue.DEPTH),))
    wgsl = translate.to_wgsl(translate.DxbcShader(**{**shader.__dict__, "blob": blob}))
    assert "@builtin(frag_depth) depth: f32" in wgsl and "output.depth = bitcast<f32>(oDepth.x);" in wgsl
    clip = _shader(ir.ProgramType.VERTEX, (_element("SV_ClipDistance", 0, 1, 0b0001, F32,
                                                    ir.SystemValue.CLIP_DISTANCE),), "outputs")
    with pytest.raises(ShaderUnsupported, match="SV_ClipDistance"):
        translate.to_wgsl(clip)


def test_compute_entry_point():
    program = (ins("dcl_thread_group", values=(8, 4, 1)),
               ins("dcl_temps", values=(1,)),
               ins("mov", dst(T.TEMP, 0), ir.Operand(T.INPUT_THREAD_ID, 4, ir.Selection.SWIZZLE, 15, (0, 1, 2, 2))),
               ins("mov", dst(T.TEMP, 0, "w"),
                   ir.Operand(T.INPUT_THREAD_ID_IN_GROUP_FLATTENED, 1, ir.Selection.SELECT1, 1, (0, 0, 0, 0))))
    cs = translate.DxbcShader(blob=ir.ShaderBlob(ir.ProgramType.COMPUTE, 5, 0, b""),
                              program=ir.Program(ir.ProgramType.COMPUTE, 5, 0, program),
                              stage=ir.ProgramType.COMPUTE, textures={}, buffers={}, uavs={}, samplers={},
                              constant_buffers={}, workgroup_size=(8, 4, 1))
    wgsl = translate.to_wgsl(cs)
    assert "@compute @workgroup_size(8, 4, 1)" in wgsl
    assert "vThreadID = vec4<u32>(global_invocation_id, 0u);" in wgsl
    assert "vThreadIDInGroupFlattened = vec4<u32>(local_invocation_index);" in wgsl


def test_load_refuses_other_stages():
    files = _corpus("vkd3d-d3d12")
    hs = [f for f in files if f.name.startswith("hs_")]
    assert hs
    with pytest.raises(ShaderUnsupported, match="hull"):
        translate.load(hs[0].read_bytes())
