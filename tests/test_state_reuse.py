"""Reuse never serves stale state: the host reuses pipelines, bind groups and pass state while
nothing they depend on changed (issue 9). Each test changes one thing a cached result depends
on between two draws, through the guest API, and checks the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.protocol.enums import ColorWriteFlag

from replay_scene import CB_PS, VS

W = H = 16
TEX_PS = """
@group(1) @binding(32) var t: texture_2d<f32>;
@fragment
fn ps(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> { return textureLoad(t, vec2<i32>(0, 0), 0); }
"""
#: Left half and right half of the target, two triangles each.
LEFT = np.array([[-1, -1], [-1, 1], [0, 1], [-1, -1], [0, 1], [0, -1]], np.float32)
RIGHT = LEFT + np.array([1, 0], np.float32)
RED, GREEN, BLUE = (1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1)


def _setup(host, device, ps_code=CB_PS, size=(W, H)):
    ctx = device.get_immediate_context()
    chain = device.create_swap_chain(g.SwapChainDesc(*size))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    verts = np.concatenate([LEFT, RIGHT])
    vb = device.create_buffer(g.BufferDesc(verts.nbytes, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE), verts)
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, *size)])
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.ia_set_input_layout(device.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)]))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.ia_set_vertex_buffers(0, [vb], [8], [0])
    ctx.vs_set_shader(device.create_vertex_shader(VS))
    ctx.ps_set_shader(device.create_pixel_shader(ps_code))
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    return ctx, chain, rtv


def _cb(device, color):
    return device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.IMMUTABLE),
                                np.array(color, np.float32))


def _texture_srv(device, color):
    texel = (np.array(color, np.float32) * 255).astype(np.uint8).reshape(1, 1, 4)
    tex = device.create_texture2d(g.Texture2DDesc(1, 1), [texel])
    return tex, device.create_shader_resource_view(tex)


def _frame(host, chain) -> np.ndarray:
    chain.present()
    chain.wait_idle()
    (frames,) = host.frames.values()
    return frames[-1]


def _halves(frame: np.ndarray) -> tuple:
    h, w = frame.shape[:2]
    return tuple(frame[h // 2, w // 4]), tuple(frame[h // 2, 3 * w // 4])


def _rgba(color) -> tuple:
    return tuple(int(round(c * 255)) for c in color)


def test_destroyed_constant_buffer_id_reused(host, device):
    ctx, chain, _ = _setup(host, device)
    red = _cb(device, RED)
    ctx.ps_set_constant_buffers(0, [red])
    ctx.draw(6, 0)
    first = red.id
    red.release()
    green = _cb(device, GREEN)
    assert green.id == first  # the guest hands the freed id out again
    ctx.ps_set_constant_buffers(0, [green])
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(GREEN))


def test_destroyed_view_id_reused_for_another_texture(host, device):
    ctx, chain, _ = _setup(host, device, TEX_PS)
    _, red = _texture_srv(device, RED)
    blue_texture, _ = _texture_srv(device, BLUE)
    ctx.ps_set_shader_resources(0, [red])
    ctx.draw(6, 0)
    first = red.id
    red.release()
    blue = device.create_shader_resource_view(blue_texture)
    assert blue.id == first
    ctx.ps_set_shader_resources(0, [blue])
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(BLUE))


def test_same_draw_state_after_a_discard_map_reads_the_new_contents(host, device):
    ctx, chain, _ = _setup(host, device)
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.ps_set_constant_buffers(0, [cb])
    for color, start in ((RED, 0), (GREEN, 6)):
        m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
        m.data[:] = np.frombuffer(np.array(color, np.float32).tobytes(), np.uint8)
        ctx.unmap(cb, 0)
        ctx.draw(6, start)  # nothing rebound between the draws: only the buffer's contents changed
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(GREEN))


def test_update_subresource_between_identical_draws(host, device):
    ctx, chain, _ = _setup(host, device)
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.array(RED, np.float32))
    ctx.ps_set_constant_buffers(0, [cb])
    ctx.draw(6, 0)
    ctx.update_subresource(cb, 0, None, np.array(BLUE, np.float32))
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(BLUE))


def test_blend_state_destroyed_and_recreated_with_the_same_id(host, device):
    ctx, chain, rtv = _setup(host, device)
    ctx.ps_set_constant_buffers(0, [_cb(device, (0, 0.5, 0, 1))])
    ctx.clear_render_target_view(rtv, (0.5, 0, 0, 1))
    opaque = device.create_blend_state(g.BlendDesc())
    ctx.om_set_blend_state(opaque)
    ctx.draw(6, 0)
    first = opaque.id
    opaque.release()
    additive = device.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, g.Blend.ONE, g.Blend.ONE)]))
    assert additive.id == first
    ctx.om_set_blend_state(additive)
    ctx.draw(6, 6)
    left, right = _halves(_frame(host, chain))
    assert left[:3] == (0, 128, 0) or left[:3] == (0, 127, 0)
    assert right[0] in (127, 128) and right[1] in (127, 128) and right[2] == 0


def test_bound_view_replaced_in_the_same_slot(host, device):
    ctx, chain, _ = _setup(host, device, TEX_PS)
    _, red = _texture_srv(device, RED)
    _, green = _texture_srv(device, GREEN)
    ctx.ps_set_shader_resources(0, [red])
    ctx.draw(6, 0)
    ctx.ps_set_shader_resources(0, [green])
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(GREEN))
    ctx.ps_set_shader_resources(0, [red])  # and back: a cached bind group, still the right one
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(RED))


def test_viewport_and_vertex_offset_changes_between_draws(host, device):
    ctx, chain, _ = _setup(host, device)
    ctx.ps_set_constant_buffers(0, [_cb(device, GREEN)])
    ctx.rs_set_viewports([g.Viewport(0, 0, W // 2, H)])  # the left half drawn into the left quarter
    ctx.draw(6, 0)
    ctx.rs_set_viewports([g.Viewport(0, 0, W, H)])
    vb = device.create_buffer(g.BufferDesc(RIGHT.nbytes * 2, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE),
                              np.concatenate([LEFT, RIGHT]))
    ctx.ia_set_vertex_buffers(0, [vb], [8], [LEFT.nbytes])  # offset: the right half's vertices first
    ctx.draw(6, 0)
    frame = _frame(host, chain)
    assert tuple(frame[H // 2, W // 8]) == _rgba(GREEN)
    assert tuple(frame[H // 2, 3 * W // 8]) == (0, 0, 0, 255)
    assert tuple(frame[H // 2, 3 * W // 4]) == _rgba(GREEN)


def test_resize_then_the_same_state_draws_the_new_size(host, device):
    ctx, chain, rtv = _setup(host, device)
    ctx.ps_set_constant_buffers(0, [_cb(device, RED)])
    ctx.draw(6, 0)
    ctx.draw(6, 6)
    assert _frame(host, chain).shape[:2] == (H, W)
    ctx.om_set_render_targets([])
    rtv.release()
    chain.resize_buffers(1, 2 * W, 2 * H)
    rtv = device.create_render_target_view(chain.get_buffer(0))
    ctx.om_set_render_targets([rtv])
    ctx.rs_set_viewports([g.Viewport(0, 0, 2 * W, 2 * H)])
    ctx.clear_render_target_view(rtv, (0, 0, 0, 1))
    ctx.ps_set_constant_buffers(0, [_cb(device, BLUE)])
    ctx.draw(6, 6)
    frame = _frame(host, chain)
    assert frame.shape[:2] == (2 * H, 2 * W)
    assert _halves(frame) == ((0, 0, 0, 255), _rgba(BLUE))


def test_state_object_changed_between_identical_draws(host, device):
    ctx, chain, _ = _setup(host, device)
    ctx.ps_set_constant_buffers(0, [_cb(device, GREEN)])
    no_red = device.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(
        render_target_write_mask=ColorWriteFlag.GREEN | ColorWriteFlag.ALPHA)]))
    ctx.draw(6, 0)
    ctx.om_set_blend_state(no_red)
    ctx.ps_set_constant_buffers(0, [_cb(device, (1, 1, 0, 1))])
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(GREEN), _rgba(GREEN))


# --- the uniform ring (Map(WRITE_DISCARD) and whole UpdateSubresource of constant buffers) --------
BIG_PS = """
struct Big { v: array<vec4<f32>, 4096> };
struct Small { c: vec4<f32> };
@group(1) @binding(0) var<uniform> big: Big;
@group(1) @binding(1) var<uniform> small: Small;
@fragment
fn ps() -> @location(0) vec4<f32> { return vec4<f32>(big.v[0].x, big.v[4095].y, small.c.z, 1.0); }
"""


def _discard(ctx, cb, values) -> None:
    m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
    m.data[:] = np.frombuffer(np.asarray(values, np.float32).tobytes(), np.uint8)
    ctx.unmap(cb, 0)


def test_many_discards_in_one_frame_past_the_ring_each_draw_sees_its_own_contents(host, device):
    """256 discards of a 64 KiB constant buffer (16 MiB: more than the ring holds, so it wraps
    within the frame) between 256 one-pixel draws of one pass, beside a constant buffer written
    once before them (its contents must survive the wraps)."""
    ctx, chain, _ = _setup(host, device, BIG_PS)
    big = device.create_buffer(g.BufferDesc(65536, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC,
                                            g.CpuAccessFlag.WRITE))
    small = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.zeros(4, np.float32))
    ctx.update_subresource(small, 0, None, np.array([0, 0, 128 / 255, 0], np.float32))
    ctx.ps_set_constant_buffers(0, [big, small])
    values = np.zeros((4096, 4), np.float32)
    for i in range(W * H):
        values[0, 0], values[4095, 1] = i / 255, (255 - i) / 255
        _discard(ctx, big, values)
        ctx.rs_set_viewports([g.Viewport(i % W, i // W, 1, 1)])
        ctx.draw(12, 0)
    frame = _frame(host, chain)
    i = np.arange(W * H).reshape(H, W)
    assert np.array_equal(frame[..., 0], i) and np.array_equal(frame[..., 1], 255 - i)
    assert (frame[..., 2] == 128).all()


def test_constant_buffer_discarded_then_copied_from_and_into(host, device):
    ctx, chain, _ = _setup(host, device)
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.ps_set_constant_buffers(0, [cb])
    _discard(ctx, cb, RED)
    ctx.draw(6, 0)
    _discard(ctx, cb, GREEN)
    copy = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER), np.zeros(4, np.float32))
    ctx.copy_resource(copy, cb)  # the contents of the last discard, not the first's or the buffer's own
    staging = device.create_buffer(g.BufferDesc(16, 0, g.Usage.STAGING, g.CpuAccessFlag.READ))
    ctx.copy_resource(staging, cb)
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(GREEN))
    mapped = ctx.map(staging, 0, g.MapType.READ)
    assert np.frombuffer(mapped.data.tobytes(), np.float32).tolist() == list(GREEN)
    ctx.unmap(staging, 0)
    ctx.ps_set_constant_buffers(0, [copy])
    ctx.draw(6, 0)
    _discard(ctx, cb, BLUE)
    ctx.copy_resource(copy, cb)  # into a buffer whose contents live in the ring... and back out
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(GREEN), _rgba(BLUE))


def test_whole_then_partial_updates_of_a_constant_buffer_between_draws(host, device):
    ctx, chain, _ = _setup(host, device)
    cb = device.create_buffer(g.BufferDesc(32, g.BindFlag.CONSTANT_BUFFER), np.zeros(8, np.float32))
    ctx.ps_set_constant_buffers(0, [cb])
    ctx.update_subresource(cb, 0, None, np.array(RED + BLUE, np.float32))
    ctx.draw(6, 0)
    ctx.update_subresource(cb, 0, g.Box(0, 0, 0, 16, 1, 1), np.array(GREEN, np.float32))
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(GREEN))


def test_discarded_constant_buffer_of_a_dxbc_shader_declaring_more_reads_zero_past_its_end(host, device):
    """A 16-byte buffer bound where the shader declares two vec4s: the second reads 0, through
    the ring as through the buffer's own backing."""
    from pvgpu.shaders.assembler import assemble
    ps = assemble("""ps_5_0
dcl_constantbuffer CB0[2], immediateIndexed
dcl_output o0.xyzw
add o0.xyzw, cb0[0].xyzw, cb0[1].xyzw
ret
""")
    ctx, chain, _ = _setup(host, device)
    ctx.ps_set_shader(device.create_pixel_shader(ps))
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.ps_set_constant_buffers(0, [cb])
    _discard(ctx, cb, RED)
    ctx.draw(6, 0)
    _discard(ctx, cb, GREEN)
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(GREEN))


