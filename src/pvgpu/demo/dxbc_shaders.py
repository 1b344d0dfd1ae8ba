"""The demo cube's shaders as DXBC: what fxc would emit for `scene.VERTEX_SHADER` and
`scene.PIXEL_SHADER`, written as fxc-style assembly and assembled at import.

Same interface as the WGSL pair: the vertex stage reads POSITION (float3) and TEXCOORD0
(float2) and constant buffer 0 (`mvp`, a column-major float4x4 in cb0[0..3], then `tint` in
cb0[4]); the pixel stage samples texture t0 with sampler s0 at TEXCOORD0 and multiplies by
TEXCOORD1 (the tint). HLSL equivalent:

    cbuffer Constants : register(b0) { column_major float4x4 mvp; float4 tint; };
    struct VsOut { float4 pos : SV_Position; float2 uv : TEXCOORD0; float4 tint : TEXCOORD1; };
    VsOut vs_main(float3 pos : POSITION, float2 uv : TEXCOORD0)
    { VsOut o; o.pos = mul(mvp, float4(pos, 1)); o.uv = uv; o.tint = tint; return o; }
    Texture2D tex : register(t0); SamplerState samp : register(s0);
    float4 ps_main(VsOut i) : SV_Target { return tex.Sample(samp, i.uv) * i.tint; }

`mvp * float4(pos, 1)` with a column-major matrix is column0 * x + column1 * y + column2 * z +
column3, which fxc writes as one mul, two mads and an add.
"""

from __future__ import annotations

from ..shaders.assembler import assemble

VERTEX_SHADER_ASM = """\
//
// Input signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// POSITION                 0   xyz         0     NONE   float   xyz
// TEXCOORD                 0   xy          1     NONE   float   xy
//
//
// Output signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Position              0   xyzw        0      POS   float   xyzw
// TEXCOORD                 0   xy          1     NONE   float   xy
// TEXCOORD                 1   xyzw        2     NONE   float   xyzw
//
vs_4_0
dcl_constantbuffer CB0[5], immediateIndexed
dcl_input v0.xyz
dcl_input v1.xy
dcl_output_siv o0.xyzw, position
dcl_output o1.xy
dcl_output o2.xyzw
dcl_temps 1
mul r0.xyzw, v0.yyyy, cb0[1].xyzw
mad r0.xyzw, v0.xxxx, cb0[0].xyzw, r0.xyzw
mad r0.xyzw, v0.zzzz, cb0[2].xyzw, r0.xyzw
add o0.xyzw, r0.xyzw, cb0[3].xyzw
mov o1.xy, v1.xyxx
mov o2.xyzw, cb0[4].xyzw
ret
"""

PIXEL_SHADER_ASM = """\
//
// Input signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Position              0   xyzw        0      POS   float
// TEXCOORD                 0   xy          1     NONE   float   xy
// TEXCOORD                 1   xyzw        2     NONE   float   xyzw
//
//
// Output signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Target                0   xyzw        0   TARGET   float   xyzw
//
ps_4_0
dcl_sampler s0, mode_default
dcl_resource_texture2d (float,float,float,float) t0
dcl_input_ps linear v1.xy
dcl_input_ps linear v2.xyzw
dcl_output o0.xyzw
dcl_temps 1
sample r0.xyzw, v1.xyxx, t0.xyzw, s0
mul o0.xyzw, r0.xyzw, v2.xyzw
ret
"""

VERTEX_SHADER_DXBC: bytes = assemble(VERTEX_SHADER_ASM)
PIXEL_SHADER_DXBC: bytes = assemble(PIXEL_SHADER_ASM)
