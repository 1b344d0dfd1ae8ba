"""Boot to first frame of a host-root VM, the bzImage against its vmlinux booted through the
PVH entry (boot.kernel_entry), under the accelerator `accel = "auto"` picks here (or --accel).

Each run starts the launcher (initramfs, QEMU), the guest boots, its init prints
initramfs.USER_SPACE_MARKER on the serial console (time to user space), mounts the host's root
and runs `pvgpu demo` for 2 frames; time to first frame is taken when the host is handed the
first frame. Kernel kinds alternate run by run, so drift on a shared machine hits both.
Run it niced on a shared machine: `nice -n 10 python -m benchmarks.vm_boot --runs 3`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time

from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.vm import initramfs, pvh, qemu
from pvgpu.vm.launcher import VirtualMachine
from pvgpu.vm.profile import profile_from_dict

DEMO = "pvgpu demo --guest-only --device auto --frames 2 --size 160x120"
TIMEOUT_S = 600.0


def _console_time(path: str, marker: str, stop: threading.Event, start: float, out: dict) -> None:
    """Poll the serial console file for MARKER; record seconds since START."""
    needle = marker.encode()
    while not stop.is_set():
        try:
            with open(path, "rb") as f:
                if needle in f.read():
                    out["user_space_s"] = time.perf_counter() - start
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.02)


def boot_once(tmp: str, host: HostService, first: threading.Event, entry: str, accel: str, n: int) -> dict:
    profile = profile_from_dict({"name": f"boot-{entry}-{n}", "memory": "768M", "cpus": 1, "accel": accel,
                                 "pvgpu": {"host": host.socket_path, "region_size": "32M"},
                                 "boot": {"source": "host-root", "command": DEMO, "kernel_entry": entry}})
    vm = VirtualMachine(profile, run_dir=os.path.join(tmp, profile.name))
    first.clear()
    out: dict = {}
    stop = threading.Event()
    start = time.perf_counter()
    watcher = threading.Thread(target=_console_time, args=(vm.paths.console, initramfs.USER_SPACE_MARKER, stop,
                                                           start, out), daemon=True)
    try:
        vm.start()
        watcher.start()
        if not first.wait(TIMEOUT_S):
            raise RuntimeError(f"no frame from the VM within {TIMEOUT_S:.0f} s; console:\n{vm.console_tail()}")
        out["first_frame_s"] = time.perf_counter() - start
        vm.wait(TIMEOUT_S)
        code, text = vm.job_result()
        if code != 0:
            raise RuntimeError(f"the guest's demo failed ({code}):\n{text}")
        out["kernel"] = vm.kernel
    finally:
        stop.set()
        vm.close()
    return out


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "n/a"


def main(runs: int = 3, accel: str = "auto") -> int:
    choice = qemu.choose_accel(profile_from_dict({"accel": accel}))
    kernel = initramfs.newest_kernel()
    with tempfile.TemporaryDirectory(prefix="pvgpu-bench-unpack-") as cache:
        t = time.perf_counter()
        pvh.vmlinux(kernel, cache)
        unpack_s = time.perf_counter() - t
    pvh.vmlinux(kernel)  # the real cache, so the boots below find it
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"accel: {choice}")
    print(f"kernel: {kernel}; unpacking its vmlinux (once per kernel, then cached): {unpack_s:.2f} s")
    results: dict[str, list[dict]] = {"bzimage": [], "pvh": []}
    first = threading.Event()
    with tempfile.TemporaryDirectory(prefix="pvgpu-bench-boot-") as tmp:
        with HostService(os.path.join(tmp, "ivshmem.sock"), region_size=32 << 20, transport="ivshmem",
                         presenters=[FrameCallback(lambda sid, frame: first.set())]) as host:
            for n in range(runs):
                for entry in ("bzimage", "pvh"):
                    r = boot_once(tmp, host, first, entry, choice.accel, n)
                    results[entry].append(r)
                    print(f"  run {n + 1} {entry:<7}: user space {r.get('user_space_s', float('nan')):6.2f} s, "
                          f"first frame {r['first_frame_s']:6.2f} s ({r['kernel'].path})", flush=True)
    base = statistics.median(r["first_frame_s"] for r in results["bzimage"])
    base_us = [r["user_space_s"] for r in results["bzimage"] if "user_space_s" in r]
    print(f"\nmedians of {runs} run(s), accel {choice.accel}:")
    print(f"| {'kernel kind':<22} | {'user space, s':>13} | {'first frame, s':>14} | {'ratio to bzImage':>16} |")
    print(f"|{'-' * 24}|{'-' * 15}|{'-' * 16}|{'-' * 18}|")
    for entry, label in (("bzimage", "bzImage"), ("pvh", "vmlinux via PVH entry")):
        us = [r["user_space_s"] for r in results[entry] if "user_space_s" in r]
        ff = statistics.median(r["first_frame_s"] for r in results[entry])
        us_ratio = f"{statistics.median(us) / statistics.median(base_us):.2f} / " if us and base_us else ""
        print(f"| {label:<22} | {_median(us):>13} | {ff:>14.2f} | {us_ratio + f'{ff / base:.2f}':>16} |")
    print("(ratio: user space / first frame, each against the bzImage's)")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="boots of each kernel kind (default 3)")
    ap.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    args = ap.parse_args()
    raise SystemExit(main(args.runs, args.accel))
