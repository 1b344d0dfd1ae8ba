"""A hostile review of replaying re-issued runs (host/replay.py, host/render/capture.py).

A replay may stand in for the records only when it is the same work. Each test drives a scene
through the guest API until its run is learned (first sighting), captured (second) and
replayed (from the third on), then does the one thing under review and checks pixels (or read-back values) against values
known in advance, and from the session's figures that runs really were replayed.

The scene draws a 4x4 grid of cells; each cell's colour is written by Map(WRITE_DISCARD) of a
dynamic constant buffer just before its draw and changes every frame. Colours are small (each
channel below 80/255) so that three runs added by a ONE+ONE blend never saturate.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.host.replay import HEAP_OFFSETS
from pvgpu.protocol import codec

from replay_scene import CB_PS, CELLS, H, VS, W, finish_session, grid as _grid, present_frame

MAP_WRITE_DISCARD = next(op for op, layout in codec.LAYOUTS.items() if layout.name == "MAP_WRITE_DISCARD")

#: the cell colour times a tint read from a second constant buffer (slot 1) the run does not write
TINT_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@group(1) @binding(1) var<uniform> tint: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color * tint.color; }
"""


def _color(cell: int, frame: int, salt: int = 0) -> tuple:
    """A cell's colour in a frame: every channel k/255 with k < 80 (exact in UNORM8)."""
    k = cell * 7 + frame * 13 + salt * 29
    return ((k % 79) / 255, ((k * 3 + 5) % 73) / 255, ((k * 5 + 11) % 71) / 255, 1.0)


def _rgb(color) -> tuple:
    return tuple(int(round(c * 255)) for c in color[:3])


def _cells(frame: np.ndarray) -> list:
    out = []
    for i in range(CELLS):
        x, y = (i % 4) * (W // 4) + W // 8, (i // 4) * (H // 4) + H // 8
        out.append(tuple(int(v) for v in frame[y, x][:3]))
    return out


def _expected(frame: int, salts=(0,), tint=(1, 1, 1)) -> list:
    out = []
    for i in range(CELLS):
        total = np.zeros(3)
        for s in salts:
            total += np.round(np.array(_color(i, frame, s)[:3]) * np.array(tint) * 255)
        out.append(tuple(int(v) for v in total))
    return out


class Scene:
    def __init__(self, host, ps=CB_PS, additive=False):
        self.host = host
        self.device = d = g.connect(host.socket_path, timeout=30)
        self.ctx = d.get_immediate_context()
        self.chain = d.create_swap_chain(g.SwapChainDesc(W, H))
        self.rtv = d.create_render_target_view(self.chain.get_buffer(0))
        grid = _grid()
        self.vb = d.create_buffer(g.BufferDesc(grid.nbytes, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE), grid)
        self.layout = d.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)])
        self.vs = d.create_vertex_shader(VS)
        self.ps = d.create_pixel_shader(ps)
        self.cb = self.dynamic_cb()
        self.raster = d.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE))
        self.ctx.ps_set_constant_buffers(0, [self.cb])
        if additive:
            self.ctx.om_set_blend_state(d.create_blend_state(g.BlendDesc(
                [g.RenderTargetBlendDesc(True, g.Blend.ONE, g.Blend.ONE)])))

    def dynamic_cb(self):
        return self.device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC,
                                                      g.CpuAccessFlag.WRITE))

    def discard(self, cb, values) -> None:
        m = self.ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
        m.data[:] = np.frombuffer(np.array(values, np.float32).tobytes(), np.uint8)
        self.ctx.unmap(cb, 0)

    def boundary(self) -> None:
        """A record that is not replayable: ends a run."""
        self.device.create_sampler_state(g.SamplerDesc())

    def clear(self, color=(0, 0, 0, 0)) -> None:
        self.ctx.om_set_render_targets([self.rtv])
        self.ctx.clear_render_target_view(self.rtv, color)
        self.boundary()

    def prologue(self, viewport=(0, 0, W, H), ps=None) -> None:
        ctx = self.ctx
        ctx.om_set_render_targets([self.rtv])
        ctx.rs_set_viewports([g.Viewport(*viewport)])
        ctx.rs_set_state(self.raster)
        ctx.ia_set_input_layout(self.layout)
        ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
        ctx.ia_set_vertex_buffers(0, [self.vb], [8], [0])
        ctx.vs_set_shader(self.vs)
        ctx.ps_set_shader(ps or self.ps)

    def run(self, frame: int, salt: int = 0) -> None:
        """The run a game re-issues: state, then per cell a discard and a draw (40 records)."""
        self.prologue()
        self.ctx.ps_set_constant_buffers(0, [self.cb])
        for i in range(CELLS):
            self.discard(self.cb, _color(i, frame, salt))
            self.ctx.draw(6, 6 * i)

    def present(self) -> np.ndarray:
        return present_frame(self.host, self.chain)

    def finish(self):
        """Close the guest; the session's final figures."""
        return finish_session(self.host, self.device)


