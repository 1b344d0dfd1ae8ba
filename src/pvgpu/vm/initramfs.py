"""A tiny initramfs that boots a Linux guest on the host's own root, shared read-only over
9p (the way virtme-ng does), runs one command and powers off.

The archive is written in Python (cpio "newc"), from the host's kernel modules and Debian's
static busybox, so no root privileges or external tools are needed to build it.
"""

from __future__ import annotations

import glob
import lzma
import os
import re
import shlex
from dataclasses import dataclass

from ..errors import PvgpuError

BUSYBOX = "/bin/busybox"
#: The modules that put the host's root on 9p over virtio-pci, dependencies resolved from
#: modules.dep (built-in ones are simply not found there and skipped).
ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p")
#: The modules that turn QEMU's input devices into /dev/input/event* (the PS/2 keyboard's
#: driver is built into Debian's kernel; the virtio tablet's is a module).
INPUT_MODULES = ("virtio_input", "evdev")
GUEST_MODULES = ROOT_MODULES + INPUT_MODULES
ROOT_TAG = "hostroot"
JOB_TAG = "pvgpujob"
#: Inside the guest; a tmpfs on /run holds it. The host's /tmp stays visible (read-only): a
#: checkout or virtual environment there must keep working in the guest.
JOB_DIR = "/run/pvgpu-job"
USER_SPACE_MARKER = "pvgpu-init: user space"  # init's first line on the console (boot timing)


class BootError(PvgpuError):
    """The host lacks something the host-root boot needs."""


def newest_kernel() -> str:
    kernels = sorted(glob.glob("/boot/vmlinuz-*"), key=lambda p: [int(x) if x.isdigit() else x
                                                                 for x in re.split(r"(\d+)", p)])
    if not kernels:
        raise BootError("no kernel in /boot to boot the guest with; install one (Debian: apt-get install "
                        "linux-image-amd64) or name boot.kernel in the profile")
    return kernels[-1]


def kernel_release(kernel_path: str) -> str:
    name = os.path.basename(kernel_path)
    if not name.startswith("vmlinuz-"):
        raise BootError(f"cannot tell the release of kernel {kernel_path} (expected /boot/vmlinuz-RELEASE)")
    return name.removeprefix("vmlinuz-")


def module_chain(release: str, names=GUEST_MODULES) -> list[str]:
    """Paths of the modules `names` need, dependencies first."""
    base = f"/lib/modules/{release}"
    try:
        with open(os.path.join(base, "modules.dep")) as f:
            deps = {}
            for line in f:
                path, _, rest = line.partition(":")
                deps[path.strip()] = rest.split()
    except FileNotFoundError:
        raise BootError(f"{base}/modules.dep is missing: the modules of kernel {release} are not installed") from None
    by_name = {re.sub(r"\.ko(\.\w+)?$", "", os.path.basename(p)).replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        for dep in deps.get(path, []):
            visit(dep)
        if path not in order:
            order.append(path)

    for name in names:
        path = by_name.get(name.replace("-", "_"))
        if path is not None:  # else built into the kernel
            visit(path)
    return [os.path.join(base, p) for p in order]


def _module_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".ko"):
        return data
    raise BootError(f"module {path} is compressed in a way pvgpu cannot unpack (only .ko and .ko.xz)")


@dataclass
class _Entry:
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _cpio(entries: list[_Entry]) -> bytes:
    out = bytearray()

    def add(e: _Entry, ino: int) -> None:
        name = e.name.encode() + b"\0"
        fields = (ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name), 0)
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields) + name)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(e.data)
        out.extend(b"\0" * (-len(out) % 4))

    for i, e in enumerate(entries, start=1):
        add(e, i)
    add(_Entry("TRAILER!!!", 0), 0)
    return bytes(out)


INIT = """#!/bin/busybox sh
/bin/busybox echo "{user_space_marker}"
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in {modules}; do insmod /lib/pvgpu/$m || echo "pvgpu-init: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose {root_tag} /newroot || poweroff -f
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot/run/tmp /newroot/run/home
mount -o bind /dev /newroot/dev
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mkdir -p /newroot{job_dir}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 {job_tag} /newroot{job_dir} || echo "pvgpu-init: no job share"
echo "pvgpu-init: running the job"
chroot /newroot /bin/sh -c 'cd /run/home; export HOME=/run/home TMPDIR=/run/tmp PYTHONDONTWRITEBYTECODE=1 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin; sh {job_dir}/run.sh > {job_dir}/output.log 2>&1; echo $? > {job_dir}/exit_code'
sync
echo "pvgpu-init: job done, exit code $(cat /newroot{job_dir}/exit_code)"
umount /newroot{job_dir}
poweroff -f
"""


def _has_interpreter(elf: bytes) -> bool:
    """Whether an ELF64 file asks for a dynamic loader (a PT_INTERP program header)."""
    if elf[:4] != b"\x7fELF":
        return True
    phoff = int.from_bytes(elf[0x20:0x28], "little")
    size, count = int.from_bytes(elf[0x36:0x38], "little"), int.from_bytes(elf[0x38:0x3A], "little")
    return any(int.from_bytes(elf[phoff + i * size:phoff + i * size + 4], "little") == 3 for i in range(count))


def build_initramfs(kernel_path: str) -> bytes:
    """An initramfs for `kernel_path` that mounts the host root and runs JOB_DIR/run.sh."""
    if not os.path.exists(BUSYBOX):
        raise BootError("busybox is missing; install Debian's busybox-static (apt-get install busybox-static)")
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    if _has_interpreter(busybox):
        raise BootError(f"{BUSYBOX} is linked dynamically; install busybox-static")
    modules = module_chain(kernel_release(kernel_path))
    names = [os.path.basename(p).removesuffix(".xz") for p in modules]
    entries = [_Entry(d, 0o040755) for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/pvgpu", "tmp")]
    entries.append(_Entry("dev/console", 0o020600, rdev=(5, 1)))
    entries.append(_Entry("bin/busybox", 0o100755, busybox))
    entries.append(_Entry("bin/sh", 0o120777, b"busybox"))
    entries += [_Entry(f"lib/pvgpu/{n}", 0o100644, _module_bytes(p)) for n, p in zip(names, modules)]
    init = INIT.format(user_space_marker=USER_SPACE_MARKER, modules=" ".join(shlex.quote(n) for n in names), root_tag=ROOT_TAG, job_tag=JOB_TAG,
                       job_dir=JOB_DIR)
    entries.append(_Entry("init", 0o100755, init.encode()))
    return _cpio(entries)
