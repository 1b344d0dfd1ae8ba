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


# ----- drawing a DXBC VS and/or PS -----

FULL_QUADS_VS = """
struct O { @builtin(position) p: vec4<f32>, }
@vertex fn main(@builtin(vertex_index) i: u32) -> O {
    // two triangles: the left half of the target (primitive 0), then the right half (1)
    var xs = array<f32, 6>(-3.0, 0.0, 0.0, 0.0, 3.0, 0.0);
    var ys = array<f32, 6>(-1.0, -1.0, 3.0, -1.0, -1.0, 3.0);
    var o: O;
    o.p = vec4<f32>(xs[i], ys[i], 0.0, 1.0);
    return o;
}
"""

WHITE_PS = """
@fragment fn main() -> @location(0) vec4<u32> { return vec4<u32>(1u, 2u, 3u, 4u); }
"""


def _draw(dev, vs: str, ps: str, *, vertices: int = 3, first_instance: int = 0, size=(4, 1),
          sample_count: int = 1) -> np.ndarray:
    """Draws into an rgba32uint target cleared to 0 (resolved through a copy when multisampled:
    sample 0's value is what is read back); returns the texels (h, w, 4)."""
    import wgpu
    width, height = size
    pipe = dev.create_render_pipeline(
        layout="auto", vertex={"module": dev.create_shader_module(code=vs), "entry_point": "main"},
        fragment={"module": dev.create_shader_module(code=ps), "entry_point": "main",
                  "targets": [{"format": "rgba32uint"}]},
        primitive={"topology": "triangle-list"}, multisample={"count": sample_count})
    target = dev.create_texture(size=(width, height, 1), format="rgba32uint", sample_count=sample_count,
                                usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    enc = dev.create_command_encoder()
    rp = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                   "store_op": "store", "clear_value": (0, 0, 0, 0)}])
    rp.set_pipeline(pipe)
    rp.draw(vertices, 1, 0, first_instance)
    rp.end()
    dev.queue.submit([enc.finish()])
    raw = dev.queue.read_texture({"texture": target}, {"bytes_per_row": 256, "rows_per_image": height},
                                 (width, height, 1))
    return np.frombuffer(bytes(raw), np.uint32).reshape(height, 64)[:, :width * 4].reshape(height, width, 4)


# ----- SV_ClipDistance -----

CLIP_VS = """
// in: SV_VertexID 0 x v0 uint
// out: SV_Position 0 xyzw o0 float
// out: SV_ClipDistance 0 x o1 float
// out: SV_ClipDistance 1 y o2 float
vs_5_0
dcl_input_sgv v0.x, vertex_id
dcl_output_siv o0.xyzw, position
dcl_output_siv o1.x, clip_distance
dcl_output_siv o2.y, clip_distance
dcl_temps 1
ishl r0.x, v0.x, l(1)
and r0.x, r0.x, l(2)
and r0.y, v0.x, l(2)
utof r0.xy, r0.xyxx
mad r0.xy, r0.xyxx, l(2.0, 2.0, 0.0, 0.0), l(-1.0, -1.0, 0.0, 0.0)
mov o0.xy, r0.xyxx
mov o0.zw, l(0, 0, 0.5, 1.0)
mov o1.x, r0.x
mov o2.y, l(SECOND)
ret
"""


@pytest.mark.parametrize("second,expected", [("1.0", [0, 0, 1, 1]), ("-1.0", [0, 0, 0, 0])])
def test_clip_distances(dev, second, expected):
    """Clip distance 0 = clip-space x (the left half is clipped), 1 = a constant from o2.y
    (negative: everything is clipped): each signature component is the next array element."""
    vs = translate.to_wgsl(translate.load(assemble(CLIP_VS.replace("SECOND", second))), ALL)
    assert vs.startswith("enable clip_distances;") and "array<f32, 2>" in vs
    out = _draw(dev, vs, WHITE_PS)
    assert [int(t[0]) for t in out[0]] == expected


def test_clip_and_cull_distances_refused():
    shader = translate.load(assemble(CLIP_VS.replace("SECOND", "1.0")))
    with pytest.raises(ShaderUnsupported, match=r"dcl_output_siv: SV_ClipDistance needs the host's wgpu feature "
                                                r"'clip-distances'.*\(at token \d+\)"):
        translate.to_wgsl(shader)
    cull = CLIP_VS.replace("SECOND", "1.0").replace("SV_ClipDistance 1", "SV_CullDistance 0").replace(
        "dcl_output_siv o2.y, clip_distance", "dcl_output_siv o2.y, cull_distance")
    with pytest.raises(ShaderUnsupported, match=r"SV_CullDistance .*WGSL has no cull distances.*at token"):
        translate.to_wgsl(translate.load(assemble(cull)), ALL)