def test_a_capture_does_not_overwrite_a_slab_that_recorded_work_still_reads(host):
    """The same run three times in one recording, added together by the blend state, with an
    object released after the first: the first one is replayed (its draws read the run's slab),
    the second finds the trace stale (the epoch moved) and runs as usual, the third captures the
    run again into the same slab. The capture's constant data must not reach the first run's
    draws, which are not yet submitted (replay() submits first in that case; a capture must too)."""
    s = Scene(host, additive=True)
    d = s.device
    got = []
    for f in range(6):
        s.clear()
        s.run(f, salt=0)
        d.create_sampler_state(g.SamplerDesc()).release()  # an unrelated object goes: the epoch moves
        s.run(f, salt=1)
        s.boundary()
        s.run(f, salt=2)
        got.append(_cells(s.present()))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 4
    bad = [f for f in range(6) if got[f] != _expected(f, salts=(0, 1, 2))]
    assert not bad, f"frames {bad}: first {got[bad[0]][:2]} != {_expected(bad[0], salts=(0, 1, 2))[:2]}"


def _unpublished_records(conn):
    """(ring offset, opcode, size) of each record the guest wrote but has not published yet."""
    w = conn.writer
    pos = w.published
    pos = pos() if callable(pos) else pos
    out = []
    while pos < w.pos:
        off = pos % w.size
        opcode, _flags, size, _seq = codec.HEADER.unpack_from(w.ring, off)
        out.append((off, opcode, size))
        pos += size
    return out


def test_a_constant_buffer_the_run_reads_before_writing_it_from_its_own_slab(host):
    """The run draws cell 0 with constant buffer X before its last record writes X anew, so
    cell 0 shows the value X had before the run: last frame's. In frame 2 an object is released
    first (the captured trace goes stale and the run executes as usual) and the guest's write
    of X names a heap range outside the heap (reported; X keeps frame 1's value, which lives in
    the run's own slab). Frame 3 captures the run again into that slab: X, read by cell 0
    before the run writes it, must count as read from outside the run (capture.py's
    bound_constant_buffer skips buffers living in the capture's own slab), or the capture and
    every later replay show this frame's X in cell 0 instead of the previous one."""
    s = Scene(host)
    d = s.device
    x = s.dynamic_cb()
    x_value = lambda f: _color(0, f, salt=3)  # noqa: E731
    s.discard(x, x_value(-1))
    s.prologue()  # the state the run leaves, so that its state at entry is the same from frame 0 on
    s.boundary()
    shown_x = -1  # the frame whose X value cell 0 must show
    heap_size = len(s.ctx.conn.region.heap)
    got, want = [], []
    for f in range(7):
        if f == 2:
            d.create_sampler_state(g.SamplerDesc()).release()
        s.clear()
        s.prologue()
        s.ctx.ps_set_constant_buffers(0, [x])
        s.ctx.draw(6, 0)
        s.ctx.ps_set_constant_buffers(0, [s.cb])
        for i in range(1, CELLS):
            s.discard(s.cb, _color(i, f))
            s.ctx.draw(6, 6 * i)
        s.discard(x, x_value(f))
        want.append([_rgb(x_value(shown_x))] + _expected(f)[1:])
        if f == 2:
            (off, opcode, _size), = [r for r in _unpublished_records(s.ctx.conn) if r[1] == MAP_WRITE_DISCARD
                                     and struct.unpack_from("<I", s.ctx.conn.writer.ring, r[0] + 16)[0] == x.id]
            struct.pack_into("<Q", s.ctx.conn.writer.ring, off + HEAP_OFFSETS[opcode][0], heap_size - 8)
            with pytest.raises(HostReportedError, match="HEAP_RANGE"):
                s.chain.present()
                s.chain.wait_idle()
            s.chain.wait_idle()  # present() may report the error before its frame is handed on
            (frames,) = host.frames.values()
            got.append(_cells(frames[-1]))
        else:
            got.append(_cells(s.present()))
            shown_x = f
    stats = s.finish()
    assert stats.errors == 1
    # before the run is captured again, what lives in its slab moves back to its own buffers,
    # so the capture sees X as read from outside the run
    assert stats.runs_captured >= 2
    bad = [f for f in range(7) if got[f] != want[f]]
    assert not bad, f"frames {bad}: cell 0 {[got[f][0] for f in bad]} != {[want[f][0] for f in bad]}"


