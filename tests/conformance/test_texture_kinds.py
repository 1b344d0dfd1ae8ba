"""Texture1D and Texture3D: CreateTexture1D / CreateTexture3D with initial data, sampled
through TEXTURE1D, TEXTURE1DARRAY and TEXTURE3D views, and a Texture3D written through a 3D
UAV. pvgpu shows a Texture1D to shaders as a texture_2d of height 1 (sampled at v = 0.5);
the reference samples a native WebGPU 1D texture where WebGPU has one (no mips, no layers),
else a 2D texture of height 1 holding the same texels."""

from __future__ import annotations

import numpy as np
import wgpu

from pvgpu import guest as g

from . import direct, guest
from .pair import LINEAR, POINT, Draw, Texture
from .scene import scene
from .wgsl import FULLSCREEN_VS, sampling_ps

#: 16 texels: a ramp in red, random green and blue.
RAMP = np.concatenate([np.linspace(0, 255, 16)[:, None], np.random.default_rng(50).integers(0, 256, (16, 2)),
                       np.full((16, 1), 255)], axis=1).astype(np.uint8)[None]
#: depth 4, height 8, width 8, RGBA
VOLUME = np.random.default_rng(51).integers(0, 256, (4, 8, 8, 4), dtype=np.uint8)


def fullscreen(ps: str, texture: Texture, sampler=POINT) -> Draw:
    return Draw(layout=None, vs=FULLSCREEN_VS, ps=ps, textures={0: texture}, samplers={0: sampler})


@scene("CreateTexture1D sampled with linear filtering through a TEXTURE1D view")
def test_texture1d_sampled(pair):
    tex = Texture([RAMP], dimension="1d")
    as_2d = sampling_ps("textureSample(t, s, vec2<f32>(uv.x, 0.5))")  # pvgpu's convention
    native = sampling_ps("textureSample(t, s, uv.x)", "texture_1d<f32>")  # a WebGPU 1D texture
    r = pair.check([fullscreen(as_2d, tex, LINEAR)], reference=[fullscreen(native, tex, LINEAR)], min_colors=30)
    assert (r.frame == r.frame[:1]).all()  # every row alike: a 1D texture


@scene("Texture1D array with mips (TEXTURE1DARRAY view) sampled at explicit LODs and array indices")
def test_texture1d_array_mips(pair):
    rng = np.random.default_rng(52)
    subs = [rng.integers(0, 256, (1, 8 >> m, 4), dtype=np.uint8) for _ in range(3) for m in range(4)]
    # each band of rows shows one (slice, mip): slice = uv.y * 3, mip = the position within the slice's band
    ps = sampling_ps("textureSampleLevel(t, s, vec2<f32>(uv.x, 0.5), i32(uv.y * 3.0), floor(fract(uv.y * 3.0) * 4.0))",
                     "texture_2d_array<f32>")
    # WebGPU 1D textures have neither mips nor layers: the reference is a 2D array of height 1
    ref = Texture(subs, mips=4, layers=3, view={"dimension": "2d-array"})
    r = pair.check([fullscreen(ps, Texture(subs, mips=4, layers=3, dimension="1d"))],
                   reference=[fullscreen(ps, ref)], min_colors=40)
    assert tuple(r.frame[-1, -1]) == tuple(subs[2 * 4 + 3][0, 0])  # the last slice's 1-texel mip
    assert tuple(r.frame[0, -1]) == tuple(subs[0][0, -1])  # slice 0, mip 0, texel 7


@scene("CreateTexture3D sampled through a TEXTURE3D view with linear filtering across depth slices")
def test_texture3d_linear(pair):
    ps = sampling_ps("textureSample(t, s, vec3<f32>(uv, uv.x * 0.8 + 0.1))", "texture_3d<f32>")
    tex = Texture([VOLUME], dimension="3d")
    pair.check([fullscreen(ps, tex, LINEAR)], baseline=[fullscreen(ps, tex, POINT)], min_colors=200,
               min_changed=500)


VOLUME_CS = """
@group(2) @binding(160) var vol: texture_storage_3d<rgba8unorm, write>;
@compute @workgroup_size(4, 4, 2)
fn cs(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = textureDimensions(vol);
    textureStore(vol, vec3<i32>(id), vec4<f32>(vec3<f32>(id) / vec3<f32>(size - 1u), f32((id.x + id.z) & 1u)));
}
"""


@scene("Texture3D written through a TEXTURE3D unordered-access view by Dispatch")
def test_texture3d_uav(pair):
    dev = pair.device
    tex = dev.create_texture3d(g.Texture3DDesc(8, 4, 6, bind_flags=g.BindFlag.UNORDERED_ACCESS))
    guest.dispatch(dev, VOLUME_CS, (2, 1, 3), uavs=[dev.create_unordered_access_view(tex)])
    actual = guest.read_volume(dev, tex)

    d = pair.wgpu
    vol = d.create_texture(size=(8, 4, 6), dimension="3d", format="rgba8unorm",
                           usage=wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_SRC)
    direct.dispatch(d, VOLUME_CS, {2: {160: vol.create_view()}}, (2, 1, 3))
    expected = direct.read_volume(d, vol, 8, 4, 6)
    assert np.array_equal(actual, expected)
    assert len(np.unique(expected[..., 2])) == 6 and tuple(expected[5, 3, 7]) == (255, 255, 255, 0)
