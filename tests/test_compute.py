"""Compute through pvgpu: compute shaders with constant buffers, structured, raw and typed
buffer views, texture UAVs, Dispatch and DispatchIndirect, the UAV clears, and D3D11's rules
for them. Results are compared with the same shader run by direct wgpu calls, or with the
values D3D11's semantics demand (clears)."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.protocol.enums import ErrorCode

N = 256
STRUCTURED = g.ResourceMiscFlag.BUFFER_STRUCTURED
RAW = g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS

#: particles (struct of 2 vec2) advanced by a velocity times a constant-buffer dt, with the
#: input read through a structured SRV and written through a structured UAV.
PARTICLE_CS = """
struct Particle { pos: vec2<f32>, vel: vec2<f32> };
struct Params { dt: f32, scale: f32, pad0: f32, pad1: f32 };
@group(2) @binding(0) var<uniform> params: Params;
@group(2) @binding(32) var<storage, read> src: array<Particle>;
@group(2) @binding(160) var<storage, read_write> dst: array<Particle>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = src[id.x];
    dst[id.x] = Particle(p.pos + p.vel * params.dt, p.vel * params.scale);
}
"""
#: a texture UAV written from the thread id, plus a raw (byte address) buffer of per-row tints.
TEXTURE_CS = """
@group(2) @binding(33) var<storage, read> tints: array<u32>;
@group(2) @binding(160) var img: texture_storage_2d<rgba8unorm, write>;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let t = unpack4x8unorm(tints[id.y % 4u]);
    textureStore(img, vec2<i32>(id.xy), vec4<f32>(f32(id.x) / 31.0, f32(id.y) / 31.0, t.b, 1.0));
}
"""
PARTICLES = np.random.default_rng(7).uniform(-1, 1, (N, 4)).astype(np.float32)
PARAMS = np.array([0.5, 0.25, 0, 0], dtype=np.float32)
TINTS = np.array([0xFF0000FF, 0x8000FF00, 0x40FF0000, 0x00000000], dtype=np.uint32)


def read_buffer(device: g.Device, buffer: g.Buffer, nbytes: int) -> np.ndarray:
    ctx = device.get_immediate_context()
    staging = device.create_buffer(g.BufferDesc(nbytes, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, buffer)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    data = mapped.data.copy()
    ctx.unmap(staging, 0)
    return data


def read_texture(device: g.Device, texture: g.Texture2D, width: int, height: int) -> np.ndarray:
    ctx = device.get_immediate_context()
    staging = device.create_texture2d(g.Texture2DDesc(width, height, texture.desc.format, usage=g.Usage.STAGING,
                                                      bind_flags=0, cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, texture)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    data = mapped.data.reshape(height, width, -1).copy()
    ctx.unmap(staging, 0)
    return data


def direct_dispatch(d: wgpu.GPUDevice, code: str, entries: dict, groups=None, indirect: bytes | None = None):
    """Run `code` on the direct device with @group(2) entries {binding: resource}."""
    pipeline = d.create_compute_pipeline(layout="auto", compute={"module": d.create_shader_module(code=code),
                                                                 "entry_point": "main"})
    enc = d.create_command_encoder()
    p = enc.begin_compute_pass()
    p.set_pipeline(pipeline)
    for i in (0, 1):
        p.set_bind_group(i, d.create_bind_group(layout=pipeline.get_bind_group_layout(i), entries=[]))
    p.set_bind_group(2, d.create_bind_group(layout=pipeline.get_bind_group_layout(2), entries=[
        {"binding": b, "resource": r} for b, r in entries.items()]))
    if indirect is not None:
        p.dispatch_workgroups_indirect(d.create_buffer_with_data(data=indirect, usage=wgpu.BufferUsage.INDIRECT), 0)
    else:
        p.dispatch_workgroups(*groups)
    p.end()
    d.queue.submit([enc.finish()])


def direct_particles(d: wgpu.GPUDevice, indirect: bytes | None = None) -> np.ndarray:
    S = wgpu.BufferUsage
    src = d.create_buffer_with_data(data=PARTICLES.tobytes(), usage=S.STORAGE)
    dst = d.create_buffer(size=PARTICLES.nbytes, usage=S.STORAGE | S.COPY_SRC)
    cb = d.create_buffer_with_data(data=PARAMS.tobytes(), usage=S.UNIFORM)
    direct_dispatch(d, PARTICLE_CS, {0: {"buffer": cb}, 32: {"buffer": src}, 160: {"buffer": dst}},
                    (N // 64, 1, 1), indirect)
    return np.frombuffer(d.queue.read_buffer(dst), dtype=np.float32).reshape(N, 4)


def particle_setup(device: g.Device):
    ctx = device.get_immediate_context()
    desc = dict(misc_flags=STRUCTURED, structure_byte_stride=16)
    src = device.create_buffer(g.BufferDesc(PARTICLES.nbytes, g.BindFlag.SHADER_RESOURCE, **desc), PARTICLES)
    dst = device.create_buffer(g.BufferDesc(PARTICLES.nbytes, g.BindFlag.UNORDERED_ACCESS, **desc))
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), PARAMS)
    ctx.cs_set_shader(device.create_compute_shader(PARTICLE_CS))
    ctx.cs_set_constant_buffers(0, [cb])
    ctx.cs_set_shader_resources(0, [device.create_shader_resource_view(src)])
    ctx.cs_set_unordered_access_views(0, [device.create_unordered_access_view(dst)])
    return ctx, dst


def test_structured_buffers_and_constant_buffer_match_direct_wgpu(device, wgpu_device):
    ctx, dst = particle_setup(device)
    ctx.dispatch(N // 64)
    got = read_buffer(device, dst, PARTICLES.nbytes).view(np.float32).reshape(N, 4)
    expected = direct_particles(wgpu_device)
    assert not np.allclose(expected, PARTICLES)  # the shader changed every particle
    np.testing.assert_array_equal(got, expected)


def test_dispatch_indirect_matches_direct_wgpu(device, wgpu_device):
    ctx, dst = particle_setup(device)
    counts = np.array([N // 64 - 1, 1, 1], dtype=np.uint32)  # one group fewer: the last 64 stay zero
    args = device.create_buffer(g.BufferDesc(12, 0, misc_flags=g.ResourceMiscFlag.DRAWINDIRECT_ARGS), counts)
    ctx.dispatch_indirect(args)
    got = read_buffer(device, dst, PARTICLES.nbytes).view(np.float32).reshape(N, 4)
    expected = direct_particles(wgpu_device, indirect=counts.tobytes())
    assert not expected[-64:].any() and expected[:64].any()
    np.testing.assert_array_equal(got, expected)


def test_texture_uav_and_raw_buffer_match_direct_wgpu(device, wgpu_device):
    ctx = device.get_immediate_context()
    tints = device.create_buffer(g.BufferDesc(TINTS.nbytes, g.BindFlag.SHADER_RESOURCE, misc_flags=RAW), TINTS)
    img = device.create_texture2d(g.Texture2DDesc(32, 32, bind_flags=g.BindFlag.UNORDERED_ACCESS))
    ctx.cs_set_shader(device.create_compute_shader(TEXTURE_CS))
    ctx.cs_set_shader_resources(1, [device.create_shader_resource_view(tints, g.DxgiFormat.R32_TYPELESS,
                                                                       flags=g.BufferViewFlag.RAW)])
    ctx.cs_set_unordered_access_views(0, [device.create_unordered_access_view(img)])
    ctx.dispatch(4, 4)
    got = read_texture(device, img, 32, 32)

    d = wgpu_device
    target = d.create_texture(size=(32, 32, 1), format="rgba8unorm",
                              usage=wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_SRC)
    buf = d.create_buffer_with_data(data=TINTS.tobytes(), usage=wgpu.BufferUsage.STORAGE)
    direct_dispatch(d, TEXTURE_CS, {33: {"buffer": buf}, 160: target.create_view()}, (4, 4, 1))
    expected = np.frombuffer(d.queue.read_texture({"texture": target}, {"bytes_per_row": 128}, (32, 32, 1)),
                             dtype=np.uint8).reshape(32, 32, 4)
    assert len(np.unique(expected[:, :, 2])) > 1  # the tints reached the image
    np.testing.assert_array_equal(got, expected)


def test_compute_reads_one_mip_and_writes_the_next(device):
    """A texture may be read (SRV of mip 0) and written (UAV of mip 1) in one dispatch."""
    ctx = device.get_immediate_context()
    base = np.arange(16 * 16, dtype=np.float32).reshape(16, 16)
    desc = g.Texture2DDesc(16, 16, g.DxgiFormat.R32_FLOAT, mip_levels=2,
                           bind_flags=g.BindFlag.SHADER_RESOURCE | g.BindFlag.UNORDERED_ACCESS)
    tex = device.create_texture2d(desc, [base, np.zeros((8, 8), np.float32)])
    ctx.cs_set_shader(device.create_compute_shader("""
