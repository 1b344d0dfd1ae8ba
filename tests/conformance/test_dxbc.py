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
TANGENT = el("TANGENT", F.R32G32B32A32_FLOAT)
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
        "TANGENT": rng.uniform(-1.0, 1.0, (N * N, 4)),
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


@scene("CreateInputLayout with DXBC: an R32G32B32_FLOAT element feeding the float4 SV_Position input (w reads "
       "as 1; BasicEffect VSBasicVcNoFog)")
def test_dxbc_position_without_w(pair):
    layout = (el("SV_Position", F.R32G32B32_FLOAT), COLOR)
    m = mesh((POSITION, COLOR))
    m["vertices"] = np.ascontiguousarray(np.delete(m["vertices"], 3, axis=1))  # drop w
    m["layout"] = layout
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
    guest_draw = replace(ref, vs=blob("BasicEffect_VSBasicPixelLightingTx"),
                         ps=blob("BasicEffect_PSBasicPixelLightingTx"),
                         layout=reordered)
    run(pair, [(guest_draw, ref)], min_colors=100)


# AlphaTestEffect ---------------------------------------------------------------------------------
def alpha_constants(test) -> np.ndarray:
    """AlphaTestEffect's cbuffer (8 registers): DiffuseColor c0, AlphaTest c1 (reference,
    epsilon, value if the comparison holds, value if not: negative discards), FogColor c2,
    FogVector c3, WorldViewProj c4-7."""
    cb = np.zeros((8, 4), np.float32)
    cb[0] = (1.0, 0.9, 0.8, 1.0)
    cb[1] = test
    cb[2, :3] = (0.6, 0.2, 0.4)
    cb[3] = (0.3, -0.3, 0.0, 0.4)
    cb[4:8] = WVP
    return cb


