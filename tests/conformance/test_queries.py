"""Begin/End/GetData of occlusion queries and predicates, compared with wgpu occlusion
query sets around the same draws."""

from __future__ import annotations

from pvgpu import guest as g

from .pair import DepthStencil, Draw, Target, quad
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
