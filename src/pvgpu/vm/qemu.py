"""The QEMU command line for a profile, and the choice of accelerator."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

from . import accel as accel_mod
from . import initramfs, pvh
from .accel import AccelChoice
from .profile import OVMF_CODE, OVMF_VARS, Profile

log = logging.getLogger("pvgpu.vm")


@dataclass(frozen=True)
class RunPaths:
    """Where one VM's files live while it runs."""

    run_dir: str

    @property
    def qmp(self) -> str:
        return os.path.join(self.run_dir, "qmp.sock")

    @property
    def console(self) -> str:
        return os.path.join(self.run_dir, "console.log")

    @property
    def job(self) -> str:
        return os.path.join(self.run_dir, "job")

    @property
    def initramfs(self) -> str:
        return os.path.join(self.run_dir, "initramfs.cpio")

    @property
    def ivshmem(self) -> str:
        return os.path.join(self.run_dir, "ivshmem.sock")

    @property
    def ovmf_vars(self) -> str:
        return os.path.join(self.run_dir, "OVMF_VARS.fd")


def default_run_dir(name: str) -> str:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(base, "pvgpu-vm", name)


def _opt(value: str) -> str:
    """A value inside a QEMU option list (commas are doubled)."""
    return value.replace(",", ",,")


def kernel_path(profile: Profile) -> str:
    return initramfs.newest_kernel() if profile.boot.kernel == "auto" else profile.boot.kernel


def input_devices(boot_source: str) -> list[str]:
    """The devices viewer input reaches (QMP input-send-event): an absolute pointer, and for a
    host-root guest a virtio keyboard, whose driver its initramfs loads with the tablet's (it
    buffers 64 events where the PS/2 keyboard holds 16 bytes; QEMU sends keys to it once the
    driver is up). Other guests get a USB tablet, which every OS drives unaided, and keep the
    machine's PS/2 keyboard."""
    if boot_source == "host-root":
        return ["-device", "virtio-keyboard-pci", "-device", "virtio-tablet-pci"]
    return ["-device", "qemu-xhci,id=pvgpu-usb", "-device", "usb-tablet,bus=pvgpu-usb.0"]


def build_command(profile: Profile, paths: RunPaths, accel: str, host_socket: str,
                  kernel: str | None = None) -> list[str]:
    """The QEMU argument list (without starting anything). KERNEL: the file -kernel gets
    (boot_kernel's path), by default the profile's kernel as it is."""
    p = profile
    if not kernel and (p.boot.source != "disk" or p.boot.kernel != "auto"):
        kernel = kernel_path(p)
    cpu = ",".join([p.identity.cpu_model, *p.identity.cpu_flags])
    args = [p.qemu, "-name", _opt(p.name), "-machine", f"q35,accel={accel}", "-cpu", cpu,
            "-m", f"{p.memory // (1 << 20)}M", "-smp", str(p.cpus), "-nodefaults", "-no-user-config",
            "-serial", f"file:{_opt(paths.console)}", "-qmp", f"unix:{_opt(paths.qmp)},server=on,wait=off",
            "-chardev", f"socket,path={_opt(host_socket)},id=pvgpu",
            "-device", "ivshmem-doorbell,chardev=pvgpu,vectors=1"]
    if p.display == "none":
        args += ["-display", "none"]
    elif p.display == "vnc":
        args += ["-display", "none", "-vnc", p.vnc, "-vga", "std"]
    else:
        args += ["-display", p.display, "-vga", "std"]
    args += ["-nic", "none"] if p.network == "none" else ["-nic", "user,model=virtio-net-pci"]
    for table, values in sorted(p.identity.smbios.items()):
        args += ["-smbios", ",".join([f"type={table}", *(f"{k}={_opt(v)}" for k, v in values.items())])]
    if p.identity.firmware == "ovmf":
        args += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,unit=1,file={_opt(paths.ovmf_vars)}"]
    b = p.boot
    args += input_devices(b.source)
    if b.source == "host-root":
        append = f"console=ttyS0 panic=-1 quiet {b.append}".strip()
        args += ["-kernel", kernel, "-initrd", paths.initramfs, "-append", append, "-no-reboot",
                 "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
                 "-device", f"virtio-9p-pci,fsdev=hostroot,mount_tag={initramfs.ROOT_TAG}",
                 "-fsdev", f"local,id=job,path={_opt(paths.job)},security_model=none",
                 "-device", f"virtio-9p-pci,fsdev=job,mount_tag={initramfs.JOB_TAG}"]
    elif b.source == "kernel":
        args += ["-kernel", kernel, "-append", f"console=ttyS0 {b.append}".strip()]
        if b.initrd:
            args += ["-initrd", b.initrd]
    else:
        fmt = "qcow2" if b.disk.endswith(".qcow2") else "raw"
        args += ["-drive", f"file={_opt(b.disk)},if=virtio,format={fmt}"]
        if b.kernel != "auto":
            args += ["-kernel", kernel, "-append", b.append]
            if b.initrd:
                args += ["-initrd", b.initrd]
    return args + list(p.extra_args)


def prepare_files(profile: Profile, paths: RunPaths) -> None:
    """Write what the command line refers to: the initramfs, the job folder, OVMF variables."""
    os.makedirs(paths.job, exist_ok=True)
    if profile.boot.source == "host-root":
        with open(paths.initramfs, "wb") as f:
            f.write(initramfs.build_initramfs(kernel_path(profile)))
    if profile.identity.firmware == "ovmf":
        shutil.copyfile(OVMF_VARS, paths.ovmf_vars)


def choose_accel(profile: Profile) -> AccelChoice:
    """The accelerator for the profile's `accel`, with the reason (see vm.accel)."""
    return accel_mod.choose(profile.accel)


def boot_kernel(profile: Profile, accel: str) -> pvh.BootKernel | None:
    """The file QEMU's -kernel gets under ACCEL (None for a disk boot with no kernel of its own)."""
    if profile.boot.source == "disk" and profile.boot.kernel == "auto":
        return None
    return pvh.boot_kernel(kernel_path(profile), profile.boot.kernel_entry, accel)
