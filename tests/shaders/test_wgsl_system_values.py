"""System values, relative I/O indexing and what needs a host feature, run on a direct wgpu
device that has the features (shaders written with the project's assembler):

- depth and coverage outputs (oDepth, oMask: signature register 0xFFFFFFFF);
- `v[r# + base]` / `o[r# + base]` over a dcl_indexrange (0 / dropped outside it);
- SV_ClipDistance ("clip-distances"), SV_PrimitiveID ("primitive-index"), typed texture
  UAV atomics ("texture-atomic"), forceEarlyDepthStencil ("shader-early-depth-test");
- the rasterizer's sample count (`sampleinfo`/`samplepos`), SV_InstanceID from 0 whatever the
  draw's first instance, and what a DxbcShader says it needs specialized;
- doubles ("shader-f64" + "shader-int64").
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from pvgpu.shaders import translate
from pvgpu.shaders.assembler import assemble
from pvgpu.shaders.errors import ShaderUnsupported
from pvgpu.shaders.specialization import Specialization

from .harness import render

FEATURES = ("clip-distances", "primitive-index", "texture-atomic", "shader-early-depth-test", "shader-f64",
            "shader-int64")


@pytest.fixture(scope="module")
def dev():
    from pvgpu.host import gpu
    have = set(gpu.adapter().features)
    missing = [f for f in FEATURES if f not in have]
    if missing:
        pytest.skip(f"the adapter lacks {missing}")
    return gpu.adapter().request_device_sync(required_features=list(FEATURES))


ALL = Specialization(features=frozenset(FEATURES))


def _f(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


# ----- oDepth / oMask -----

DEPTH_MASK_PS = """
ps_5_0
dcl_constantbuffer cb0[1], immediateIndexed
dcl_output o0.xyzw
dcl_output oDepth
dcl_output oMask
mov o0.xyzw, l(1.0, 2.0, 3.0, 4.0)
mov oDepth, cb0[0].x
mov oMask, cb0[0].y
ret
"""


def _draw_depth(dev, wgsl: str, cb: list[int]) -> tuple[np.ndarray, float]:
    """One pixel, rgba32float target cleared to 0 and depth32float cleared to 1 (compare
    always): (the texel, the depth)."""
    import wgpu

    from .harness import _vertex_shader
    ps = dev.create_shader_module(code=wgsl)
    vs = dev.create_shader_module(code=_vertex_shader(wgsl, {}))
    data = np.array(cb + [0] * (4 - len(cb)), np.uint32)
    buf = dev.create_buffer_with_data(data=data.tobytes(), usage=wgpu.BufferUsage.UNIFORM)
    pipe = dev.create_render_pipeline(
        layout="auto", vertex={"module": vs, "entry_point": "main"},
        fragment={"module": ps, "entry_point": "main", "targets": [{"format": "rgba32float"}]},
        primitive={"topology": "triangle-list"},
        depth_stencil={"format": "depth32float", "depth_write_enabled": True, "depth_compare": "always"})
    color = dev.create_texture(size=(1, 1, 1), format="rgba32float", usage=wgpu.TextureUsage.RENDER_ATTACHMENT
                               | wgpu.TextureUsage.COPY_SRC)
    depth = dev.create_texture(size=(1, 1, 1), format="depth32float", usage=wgpu.TextureUsage.RENDER_ATTACHMENT
                               | wgpu.TextureUsage.COPY_SRC)
    enc = dev.create_command_encoder()
    rp = enc.begin_render_pass(
        color_attachments=[{"view": color.create_view(), "load_op": "clear", "store_op": "store",
                            "clear_value": (0, 0, 0, 0)}],
        depth_stencil_attachment={"view": depth.create_view(), "depth_load_op": "clear", "depth_store_op": "store",
                                  "depth_clear_value": 1.0})
    rp.set_pipeline(pipe)
    rp.set_bind_group(0, dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[]))
    rp.set_bind_group(1, dev.create_bind_group(layout=pipe.get_bind_group_layout(1), entries=[
        {"binding": int(wgsl.split("var<uniform> cb0")[0].rsplit("@binding(", 1)[1].split(")")[0]),
         "resource": {"buffer": buf}}]))
    rp.draw(3)
    rp.end()
    dev.queue.submit([enc.finish()])
    texel = np.frombuffer(bytes(dev.queue.read_texture({"texture": color}, {"bytes_per_row": 16, "rows_per_image": 1},
                                                       (1, 1, 1))), np.float32)
    d = np.frombuffer(bytes(dev.queue.read_texture({"texture": depth, "aspect": "depth-only"},
                                                   {"bytes_per_row": 256, "rows_per_image": 1}, (1, 1, 1)))[:4],
                      np.float32)[0]
    return texel, float(d)


def test_depth_and_coverage_outputs(dev):
    shader = translate.load(assemble(DEPTH_MASK_PS))
    assert {e.semantic_name: e.register for e in shader.blob.outputs} == {
        "SV_Target": 0, "SV_Depth": 0xFFFFFFFF, "SV_Coverage": 0xFFFFFFFF}
    wgsl = translate.to_wgsl(shader)
    texel, depth = _draw_depth(dev, wgsl, [_f(0.25), 1])
    assert list(texel) == [1.0, 2.0, 3.0, 4.0] and depth == 0.25
    texel, depth = _draw_depth(dev, wgsl, [_f(0.75), 0xFFFFFFFE])  # sample 0 not covered: nothing written
    assert list(texel) == [0.0, 0.0, 0.0, 0.0] and depth == 1.0


# ----- relative v# / o# -----

RELATIVE_PS = """
// in: TEXCOORD 0 xyzw v1 uint
// in: TEXCOORD 1 xyzw v2 uint
// in: TEXCOORD 2 xyzw v3 uint
// out: SV_Target 0 xyzw o0 uint
// out: SV_Target 1 xyzw o1 uint
ps_5_0
dcl_constantbuffer cb0[1], dynamicIndexed
dcl_input_ps constant v1.xyzw
dcl_input_ps constant v2.xyzw
dcl_input_ps constant v3.xyzw
dcl_output o0.xyzw
dcl_output o1.xyzw
dcl_temps 2
dcl_indexrange v1.xyzw 3
dcl_indexrange o0.xyzw 2
mov o0.xyzw, l(7, 7, 7, 7)
mov o1.xyzw, l(9, 9, 9, 9)
mov r0.x, cb0[0].x
mov r1.xyzw, v[r0.x + 1].xyzw
mov o[r0.y + 0].yz, r1.xxwx
ret
"""


@pytest.mark.parametrize("index,written,expected", [
    (0, 0, (1, 2, 3, 4)), (1, 1, (5, 6, 7, 8)), (2, 0, (9, 10, 11, 12)),
    (3, 1, (0, 0, 0, 0)), (0xFFFFFFFF, 2, (0, 0, 0, 0)), (0x80000001, 0xFFFFFFFF, (0, 0, 0, 0))])
def test_relative_input_and_output_registers(dev, index, written, expected):
    """v[r0.x + 1] over v1..v3 (outside: 0); o[r0.y + 0].yz over o0..o1 (outside: dropped)."""
    program = RELATIVE_PS.replace("mov r0.x, cb0[0].x", "mov r0.xy, cb0[0].xyxx")
    wgsl = translate.to_wgsl(translate.load(assemble(program)))
    out = render(dev, wgsl, constant_buffers={0: [index, written]}, size=(1, 1),
                 varyings={0: (1, 2, 3, 4), 1: (5, 6, 7, 8), 2: (9, 10, 11, 12)})
    targets = {0: [7, 7, 7, 7], 1: [9, 9, 9, 9]}
    if written in targets:
        targets[written][1:3] = [expected[0], expected[3]]
    assert [list(out[k][0, 0]) for k in (0, 1)] == [targets[0], targets[1]]