@group(2) @binding(32) var src: texture_2d<f32>;
@group(2) @binding(160) var dst: texture_storage_2d<r32float, write>;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = vec2<i32>(id.xy) * 2;
    let s = textureLoad(src, p, 0).r + textureLoad(src, p + vec2<i32>(1, 0), 0).r
          + textureLoad(src, p + vec2<i32>(0, 1), 0).r + textureLoad(src, p + vec2<i32>(1, 1), 0).r;
    textureStore(dst, vec2<i32>(id.xy), vec4<f32>(s / 4.0));
}"""))
    ctx.cs_set_shader_resources(0, [device.create_shader_resource_view(tex, most_detailed_mip=0, mip_levels=1)])
    ctx.cs_set_unordered_access_views(0, [device.create_unordered_access_view(tex, mip_slice=1)])
    ctx.dispatch(1, 1)
    staging = device.create_texture2d(g.Texture2DDesc(16, 16, g.DxgiFormat.R32_FLOAT, mip_levels=2,
                                                      usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    mapped = ctx.map(staging, 1, g.MapType.READ)
    got = mapped.data.view(np.float32).reshape(8, 8)
    expected = base.reshape(8, 2, 8, 2).mean(axis=(1, 3))
    np.testing.assert_array_equal(got, expected)
    ctx.unmap(staging, 1)


def test_resource_bound_as_uav_reads_as_unbound_srv(device):
    """D3D11 unbinds a shader resource whose resource is bound as an unordered-access view."""
    ctx = device.get_immediate_context()
    desc = g.BufferDesc(256, g.BindFlag.SHADER_RESOURCE | g.BindFlag.UNORDERED_ACCESS, misc_flags=STRUCTURED,
                        structure_byte_stride=4)
    buf = device.create_buffer(desc, np.full(64, 5, np.uint32))
    ctx.cs_set_shader(device.create_compute_shader("""
