"""RSSetState, RSSetViewports, RSSetScissorRects: culling and winding, depth bias, depth clip,
scissor, wireframe fill, viewports."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pvgpu import guest as g

from .pair import NO_CULL, DepthStencil, Draw, Raster, Target, ccw, gradient, quad
from .scene import scene

CW = quad(-0.9, -0.7, -0.1, 0.7, color=[(1, 0, 0, 1), (1, 1, 0, 1), (1, 0, 1, 1), (1, 0.5, 0.5, 1)])
CCW = ccw(quad(0.1, -0.7, 0.9, 0.7, color=[(0, 0, 1, 1), (0, 1, 1, 1), (0, 1, 0, 1), (0.5, 0.5, 1, 1)]))
LESS = DepthStencil(g.DepthStencilDesc(), {"depth_compare": "less", "depth_write_enabled": True})


def raster(wgpu_primitive: dict, bias: dict | None = None, **d3d) -> Raster:
    return Raster(g.RasterizerDesc(**d3d), wgpu_primitive, bias or {})


def winding_scene(pair, state: Raster | None):
    draws = [Draw(CW, raster=state), Draw(CCW, raster=state)]
    pair.check(draws, baseline=[replace(d, raster=NO_CULL) for d in draws], min_changed=100)


@scene("RSSetState CullMode BACK: counter-clockwise triangles are culled")
def test_cull_back(pair):
    winding_scene(pair, raster({"cull_mode": "back", "front_face": "cw"}, cull_mode=g.CullMode.BACK))


@scene("RSSetState CullMode FRONT: clockwise triangles are culled")
def test_cull_front(pair):
    winding_scene(pair, raster({"cull_mode": "front", "front_face": "cw"}, cull_mode=g.CullMode.FRONT))


@scene("RSSetState FrontCounterClockwise TRUE with CullMode BACK")
def test_front_counter_clockwise(pair):
    winding_scene(pair, raster({"cull_mode": "back", "front_face": "ccw"}, cull_mode=g.CullMode.BACK,
                               front_counter_clockwise=True))


@scene("RSSetState(NULL): the default rasterizer state (solid, cull back, clockwise front)")
def test_default_rasterizer_state(pair):
    winding_scene(pair, None)


@scene("DepthBias, SlopeScaledDepthBias, DepthBiasClamp on a D32_FLOAT target")
def test_depth_bias(pair):
    flat = quad(-0.9, -0.9, 0.9, 0.9, z=0.5, color=(0.2, 0.2, 0.8, 1))
    slant = quad(-0.7, -0.7, 0.7, 0.7, z=[0.4, 0.4, 0.6, 0.6], color=[(1, 0, 0, 1), (1, 1, 0, 1), (0, 1, 0, 1),
                                                                     (0, 0, 0, 1)])
    biased = raster({"cull_mode": "none", "front_face": "cw"},
                    {"depth_bias": 1000, "depth_bias_slope_scale": 6.0, "depth_bias_clamp": 0.05},
                    cull_mode=g.CullMode.NONE, depth_bias=1000, slope_scaled_depth_bias=6.0, depth_bias_clamp=0.05)
    draws = [Draw(flat, depth=LESS), Draw(slant, depth=LESS, raster=biased)]
    pair.check(draws, Target(depth=g.DxgiFormat.D32_FLOAT), baseline=[draws[0], replace(draws[1], raster=NO_CULL)],
               min_changed=40)


SCISSOR = (5, 3, 31, 26)  # left, top, right, bottom


@scene("RSSetScissorRects with ScissorEnable TRUE")
def test_scissor(pair):
    on = raster({"cull_mode": "none", "front_face": "cw"}, cull_mode=g.CullMode.NONE, scissor_enable=True)
    draws = [Draw(gradient(), raster=on, scissor=SCISSOR)]
    r = pair.check(draws, baseline=[Draw(gradient())], min_changed=100)
    left, top, right, bottom = SCISSOR
    outside = np.ones(r.frame.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert (r.frame[outside] == r.frame[0, 0]).all()  # only the clear color outside the rectangle


@scene("RSSetScissorRects with ScissorEnable FALSE: the rectangle is ignored")
def test_scissor_disabled(pair):
    on = raster({"cull_mode": "none", "front_face": "cw"}, cull_mode=g.CullMode.NONE, scissor_enable=True)
    draws = [Draw(gradient(), scissor=SCISSOR)]  # NO_CULL has ScissorEnable FALSE
    pair.check(draws, baseline=[replace(draws[0], raster=on)], min_changed=100)


@scene("FillMode WIREFRAME (where the host offers FILL_WIREFRAME)")
def test_wireframe(pair):
    assert pair.device.connection.accepted_features & g.Feature.FILL_WIREFRAME, \
        "this host's adapter has polygon-mode-line, so pvgpu must offer FILL_WIREFRAME"
    # "Line": wgpu-native's spelling of the polygon-mode-line extension (wgpu-py passes it through).
    wire = raster({"cull_mode": "none", "front_face": "cw", "polygon_mode": "Line"},
                  fill_mode=g.FillMode.WIREFRAME, cull_mode=g.CullMode.NONE)
    tri = quad(-0.8, -0.8, 0.7, 0.9, color=[(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1), (1, 1, 0, 1)])
    pair.check([Draw(tri, raster=wire)], baseline=[Draw(tri)], min_changed=200)


@scene("RSSetViewports: a viewport smaller than the target, offset from its origin")
def test_viewport_subrect(pair):
    draws = [Draw(gradient(), viewport=(6, 4, 30, 20))]
    r = pair.check(draws, baseline=[Draw(gradient())], min_changed=100)
    assert (r.frame[:4] == r.frame[0, 0]).all() and (r.frame[:, 36:] == r.frame[0, 0]).all()


@scene("RSSetViewports: MinDepth / MaxDepth remap the depth range")
def test_viewport_depth_range(pair):
    near = quad(-0.8, -0.8, 0.4, 0.4, z=0.8, color=(1, 0.5, 0, 1))  # 0.8 -> 0.2 in a [0, 0.25] range
    mid = quad(-0.4, -0.4, 0.8, 0.8, z=0.3, color=(0, 0.5, 1, 1))
    draws = [Draw(near, depth=LESS, viewport=(0, 0, 48, 32, 0.0, 0.25)), Draw(mid, depth=LESS)]
    pair.check(draws, Target(depth=g.DxgiFormat.D32_FLOAT), baseline=[replace(draws[0], viewport=None), draws[1]],
               min_changed=50)