# ----- SV_PrimitiveID -----

PRIMITIVE_PS = """
// in: SV_PrimitiveID 0 x v0 uint
// out: SV_Target 0 xyzw o0 uint
ps_5_0
dcl_input_ps_sgv constant v0.x, primitive_id
dcl_output o0.xyzw
iadd o0.xyzw, v0.xxxx, l(10, 20, 30, 40)
ret
"""


def test_primitive_id(dev):
    shader = translate.load(assemble(PRIMITIVE_PS))
    with pytest.raises(ShaderUnsupported, match=r"dcl_input_ps_sgv: SV_PrimitiveID needs .*'primitive-index'.*at token"):
        translate.to_wgsl(shader)
    ps = translate.to_wgsl(shader, ALL)
    out = _draw(dev, FULL_QUADS_VS, ps, vertices=6)
    assert [list(t) for t in out[0]] == [[10, 20, 30, 40]] * 2 + [[11, 21, 31, 41]] * 2


# ----- SV_InstanceID from 0 -----

INSTANCE_VS = """
// in: SV_VertexID 0 x v0 uint
// in: SV_InstanceID 0 x v1 uint
// out: SV_Position 0 xyzw o0 float
// out: TEXCOORD 0 x o1 uint
vs_5_0
dcl_input_sgv v0.x, vertex_id
dcl_input_sgv v1.x, instance_id
dcl_output_siv o0.xyzw, position
dcl_output o1.x
dcl_temps 1
ishl r0.x, v0.x, l(1)
and r0.x, r0.x, l(2)
and r0.y, v0.x, l(2)
utof r0.xy, r0.xyxx
mad o0.xy, r0.xyxx, l(2.0, 2.0, 0.0, 0.0), l(-1.0, -1.0, 0.0, 0.0)
mov o0.zw, l(0, 0, 0.5, 1.0)
mov o1.x, v1.x
ret
"""

INSTANCE_PS = """
struct I { @location(0) @interpolate(flat) l0: vec4<u32>, }
@fragment fn main(i: I) -> @location(0) vec4<u32> { return vec4<u32>(i.l0.x + 100u, 1u, 1u, 1u); }
"""


@pytest.mark.parametrize("first", [0, 3, 70000])
def test_instance_id_counts_from_zero(dev, first):
    shader = translate.load(assemble(INSTANCE_VS))
    assert shader.needs == frozenset({"instance_id", "vertex_id"})  # it reads both ids
    vs = translate.to_wgsl(shader, Specialization(base_instance=first))
    out = _draw(dev, vs, INSTANCE_PS, first_instance=first)
    assert int(out[0, 0, 0]) == 100
    if first:  # not specialized: WGSL's instance_index would show through
        out = _draw(dev, translate.to_wgsl(shader), INSTANCE_PS, first_instance=first)
        assert int(out[0, 0, 0]) == 100 + first


# ----- the rasterizer's sample count -----

RASTERIZER_PS = """
// out: SV_Target 0 xyzw o0 float
ps_5_0
dcl_constantbuffer cb0[1], immediateIndexed
dcl_output o0.xyzw
dcl_temps 1
sampleinfo r0.x, rasterizer.x
sampleinfo_uint r0.y, rasterizer.x
samplepos r0.zw, rasterizer.xxxy, cb0[0].x
mov o0.xyzw, r0.xyzw
ret
"""


@pytest.mark.parametrize("count,index,pos", [(1, 0, (0.0, 0.0)), (4, 0, (-2 / 16, -6 / 16)),
                                             (4, 3, (2 / 16, 6 / 16)), (4, 4, (0.0, 0.0)),
                                             (8, 1, (-1 / 16, 3 / 16))])
def test_rasterizer_sample_count(dev, count, index, pos):
    shader = translate.load(assemble(RASTERIZER_PS))
    assert shader.needs == frozenset({"sample_count"})
    with pytest.raises(ShaderUnsupported, match=r"sampleinfo: .*rasterizer.*not known.*at token"):
        translate.to_wgsl(shader)
    wgsl = translate.to_wgsl(shader, Specialization(sample_count=count))
    out = render(dev, wgsl, constant_buffers={0: [index]}, size=(1, 1))[0][0, 0]
    assert list(out) == [_f(float(count)), count, _f(pos[0]), _f(pos[1])]


def test_needs_nothing_else():
    assert translate.load(assemble(PRIMITIVE_PS)).needs == frozenset()
    assert translate.load(assemble(CLIP_VS.replace("SECOND", "1.0"))).needs == frozenset({"vertex_id"})


# ----- atomics on typed texture UAVs -----