@group(2) @binding(32) var<storage, read> src: array<u32>;
@group(2) @binding(160) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) { dst[id.x] = src[id.x] + 1u; }"""))
    ctx.cs_set_shader_resources(0, [device.create_shader_resource_view(buf)])
    ctx.cs_set_unordered_access_views(0, [device.create_unordered_access_view(buf)])
    ctx.dispatch(1)
    got = read_buffer(device, buf, 256).view(np.uint32)
    assert (got == 1).all(), got[:4]  # src read as zeros, not 5
    assert device.host_errors() == []


@pytest.mark.parametrize("fmt, values, expected", [
    (g.DxgiFormat.R8G8B8A8_UNORM, (0.6, 1.0, 0.0, 0.25), [153, 255, 0, 64]),  # no x.5 ties: GPUs round them apart
    (g.DxgiFormat.R32_FLOAT, (2.5, 0, 0, 0), np.array([2.5], np.float32).view(np.uint8)),
    (g.DxgiFormat.R16G16B16A16_FLOAT, (1.0, -2.0, 0.5, 0.0),
     np.array([1.0, -2.0, 0.5, 0.0], np.float16).view(np.uint8)),
])
def test_clear_uav_float_on_textures(device, fmt, values, expected):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(8, 4, fmt, array_size=2, bind_flags=g.BindFlag.UNORDERED_ACCESS))
    uav = device.create_unordered_access_view(tex, first_array_slice=1, array_size=1)
    ctx.clear_unordered_access_view_float(uav, values)
    staging = device.create_texture2d(g.Texture2DDesc(8, 4, fmt, array_size=2, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, tex)
    for subresource, want in ((1, np.asarray(expected, np.uint8)), (0, None)):
        mapped = ctx.map(staging, subresource, g.MapType.READ)
        texels = mapped.data.reshape(8 * 4, -1)
        if want is None:
            assert not texels.any()  # slice 0 is outside the view: untouched
        else:
            assert (texels == want).all(), texels[0]
        ctx.unmap(staging, subresource)


def test_clear_uav_uint_on_buffers_and_textures(device):
    ctx = device.get_immediate_context()
    raw = device.create_buffer(g.BufferDesc(512, g.BindFlag.UNORDERED_ACCESS, misc_flags=RAW))
    typed = device.create_buffer(g.BufferDesc(512, g.BindFlag.UNORDERED_ACCESS))
    raw_uav = device.create_unordered_access_view(raw, g.DxgiFormat.R32_TYPELESS, first_element=32,
                                                  num_elements=64, flags=g.BufferViewFlag.RAW)
    typed_uav = device.create_unordered_access_view(typed, g.DxgiFormat.R32G32B32A32_UINT)
    ctx.clear_unordered_access_view_uint(raw_uav, (0xDEADBEEF, 1, 2, 3))
    ctx.clear_unordered_access_view_uint(typed_uav, (1, 2, 3, 4))
    words = read_buffer(device, raw, 512).view(np.uint32)
    assert (words[32:96] == 0xDEADBEEF).all() and not words[:32].any() and not words[96:].any()
    assert (read_buffer(device, typed, 512).view(np.uint32).reshape(-1, 4) == [1, 2, 3, 4]).all()

    tex = device.create_texture2d(g.Texture2DDesc(4, 4, g.DxgiFormat.R8G8B8A8_UNORM,
                                                  bind_flags=g.BindFlag.UNORDERED_ACCESS))
    ctx.clear_unordered_access_view_uint(device.create_unordered_access_view(tex), (0x180, 0x7F, 255, 0))
    assert (read_texture(device, tex, 4, 4) == [0x80, 0x7F, 255, 0]).all()  # the low 8 bits of each value


def bad(device: g.Device, code: ErrorCode, *, substring: str = "") -> None:
    with pytest.raises(HostReportedError) as info:
        device.connection.finish()
    entries = [line for line in str(info.value).splitlines()[1:]]
    assert len(entries) == 1 and code.name in entries[0] and substring in entries[0], entries


def test_dispatch_rules(device):
    ctx = device.get_immediate_context()
    ctx.dispatch(1)
    bad(device, ErrorCode.INVALID_CALL, substring="without a compute shader")
    ctx.cs_set_shader(device.create_compute_shader("@compute @workgroup_size(1) fn main() {}"))
    ctx.dispatch(65536)
    bad(device, ErrorCode.INVALID_CALL, substring="65535")
    ctx.dispatch(4096, 4096, 2)
    bad(device, ErrorCode.COUNT_LIMIT)
    plain = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER))
    ctx.dispatch_indirect(plain)
    bad(device, ErrorCode.INVALID_CALL, substring="DRAWINDIRECT_ARGS")
    ctx.dispatch(0, 1, 1)  # an empty dispatch is fine
    device.connection.finish()


def test_view_rules(device):
    vb = device.create_buffer(g.BufferDesc(256, g.BindFlag.VERTEX_BUFFER))
    device.create_unordered_access_view(vb, g.DxgiFormat.R32_UINT)
    bad(device, ErrorCode.INVALID_CALL, substring="UNORDERED_ACCESS")
    structured = device.create_buffer(g.BufferDesc(256, g.BindFlag.SHADER_RESOURCE, misc_flags=STRUCTURED,
                                                   structure_byte_stride=16))
    device.create_shader_resource_view(structured, g.DxgiFormat.R32_TYPELESS, flags=g.BufferViewFlag.RAW,
                                       num_elements=4)
    bad(device, ErrorCode.INVALID_CALL, substring="ALLOW_RAW_VIEWS")
    device.create_shader_resource_view(structured, first_element=15, num_elements=2)
    bad(device, ErrorCode.INVALID_CALL, substring="reach past")
    device.create_shader_resource_view(structured, first_element=1, num_elements=1)
    bad(device, ErrorCode.UNSUPPORTED, substring="multiple of")  # 16 bytes in: below the storage alignment
    device.create_buffer(g.BufferDesc(100, g.BindFlag.SHADER_RESOURCE, misc_flags=STRUCTURED,
                                      structure_byte_stride=12))
    bad(device, ErrorCode.INVALID_CALL, substring="stride")
    typed = device.create_buffer(g.BufferDesc(256, g.BindFlag.UNORDERED_ACCESS))
    device.create_unordered_access_view(typed, g.DxgiFormat.R8G8B8A8_UNORM)
    bad(device, ErrorCode.UNSUPPORTED, substring="typed buffer views")
    device.create_unordered_access_view(typed, g.DxgiFormat.R32_UINT, flags=g.BufferViewFlag.COUNTER)
    bad(device, ErrorCode.INVALID_CALL, substring="structured buffers")  # counters: tests/test_uav_counters.py
    device.create_texture2d(g.Texture2DDesc(4, 4, g.DxgiFormat.B8G8R8A8_UNORM_SRGB,
                                            bind_flags=g.BindFlag.UNORDERED_ACCESS))
    bad(device, ErrorCode.UNSUPPORTED, substring="unordered-access views")
    device.create_texture2d(g.Texture2DDesc(4, 4, misc_flags=g.ResourceMiscFlag.BUFFER_STRUCTURED))
    bad(device, ErrorCode.INVALID_CALL, substring="buffers only")


def test_shader_declarations_must_fit_their_slots(device):
    device.create_compute_shader("""