#: samples its texture through a helper's parameter: the host cannot read the layout off the
#: source, so the pipeline's layout is "auto" and constant buffers are bound at fixed offsets
AUTO_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@group(1) @binding(32) var t: texture_2d<f32>;
@group(1) @binding(16) var smp: sampler;
fn fetch(tx: texture_2d<f32>, uv: vec2<f32>) -> vec4<f32> { return textureSample(tx, smp, uv); }
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color * fetch(t, vec2<f32>(0.5, 0.5)); }
"""


def test_a_run_whose_pipeline_has_an_auto_layout(host):
    """Constant buffers of an "auto"-layout pipeline are bound at an offset fixed in the bind
    group: every discard must give the draw a group with the new offset (ordinary execution,
    capture into the slab, replay). Fails from frame 0, before any replay: pipelines.py's
    _bind_group returns the cached group of a non-explicit layout unchanged (ring_cbs is only
    kept for explicit layouts) and uniform_ring._ring_write dirties groups only when a buffer
    changes ring buffer, not offset; capture.py's ring_write stand-in repeats the pattern."""
    s = Scene(host, ps=AUTO_PS)
    d = s.device
    white = d.create_texture2d(g.Texture2DDesc(1, 1), [np.full((1, 1, 4), 255, np.uint8)])
    s.ctx.ps_set_shader_resources(0, [d.create_shader_resource_view(white)])
    s.ctx.ps_set_samplers(0, [d.create_sampler_state(g.SamplerDesc())])
    got = []
    for f in range(6):
        s.clear()
        s.run(f)
        got.append(_cells(s.present()))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 3
    bad = [f for f in range(6) if got[f] != _expected(f)]
    assert not bad, f"frames {bad}: {got[bad[0]][:3]} != {_expected(bad[0])[:3]}"


def test_a_constant_buffer_updated_in_place_between_two_replays_of_one_recording(host):
    """The run reads a tint from a constant buffer it does not write, whose contents live in its
    own backing (a partial UpdateSubresource). The buffer is updated between two replays in one
    recording: the replay must have marked it used by the recording, so that the update waits for
    (submits) the first replay's draws instead of writing under them."""
    s = Scene(host, ps=TINT_PS, additive=True)
    d = s.device
    tint = d.create_buffer(g.BufferDesc(32, g.BindFlag.CONSTANT_BUFFER, g.Usage.DEFAULT),
                           np.ones(8, np.float32))
    s.ctx.ps_set_constant_buffers(1, [tint])
    t1, t2 = (1, 0, 1), (0, 1, 1)

    def set_tint(t):
        s.ctx.update_subresource(tint, 0, g.Box(0, 0, 0, 16, 1, 1), np.array([*t, 1], np.float32))
        s.boundary()

    got = []
    for f in range(6):
        s.clear()
        set_tint(t1)
        s.run(f, salt=0)
        s.boundary()
        set_tint(t2)
        s.run(f, salt=1)
        got.append(_cells(s.present()))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 6
    for f in range(6):
        want = [tuple(a + b for a, b in zip(x, y)) for x, y in zip(_expected(f, (0,), t1), _expected(f, (1,), t2))]
        assert got[f] == want, f"frame {f}"


