"""The browser viewer's latency (issue 10): a guest's Present to the frame drawn in a browser's
canvas, and what the web presenter costs the host per frame.

A guest process presents N frames at a steady rate through a HostService (worker process,
frames forwarded through shared memory) to the WebPresenter; Debian's Chromium (headless,
Playwright) shows the session with `?stamp=1`. Each frame carries its number as a stamp: 20
blocks of 16x16 pixels along the top row, white for 1 and black for 0 (solid blocks on
JPEG's 16-pixel grid survive any quality). After drawing a frame the page reads the stamp
back from its canvas and reports the time; the guest noted its wall-clock time as it called
Present. Both clocks are this machine's.

Columns: median and 99th percentile of Present -> canvas (ms); frames drawn of those
presented; encoded KB per frame; the web presenter's CPU per frame shown (the presenter
thread's encode, the event loop's sending, and the copy into the presenter's queue); the
session's worker process per frame presented; Chromium's processes per frame drawn; the
median of each stage (guest Present -> host PRESENT, -> encoded, -> the page has the message,
-> drawn). Then the encoders alone per
frame (what each transport would cost the host): JPEG and WebP through Pillow, H.264
(libx264) and VP8 (libvpx) through PyAV with their real-time settings, as WebRTC (aiortc)
would encode, including the RGB -> YUV 4:2:0 conversion those need.

    python -m benchmarks.browser_latency [--frames N] [--sizes 1280x720,1920x1080] [--rates 30,60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

STAMP_BITS, STAMP_BLOCK = 20, 16
CONDITIONS = [("jpeg", 80), ("jpeg", 90), ("webp", 80)]

_GUEST = r"""
import json, sys, time
import numpy as np
from pvgpu import guest as g
sock, w, h, frames, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
BITS, BLOCK = %d, %d
y, x = np.mgrid[0:h, 0:w]
bg = np.empty((h, w, 4), np.uint8)
bg[..., 0] = x * 255 // w; bg[..., 1] = y * 255 // h; bg[..., 2] = (x // 8 + y // 8) %% 2 * 60 + 60; bg[..., 3] = 255
rng = np.random.default_rng(1)
for _ in range(40):  # some detail: blocks of noise
    bx, by = rng.integers(0, w - 64), rng.integers(BLOCK, h - 64)
    bg[by:by + 64, bx:bx + 64, :3] = rng.integers(0, 255, (64, 64, 3))
dev = g.connect(sock, timeout=60)
ctx = dev.get_immediate_context()
chain = dev.create_swap_chain(g.SwapChainDesc(w, h))
back = chain.get_buffer(0)
source = dev.create_texture2d(g.Texture2DDesc(w, h), bg)
box = g.Box(0, 0, 0, BITS * BLOCK, BLOCK, 1)

def present(n):
    stamp = np.zeros((BLOCK, BITS * BLOCK, 4), np.uint8)
    for bit in range(BITS):
        if n >> bit & 1:
            stamp[:, bit * BLOCK:(bit + 1) * BLOCK] = 255
    stamp[..., 3] = 255
    ctx.copy_resource(back, source)
    ctx.update_subresource(back, 0, box, stamp)
    t = time.time() * 1e3
    chain.present(0)
    return t

for _ in range(5):
    present(0)
chain.wait_idle()
print("ready", flush=True)
sys.stdin.readline()
presented = {}
start = time.perf_counter()
for n in range(1, frames + 1):
    delay = start + (n - 1) / rate - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    presented[n] = present(n)
