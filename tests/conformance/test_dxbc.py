"""Real fxc-compiled shaders (DirectXTK's effects, ../shared/dxbc/directxtk) drawn through
pvgpu, against the same math written by hand in WGSL and drawn with direct wgpu.

The guest side creates its shaders from the DXBC blobs (CreateVertexShader / CreatePixelShader)
and its input layouts against the vertex shader's bytecode, so elements are matched to the
input signature by semantic name and index. The direct side draws the same vertices, constant
buffers, textures and samplers with WGSL written from each blob's fxc listing (NAME.asm beside
it): the same constant-buffer layout (one float4 array per buffer, read by register index) and
the same operations in the same order. Bindings follow docs/protocol.md (constant buffer n at
@binding(n), sampler n at 16 + n, shader resource n at 32 + n; group 0 vertex, group 1 pixel).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pvgpu import guest as g

from .pair import LINEAR, POINT, Draw, Target, Texture, draw as pair_draw, pattern
from .scene import scene

F = g.DxgiFormat
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "dxbc" / "directxtk"
TARGET = Target(32, 32)


def blob(name: str) -> bytes:
    path = CORPUS / f"{name}.dxbc"
    if not path.is_file():
        pytest.skip(f"the DirectXTK DXBC corpus is absent ({path}): these scenes need ../shared/dxbc")
    return path.read_bytes()


def run(pair, draws: list[tuple[Draw, Draw]], baseline: list[Draw] | None = None, **check):
    """`draws`: (guest draw with DXBC shaders, direct draw with the WGSL written from the listing)."""
    return pair.check([gd for gd, _ in draws], TARGET, reference=[rd for _, rd in draws], baseline=baseline,
                      **check)


def effect(vs: str, ps: str, vs_wgsl: str, ps_wgsl: str, **draw) -> tuple[Draw, Draw]:
    """The same draw twice: DXBC blobs `vs`/`ps` for pvgpu, WGSL for direct wgpu."""
    reference = Draw(vs=vs_wgsl, ps=ps_wgsl, **draw)
    return replace(reference, vs=blob(vs), ps=blob(ps)), reference


# --- inputs ---------------------------------------------------------------------------------------
def el(name: str, fmt: F, index: int = 0) -> g.InputElementDesc:
    return g.InputElementDesc(name, index, fmt)


POSITION = el("SV_Position", F.R32G32B32A32_FLOAT)
NORMAL = el("NORMAL", F.R32G32B32_FLOAT)
TEXCOORD = el("TEXCOORD", F.R32G32_FLOAT)
TEXCOORD1 = el("TEXCOORD", F.R32G32_FLOAT, 1)
COLOR = el("COLOR", F.R32G32B32A32_FLOAT)
BLENDINDICES = el("BLENDINDICES", F.R32G32B32A32_UINT)
BLENDWEIGHT = el("BLENDWEIGHT", F.R32G32B32A32_FLOAT)

N = 5  # grid vertices per side


def grid() -> dict[str, np.ndarray]:
    """A bumpy N x N grid over most of clip space: per vertex attributes by semantic."""
    rng = np.random.default_rng(7)
    ys, xs = np.meshgrid(np.linspace(-0.95, 0.95, N), np.linspace(-0.95, 0.95, N), indexing="ij")
    x, y = xs.ravel(), ys.ravel()
    z = 0.3 * np.sin(2.0 * x) * np.cos(1.5 * y)
    ones = np.ones_like(x)
    u, v = (x + 1) / 2, (1 - y) / 2
    return {
        "SV_Position": np.stack([x, y, z, ones], 1),
        "NORMAL": np.stack([0.8 * x + 0.1, 0.7 * y - 0.2, ones], 1),
        "TEXCOORD0": np.stack([u * 1.5, v * 1.25], 1),
        "TEXCOORD1": np.stack([1 - v, u], 1),
        "COLOR": rng.uniform(0.2, 1.0, (N * N, 4)),
        "BLENDINDICES": rng.integers(0, 6, (N * N, 4)).astype(np.uint32),
        "BLENDWEIGHT": (lambda w: w / w.sum(1, keepdims=True))(rng.uniform(0.1, 1.0, (N * N, 4))),
    }


def grid_indices() -> np.ndarray:
    idx = []
    for r in range(N - 1):
        for c in range(N - 1):
            a = r * N + c
            idx += [a, a + N, a + N + 1, a, a + N + 1, a + 1]
    return np.array(idx, np.uint16)


def mesh(layout) -> dict:
    """Draw arguments for the grid with the attributes of `layout` (in its order)."""
    attrs = grid()
    cols = []
    for e in layout:
        a = attrs[e.semantic_name + (str(e.semantic_index) if e.semantic_name == "TEXCOORD" else "")]
        # uint32 elements keep their bit patterns in the float32 vertex records
        cols.append(a.view(np.float32) if a.dtype == np.uint32 else a.astype(np.float32))
    return {"vertices": np.ascontiguousarray(np.concatenate(cols, 1), np.float32), "layout": tuple(layout),
            "indices": grid_indices()}


def rows(m) -> np.ndarray:
    return np.asarray(m, np.float32)


# Matrices as the rows the shaders dot with (DirectXTK stores them transposed: dp4 with each row).
WORLD = rows([[0.9, 0.1, 0.0, 0.1], [-0.1, 0.9, 0.2, 0.0], [0.0, -0.2, 1.0, 0.1], [0, 0, 0, 1]])
WORLD_INV_T = rows([[1.0, 0.1, 0.0, 0], [-0.1, 1.0, 0.2, 0], [0.05, -0.2, 1.0, 0]])
WVP = rows([[0.9, 0.15, 0.0, 0.0], [-0.15, 0.85, 0.0, 0.0], [0.0, 0.0, 0.25, 0.5], [0.05, 0.02, 0.1, 1.0]])


def unit(*v) -> tuple:
    a = np.asarray(v, np.float64)
    return tuple(a / np.linalg.norm(a))


LIGHT_DIRS = [unit(-0.5, -0.3, -1.0), unit(0.8, -0.2, -0.5), unit(0.1, 0.9, 0.3)]
LIGHT_DIFFUSE = [(0.8, 0.6, 0.4), (0.2, 0.5, 0.3), (0.4, 0.3, 0.9)]
LIGHT_SPECULAR = [(0.7, 0.7, 0.6), (0.3, 0.6, 0.2), (0.5, 0.2, 0.6)]


def basic_constants(fog=(0.4, 0.1, 0.0, 0.3)) -> np.ndarray:
    """BasicEffect's cbuffer Parameters (26 registers): DiffuseColor c0, EmissiveColor c1,
    SpecularColor/Power c2, LightDirection c3-5, LightDiffuseColor c6-8, LightSpecularColor
    c9-11, EyePosition c12, FogColor c13, FogVector c14, World c15-18,
    WorldInverseTranspose c19-21, WorldViewProj c22-25."""
    cb = np.zeros((26, 4), np.float32)
    cb[0] = (0.9, 0.7, 0.5, 0.8)
    cb[1, :3] = (0.05, 0.1, 0.0)
    cb[2] = (0.6, 0.6, 0.5, 8.0)
    cb[3:6, :3] = LIGHT_DIRS
    cb[6:9, :3] = LIGHT_DIFFUSE
    cb[9:12, :3] = LIGHT_SPECULAR
    cb[12, :3] = (0.2, 0.3, 2.5)
    cb[13, :3] = (0.3, 0.5, 0.7)
    cb[14] = fog
    cb[15:19] = WORLD
    cb[19:22] = WORLD_INV_T
    cb[22:26] = WVP
    return cb


# --- WGSL written from the listings ---------------------------------------------------------------
def cbuffer(group: int, registers: int) -> str:
    """cb0 of a stage as a float4 array, with the dp4/dp3 row helpers the listings use."""
    return f"""
