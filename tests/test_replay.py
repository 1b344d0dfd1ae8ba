"""Runs of commands re-issued frame after frame are captured and replayed (host/replay.py,
host/render/capture.py), and a replay never serves stale state (issue 9).

Each scene draws a 4x4 grid of cells, every cell's colour written the D3D11 way by
Map(WRITE_DISCARD) of a dynamic constant buffer just before its draw, and changing every
frame; the expected colour of every cell is known, so each frame is checked exactly. Every
test also checks, from the session's figures, that runs were replayed, so the checks ran
against replays and not only against ordinary execution. The stale-state tests change one thing a
captured run depends on between frames (an object destroyed and its id reused, a backing
renamed by a discard, a state object recreated, a bound view replaced, a resize) and
would show the old picture if the replay missed it."""

from __future__ import annotations

import struct
from collections import defaultdict

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.replay import HEAP_OFFSETS
from pvgpu.host.service import HostService
from pvgpu.protocol import codec
from pvgpu.protocol.enums import ColorWriteFlag

from replay_scene import CB_PS, CELLS, H, VS, W, finish_session, grid as _grid, present_frame

MAP_WRITE_DISCARD = next(op for op, layout in codec.LAYOUTS.items() if layout.name == "MAP_WRITE_DISCARD")

TEX_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@group(1) @binding(32) var t: texture_2d<f32>;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color * textureLoad(t, vec2<i32>(0, 0), 0); }
"""


def _color(cell: int, frame: int, salt: int = 0) -> tuple:
    """A cell's colour in a frame, exact in 8-bit UNORM."""
    k = cell * 37 + frame * 11 + salt * 101
    return ((k % 251) / 255, ((k * 3) % 241) / 255, ((k * 7) % 239) / 255, 1.0)


def _rgba(color) -> tuple:
    return tuple(int(round(c * 255)) for c in color)


def _cell_pixels(frame: np.ndarray, cells=range(CELLS)) -> list:
    out = []
    for i in cells:
        x, y = (i % 4) * (W // 4) + W // 8, (i // 4) * (H // 4) + H // 8
        out.append(tuple(int(v) for v in frame[y, x]))
    return out


class Scene:
    def __init__(self, host, ps=CB_PS, vb_usage=g.Usage.IMMUTABLE):
        self.host = host
        self.device = d = g.connect(host.socket_path, timeout=30)
        self.ctx = d.get_immediate_context()
        self.chain = d.create_swap_chain(g.SwapChainDesc(W, H))
        self.rtv = d.create_render_target_view(self.chain.get_buffer(0))
        grid = _grid()
        dynamic = vb_usage == g.Usage.DYNAMIC
        self.vb = d.create_buffer(g.BufferDesc(grid.nbytes, g.BindFlag.VERTEX_BUFFER, vb_usage,
                                               g.CpuAccessFlag.WRITE if dynamic else 0), None if dynamic else grid)
        if dynamic:
            self.write_vertices(grid)
        self.layout = d.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)])
        self.vs = d.create_vertex_shader(VS)
        self.ps = d.create_pixel_shader(ps)
        self.cb = d.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
        self.raster = d.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE))
        self.ctx.ps_set_constant_buffers(0, [self.cb])

    def write_vertices(self, verts: np.ndarray) -> None:
        m = self.ctx.map(self.vb, 0, g.MapType.WRITE_DISCARD)
        m.data[:] = verts.view(np.uint8).ravel()
        self.ctx.unmap(self.vb, 0)

    def run(self, frame: int, salt: int = 0, clear: bool = True) -> None:
        """The run a game re-issues: targets, state, and per cell a discard and a draw (37 records)."""
        ctx = self.ctx
        ctx.om_set_render_targets([self.rtv])
        if clear:
            ctx.clear_render_target_view(self.rtv, (0, 0, 0, 1))
        ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
        ctx.rs_set_state(self.raster)
        ctx.ia_set_input_layout(self.layout)
        ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
        ctx.ia_set_vertex_buffers(0, [self.vb], [8], [0])
        ctx.vs_set_shader(self.vs)
        ctx.ps_set_shader(self.ps)
        for i in range(CELLS):
            m = ctx.map(self.cb, 0, g.MapType.WRITE_DISCARD)
            m.data[:] = np.frombuffer(np.array(_color(i, frame, salt), np.float32).tobytes(), np.uint8)
            ctx.unmap(self.cb, 0)
            ctx.draw(6, 6 * i)

    def present(self) -> np.ndarray:
        return present_frame(self.host, self.chain)

    def finish(self):
        """Close the guest; the session's final figures."""
        return finish_session(self.host, self.device)


