"""The window presenter's latency (issue 10): a guest's Present to the frame handed to the
window (the surface's present call returned), and what the presenter costs the host per frame.

A guest process presents N frames at a steady rate (each a copy of a prepared image into the
back buffer) to a HostService with `window=WindowOptions(vsync=...)` and no CPU presenter, so
no frame is read back. It notes time.monotonic() as it calls Present; the presenter notes the
host's PRESENT time and its hand-off time per frame index (CLOCK_MONOTONIC is one clock for
every process of this machine). With isolation="thread" the presenter object is read directly;
with isolation="process" (the default service) only the figures the worker reports are known:
host PRESENT -> hand-off and CPU per frame. The first frame, which opens the window and builds
the blit pipeline, is left out (its hand-off is in the `open` column), and the measured frames
follow WARMUP frames the guest waited for.

Under Xvfb when DISPLAY is unset (one is started). On lavapipe the blit runs on the CPU, so the
presenter's "GPU" work is CPU time of llvmpipe's threads, not counted in the CPU column
(that is the session thread's own time in present_texture: encoding, submitting, presenting).
The last column is what the window avoids: reading a frame of that size back to the CPU
(renderer.readback, measured alone in the same run), which a CPU presenter waits for.

    python -m benchmarks.window_latency [--frames N] [--rate FPS] [--sizes 1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

#: frames presented (and waited for) before the measured ones: the window opens at the first
WARMUP = 10

_GUEST = r"""
import json, sys, time
import numpy as np
from pvgpu import guest as g
sock, w, h, frames, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
WARMUP = int(sys.argv[6])
y, x = np.mgrid[0:h, 0:w]
image = np.empty((h, w, 4), np.uint8)
image[..., 0] = x * 255 // w; image[..., 1] = y * 255 // h; image[..., 2] = (x // 8 + y // 8) % 2 * 200; image[..., 3] = 255
dev = g.connect(sock, timeout=60)
ctx = dev.get_immediate_context()
chain = dev.create_swap_chain(g.SwapChainDesc(w, h))
back = chain.get_buffer(0)
source = dev.create_texture2d(g.Texture2DDesc(w, h), image)
for _ in range(WARMUP):
    ctx.copy_resource(back, source)
    chain.present(0)
chain.wait_idle()
presented = []
start = time.perf_counter()
for n in range(frames):
    delay = start + n / rate - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    ctx.copy_resource(back, source)
    presented.append(time.monotonic())
    chain.present(0)
chain.wait_idle()
dev.close()
print("presented " + json.dumps(presented), flush=True)
"""


@contextlib.contextmanager
def display():
    """DISPLAY as it is, or a fresh Xvfb for the run."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        yield os.environ.get("DISPLAY") or os.environ["WAYLAND_DISPLAY"]
        return
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "2048x1280x24", "-nolisten", "tcp"],
                            pass_fds=[write], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        raise RuntimeError(f"Xvfb did not start (exit code {proc.wait()})")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        from pvgpu.host.present.window import release_display
        release_display()
        del os.environ["DISPLAY"]
        proc.terminate()
        proc.wait(10)


def readback_ms(width: int, height: int, reps: int = 30) -> float:
    """Median time to read one back buffer of this size back to the CPU (renderer.readback,
    as for a CPU presenter): what a window on the session's device does not pay."""
    import wgpu
    from pvgpu.host import gpu
    from pvgpu.host.render.readback import Readback
    device, _ = gpu.open_device()
    tex = device.create_texture(size=(width, height, 1), format="rgba8unorm",
                                usage=wgpu.TextureUsage.COPY_SRC | wgpu.TextureUsage.RENDER_ATTACHMENT)
    rb = Readback(device)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        _, release = rb.frame([], tex, width, height, 4)
        if release is not None:
            release()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def _pct(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def measure(width: int, height: int, frames: int, rate: float, vsync: bool, isolation: str) -> dict:
    from pvgpu.host.present.window import WindowOptions
    from pvgpu.host.service import HostService

    with tempfile.TemporaryDirectory(prefix="pvgpu-wl-") as tmp:
        sock = os.path.join(tmp, "host.sock")
        with HostService(sock, region_size=64 << 20, isolation=isolation, window=WindowOptions(vsync=vsync),
                         name="window-latency") as service:
            out = subprocess.run([sys.executable, "-c", _GUEST, sock, str(width), str(height), str(frames),
                                  str(rate), str(WARMUP)], capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(f"benchmark guest failed:\n{out.stderr}")
            (record,) = service.sessions.values()
            if not record.ended.wait(30):
                raise RuntimeError("the session did not end")
            fig = record.stats.gpu_presenters["window"]
            presenter = record.session.gpu_presenters[0] if record.session is not None else None
    line = next(l for l in out.stdout.splitlines() if l.startswith("presented "))
    guest_t = json.loads(line[len("presented "):])
    result = {"size": f"{width}x{height}", "vsync": vsync, "isolation": isolation, "mode": fig["present_mode"],
              "shown": fig["frames_shown"] - WARMUP, "frames": frames, "open_ms": fig["open_ms"],
              "host_median_ms": fig["median_ms"], "host_p99_ms": fig["p99_ms"],
              "cpu_ms": fig["cpu_ms_per_frame"], "guest_median_ms": float("nan"), "guest_p99_ms": float("nan")}
    if presenter is not None:
        steady = [(i - WARMUP, p, h) for i, p, h in presenter.handoffs if WARMUP <= i < WARMUP + len(guest_t)]
        guest = [(h - guest_t[i]) * 1e3 for i, _, h in steady]
        host = [(h - p) * 1e3 for _, p, h in steady]
        result.update(guest_median_ms=_pct(guest, 50), guest_p99_ms=_pct(guest, 99),
                      host_median_ms=_pct(host, 50), host_p99_ms=_pct(host, 99))
    return result


COLUMNS = ("size", "isolation", "vsync (mode)", "shown", "guest->hand-off med/p99 ms",
           "host->hand-off med/p99 ms", "CPU ms/frame", "open ms", "read-back ms (avoided)")


def rows(results: list[dict]) -> list[tuple]:
    out = []
    for r in results:
        guest = ("n/a" if np.isnan(r["guest_median_ms"])
                 else f"{r['guest_median_ms']:.2f} / {r['guest_p99_ms']:.2f}")
        out.append((r["size"], r["isolation"], f"{'on' if r['vsync'] else 'off'} ({r['mode']})",
                    f"{r['shown']}/{r['frames']}", guest, f"{r['host_median_ms']:.2f} / {r['host_p99_ms']:.2f}",
                    f"{r['cpu_ms']:.2f}", f"{r['open_ms']:.0f}", f"{r['readback_ms']:.2f}"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=240)
    p.add_argument("--rate", type=float, default=30.0, help="the guest's presents per second")
    p.add_argument("--sizes", default="1280x720,1920x1080")
    p.add_argument("--isolation", default="thread,process")
    args = p.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    results = []
    with display() as where:
        print(f"display {where}; {args.frames} frames per row at {args.rate:g} presents/s")
        for isolation in args.isolation.split(","):
            for w, h in sizes:
                baseline = readback_ms(w, h)
                for vsync in (True, False):
                    results.append(dict(measure(w, h, args.frames, args.rate, vsync, isolation),
                                        readback_ms=baseline))
    table = [COLUMNS, *rows(results)]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(COLUMNS))]
    for r in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
