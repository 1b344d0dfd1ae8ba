"""Coarse derivatives once per 2x2 quad (alu.py's emulation from fine derivatives), run through
the whole stack: on linear data they equal the fine ones; on any data all four pixels of a quad
read the top row's (x) / left column's (y) fine derivative, bit for bit."""

from __future__ import annotations

import numpy as np

from pvgpu import guest as g
from pvgpu.shaders.assembler import assemble

from conformance import guest as gh

from .test_instructions import FULLSCREEN_VS, session  # noqa: F401  (the module's host fixture)

B = g.BindFlag
F = g.DxgiFormat

PS = """
ps_5_0
dcl_input_ps_siv linear noperspective v0.xy, position
dcl_output o0.xyzw
dcl_output o1.xyzw
dcl_temps 2
mad r0.x, v0.x, l(3.0), v0.y
mad r0.y, v0.y, l(-5.0), v0.x
mul r1.x, v0.x, v0.x
mul r1.x, r1.x, v0.y
mul r1.y, v0.y, v0.y
mul r1.y, r1.y, v0.x
deriv_rtx_fine o0.x, r0.x
deriv_rtx_coarse o0.y, r0.x
deriv_rty_fine o0.z, r0.y
deriv_rty_coarse o0.w, r0.y
deriv_rtx_coarse o1.x, r1.x
deriv_rty_coarse o1.y, r1.y
deriv_rtx_fine o1.z, r1.x
deriv_rty_fine o1.w, r1.y
ret
"""


def _frame(session) -> tuple[np.ndarray, np.ndarray]:  # noqa: F811
    d = session.device
    size = 8
    texs = [d.create_texture2d(g.Texture2DDesc(size, size, F.R32G32B32A32_FLOAT, bind_flags=B.RENDER_TARGET))
            for _ in range(2)]
    ctx = d.get_immediate_context()
    ctx.om_set_render_targets([d.create_render_target_view(t) for t in texs])
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_state(d.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.rs_set_viewports([g.Viewport(0, 0, size, size)])
    ctx.vs_set_shader(d.create_vertex_shader(assemble(FULLSCREEN_VS)))
    ctx.ps_set_shader(d.create_pixel_shader(assemble(PS)))
    ctx.draw(3, 0)
    ctx.om_set_render_targets([])
    return tuple(gh.read_texture(d, t).view(np.float32).reshape(size, size, 4) for t in texs)


def test_coarse_equals_fine_on_linear_data_and_is_the_quads_first_row(session):  # noqa: F811
    lin, sq = _frame(session)
    assert (lin[..., 0] == 3.0).all() and (lin[..., 1] == 3.0).all()
    assert (lin[..., 2] == -5.0).all() and (lin[..., 3] == -5.0).all()
    n = sq.shape[0]
    for qy in range(0, n, 2):
        for qx in range(0, n, 2):
            quad = sq[qy:qy + 2, qx:qx + 2]
            # x: every pixel reads the top row's fine x derivative; y: the left column's
            assert (quad[..., 0] == quad[0, 0, 2]).all(), (qx, qy, quad[..., 0], quad[..., 2])
            assert (quad[..., 1] == quad[0, 0, 3]).all(), (qx, qy, quad[..., 1], quad[..., 3])