# --- bind groups kept per stage while nothing they depend on changes ---------------------------
def test_texture_written_after_a_flush_between_draws_with_unchanged_bindings(host, device):
    """The second draw reuses the stage's bind group without looking at it again; it must
    still count as a use of the texture by the new recording, so the update waits for it."""
    ctx, chain, _ = _setup(host, device, TEX_PS)
    tex, red = _texture_srv(device, RED)
    ctx.ps_set_shader_resources(0, [red])
    ctx.draw(6, 0)
    ctx.flush()
    ctx.draw(6, 6)
    ctx.update_subresource(tex, 0, None, np.array([[[0, 255, 0, 255]]], np.uint8))
    assert _halves(_frame(host, chain)) == (_rgba(RED), _rgba(RED))


def test_shader_resource_becomes_the_render_target_with_bindings_unchanged(host, device):
    """D3D11 reads an input bound as the output as unbound: a render-target change alone must
    make the stage's bind group be built again."""
    ctx, chain, rtv = _setup(host, device, TEX_PS)
    tex = device.create_texture2d(g.Texture2DDesc(W, H, bind_flags=g.BindFlag.SHADER_RESOURCE
                                                  | g.BindFlag.RENDER_TARGET))
    srv, target = device.create_shader_resource_view(tex), device.create_render_target_view(tex)
    ctx.om_set_render_targets([target])
    ctx.clear_render_target_view(target, BLUE)
    ctx.om_set_render_targets([rtv])
    ctx.ps_set_shader_resources(0, [srv])
    ctx.draw(6, 0)  # reads blue
    ctx.om_set_render_targets([target])
    ctx.draw(6, 6)  # the input reads as unbound: zeros, into the texture's right half
    ctx.om_set_render_targets([rtv])
    ctx.draw(6, 6)  # bound again: the texture at (0, 0), still blue
    assert _halves(_frame(host, chain)) == (_rgba(BLUE), _rgba(BLUE))
    ctx.copy_resource(chain.get_buffer(0), tex)
    assert _halves(_frame(host, chain)) == (_rgba(BLUE), (0, 0, 0, 0))


