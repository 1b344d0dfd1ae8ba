"""OMSetDepthStencilState: depth comparisons and write masks, stencil operations, two-sided
stencil, stencil reference and read/write masks. Stencil values are made visible by probe
draws: one full-target quad per candidate value, drawn where the stencil EQUALs it."""

from __future__ import annotations

from dataclasses import replace

from pvgpu import guest as g

from .pair import DepthStencil, Draw, Target, ccw, quad
from .scene import scene

C, SO = g.ComparisonFunc, g.StencilOp
DEPTH = Target(depth=g.DxgiFormat.D32_FLOAT)
STENCIL = Target(depth=g.DxgiFormat.D24_UNORM_S8_UINT)
NEAR = quad(-0.8, -0.8, 0.3, 0.5, z=0.3, color=[(1, 0, 0, 1), (1, 0.5, 0, 1), (1, 1, 0, 1), (0.6, 0, 0.2, 1)])
# Slanted: in front of NEAR on its left, behind it on its right.
SLANT = quad(-0.3, -0.5, 0.8, 0.8, z=[0.1, 0.1, 0.6, 0.6], color=[(0, 0, 1, 1), (0, 1, 1, 1), (0, 1, 0, 1),
                                                                  (0.3, 0.3, 1, 1)])
NAMES = {C.NEVER: "never", C.LESS: "less", C.EQUAL: "equal", C.LESS_EQUAL: "less-equal", C.GREATER: "greater",
         C.NOT_EQUAL: "not-equal", C.GREATER_EQUAL: "greater-equal", C.ALWAYS: "always"}


def depth(func: g.ComparisonFunc, write: bool = True) -> DepthStencil:
    return DepthStencil(g.DepthStencilDesc(True, g.DepthWriteMask.ALL if write else g.DepthWriteMask.ZERO, func),
                        {"depth_compare": NAMES[func], "depth_write_enabled": write})


def depth_scene(pair, first: DepthStencil, second: DepthStencil, baseline: DepthStencil, target=DEPTH,
                near=NEAR, slant=SLANT):
    draws = [Draw(near, depth=first), Draw(slant, depth=second)]
    return pair.check(draws, target, baseline=[draws[0], replace(draws[1], depth=baseline)], min_changed=50)


@scene("DepthFunc LESS: a slanted quad hidden where it lies behind the first")
def test_depth_less(pair):
    depth_scene(pair, depth(C.LESS), depth(C.LESS), depth(C.ALWAYS))


@scene("DepthFunc GREATER_EQUAL with a depth clear of 0 (equal depths pass)")
def test_depth_greater_equal(pair):
    coplanar = quad(-0.6, -0.9, 0.0, 0.8, z=0.3, color=(1, 1, 1, 1))  # NEAR's depth: passes where NEAR is
    draws = [Draw(d, depth=depth(C.GREATER_EQUAL)) for d in (NEAR, SLANT, coplanar)]
    pair.check(draws, replace(DEPTH, depth_clear=0.0), baseline=[replace(d, depth=depth(C.GREATER)) for d in draws],
               min_changed=50)


@scene("DepthFunc EQUAL: passes only where the stored depth is exactly the same")
def test_depth_equal(pair):
    flat = quad(-0.5, -0.9, 0.9, 0.2, z=0.3, color=(0.2, 0.9, 0.4, 1))
    depth_scene(pair, depth(C.LESS), depth(C.EQUAL, write=False), depth(C.ALWAYS), slant=flat)


@scene("DepthFunc ALWAYS: a far quad drawn over a near one")
def test_depth_always(pair):
    depth_scene(pair, depth(C.LESS), depth(C.ALWAYS), depth(C.LESS))


@scene("DepthEnable FALSE: no depth test and no depth writes")
def test_depth_disabled(pair):
    off = DepthStencil(g.DepthStencilDesc(depth_enable=False),
                       {"depth_compare": "always", "depth_write_enabled": False})
    mid = quad(-1, -0.2, 1, 0.2, z=0.2, color=(1, 1, 1, 1))  # in front of NEAR, behind SLANT's left
    draws = [Draw(NEAR, depth=depth(C.LESS)), Draw(SLANT, depth=off), Draw(mid, depth=depth(C.LESS))]
    pair.check(draws, DEPTH, baseline=[draws[0], replace(draws[1], depth=depth(C.LESS)), draws[2]], min_changed=50)


@scene("DepthWriteMask ZERO: the depth test runs but the depth buffer keeps its value")
def test_depth_write_mask_zero(pair):
    far = quad(-0.3, -0.5, 0.8, 0.8, z=0.7, color=(0, 0.6, 1, 1))
    draws = [Draw(NEAR, depth=depth(C.LESS, write=False)), Draw(far, depth=depth(C.LESS))]
    # With ALL, the far quad would be hidden where NEAR covers it.
    pair.check(draws, DEPTH, baseline=[replace(draws[0], depth=depth(C.LESS)), draws[1]], min_changed=50)


# --- stencil ------------------------------------------------------------------------------------
OPS = {SO.KEEP: "keep", SO.ZERO: "zero", SO.REPLACE: "replace", SO.INCR_SAT: "increment-clamp",
       SO.DECR_SAT: "decrement-clamp", SO.INVERT: "invert", SO.INCR: "increment-wrap", SO.DECR: "decrement-wrap"}
