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
Each session creates its files in a directory of its own (`session_dir`), which the
supervisor removes when that session's worker ends, however it ends; a process that still
has a file open keeps its contents. Space is reserved when a file is made, so a full tmpfs
is a clear error, never a SIGBUS when the copy is written later.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import secrets
import struct

import numpy as np

from ...protocol.enums import DxgiFormat, ErrorCode
from ..errors import CommandError

MAGIC = 0x53485650  # "PVHS"
_HEADER = struct.Struct("<IIIIII")  # magic, width, height, format, bind flags, bytes per texel
_VERSION_OFFSET = 32
HEADER_SIZE = 64


def session_dir(share_dir: str, session_id: int) -> str:
    """Where session `session_id` creates its shared textures' files."""
    return os.path.join(share_dir, f"session-{session_id}")


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

    @property
    def row_bytes(self) -> int:
        return self.width * self.bytes_per_texel

    @property
    def nbytes(self) -> int:
        return self.row_bytes * self.height

    @classmethod
    def create(cls, directory: str, width: int, height: int, format: DxgiFormat, bind_flags: int,
               bytes_per_texel: int) -> "SharedSurface":
        os.makedirs(directory, mode=0o700, exist_ok=True)
        while True:
            handle = secrets.randbits(62) | 1
            path = _path(directory, handle)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                continue
        try:
            try:
                os.posix_fallocate(fd, 0, HEADER_SIZE + width * height * bytes_per_texel)
            except OSError as e:
                raise CommandError(ErrorCode.QUOTA, f"the host has no room for the shared texture's copy "
                                                    f"({e.strerror})") from None
            os.pwrite(fd, _HEADER.pack(MAGIC, width, height, int(format), bind_flags, bytes_per_texel), 0)
            return cls(path, handle, fd, created=True)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise

    @classmethod
    def open(cls, share_dir: str, handle: int) -> "SharedSurface | None":
        """The surface with this handle in any session's directory, or None if there is none
        (never created, or released by its creator)."""
        if not 0 < handle < 1 << 62:
            return None
        for entry in sorted(os.listdir(share_dir)):
            path = _path(os.path.join(share_dir, entry), handle)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                if os.fstat(fd).st_size < HEADER_SIZE or _HEADER.unpack(os.pread(fd, _HEADER.size, 0))[0] != MAGIC:
                    os.close(fd)
                    return None
                return cls(path, handle, fd, created=False)
            except BaseException:
                os.close(fd)
                raise
        return None

    def publish(self, pixels: np.ndarray) -> int:
        """Write the texture's contents (height rows of row_bytes) for the other holders;
        returns the version they now have."""
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            version = int(self._version[0])
            self._version[0] = version + 1
            np.frombuffer(self.map, dtype=np.uint8, count=self.nbytes, offset=HEADER_SIZE)[:] = pixels.reshape(-1)
            self._version[0] = version + 2
            return version + 2
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def newer(self, than: int) -> tuple[int, bytes] | None:
        """(version, contents), if a holder published a version other than `than` since."""
        version = int(self._version[0])
        if version == than or version % 2:
            return None
        data = bytes(self.map[HEADER_SIZE:HEADER_SIZE + self.nbytes])
        if int(self._version[0]) != version:
            return None  # a writer came in meanwhile: take the next one
        return version, data

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