chain.wait_idle()
print("presented " + json.dumps(presented), flush=True)
sys.stdin.readline()
dev.close()
""" % (STAMP_BITS, STAMP_BLOCK)


def process_cpu() -> dict[str, float]:
    """CPU seconds of this process and its descendants, by role: host service (this process),
    host worker (the session's renderer), guest, browser (Chromium's processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm_end = stat.rindex(")")
        fields = stat[comm_end + 2:].split()
        procs[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, cmdline)
    me = os.getpid()
    out = {"host service": 0.0, "host worker": 0.0, "guest": 0.0, "browser": 0.0}
    for pid, (ppid, cpu, cmdline) in procs.items():
        chain, p = [], pid
        while p in procs and p != me and len(chain) < 32:
            chain.append(p)
            p = procs[p][0]
        if p != me and pid != me:
            continue
        if pid == me:
            out["host service"] += cpu
        elif "pvgpu.host.worker" in cmdline:
            out["host worker"] += cpu
        elif "chrom" in cmdline:
            out["browser"] += cpu
        elif "from pvgpu import guest" in cmdline:
            out["guest"] += cpu
    return out


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_condition(browser, w: int, h: int, codec: str, quality: int, frames: int, rate: float) -> dict:
    from pvgpu.host.present.web import WebPresenter
    from pvgpu.host.service import HostService

    web = WebPresenter(port=0, codec=codec, quality=quality)
    with tempfile.TemporaryDirectory(prefix="pvgpu-bl-") as tmp:
        sock = os.path.join(tmp, "host.sock")
        service = HostService(sock, region_size=64 << 20, presenters=[web])
        web.watch(service.presenters)
        service.start()
        guest = subprocess.Popen([sys.executable, "-c", _GUEST, sock, str(w), str(h), str(frames), str(rate)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        page = None
        try:
            if guest.stdout.readline().strip() != "ready":
                raise RuntimeError("the guest did not start")
            (sid,) = list(service.sessions)
            page = browser.new_page(viewport={"width": w + 40, "height": h + 120})
            page.goto(f"{web.url}session/{sid}?stamp=1")
            c = web.counters(sid)
            wc = web.web_counters(sid)
            deadline = time.monotonic() + 60
            while wc["viewers"] < 1:  # frames are encoded only while someone watches
                if time.monotonic() > deadline:
                    raise RuntimeError("the page did not connect")
                time.sleep(0.05)
            before = (c.shown, c.cpu_s, web.server_cpu_s(), wc["copy_cpu_s"], wc["encoded"], wc["encoded_bytes"])
            cpu_before = process_cpu()
            guest.stdin.write("go\n")
            guest.stdin.flush()
            line = guest.stdout.readline()
            if not line.startswith("presented "):
                raise RuntimeError(f"the guest stopped: {line!r}")
            presented = {int(k): v for k, v in json.loads(line[len("presented "):]).items()}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the last frames on their way
                reports = {r["stamp"]: r["t"] for r in web.drawn_reports(sid)}
                if frames in reports:
                    break
                time.sleep(0.05)
            web.drain(10)
            time.sleep(0.3)
            after = (c.shown, c.cpu_s, web.server_cpu_s(), wc["copy_cpu_s"], wc["encoded"], wc["encoded_bytes"])
            cpu_after = process_cpu()
            reports = {r["stamp"]: r["t"] for r in web.drawn_reports(sid)}
            by_stamp = {r["stamp"]: r["index"] for r in web.drawn_reports(sid)}
            received = {r["stamp"]: r["page_received"] for r in web.drawn_reports(sid)}
            timeline = {i: (p, e) for i, p, e in web.timeline(sid)}
            lost = {"presenter": c.dropped, "viewer": wc["viewer_drops"],
                    "page": page.evaluate("() => window.pvgpuViewer.lost")}
        finally:
            if page is not None:
                page.close()
            if guest.poll() is None:
                try:
                    guest.stdin.write("bye\n")
                    guest.stdin.flush()
                except OSError:
                    pass
            try:
                guest.wait(30)
            except subprocess.TimeoutExpired:
                guest.kill()
            service.stop()
            web.close()
    latencies = [reports[n] - t for n, t in presented.items() if n in reports]
    stages = [(timeline[by_stamp[n]][0] - t, timeline[by_stamp[n]][1] - timeline[by_stamp[n]][0],
               received[n] - timeline[by_stamp[n]][1], reports[n] - received[n])
              for n, t in presented.items() if n in reports and by_stamp[n] in timeline]
    shown = after[0] - before[0]
    cpu_s = (after[1] - before[1]) + (after[2] - before[2]) + (after[3] - before[3])
    encoded = after[4] - before[4]
    return {
        "size": f"{w}x{h}", "codec": f"{codec} q{quality}", "rate": rate, "frames": frames,
        "drawn": len(latencies),
        "median_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": _percentile(latencies, 99),
        "kb_per_frame": (after[5] - before[5]) / max(1, encoded) / 1024,
        "cpu_ms_per_frame": cpu_s * 1e3 / max(1, shown),
        "encode_cpu_ms": (after[1] - before[1]) * 1e3 / max(1, shown),
        "lost": lost,
        # whole processes, ms per frame presented (the browser: per frame drawn)
        "process_ms": {k: (cpu_after[k] - cpu_before[k]) * 1e3 / max(1, len(latencies) if k == "browser" else frames)
                       for k in cpu_before},
        # medians of the stages: guest Present -> host PRESENT (render, read-back, forwarding),
        # host PRESENT -> encoded (queue, encode), encoded -> the page has the message (send),
        # message -> drawn (decode, draw)
        "stages_ms": [statistics.median(s[i] for s in stages) if stages else float("nan") for i in range(4)],
    }


def scene(w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 4), np.uint8)
    img[..., 0], img[..., 1] = x * 255 // w, y * 255 // h
    img[..., 2], img[..., 3] = (x // 8 + y // 8) % 2 * 60 + 60, 255
    rng = np.random.default_rng(1)
    for _ in range(40):
        bx, by = rng.integers(0, w - 64), rng.integers(0, h - 64)
        img[by:by + 64, bx:bx + 64, :3] = rng.integers(0, 255, (64, 64, 3))
    return img


def encoder_costs(w: int, h: int, frames: int = 30) -> list[dict]:
    """CPU ms per frame of each encoder alone, on one thread (the other core draws and decodes)."""
    import av

    from pvgpu.host.present.web.frames import Encoder

    base = scene(w, h)
    # a moving picture, so inter-frame codecs cannot send nothing
    pictures = [np.roll(base, 8 * i, axis=1) for i in range(frames)]
    rows = []
    for codec, quality in CONDITIONS:
        enc = Encoder(codec, quality)
        sizes = []
        t = time.process_time()
        for p in pictures:
            sizes.append(len(enc.encode(p)))
        rows.append({"encoder": f"{codec} q{quality} (Pillow)", "cpu_ms": (time.process_time() - t) * 1e3 / frames,
                     "kb": statistics.mean(sizes) / 1024})
    for name, options, label in (
            ("libx264", {"preset": "ultrafast", "tune": "zerolatency"}, "H.264 libx264 ultrafast zerolatency"),
            ("libx264", {"preset": "veryfast", "tune": "zerolatency"}, "H.264 libx264 veryfast zerolatency"),
            ("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}, "VP8 libvpx realtime")):
        try:
            ctx = av.CodecContext.create(name, "w")
        except Exception as e:  # an FFmpeg built without it
            rows.append({"encoder": f"{label}: unavailable ({e})", "cpu_ms": float("nan"), "kb": float("nan")})
            continue
        ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
        ctx.time_base = Fraction(1, 60)
        ctx.bit_rate = 6_000_000 if name == "libx264" else 4_000_000
        ctx.thread_count = 1  # the other core draws and decodes
        ctx.options = options
        ctx.open()
        sizes = []
        cpu = time.process_time()
        for i, p in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(p, format="rgba").reformat(format="yuv420p")
            frame.pts = i
            sizes.append(sum(len(bytes(pkt)) for pkt in ctx.encode(frame)))
        sizes.append(sum(len(bytes(pkt)) for pkt in ctx.encode(None)))
        rows.append({"encoder": label, "cpu_ms": (time.process_time() - cpu) * 1e3 / frames,
                     "kb": sum(sizes) / frames / 1024})
    # the conversion alone, which every video codec pays before encoding
    t = time.process_time()
    for p in pictures:
        av.VideoFrame.from_ndarray(p, format="rgba").reformat(format="yuv420p")
    rows.append({"encoder": "  of which RGBA -> YUV 4:2:0", "cpu_ms": (time.process_time() - t) * 1e3 / frames,
                 "kb": float("nan")})
    for r in rows:
        r["size"] = f"{w}x{h}"
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=300, help="frames per measurement (default 300)")
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--rates", default="30,60", help="presents per second (default 30,60)")
    ap.add_argument("--codecs", default="jpeg:80,jpeg:90,webp:80")
    ap.add_argument("--json", default="", help="also write the rows to this file")
    ap.add_argument("--browser-args", default="", help="more Chromium flags, comma-separated (e.g. --disable-gpu)")
    args = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    codecs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.codecs.split(",")]
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        flags = ["--no-sandbox"] + [f for f in args.browser_args.split(",") if f]
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        try:
            for w, h in sizes:
                for codec, quality in codecs:
                    for rate in rates:
                        if codec == "webp" and rate > min(rates):
                            continue  # WebP cannot keep up with the lowest rate already (see the encoders)
                        r = run_condition(browser, w, h, codec, quality, args.frames, rate)
                        rows.append(r)
                        print(f"  {r['size']} {r['codec']} {rate:g}/s: median {r['median_ms']:.1f} ms, lost {r['lost']}, "
                              f"CPU ms per frame by process {', '.join(f'{k} {v:.1f}' for k, v in r['process_ms'].items())}",
                              flush=True)
        finally:
            browser.close()
    print()
    print(f"{'size':<10} {'codec':<8} {'fps':>4} {'drawn':>9} {'median ms':>10} {'p99 ms':>8} {'KB/frame':>9} "
          f"{'presenter CPU':>14} {'(encode)':>9} {'worker CPU':>11} {'browser CPU':>12}  "
          f"stages ms: to host / encoded / at page / drawn")
    for r in rows:
        pm = r["process_ms"]
        print(f"{r['size']:<10} {r['codec']:<8} {r['rate']:>4g} {r['drawn']:>4}/{r['frames']:<4} "
              f"{r['median_ms']:>10.1f} {r['p99_ms']:>8.1f} {r['kb_per_frame']:>9.0f} {r['cpu_ms_per_frame']:>14.2f} "
              f"{r['encode_cpu_ms']:>9.2f} {pm['host worker']:>11.1f} {pm['browser']:>12.1f}  "
              + " / ".join(f"{v:.1f}" for v in r["stages_ms"]))
    print("(CPU: ms per frame; presenter = encode + sending + the queue copy; worker = the session's renderer "
          "process; browser = Chromium's processes per frame drawn)")
    enc_rows = []
    for w, h in sizes:
        enc_rows += encoder_costs(w, h)
    print()
    print(f"{'size':<10} {'encoder alone (one thread)':<40} {'CPU ms/frame':>13} {'KB/frame':>9}")
    for r in enc_rows:
        print(f"{r['size']:<10} {r['encoder']:<40} {r['cpu_ms']:>13.2f} {r['kb']:>9.0f}")
    result = {"viewer": rows, "encoders": enc_rows, "cores": os.cpu_count()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
