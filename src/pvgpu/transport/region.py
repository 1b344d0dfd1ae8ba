"""The shared region: one mapping holding the control page, the command ring and the heap."""

from __future__ import annotations

import fcntl
import gc
import logging
import mmap
import os
import struct

import numpy as np

from ..errors import TransportError
from ..protocol import layout as L

log = logging.getLogger("pvgpu.transport")


class Region:
    """A mapped shared region with typed access to its control page.

    Fence values and ring positions are read and written through aligned 64-bit numpy views,
    so each store is a single machine store that the other side never sees torn.
    """

    def __init__(self, fd: int, size: int):
        self.fd = fd
        self.size = size
        try:
            self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError) as e:
            raise TransportError(f"cannot map the shared region ({size} bytes): {e}") from e
        self.view = memoryview(self.mm)
        self._u64 = np.frombuffer(self.mm, dtype=np.uint64, count=L.CONTROL_PAGE_SIZE // 8)
        self.ring = None
        self.heap = None

    @classmethod
    def create(cls, size: int, name: str = "pvgpu") -> "Region":
        """A new anonymous region (memfd), zero-filled."""
        fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            # A guest that holds the fd must not shrink it under the host (SIGBUS on access).
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        except OSError as e:
            os.close(fd)
            raise TransportError(f"cannot create the {size}-byte shared region: {e}") from e
        return cls(fd, size)

    @classmethod
    def open_path(cls, path: str, size: int | None = None, create: bool = False) -> "Region":
        """A region backed by a file (e.g. under /dev/shm)."""
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
        if create and size:
            os.ftruncate(fd, size)
        return cls(fd, size or os.fstat(fd).st_size)

    # --- control page -----------------------------------------------------------------------
    def get(self, name: str) -> int:
        f = L.CONTROL[name]
        if f.wire.size == 8:
            return int(self._u64[f.offset // 8])
        return struct.unpack_from("<" + f.wire.code, self.mm, f.offset)[0]

    def set(self, name: str, value: int) -> None:
        f = L.CONTROL[name]
        if f.wire.size == 8:
            self._u64[f.offset // 8] = value
        else:
            struct.pack_into("<" + f.wire.code, self.mm, f.offset, value)

    def u64_slot(self, name: str) -> int:
        """Index into `u64` of a 64-bit control field, for hot loops."""
        return L.CONTROL[name].offset // 8

    @property
    def u64(self) -> np.ndarray:
        return self._u64

    def attach_parts(self, ring_offset: int, ring_size: int, heap_offset: int, heap_size: int) -> None:
        end = max(ring_offset + ring_size, heap_offset + heap_size)
        if ring_offset < L.CONTROL_PAGE_SIZE or heap_offset < L.CONTROL_PAGE_SIZE or end > self.size:
            raise TransportError(
                f"control page describes parts outside the {self.size}-byte region "
                f"(ring {ring_offset}+{ring_size}, heap {heap_offset}+{heap_size})")
        self.ring = self.view[ring_offset:ring_offset + ring_size]
        self.heap = self.view[heap_offset:heap_offset + heap_size]

    def close(self) -> None:
        for name in ("ring", "heap", "view"):
            view = getattr(self, name, None)
            if view is not None:
                view.release()
            setattr(self, name, None)
        view = None
        self._u64 = None
        if self.mm is not None:
            try:
                self.mm.close()
            except BufferError:
                gc.collect()  # views held only by reference cycles (e.g. old tracebacks)
                try:
                    self.mm.close()
                except BufferError:
                    log.warning("shared region still has views; it is unmapped when they go")
            self.mm = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
