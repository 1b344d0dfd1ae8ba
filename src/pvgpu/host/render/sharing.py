"""Shared resources: a RESOURCE_MISC_SHARED texture one guest process creates and another
opens by its handle (ID3D11Device::OpenSharedResource).

Each session renders on a wgpu device of its own (in a worker process of its own), and wgpu
cannot share GPU memory between devices, so a shared texture's contents travel through host
memory: a file per shared texture in the service's share directory (tmpfs), named by its
handle. A session that wrote the texture publishes its contents there when it flushes (Flush,
a fence, Present); a session that holds the texture takes newer contents in before it runs
its next commands, unless it has unpublished writes of its own. That is D3D11's contract for
shared resources without a keyed mutex: the writer flushes, then the reader sees the writes.

The file: a 64-byte header (magic, width, height, DXGI format, bind flags, bytes per texel,
a version), then the texels, rows tightly packed. Writers take an exclusive flock and bump the
version to odd while they write and to even when done; readers copy without the lock and
keep the copy only if the version was even and unchanged across it (a seqlock).

Handles are random 62-bit numbers: a guest can open only what it was given the handle of.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import secrets
import struct

import numpy as np

from ...protocol.enums import DxgiFormat

MAGIC = 0x53485650  # "PVHS"
_HEADER = struct.Struct("<IIIIII")  # magic, width, height, format, bind flags, bytes per texel
_VERSION_OFFSET = 32
HEADER_SIZE = 64


class SharedSurface:
    """One process's view of a shared texture's host copy."""

    def __init__(self, path: str, handle: int, fd: int, created: bool):
        self.path = path
        self.handle = handle
        self.fd = fd
        self.created = created  # this session created it (and removes the file when it is released)
        self.map = mmap.mmap(fd, 0)
        self.width, self.height, self.format, self.bind_flags, self.bytes_per_texel = \
            _HEADER.unpack_from(self.map, 0)[1:]
        self._version = np.frombuffer(self.map, dtype=np.uint64, count=1, offset=_VERSION_OFFSET)
        self.seen_version = 0  # the version this session's texture holds

    @property
    def row_bytes(self) -> int:
        return self.width * self.bytes_per_texel

    @property
    def nbytes(self) -> int:
        return self.row_bytes * self.height

    @classmethod
    def create(cls, share_dir: str, width: int, height: int, format: DxgiFormat, bind_flags: int,
               bytes_per_texel: int) -> "SharedSurface":
        while True:
            handle = secrets.randbits(62) | 1
            path = _path(share_dir, handle)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                continue
        try:
            os.ftruncate(fd, HEADER_SIZE + width * height * bytes_per_texel)
            os.pwrite(fd, _HEADER.pack(MAGIC, width, height, int(format), bind_flags, bytes_per_texel), 0)
            return cls(path, handle, fd, created=True)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise

    @classmethod
    def open(cls, share_dir: str, handle: int) -> "SharedSurface | None":
        """The surface with this handle, or None if there is none (never created, or released)."""
        if not 0 < handle < 1 << 62:
            return None
        try:
            fd = os.open(_path(share_dir, handle), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            if os.fstat(fd).st_size < HEADER_SIZE or \
                    _HEADER.unpack(os.pread(fd, _HEADER.size, 0))[0] != MAGIC:
                os.close(fd)
                return None
            return cls(_path(share_dir, handle), handle, fd, created=False)
        except BaseException:
            os.close(fd)
            raise

    def publish(self, pixels: np.ndarray) -> None:
        """Write the texture's contents (height rows of row_bytes) for the other holders."""
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            version = int(self._version[0])
            self._version[0] = version + 1
            np.frombuffer(self.map, dtype=np.uint8, count=self.nbytes, offset=HEADER_SIZE)[:] = pixels.reshape(-1)
            self._version[0] = version + 2
            self.seen_version = version + 2
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def newer(self) -> bytes | None:
        """The contents, if another holder published newer ones than this session holds."""
        version = int(self._version[0])
        if version == self.seen_version or version % 2:
            return None
        data = bytes(self.map[HEADER_SIZE:HEADER_SIZE + self.nbytes])
        if int(self._version[0]) != version:
            return None  # a writer came in meanwhile: take the next one
        self.seen_version = version
        return data

    def close(self) -> None:
        self._version = None
        self.map.close()
        os.close(self.fd)
        if self.created:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def _path(share_dir: str, handle: int) -> str:
    return os.path.join(share_dir, f"{handle:016x}")