def _expected(frame: int, salt: int = 0, tint=(1, 1, 1, 1)) -> list:
    return [_rgba(np.array(_color(i, frame, salt)) * np.array(tint)) for i in range(CELLS)]


def test_a_repeated_run_is_replayed_with_each_frames_constants(host):
    s = Scene(host)
    for f in range(8):
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f), f"frame {f}"
    stats = s.finish()
    assert stats.runs_captured >= 1
    assert stats.runs_replayed >= 5  # learned, captured, then replayed
    assert stats.commands_replayed >= 5 * 37
    assert stats.errors == 0


def test_the_same_run_twice_in_one_recording_keeps_each_ones_constants(host):
    """Two identical runs (their constants aside) in one recording, added together by the
    blend state: the second replay writes the run's constant memory again before the first
    one's draws ran on the GPU, so it must submit in between, or the picture shows twice the
    second run's colours."""
    s = Scene(host)
    d = s.device
    s.ctx.om_set_blend_state(d.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, g.Blend.ONE, g.Blend.ONE)])))
    for f in range(6):
        s.ctx.om_set_render_targets([s.rtv])
        s.ctx.clear_render_target_view(s.rtv, (0, 0, 0, 0))
        d.create_sampler_state(g.SamplerDesc())  # boundaries between the runs
        s.run(f, salt=0, clear=False)
        d.create_sampler_state(g.SamplerDesc())
        s.run(f, salt=1, clear=False)
        got = _cell_pixels(s.present())
        want = [tuple(min(255, a + b) for a, b in zip(x, y)) for x, y in zip(_expected(f, 0), _expected(f, 1))]
        assert [p[:3] for p in got] == [w[:3] for w in want], f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 6


def _flipped(grid: np.ndarray) -> np.ndarray:
    """The grid with its rows in reverse order (cell i drawn where cell 12 - 4 * (i // 4) + i % 4 was)."""
    return grid * np.array([1, -1], np.float32)


def test_a_vertex_buffer_renamed_by_a_discard_between_two_runs(host):
    """A run's bundles bind the vertex buffer's backing; a discard of a buffer the recording
    already used gives it a new backing. The grid alternates between upright and flipped every
    frame, so a replay that kept an old backing would draw last frame's arrangement."""
    s = Scene(host, vb_usage=g.Usage.DYNAMIC)
    d = s.device
    half = _grid() * np.array([0.5, 1], np.float32)
    for f in range(6):
        flip = f % 2
        left = (_flipped(half) if flip else half) - np.array([0.5, 0], np.float32)
        d.create_sampler_state(g.SamplerDesc())
        s.write_vertices(left)
        d.create_sampler_state(g.SamplerDesc())
        s.run(f)
        d.create_sampler_state(g.SamplerDesc())
        s.write_vertices(left + np.array([1, 0], np.float32))  # the recording used the buffer: a rename
        d.create_sampler_state(g.SamplerDesc())
        s.run(f, clear=False)
        frame = s.present()
        want = _expected(f)
        for half_x in (0, W // 2):
            for c, r in ((0, 0), (1, 2), (3, 3)):
                cell = (3 - r if flip else r) * 4 + c
                x, y = half_x + c * (W // 8) + W // 16, r * (H // 4) + H // 8
                assert tuple(frame[y, x]) == want[cell], f"frame {f}, cell {cell}"
    s.finish()


def test_a_destroyed_view_whose_id_is_reused(host):
    s = Scene(host, ps=TEX_PS)
    d = s.device

    def texture(color):
        texel = (np.array(color, np.float32) * 255).astype(np.uint8).reshape(1, 1, 4)
        return d.create_texture2d(g.Texture2DDesc(1, 1), [texel])

    view = d.create_shader_resource_view(texture((1, 1, 1, 1)))
    magenta = texture((1, 0, 1, 1))
    tint = (1, 1, 1, 1)
    for f in range(10):
        if f == 5:
            old = view.id
            view.release()
            view = d.create_shader_resource_view(magenta)
            assert view.id == old
            tint = (1, 0, 1, 1)
        s.ctx.ps_set_shader_resources(0, [view])
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f, tint=tint), f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 4


def test_a_state_object_recreated_under_the_same_id(host):
    s = Scene(host)
    d = s.device
    blend = d.create_blend_state(g.BlendDesc())
    tint = (1, 1, 1, 1)
    for f in range(10):
        if f == 5:
            old = blend.id
            blend.release()
            blend = d.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(
                render_target_write_mask=ColorWriteFlag.RED | ColorWriteFlag.ALPHA)]))
            assert blend.id == old
            tint = (1, 0, 0, 1)
        s.ctx.om_set_blend_state(blend)
        d.create_sampler_state(g.SamplerDesc())  # a boundary: the blend state is state at the run's entry
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f, tint=tint), f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 4