PALETTE = [(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1), (1, 1, 0, 1), (0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 1, 1),
           (0.5, 0.5, 0.5, 1)]


def face(func=C.ALWAYS, pass_op=SO.KEEP, fail=SO.KEEP, depth_fail=SO.KEEP):
    """A face in both vocabularies: (D3D11 DepthStencilOpDesc, wgpu stencil face state)."""
    return (g.DepthStencilOpDesc(fail, depth_fail, pass_op, func),
            {"compare": NAMES[func], "fail_op": OPS[fail], "depth_fail_op": OPS[depth_fail], "pass_op": OPS[pass_op]})


def stencil(front, back=None, ref=0, read=0xFF, write=0xFF, depth_func=None) -> DepthStencil:
    back = back or front
    d = g.DepthStencilDesc(depth_enable=depth_func is not None, depth_func=depth_func or C.LESS,
                           depth_write_mask=g.DepthWriteMask.ZERO, stencil_enable=True, stencil_read_mask=read,
                           stencil_write_mask=write, front_face=front[0], back_face=back[0])
    w = {"depth_compare": NAMES[depth_func] if depth_func else "always", "depth_write_enabled": False,
         "stencil_front": front[1], "stencil_back": back[1], "stencil_read_mask": read, "stencil_write_mask": write}
    return DepthStencil(d, w, ref)


def probes(values) -> list[Draw]:
    """Full-target quads, one per value, each drawn where the stencil equals it."""
    show = face(C.EQUAL)
    return [Draw(quad(-1, -1, 1, 1, color=PALETTE[i]), depth=stencil(show, ref=v, write=0))
            for i, v in enumerate(values)]


def stencil_scene(pair, draws, baseline, values, target=STENCIL):
    return pair.check(draws + probes(values), target, baseline=baseline + probes(values), min_changed=50,
                      min_colors=3)


@scene("Two-sided stencil: front faces INCR_SAT, back faces DECR (wrapping below 0)")
def test_stencil_two_sided(pair):
    two = stencil(face(pass_op=SO.INCR_SAT), face(pass_op=SO.DECR))
    one = stencil(face(pass_op=SO.INCR_SAT))
    front = quad(-0.9, -0.6, 0.3, 0.6)
    back = ccw(quad(-0.3, -0.8, 0.9, 0.8))
    draws = [Draw(front, depth=two), Draw(back, depth=two)]
    stencil_scene(pair, draws, [replace(d, depth=one) for d in draws], [0, 1, 2, 255, 254])


@scene("StencilPassOp REPLACE with StencilRef, then INVERT")
def test_stencil_replace_invert(pair):
    replace_op = stencil(face(pass_op=SO.REPLACE), ref=0x3C)
    invert = stencil(face(pass_op=SO.INVERT), ref=0x3C)
    draws = [Draw(quad(-0.9, -0.6, 0.3, 0.6), depth=replace_op), Draw(quad(-0.3, -0.8, 0.9, 0.8), depth=invert)]
    stencil_scene(pair, draws, [draws[0], replace(draws[1], depth=replace_op)], [0x0F, 0x3C, 0xC3, 0xF0],
                  replace(STENCIL, stencil_clear=0x0F))


@scene("StencilFailOp INVERT, StencilDepthFailOp REPLACE, StencilPassOp INCR_SAT (with a depth test)")
def test_stencil_fail_and_depth_fail_ops(pair):
    # Stencil cleared to 4 and zeroed left of x=-0.4; depth cleared to 0.5. The slanted quad
    # fails the stencil test over the zeroed part, passes both tests left of x=0 and fails
    # the depth test right of it. The reference 0x84 matches 4 under the read mask 0x0F.
    ops = stencil(face(C.EQUAL, pass_op=SO.INCR_SAT, fail=SO.INVERT, depth_fail=SO.REPLACE), ref=0x84, read=0x0F,
                  depth_func=C.LESS)
    keep = stencil(face(C.EQUAL), ref=0x84, read=0x0F, depth_func=C.LESS)
    slant = quad(-0.8, -0.8, 0.8, 0.8, z=[0.2, 0.2, 0.8, 0.8])
    draws = [Draw(quad(-1, -1, -0.4, 1), depth=stencil(face(pass_op=SO.ZERO))), Draw(slant, depth=ops)]
    target = replace(STENCIL, stencil_clear=4, depth_clear=0.5)
    stencil_scene(pair, draws, [draws[0], replace(draws[1], depth=keep)], [0, 4, 5, 0x84, 0xFF], target)


@scene("StencilReadMask / StencilWriteMask: masked compare and masked update")
def test_stencil_read_write_masks(pair):
    write_low = stencil(face(pass_op=SO.REPLACE), ref=0xFF, write=0x0F)
    masked = stencil(face(C.EQUAL, pass_op=SO.INCR), ref=0xAF, read=0x0F, write=0xF0)
    full = stencil(face(C.EQUAL, pass_op=SO.INCR), ref=0xAF, read=0xFF, write=0xFF)
    draws = [Draw(quad(-0.9, -0.6, 0.3, 0.6), depth=write_low), Draw(quad(-0.3, -0.8, 0.9, 0.8), depth=masked)]
    stencil_scene(pair, draws, [draws[0], replace(draws[1], depth=full)], [0x00, 0x0F, 0x1F, 0x10, 0xFF, 0xB0])
