"""OMSetBlendState: blend factors and operations, the blend factor, independent blending and
write masks. Each scene draws an opaque gradient, then a quad with varied colors and alphas
under the blend state; the baseline is the same without blending."""

from __future__ import annotations

from dataclasses import replace

from pvgpu import guest as g
from pvgpu.protocol.enums import ColorWriteFlag

from .pair import Blend, Draw, Target, changed_pixels, gradient, quad
from .scene import scene
from .wgsl import MRT_PS

B, Op = g.Blend, g.BlendOp
SRC = quad(-0.6, -0.7, 0.7, 0.6, color=[(1.0, 0.2, 0.1, 0.25), (0.3, 1.0, 0.4, 0.5), (0.2, 0.3, 1.0, 0.75),
                                         (0.8, 0.9, 0.5, 1.0)])
COVERED = 300  # pixels the blended quad must change (it covers about 650)


def rt(src, dst, op, src_a, dst_a, op_a, mask=0xF) -> g.RenderTargetBlendDesc:
    return g.RenderTargetBlendDesc(True, src, dst, op, src_a, dst_a, op_a, mask)


def comp(src: str, dst: str, op: str = "add") -> dict:
    return {"src_factor": src, "dst_factor": dst, "operation": op}


def blend_scene(pair, blend: Blend, ps: str | None = None, target: Target | None = None):
    extra = {"ps": ps} if ps else {}
    draws = [Draw(gradient(), **extra), Draw(SRC, blend=blend, **extra)]
    return pair.check(draws, target, baseline=[draws[0], replace(draws[1], blend=None)], min_changed=COVERED)


@scene("OMSetBlendState: SRC_ALPHA, INV_SRC_ALPHA, ADD (alpha ONE, INV_SRC_ALPHA)")
def test_blend_src_alpha_over(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.SRC_ALPHA, B.INV_SRC_ALPHA, Op.ADD, B.ONE, B.INV_SRC_ALPHA, Op.ADD)]),
                            [{"blend": {"color": comp("src-alpha", "one-minus-src-alpha"),
                                        "alpha": comp("one", "one-minus-src-alpha")}}]))


@scene("OMSetBlendState: ONE, ONE, ADD (additive)")
def test_blend_additive(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.ONE, B.ONE, Op.ADD, B.ONE, B.ONE, Op.ADD)]),
                            [{"blend": {"color": comp("one", "one"), "alpha": comp("one", "one")}}]))


@scene("OMSetBlendState: BLEND_OP_SUBTRACT (src - dst, clamped)")
def test_blend_subtract(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.ONE, B.SRC_ALPHA, Op.SUBTRACT, B.ONE, B.ZERO, Op.ADD)]),
                            [{"blend": {"color": comp("one", "src-alpha", "subtract"),
                                        "alpha": comp("one", "zero")}}]))


@scene("OMSetBlendState: BLEND_OP_REV_SUBTRACT (dst - src)")
def test_blend_rev_subtract(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.SRC_ALPHA, B.ONE, Op.REV_SUBTRACT, B.ZERO, B.ONE, Op.ADD)]),
                            [{"blend": {"color": comp("src-alpha", "one", "reverse-subtract"),
                                        "alpha": comp("zero", "one")}}]))


@scene("OMSetBlendState: BLEND_OP_MIN (factors ignored, as D3D11 specifies)")
def test_blend_min(pair):
    # D3D11 ignores the factors of MIN and MAX; WebGPU requires them to be ONE.
    blend_scene(pair, Blend(g.BlendDesc([rt(B.SRC_ALPHA, B.DEST_COLOR, Op.MIN, B.ZERO, B.ZERO, Op.MIN)]),
                            [{"blend": {"color": comp("one", "one", "min"), "alpha": comp("one", "one", "min")}}]))


@scene("OMSetBlendState: BLEND_OP_MAX (alpha MIN)")
def test_blend_max(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.INV_SRC_ALPHA, B.ZERO, Op.MAX, B.ONE, B.ONE, Op.MIN)]),
                            [{"blend": {"color": comp("one", "one", "max"), "alpha": comp("one", "one", "min")}}]))


@scene("OMSetBlendState: BLEND_FACTOR, INV_BLEND_FACTOR with a blend factor")
def test_blend_factor(pair):
    factor = (0.25, 0.5, 0.75, 0.4)
    blend_scene(pair, Blend(g.BlendDesc([rt(B.BLEND_FACTOR, B.INV_BLEND_FACTOR, Op.ADD, B.BLEND_FACTOR,
                                            B.INV_BLEND_FACTOR, Op.ADD)]),
                            [{"blend": {"color": comp("constant", "one-minus-constant"),
                                        "alpha": comp("constant", "one-minus-constant")}}], factor=factor))


@scene("OMSetBlendState: DEST_COLOR, ZERO (multiply; alpha DEST_ALPHA)")
def test_blend_dest_color_multiply(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.DEST_COLOR, B.ZERO, Op.ADD, B.DEST_ALPHA, B.ZERO, Op.ADD)]),
                            [{"blend": {"color": comp("dst", "zero"), "alpha": comp("dst-alpha", "zero")}}]))


@scene("OMSetBlendState: INV_DEST_ALPHA, DEST_ALPHA (destination alpha as the weight)")
def test_blend_dest_alpha(pair):
    blend_scene(pair, Blend(g.BlendDesc([rt(B.INV_DEST_ALPHA, B.DEST_ALPHA, Op.ADD, B.ONE, B.ZERO, Op.ADD)]),
                            [{"blend": {"color": comp("one-minus-dst-alpha", "dst-alpha"),
                                        "alpha": comp("one", "zero")}}]))


@scene("OMSetBlendState: IndependentBlendEnable, a different blend per render target (2 targets)")
def test_blend_independent_per_target(pair):
    over = rt(B.SRC_ALPHA, B.INV_SRC_ALPHA, Op.ADD, B.ONE, B.INV_SRC_ALPHA, Op.ADD)
    add = rt(B.ONE, B.ONE, Op.ADD, B.ONE, B.ONE, Op.ADD)
    w_over = {"blend": {"color": comp("src-alpha", "one-minus-src-alpha"), "alpha": comp("one", "one-minus-src-alpha")}}
    w_add = {"blend": {"color": comp("one", "one"), "alpha": comp("one", "one")}}
    target = Target(count=2, clear=[(0.1, 0.2, 0.3, 1.0), (0.3, 0.1, 0.1, 0.5)])
    r = blend_scene(pair, Blend(g.BlendDesc([over, add], independent_blend_enable=True), [w_over, w_add]),
                    ps=MRT_PS, target=target)
    # Target 1 got its own (additive) blend, not target 0's.
    same = [Draw(gradient(), ps=MRT_PS), Draw(SRC, ps=MRT_PS, blend=Blend(g.BlendDesc([over]), [w_over]))]
    assert changed_pixels(r.frames[1], pair.run_direct(same, target)[0][1]) >= COVERED


@scene("OMSetBlendState: RenderTargetWriteMask RED | ALPHA (blending off)")
def test_blend_write_mask(pair):
    mask = ColorWriteFlag.RED | ColorWriteFlag.ALPHA
    r = blend_scene(pair, Blend(g.BlendDesc([g.RenderTargetBlendDesc(render_target_write_mask=mask)]),
                                [{"write_mask": 0x1 | 0x8}]))
    # Green and blue still show the gradient everywhere: compare with the gradient alone.
    alone = pair.run_direct([Draw(gradient())], Target())[0][0]
    assert (abs(r.frame[..., 1:3].astype(int) - alone[..., 1:3]) <= 1).all()