struct CB {{ c: array<vec4<f32>, {registers}> }};
@group({group}) @binding(0) var<uniform> cb: CB;
fn m4(p: vec4<f32>, r: u32) -> vec4<f32> {{
    return vec4<f32>(dot(p, cb.c[r]), dot(p, cb.c[r + 1u]), dot(p, cb.c[r + 2u]), dot(p, cb.c[r + 3u]));
}}
fn m3(v: vec3<f32>, r: u32) -> vec3<f32> {{
    return vec3<f32>(dot(v, cb.c[r].xyz), dot(v, cb.c[r + 1u].xyz), dot(v, cb.c[r + 2u].xyz));
}}
"""


def lights(directions=3, diffuse=6, specular=9, diffuse_color=0, emissive=1, specular_color=2) -> str:
    """Lighting.fxh's ComputeLights for 3 lights (as the listings do it: dotL, dotH, the zeroL
    step, pow as exp(log * power)); returns (diffuse, specular). `specular` None: diffuse only."""
    spec = "vec3<f32>(0.0)" if specular is None else f"""(sp.x * cb.c[{specular}].xyz + sp.y * cb.c[{specular + 1}].xyz
        + sp.z * cb.c[{specular + 2}].xyz) * cb.c[{specular_color}].xyz"""
    return f"""
