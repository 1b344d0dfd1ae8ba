"""Host CPU each CPU presenter costs per frame (issue 10): PNG files, the H.264 recording and the
web viewer's JPEG encoding, at 1280x720 and 1920x1080.

Frames are a rendered-looking picture (gradients and moving shapes, not noise, which no codec
sees from a game). Each presenter gets `--frames` frames handed to `present()` as the service
hands them; the figures are the CPU time of the presenter's own threads per frame shown
(PresenterCounters.cpu_s / shown), the whole process's CPU time per frame handed (encoder
threads of libx264 included; the frames are made before timing), the caller's cost of `present()` (the copy into the queue),
and frames dropped. Frames are handed at most at `--fps` (0: as fast as present() returns), so
drops mean the presenter cannot keep up at that rate on this machine.

    python -m benchmarks.presenter_cost [--frames N] [--fps 60] [--sizes 1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from pvgpu.host.render.renderer import Frame


def picture(w: int, h: int, i: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 4), np.uint8)
    img[..., 0] = (x * 255 // max(1, w - 1) + i * 3) % 256
    img[..., 1] = (y * 255 // max(1, h - 1)) % 256
    img[..., 2] = ((x + y + i * 5) // 8) % 256
    img[..., 3] = 255
    for k in range(6):
        cx, cy = (i * (7 + k) + k * w // 6) % w, (h // 3 + k * h // 9) % h
        img[max(0, cy - 40):cy + 40, max(0, cx - 60):cx + 60, :3] = (40 * k, 255 - 30 * k, 90)
    return img


def _web(tmp: str):
    """The web presenter with one viewer attached, encoding every frame (no browser: the
    cost measured is the host's, encode and send to a WebSocket client that reads)."""
    import asyncio
    import threading

    import aiohttp

    from pvgpu.host.present.base import SessionInfo
    from pvgpu.host.present.web import WebPresenter

    web = WebPresenter(port=0)
    web.session_started(SessionInfo(1, "bench"))
    done = threading.Event()

    async def viewer():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(web.url.split("?")[0].rstrip("/") + "/ws/1") as ws:
                while not done.is_set():
                    try:
                        msg = await asyncio.wait_for(ws.receive(), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        await ws.send_json({"type": "ack", "index": 0})
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return

    t = threading.Thread(target=lambda: asyncio.run(viewer()), daemon=True)
    t.start()
    time.sleep(1.0)
    web._bench_viewer = (done, t)
    return web


def measure(make, frames: list[np.ndarray], n: int, fps: float) -> dict:
    presenter = make()
    call = 0.0
    start = time.monotonic()
    cpu0 = time.process_time()
    for i in range(n):
        if fps:
            due = start + i / fps
            while time.monotonic() < due:
                time.sleep(max(0.0, due - time.monotonic()))
        t0 = time.thread_time()
        presenter.present(1, Frame(frames[i % len(frames)], i, None, time.monotonic()))
        call += time.thread_time() - t0
    presenter.drain(120)
    process_cpu = time.process_time() - cpu0
    c = presenter.counters(1)
    extra = getattr(presenter, "_bench_viewer", None)
    if extra:
        extra[0].set()
    presenter.close()
    return {"cpu_ms": c.cpu_s / max(1, c.shown) * 1e3, "process_ms": process_cpu / n * 1e3, "present_ms": call / n * 1e3, "shown": c.shown,
            "dropped": c.dropped, "p50_ms": float(np.median(c.latencies_s)) * 1e3 if c.latencies_s else 0.0}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--fps", type=float, default=60)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    args = ap.parse_args(argv)
    from pvgpu.host.present.headless import PngWriter
    from pvgpu.host.present.record import Recorder

    rows = []
    with tempfile.TemporaryDirectory(prefix="pvgpu-pc-") as tmp:
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            frames = [picture(w, h, i) for i in range(16)]
            makers = [("png (2 threads, zlib level 1)", lambda: PngWriter(os.path.join(tmp, f"png-{size}"))),
                      ("record (libx264 veryfast, CRF 18)", lambda: Recorder(os.path.join(tmp, f"r-{size}.mp4"))),
                      ("web (JPEG q80, one viewer)", lambda: _web(tmp))]
            for name, make in makers:
                r = measure(make, frames, args.frames, args.fps)
                rows.append({"size": size, "presenter": name, **r})
    print(f"{'size':<10} {'presenter':<36} {'thread CPU ms':>13} {'all CPU ms':>10} {'present() ms':>12} "
          f"{'shown':>6} {'dropped':>8} {'p50 ms':>7}")
    for r in rows:
        print(f"{r['size']:<10} {r['presenter']:<36} {r['cpu_ms']:>13.2f} {r['process_ms']:>10.2f} "
              f"{r['present_ms']:>12.2f} {r['shown']:>6} {r['dropped']:>8} {r['p50_ms']:>7.1f}")
    return rows


if __name__ == "__main__":
    main()
