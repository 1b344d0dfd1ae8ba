"""Begin/End/GetData of occlusion queries and predicates, compared with wgpu occlusion
query sets around the same draws; SetPredication, compared with wgpu drawing only what D3D11
runs; pipeline-statistics queries, compared with wgpu's pipeline-statistics query sets."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

from . import direct, guest
from .pair import DepthStencil, Draw, Raster, Steps, Target, changed_pixels, draw_instanced, gradient, quad
from .scene import scene

DEPTH = Target(depth=g.DxgiFormat.D32_FLOAT)
LESS = DepthStencil(g.DepthStencilDesc(), {"depth_compare": "less", "depth_write_enabled": True})
OCCLUDER = quad(-0.9, -0.9, 0.2, 0.5, z=0.3, color=(1, 0, 0, 1))
PARTLY_HIDDEN = quad(-0.4, -0.6, 0.8, 0.8, z=[0.1, 0.1, 0.6, 0.6], color=(0, 1, 0, 1))
HIDDEN = quad(-0.7, -0.7, 0.0, 0.3, z=0.6, color=(0, 0, 1, 1))


@scene("Occlusion query (D3D11_QUERY_OCCLUSION): samples passing the depth test")
def test_occlusion_query(pair):
    draws = [Draw(OCCLUDER, depth=LESS), Draw(PARTLY_HIDDEN, depth=LESS, query=g.QueryType.OCCLUSION)]
    r = pair.check(draws, DEPTH)
    (count,) = r.queries
    assert 100 < count < 0.6 * 48 * 32  # some of the quad passes, some is hidden


@scene("Occlusion predicate (D3D11_QUERY_OCCLUSION_PREDICATE): hidden and visible draws")
def test_occlusion_predicate(pair):
    draws = [Draw(OCCLUDER, depth=LESS), Draw(HIDDEN, depth=LESS, query=g.QueryType.OCCLUSION_PREDICATE),
             Draw(PARTLY_HIDDEN, depth=LESS, query=g.QueryType.OCCLUSION_PREDICATE)]
    r = pair.check(draws, DEPTH)
    assert r.queries == [False, True]


@scene("Occlusion query on a 4x multisampled target counts samples")
def test_occlusion_query_msaa(pair):
    draws = [Draw(OCCLUDER, depth=LESS), Draw(PARTLY_HIDDEN, depth=LESS, query=g.QueryType.OCCLUSION)]
    single = pair.check(draws, DEPTH).queries[0]
    (count,) = pair.check(draws, Target(depth=g.DxgiFormat.D32_FLOAT, samples=4)).queries
    assert abs(count - 4 * single) < 0.1 * count


SCISSORED = Raster(g.RasterizerDesc(cull_mode=g.CullMode.NONE, scissor_enable=True),
                   {"cull_mode": "none", "front_face": "cw"})


@scene("SetPredication with an OCCLUSION_PREDICATE whose result is FALSE: skipped for value FALSE, "
       "drawn for value TRUE")
def test_set_predication(pair):
    dev, ctx = pair.device, pair.ctx
    base = Draw(gradient())
    hidden = Draw(quad(-1, -1, 1, 1, color=(1, 1, 1, 1)), raster=SCISSORED, scissor=(0, 0, 0, 0))
    skipped = Draw(quad(-0.9, -0.9, 0.1, 0.8, color=(1, 0, 0, 1)))
    drawn = Draw(quad(-0.3, -0.6, 0.9, 0.9, color=(0, 1, 0, 1)))
    after = Draw(quad(0.5, -0.95, 0.95, 0.2, color=(0, 0, 1, 1)))
    f = Steps(pair)
    f.draw(base)
    predicate = dev.create_predicate()
    ctx.begin(predicate)
    pair.draw_guest(hidden, f.t, f.cache)  # scissored away: no sample passes, the predicate is FALSE
    ctx.end(predicate)
    ctx.set_predication(predicate, False)  # FALSE equals FALSE: the clear and the draw are skipped
    ctx.clear_render_target_view(f.rtv, (1.0, 1.0, 1.0, 1.0))
    pair.draw_guest(skipped, f.t, f.cache)
    ctx.set_predication(predicate, True)  # FALSE differs from TRUE: drawn
    pair.draw_guest(drawn, f.t, f.cache)
    ctx.set_predication(None)
    pair.draw_guest(after, f.t, f.cache)
    f.direct(hidden, drawn, after)  # what D3D11 runs
    frame = f.compare(min_colors=4)
    assert guest.wait_data(ctx, predicate) is False
    everything = pair.run_direct([base, hidden, skipped, drawn, after], Target())[0][0]
    assert changed_pixels(frame, everything) > 100  # the skipped draw would have shown


STATISTICS = ("vertex-shader-invocations", "clipper-invocations", "clipper-primitives-out",
              "fragment-shader-invocations", "compute-shader-invocations")  # wgpu's order when resolved
EMPTY_CS = "@compute @workgroup_size(64)\nfn cs() {}"


@scene("PIPELINE_STATISTICS query over draws in two passes and a Dispatch (D3D11_QUERY_DATA_PIPELINE_STATISTICS)")
def test_pipeline_statistics(pair):
    dev, ctx, d = pair.device, pair.ctx, pair.wgpu
    first = [Draw(gradient(-0.8, -0.9, 0.6, 0.7)), Draw(quad(0.3, -0.5, 1.7, 1.6, color=(1, 0, 1, 1)))]  # clipped
    last = Draw(OCCLUDER, call=draw_instanced(6, 3))  # three instances over the same pixels
    f = Steps(pair)
    query = dev.create_query(g.QueryType.PIPELINE_STATISTICS)
    ctx.begin(query)
    for dr in first:
        pair.draw_guest(dr, f.t, f.cache)
    guest.dispatch(dev, EMPTY_CS, (3,))
    pair.draw_guest(last, f.t, f.cache)
    ctx.end(query)
    stats = guest.wait_data(ctx, query)

    qs = d._create_statistics_query_set("conformance", 3, list(STATISTICS))
    f.direct(*first, statistics=(qs, 0))
    direct.dispatch(d, EMPTY_CS, {}, (3, 1, 1), encoder=f.encoder, statistics=(qs, 1))
    f.direct(last, statistics=(qs, 2))
    resolved = d.create_buffer(size=768, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
    for slot in range(3):
        f.encoder.resolve_query_set(qs, slot, 1, resolved, 256 * slot)
    f.compare(min_colors=4)
    counts = direct.read_buffer(d, resolved, 768).view(np.uint64).reshape(3, 32)[:, :5].sum(axis=0)
    vs, clipper_in, clipper_out, ps, cs = (int(c) for c in counts)
    got = {k: stats[k] for k in ("c_invocations", "c_primitives", "ps_invocations", "cs_invocations")}
    want = {"c_invocations": clipper_in, "c_primitives": clipper_out, "ps_invocations": ps, "cs_invocations": cs}
    assert got == want, f"pvgpu {got}, direct wgpu {want}"
    # Vertex-shader invocations may be fewer than the vertices read (D3D11 allows reuse, and
    # the H100 shades pvgpu's instanced draw 18 times where the direct one took 30), never more.
    assert 0 < stats["vs_invocations"] <= stats["ia_vertices"] and 0 < vs <= stats["ia_vertices"]
    # what D3D11 defines where wgpu has no counter: the input assembler's vertices and
    # triangles (non-indexed draws: 6 + 6 + 3 x 6 vertices), no geometry, hull or domain work
    assert (stats["ia_vertices"], stats["ia_primitives"]) == (30, 10)
    assert stats["gs_invocations"] == stats["gs_primitives"] == stats["hs_invocations"] == \
        stats["ds_invocations"] == 0
    assert cs == 3 * 64 and clipper_in == 10 and ps > 3 * 400  # the work was counted
