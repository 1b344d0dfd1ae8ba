"""CreateTexture2D with initial data, shader-resource views (2D, 2D array, cube, cube array,
mip and slice ranges), explicit-LOD sampling and GenerateMips, sampled over the whole target
with a point sampler so every texel shows as it is."""

from __future__ import annotations

import numpy as np

from pvgpu import guest as g

from .pair import POINT, Draw, Texture, mip_chain, pattern
from .scene import scene
from .wgsl import FULLSCREEN_VS, sampling_ps

S = g.SrvDimension
#: A direction on the unit sphere from uv: every cube face shows somewhere.
DIRECTION = """vec3<f32>(cos(uv.x * 6.2831853) * sin(uv.y * 3.14159), cos(uv.y * 3.14159),
                     sin(uv.x * 6.2831853) * sin(uv.y * 3.14159))"""


def texture_scene(pair, texture: Texture, expr: str, texture_type: str = "texture_2d<f32>", baseline=None,
                  min_colors: int = 20):
    draw = Draw(layout=None, vs=FULLSCREEN_VS, ps=sampling_ps(expr, texture_type), textures={0: texture},
                samplers={0: POINT})
    base = None if baseline is None else [Draw(layout=None, vs=FULLSCREEN_VS, ps=draw.ps, textures={0: baseline},
                                               samplers={0: POINT})]
    return pair.check([draw], baseline=base, min_colors=min_colors)


def slices(n: int, size: int = 4, seed: int = 20) -> list[np.ndarray]:
    return [pattern(size, seed + i) for i in range(n)]


@scene("CreateTexture2D with initial data, sampled through a TEXTURE2D view")
def test_texture2d_initial_data(pair):
    data = pattern(12, seed=5, height=8)
    r = texture_scene(pair, Texture([data]), "textureSample(t, s, uv)", min_colors=90)
    assert np.array_equal(r.frame[::4, ::4], data)  # each texel magnified 4x


@scene("Texture2DArray (3 slices) sampled through a TEXTURE2DARRAY view")
def test_texture2d_array(pair):
    texture_scene(pair, Texture(slices(3), layers=3, view={"dimension": "2d-array"}),
                  "textureSample(t, s, uv, i32(uv.x * 3.0))", "texture_2d_array<f32>", min_colors=24)


@scene("TEXTURE2DARRAY view of a slice range (FirstArraySlice 1, ArraySize 2)")
def test_texture2d_array_slice_range(pair):
    texture_scene(pair, Texture(slices(4), layers=4, srv={"first_array_slice": 1, "array_size": 2},
                                view={"dimension": "2d-array", "base_array_layer": 1, "array_layer_count": 2}),
                  "textureSample(t, s, uv, i32(uv.x * 2.0))", "texture_2d_array<f32>",
                  baseline=Texture(slices(4), layers=4, view={"dimension": "2d-array", "array_layer_count": 2}),
                  min_colors=16)


@scene("Cube map (TEXTURECUBE misc flag, 6 faces) sampled through a TEXTURECUBE view")
def test_texture_cube(pair):
    texture_scene(pair, Texture(slices(6), layers=6, cube=True, view={"dimension": "cube"}),
                  f"textureSample(t, s, {DIRECTION})", "texture_cube<f32>")


@scene("Cube array (2 cubes, 12 faces) sampled through a TEXTURECUBEARRAY view")
def test_texture_cube_array(pair):
    texture_scene(pair, Texture(slices(12), layers=12, cube=True, view={"dimension": "cube-array"}),
                  f"textureSample(t, s, {DIRECTION}, i32(uv.y * 2.0))", "texture_cube_array<f32>")


@scene("Full mip chain (MipLevels 0) sampled at explicit LODs (SampleLevel)")
def test_texture_mips_explicit_lod(pair):
    r = texture_scene(pair, Texture(mip_chain(16), mips=5), "textureSampleLevel(t, s, uv, floor(uv.x * 5.0))")
    assert tuple(r.frame[0, -1]) == tuple(mip_chain(16)[4][0, 0])  # the right edge shows the 1x1 mip


@scene("TEXTURE2D view of a mip range (MostDetailedMip 1, MipLevels 2)")
def test_texture_view_mip_range(pair):
    texture_scene(pair, Texture(mip_chain(16), mips=5, srv={"most_detailed_mip": 1, "mip_levels": 2},
                                view={"base_mip_level": 1, "mip_level_count": 2}),
                  "textureSampleLevel(t, s, uv, uv.x * 2.0)",
                  baseline=Texture(mip_chain(16), mips=5, view={"mip_level_count": 2}))


@scene("GenerateMips on a RENDER_TARGET | SHADER_RESOURCE texture with the GENERATE_MIPS flag")
def test_generate_mips(pair):
    base = pattern(16, seed=9)
    empty = [np.zeros((s, s, 4), np.uint8) for s in (8, 4, 2, 1)]
    texture_scene(pair, Texture([base] + empty, mips=5, generate_mips=True),
                  "textureSampleLevel(t, s, uv, floor(uv.x * 5.0))", baseline=Texture([base] + empty, mips=5))
