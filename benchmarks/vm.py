"""The VM transport next to the local one, in the same run: boot-to-first-frame, the demo's
frame time (measured on the host between presented frames) and the doorbell round trip."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time

from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.vm.launcher import PACKAGE_PARENT, VirtualMachine
from pvgpu.vm.profile import profile_from_dict

REPO = os.path.dirname(PACKAGE_PARENT)


class FrameClock:
    """Host-side time of every presented frame."""

    def __init__(self):
        self.times: list[float] = []
        self.first = threading.Event()

    def __call__(self, session_id, frame) -> None:
        self.times.append(time.perf_counter())
        self.first.set()

    def frame_time(self, skip: int = 2) -> float:
        t = self.times[skip:]
        return (t[-1] - t[0]) / max(1, len(t) - 1)


def _guest_tasks(args: str) -> str:
    return (f"cd {shlex.quote(REPO)} && PYTHONPATH={shlex.quote(PACKAGE_PARENT)}:{shlex.quote(REPO)} "
            f"{shlex.quote(sys.executable)} -m benchmarks.guest_tasks {args}")


def _vm(tmp: str, host: HostService, name: str, command: str) -> VirtualMachine:
    profile = profile_from_dict({"name": name, "memory": "768M", "cpus": 1,
                                 "pvgpu": {"host": host.socket_path, "region_size": "64M"},
                                 "boot": {"source": "host-root", "command": command}})
    return VirtualMachine(profile, run_dir=os.path.join(tmp, name))


def measure(frames: int, width: int, height: int) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="pvgpu-bench-vm-") as tmp:
        clock = FrameClock()
        with HostService(os.path.join(tmp, "ivshmem.sock"), region_size=64 << 20, transport="ivshmem",
                         presenters=[FrameCallback(clock)]) as host:
            demo = (f"pvgpu demo --guest-only --device auto --frames {frames} --size {width}x{height}")
            vm = _vm(tmp, host, "bench-demo", demo)
            start = time.perf_counter()
            with vm:
                if not clock.first.wait(600):
                    raise RuntimeError(f"no frame from the VM; console:\n{vm.console_tail()}")
                out["boot_to_first_frame_s"] = time.perf_counter() - start
                vm.wait(1200)
            out["accel"] = vm.accel
            out["vm_frame_s"] = clock.frame_time()
            vm = _vm(tmp, host, "bench-doorbell", _guest_tasks("doorbell --device auto --count 300"))
            with vm:
                vm.wait(600)
            code, text = vm.job_result()
            if code != 0:
                raise RuntimeError(f"doorbell benchmark failed in the VM:\n{text}")
            out["vm_doorbell"] = json.loads(text.strip().splitlines()[-1])

        clock = FrameClock()
        with HostService(os.path.join(tmp, "local.sock"), region_size=64 << 20,
                         presenters=[FrameCallback(clock)]) as host:
            subprocess.run([sys.executable, "-m", "pvgpu.cli", "demo", "--guest-only", "--socket", host.socket_path,
                            "--frames", str(frames), "--size", f"{width}x{height}"], check=True, timeout=600)
            out["local_frame_s"] = clock.frame_time()
            r = subprocess.run(["sh", "-c", _guest_tasks(f"doorbell --socket {shlex.quote(host.socket_path)} "
                                                         f"--count 300")],
                               check=True, capture_output=True, text=True, timeout=600)
            out["local_doorbell"] = json.loads(r.stdout.strip().splitlines()[-1])
    return out
