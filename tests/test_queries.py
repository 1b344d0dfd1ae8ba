"""Queries: event, occlusion (spanning render passes), occlusion predicate, timestamps, and
GetData's polling, with the counts D3D11 would report."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.protocol.enums import ErrorCode

SIZE = 32
VS = "@vertex\nfn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> { return vec4<f32>(p, 0.5, 1.0); }"
PS = "@fragment\nfn ps() -> @location(0) vec4<f32> { return vec4<f32>(1.0, 0.0, 0.0, 1.0); }"
FULL = np.array([[-1, -1], [-1, 1], [1, 1], [-1, -1], [1, 1], [1, -1]], np.float32)
HALF = np.array([[-1, -1], [-1, 1], [0, 1], [-1, -1], [0, 1], [0, -1]], np.float32)  # left half


def wait_data(ctx, query):
    deadline = time.monotonic() + 20
    while (value := ctx.get_data(query)) is None:
        assert time.monotonic() < deadline, "GetData never returned the result"
        time.sleep(0.001)
    return value


def setup(device):
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(SIZE, SIZE, bind_flags=g.BindFlag.RENDER_TARGET))
    rtv = device.create_render_target_view(tex)
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, SIZE, SIZE)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("P", 0, g.DxgiFormat.R32G32_FLOAT)]))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader(VS))
    ctx.ps_set_shader(device.create_pixel_shader(PS))
    buffers = {name: device.create_buffer(g.BufferDesc(v.nbytes, g.BindFlag.VERTEX_BUFFER), v)
               for name, v in (("full", FULL), ("half", HALF))}
    return ctx, rtv, buffers


def test_occlusion_counts_samples_across_passes(device):
    ctx, rtv, vb = setup(device)
    query = device.create_query(g.QueryType.OCCLUSION)
    ctx.begin(query)
    ctx.ia_set_vertex_buffers(0, [vb["half"]], [8])
    ctx.draw(6)
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))  # ends the pass: the query continues in the next
    ctx.ia_set_vertex_buffers(0, [vb["full"]], [8])
    ctx.draw(6)
    ctx.end(query)
    assert wait_data(ctx, query) == SIZE * SIZE // 2 + SIZE * SIZE


def test_predicate_and_event(device):
    ctx, rtv, vb = setup(device)
    hidden = device.create_query(g.QueryType.OCCLUSION_PREDICATE)
    ctx.rs_set_scissor_rects([g.Rect(0, 0, 0, 0)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE, scissor_enable=True)))
    ctx.begin(hidden)
    ctx.ia_set_vertex_buffers(0, [vb["full"]], [8])
    ctx.draw(6)  # scissored away: nothing passes
    ctx.end(hidden)
    event = device.create_query(g.QueryType.EVENT)
    ctx.end(event)
    visible = device.create_query(g.QueryType.OCCLUSION_PREDICATE)
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.begin(visible)
    ctx.draw(6)
    ctx.end(visible)
    assert wait_data(ctx, event) is True
    assert wait_data(ctx, hidden) is False
    assert wait_data(ctx, visible) is True


def test_get_data_polls_without_blocking(device):
    ctx, rtv, vb = setup(device)
    event = device.create_query(g.QueryType.EVENT)
    with pytest.raises(Exception, match="before its End"):
        ctx.get_data(event)
    ctx.end(event)
    first = ctx.get_data(event, 0x1)  # DONOTFLUSH: nothing published yet, so not ready
    assert first is None
    assert wait_data(ctx, event) is True


def test_timestamps_are_ordered_and_disjoint_query_gives_the_frequency(device):
    ctx, rtv, vb = setup(device)
    if not device.connection.accepted_features & g.Feature.TIMESTAMP_QUERIES:
        device.create_query(g.QueryType.TIMESTAMP)
        device.connection.kick()
        device.connection.wait_fence(device.connection.fence())
        (entry,) = device.host_errors()
        assert entry.code == ErrorCode.UNSUPPORTED
        return
    disjoint = device.create_query(g.QueryType.TIMESTAMP_DISJOINT)
    start, stop = device.create_query(g.QueryType.TIMESTAMP), device.create_query(g.QueryType.TIMESTAMP)
    ctx.begin(disjoint)
    ctx.end(start)
    ctx.ia_set_vertex_buffers(0, [vb["full"]], [8])
    ctx.draw_instanced(6, 200, 0, 0)
    ctx.end(stop)
    ctx.end(disjoint)
    t0, t1 = wait_data(ctx, start), wait_data(ctx, stop)
    assert 0 < t0 < t1
    assert wait_data(ctx, disjoint) == (1_000_000_000, False)


def test_query_misuse_is_refused(device):
    ctx, rtv, vb = setup(device)
    event = device.create_query(g.QueryType.EVENT)
    ctx.begin(event)  # Begin is not for events
    a, b = device.create_query(g.QueryType.OCCLUSION), device.create_query(g.QueryType.OCCLUSION)
    ctx.begin(a)
    ctx.begin(b)  # a second active occlusion query
    c, d = device.create_query(g.QueryType.PIPELINE_STATISTICS), device.create_query(g.QueryType.PIPELINE_STATISTICS)
    ctx.begin(c)
    ctx.begin(d)  # a second active pipeline-statistics query
    device.connection.kick()
    device.connection.wait_fence(device.connection.fence())
    codes = [e.code for e in device.host_errors()]
    assert codes == [ErrorCode.INVALID_CALL, ErrorCode.UNSUPPORTED, ErrorCode.UNSUPPORTED]


def test_results_survive_later_uploads(device):
    """A result stays readable after its heap space is reused by later uploads."""
    ctx, rtv, vb = setup(device)
    query = device.create_query(g.QueryType.OCCLUSION)
    ctx.begin(query)
    ctx.ia_set_vertex_buffers(0, [vb["full"]], [8])
    ctx.draw(6)
    ctx.end(query)
    device.connection.finish()
    for _ in range(64):  # fill the heap round and round with other data
        device.create_buffer(g.BufferDesc(1 << 16, g.BindFlag.VERTEX_BUFFER), np.full(1 << 16, 0xAB, np.uint8))
        device.connection.finish()
    assert ctx.get_data(query) == SIZE * SIZE


def test_releasing_an_active_query_leaves_queries_working(device):
    ctx, rtv, vb = setup(device)
    doomed = device.create_query(g.QueryType.OCCLUSION)
    ctx.begin(doomed)
    doomed.release()
    fresh = device.create_query(g.QueryType.OCCLUSION)
    ctx.begin(fresh)
    ctx.ia_set_vertex_buffers(0, [vb["half"]], [8])
    ctx.draw(6)
    ctx.end(fresh)
    assert wait_data(ctx, fresh) == SIZE * SIZE // 2
    assert not device.host_errors()


def read_target(device, rtv_texture) -> np.ndarray:
    ctx = device.get_immediate_context()
    staging = device.create_texture2d(g.Texture2DDesc(SIZE, SIZE, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, rtv_texture)
    mapped = ctx.map(staging, 0, g.MapType.READ)
    data = mapped.data.reshape(SIZE, SIZE, 4).copy()
    ctx.unmap(staging, 0)
    return data


def test_set_predication_skips_rendering_while_the_predicate_holds(device):
    """SetPredication(p, value): draws, clears and copies are skipped while p's result equals
    value (D3D11), and run again once predication is off."""
    ctx, rtv, vb = setup(device)
    ctx.ia_set_vertex_buffers(0, [vb["half"]], [8])
    visible, hidden = device.create_predicate(), device.create_predicate()
    ctx.begin(visible)
    ctx.draw(6)
    ctx.end(visible)
    ctx.clear_render_target_view(rtv, (0, 0, 1, 1))
    ctx.rs_set_scissor_rects([g.Rect(0, 0, 0, 0)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE, scissor_enable=True)))
    ctx.begin(hidden)
    ctx.draw(6)  # scissored away: the predicate's result is FALSE
    ctx.end(hidden)
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    texture = rtv.resource

    ctx.set_predication(visible, True)  # visible is TRUE: skipped
    ctx.clear_render_target_view(rtv, (0, 1, 0, 1))
    ctx.ia_set_vertex_buffers(0, [vb["full"]], [8])
    ctx.draw(6)
    ctx.set_predication(hidden, True)  # hidden is FALSE: runs
    ctx.ia_set_vertex_buffers(0, [vb["half"]], [8])
    ctx.draw(6)
    frame = read_target(device, texture)
    assert (frame[:, :SIZE // 2] == [255, 0, 0, 255]).all()  # the half draw ran
    assert (frame[:, SIZE // 2:] == [0, 0, 255, 255]).all()  # the blue clear stayed: green clear and full draw skipped

    ctx.set_predication(visible, False)  # TRUE != FALSE: runs
    ctx.clear_render_target_view(rtv, (0, 1, 0, 1))
    ctx.set_predication(None)
    assert (read_target(device, texture) == [0, 255, 0, 255]).all()
    assert device.host_errors() == []


def test_set_predication_takes_only_ended_predicates(device):
    ctx, rtv, vb = setup(device)
    occlusion = device.create_query(g.QueryType.OCCLUSION)
    ctx.set_predication(occlusion, True)
    predicate = device.create_predicate()
    ctx.begin(predicate)
    ctx.set_predication(predicate, True)
    ctx.end(predicate)
    with pytest.raises(HostReportedError) as info:
        device.connection.finish()
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 2 and "INVALID_CALL" in lines[0] and "INVALID_CALL" in lines[1]
    assert "takes an OCCLUSION_PREDICATE query" in lines[0] and "between its Begin and End" in lines[1]


def test_pipeline_statistics_match_a_direct_wgpu_query(device, wgpu_device):
    """PIPELINE_STATISTICS over two passes and a dispatch against wgpu's own pipeline
    statistics of the same work."""
    ctx, rtv, vb = setup(device)
    query = device.create_query(g.QueryType.PIPELINE_STATISTICS)
    ctx.begin(query)
    ctx.ia_set_vertex_buffers(0, [vb["half"]], [8])
    ctx.draw(6)
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))  # a second pass
    ctx.ia_set_vertex_buffers(0, [vb["full"]], [8])
    ctx.draw(6)
    ctx.cs_set_shader(device.create_compute_shader("@compute @workgroup_size(64) fn main() {}"))
    ctx.dispatch(3)
    ctx.end(query)
    stats = wait_data(ctx, query)

    import wgpu
    from pvgpu.host.render.queries import STATISTICS
    d = wgpu_device
    qs = d._create_statistics_query_set("reference", 3, list(STATISTICS))
    target = d.create_texture(size=(SIZE, SIZE, 1), format="rgba8unorm", usage=wgpu.TextureUsage.RENDER_ATTACHMENT)
    pipeline = d.create_render_pipeline(
        layout="auto", vertex={"module": d.create_shader_module(code=VS), "entry_point": "vs", "buffers": [
            {"array_stride": 8, "attributes": [{"format": "float32x2", "offset": 0, "shader_location": 0}]}]},
        primitive={"topology": "triangle-list", "cull_mode": "none"},
        fragment={"module": d.create_shader_module(code=PS), "entry_point": "ps",
                  "targets": [{"format": "rgba8unorm"}]})
    compute = d.create_compute_pipeline(layout="auto", compute={"module": d.create_shader_module(
        code="@compute @workgroup_size(64) fn main() {}"), "entry_point": "main"})
    enc = d.create_command_encoder()
    for slot, vertices in enumerate((HALF, FULL)):
        p = enc.begin_render_pass(color_attachments=[{"view": target.create_view(), "load_op": "clear",
                                                      "store_op": "store", "clear_value": (0, 0, 0, 1)}])
        p._begin_pipeline_statistics_query(qs, slot)
        p.set_pipeline(pipeline)
        p.set_vertex_buffer(0, d.create_buffer_with_data(data=vertices.tobytes(), usage=wgpu.BufferUsage.VERTEX))
        p.draw(6)
        p._end_pipeline_statistics_query()
        p.end()
    cp = enc.begin_compute_pass()
    cp._begin_pipeline_statistics_query(qs, 2)
    cp.set_pipeline(compute)
    cp.dispatch_workgroups(3)
    cp._end_pipeline_statistics_query()
    cp.end()
    resolved = d.create_buffer(size=768, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
    for slot in range(3):
        enc.resolve_query_set(qs, slot, 1, resolved, 256 * slot)
    d.queue.submit([enc.finish()])
    raw = np.frombuffer(d.queue.read_buffer(resolved), dtype=np.uint64).reshape(3, 32)[:, :5].sum(axis=0)
    vs, clipped_in, clipped_out, ps, cs = (int(v) for v in raw)
    assert (stats["vs_invocations"], stats["c_invocations"], stats["c_primitives"], stats["ps_invocations"],
            stats["cs_invocations"]) == (vs, clipped_in, clipped_out, ps, cs)
    assert cs == 3 * 64 and ps >= SIZE * SIZE * 3 // 2 and clipped_in == 4
    assert stats["gs_invocations"] == stats["hs_invocations"] == stats["ds_invocations"] == 0
    assert (stats["ia_vertices"], stats["ia_primitives"]) == (12, 4)  # from the draws' own arguments
