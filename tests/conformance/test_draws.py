"""Draw calls and the input assembler: Draw, DrawIndexed (R16 and R32), instancing, base
vertex and start locations, strip topologies with strip cuts, points and lines, indirect
draws, multiple render targets, vertex-stage constant buffers and input-layout offsets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pvgpu import guest as g

from .pair import (
    INSTANCED, Draw, Target, draw, draw_indexed, draw_indexed_instanced, draw_indexed_instanced_indirect,
    draw_instanced, draw_instanced_indirect, quad,
)
from .scene import scene
from .wgsl import INSTANCED_VS, MRT_PS, TRANSFORM_VS

T = g.PrimitiveTopology
COLORS = [(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1), (1, 1, 0, 1)]
QUAD_INDICES = [0, 1, 2, 0, 2, 3]


def corners(x0, y0, x1, y1, colors=COLORS, z=0.5) -> np.ndarray:
    """The four corners of a quad (bottom-left, top-left, top-right, bottom-right), POS_COLOR."""
    return np.array([(x, y, z, *c) for (x, y), c in zip([(x0, y0), (x0, y1), (x1, y1), (x1, y0)], colors)],
                    np.float32)


LEFT = corners(-0.9, -0.8, -0.1, 0.6)
RIGHT = corners(0.1, -0.6, 0.9, 0.8, colors=COLORS[::-1])
BOTH = np.concatenate([LEFT, RIGHT])
# Per-instance offset (x, y) and tint (r, g, b, a).
INSTANCES = np.array([[0.0, 0.0, 1, 1, 1, 1], [-0.5, -0.4, 1, 0.5, 0.5, 1], [0.5, 0.2, 0.5, 1, 0.5, 1],
                      [0.3, -0.5, 0.5, 0.5, 1, 1]], np.float32)
SMALL = corners(-0.4, -0.4, 0.2, 0.3)


def call_scene(pair, base: Draw, call, baseline_call, **check):
    return pair.check([replace(base, call=call)], baseline=[replace(base, call=baseline_call)], **check)


@scene("Draw with StartVertexLocation")
def test_draw_start_vertex(pair):
    two = np.concatenate([quad(-0.9, -0.8, -0.1, 0.6, color=COLORS), quad(0.1, -0.6, 0.9, 0.8, color=COLORS[::-1])])
    call_scene(pair, Draw(two), draw(6, 6), draw(6, 0))


@scene("DrawIndexed with an R16_UINT index buffer and StartIndexLocation")
def test_draw_indexed_r16(pair):
    indices = np.array(QUAD_INDICES + [i + 4 for i in QUAD_INDICES], np.uint16)
    call_scene(pair, Draw(BOTH, indices=indices), draw_indexed(9, 3), draw_indexed(6, 0))


@scene("DrawIndexed with an R32_UINT index buffer (indices above 65535)")
def test_draw_indexed_r32(pair):
    vertices = np.zeros((70004, 7), np.float32)
    vertices[70000:] = RIGHT
    indices = np.array([70000 + i for i in QUAD_INDICES], np.uint32)
    r = pair.check([Draw(vertices, indices=indices)],
                   baseline=[Draw(vertices, indices=(indices & 0xFFFF).astype(np.uint32))], min_changed=100)
    assert len(np.unique(r.frame.reshape(-1, 4), axis=0)) > 50


@scene("DrawIndexed with BaseVertexLocation")
def test_draw_indexed_base_vertex(pair):
    call_scene(pair, Draw(BOTH, indices=np.array(QUAD_INDICES, np.uint16)), draw_indexed(6, 0, 4),
               draw_indexed(6, 0, 0))


@scene("DrawInstanced with per-instance data and StartInstanceLocation")
def test_draw_instanced(pair):
    call_scene(pair, Draw(quad(-0.4, -0.4, 0.2, 0.3, color=COLORS), layout=INSTANCED, instances=INSTANCES,
                          vs=INSTANCED_VS), draw_instanced(6, 3, 0, 1), draw_instanced(6, 1, 0, 0))


@scene("DrawIndexedInstanced with StartIndexLocation, BaseVertexLocation and StartInstanceLocation")
def test_draw_indexed_instanced_base_vertex(pair):
    indices = np.array([0, 0, 0] + QUAD_INDICES, np.uint16)
    vertices = np.concatenate([LEFT, SMALL])
    call_scene(pair, Draw(vertices, layout=INSTANCED, instances=INSTANCES, indices=indices, vs=INSTANCED_VS),
               draw_indexed_instanced(6, 3, 3, 4, 1), draw_indexed_instanced(6, 3, 3, 0, 1))


#: A zigzag band: as a strip it is filled; as a list its triangles have gaps.
ZIGZAG = np.array([(-0.9 + 0.3 * i, 0.5 if i % 2 else -0.6, 0.5, *COLORS[i % 4]) for i in range(7)], np.float32)


@scene("IASetPrimitiveTopology TRIANGLESTRIP (Draw)")
def test_triangle_strip(pair):
    base = Draw(ZIGZAG, topology=T.TRIANGLESTRIP)
    pair.check([base], baseline=[replace(base, topology=T.TRIANGLELIST, call=draw(6))], min_changed=100)


@scene("TRIANGLESTRIP with DrawIndexed and a strip cut (index 0xFFFF restarts the strip)")
def test_triangle_strip_indexed_cut(pair):
    cut = np.array([0, 1, 2, 3, 0xFFFF, 4, 5, 6], np.uint16)
    joined = np.array([0, 1, 2, 3, 3, 4, 5, 6], np.uint16)  # the same without the restart: bridges the gap
    base = Draw(ZIGZAG, topology=T.TRIANGLESTRIP, indices=cut)
    pair.check([base], baseline=[replace(base, indices=joined)], min_changed=20)


@scene("IASetPrimitiveTopology LINELIST")
def test_line_list(pair):
    base = Draw(ZIGZAG[:6], topology=T.LINELIST)
    pair.check([base], baseline=[replace(base, topology=T.LINESTRIP)], min_changed=20)


@scene("IASetPrimitiveTopology LINESTRIP")
def test_line_strip(pair):
    base = Draw(ZIGZAG, topology=T.LINESTRIP)
    pair.check([base], baseline=[replace(base, topology=T.LINELIST, call=draw(6))], min_changed=20)


@scene("IASetPrimitiveTopology POINTLIST")
def test_point_list(pair):
    points = np.array([(-0.95 + 0.1 * i, 0.9 - 0.13 * i, 0.5, *COLORS[i % 4]) for i in range(15)], np.float32)
    r = pair.check([Draw(points, topology=T.POINTLIST)], min_colors=5)
    assert (r.frame != r.frame[0, 0]).any(axis=-1).sum() == 15  # one pixel per point


@scene("DrawInstancedIndirect (arguments in a DRAWINDIRECT_ARGS buffer, at an offset)")
def test_draw_instanced_indirect(pair):
    two = np.concatenate([quad(-0.9, -0.8, -0.1, 0.6, color=COLORS), quad(-0.4, -0.4, 0.2, 0.3, color=COLORS)])
    args = [0, 0, 0, 0, 6, 3, 6, 0]  # at byte 16: 6 vertices, 3 instances, start vertex 6, start instance 0
    call_scene(pair, Draw(two, layout=INSTANCED, instances=INSTANCES, vs=INSTANCED_VS),
               draw_instanced_indirect(args, 16), draw_instanced(6, 1, 0, 0))


@scene("DrawIndexedInstancedIndirect with StartIndexLocation and BaseVertexLocation")
def test_draw_indexed_instanced_indirect(pair):
    indices = np.array([0, 0, 0] + QUAD_INDICES, np.uint16)
    args = [6, 3, 3, 4, 0]  # 6 indices, 3 instances, start index 3, base vertex 4, start instance 0
    call_scene(pair, Draw(np.concatenate([LEFT, SMALL]), layout=INSTANCED, instances=INSTANCES, indices=indices,
                          vs=INSTANCED_VS), draw_indexed_instanced_indirect(args), draw_indexed_instanced(6, 3, 3))


@scene("DrawIndexedInstancedIndirect with StartInstanceLocation 1 in the arguments")
def test_draw_indirect_start_instance(pair):
    # D3D11 honours StartInstanceLocation in indirect arguments. WebGPU needs the
    # indirect-first-instance feature for it, so the reference is the same draw made directly.
    base = Draw(np.concatenate([LEFT, SMALL]), layout=INSTANCED, instances=INSTANCES,
                indices=np.array(QUAD_INDICES, np.uint16), vs=INSTANCED_VS)
    pair.check([replace(base, call=draw_indexed_instanced_indirect([6, 3, 0, 4, 1]))],
               reference=[replace(base, call=draw_indexed_instanced(6, 3, 0, 4, 1))],
               baseline=[replace(base, call=draw_indexed_instanced(6, 3, 0, 4, 0))], min_changed=100)


@scene("OMSetRenderTargets with 2 render targets (multiple pixel-shader outputs)")
def test_multiple_render_targets(pair):
    r = pair.check([Draw(quad(-0.8, -0.7, 0.6, 0.8, color=COLORS), ps=MRT_PS)],
                   Target(count=2, clear=[(0.1, 0.2, 0.3, 1.0), (0.9, 0.8, 0.7, 1.0)]))
    assert len(np.unique(r.frames[1].reshape(-1, 4), axis=0)) > 50
    assert (r.frames[0] != r.frames[1]).any()


@scene("VSSetConstantBuffers: a vertex-stage constant buffer moves the geometry")
def test_vs_constant_buffer(pair):
    base = Draw(quad(-0.5, -0.5, 0.5, 0.5, color=COLORS), vs=TRANSFORM_VS)
    pair.check([replace(base, vs_constants={0: np.array([0.8, 1.5, 0.3, -0.2], np.float32)})],
               baseline=[replace(base, vs_constants={0: np.array([1, 1, 0, 0], np.float32)})], min_changed=100)


@scene("CreateInputLayout with explicit AlignedByteOffset and an R8G8B8A8_UNORM color")
def test_input_layout_offsets_unorm(pair):
    rows = np.zeros((6, 4), np.float32)
    rows[:, :3] = quad(-0.8, -0.8, 0.8, 0.7)[:, :3]
    colors = np.array([[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 0, 0, 255], [0, 0, 255, 255],
                       [255, 255, 0, 128]], np.uint8)
    rows[:, 3] = colors.view(np.float32)[:, 0]  # four UNORM bytes in the last 4-byte column
    layout = (g.InputElementDesc("COLOR", 0, g.DxgiFormat.R8G8B8A8_UNORM, 0, 12),  # element order is
              g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32B32_FLOAT, 0, 0))  # not byte order
    vs = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };
@vertex
fn vs(@location(0) c: vec4<f32>, @location(1) p: vec3<f32>) -> VOut { return VOut(vec4<f32>(p, 1.0), c); }
"""
    r = pair.check([Draw(rows, layout=layout, vs=vs)])
    assert len(np.unique(r.frame.reshape(-1, 4), axis=0)) > 50