def test_a_bound_view_replaced_outside_the_run(host):
    """The run reads a shader resource it does not bind: which one is state at its entry."""
    s = Scene(host, ps=TEX_PS)
    d = s.device
    views, tints = [], [(1, 1, 1, 1), (0, 1, 1, 1), (1, 1, 0, 1)]
    for tint in tints:
        texel = (np.array(tint, np.float32) * 255).astype(np.uint8).reshape(1, 1, 4)
        views.append(d.create_shader_resource_view(d.create_texture2d(g.Texture2DDesc(1, 1), [texel])))
    for f in range(12):
        k = (f // 4) % 3  # four frames on one view, then the next
        s.ctx.ps_set_shader_resources(0, [views[k]])
        d.create_sampler_state(g.SamplerDesc())  # a boundary: the binding is not part of the run
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f, tint=tints[k]), f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 3


def test_a_texture_updated_between_replays_is_read_anew(host):
    """Updating contents keeps the texture (the replay stays valid) and the replay reads them."""
    s = Scene(host, ps=TEX_PS)
    d = s.device
    tex = d.create_texture2d(g.Texture2DDesc(1, 1), [np.full((1, 1, 4), 255, np.uint8)])
    s.ctx.ps_set_shader_resources(0, [d.create_shader_resource_view(tex)])
    for f in range(8):
        tint = (1, 1, 1, 1) if f % 2 == 0 else (0, 1, 0, 1)
        s.ctx.update_subresource(tex, 0, None, (np.array(tint) * 255).astype(np.uint8).reshape(1, 1, 4))
        s.device.create_sampler_state(g.SamplerDesc())
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f, tint=tint), f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 4


def test_a_resize_between_replays(host):
    s = Scene(host)
    for f in range(10):
        if f == 5:
            s.ctx.om_set_render_targets([])
            s.rtv.release()
            s.chain.resize_buffers(0, W, H)
            s.rtv = s.device.create_render_target_view(s.chain.get_buffer(0))
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f), f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 4