@group(2) @binding(160) var<storage, read> wrong: array<u32>;
@compute @workgroup_size(1) fn main() { _ = wrong[0]; }""")
    bad(device, ErrorCode.INVALID_CALL, substring="unordered access slot 0")
    device.create_compute_shader("""
@group(2) @binding(3) var tex: texture_2d<f32>;
@compute @workgroup_size(1) fn main() { _ = textureDimensions(tex); }""")
    bad(device, ErrorCode.INVALID_CALL, substring="constant buffer slot 3")
    device.create_pixel_shader("""
@group(1) @binding(160) var<storage, read_write> out: array<u32>;
@fragment fn main() -> @location(0) vec4<f32> { out[0] = 1u; return vec4<f32>(1.0); }""")
    bad(device, ErrorCode.UNSUPPORTED, substring="compute shaders only")
    device.create_compute_shader("@fragment fn main() -> @location(0) vec4<f32> { return vec4<f32>(1.0); }")
    bad(device, ErrorCode.INVALID_CALL, substring="@compute")


def test_unbound_uav_slot_writes_go_nowhere(device):
    """A shader whose UAV slot the guest left empty runs against a stand-in, as D3D11 drops
    writes to an unbound UAV."""
    ctx = device.get_immediate_context()
    ctx.cs_set_shader(device.create_compute_shader("""