fn lights(eye: vec3<f32>, n: vec3<f32>) -> array<vec3<f32>, 2> {{
    var dl = vec3<f32>(0.0);
    var dh = vec3<f32>(0.0);
    for (var i = 0u; i < 3u; i++) {{
        let d = cb.c[{directions}u + i].xyz;
        dl[i] = dot(-d, n);
        dh[i] = dot(normalize(eye - d), n);
    }}
    let z = select(vec3<f32>(0.0), vec3<f32>(1.0), dl >= vec3<f32>(0.0));
    let df = dl * z;
    let sp = exp2(log2(max(dh, vec3<f32>(0.0)) * z) * cb.c[{specular_color}].w) * dl;
    let diffuse = (df.x * cb.c[{diffuse}].xyz + df.y * cb.c[{diffuse + 1}].xyz + df.z * cb.c[{diffuse + 2}].xyz)
        * cb.c[{diffuse_color}].xyz + cb.c[{emissive}].xyz;
    let specular = {spec};
    return array<vec3<f32>, 2>(diffuse, specular);
}}
"""


def fog(register: int) -> str:
    """ApplyFog: lerp(color.rgb, FogColor * color.a, factor)."""
    return f"""
fn fog(c: vec4<f32>, f: f32) -> vec4<f32> {{
    return vec4<f32>(c.rgb + f * (cb.c[{register}].xyz * c.a - c.rgb), c.a);
}}
"""


def fog_factor(p, register):
    return f"clamp(dot({p}, cb.c[{register}]), 0.0, 1.0)"


def sampled(*slots, cube=()) -> str:
    """Texture t`n` / sampler s`n` declarations of the pixel stage."""
    out = ""
    for n in slots:
        kind = "texture_cube<f32>" if n in cube else "texture_2d<f32>"
        out += f"@group(1) @binding({32 + n}) var t{n}: {kind};\n"
    return out


def samplers(*slots) -> str:
    return "".join(f"@group(1) @binding({16 + n}) var s{n}: sampler;\n" for n in slots)


# BasicEffect -------------------------------------------------------------------------------------
VS_BASIC_VC_NOFOG = cbuffer(0, 26) + """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32> };
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) c: vec4<f32>) -> VOut { return VOut(m4(p, 22u), c * cb.c[0]); }
"""
PS_BASIC_NOFOG = """
@fragment
fn ps(@location(0) diffuse: vec4<f32>) -> @location(0) vec4<f32> { return diffuse; }
"""

VS_BASIC = cbuffer(0, 26) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>) -> VOut {{
    return VOut(m4(p, 22u), cb.c[0], vec4<f32>(0.0, 0.0, 0.0, {fog_factor("p", 14)}));
}}
"""
PS_BASIC = cbuffer(1, 14) + fog(13) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>) -> @location(0) vec4<f32> {
    return fog(diffuse, specular.w);
}
"""

VS_BASIC_VERTEX_LIGHTING = cbuffer(0, 26) + lights() + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>) -> VOut {{
    let normal = normalize(m3(n, 19u));
    let world = m4(p, 15u).xyz;
    let eye = normalize(cb.c[12].xyz - world);
    let l = lights(eye, normal);
    return VOut(m4(p, 22u), vec4<f32>(l[0], cb.c[0].w), vec4<f32>(l[1], {fog_factor("p", 14)}));
}}
"""
PS_BASIC_VERTEX_LIGHTING = cbuffer(1, 14) + fog(13) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>) -> @location(0) vec4<f32> {
    let c = vec4<f32>(diffuse.rgb + specular.rgb * diffuse.a, diffuse.a);
    return fog(c, specular.w);
}
"""

#: VSBasicPixelLighting(Tx): world position + fog factor, world normal, (1, 1, 1, alpha).
def vs_pixel_lighting(textured: bool) -> str:
    uv_in = ", @location(2) uv: vec2<f32>" if textured else ""
    uv_out = "@location(3) uv: vec2<f32>," if textured else ""
    uv_arg = ", uv" if textured else ""
    return cbuffer(0, 26) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) pos_ws: vec4<f32>, @location(1) normal: vec3<f32>,
               @location(2) diffuse: vec4<f32>, {uv_out} }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>{uv_in}) -> VOut {{
    let pos_ws = vec4<f32>(m4(p, 15u).xyz, {fog_factor("p", 14)});
    return VOut(m4(p, 22u), pos_ws, normalize(m3(n, 19u)), vec4<f32>(1.0, 1.0, 1.0, cb.c[0].w){uv_arg});
}}
"""


