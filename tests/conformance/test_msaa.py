"""4x multisampling: rendering and ResolveSubresource, a multisampled depth buffer,
alpha-to-coverage and the sample mask."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pvgpu import guest as g

from .pair import Blend, DepthStencil, Draw, Target, changed_pixels, quad
from .scene import scene

MSAA = Target(samples=4)
TRIANGLE = np.array([(-0.8, -0.7, 0.5, 1, 0, 0, 1), (0.1, 0.9, 0.5, 0, 1, 0, 1), (0.9, -0.3, 0.5, 0, 0, 1, 1)],
                    np.float32)
#: Alpha falls from 1 (left) to 0 (right).
FADE = quad(-0.9, -0.9, 0.9, 0.9, color=[(1, 0.5, 0, 1), (1, 0.5, 0, 1), (0, 0.5, 1, 0), (0, 0.5, 1, 0)])


@scene("4x MSAA render target, ResolveSubresource into the back buffer")
def test_msaa_resolve(pair):
    draws = [Draw(TRIANGLE)]
    r = pair.check(draws, MSAA, min_colors=10)
    assert changed_pixels(r.frame, pair.run_direct(draws, Target())[0][0]) >= 10  # edges are averaged


@scene("4x MSAA with a 4x D24_UNORM_S8_UINT depth-stencil (intersecting quads)")
def test_msaa_depth(pair):
    less = DepthStencil(g.DepthStencilDesc(), {"depth_compare": "less", "depth_write_enabled": True})
    a = quad(-0.9, -0.8, 0.5, 0.7, z=[0.2, 0.2, 0.8, 0.8], color=(1, 0.2, 0.2, 1))
    b = quad(-0.5, -0.6, 0.9, 0.9, z=[0.8, 0.8, 0.2, 0.2], color=(0.2, 0.4, 1, 1))
    draws = [Draw(a, depth=less), Draw(b, depth=less)]
    r = pair.check(draws, replace(MSAA, depth=g.DxgiFormat.D24_UNORM_S8_UINT), min_colors=5)
    # The intersection is antialiased too: it is not the edge the single-sampled frame has.
    assert changed_pixels(r.frame, pair.run_direct(draws, Target(depth=g.DxgiFormat.D24_UNORM_S8_UINT))[0][0]) >= 10


@scene("AlphaToCoverageEnable on a 4x target")
def test_alpha_to_coverage(pair):
    a2c = Blend(g.BlendDesc(alpha_to_coverage_enable=True), [{}], alpha_to_coverage=True)
    pair.check([Draw(FADE, blend=a2c)], MSAA, baseline=[Draw(FADE)], min_changed=200)


@scene("OMSetBlendState SampleMask 0x5: only samples 0 and 2 of a 4x target are written")
def test_sample_mask(pair):
    masked = Blend(g.BlendDesc(), [{}], sample_mask=0x5)
    pair.check([Draw(FADE, blend=masked)], MSAA, baseline=[Draw(FADE)], min_changed=200)