@group(2) @binding(161) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = 1u; }"""))
    ctx.dispatch(1)
    device.connection.finish()


def test_two_views_of_one_buffer_are_two_bindings(device):
    """Bound one after the other, views of different ranges of one buffer write their own
    elements (the bind-group cache must tell them apart)."""
    ctx = device.get_immediate_context()
    buf = device.create_buffer(g.BufferDesc(512, g.BindFlag.UNORDERED_ACCESS, misc_flags=RAW))
    views = [device.create_unordered_access_view(buf, g.DxgiFormat.R32_TYPELESS, first_element=first,
                                                 num_elements=64, flags=g.BufferViewFlag.RAW) for first in (0, 64)]
    ctx.cs_set_shader(device.create_compute_shader("""
@group(2) @binding(160) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1) fn main() { out[0] = out[0] + 1u; }"""))
    for view in views:
        ctx.cs_set_unordered_access_views(0, [view])
        ctx.dispatch(1)
    words = read_buffer(device, buf, 512).view(np.uint32)
    assert (words[0], words[64]) == (1, 1)


def test_unknown_uav_format_is_a_bad_enum(device):
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, bind_flags=g.BindFlag.UNORDERED_ACCESS))
    device.create_unordered_access_view(tex, format=4000)
    bad(device, ErrorCode.BAD_ENUM, substring="4000")


def test_empty_slots_of_every_declared_type_are_stood_in_for(device):
    """Empty slots read zeros and drop writes, whatever the shader declares there; an empty
    read-only and an empty writable slot in one dispatch never share a stand-in (wgpu would
    then drop the whole command buffer, a clear recorded before it included)."""
    ctx = device.get_immediate_context()
    buf = device.create_buffer(g.BufferDesc(256, g.BindFlag.UNORDERED_ACCESS, misc_flags=RAW))
    uav = device.create_unordered_access_view(buf, g.DxgiFormat.R32_TYPELESS, flags=g.BufferViewFlag.RAW)
    ctx.clear_unordered_access_view_uint(uav, (7, 0, 0, 0))
    ctx.cs_set_shader(device.create_compute_shader("""