VS_ALPHA_TEST = cbuffer(0, 8) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>,
               @location(2) uv: vec2<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) uv: vec2<f32>) -> VOut {{
    return VOut(m4(p, 4u), cb.c[0], vec4<f32>(0.0, 0.0, 0.0, {fog_factor("p", 3)}), uv);
}}
"""
PS_ALPHA_TEST_LT_GT = cbuffer(1, 3) + fog(2) + sampled(0) + samplers(0) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>, @location(2) uv: vec2<f32>)
      -> @location(0) vec4<f32> {
    let color = textureSample(t0, s0, uv) * diffuse;
    if (select(cb.c[1].w, cb.c[1].z, color.a < cb.c[1].x) < 0.0) {
        discard;
    }
    return fog(color, specular.w);
}
"""
VS_ALPHA_TEST_NOFOG = cbuffer(0, 8) + """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) uv: vec2<f32> };
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) uv: vec2<f32>) -> VOut { return VOut(m4(p, 4u), cb.c[0], uv); }
"""
PS_ALPHA_TEST_EQ_NE_NOFOG = cbuffer(1, 2) + sampled(0) + samplers(0) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) uv: vec2<f32>) -> @location(0) vec4<f32> {
    let color = textureSample(t0, s0, uv) * diffuse;
    if (select(cb.c[1].w, cb.c[1].z, abs(color.a - cb.c[1].x) < cb.c[1].y) < 0.0) {
        discard;
    }
    return color;
}
"""


def alpha_scene(pair, vs, ps, vs_wgsl, ps_wgsl, test):
    m = mesh((POSITION, TEXCOORD))
    tex = Texture([pattern(8, seed=31)])
    kw = dict(textures={0: tex}, samplers={0: POINT}, **m)
    cb = alpha_constants(test)
    drawn = effect(vs, ps, vs_wgsl, ps_wgsl, vs_constants={0: cb}, constants={0: cb[:3]}, **kw)
    # baseline: the same effect with a test that keeps every pixel
    keep = alpha_constants((0.0, 0.0, 1.0, 1.0))
    base = replace(drawn[1], vs_constants={0: keep}, constants={0: keep[:3]})
    r = run(pair, [drawn], baseline=[base], min_changed=50, min_colors=8)
    kept = np.count_nonzero((r.frame != np.round(np.array((0.1, 0.2, 0.3, 1.0)) * 255)).any(-1))
    assert 0 < kept < r.frame.shape[0] * r.frame.shape[1], "the alpha test kept all or none of the pixels"
    return r


@scene("CreatePixelShader DXBC: AlphaTestEffect PSAlphaTestLtGt (discard_nz where alpha < reference; fog)")
def test_dxbc_alpha_test_less(pair):
    alpha_scene(pair, "AlphaTestEffect_VSAlphaTest", "AlphaTestEffect_PSAlphaTestLtGt", VS_ALPHA_TEST,
                PS_ALPHA_TEST_LT_GT, (0.5, 0.0, -1.0, 1.0))


@scene("CreatePixelShader DXBC: AlphaTestEffect PSAlphaTestEqNeNoFog (discard where |alpha - reference| "
       "is not below epsilon)")
def test_dxbc_alpha_test_equal(pair):
    alpha_scene(pair, "AlphaTestEffect_VSAlphaTestNoFog", "AlphaTestEffect_PSAlphaTestEqNeNoFog",
                VS_ALPHA_TEST_NOFOG, PS_ALPHA_TEST_EQ_NE_NOFOG, (0.5, 0.3, 1.0, -1.0))


# DualTextureEffect --------------------------------------------------------------------------------
VS_DUAL_TEXTURE = cbuffer(0, 7) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>,
               @location(2) uv: vec4<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) uv0: vec2<f32>, @location(2) uv1: vec2<f32>) -> VOut {{
    return VOut(m4(p, 3u), cb.c[0], vec4<f32>(0.0, 0.0, 0.0, {fog_factor("p", 2)}), vec4<f32>(uv0, uv1));
}}
"""
PS_DUAL_TEXTURE = cbuffer(1, 2) + fog(1) + sampled(0, 1) + samplers(0, 1) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>, @location(2) uv: vec4<f32>)
      -> @location(0) vec4<f32> {
    let overlay = textureSample(t1, s1, uv.zw) * diffuse;
    let base = textureSample(t0, s0, uv.xy) * vec4<f32>(2.0, 2.0, 2.0, 1.0);
    return fog(overlay * base, specular.w);
}
"""


@scene("CreateVertexShader/CreatePixelShader DXBC: DualTextureEffect (two textures, two samplers, two "
       "texture coordinates packed in one register)")
def test_dxbc_dual_texture(pair):
    m = mesh((POSITION, TEXCOORD, TEXCOORD1))
    cb = np.zeros((7, 4), np.float32)
    cb[0] = (0.8, 0.9, 0.7, 1.0)
    cb[1, :3] = (0.2, 0.1, 0.5)
    cb[2] = (-0.3, 0.2, 0.0, 0.3)
    cb[3:7] = WVP
    tex0, tex1 = Texture([pattern(4, seed=41)]), Texture([pattern(8, seed=42)])
    drawn = effect("DualTextureEffect_VSDualTexture", "DualTextureEffect_PSDualTexture", VS_DUAL_TEXTURE,
                   PS_DUAL_TEXTURE, vs_constants={0: cb}, constants={0: cb[:2]}, textures={0: tex0, 1: tex1},
                   samplers={0: POINT, 1: LINEAR}, **m)
    base = replace(drawn[1], textures={0: tex0, 1: Texture([pattern(8, seed=43)])})
    run(pair, [drawn], baseline=[base], min_changed=200, min_colors=100)


# EnvironmentMapEffect ----------------------------------------------------------------------------
VS_ENV_MAP = cbuffer(0, 24) + lights(directions=4, diffuse=7, specular=None, diffuse_color=2, emissive=3,
                                      specular_color=0) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>,
               @location(2) uv: vec2<f32>, @location(3) env: vec3<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>, @location(2) uv: vec2<f32>) -> VOut {{
    let normal = normalize(m3(n, 17u));
    let eye = normalize(cb.c[10].xyz - m4(p, 13u).xyz);
    let l = lights(eye, normal);
    let env = -eye - 2.0 * dot(-eye, normal) * normal;
    return VOut(m4(p, 20u), vec4<f32>(l[0], cb.c[2].w), vec4<f32>(vec3<f32>(cb.c[1].x), {fog_factor("p", 12)}),
                uv, env);
}}
"""
PS_ENV_MAP = cbuffer(1, 12) + fog(11) + sampled(0, 1, cube=(1,)) + samplers(0, 1) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>, @location(2) uv: vec2<f32>,
      @location(3) env: vec3<f32>) -> @location(0) vec4<f32> {
    let e = textureSample(t1, s1, env);
    let color = textureSample(t0, s0, uv) * diffuse;
    let c = vec4<f32>(color.rgb + specular.rgb * (e.rgb * color.a - color.rgb), color.a);
    return fog(c, specular.w);
}
"""


def cube_faces(size: int = 4, seed: int = 51) -> list:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 4), dtype=np.uint8) for _ in range(6)]


@scene("CreateVertexShader/CreatePixelShader DXBC: EnvironmentMapEffect VSEnvMap + PSEnvMap (reflection vector "
       "into a cube texture, diffuse lights, fog)")
def test_dxbc_environment_map(pair):
    m = mesh((POSITION, NORMAL, TEXCOORD))
    cb = np.zeros((24, 4), np.float32)
    cb[0] = (0.5, 0.4, 0.3, 0.0)  # EnvironmentMapSpecular, FresnelFactor
    cb[1, 0] = 0.7  # EnvironmentMapAmount
    cb[2] = (0.9, 0.8, 0.7, 0.9)
    cb[3, :3] = (0.05, 0.05, 0.1)
    cb[4:7, :3] = LIGHT_DIRS
    cb[7:10, :3] = LIGHT_DIFFUSE
    cb[10, :3] = (0.2, 0.3, 2.5)
    cb[11, :3] = (0.3, 0.5, 0.7)
    cb[12] = (0.2, 0.2, 0.0, 0.1)
    cb[13:17] = WORLD
    cb[17:20] = WORLD_INV_T
    cb[20:24] = WVP
    cube = Texture(cube_faces(), layers=6, cube=True, view={"dimension": "cube"})
    drawn = effect("EnvironmentMapEffect_VSEnvMap", "EnvironmentMapEffect_PSEnvMap", VS_ENV_MAP, PS_ENV_MAP,
                   vs_constants={0: cb}, constants={0: cb[:12]},
                   textures={0: Texture([pattern(8, seed=52)]), 1: cube}, samplers={0: LINEAR, 1: LINEAR}, **m)
    other = Texture(cube_faces(seed=53), layers=6, cube=True, view={"dimension": "cube"})
    base = replace(drawn[1], textures={0: drawn[1].textures[0], 1: other})
    run(pair, [drawn], baseline=[base], min_changed=100, min_colors=100)


# SkinnedEffect ------------------------------------------------------------------------------------
VS_SKINNED = cbuffer(0, 242) + lights() + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>,
               @location(2) uv: vec2<f32> }};
fn bone_row(b: vec4<u32>, w: vec4<f32>, row: u32) -> vec4<f32> {{
    let i = b * 3u + vec4<u32>(26u + row);
    return cb.c[i.y] * w.y + cb.c[i.x] * w.x + cb.c[i.z] * w.z + cb.c[i.w] * w.w;
}}
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>, @location(2) uv: vec2<f32>,
      @location(3) bones: vec4<u32>, @location(4) weights: vec4<f32>) -> VOut {{
    let r0 = bone_row(bones, weights, 0u);
    let r1 = bone_row(bones, weights, 1u);
    let r2 = bone_row(bones, weights, 2u);
    let sp = vec4<f32>(dot(p, r0), dot(p, r1), dot(p, r2), p.w);
    let sn = vec3<f32>(dot(n, r0.xyz), dot(n, r1.xyz), dot(n, r2.xyz));
    let normal = normalize(m3(sn, 19u));
    let eye = normalize(cb.c[12].xyz - m4(sp, 15u).xyz);
    let l = lights(eye, normal);
    return VOut(m4(sp, 22u), vec4<f32>(l[0], cb.c[0].w), vec4<f32>(l[1], {fog_factor("sp", 14)}), uv);
}}
"""
PS_SKINNED_VERTEX_LIGHTING = cbuffer(1, 14) + fog(13) + sampled(0) + samplers(0) + """
@fragment
fn ps(@location(0) diffuse: vec4<f32>, @location(1) specular: vec4<f32>, @location(2) uv: vec2<f32>)
      -> @location(0) vec4<f32> {
    let color = textureSample(t0, s0, uv) * diffuse;
    return fog(vec4<f32>(color.rgb + specular.rgb * color.a, color.a), specular.w);
}
"""