def test_a_heap_range_outside_the_heap_in_a_replayed_run_is_reported(host):
    """A captured run whose heap offsets point outside the heap is not replayed: its records
    run the usual way, the bad one is reported and the rest of the frame is drawn."""
    s = Scene(host)
    for f in range(5):
        s.run(f)
        s.present()
    s.run(5)
    # The guest's unpublished records: point the first discard's heap range past the heap's end.
    w = s.ctx.conn.writer
    pos, heap_size = w.published, len(s.ctx.conn.region.heap)
    while pos < w.pos:
        off = pos % w.size
        opcode, _flags, size, _seq = codec.HEADER.unpack_from(w.ring, off)
        if opcode == MAP_WRITE_DISCARD:
            struct.pack_into("<Q", w.ring, off + HEAP_OFFSETS[opcode][0], heap_size - 8)
            break
        pos += size
    else:
        raise AssertionError("no Map(WRITE_DISCARD) record found")
    with pytest.raises(HostReportedError, match="HEAP_RANGE"):
        s.chain.present()
        s.chain.wait_idle()
    s.chain.wait_idle()  # present() may report the error before its frame is handed on
    (frames,) = host.frames.values()
    got = _cell_pixels(frames[-1])
    want = _expected(5)
    # the corrupted cell (the first whose record was not yet published: cell 0 unless the guest
    # published part of the frame early) drew with the buffer's previous contents; all others drew
    assert sum(g != w for g, w in zip(got, want)) <= 1
    s.run(6)
    assert _cell_pixels(s.present()) == _expected(6)
    stats = s.finish()
    assert stats.errors == 1
    assert stats.runs_replayed >= 2


def _fill_tails(conn, value: int = 0xA5) -> int:
    """Overwrite the bytes after each unpublished record's last field (up to its 16-byte boundary)
    with `value`, as a guest that does not clear them leaves an earlier lap of the ring there;
    returns how many records had such bytes."""
    w = conn.writer
    pos = w.published
    pos = pos() if callable(pos) else pos
    filled = 0
    while pos < w.pos:
        off = pos % w.size
        opcode, _flags, size, _seq = codec.HEADER.unpack_from(w.ring, off)
        layout = codec.LAYOUTS[opcode]
        used = codec.HEADER_SIZE + layout.fixed_size
        if layout.element is not None and opcode != 0:
            count = layout.struct.unpack_from(w.ring, off)[4 + layout.count_index] if not layout.has_pads else \
                layout.wire_to_values(layout.struct.unpack_from(w.ring, off)[4:])[layout.count_index]
            used += count * layout.element.size
        if opcode != 0 and used < size:
            w.ring[off + used:off + size] = bytes([value]) * (size - used)
            filled += 1
        pos += size
    return filled


def test_bytes_after_a_records_fields_are_not_compared(host):
    """The guest need not write the bytes between a record's last field and its 16-byte end;
    after the ring's first lap they hold old records. A run must still be recognised."""
    s = Scene(host)
    for f in range(8):
        s.run(f)
        if f >= 4:
            assert _fill_tails(s.ctx.conn, 0x11 * f) > 0
        assert _cell_pixels(s.present()) == _expected(f), f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed >= 5


CS = """
struct K { value: vec4<u32> };
@group(2) @binding(0) var<uniform> k: K;
@group(2) @binding(160) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = out[id.x] + k.value.x + id.x; }
"""