def ps_pixel_lighting(textured: bool) -> str:
    head = cbuffer(1, 14) + lights() + fog(13) + (sampled(0) + samplers(0) if textured else "")
    color = "textureSample(t0, s0, uv) * diffuse" if textured else "diffuse"
    uv_in = ", @location(3) uv: vec2<f32>" if textured else ""
    return head + f"""
@fragment
fn ps(@location(0) pos_ws: vec4<f32>, @location(1) normal: vec3<f32>, @location(2) diffuse: vec4<f32>{uv_in})
      -> @location(0) vec4<f32> {{
    let eye = normalize(cb.c[12].xyz - pos_ws.xyz);
    let l = lights(eye, normalize(normal));
    let color = {color};
    let c = vec4<f32>(color.rgb * l[0] + l[1] * color.a, color.a);
    return fog(c, pos_ws.w);
}}
"""


VS_BASIC_TX_VC = cbuffer(0, 26) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>,
               @location(2) uv: vec2<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) uv: vec2<f32>, @location(2) c: vec4<f32>) -> VOut {{
    return VOut(m4(p, 22u), c * cb.c[0], vec4<f32>(0.0, 0.0, 0.0, {fog_factor("p", 14)}), uv);
}}
"""
PS_BASIC_TX = cbuffer(1, 14) + fog(13) + sampled(0) + samplers(0) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>, @location(2) uv: vec2<f32>)
      -> @location(0) vec4<f32> {
    return fog(textureSample(t0, s0, uv) * diffuse, specular.w);
}
"""


@scene("CreateVertexShader/CreatePixelShader DXBC: BasicEffect VSBasicVcNoFog + PSBasicNoFog "
       "(vertex colour times DiffuseColor)")
def test_dxbc_basic_vertex_colour(pair):
    layout = (POSITION, COLOR)
    m = mesh(layout)
    run(pair, [effect("BasicEffect_VSBasicVcNoFog", "BasicEffect_PSBasicNoFog", VS_BASIC_VC_NOFOG,
                      PS_BASIC_NOFOG, vs_constants={0: basic_constants()}, **m)], min_colors=20)