def bones(count: int, seed: int) -> np.ndarray:
    """`count` bone matrices as 3 rows each (rotation-ish 3x3 and a translation column)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((count * 3, 4), np.float32)
    for b in range(count):
        m = np.eye(3) + rng.uniform(-0.25, 0.25, (3, 3))
        out[3 * b:3 * b + 3, :3] = m
        out[3 * b:3 * b + 3, 3] = rng.uniform(-0.15, 0.15, 3)
    return out


@scene("CreateVertexShader DXBC: SkinnedEffect VSSkinnedVertexLightingFourBones (uint4 BLENDINDICES, bone "
       "matrices read with dynamic constant-buffer indexing cb0[r0.x + 26]) + PSSkinnedVertexLighting")
def test_dxbc_skinned(pair):
    m = mesh((POSITION, NORMAL, TEXCOORD, BLENDINDICES, BLENDWEIGHT))
    cb = np.zeros((242, 4), np.float32)
    cb[:26] = basic_constants(fog=(0.2, -0.3, 0.0, 0.35))
    cb[26:26 + 18] = bones(6, seed=61)
    tex = Texture([pattern(8, seed=62)])
    drawn = effect("SkinnedEffect_VSSkinnedVertexLightingFourBones", "SkinnedEffect_PSSkinnedVertexLighting",
                   VS_SKINNED, PS_SKINNED_VERTEX_LIGHTING, vs_constants={0: cb}, constants={0: cb[:14]},
                   textures={0: tex}, samplers={0: LINEAR}, **m)
    other = cb.copy()
    other[26:26 + 18] = bones(6, seed=63)
    run(pair, [drawn], baseline=[replace(drawn[1], vs_constants={0: other})], min_changed=100, min_colors=100)


# PostProcess and ToneMap: full-screen triangle from SV_VertexID -----------------------------------
VS_QUAD = """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) id: u32) -> VOut {
    let uv = vec2<f32>(f32((id << 1u) & 2u), f32(id & 2u));
    return VOut(vec4<f32>(uv.x * 2.0 - 1.0, uv.y * -2.0 + 1.0, 0.0, 1.0), uv);
}
"""


def post_ps(body: str, registers: int = 0) -> str:
    head = cbuffer(1, registers) if registers else ""
    return head + sampled(0) + samplers(0) + f"""
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {{
{body}
}}
"""


PS_MONOCHROME = post_ps("""    let c = textureSample(t0, s0, uv);
    let grey = dot(c.rgb, vec3<f32>(0.2125, 0.7154, 0.0721));
    return vec4<f32>(grey, grey, grey, c.a);""")
PS_SEPIA = post_ps("""    let c = textureSample(t0, s0, uv);
    return vec4<f32>(dot(c.rgb, vec3<f32>(0.393, 0.769, 0.189)), dot(c.rgb, vec3<f32>(0.349, 0.686, 0.168)),
                     dot(c.rgb, vec3<f32>(0.272, 0.534, 0.131)), c.a);""")
PS_DOWNSCALE_2X2 = post_ps("""    var sum = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        sum += textureSample(t0, s0, uv + cb.c[i].xy);
    }
    return sum * 0.25;""", 32)
PS_GAUSSIAN_5X5 = post_ps("""    var sum = vec4<f32>(0.0);
    for (var i = 0u; i < 13u; i++) {
        sum += cb.c[i + 16u] * textureSample(t0, s0, uv + cb.c[i].xy);
    }
    return sum;""", 32)
PS_BLOOM_EXTRACT = post_ps("""    let c = textureSample(t0, s0, uv);
    return clamp((c - cb.c[16]) / (1.0 - cb.c[16]), vec4<f32>(0.0), vec4<f32>(1.0));""", 32)
PS_REINHARD = post_ps("""    let c = textureSample(t0, s0, uv);
    let x = c.rgb * cb.c[0].x;
    return vec4<f32>(x / (c.rgb * cb.c[0].x + 1.0), c.a);""", 1)
PS_ACES = post_ps("""    let c = textureSample(t0, s0, uv);
    let x = c.rgb * cb.c[0].x;
    return vec4<f32>(clamp((x * (x * 2.51 + 0.03)) / (x * (x * 2.43 + 0.59) + 0.14), vec3<f32>(0.0), vec3<f32>(1.0)),
                     c.a);""", 1)

SOURCE = pattern(16, seed=71)


def post_scene(pair, vs: str, ps: str, ps_wgsl: str, constants: np.ndarray | None = None, sampler=LINEAR,
               min_colors: int = 50):
    """A PostProcess / ToneMap pixel shader over the full-screen triangle of VSQuad (no input
    layout), reading a 16x16 RGBA8 texture; the baseline shows the texture as it is."""
    kw = dict(layout=None, call=pair_draw(3), textures={0: Texture([SOURCE])}, samplers={0: sampler})
    drawn = effect(vs, ps, VS_QUAD, ps_wgsl, constants={} if constants is None else {0: constants}, **kw)
    copy = Draw(vs=VS_QUAD, ps=post_ps("    return textureSample(t0, s0, uv);"), **kw)
    return run(pair, [drawn], baseline=[copy], min_changed=200, min_colors=min_colors)


@scene("CreateVertexShader/CreatePixelShader DXBC: PostProcess VSQuad (SV_VertexID) + PSMonochrome (a "
       "swizzled resource operand t0.xwyz)")
def test_dxbc_postprocess_monochrome(pair):
    r = post_scene(pair, "PostProcess_VSQuad", "PostProcess_PSMonochrome", PS_MONOCHROME)
    assert (r.frame[..., 0] == r.frame[..., 1]).all()


@scene("CreatePixelShader DXBC: PostProcess PSSepia (three dp3 with literal rows)")
def test_dxbc_postprocess_sepia(pair):
    post_scene(pair, "PostProcess_VSQuad", "PostProcess_PSSepia", PS_SEPIA)


def offsets(n: int, step: float = 1 / 16) -> np.ndarray:
    cb = np.zeros((32, 4), np.float32)
    ring = [(-1, -1), (1, -1), (-1, 1), (1, 1), (0, -2), (0, 2), (-2, 0), (2, 0), (0, 0), (-1, 0), (1, 0), (0, -1),
            (0, 1)]
    cb[:n, :2] = np.array(ring[:n], np.float32) * step * 0.5
    return cb


@scene("CreatePixelShader DXBC: PostProcess PSDownScale2x2 (loop, breakc_nz, cb0[r1.x + 0] dynamic indexing)")
def test_dxbc_postprocess_downscale(pair):
    post_scene(pair, "PostProcess_VSQuad", "PostProcess_PSDownScale2x2", PS_DOWNSCALE_2X2, offsets(4))


@scene("CreatePixelShader DXBC: PostProcess PSGaussianBlur5x5 (13 taps, offsets cb0[i], weights cb0[i + 16])")
def test_dxbc_postprocess_gaussian_blur(pair):
    cb = offsets(13)
    w = np.random.default_rng(72).uniform(0.2, 1.0, (13, 4))
    cb[16:29] = w / w.sum(0)
    post_scene(pair, "PostProcess_VSQuad", "PostProcess_PSGaussianBlur5x5", PS_GAUSSIAN_5X5, cb)


@scene("CreatePixelShader DXBC: PostProcess PSBloomExtract (div_sat by a threshold)")
def test_dxbc_postprocess_bloom_extract(pair):
    cb = np.zeros((32, 4), np.float32)
    cb[16] = (0.3, 0.4, 0.25, 0.2)
    post_scene(pair, "PostProcess_VSQuad", "PostProcess_PSBloomExtract", PS_BLOOM_EXTRACT, cb)


@scene("CreateVertexShader/CreatePixelShader DXBC: ToneMap VSQuad + PSReinhard (exposure from cb0[0].x)")
def test_dxbc_tonemap_reinhard(pair):
    post_scene(pair, "ToneMap_VSQuad", "ToneMap_PSReinhard", PS_REINHARD, np.array([[2.5, 0, 0, 0]], np.float32))


@scene("CreatePixelShader DXBC: ToneMap PSACESFilmic (rational curve, div_sat)")
def test_dxbc_tonemap_aces(pair):
    post_scene(pair, "ToneMap_VSQuad", "ToneMap_PSACESFilmic", PS_ACES, np.array([[1.5, 0, 0, 0]], np.float32))


# SpriteEffect -------------------------------------------------------------------------------------
VS_SPRITE = cbuffer(0, 4) + """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32>, @location(1) uv: vec2<f32> };
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) c: vec4<f32>, @location(2) uv: vec2<f32>) -> VOut {
    return VOut(p.x * cb.c[0] + p.y * cb.c[1] + p.z * cb.c[2] + p.w * cb.c[3], c, uv);
}
"""
PS_SPRITE = sampled(0) + samplers(0) + """
@fragment
fn ps(@location(0) c: vec4<f32>, @location(1) uv: vec2<f32>) -> @location(0) vec4<f32> {
    return textureSample(t0, s0, uv) * c;
}
"""


@scene("CreateVertexShader/CreatePixelShader DXBC: SpriteEffect (SV_Position is the signature's third "
       "register; the layout lists it first)")
def test_dxbc_sprite(pair):
    m = mesh((POSITION, COLOR, TEXCOORD))
    # SpriteBatch's transform: pixels to clip space, here a 2x2 scale with a twist (rows dotted by columns)
    cb = rows([[0.9, -0.1, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.02, -0.05, 0.0, 1.0]])
    drawn = effect("SpriteEffect_SpriteVertexShader", "SpriteEffect_SpritePixelShader", VS_SPRITE, PS_SPRITE,
                   vs_constants={0: cb}, textures={0: Texture([pattern(8, seed=81)])}, samplers={0: POINT}, **m)
    run(pair, [drawn], min_colors=50)


# NormalMapEffect ----------------------------------------------------------------------------------
PS_NORMAL_MAP_NOFOG_SPEC = cbuffer(1, 13) + lights() + sampled(0, 2) + samplers(0) + """
@fragment
fn ps(@location(0) pos_ws: vec4<f32>, @location(1) normal: vec3<f32>, @location(2) diffuse: vec4<f32>,
      @location(3) uv: vec2<f32>) -> @location(0) vec4<f32> {
    // Utilities.fxh's CalculateTBN from the screen-space derivatives of position and uv
    let p = pos_ws.xyz;
    let dp1 = dpdx(p);
    let dp2 = dpdy(p);
    let duv1 = dpdx(uv);
    let duv2 = dpdy(uv);
    let c = cross(dp1, dp2);
    let i0 = cross(dp2, c);
    let i1 = cross(c, dp1);
    let t = normalize(duv1.x * i0 + duv2.x * i1);
    let b = normalize(duv1.y * i0 + duv2.y * i1);
    // TwoChannelNormalX2, then PeturbNormal
    let xy = textureSample(t2, s0, uv).xy * 2.0 - 1.0;
    let local = vec3<f32>(xy, sqrt(1.0 - dot(xy, xy)));
    let n = normalize(local.x * t + local.y * b + local.z * normal);
    let eye = normalize(cb.c[12].xyz - p);
    let l = lights(eye, n);
    let color = textureSample(t0, s0, uv) * diffuse;
    return vec4<f32>(color.rgb * l[0] + l[1] * color.a, color.a);
}
"""


@scene("CreatePixelShader DXBC: NormalMapEffect PSNormalPixelLightingTxNoFogSpec (deriv_rtx/deriv_rty "
       "tangent frame, a two-channel normal map in t2, three lights per pixel)")
def test_dxbc_normal_map(pair):
    m = mesh((POSITION, NORMAL, TEXCOORD))
    cb = basic_constants()
    rng = np.random.default_rng(91)
    normals = rng.integers(77, 179, (8, 8, 4), dtype=np.uint8)  # |xy| stays below 1 (no sqrt of a negative)
    diffuse = Texture([pattern(8, seed=92)])
    drawn = effect("NormalMapEffect_VSNormalPixelLightingTx", "NormalMapEffect_PSNormalPixelLightingTxNoFogSpec",
                   vs_pixel_lighting(True), PS_NORMAL_MAP_NOFOG_SPEC, vs_constants={0: cb}, constants={0: cb[:13]},
                   textures={0: diffuse, 2: Texture([normals])}, samplers={0: LINEAR}, **m)
    flat = np.full((8, 8, 4), 128, np.uint8)
    run(pair, [drawn], baseline=[replace(drawn[1], textures={0: diffuse, 2: Texture([flat])})], min_changed=100,
        min_colors=100)


# PBREffect ----------------------------------------------------------------------------------------
VS_PBR_CONSTANT = cbuffer(0, 23) + """
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32>, @location(1) pos_ws: vec4<f32>,
              @location(2) normal: vec3<f32>, @location(3) diffuse: vec4<f32> };
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>, @location(2) uv: vec2<f32>) -> VOut {
    return VOut(m4(p, 8u), uv, vec4<f32>(m4(p, 1u).xyz, 1.0), normalize(m3(n, 5u)), cb.c[22]);
}
"""
PS_PBR_CONSTANT = cbuffer(1, 24) + sampled(4, 5, cube=(4, 5)) + samplers(1) + """
@fragment
fn ps(@location(1) pos_ws: vec4<f32>, @location(2) normal: vec3<f32>) -> @location(0) vec4<f32> {
    let albedo = cb.c[22].xyz;
    let metallic = cb.c[23].x;
    let roughness = cb.c[23].y;
    let v = normalize(cb.c[0].xyz - pos_ws.xyz);
    let n = normalize(normal);
    let n_dot_v = clamp(dot(n, v), 0.0, 1.0);
    let alpha = roughness * roughness;
    let c_diff = metallic * -albedo + albedo;
    let c_spec = metallic * (albedo - 0.04) + 0.04;
    let fv = pow5(1.0 - n_dot_v);
    let alpha2 = alpha * alpha;
    let k = alpha2 * 0.25;
    var acc = vec3<f32>(0.0);
    for (var i = 0u; i < 3u; i++) {
        let l = normalize(-cb.c[16u + i].xyz);
        let h = normalize(l + v);
        let n_dot_l = clamp(dot(n, l), 0.0, 1.0);
        let l_dot_h = clamp(dot(l, h), 0.0, 1.0);
        let n_dot_h = clamp(dot(n, h), 0.0, 1.0);
        // Disney diffuse
        let fd90 = l_dot_h * l_dot_h * (roughness + roughness) - 0.5;
        let fd = (fd90 * fv + 1.0) * (fd90 * pow5(1.0 - n_dot_l) + 1.0);
        // GGX distribution, Schlick Fresnel, visibility
        let dd = n_dot_h * n_dot_h * (alpha2 - 1.0) + 1.0;
        let d = alpha2 / max(dd * dd * 3.141593, 0.000001);
        let f = (1.0 - c_spec) * pow5(1.0 - l_dot_h) + c_spec;
        let vis = 1.0 / (k * (1.0 - l_dot_h * l_dot_h) + l_dot_h * l_dot_h);
        let specular = vis * (d * f);
        acc += (n_dot_l * cb.c[19u + i].xyz) * (c_diff * fd + specular);
    }
    let irradiance = textureSample(t5, s1, n).rgb;
    let lod = f32(bitcast<i32>(cb.c[23].z)) * roughness;
    let r = n * -(2.0 * dot(-v, n)) - v;
    let radiance = textureSampleLevel(t4, s1, r, lod).rgb;
    return vec4<f32>(c_spec * radiance + (c_diff * irradiance + acc), cb.c[22].w);
}
fn pow5(x: f32) -> f32 { let x2 = x * x; return x * (x2 * x2); }
"""


def cube_mips(size: int, mips: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size >> m, size >> m, 4), dtype=np.uint8) for _ in range(6) for m in range(mips)]


@scene("CreateVertexShader/CreatePixelShader DXBC: PBREffect VSConstant + PSConstant (a loop over three lights "
       "with dynamic cb indexing, an irradiance cube t5, sample_l of a mipped radiance cube t4 at an itof'd "
       "integer constant times roughness)")
def test_dxbc_pbr_constant(pair):
    m = mesh((POSITION, NORMAL, TEXCOORD))
    cb = np.zeros((25, 4), np.float32)
    cb[0, :3] = (0.2, 0.3, 2.5)
    cb[1:5] = WORLD
    cb[5:8] = WORLD_INV_T
    cb[8:12] = WVP
    cb[12:16] = WVP
    cb[16:19, :3] = LIGHT_DIRS
    cb[19:22, :3] = [(0.8, 0.6, 0.5), (0.2, 0.5, 0.3), (0.4, 0.25, 0.7)]
    cb[22] = (0.8, 0.5, 0.3, 0.9)  # ConstantAlbedo, Alpha
    cb[23, :2] = (0.4, 0.55)  # ConstantMetallic, ConstantRoughness
    cb[23, 2] = np.array([3], np.int32).view(np.float32)[0]  # NumRadianceMipLevels (an int)
    cb[23, 3], cb[24, 0] = 32, 32
    radiance = Texture(cube_mips(8, 3, seed=101), mips=3, layers=6, cube=True, view={"dimension": "cube"})
    irradiance = Texture(cube_mips(4, 1, seed=102), layers=6, cube=True, view={"dimension": "cube"})
    drawn = effect("PBREffect_VSConstant", "PBREffect_PSConstant", VS_PBR_CONSTANT, PS_PBR_CONSTANT,
                   vs_constants={0: cb[:23]}, constants={0: cb[:24]}, textures={4: radiance, 5: irradiance},
                   samplers={1: LINEAR}, **m)
    rough = cb.copy()
    rough[23, 1] = 0.9
    run(pair, [drawn], baseline=[replace(drawn[1], constants={0: rough[:24]})], min_changed=100, min_colors=100)


# More PostProcess / ToneMap -------------------------------------------------------------------------
PS_SATURATE_SRGB = post_ps("""    let c = textureSample(t0, s0, uv);
    let x = clamp(c.rgb * cb.c[0].x, vec3<f32>(0.0), vec3<f32>(1.0));
    return vec4<f32>(exp2(log2(x) * 0.454545), c.a);""", 1)
PS_BLOOM_COMBINE = cbuffer(1, 19) + sampled(0, 1) + samplers(0) + """
fn adjust(c: vec4<f32>, saturation: f32) -> vec4<f32> {
    let grey = dot(c.rgb, vec3<f32>(0.2125, 0.7154, 0.0721));
    return saturation * (c - grey) + grey;
}
@fragment
fn ps(@location(0) uv: vec2<f32>) -> @location(0) vec4<f32> {
    let base = adjust(textureSample(t0, s0, uv), cb.c[16].x) * cb.c[17];
    let bloom = adjust(textureSample(t1, s0, uv), cb.c[16].y) * cb.c[18];
    return base * (1.0 - clamp(bloom, vec4<f32>(0.0), vec4<f32>(1.0))) + bloom;
}
"""


@scene("CreatePixelShader DXBC: ToneMap PSSaturate_SRGB (mul_sat, then log/exp for the 1/2.2 gamma)")
def test_dxbc_tonemap_saturate_srgb(pair):
    post_scene(pair, "ToneMap_VSQuad", "ToneMap_PSSaturate_SRGB", PS_SATURATE_SRGB,
               np.array([[1.7, 0, 0, 0]], np.float32))


@scene("CreatePixelShader DXBC: PostProcess PSBloomCombine (two textures through one sampler, mov_sat)")
def test_dxbc_postprocess_bloom_combine(pair):
    cb = np.zeros((19, 4), np.float32)
    cb[16, :2] = (0.6, 1.4)  # base and bloom saturation
    cb[17] = (0.9, 0.8, 1.0, 1.0)  # base intensity
    cb[18] = (1.3, 1.1, 0.7, 0.8)  # bloom intensity
    kw = dict(layout=None, call=pair_draw(3), textures={0: Texture([SOURCE]), 1: Texture([pattern(8, seed=111)])},
              samplers={0: LINEAR})
    drawn = effect("PostProcess_VSQuad", "PostProcess_PSBloomCombine", VS_QUAD, PS_BLOOM_COMBINE,
                   constants={0: cb}, **kw)
    base = replace(drawn[1], textures={0: Texture([SOURCE]), 1: Texture([pattern(8, seed=112)])})
    run(pair, [drawn], baseline=[base], min_changed=200, min_colors=50)


# DGSL (Visual Studio shader designer) -------------------------------------------------------------
VS_DGSL_VC = """
struct CB { c: array<vec4<f32>, 21> };
@group(0) @binding(0) var<uniform> cb0: CB;
@group(0) @binding(2) var<uniform> cb2: CB;
fn dp4(p: vec4<f32>, r: u32) -> f32 { return dot(p, cb2.c[r]); }
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32>, @location(1) uv: vec2<f32>,
              @location(2) normal: vec3<f32>, @location(3) world: vec3<f32>, @location(4) to_eye: vec3<f32>,
              @location(5) tangent: vec4<f32>, @location(6) normal_os: vec3<f32> };
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>, @location(2) t: vec4<f32>, @location(3) c: vec4<f32>,
      @location(4) uv: vec2<f32>) -> VOut {
    let u = vec3<f32>(uv, 1.0);
    let world = vec3<f32>(dp4(p, 0u), dp4(p, 1u), dp4(p, 2u));
    return VOut(vec4<f32>(dp4(p, 4u), dp4(p, 5u), dp4(p, 6u), dp4(p, 7u)), c * cb0.c[1],
                vec2<f32>(dot(u, cb2.c[16].xyw), dot(u, cb2.c[17].xyw)),
                vec3<f32>(dot(n, cb2.c[0].xyz), dot(n, cb2.c[1].xyz), dot(n, cb2.c[2].xyz)), world,
                cb2.c[20].xyz - world, t, n);
}
"""
PS_DGSL_UNLIT_TX_TK = sampled(0) + samplers(0) + """
@fragment
fn ps(@location(0) color: vec4<f32>, @location(1) uv: vec2<f32>) -> @location(0) vec4<f32> {
    let t = textureSample(t0, s0, uv);
    let a = t.a * color.a;
    if (a == 0.0) {
        discard;
    }
    return vec4<f32>(t.rgb * color.rgb, a);
}
"""


@scene("CreateVertexShader DXBC: DGSLEffect mainVc (constant buffers in slots 0 and 2, a TANGENT element, eight "
       "outputs) + DGSLUnlit mainTxTk (eq, discard where alpha is 0; a pixel shader reading two of them)")
def test_dxbc_dgsl_unlit(pair):
    m = mesh((POSITION, NORMAL, TANGENT, COLOR, TEXCOORD))
    cb0 = np.zeros((21, 4), np.float32)
    cb0[1] = (0.9, 0.8, 1.0, 0.9)
    cb2 = np.zeros((21, 4), np.float32)
    cb2[0:4] = WORLD
    cb2[4:8] = WVP
    cb2[16] = (1.2, 0.1, 0.0, 0.05)  # uv transform rows (x, y, translation in w)
    cb2[17] = (-0.1, 1.1, 0.0, 0.1)
    cb2[20, :3] = (0.2, 0.3, 2.5)
    texels = pattern(8, seed=121)
    texels[::3, ::2, 3] = 0  # holes: alpha 0 is discarded
    drawn = effect("DGSLEffect_mainVc", "DGSLUnlit_mainTxTk", VS_DGSL_VC, PS_DGSL_UNLIT_TX_TK,
                   vs_constants={0: cb0, 2: cb2}, textures={0: Texture([texels])}, samplers={0: POINT}, **m)
    solid = texels.copy()
    solid[..., 3] = 255
    base = replace(drawn[1], textures={0: Texture([solid])})
    r = run(pair, [drawn], baseline=[base], min_changed=50, min_colors=30)

    def clear_pixels(frame):
        return int(np.count_nonzero((np.abs(frame[..., :3].astype(int) - (26, 51, 76)) <= 1).all(-1)))
    holes = clear_pixels(r.frame) - clear_pixels(pair.run_direct([base], TARGET)[0][0])
    assert holes >= 20, f"only {holes} pixels discarded"


# EnvironmentMapEffect, dual-parabola map per pixel ------------------------------------------------
VS_ENV_MAP_PIXEL_LIGHTING = cbuffer(0, 24) + f"""
struct VOut {{ @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32>, @location(1) pos_ws: vec4<f32>,
               @location(2) normal: vec3<f32>, @location(3) diffuse: vec4<f32> }};