def test_a_repeated_run_of_dispatches_is_replayed(host):
    """Compute work replays too (WebGPU has no compute bundles: the recorded calls are made
    again): 16 dispatches a batch over 4 buffers, each adding its constant (written by
    Map(WRITE_DISCARD), new every batch) to every element; the buffers are read back after each
    batch and checked against the sums."""
    d = g.connect(host.socket_path, timeout=30)
    ctx = d.get_immediate_context()
    structured = dict(misc_flags=g.ResourceMiscFlag.BUFFER_STRUCTURED, structure_byte_stride=4)
    buffers = [d.create_buffer(g.BufferDesc(256, g.BindFlag.UNORDERED_ACCESS, **structured)) for _ in range(4)]
    uavs = [d.create_unordered_access_view(b) for b in buffers]
    staging = d.create_buffer(g.BufferDesc(256, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    cb = d.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.cs_set_shader(d.create_compute_shader(CS))
    ctx.cs_set_constant_buffers(0, [cb])
    want = np.zeros((4, 64), np.int64)
    for batch in range(8):
        for i in range(16):
            value = batch * 100 + i
            m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
            m.data[:] = np.frombuffer(np.array([value, 0, 0, 0], np.uint32).tobytes(), np.uint8)
            ctx.unmap(cb, 0)
            ctx.cs_set_unordered_access_views(0, [uavs[i % 4]])
            ctx.dispatch(1)
            want[i % 4] += value + np.arange(64)
        d.create_sampler_state(g.SamplerDesc())  # ends the run
        for k in range(4):
            ctx.copy_resource(staging, buffers[k])
            m = ctx.map(staging, 0, g.MapType.READ)
            got = np.frombuffer(bytes(m.data), np.uint32)
            ctx.unmap(staging, 0)
            assert (got == want[k] % (1 << 32)).all(), f"batch {batch}, buffer {k}"
    stats = finish_session(host, d)
    assert stats.runs_replayed >= 4
    assert stats.errors == 0


def test_a_run_inside_an_occlusion_query_is_counted(host):
    """A query running at a run's entry changes what its draws must do (count samples): the
    run is not replayed then, and the query sees every sample."""
    s = Scene(host)
    for f in range(5):
        s.run(f)
        s.present()
    query = s.device.create_query(g.QueryType.OCCLUSION)
    s.ctx.begin(query)
    s.run(5)
    s.ctx.end(query)
    frame = s.present()
    assert _cell_pixels(frame) == _expected(5)
    result = None
    for _ in range(200):
        result = s.ctx.get_data(query)
        if result is not None:
            break
        s.chain.wait_idle()
    assert result == W * H  # 16 cells of 8x8 samples
    s.run(6)
    assert _cell_pixels(s.present()) == _expected(6)
    stats = s.finish()
    assert stats.runs_replayed >= 3


def test_runs_that_never_repeat_are_not_all_learned(host):
    """A scene that changes every frame (here the viewport's depth range) gives nothing to
    replay; after a few fruitless templates the host learns only now and then."""
    s = Scene(host)
    frames = 48
    for f in range(frames):
        s.run(f)
        s.ctx.rs_set_viewports([g.Viewport(0, 0, W, H, min_depth=f / 1000)])  # joins the run: unique bytes
        s.ctx.draw(6, 0)
        assert _cell_pixels(s.present())[1:] == _expected(f)[1:], f"frame {f}"
    stats = s.finish()
    assert stats.runs_replayed == 0
    assert stats.runs_learned <= 16 + frames // 16 + 1


def test_captured_runs_constant_memory_is_bounded(tmp_path):
    """A guest that makes many distinct runs, each discarding a 64 KiB constant buffer 64 times
    (4 MiB of constant memory per captured run), cannot make the host hold more than
    MAX_SESSION_SLAB_BYTES of it: the least recently used runs are dropped. (A region large
    enough that the guest's heap never waits for room in the middle of a run.)"""
    from pvgpu.host.replay import MAX_SESSION_SLAB_BYTES
    frames = defaultdict(list)
    host = HostService(str(tmp_path / "host.sock"), region_size=192 << 20,
                       presenters=[FrameCallback(lambda sid, f: frames[sid].append(f.pixels.copy()))])
    host.frames = frames
    host.start()
    try:
        _bounded(host, MAX_SESSION_SLAB_BYTES)
    finally:
        host.stop()


def _bounded(host, limit: int) -> None:
    s = Scene(host)
    d, ctx = s.device, s.ctx
    big = d.create_buffer(g.BufferDesc(64 << 10, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    data = np.zeros(64 << 10, np.uint8)
    s.run(0)  # shaders, layout, vertex buffer, rasterizer state
    s.present()
    for rnd in range(3):
        for k in range(10):  # ten runs, told apart by their first record: a viewport's depth range
            ctx.rs_set_viewports([g.Viewport(0, 0, W, H, min_depth=k / 100)])
            ctx.om_set_render_targets([s.rtv])
            ctx.ps_set_constant_buffers(0, [big])
            for i in range(64):
                m = ctx.map(big, 0, g.MapType.WRITE_DISCARD)
                m.data[:] = data
                ctx.unmap(big, 0)
                ctx.draw(6, 0)
            d.create_sampler_state(g.SamplerDesc())  # ends the run
        s.chain.present()
        s.chain.wait_idle()
    stats = s.finish()
    assert stats.runs_captured >= 8
    assert 0 < stats.replay_slab_bytes <= limit
    assert stats.errors == 0