@scene("CreateVertexShader/CreatePixelShader DXBC: BasicEffect VSBasic + PSBasic (linear fog)")
def test_dxbc_basic_fog(pair):
    m = mesh((POSITION,))
    cb = basic_constants()
    r = run(pair, [effect("BasicEffect_VSBasic", "BasicEffect_PSBasic", VS_BASIC, PS_BASIC,
                          vs_constants={0: cb}, constants={0: cb[:14]}, **m)], min_colors=8)
    # the fog factor varies over the mesh: more than the DiffuseColor alone shows
    assert len(np.unique(r.frame.reshape(-1, 4), axis=0)) > 8


@scene("CreateVertexShader/CreatePixelShader DXBC: BasicEffect VSBasicVertexLighting + PSBasicVertexLighting "
       "(three directional lights per vertex, specular, fog)")
def test_dxbc_basic_vertex_lighting(pair):
    m = mesh((POSITION, NORMAL))
    cb = basic_constants()
    run(pair, [effect("BasicEffect_VSBasicVertexLighting", "BasicEffect_PSBasicVertexLighting",
                      VS_BASIC_VERTEX_LIGHTING, PS_BASIC_VERTEX_LIGHTING,
                      vs_constants={0: cb}, constants={0: cb[:14]}, **m)], min_colors=50)


@scene("CreateVertexShader/CreatePixelShader DXBC: BasicEffect VSBasicPixelLighting + PSBasicPixelLighting "
       "(three lights per pixel)")
def test_dxbc_basic_pixel_lighting(pair):
    m = mesh((POSITION, NORMAL))
    cb = basic_constants()
    run(pair, [effect("BasicEffect_VSBasicPixelLighting", "BasicEffect_PSBasicPixelLighting",
                      vs_pixel_lighting(False), ps_pixel_lighting(False),
                      vs_constants={0: cb}, constants={0: cb[:14]}, **m)], min_colors=100)


@scene("CreateVertexShader/CreatePixelShader DXBC: BasicEffect VSBasicTxVc + PSBasicTx (texture times vertex "
       "colour, fog)")
def test_dxbc_basic_textured(pair):
    m = mesh((POSITION, TEXCOORD, COLOR))
    cb = basic_constants()
    run(pair, [effect("BasicEffect_VSBasicTxVc", "BasicEffect_PSBasicTx", VS_BASIC_TX_VC, PS_BASIC_TX,
                      vs_constants={0: cb}, constants={0: cb[:14]}, textures={0: Texture([pattern(8, seed=21)])},
                      samplers={0: LINEAR}, **m)], min_colors=100)


@scene("CreateVertexShader/CreatePixelShader DXBC: BasicEffect VSBasicPixelLightingTx + PSBasicPixelLightingTx "
       "(per-pixel lighting of a texture; layout given in another order than the signature)")
def test_dxbc_basic_pixel_lighting_textured(pair):
    m = mesh((POSITION, NORMAL, TEXCOORD))
    cb = basic_constants()
    ref = Draw(vs=vs_pixel_lighting(True), ps=ps_pixel_lighting(True), vs_constants={0: cb}, constants={0: cb[:14]},
               textures={0: Texture([pattern(8, seed=22)])}, samplers={0: LINEAR}, **m)
    # the guest's layout lists the same elements (same offsets) in another order: matched by semantic
    reordered = (g.InputElementDesc("TEXCOORD", 0, F.R32G32_FLOAT, 0, 28), g.InputElementDesc("NORMAL", 0,
                 F.R32G32B32_FLOAT, 0, 16), g.InputElementDesc("SV_Position", 0, F.R32G32B32A32_FLOAT, 0, 0))
    guest_draw = replace(ref, vs=blob("BasicEffect_VSBasicPixelLightingTx"), ps=blob("BasicEffect_PSBasicPixelLightingTx"),
                         layout=reordered)
    run(pair, [(guest_draw, ref)], min_colors=100)
