"""Shared resources across guest devices: a Texture2D created with RESOURCE_MISC_SHARED,
rendered and flushed by one device, opened by its shared handle on a second device (its own
connection, session and renderer worker on the same host) and sampled into that device's
swap chain; compared with direct wgpu rendering into a texture and sampling it."""

from __future__ import annotations

from pvgpu import guest as g

from . import guest
from .pair import LINEAR, W, H, Draw, Pair, Target, Texture, assert_same, assert_varied, changed_pixels, quad
from .scene import scene
from .wgsl import FULLSCREEN_VS, UV_PS, sampling_ps

SIZE = 16
OVERLAY = quad(-0.6, -0.9, 0.4, 0.3, color=[(1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1), (1, 1, 0, 1)])
#: what the creating device renders into the shared texture
CONTENT = [Draw(layout=None, vs=FULLSCREEN_VS, ps=UV_PS), Draw(OVERLAY)]
SAMPLE = Draw(layout=None, vs=FULLSCREEN_VS, ps=sampling_ps("textureSample(t, s, uv)"), samplers={0: LINEAR})


@scene("Shared Texture2D (RESOURCE_MISC_SHARED): rendered and flushed by one device, opened by "
       "OpenSharedResource on another and sampled")
def test_shared_texture_across_devices(pair):
    dev, ctx = pair.device, pair.ctx
    tex = dev.create_texture2d(g.Texture2DDesc(SIZE, SIZE, bind_flags=g.BindFlag.RENDER_TARGET |
                                               g.BindFlag.SHADER_RESOURCE, misc_flags=g.ResourceMiscFlag.SHARED))
    rtv = dev.create_render_target_view(tex)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0.0, 0.0, 0.0, 1.0))
    content_target = Target(SIZE, SIZE)
    cache: dict = {}
    for d in CONTENT:
        pair.draw_guest(d, content_target, cache)
    ctx.flush()
    handle = tex.get_shared_handle()

    other = g.connect(pair.host.socket_path, timeout=30)
    try:
        opened = other.open_shared_resource(handle)
        assert (opened.desc.width, opened.desc.height) == (SIZE, SIZE)
        chain, back_rtv = guest.swap_chain_target(other, W, H)
        octx = other.get_immediate_context()
        octx.om_set_render_targets([back_rtv])
        octx.clear_render_target_view(back_rtv, (0.1, 0.2, 0.3, 1.0))
        octx.ps_set_shader_resources(0, [other.create_shader_resource_view(opened)])
        Pair(pair.host, other, pair.wgpu).draw_guest(SAMPLE, Target())
        chain.present()
        actual = guest.presented(pair.host, chain)  # the only session that presented
        assert other.host_errors() == []
    finally:
        other.close()

    # direct wgpu: the same render into a texture, its texels, then the same sampling
    rendered = pair.run_direct(CONTENT, Target(SIZE, SIZE, clear=(0.0, 0.0, 0.0, 1.0)))[0][0]
    expected = sampled(pair, rendered)
    assert_same(actual, expected)
    assert_varied(expected, 300)
    assert changed_pixels(expected, sampled(pair, rendered * 0)) > W * H // 2  # what the first device drew shows


def sampled(pair, texels):
    draw = Draw(layout=None, vs=SAMPLE.vs, ps=SAMPLE.ps, samplers={0: LINEAR}, textures={0: Texture([texels])})
    return pair.run_direct([draw], Target())[0][0]
