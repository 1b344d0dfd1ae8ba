"""D3D11 state objects translated to wgpu descriptor parts.

Each state object is immutable once created (as in D3D11), so its wgpu form is computed once
and becomes part of the pipeline-cache key through the object's serial number.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...protocol.enums import (
    Blend, BlendOp, ComparisonFunc, CullMode, DepthWriteMask, FillMode, StencilOp,
    TextureAddressMode,
)
from ..errors import unsupported

BLEND_FACTORS = {
    Blend.ZERO: "zero", Blend.ONE: "one", Blend.SRC_COLOR: "src", Blend.INV_SRC_COLOR: "one-minus-src",
    Blend.SRC_ALPHA: "src-alpha", Blend.INV_SRC_ALPHA: "one-minus-src-alpha", Blend.DEST_ALPHA: "dst-alpha",
    Blend.INV_DEST_ALPHA: "one-minus-dst-alpha", Blend.DEST_COLOR: "dst", Blend.INV_DEST_COLOR: "one-minus-dst",
    Blend.SRC_ALPHA_SAT: "src-alpha-saturated", Blend.BLEND_FACTOR: "constant",
    Blend.INV_BLEND_FACTOR: "one-minus-constant",
}
#: In the alpha part, D3D11's *_COLOR factors act on alpha; wgpu wants the alpha names.
ALPHA_FACTORS = {**BLEND_FACTORS, Blend.SRC_COLOR: "src-alpha", Blend.INV_SRC_COLOR: "one-minus-src-alpha",
                 Blend.DEST_COLOR: "dst-alpha", Blend.INV_DEST_COLOR: "one-minus-dst-alpha"}
BLEND_OPS = {BlendOp.ADD: "add", BlendOp.SUBTRACT: "subtract", BlendOp.REV_SUBTRACT: "reverse-subtract",
             BlendOp.MIN: "min", BlendOp.MAX: "max"}
COMPARE = {ComparisonFunc.NEVER: "never", ComparisonFunc.LESS: "less", ComparisonFunc.EQUAL: "equal",
           ComparisonFunc.LESS_EQUAL: "less-equal", ComparisonFunc.GREATER: "greater",
           ComparisonFunc.NOT_EQUAL: "not-equal", ComparisonFunc.GREATER_EQUAL: "greater-equal",
           ComparisonFunc.ALWAYS: "always"}
STENCIL_OPS = {StencilOp.KEEP: "keep", StencilOp.ZERO: "zero", StencilOp.REPLACE: "replace",
               StencilOp.INCR_SAT: "increment-clamp", StencilOp.DECR_SAT: "decrement-clamp",
               StencilOp.INVERT: "invert", StencilOp.INCR: "increment-wrap", StencilOp.DECR: "decrement-wrap"}
CULL = {CullMode.NONE: "none", CullMode.FRONT: "front", CullMode.BACK: "back"}
ADDRESS = {TextureAddressMode.WRAP: "repeat", TextureAddressMode.MIRROR: "mirror-repeat",
           TextureAddressMode.CLAMP: "clamp-to-edge"}


def _blend_component(src: int, dst: int, op: int, factors: dict) -> dict:
    if op in (BlendOp.MIN, BlendOp.MAX):
        # D3D11 ignores the factors for MIN/MAX; WebGPU requires them to be ONE.
        return {"src_factor": "one", "dst_factor": "one", "operation": BLEND_OPS[op]}
    return {"src_factor": factors[src], "dst_factor": factors[dst], "operation": BLEND_OPS[op]}


@dataclass(frozen=True)
class BlendState:
    serial: int
    alpha_to_coverage: bool
    targets: tuple  # per render target: (blend dict or None, write mask)
    uses_constant: bool

    @classmethod
    def from_command(cls, serial: int, alpha_to_coverage: bool, independent: bool, rts: list) -> "BlendState":
        targets = []
        uses_constant = False
        for i in range(8):
            if independent:
                rt = rts[i] if i < len(rts) else None
            else:
                rt = rts[0] if rts else None
            if rt is None:
                targets.append((None, 0xF))
                continue
            blend = None
            if rt.blend_enable:
                blend = {
                    "color": _blend_component(rt.src_blend, rt.dest_blend, rt.blend_op, BLEND_FACTORS),
                    "alpha": _blend_component(rt.src_blend_alpha, rt.dest_blend_alpha, rt.blend_op_alpha,
                                              ALPHA_FACTORS),
                }
                uses_constant |= Blend.BLEND_FACTOR in (rt.src_blend, rt.dest_blend, rt.src_blend_alpha,
                                                         rt.dest_blend_alpha)
                uses_constant |= Blend.INV_BLEND_FACTOR in (rt.src_blend, rt.dest_blend, rt.src_blend_alpha,
                                                             rt.dest_blend_alpha)
            targets.append((blend, rt.write_mask))
        return cls(serial, bool(alpha_to_coverage), tuple(targets), uses_constant)


DEFAULT_BLEND = BlendState(0, False, tuple((None, 0xF) for _ in range(8)), False)


@dataclass(frozen=True)
class RasterizerState:
    serial: int
    cull_mode: str
    front_face: str
    depth_bias: int
    depth_bias_clamp: float
    slope_scaled_depth_bias: float
    depth_clip: bool
    scissor_enable: bool
    wireframe: bool = False

    @classmethod
    def from_command(cls, serial: int, c, depth_clip_control: bool, wireframe: bool = False) -> "RasterizerState":
        if c.fill_mode == FillMode.WIREFRAME and not wireframe:
            raise unsupported("fill mode WIREFRAME is not offered by this host (feature FILL_WIREFRAME is off)")
        if not c.depth_clip_enable and not depth_clip_control:
            raise unsupported("depth_clip_enable=0 needs the DEPTH_CLIP_CONTROL feature, which this host lacks")
        return cls(serial, CULL[c.cull_mode], "ccw" if c.front_counter_clockwise else "cw", c.depth_bias,
                   c.depth_bias_clamp, c.slope_scaled_depth_bias, bool(c.depth_clip_enable),
                   bool(c.scissor_enable), c.fill_mode == FillMode.WIREFRAME)


DEFAULT_RASTERIZER = RasterizerState(0, "back", "cw", 0, 0.0, 0.0, True, False)


@dataclass(frozen=True)
class DepthStencilState:
    serial: int
    depth_write: bool
    depth_compare: str
    stencil_front: dict
    stencil_back: dict
    stencil_read_mask: int
    stencil_write_mask: int

    @classmethod
    def from_command(cls, serial: int, c) -> "DepthStencilState":
        def face(prefix: str) -> dict:
            if not c.stencil_enable:
                return {"compare": "always", "fail_op": "keep", "depth_fail_op": "keep", "pass_op": "keep"}
            return {"compare": COMPARE[getattr(c, f"{prefix}_func")],
                    "fail_op": STENCIL_OPS[getattr(c, f"{prefix}_fail_op")],
                    "depth_fail_op": STENCIL_OPS[getattr(c, f"{prefix}_depth_fail_op")],
                    "pass_op": STENCIL_OPS[getattr(c, f"{prefix}_pass_op")]}
        depth_on = bool(c.depth_enable)
        return cls(serial,
                   depth_on and c.depth_write_mask == DepthWriteMask.ALL,
                   COMPARE[c.depth_func] if depth_on else "always",
                   face("front"), face("back"),
                   (c.stencil_read_mask & 0xFF) if c.stencil_enable else 0xFF,
                   (c.stencil_write_mask & 0xFF) if c.stencil_enable else 0)


_KEEP = {"compare": "always", "fail_op": "keep", "depth_fail_op": "keep", "pass_op": "keep"}
DEFAULT_DEPTH_STENCIL = DepthStencilState(0, True, "less", _KEEP, _KEEP, 0xFF, 0)


def sampler_descriptor(c) -> dict:
    """wgpu sampler arguments for a CREATE_SAMPLER_STATE command."""
    for axis in ("address_u", "address_v", "address_w"):
        mode = getattr(c, axis)
        if mode not in ADDRESS:
            name = TextureAddressMode(mode).name
            raise unsupported(f"{axis}={name} is not offered by this host (WebGPU has no {name.lower()} mode)")
    if c.mip_lod_bias != 0.0:
        raise unsupported("mip_lod_bias other than 0 is not offered by this host")
    f = int(c.filter)
    desc = {
        "address_mode_u": ADDRESS[c.address_u], "address_mode_v": ADDRESS[c.address_v],
        "address_mode_w": ADDRESS[c.address_w],
        "mag_filter": "linear" if f & 0x04 else "nearest",
        "min_filter": "linear" if f & 0x10 else "nearest",
        "mipmap_filter": "linear" if f & 0x01 else "nearest",
        "lod_min_clamp": max(0.0, c.min_lod),
        "lod_max_clamp": max(max(0.0, c.min_lod), min(c.max_lod, 32.0)),
    }
    if f & 0x40:  # anisotropic
        desc.update(mag_filter="linear", min_filter="linear", mipmap_filter="linear",
                    max_anisotropy=max(1, min(16, c.max_anisotropy)))
    if f & 0x80:
        desc["compare"] = COMPARE[c.comparison_func]
    return desc