@vertex
fn vs(@location(0) p: vec4<f32>, @location(1) n: vec3<f32>, @location(2) uv: vec2<f32>) -> VOut {{
    return VOut(m4(p, 20u), uv, vec4<f32>(m4(p, 13u).xyz, {fog_factor("p", 12)}), normalize(m3(n, 17u)),
                vec4<f32>(1.0, 1.0, 1.0, cb.c[2].w));
}}
"""
PS_ENV_MAP_DUAL_PARABOLA = cbuffer(1, 11) + samplers(0, 1) + """
@group(1) @binding(32) var t0: texture_2d<f32>;
@group(1) @binding(33) var t1: texture_2d_array<f32>;
@fragment
fn ps(@location(0) uv: vec2<f32>, @location(1) pos_ws: vec4<f32>, @location(2) normal: vec3<f32>,
      @location(3) diffuse: vec4<f32>) -> @location(0) vec4<f32> {
    let eye = normalize(cb.c[10].xyz - pos_ws.xyz);
    let n = normalize(normal);
    let r = n * -(2.0 * dot(-eye, n)) - eye;
    let fresnel = exp2(log2(max(1.0 - abs(dot(eye, n)), 0.0)) * cb.c[1].y) * cb.c[1].x;
    // the dual-parabola map: front or back layer by the sign of r.z
    let coords = r.xy / ((abs(r.z) + 1.0) * 2.0) + 0.5;
    let env = textureSample(t1, s1, coords, select(1, 0, 0.0 < r.z));
    var dl = vec3<f32>(0.0);
    for (var i = 0u; i < 3u; i++) {
        dl[i] = dot(-cb.c[4u + i].xyz, n);
    }
    let df = dl * select(vec3<f32>(0.0), vec3<f32>(1.0), dl >= vec3<f32>(0.0));
    let lit = (df.x * cb.c[7].xyz + df.y * cb.c[8].xyz + df.z * cb.c[9].xyz) * cb.c[2].xyz + cb.c[3].xyz;
    let color = textureSample(t0, s0, uv) * diffuse;
    let rgb = lit * color.rgb;
    let mixed = fresnel * (env.rgb * color.a - rgb) + rgb;
    return vec4<f32>(cb.c[0].xyz * (color.a * env.a) + mixed, color.a);
}
"""


@scene("CreatePixelShader DXBC: EnvironmentMapEffect PSEnvMapDualParabolaPixelLightingFresnelNoFog (a "
       "Texture2DArray layer chosen per pixel by movc, Fresnel with |x| operands, per-pixel diffuse lights)")
def test_dxbc_environment_map_dual_parabola(pair):
    m = mesh((POSITION, NORMAL, TEXCOORD))
    cb = np.zeros((24, 4), np.float32)
    cb[0, :3] = (0.3, 0.25, 0.2)  # EnvironmentMapSpecular
    cb[1, :2] = (0.8, 2.0)  # the Fresnel amount and exponent
    cb[2] = (0.9, 0.8, 0.7, 0.85)
    cb[3, :3] = (0.05, 0.05, 0.1)
    cb[4:7, :3] = LIGHT_DIRS
    cb[7:10, :3] = LIGHT_DIFFUSE
    cb[10, :3] = (2.5, 0.0, 0.3)  # a grazing eye: reflections reach both layers
    cb[12] = (0.2, 0.2, 0.0, 0.1)
    cb[13:17] = WORLD
    cb[17:20] = WORLD_INV_T
    cb[20:24] = WVP
    layers = Texture([pattern(8, seed=131), pattern(8, seed=132)], layers=2, view={"dimension": "2d-array"})
    drawn = effect("EnvironmentMapEffect_VSEnvMapPixelLighting",
                   "EnvironmentMapEffect_PSEnvMapDualParabolaPixelLightingFresnelNoFog", VS_ENV_MAP_PIXEL_LIGHTING,
                   PS_ENV_MAP_DUAL_PARABOLA, vs_constants={0: cb}, constants={0: cb[:11]},
                   textures={0: Texture([pattern(8, seed=133)]), 1: layers}, samplers={0: LINEAR, 1: LINEAR}, **m)
    # baseline: the back layer replaced; pixels that read it change
    other = Texture([pattern(8, seed=131), pattern(8, seed=134)], layers=2, view={"dimension": "2d-array"})
    run(pair, [drawn], baseline=[replace(drawn[1], textures={0: drawn[1].textures[0], 1: other})], min_changed=30,
        min_colors=100)
