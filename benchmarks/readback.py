"""Frame read-back throughput (issue 10): how fast presented frames reach presenters that need
their pixels on the CPU (the browser viewer, the recorder, PNG files).

Rows, each at 1920x1080 and 3840x2160, frames of random pixels (so nothing compresses):
- one-shot: wgpu's `queue.read_texture` per frame, then a copy into the presenter's buffer
  (the baseline a naive host would use);
- pvgpu present: what `Renderer.present` does, `Readback.frame`: copy into a kept MAP_READ
  staging buffer, map it, and let the presenter copy straight out of the mapping;
- ring of 3: copy frame i into staging buffer i % 3 and map the one copied two frames earlier
  (the read-back probe's ceiling; it delays each frame by two);
- pvgpu end to end: a guest process presents frames through a HostService (worker process,
  frames forwarded through shared memory) to a presenter that copies each frame, as the
  queued presenters do; frames per second times frame bytes.

GB/s = frame bytes x frames / seconds; ratio = that / one-shot's.

    python -m benchmarks.readback [--frames N] [--sizes 1920x1080,3840x2160] [--no-e2e]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import wgpu

from pvgpu.host import gpu
from pvgpu.host.render.readback import Readback

RING = 3


def _texture(device, w: int, h: int):
    tex = device.create_texture(size=(w, h, 1), format=wgpu.TextureFormat.rgba8unorm,
                                usage=wgpu.TextureUsage.COPY_SRC | wgpu.TextureUsage.COPY_DST)
    pixels = np.random.default_rng(0).integers(0, 255, (h, w, 4), np.uint8)
    device.queue.write_texture({"texture": tex}, pixels, {"bytes_per_row": w * 4, "rows_per_image": h}, (w, h, 1))
    return tex


def one_shot(device, tex, w: int, h: int, frames: int, out: np.ndarray) -> float:
    t0 = time.perf_counter()
    for _ in range(frames):
        data = device.queue.read_texture({"texture": tex}, {"bytes_per_row": w * 4, "rows_per_image": h}, (w, h, 1))
        out[:] = np.frombuffer(data, np.uint8).reshape(out.shape)
    return time.perf_counter() - t0


def present_path(device, tex, w: int, h: int, frames: int, out: np.ndarray) -> float:
    rb = Readback(device)
    pixels, release = rb.frame([], tex, w, h, 4)  # warm: the staging buffer is made once
    release and release()
    t0 = time.perf_counter()
    for _ in range(frames):
        pixels, release = rb.frame([], tex, w, h, 4)
        out[:] = pixels.reshape(out.shape)
        if release is not None:
            release()
    return time.perf_counter() - t0


def ring(device, tex, w: int, h: int, frames: int, out: np.ndarray) -> float:
    size = w * h * 4
    bufs = [device.create_buffer(size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
            for _ in range(RING)]

    def copy_into(buf):
        enc = device.create_command_encoder()
        enc.copy_texture_to_buffer({"texture": tex}, {"buffer": buf, "bytes_per_row": w * 4, "rows_per_image": h},
                                   (w, h, 1))
        device.queue.submit([enc.finish()])

    for i in range(RING - 1):
        copy_into(bufs[i])
    t0 = time.perf_counter()
    for f in range(frames):
        copy_into(bufs[(f + RING - 1) % RING])
        buf = bufs[f % RING]
        buf.map_sync(wgpu.MapMode.READ)
        out[:] = np.frombuffer(buf.read_mapped(copy=False), np.uint8).reshape(out.shape)
        buf.unmap()
    return time.perf_counter() - t0


_GUEST = r"""
import sys, time
import numpy as np
from pvgpu import guest as g
w, h, frames = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dev = g.connect(sys.argv[1], timeout=60)
ctx = dev.get_immediate_context()
chain = dev.create_swap_chain(g.SwapChainDesc(w, h))
rtv = dev.create_render_target_view(chain.get_buffer(0))
for i in range(3):
    ctx.clear_render_target_view(rtv, (i / 3, 0.5, 0.25, 1.0)); chain.present()
chain.wait_idle()
t0 = time.perf_counter()
for i in range(frames):
    ctx.clear_render_target_view(rtv, ((i % 7) / 7, 0.5, 0.25, 1.0))
    chain.present()
chain.wait_idle()
print(time.perf_counter() - t0)
dev.close()
"""


def end_to_end(w: int, h: int, frames: int) -> float:
    from pvgpu.host.present.headless import FrameCallback
    from pvgpu.host.service import HostService

    out = np.empty((h, w, 4), np.uint8)

    def copy(_sid, frame):
        out[:] = frame.pixels

    with tempfile.TemporaryDirectory(prefix="pvgpu-rb-") as tmp:
        sock = os.path.join(tmp, "host.sock")
        with HostService(sock, region_size=64 << 20, presenters=[FrameCallback(copy)]):
            r = subprocess.run([sys.executable, "-c", _GUEST, sock, str(w), str(h), str(frames)],
                               capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return float(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--sizes", default="1920x1080,3840x2160")
    ap.add_argument("--no-e2e", action="store_true", help="skip the guest-through-service row")
    ap.add_argument("--json", default="", help="also write the rows to this file")
    args = ap.parse_args(argv)
    device, _ = gpu.open_device()
    print(f"adapter: {gpu.describe_adapter()}")
    rows = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        tex = _texture(device, w, h)
        out = np.empty((h, w, 4), np.uint8)
        nbytes = w * h * 4
        runs = [("one-shot read_texture", one_shot), ("pvgpu present (Readback.frame)", present_path),
                (f"ring of {RING} mapped buffers", ring)]
        base = None
        for name, fn in runs:
            fn(device, tex, w, h, 2, out)  # warm-up
            s = fn(device, tex, w, h, args.frames, out)
            gbs = nbytes * args.frames / s / 1e9
            base = base or gbs
            rows.append({"size": size, "path": name, "ms_per_frame": s / args.frames * 1e3, "gb_s": gbs,
                         "ratio": gbs / base})
        if not args.no_e2e:
            s = end_to_end(w, h, args.frames)
            gbs = nbytes * args.frames / s / 1e9
            rows.append({"size": size, "path": "pvgpu end to end (guest -> presenter copy)",
                         "ms_per_frame": s / args.frames * 1e3, "gb_s": gbs, "ratio": gbs / base})
    print(f"{'size':<10} {'path':<46} {'ms/frame':>9} {'GB/s':>7} {'ratio':>6}")
    for r in rows:
        print(f"{r['size']:<10} {r['path']:<46} {r['ms_per_frame']:>9.2f} {r['gb_s']:>7.2f} {r['ratio']:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