WIDE_PS = """
struct K { a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.a + k.d; }
"""


def test_constant_buffer_smaller_than_a_wgsl_declaration_is_refused_at_its_draw(host, device):
    """The explicit layouts carry the shader's minimum binding size, so the draw is refused up
    front (as with wgpu's derived layouts) and the rest of the frame is drawn."""
    ctx, chain, _ = _setup(host, device)
    ctx.ps_set_constant_buffers(0, [_cb(device, RED)])
    ctx.draw(6, 0)
    ctx.ps_set_shader(device.create_pixel_shader(WIDE_PS))
    ctx.draw(6, 6)  # 16 bytes bound where the shader reads 64
    with pytest.raises(HostReportedError, match="DRAW"):
        _frame(host, chain)
    (frames,) = host.frames.values()
    assert _halves(frames[-1]) == (_rgba(RED), (0, 0, 0, 255))


OFFSET_VS = """
struct O { off: vec4<f32> };
@group(0) @binding(0) var<uniform> o: O;
@vertex
fn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> {
    return vec4<f32>(p.x + o.off.x, p.y * 0.5 - 0.5 + o.off.y, 0.0, 1.0);
}
"""


def test_one_stage_group_changes_the_other_stays_bound(host, device):
    """A pass sets again only the bind group whose identity or dynamic offsets changed: a draw
    where only the vertex stage's offset moved (a discard) keeps the pixel stage's group, and
    one where only the pixel stage's constant buffer changed keeps the vertex stage's."""
    ctx, chain, _ = _setup(host, device)
    ctx.vs_set_shader(device.create_vertex_shader(OFFSET_VS))
    off = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    ctx.vs_set_constant_buffers(0, [off])
    red, green = _cb(device, RED), _cb(device, GREEN)

    def move(x, y):
        _discard(ctx, off, np.array([x, y, 0, 0], np.float32))

    ctx.ps_set_constant_buffers(0, [red])
    move(0, 0)
    ctx.draw(6, 0)  # bottom left, red
    move(1, 0)
    ctx.draw(6, 0)  # only the vertex stage's offset moved: bottom right, red
    ctx.ps_set_constant_buffers(0, [green])
    ctx.draw(6, 0)  # only the pixel stage changed: bottom right, green
    move(0, 1)
    ctx.draw(6, 0)  # top left, green
    frame = _frame(host, chain)
    quadrant = lambda row, col: tuple(frame[row * H // 2 + H // 4, col * W // 2 + W // 4])
    assert quadrant(1, 0) == _rgba(RED)
    assert quadrant(1, 1) == _rgba(GREEN)
    assert quadrant(0, 0) == _rgba(GREEN)
    assert quadrant(0, 1) == (0, 0, 0, 255)


def test_an_empty_render_target_slot_before_a_bound_one_is_refused_clearly(host, device):
    """D3D11 allows [NULL, rtv]; this host cannot draw with a hole yet (wgpu-py takes no hole in
    a pipeline's targets): the draw is refused as UNSUPPORTED, naming the slot, and drawing
    with the targets bound without a gap works afterwards."""
    ctx, chain, rtv = _setup(host, device)
    ctx.ps_set_constant_buffers(0, [_cb(device, RED)])
    ctx.om_set_render_targets([None, rtv])
    ctx.draw(6, 0)
    with pytest.raises(HostReportedError, match=r"UNSUPPORTED.*slot 0 is empty"):
        chain.present()
        chain.wait_idle()
    ctx.om_set_render_targets([rtv])
    ctx.draw(6, 6)
    assert _halves(_frame(host, chain)) == ((0, 0, 0, 255), _rgba(RED))