@group(2) @binding(32) var<storage, read> empty_in: array<u32>;
@group(2) @binding(33) var volume: texture_3d<f32>;
@group(2) @binding(34) var layers: texture_2d_array<u32>;
@group(2) @binding(35) var depth: texture_depth_2d;
@group(2) @binding(17) var shadow: sampler_comparison;
@group(2) @binding(160) var<storage, read_write> out: array<u32>;
@group(2) @binding(161) var<storage, read_write> empty_out: array<u32>;
@group(2) @binding(162) var empty_image: texture_storage_2d<r32float, write>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    empty_out[id.x] = 5u;
    textureStore(empty_image, vec2<i32>(0, 0), vec4<f32>(1.0));
    let seen = empty_in[id.x] + u32(textureLoad(volume, vec3<i32>(0), 0).r) + textureLoad(layers, vec2<i32>(0), 0, 0).r
             + u32(textureLoad(depth, vec2<i32>(0), 0)) + u32(textureSampleCompareLevel(depth, shadow, vec2<f32>(0.5), 2.0));
    out[id.x] = out[id.x] + seen + 1u;
}"""))
    ctx.cs_set_unordered_access_views(0, [uav])
    ctx.dispatch(1)
    ctx.flush()
    # the clear (7) survived; empty slots read 0 (a comparison against the empty depth fails: 0)
    assert (read_buffer(device, buf, 256).view(np.uint32) == 8).all()
    assert device.host_errors() == []


def test_one_texture_mip_in_two_uav_slots_is_refused_up_front(device):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, g.DxgiFormat.R32_FLOAT, bind_flags=g.BindFlag.UNORDERED_ACCESS))
    uav = device.create_unordered_access_view(tex)
    ctx.clear_unordered_access_view_float(uav, (3.0, 0, 0, 0))
    ctx.cs_set_shader(device.create_compute_shader("""
@group(2) @binding(160) var a: texture_storage_2d<r32float, write>;
@group(2) @binding(161) var b: texture_storage_2d<r32float, read_write>;
@compute @workgroup_size(1) fn main() { textureStore(a, vec2<i32>(0), textureLoad(b, vec2<i32>(1))); }"""))
    ctx.cs_set_unordered_access_views(0, [uav, uav])
    ctx.dispatch(1)
    bad(device, ErrorCode.INVALID_CALL, substring="two UAV slots")
    assert (read_texture(device, tex, 4, 4).view(np.float32) == 3.0).all()  # the clear before it was kept