TEXTURE_ATOMIC_CS = """
cs_5_0
dcl_uav_typed_texture2d (TYPE,TYPE,TYPE,TYPE) u0
dcl_input vThreadID.xy
dcl_thread_group 2, 2, 1
atomic_iadd u0, vThreadID.xyxx, l(5)
atomic_OP u0, vThreadID.xyxx, l(VALUE)
atomic_or u0, l(7, 7, 0, 0), l(1)
ret
"""


@pytest.mark.parametrize("type_,fmt,op,value,expected", [
    ("uint", "r32uint", "umax", "0x80000000", lambda v: max(v, 0x80000000)),
    ("uint", "r32uint", "umin", "0x80000000", lambda v: min(v, 0x80000000)),
    ("sint", "r32sint", "imax", "-1", lambda v: max(v, -1)),
    ("sint", "r32sint", "imin", "-1", lambda v: min(v, -1)),
    ("uint", "r32uint", "xor", "0xF0F0F0F0", lambda v: v ^ 0xF0F0F0F0),
    ("sint", "r32sint", "and", "0x0000FFFC", lambda v: v & 0xFFFC)])
def test_texture_atomics(dev, type_, fmt, op, value, expected):
    """Each thread of a 2x2 group changes its own texel of a 2x2 R32 texture; the atomic at
    (7, 7) is out of range and changes nothing."""
    import wgpu

    from .resource_harness import dispatch
    code = TEXTURE_ATOMIC_CS.replace("TYPE", type_).replace("OP", op).replace("VALUE", value)
    shader = translate.load(assemble(code))
    with pytest.raises(ShaderUnsupported, match=r"atomic_iadd: atomics on typed texture UAV u0 needs the host's "
                                                r"wgpu feature 'texture-atomic'.*at token"):
        translate.to_wgsl(shader)
    start = np.array([[0, 0xFFFFFFF0], [0x7FFFFFFF, 123456]], np.uint32)
    tex = dev.create_texture(size=(2, 2, 1), format=fmt, usage=wgpu.TextureUsage.STORAGE_BINDING
                             | wgpu.TextureUsage.COPY_SRC | wgpu.TextureUsage.COPY_DST)
    dev.queue.write_texture({"texture": tex}, start.tobytes(), {"bytes_per_row": 8, "rows_per_image": 2}, (2, 2, 1))
    dispatch(dev, shader, {"u0": tex.create_view()}, spec=ALL)
    got = np.frombuffer(bytes(dev.queue.read_texture({"texture": tex}, {"bytes_per_row": 256, "rows_per_image": 2},
                                                     (2, 2, 1))), np.uint32).reshape(2, 64)[:, :2]
    want = []
    for x in start.ravel().tolist():
        v = (x + 5) & 0xFFFFFFFF  # atomic_iadd wraps; then the op in the texel's type
        if type_ == "sint" and v >= 1 << 31:
            v -= 1 << 32
        want.append(expected(v) & 0xFFFFFFFF)
    assert got.ravel().tolist() == want


@pytest.mark.parametrize("op,why", [
    ("imm_atomic_iadd r0.x, u0, vThreadID.xyxx, l(1)", "return no value"),
    ("atomic_cmp_store u0, vThreadID.xyxx, l(0), l(1)", "compare-exchange"),
    ("atomic_imax u0, vThreadID.xyxx, l(1)", "signed max/min on u0 of format r32uint")])
def test_texture_atomics_refused(op, why):
    code = TEXTURE_ATOMIC_CS.replace("TYPE", "uint").replace("atomic_OP u0, vThreadID.xyxx, l(VALUE)", op)
    code = code.replace("dcl_thread_group", "dcl_temps 1\ndcl_thread_group")
    with pytest.raises(ShaderUnsupported, match=rf"{op.split()[0]}: .*{why}.*at token"):
        translate.to_wgsl(translate.load(assemble(code)), ALL)


# ----- forceEarlyDepthStencil -----

EARLY_PS = """
ps_5_0
dcl_globalFlags forceEarlyDepthStencil
UAV
dcl_output o0.xyzw
mov o0.xyzw, l(1.0, 1.0, 1.0, 1.0)
ret
"""


def test_force_early_depth_stencil(dev):
    plain = translate.load(assemble(EARLY_PS.replace("UAV", "")))
    assert "@early_depth_test" not in translate.to_wgsl(plain)  # no UAV, no depth output: nothing to see
    with_uav = translate.load(assemble(EARLY_PS.replace("UAV", "dcl_uav_raw u1")))
    with pytest.raises(ShaderUnsupported, match=r"dcl_globalFlags: forceEarlyDepthStencil .*"
                                                r"'shader-early-depth-test'.*at token"):
        translate.to_wgsl(with_uav)
    for shader in (plain, with_uav):
        wgsl = translate.to_wgsl(shader, ALL)
        assert "@fragment @early_depth_test(force)" in wgsl
        dev.create_shader_module(code=wgsl)
