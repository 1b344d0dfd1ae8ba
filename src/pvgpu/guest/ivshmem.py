"""Guest side of the VM transport on Linux: QEMU's ivshmem-doorbell PCI device from user
space, through sysfs. BAR2 is the shared region, BAR0's Doorbell register rings the host.

User space gets no MSI-X interrupts without a kernel driver, so waits poll the control page
with exponential backoff (microseconds to a millisecond), never a long busy spin. A Windows
guest would implement the same small interface (region, ring_doorbell, wait_interrupt,
close) on virtio-win's ivshmem driver.
"""

from __future__ import annotations

import glob
import mmap
import os
import time

import numpy as np

from ..errors import TransportError
from ..transport.ivshmem import doorbell_value
from ..transport.region import Region

VENDOR, DEVICE = 0x1AF4, 0x1110
SYSFS = "/sys/bus/pci/devices"
DOORBELL_REGISTER = 12
IVPOSITION_REGISTER = 8
MIN_BACKOFF, MAX_BACKOFF = 20e-6, 1e-3


def _read_hex(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip(), 16)


def find_devices(sysfs: str = SYSFS) -> list[str]:
    """sysfs folders of every ivshmem device (vendor 1af4, device 1110)."""
    found = []
    for dev in sorted(glob.glob(os.path.join(sysfs, "*"))):
        try:
            if _read_hex(os.path.join(dev, "vendor")) == VENDOR and _read_hex(os.path.join(dev, "device")) == DEVICE:
                found.append(dev)
        except OSError:
            continue
    return found


class IvshmemGuestChannel:
    def __init__(self, device: str | None = None):
        """`device`: a sysfs folder (/sys/bus/pci/devices/0000:00:04.0), a PCI address, or
        None for the only ivshmem device present."""
        self.path = self._resolve(device)
        self._enable()
        bar2 = os.path.join(self.path, "resource2")
        bar0 = os.path.join(self.path, "resource0")
        try:
            size = os.stat(bar2).st_size
            region_fd = os.open(bar2, os.O_RDWR | os.O_SYNC)
        except OSError as e:
            raise TransportError(f"cannot open {bar2} ({e}); run as root inside the guest") from e
        self.region = Region(region_fd, size)
        try:
            self._bar0_fd = os.open(bar0, os.O_RDWR | os.O_SYNC)
            self._bar0 = mmap.mmap(self._bar0_fd, 256, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            self.region.close()
            raise TransportError(f"cannot map the ivshmem registers {bar0}: {e}") from e
        self._registers = np.frombuffer(self._bar0, dtype=np.uint32, count=4)
        self.peer_id = int(self._registers[IVPOSITION_REGISTER // 4])
        self._backoff = MIN_BACKOFF

    @staticmethod
    def _resolve(device: str | None) -> str:
        if device is None or device == "auto":
            devices = find_devices()
            if not devices:
                raise TransportError("no ivshmem PCI device (1af4:1110) in this guest; start the VM with "
                                     "`pvgpu vm run`, which adds one wired to the pvgpu host")
            if len(devices) > 1:
                raise TransportError(f"several ivshmem devices ({', '.join(map(os.path.basename, devices))}); "
                                     f"name one with --device")
            return devices[0]
        path = device if os.path.isabs(device) else os.path.join(SYSFS, device)
        if not os.path.isdir(path):
            raise TransportError(f"no PCI device at {path}")
        return path

    def _enable(self) -> None:
        """Turn on the device's memory decoding (no driver does it for us)."""
        try:
            with open(os.path.join(self.path, "enable"), "w") as f:
                f.write("1")
        except OSError:
            pass  # already enabled, or not permitted: opening the BARs says which

    def ring_doorbell(self) -> None:
        self._registers[DOORBELL_REGISTER // 4] = doorbell_value()
        self._backoff = MIN_BACKOFF

    def wait_interrupt(self, timeout: float) -> bool:
        """No interrupts reach user space: sleep a little longer each time (up to 1 ms)."""
        time.sleep(min(self._backoff, timeout))
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        return False

    def close(self) -> None:
        self._registers = None
        try:
            self._bar0.close()
        except (BufferError, ValueError):
            pass
        os.close(self._bar0_fd)
        self.region.close()
