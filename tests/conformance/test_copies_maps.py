"""CopyResource, CopySubresourceRegion, UpdateSubresource and Map/Unmap, each compared with
the same copies, writes and reads done by direct wgpu (copy_texture_to_texture,
write_texture, write_buffer, read_texture) on the same data, in D3D11's order between draws."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

from . import direct
from .pair import CLEAR, POINT, H, W, Draw, Steps, Target, Texture, assert_same, assert_varied, gradient, pattern, quad
from .scene import scene
from .wgsl import FULLSCREEN_VS, SOLID_PS, sampling_ps

OVERLAY = quad(-0.3, -0.5, 0.9, 0.4, color=[(1, 1, 1, 1), (1, 0, 1, 1), (0, 1, 1, 1), (1, 1, 0, 1)])


@scene("CopyResource of a 2D texture into the back buffer")
def test_copy_resource(pair):
    data = pattern(W, seed=31, height=H)
    f = Steps(pair)
    src = pair.device.create_texture2d(g.Texture2DDesc(W, H), data)
    pair.ctx.copy_resource(f.back, src)
    f.submit()
    f.encoder.copy_texture_to_texture({"texture": direct.texture(pair.wgpu, [data])}, {"texture": f.tex}, (W, H, 1))
    frame = f.compare(min_colors=500)
    assert np.array_equal(frame, data)


@scene("CopySubresourceRegion of a box of mip 1 to an offset in the back buffer")
def test_copy_subresource_region_box(pair):
    mips = [pattern(16, seed=32), pattern(8, seed=33)]
    f = Steps(pair)
    f.draw(Draw(gradient()))
    src = pair.device.create_texture2d(g.Texture2DDesc(16, 16, mip_levels=2), mips)
    pair.ctx.copy_subresource_region(f.back, 0, 30, 20, 0, src, 1, g.Box(1, 2, 0, 7, 6, 1))
    f.submit()
    f.encoder.copy_texture_to_texture({"texture": direct.texture(pair.wgpu, mips, mips=2), "mip_level": 1,
                                       "origin": (1, 2, 0)}, {"texture": f.tex, "origin": (30, 20, 0)}, (6, 4, 1))
    frame = f.compare()
    assert np.array_equal(frame[20:24, 30:36], mips[1][2:6, 1:7])


@scene("UpdateSubresource of a box of a texture, between two draws")
def test_update_subresource_box(pair):
    patch = pattern(20, seed=34, height=15)
    f = Steps(pair)
    f.draw(Draw(gradient()))
    pair.ctx.update_subresource(f.back, 0, g.Box(10, 5, 0, 30, 20, 1), patch)
    f.submit()
    pair.wgpu.queue.write_texture({"texture": f.tex, "origin": (10, 5, 0)}, patch, {"bytes_per_row": 20 * 4},
                                  (20, 15, 1))
    f.draw(Draw(OVERLAY))  # drawn over part of the patch: the update landed before this draw
    frame = f.compare(min_colors=100)
    assert np.array_equal(frame[5:8, 10:14], patch[:3, :4])


@scene("UpdateSubresource of a constant buffer (whole, then a 4-float box) between draws")
def test_update_subresource_constant_buffer(pair):
    f = Steps(pair)
    cb = pair.device.create_buffer(g.BufferDesc(32, g.BindFlag.CONSTANT_BUFFER), np.zeros(8, np.float32))
    pair.ctx.ps_set_constant_buffers(0, [cb])
    steps = [(None, np.array([1, 0, 0, 1], np.float32), quad(-0.9, -0.9, -0.3, 0.9)),
             (g.Box(0, 0, 0, 16, 1, 1), np.array([0, 1, 0.5, 1], np.float32), quad(-0.2, -0.9, 0.3, 0.9)),
             (g.Box(4, 0, 0, 8, 1, 1), np.array([0.25], np.float32), quad(0.4, -0.9, 0.9, 0.9))]
    contents = np.zeros(8, np.float32)
    for box, data, vertices in steps:
        pair.ctx.update_subresource(cb, 0, box, data if box else np.concatenate([data, np.zeros(4, np.float32)]))
        pair.draw_guest(Draw(vertices, ps=SOLID_PS), f.t, f.cache)  # SOLID_PS reads the bound buffer
        start = box.left // 4 if box else 0
        contents[start:start + len(data)] = data
        f.direct(Draw(vertices, ps=SOLID_PS, constants={0: contents.copy()}))  # what this draw must see
    frame = f.compare(min_colors=4)
    # green replaced by the boxed 0.25 (0.5 -> 127 or 128: GPUs round the tie either way)
    assert np.abs(frame[H // 2, 45].astype(int) - (0, 64, 128, 255)).max() <= 1


@scene("Map WRITE_DISCARD of a DYNAMIC constant buffer between draws")
def test_map_write_discard_constant_buffer(pair):
    f = Steps(pair)
    dyn = pair.device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC,
                                                 g.CpuAccessFlag.WRITE))
    colors = [(1, 0, 0, 1), (0, 1, 0, 0.5), (0.2, 0.4, 1, 1)]
    draws = []
    for i, color in enumerate(colors):
        mapped = pair.ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
        mapped.data[:] = np.frombuffer(np.array(color, np.float32).tobytes(), np.uint8)
        pair.ctx.unmap(dyn, 0)
        pair.ctx.ps_set_constant_buffers(0, [dyn])
        d = Draw(quad(-0.9 + 0.6 * i, -0.8, -0.2 + 0.6 * i, 0.8 - 0.3 * i), ps=SOLID_PS)
        pair.draw_guest(d, f.t, f.cache)
        draws.append(Draw(d.vertices, ps=SOLID_PS, constants={0: np.array(color, np.float32)}))
    f.direct(*draws)  # one uniform buffer per color
    frame = f.compare(min_colors=4)
    assert tuple(frame[H // 2, 4]) == (255, 0, 0, 255)


@scene("Map WRITE_NO_OVERWRITE: appending vertices to a DYNAMIC vertex buffer between draws")
def test_map_write_no_overwrite_vertex_buffer(pair):
    f = Steps(pair)
    quads = [quad(-0.9 + 0.6 * i, -0.8 + 0.2 * i, -0.3 + 0.6 * i, 0.6, color=c)
             for i, c in enumerate([(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1)])]
    vb = pair.device.create_buffer(g.BufferDesc(3 * quads[0].nbytes, g.BindFlag.VERTEX_BUFFER, g.Usage.DYNAMIC,
                                                g.CpuAccessFlag.WRITE))
    ctx = pair.ctx
    f.draw(Draw(gradient()))  # sets the input layout, shaders and states the quads are drawn with
    ctx.ia_set_vertex_buffers(0, [vb], [28])
    for i, q in enumerate(quads):
        mapped = ctx.map(vb, 0, g.MapType.WRITE_DISCARD if i == 0 else g.MapType.WRITE_NO_OVERWRITE)
        mapped.data[i * q.nbytes:(i + 1) * q.nbytes] = np.frombuffer(q.tobytes(), np.uint8)
        ctx.unmap(vb, 0)
        ctx.draw(6, 6 * i)
    f.direct(*[Draw(q) for q in quads])
    f.compare(min_colors=4)


@scene("Map READ of a STAGING texture after CopyResource, compared with wgpu read_texture")
def test_map_read_staging_texture(pair):
    dev, ctx = pair.device, pair.ctx
    target = Target()
    rt = dev.create_texture2d(g.Texture2DDesc(W, H, bind_flags=g.BindFlag.RENDER_TARGET))
    ctx.om_set_render_targets([dev.create_render_target_view(rt)])
    ctx.clear_render_target_view(dev.create_render_target_view(rt), CLEAR)
    draws = [Draw(gradient()), Draw(OVERLAY)]
    cache: dict = {}
    for d in draws:
        pair.draw_guest(d, target, cache)
    staging = dev.create_texture2d(g.Texture2DDesc(W, H, usage=g.Usage.STAGING, bind_flags=0,
                                                   cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, rt)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    assert mapped.row_pitch >= W * 4
    actual = np.stack([mapped.data[y * mapped.row_pitch:y * mapped.row_pitch + W * 4] for y in range(H)])
    ctx.unmap(staging, 0)
    expected = pair.run_direct(draws, target)[0][0]  # rendered, then queue.read_texture
    assert_same(actual.reshape(H, W, 4), expected)
    assert_varied(expected, 100)


@scene("Map READ of a STAGING buffer after CopySubresourceRegion of a byte range")
def test_map_read_staging_buffer(pair):
    data = np.arange(256, dtype=np.uint8)
    src = pair.device.create_buffer(g.BufferDesc(256, g.BindFlag.VERTEX_BUFFER), data)
    staging = pair.device.create_buffer(g.BufferDesc(128, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    pair.ctx.copy_subresource_region(staging, 0, 16, 0, 0, src, 0, g.Box(100, 0, 0, 164, 1, 1))
    mapped = pair.ctx.map(staging, 0, g.MapType.READ)
    actual = mapped.data.copy()
    pair.ctx.unmap(staging, 0)
    d = pair.wgpu
    a = direct.buffer(d, data, wgpu.BufferUsage.VERTEX)
    b = d.create_buffer(size=128, usage=wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC)
    enc = d.create_command_encoder()
    enc.copy_buffer_to_buffer(a, 100, b, 16, 64)
    d.queue.submit([enc.finish()])
    expected = direct.read_buffer(d, b, 128)
    assert np.array_equal(actual, expected)
    assert np.array_equal(actual[16:80], data[100:164]) and not actual[:16].any()


@scene("Map WRITE_DISCARD of a DYNAMIC texture, then sampled")
def test_map_write_discard_texture(pair):
    data = pattern(8, seed=35)
    dyn = pair.device.create_texture2d(g.Texture2DDesc(8, 8, usage=g.Usage.DYNAMIC,
                                                       cpu_access_flags=g.CpuAccessFlag.WRITE))
    mapped = pair.ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    for y in range(8):
        mapped.data[y * mapped.row_pitch:y * mapped.row_pitch + 32] = data[y].reshape(-1)
    pair.ctx.unmap(dyn, 0)
    f = Steps(pair)
    sample = Draw(layout=None, vs=FULLSCREEN_VS, ps=sampling_ps("textureSample(t, s, uv)"), samplers={0: POINT})
    pair.ctx.ps_set_shader_resources(0, [pair.device.create_shader_resource_view(dyn)])
    pair.draw_guest(sample, f.t, f.cache)
    f.direct(Draw(layout=None, vs=sample.vs, ps=sample.ps, samplers={0: POINT}, textures={0: Texture([data])}))
    frame = f.compare(min_colors=60)
    assert {tuple(c) for c in frame.reshape(-1, 4)} == {tuple(c) for c in data.reshape(-1, 4)}
