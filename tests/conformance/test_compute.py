"""CSSetShader and Dispatch with constant buffers, structured, raw and typed buffer views and
texture UAVs, DispatchIndirect, and the UAV clears, each compared with the same compute
shader run by direct wgpu on the same data (or, for the clears, with a wgpu clear or the
bytes D3D11 demands). Buffers are compared bytewise; a texture UAV is sampled by a draw."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

from . import direct, guest
from .pair import POINT, Draw, Steps, Texture, assert_same, assert_varied
from .scene import scene
from .wgsl import FULLSCREEN_VS, sampling_ps

F = g.DxgiFormat
B = g.BindFlag
STRUCTURED = g.ResourceMiscFlag.BUFFER_STRUCTURED
RAW = g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS
ARGS = g.ResourceMiscFlag.DRAWINDIRECT_ARGS
STORAGE, UNIFORM = wgpu.BufferUsage.STORAGE, wgpu.BufferUsage.UNIFORM

#: 200 particles of 5 floats (a 20-byte structure), not a multiple of the 64-thread group:
#: threads past arrayLength of the UAV (the view's element count) do nothing.
PARTICLE_CS = """
struct Particle { x: f32, y: f32, vx: f32, vy: f32, life: f32 };
struct Params { dt: f32, drag: f32, gravity: f32, decay: f32 };
@group(2) @binding(0) var<uniform> params: Params;
@group(2) @binding(32) var<storage, read> src: array<Particle>;
@group(2) @binding(160) var<storage, read_write> dst: array<Particle>;
@compute @workgroup_size(64)
fn cs(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= arrayLength(&dst)) { return; }
    let p = src[id.x];
    let vx = p.vx * params.drag;
    let vy = p.vy * params.drag - params.gravity * params.dt;
    dst[id.x] = Particle(p.x + vx * params.dt, p.y + vy * params.dt, vx, vy, p.life - params.decay);
}
"""
PARTICLES = np.random.default_rng(40).uniform(-1, 1, (200, 5)).astype(np.float32)
PARAMS = np.array([0.25, 0.9, 9.8, 0.125], np.float32)

#: ByteAddressBuffer loads: word i of the raw view and a scattered one, mixed with the view's size.
RAW_CS = """
@group(2) @binding(32) var<storage, read> words: array<u32>;
@group(2) @binding(160) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn cs(@builtin(global_invocation_id) id: vec3<u32>) {
    let n = arrayLength(&words);
    if (id.x >= arrayLength(&out)) { return; }
    out[id.x] = (words[id.x % n] ^ (words[(id.x * 7u + 3u) % n] >> 8u)) + n;
}
"""
#: A typed R32G32B32A32_FLOAT view read as vec4s, written through a typed R32_FLOAT view.
TYPED_CS = """
@group(2) @binding(32) var<storage, read> v: array<vec4<f32>>;
@group(2) @binding(160) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(32)
fn cs(@builtin(global_invocation_id) id: vec3<u32>) {
    let a = v[id.x];
    out[id.x] = dot(a, vec4<f32>(1.0, -2.0, 0.5, 0.25)) + length(a.xy) * a.w;
}
"""
#: A texture UAV written thread by thread (12 x 8: the last group is partly outside).
IMAGE_CS = """
@group(2) @binding(160) var img: texture_storage_2d<rgba8unorm, write>;
@compute @workgroup_size(8, 8)
fn cs(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = textureDimensions(img);
    if (id.x >= size.x || id.y >= size.y) { return; }
    let c = vec2<f32>(id.xy) / vec2<f32>(size - 1u);
    textureStore(img, vec2<i32>(id.xy), vec4<f32>(c.x, c.y, f32((id.x ^ id.y) & 3u) / 3.0, 1.0));
}
"""
#: Each thread stamps its group id into a 16 x 8 grid of u32: the group counts show.
STAMP_CS = """
@group(2) @binding(160) var<storage, read_write> grid: array<u32>;
@compute @workgroup_size(4, 2)
fn cs(@builtin(global_invocation_id) id: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    grid[id.x + 16u * (id.y + 8u * id.z)] = 1u + wg.x + 10u * wg.y + 100u * wg.z;
}
"""


def guest_buffer(pair, data, bind: int, misc: int = 0, stride: int = 0, size: int | None = None) -> g.Buffer:
    """A DEFAULT buffer of `size` bytes (default: the data's), with `data` as initial data."""
    nbytes = size if size is not None else data.nbytes
    if data is not None and size is not None and size > data.nbytes:
        data = np.concatenate([data.view(np.uint8).reshape(-1), np.zeros(size - data.nbytes, np.uint8)])
    return pair.device.create_buffer(g.BufferDesc(nbytes, bind, misc_flags=misc, structure_byte_stride=stride), data)


def whole(buf: wgpu.GPUBuffer, offset: int = 0, size: int | None = None) -> dict:
    return {"buffer": buf, "offset": offset, "size": buf.size - offset if size is None else size}


@scene("CSSetShader + Dispatch: structured SRV, structured UAV (20-byte stride) and a constant buffer")
def test_dispatch_structured_buffers(pair):
    dev = pair.device
    src = guest_buffer(pair, PARTICLES, B.SHADER_RESOURCE, STRUCTURED, 20)
    dst = guest_buffer(pair, None, B.UNORDERED_ACCESS, STRUCTURED, 20, size=PARTICLES.nbytes)
    cb = guest_buffer(pair, PARAMS, B.CONSTANT_BUFFER)
    guest.dispatch(dev, PARTICLE_CS, (4,), constants=[cb], resources=[dev.create_shader_resource_view(src)],
                   uavs=[dev.create_unordered_access_view(dst)])
    actual = guest.read_buffer(dev, dst)

    d = pair.wgpu
    out = direct.storage(d, PARTICLES.nbytes)
    direct.dispatch(d, PARTICLE_CS, {2: {0: whole(direct.buffer(d, PARAMS, UNIFORM)),
                                         32: whole(direct.buffer(d, PARTICLES, STORAGE)), 160: whole(out)}}, (4, 1, 1))
    expected = direct.read_buffer(d, out, PARTICLES.nbytes)
    assert np.array_equal(actual, expected)
    moved = expected.view(np.float32).reshape(PARTICLES.shape)
    assert (moved != PARTICLES).all(axis=1).all()  # every particle, the last group's included
    assert np.allclose(moved[:, 4], PARTICLES[:, 4] - 0.125)  # the constant buffer reached the shader


@scene("Raw (byte-address) buffer SRV: R32_TYPELESS, BufferViewFlag.RAW, first element 64, read as u32")
def test_raw_buffer_view(pair):
    dev = pair.device
    words = np.random.default_rng(41).integers(0, 2 ** 32, 256, dtype=np.uint32)
    src = guest_buffer(pair, words, B.SHADER_RESOURCE, RAW)
    dst = guest_buffer(pair, None, B.UNORDERED_ACCESS, RAW, size=160 * 4)
    raw = F.R32_TYPELESS
    guest.dispatch(dev, RAW_CS, (3,),
                   resources=[dev.create_shader_resource_view(src, raw, first_element=64, num_elements=128,
                                                              flags=g.BufferViewFlag.RAW)],
                   uavs=[dev.create_unordered_access_view(dst, raw, flags=g.BufferViewFlag.RAW)])
    actual = guest.read_buffer(dev, dst)

    d = pair.wgpu
    out = direct.storage(d, 160 * 4)
    direct.dispatch(d, RAW_CS, {2: {32: whole(direct.buffer(d, words, STORAGE), 256, 512), 160: whole(out)}},
                    (3, 1, 1))
    expected = direct.read_buffer(d, out, 160 * 4)
    assert np.array_equal(actual, expected)
    v = expected.view(np.uint32)
    assert v[0] == (words[64] ^ (words[67] >> 8)) + 128  # the view starts at byte 256 and holds 128 words


@scene("Typed buffer views: R32G32B32A32_FLOAT SRV read as vec4, R32_FLOAT UAV")
def test_typed_buffer_views(pair):
    dev = pair.device
    vectors = np.random.default_rng(42).uniform(-2, 2, (64, 4)).astype(np.float32)
    src = guest_buffer(pair, vectors, B.SHADER_RESOURCE)
    dst = guest_buffer(pair, None, B.UNORDERED_ACCESS, size=64 * 4)
    guest.dispatch(dev, TYPED_CS, (2,), resources=[dev.create_shader_resource_view(src, F.R32G32B32A32_FLOAT)],
                   uavs=[dev.create_unordered_access_view(dst, F.R32_FLOAT)])
    actual = guest.read_buffer(dev, dst)

    d = pair.wgpu
    out = direct.storage(d, 64 * 4)
    direct.dispatch(d, TYPED_CS, {2: {32: whole(direct.buffer(d, vectors, STORAGE)), 160: whole(out)}}, (2, 1, 1))
    expected = direct.read_buffer(d, out, 64 * 4)
    assert np.array_equal(actual, expected)
    want = vectors @ np.array([1, -2, 0.5, 0.25], np.float32) + np.hypot(vectors[:, 0], vectors[:, 1]) * vectors[:, 3]
    assert np.allclose(expected.view(np.float32), want, atol=1e-4)  # one float per vec4, in order


def image_scene_direct(pair, size=(12, 8)) -> wgpu.GPUTexture:
    """IMAGE_CS run by direct wgpu into a storage + sampled texture."""
    d = pair.wgpu
    tex = d.create_texture(size=(*size, 1), format="rgba8unorm", usage=wgpu.TextureUsage.STORAGE_BINDING |
                           wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_SRC)
    direct.dispatch(d, IMAGE_CS, {2: {160: tex.create_view()}}, (2, 1, 1))
    return tex


@scene("Texture2D UAV (texture_storage_2d<rgba8unorm, write>) written by Dispatch, then sampled by a draw")
def test_texture_uav_then_sampled(pair):
    dev = pair.device
    img = dev.create_texture2d(g.Texture2DDesc(12, 8, bind_flags=B.UNORDERED_ACCESS | B.SHADER_RESOURCE))
    f = Steps(pair)
    guest.dispatch(dev, IMAGE_CS, (2, 1), uavs=[dev.create_unordered_access_view(img)])
    sample = Draw(layout=None, vs=FULLSCREEN_VS, ps=sampling_ps("textureSample(t, s, uv)"), samplers={0: POINT})
    pair.ctx.ps_set_shader_resources(0, [dev.create_shader_resource_view(img)])
    pair.draw_guest(sample, f.t, f.cache)
    pair.ctx.ps_set_shader_resources(0, [None])

    placeholder = Texture([])
    view = image_scene_direct(pair).create_view()
    f.direct(Draw(layout=None, vs=sample.vs, ps=sample.ps, samplers={0: POINT}, textures={0: placeholder}),
             views={id(placeholder): (placeholder, view)})
    frame = f.compare(min_colors=40)
    assert tuple(frame[0, -1]) == (255, 0, 255, 255)  # texel (11, 0): x / 11 = 1, (11 ^ 0) & 3 = 3


@scene("DispatchIndirect: group counts read from a DRAWINDIRECT_ARGS buffer at byte offset 16")
def test_dispatch_indirect(pair):
    dev = pair.device
    args = np.array([99, 99, 99, 99, 3, 2, 1, 7], np.uint32)  # offset 16: 3 x 2 x 1 groups
    grid = guest_buffer(pair, None, B.UNORDERED_ACCESS, STRUCTURED, 4, size=16 * 8 * 4)
    buf = dev.create_buffer(g.BufferDesc(args.nbytes, 0, misc_flags=ARGS), args)
    guest.dispatch(dev, STAMP_CS, uavs=[dev.create_unordered_access_view(grid)], indirect=(buf, 16))
    actual = guest.read_buffer(dev, grid)

    d = pair.wgpu
    out = direct.storage(d, 16 * 8 * 4)
    direct.dispatch(d, STAMP_CS, {2: {160: whole(out)}}, indirect=(direct.buffer(d, args, wgpu.BufferUsage.INDIRECT),
                                                                  16))
    expected = direct.read_buffer(d, out, 16 * 8 * 4)
    assert np.array_equal(actual, expected)
    stamps = expected.view(np.uint32).reshape(8, 16)
    assert stamps[:4, :12].all() and not stamps[4:].any() and not stamps[:, 12:].any()  # 12 x 4 threads ran
    assert stamps[3, 11] == 1 + 2 + 10  # group (2, 1, 0)


@scene("ClearUnorderedAccessViewFloat on a texture UAV of one mip and one array slice")
def test_clear_uav_float_texture(pair):
    dev = pair.device
    rng = np.random.default_rng(43)
    subs = [rng.integers(0, 256, (8 >> m, 12 >> m, 4), dtype=np.uint8) for _ in range(2) for m in range(2)]
    values = (0.2, 0.5, 0.8, 0.6)
    tex = dev.create_texture2d(g.Texture2DDesc(12, 8, mip_levels=2, array_size=2, bind_flags=B.UNORDERED_ACCESS),
                               subs)
    pair.ctx.clear_unordered_access_view_float(
        dev.create_unordered_access_view(tex, mip_slice=1, first_array_slice=1, array_size=1), values)
    staging = guest.staging_copy(dev, tex)
    actual = [guest.map_read(dev, staging, i) for i in range(4)]

    d = pair.wgpu
    ref = direct.texture(d, subs, mips=2, layers=2, usage=wgpu.TextureUsage.RENDER_ATTACHMENT)
    enc = d.create_command_encoder()
    p = enc.begin_render_pass(color_attachments=[{
        "view": ref.create_view(dimension="2d", base_mip_level=1, mip_level_count=1, base_array_layer=1,
                                array_layer_count=1),
        "load_op": "clear", "store_op": "store", "clear_value": values}])
    p.end()
    d.queue.submit([enc.finish()])
    expected = [direct.readback(d, ref, 12 >> (i % 2), 8 >> (i % 2), mip=i % 2, layer=i // 2) for i in range(4)]
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_same(a, e, f"subresource {i}")
    assert np.array_equal(expected[0], subs[0]) and np.array_equal(expected[2], subs[2])  # others untouched
    assert (np.abs(expected[3].astype(int) - [51, 128, 204, 153]) <= 1).all()


@scene("ClearUnorderedAccessViewUint on a raw buffer view and typed R32G32B32A32_UINT / R32G32_UINT views")
def test_clear_uav_uint_buffers(pair):
    """wgpu has no buffer clear to a value: the reference is the words D3D11 demands (the raw
    view takes the first value for every word, a typed view repeats its channels' values)."""
    dev = pair.device
    initial = np.arange(256, dtype=np.uint32) * 0x01010101
    values = (0xDEADBEEF, 0x12345678, 0xFFFFFFFF, 7)
    raw = guest_buffer(pair, initial, B.UNORDERED_ACCESS, RAW)
    rgba = guest_buffer(pair, initial, B.UNORDERED_ACCESS)
    rg = guest_buffer(pair, initial, B.UNORDERED_ACCESS)
    ctx = pair.ctx
    ctx.clear_unordered_access_view_uint(dev.create_unordered_access_view(
        raw, F.R32_TYPELESS, first_element=64, num_elements=96, flags=g.BufferViewFlag.RAW), values)
    ctx.clear_unordered_access_view_uint(dev.create_unordered_access_view(
        rgba, F.R32G32B32A32_UINT, first_element=16, num_elements=32), values)
    ctx.clear_unordered_access_view_uint(dev.create_unordered_access_view(rg, F.R32G32_UINT), values)
    actual = [guest.read_buffer(dev, b).view(np.uint32) for b in (raw, rgba, rg)]

    expected = [initial.copy() for _ in range(3)]
    expected[0][64:160] = values[0]
    expected[1][64:192] = np.tile(values, 32)
    expected[2][:] = np.tile(values[:2], 128)
    for name, a, e in zip(("raw", "R32G32B32A32_UINT", "R32G32_UINT"), actual, expected):
        diff = np.nonzero(a != e)[0]
        assert not len(diff), f"{name} view: {len(diff)} words differ, first word {diff[0]}: {a[diff[0]]:#x}, " \
                              f"expected {e[diff[0]]:#x}"
    assert_varied(actual[0].view(np.uint8).reshape(-1, 1, 4))
