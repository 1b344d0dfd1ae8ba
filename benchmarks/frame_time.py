"""Frame time of the demo cube through pvgpu (guest process -> ring -> host -> wgpu ->
readback) next to the same frames drawn by direct wgpu calls in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from pvgpu.demo.direct import DirectCube
from pvgpu.host import gpu
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService

GUEST = r"""
import json, sys, time
from pvgpu import guest as g
from pvgpu.demo.guest_cube import GuestCube
socket_path, frames, warmup, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
device = g.connect(socket_path)
cube = GuestCube(device, w, h)
cube.draw_frame(0)
cube.swap_chain.wait_idle()
first = time.perf_counter() - t0
for i in range(warmup):
    cube.draw_frame(i)
cube.swap_chain.wait_idle()
start = time.perf_counter()
for i in range(frames):
    cube.draw_frame(i)
cube.swap_chain.wait_idle()
elapsed = time.perf_counter() - start
device.close()
print(json.dumps({"frame_s": elapsed / frames, "first_frame_s": first}))
"""


def pvgpu_frame_time(frames: int, width: int, height: int, warmup: int = 10) -> dict:
    stats = {"frames": 0}
    with tempfile.TemporaryDirectory(prefix="pvgpu-bench-") as tmp:
        sock = os.path.join(tmp, "host.sock")
        presenter = FrameCallback(lambda sid, frame: stats.__setitem__("frames", stats["frames"] + 1))
        with HostService(sock, region_size=64 << 20, presenters=[presenter]) as service:
            out = subprocess.run([sys.executable, "-c", GUEST, sock, str(frames), str(warmup), str(width),
                                  str(height)], capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(f"benchmark guest failed:\n{out.stderr}")
            sessions = list(service.sessions.values())
        result = json.loads(out.stdout.strip().splitlines()[-1])
    stats = sessions[0].stats
    result["pipeline_hits"] = stats.pipeline_hits
    result["pipeline_misses"] = stats.pipeline_misses
    result["errors"] = stats.errors
    return result


def direct_frame_time(frames: int, width: int, height: int, warmup: int = 10) -> float:
    device, _ = gpu.open_device()
    cube = DirectCube(device, width, height)
    for i in range(warmup):
        cube.render(i)
    start = time.perf_counter()
    for i in range(frames):
        cube.render(i)
    return (time.perf_counter() - start) / frames
