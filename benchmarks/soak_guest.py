"""The soak test's guest program (benchmarks/soak.py starts many of these and kills them).

Each frame is a function of the session id and the frame's index alone, so whoever sees a
presented frame can check it exactly without asking the guest: the back buffer is cleared to
one colour, then a full-screen triangle drawn through a viewport rectangle fills that rectangle
with a second colour taken from a DYNAMIC constant buffer (Map WRITE_DISCARD). Every colour
channel is k/255, which a UNORM8 target stores exactly, and the viewport's edges are whole
pixels, so the expected image has no tolerance.

Every `read_every`-th frame the guest also copies its back buffer to a STAGING texture and
reads it with Map(READ) (the heap's read-back path), and checks it itself.

Lines on stdout, one per event, for the driver: `session SID`, `frame N` once frame N's
present has been handled by the host (its fence completed), `read N ok|mismatch`.

    python -m benchmarks.soak_guest SOCKET [--size N] [--frames N] [--read-every N]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

VS = """
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let p = array<vec2<f32>, 3>(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));
    return vec4<f32>(p[i], 0.0, 1.0);
}
"""
PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""


def _mix(session_id: int, index: int, salt: int) -> int:
    """A 32-bit hash of (session, frame, salt): frames of different sessions differ."""
    h = (session_id * 0x9E3779B1 + index * 0x85EBCA77 + salt * 0xC2B2AE3D) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
    h ^= h >> 12
    return h


def frame_plan(session_id: int, index: int, size: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(clear RGBA8, quad RGBA8, viewport rectangle x, y, w, h) of one frame."""
    a, b, c = (_mix(session_id, index, s) for s in (1, 2, 3))
    clear = tuple((a >> s) & 0xFF for s in (0, 8, 16, 24))
    quad = tuple((b >> s) & 0xFF for s in (0, 8, 16, 24))
    half = max(1, size // 2)
    x, y = c % half, (c >> 8) % half
    w, h = 1 + (c >> 16) % half, 1 + (c >> 24) % half
    return clear, quad, (x, y, w, h)


def expected_frame(session_id: int, index: int, size: int) -> np.ndarray:
    """The exact RGBA8 image (size x size x 4) frame `index` of session `session_id` shows."""
    clear, quad, (x, y, w, h) = frame_plan(session_id, index, size)
    image = np.empty((size, size, 4), np.uint8)
    image[:] = clear
    image[y:y + h, x:x + w] = quad
    return image


def run(socket_path: str, size: int, frames: int, read_every: int) -> int:
    from pvgpu import guest as g

    device = g.connect(socket_path, timeout=120)
    session_id = device.connection.region.get("session_id")
    print(f"session {session_id}", flush=True)
    ctx = device.get_immediate_context()
    chain = device.create_swap_chain(g.SwapChainDesc(size, size))
    back = chain.get_buffer(0)
    rtv = device.create_render_target_view(back)
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    staging = device.create_texture2d(g.Texture2DDesc(size, size, usage=g.Usage.STAGING, bind_flags=0,
                                                      cpu_access_flags=g.CpuAccessFlag.READ))
    ctx.om_set_render_targets([rtv])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.vs_set_shader(device.create_vertex_shader(VS))
    ctx.ps_set_shader(device.create_pixel_shader(PS))
    ctx.ps_set_constant_buffers(0, [cb])
    index = 0
    while frames <= 0 or index < frames:
        clear, quad, (x, y, w, h) = frame_plan(session_id, index, size)
        ctx.clear_render_target_view(rtv, [c / 255 for c in clear])
        m = ctx.map(cb, 0, g.MapType.WRITE_DISCARD)
        m.data[:16] = (np.array(quad, np.float32) / np.float32(255)).view(np.uint8)
        ctx.unmap(cb, 0)
        ctx.rs_set_viewports([g.Viewport(x, y, w, h)])
        ctx.draw(3)
        if read_every > 0 and index % read_every == 0:
            ctx.copy_resource(staging, back)
            mapped = ctx.map(staging, 0, g.MapType.READ)
            rows = np.asarray(mapped.data).reshape(size, mapped.row_pitch)[:, :size * 4].reshape(size, size, 4)
            ok = np.array_equal(rows, expected_frame(session_id, index, size))
            ctx.unmap(staging, 0)
            print(f"read {index} {'ok' if ok else 'mismatch'}", flush=True)
        chain.present()
        chain.wait_idle()
        print(f"frame {index}", flush=True)
        index += 1
    device.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("socket")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=0, help="frames to draw (0: until killed)")
    ap.add_argument("--read-every", type=int, default=4, help="read the back buffer back every N frames (0: never)")
    args = ap.parse_args(argv)
    return run(args.socket, args.size, args.frames, args.read_every)


if __name__ == "__main__":
    sys.exit(main())
