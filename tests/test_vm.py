"""Real VMs: QEMU boots a Linux guest (KVM where it is real here, else TCG, see vm.accel) on the
host's own root, the guest program reaches the host only through the ivshmem PCI device."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import pytest

from pvgpu.demo.direct import DirectCube
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.vm.launcher import VirtualMachine
from pvgpu.vm.profile import profile_from_dict

pytestmark = pytest.mark.slow
VM_TIMEOUT = 240  # seconds; TCG is slow, KVM finishes in a few
W, H = 160, 120


@pytest.fixture
def vm_host(tmp_path):
    """One ivshmem host service that several VMs connect to; frames collected per session."""
    frames = defaultdict(list)
    service = HostService(str(tmp_path / "ivshmem.sock"), region_size=32 << 20, transport="ivshmem",
                          presenters=[FrameCallback(lambda sid, f: frames[sid].append(f.pixels.copy()))])
    service.frames = frames
    service.start()
    yield service
    service.stop()


def make_vm(tmp_path, host: HostService, name: str, command: str, identity: dict | None = None) -> VirtualMachine:
    data = {"name": name, "memory": "768M", "cpus": 1, "pvgpu": {"host": host.socket_path, "region_size": "32M"},
            "boot": {"source": "host-root", "command": command}}
    if identity:
        data["identity"] = identity
    return VirtualMachine(profile_from_dict(data), run_dir=str(tmp_path / f"vm-{name}"))


def run_to_end(vm: VirtualMachine) -> str:
    with vm:
        assert vm.accel_choice.accel == vm.accel and vm.accel_choice.reason
        # Under TCG the guest boots the bzImage's vmlinux through its PVH entry.
        assert vm.kernel.entry == ("pvh" if vm.accel == "tcg" else "bzimage"), vm.kernel
        vm.wait(VM_TIMEOUT)
    code, output = vm.job_result()
    assert code == 0, f"guest command failed ({code}):\n{output}\nconsole:\n{vm.console_tail()}"
    return output


def test_demo_in_vm_matches_local_frames(tmp_path, vm_host, host, wgpu_device):
    frames = 4
    vm = make_vm(tmp_path, vm_host, "demo", f"pvgpu demo --guest-only --device auto --frames {frames} --size {W}x{H}")
    run_to_end(vm)
    (session_id, got), = vm_host.frames.items()
    assert len(got) == frames
    local = subprocess.run([sys.executable, "-m", "pvgpu.cli", "demo", "--guest-only", "--socket", host.socket_path,
                            "--frames", str(frames), "--size", f"{W}x{H}"], capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    (local_frames,) = host.frames.values()
    reference = DirectCube(wgpu_device, W, H)
    for i, frame in enumerate(got):
        assert np.array_equal(frame, local_frames[i]), f"VM frame {i} differs from the local transport's"
        diff = np.abs(frame.astype(np.int16) - reference.render(i).astype(np.int16))
        assert diff.max() <= 1, f"VM frame {i} differs from direct wgpu in {np.count_nonzero(diff)} values"
    record = vm_host.sessions[session_id]
    assert record.ended.wait(10), "the session did not end when QEMU exited"
    assert record.stats.errors == 0


def test_killing_a_vm_mid_frame_leaves_the_host_serving_another(tmp_path, vm_host):
    doomed = make_vm(tmp_path, vm_host, "doomed", "pvgpu demo --guest-only --device auto --frames 100000 --size 64x48")
    doomed.start()
    try:
        deadline = time.monotonic() + VM_TIMEOUT
        while not any(len(f) >= 3 for f in vm_host.frames.values()):
            assert doomed.process.poll() is None, f"the VM stopped early:\n{doomed.job_result()[1]}"
            assert time.monotonic() < deadline, f"no frames from the VM; console:\n{doomed.console_tail()}"
            time.sleep(0.2)
        assert doomed.status() == "running"
        doomed_session = next(iter(vm_host.frames))
        doomed.kill()  # mid-stream: the guest is somewhere inside a frame
    finally:
        doomed.close()
    assert vm_host.sessions[doomed_session].ended.wait(15), "the killed VM's session did not end"

    survivor = make_vm(tmp_path, vm_host, "survivor", f"pvgpu demo --guest-only --device auto --frames 2 --size {W}x{H}")
    run_to_end(survivor)
    new_sessions = [sid for sid in vm_host.frames if sid != doomed_session]
    assert len(new_sessions) == 1 and len(vm_host.frames[new_sessions[0]]) == 2
    assert vm_host.sessions[new_sessions[0]].stats.errors == 0


IDENTITY = {
    "cpu_model": "Skylake-Client",
    "cpu_flags": ["-hypervisor"],
    "smbios": {
        "type0": {"vendor": "Contoso BIOS Works", "version": "F.42"},
        "type1": {"manufacturer": "Contoso", "product": "Workstation 7", "serial": "CT-2024-00042",
                  "uuid": "6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b", "family": "Workstation"},
        "type2": {"manufacturer": "Contoso Boards", "product": "WS7-MB"},
        "type3": {"manufacturer": "Contoso Chassis", "serial": "CH-00042"},
    },
}
DMI_EXPECTED = {
    "bios_vendor": "Contoso BIOS Works", "bios_version": "F.42", "sys_vendor": "Contoso",
    "product_name": "Workstation 7", "product_serial": "CT-2024-00042",
    "product_uuid": "6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b", "product_family": "Workstation",
    "board_vendor": "Contoso Boards", "board_name": "WS7-MB", "chassis_vendor": "Contoso Chassis",
    "chassis_serial": "CH-00042",
}


def test_profile_identity_is_what_the_guest_sees(tmp_path, vm_host):
    fields = " ".join(DMI_EXPECTED)
    command = (f"for f in {fields}; do printf '%s=' $f; cat /sys/class/dmi/id/$f; done; "
               "grep -m1 '^model name' /proc/cpuinfo; grep -c -w hypervisor /proc/cpuinfo || true")
    output = run_to_end(make_vm(tmp_path, vm_host, "identity", command, IDENTITY))
    seen = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    for key, value in DMI_EXPECTED.items():
        assert seen.get(key, "").strip().lower() == value.lower(), f"{key}: guest sees {seen.get(key)!r}"
    assert "Skylake" in output, output  # QEMU names the model in the CPUID brand string
    assert output.strip().splitlines()[-1] == "0", "the hypervisor CPU flag was not removed"


def test_guest_without_the_device_gets_a_clear_error(tmp_path, vm_host):
    """Inside a VM, a wrong --device names what is wrong (and nothing hangs)."""
    vm = make_vm(tmp_path, vm_host, "nodevice", "pvgpu demo --guest-only --device 0000:00:1f.7 --frames 1")
    with vm:
        vm.wait(VM_TIMEOUT)
    code, output = vm.job_result()
    assert code == 2 and "no PCI device at" in output and "Traceback" not in output, output
    assert os.path.exists(vm.paths.console)


def test_launcher_reports_status_and_stops_the_vm_cleanly(tmp_path, vm_host):
    vm = make_vm(tmp_path, vm_host, "stopme", "sleep 600")
    with vm:
        deadline = time.monotonic() + VM_TIMEOUT
        while "running the job" not in open(vm.paths.console, errors="replace").read():
            assert time.monotonic() < deadline, vm.console_tail()
            time.sleep(0.2)
        assert vm.status() == "running"
        started = time.monotonic()
        vm.stop()
        assert vm.process.poll() is not None and time.monotonic() - started < 15
        assert vm.process.returncode == 0  # QMP quit, not a kill
    assert vm.status() == "stopped"
    assert not os.path.exists(os.path.join(vm.paths.run_dir, "qemu.pid"))