def test_a_run_reading_a_constant_buffer_another_replayed_run_writes(host):
    """Run B (right half) reads a tint from X, which run A (left half) writes at its end; B comes
    first in the frame, so it shows the tint A wrote last frame. Once both are replayed B reads X
    from A's slab: A's replay later in the same recording must not overwrite what B's draws read."""
    s = Scene(host)
    d = s.device
    tint_ps = d.create_pixel_shader(TINT_PS)
    cb_b = s.dynamic_cb()
    x = s.dynamic_cb()
    tints = [(1, 1, 1), (1, 0, 1), (0, 1, 1), (1, 1, 0)]
    s.discard(x, (*tints[-1], 1))
    s.boundary()
    got = []
    for f in range(9):
        s.clear()
        s.prologue((W // 2, 0, W // 2, H), tint_ps)  # B
        s.ctx.ps_set_constant_buffers(0, [cb_b, x])
        for i in range(CELLS):
            s.discard(cb_b, _color(i, f, salt=1))
            s.ctx.draw(6, 6 * i)
        s.boundary()
        s.prologue((0, 0, W // 2, H))  # A
        s.ctx.ps_set_constant_buffers(0, [s.cb])
        for i in range(CELLS):
            s.discard(s.cb, _color(i, f))
            s.ctx.draw(6, 6 * i)
        s.discard(x, (*tints[f % 4], 1))
        frame = s.present()
        got.append([[tuple(int(v) for v in frame[(i // 4) * 8 + 4, half + (i % 4) * 4 + 2][:3]) for i in range(CELLS)]
                    for half in (0, W // 2)])
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 8
    for f in range(9):
        assert got[f][0] == _expected(f), f"frame {f}, run A"
        assert got[f][1] == _expected(f, (1,), tints[(f - 1) % 4]), f"frame {f}, run B"


def test_a_clear_left_pending_by_a_replayed_run(host):
    """The run ends with a clear of its target that no draw of the run follows: the clear is left
    pending (the next pass's load operation). A replay must leave it pending too: the draw after
    the run shows on the clear colour."""
    s = Scene(host)
    color = (20 / 255, 40 / 255, 60 / 255, 1)
    got = []
    for f in range(6):
        s.run(f)
        s.ctx.clear_render_target_view(s.rtv, color)
        s.boundary()
        s.ctx.draw(6, 0)  # cell 0, with the colour the run wrote last (cell 15's)
        got.append(_cells(s.present()))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 3
    for f in range(6):
        assert got[f] == [_rgb(_color(15, f))] + [_rgb(color)] * (CELLS - 1), f"frame {f}"


def test_a_run_under_predication_and_back(host):
    """SetPredication whose predicate holds skips the run's draws and clears (its discards still
    happen): the run is learned, captured and replayed so, shows nothing, and once predication
    is off again the run draws (the predicate is part of the state at entry)."""
    s = Scene(host)
    d = s.device
    predicate = d.create_query(g.QueryType.OCCLUSION_PREDICATE)
    got = []
    for f in range(12):
        if f == 5:
            s.ctx.begin(predicate)
            s.ctx.end(predicate)  # no draw: 0 samples
            s.ctx.set_predication(predicate, False)  # holds: rendering is skipped
        if f == 9:
            s.ctx.set_predication(None)
        s.clear()
        s.run(f)
        got.append(_cells(s.present()))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 6
    for f in range(12):
        want = _expected(4 if 5 <= f < 9 else f)  # skipped clears and draws leave frame 4's picture
        assert got[f] == want, f"frame {f}"


def test_constants_written_by_update_subresource_are_replayed(host):
    """A DEFAULT constant buffer written whole by UpdateSubresource (predicated, unlike Map) in
    the run: its constants reach the slab like a discard's."""
    s = Scene(host)
    d = s.device
    cb = d.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DEFAULT))
    got = []
    for f in range(6):
        s.clear()
        s.prologue()
        s.ctx.ps_set_constant_buffers(0, [cb])
        for i in range(CELLS):
            s.ctx.update_subresource(cb, 0, None, np.array(_color(i, f), np.float32))
            s.ctx.draw(6, 6 * i)
        got.append(_cells(s.present()))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 3
    for f in range(6):
        assert got[f] == _expected(f), f"frame {f}"


def test_the_replayer_lets_the_guests_region_be_unmapped_when_the_session_ends(tmp_path, caplog):
    """Session.close drops every view of the guest's region so that it can be unmapped; the
    replayer's numpy view of the heap (Replayer._heap_np) must go too, or the region of every
    ended session stays mapped (here: in-process sessions, whose records the service keeps)."""
    from pvgpu.host.service import HostService

    with HostService(str(tmp_path / "h.sock"), region_size=32 << 20, isolation="thread") as service:
        d = g.connect(service.socket_path, timeout=30)
        chain = d.create_swap_chain(g.SwapChainDesc(W, H))
        ctx = d.get_immediate_context()
        ctx.om_set_render_targets([d.create_render_target_view(chain.get_buffer(0))])
        chain.present()
        chain.wait_idle()
        (record,) = service.sessions.values()
        assert record.session.replayer is not None
        with caplog.at_level("WARNING", logger="pvgpu"):
            d.close()
            assert record.ended.wait(30)
        assert not [r for r in caplog.records if "still has views" in r.getMessage()]



def test_traces_learned_for_other_states_at_entry_count_against_the_limit(tmp_path):
    """A session keeps at most MAX_TRACES traces (and MAX_TEMPLATE_BYTES of templates). A trace
    learned beside others for another state at entry (Trace.fork in Replayer.visit) must count
    too, but forks are added without the eviction Replayer._store does: MAX_TRACES // MAX_PER_KEY
    + 1 runs, each replayed, then each seen with MAX_PER_KEY - 1 more states at entry, leave
    more than MAX_TRACES traces (each fork allocates a scratch as large as its template and
    adds it to template_bytes, which nothing brings back under MAX_TEMPLATE_BYTES until the
    next run is learned)."""
    from pvgpu.host import replay as R
    from pvgpu.host.service import HostService

    with HostService(str(tmp_path / "h.sock"), region_size=32 << 20, isolation="thread") as service:
        d = g.connect(service.socket_path, timeout=30)
        ctx = d.get_immediate_context()

        def run(key: int, variant: int) -> None:
            ctx.rs_set_scissor_rects([g.Rect(variant, 0, W, H)])  # the state at entry
            ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
            ctx.flush()
            ctx.rs_set_viewports([g.Viewport(key, 0, W, H)])  # the run: 32 setters, its first one its own
            for _ in range(R.MIN_RECORDS - 1):
                ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
            ctx.flush()

        keys = R.MAX_TRACES // R.MAX_PER_KEY + 1
        for key in range(keys):
            for _ in range(3):  # learned, captured, replayed
                run(key, 0)
        for key in range(keys):
            for variant in range(1, R.MAX_PER_KEY):
                run(key, variant)
        d.connection.finish()
        (record,) = service.sessions.values()
        replayer = record.session.replayer
        assert replayer.replays >= keys
        assert sum(len(v) for v in replayer.traces.values()) <= R.MAX_TRACES
        d.close()
        assert record.ended.wait(30)


def test_draws_after_a_replayed_run_continue_with_the_state_it_left(host):
    """After a replay the renderer's state and its open pass are the run's: a draw right after
    the run (no setter between) goes into the replayed pass with the run's scissor rectangle
    and constant data (the last cell's colour), over the left half of cell 0 only."""
    s = Scene(host)
    d = s.device
    s.raster = d.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE, scissor_enable=True))
    got = []
    for f in range(6):
        s.clear()
        s.ctx.rs_set_scissor_rects([g.Rect(0, 0, W, H)])  # joins the run
        s.run(f)
        s.ctx.rs_set_scissor_rects([g.Rect(0, 0, W // 8, H // 4)])  # joins the run: left half of cell 0
        s.boundary()
        s.ctx.draw(6, 0)
        frame = s.present()
        got.append((tuple(int(v) for v in frame[H // 8, W // 16][:3]), _cells(frame)))
    stats = s.finish()
    assert stats.errors == 0
    assert stats.runs_replayed >= 3
    for f in range(6):
        assert got[f] == (_rgb(_color(15, f)), _expected(f)), f"frame {f}"


CS = """
struct K { value: vec4<u32> };
@group(2) @binding(0) var<uniform> k: K;
@group(2) @binding(160) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = out[id.x] + k.value.x; }
"""


def test_a_dispatch_after_a_replayed_run_of_dispatches(host):
    """A replay leaves its compute pass open: the dispatch right after the run (outside it) goes
    into that pass with the run's state, and every buffer holds the sum of what was added."""
    d = g.connect(host.socket_path, timeout=30)
    ctx = d.get_immediate_context()
    structured = dict(misc_flags=g.ResourceMiscFlag.BUFFER_STRUCTURED, structure_byte_stride=4)
    buffers = [d.create_buffer(g.BufferDesc(256, g.BindFlag.UNORDERED_ACCESS, **structured)) for _ in range(2)]
    uavs = [d.create_unordered_access_view(b) for b in buffers]
    staging = d.create_buffer(g.BufferDesc(256, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    cb = d.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.cs_set_shader(d.create_compute_shader(CS))
    ctx.cs_set_constant_buffers(0, [cb])

    def add(value: int) -> None:
        m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
        m.data[:] = np.frombuffer(np.array([value, 0, 0, 0], np.uint32).tobytes(), np.uint8)
        ctx.unmap(cb, 0)

    want = [0, 0]
    for batch in range(6):
        for i in range(16):
            add(batch * 100 + i)
            ctx.cs_set_unordered_access_views(0, [uavs[i % 2]])
            ctx.dispatch(1)
            want[i % 2] += batch * 100 + i
        d.create_sampler_state(g.SamplerDesc())  # ends the run; the pass stays open
        ctx.dispatch(1)  # uavs[1], the last value again
        want[1] += batch * 100 + 15
        d.create_sampler_state(g.SamplerDesc())
        for k in range(2):
            ctx.copy_resource(staging, buffers[k])
            m = ctx.map(staging, 0, g.MapType.READ)
            got = np.frombuffer(bytes(m.data), np.uint32)
            ctx.unmap(staging, 0)
            assert (got == want[k]).all(), f"batch {batch}, buffer {k}: {got[:4]} != {want[k]}"
    d.close()
    (record,) = host.sessions.values()
    assert record.ended.wait(30)
    assert record.stats.runs_replayed >= 3
    assert record.stats.errors == 0


def test_slabs_of_dropped_runs_are_not_kept_alive_by_their_constant_buffers(tmp_path):
    """The captured runs' constant memory is bounded per session (MAX_SESSION_SLAB_BYTES): older
    runs are dropped to make room. But a constant buffer the dropped run wrote still lives in its
    slab (Buffer.ring, ring_slab), which keeps the slab's GPU buffer and CPU stage alive, uncounted:
    one 64 KiB constant buffer, written 63 times by a run, pins 4 MiB of GPU memory and 4 MiB of
    host memory. Runs over fresh buffers never touched again must not pin more than the bound."""
    from pvgpu.host import replay as R
    from pvgpu.host.render import capture as C
    from pvgpu.host.service import HostService

    size = 64 << 10
    writes = R.MAX_SLAB_BYTES // size - 1
    runs = R.MAX_SESSION_SLAB_BYTES // R.MAX_SLAB_BYTES + 5
    with HostService(str(tmp_path / "h.sock"), region_size=96 << 20, isolation="thread") as service:
        d = g.connect(service.socket_path, timeout=30)
        ctx = d.get_immediate_context()
        data = np.zeros(size, np.uint8)
        for _ in range(runs):
            cb = d.create_buffer(g.BufferDesc(size, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC,
                                              g.CpuAccessFlag.WRITE))
            for _sighting in range(2):  # learned, captured
                for _ in range(writes):
                    m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
                    m.data[:] = data
                    ctx.unmap(cb, 0)
                ctx.flush()
        d.connection.finish()
        (record,) = service.sessions.values()
        replayer = record.session.replayer
        assert replayer.captures > R.MAX_SESSION_SLAB_BYTES // R.MAX_SLAB_BYTES  # more than fit
        held = {id(t.slab): t.slab for lst in replayer.traces.values() for t in lst if t.slab is not None}
        for entry in record.session.objects.entries.values():  # the guest's constant buffers
            slab = getattr(entry.obj, "ring_slab", None)
            if isinstance(slab, C.Slab):
                held[id(slab)] = slab
        alive = sum(slab.size for slab in held.values())
        assert alive <= R.MAX_SESSION_SLAB_BYTES, f"{alive >> 20} MiB of slabs alive"
        d.close()
        assert record.ended.wait(30)
