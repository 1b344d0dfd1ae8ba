"""WGSL shared by the scenes; both sides of a scene compile the same source.

Binding convention (docs/protocol.md): `@group(0)` vertex stage, `@group(1)` pixel stage,
`@group(2)` compute stage; constant buffer slot n is `@binding(n)`, sampler n
`@binding(16 + n)`, shader resource n `@binding(32 + n)`, unordered-access view n
`@binding(160 + n)`; input element i is `@location(i)`. Entry points are named `vs`, `ps`
and `cs`. A Texture1D is a `texture_2d` of height 1 on the pvgpu side (sampled at v = 0.5).
"""

from __future__ import annotations

#: Input: float3 position (z is depth), float4 color (layout `pair.POS_COLOR`).
COLOR_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };
@vertex
fn vs(@location(0) p: vec3<f32>, @location(1) c: vec4<f32>) -> VOut { return VOut(vec4<f32>(p, 1.0), c); }
"""

COLOR_PS = """
@fragment
fn ps(@location(0) c: vec4<f32>) -> @location(0) vec4<f32> { return c; }
"""

#: Two render targets: the color, and its complement with the alpha halved.
MRT_PS = """
struct Out { @location(0) a: vec4<f32>, @location(1) b: vec4<f32> };
@fragment
fn ps(@location(0) c: vec4<f32>) -> Out { return Out(c, vec4<f32>(1.0 - c.rgb, c.a * 0.5)); }
"""

#: Per-vertex position and color (slot 0), per-instance offset and tint (slot 1; `pair.INSTANCED`).
INSTANCED_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };
@vertex
fn vs(@location(0) p: vec3<f32>, @location(1) c: vec4<f32>, @location(2) offset: vec2<f32>,
      @location(3) tint: vec4<f32>) -> VOut {
    return VOut(vec4<f32>(p.xy + offset, p.z, 1.0), c * tint);
}
"""

#: A vertex-stage constant buffer (slot 0): scale.xy, offset.zw.
TRANSFORM_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };
struct T { scale_offset: vec4<f32> };
@group(0) @binding(0) var<uniform> t: T;
@vertex
fn vs(@location(0) p: vec3<f32>, @location(1) c: vec4<f32>) -> VOut {
    return VOut(vec4<f32>(p.xy * t.scale_offset.xy + t.scale_offset.zw, p.z, 1.0), c);
}
"""

#: A pixel-stage constant buffer (slot 0) holding the color.
SOLID_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""

#: No input layout: one triangle covering the target, uv (0,0) at the top left.
FULLSCREEN_VS = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return VOut(vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0), vec2<f32>(xy.x, 1.0 - xy.y));
}
"""


def sampling_ps(expr: str, texture: str = "texture_2d<f32>", sampler: str = "sampler", srv_slot: int = 0,
                sampler_slot: int = 0, result: str = "vec4<f32>") -> str:
    """A pixel shader for FULLSCREEN_VS: `t` is shader resource `srv_slot`, `s` sampler
    `sampler_slot`, `uv` the interpolated coordinate; it returns `expr` (of type `result`)."""
    ret = "r" if result == "vec4<f32>" else "vec4<f32>(vec3<f32>(r), 1.0)"
    return f"""
@group(1) @binding({16 + sampler_slot}) var s: {sampler};
@group(1) @binding({32 + srv_slot}) var t: {texture};
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {{
    let r: {result} = {expr};
    return {ret};
}}
"""


#: For FULLSCREEN_VS: a smooth gradient from uv, different in every channel (render-to-texture scenes).
UV_PS = """
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> { return vec4<f32>(uv.x, uv.y, 1.0 - uv.x * uv.y, 1.0); }
"""
