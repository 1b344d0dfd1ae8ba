"""The uncompressed kernel (vmlinux) inside a bzImage, booted through its PVH entry note.

Under TCG a bzImage spends seconds decompressing itself, one emulated instruction at a time.
The vmlinux in its payload, handed to QEMU's `-kernel`, starts at the Xen PVH entry point
(the ELF note XEN_ELFNOTE_PHYS32_ENTRY, which QEMU 7.2 honours) with no decompressor: the
guest reaches user space about three times sooner here. The payload is unpacked once per
bzImage (by its SHA-256) into the cache folder.

The bzImage layout is the x86 boot protocol's (Documentation/x86/boot.rst): the setup header
at 0x1F1, `payload_offset`/`payload_length` (protocol 2.08 and later) giving the compressed
kernel's place after the real-mode setup sectors.
"""

from __future__ import annotations

import bz2
import hashlib
import logging
import lzma
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from typing import Callable

from .initramfs import BootError
from .profile import KERNEL_ENTRIES

log = logging.getLogger("pvgpu.vm")

XEN_ELFNOTE_PHYS32_ENTRY = 18
MAX_VMLINUX = 1 << 30  # no real kernel comes near; a larger payload is not a kernel
_MAGICS = (  # compressed payload formats, by their first bytes
    (b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x89LZO", "lzo"), (b"BZh", "bzip2"), (b"\x5d\x00\x00", "lzma"),
)


class KernelError(BootError):
    """A kernel file pvgpu cannot take the vmlinux out of, or a vmlinux without a PVH entry."""


def cache_dir() -> str:
    """pvgpu's cache folder: $XDG_CACHE_HOME/pvgpu, else ~/.cache/pvgpu."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pvgpu")


def payload(bzimage: bytes, name: str = "the kernel") -> bytes:
    """The compressed kernel inside a bzImage, from its setup header."""
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS" or bzimage[0x1FE:0x200] != b"\x55\xaa":
        raise KernelError(f"{name} is not a bzImage (no x86 boot protocol setup header)")
    version = struct.unpack_from("<H", bzimage, 0x206)[0]
    if version < 0x208:
        raise KernelError(f"{name} uses boot protocol {version >> 8}.{version & 0xFF}; the payload's place is "
                          f"given from 2.08 on")
    setup_sects = bzimage[0x1F1] or 4
    offset, length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if length == 0 or start + length > len(bzimage):
        raise KernelError(f"{name}: its payload ({length} bytes at {start}) lies outside the file "
                          f"({len(bzimage)} bytes)")
    return bzimage[start:start + length]


def compression(data: bytes) -> str:
    for magic, kind in _MAGICS:
        if data.startswith(magic):
            return kind
    return "unknown"


def decompress(data: bytes, name: str = "the kernel") -> bytes:
    """Unpack a kernel payload (xz, gzip, lzma or bzip2), refusing output beyond MAX_VMLINUX.
    Bytes after the stream (the build appends the unpacked size) are ignored."""
    kind = compression(data)
    if kind in ("xz", "lzma"):
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)
        try:
            out = d.decompress(data, max_length=MAX_VMLINUX + 1)
        except lzma.LZMAError as e:
            raise KernelError(f"{name}: its {kind} payload is damaged: {e}") from None
        complete = d.eof
    elif kind == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(data, MAX_VMLINUX + 1)
        except zlib.error as e:
            raise KernelError(f"{name}: its gzip payload is damaged: {e}") from None
        complete = d.eof
    elif kind == "bzip2":
        d = bz2.BZ2Decompressor()
        try:
            out = d.decompress(data, max_length=MAX_VMLINUX + 1)
        except OSError as e:
            raise KernelError(f"{name}: its bzip2 payload is damaged: {e}") from None
        complete = d.eof
    else:
        raise KernelError(f"{name}: its payload is {kind}-compressed; pvgpu unpacks xz, gzip, lzma and bzip2 "
                          f"kernels")
    if len(out) > MAX_VMLINUX:
        raise KernelError(f"{name}: its payload unpacks to more than {MAX_VMLINUX >> 20} MiB; not a kernel")
    if not complete:
        raise KernelError(f"{name}: its {kind} payload is cut short")
    return out


def _elf_notes(read: Callable[[int, int], bytes], size: int, name: str) -> list[tuple[bytes, int, bytes]]:
    """(owner, type, description) of every note in an x86-64 ELF's PT_NOTE segments; READ(offset,
    length) gives the file's bytes, SIZE its length (so a cached vmlinux is not read whole)."""
    head = read(0, 64)
    if len(head) < 64 or head[:4] != b"\x7fELF":
        raise KernelError(f"{name}: not an ELF file")
    if head[4] != 2 or head[5] != 1 or struct.unpack_from("<H", head, 18)[0] != 62:
        raise KernelError(f"{name}: not a little-endian x86-64 ELF file")
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    if phentsize < 56 or phoff + phentsize * phnum > size:
        raise KernelError(f"{name}: its ELF program headers lie outside the file")
    table = read(phoff, phentsize * phnum)
    notes = []
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        if p_offset + p_filesz > size:
            raise KernelError(f"{name}: an ELF note segment lies outside the file")
        segment = read(p_offset, p_filesz)
        pos = 0
        while pos + 12 <= len(segment):
            namesz, descsz, kind = struct.unpack_from("<III", segment, pos)
            owner_at = pos + 12
            desc_at = owner_at + (namesz + 3) // 4 * 4
            pos = desc_at + (descsz + 3) // 4 * 4
            if pos > len(segment):
                raise KernelError(f"{name}: an ELF note runs past its segment")
            notes.append((segment[owner_at:owner_at + namesz].rstrip(b"\0"), kind, segment[desc_at:desc_at + descsz]))
    return notes


def _pvh_entry_in(notes: list[tuple[bytes, int, bytes]], name: str) -> int:
    for owner, kind, desc in notes:
        if owner == b"Xen" and kind == XEN_ELFNOTE_PHYS32_ENTRY and len(desc) >= 4:
            return struct.unpack_from("<I", desc)[0]
    raise KernelError(f"{name} has no PVH entry note (Xen note {XEN_ELFNOTE_PHYS32_ENTRY}, XEN_ELFNOTE_PHYS32_ENTRY; "
                      f"a kernel built without CONFIG_PVH)")


def pvh_entry(elf: bytes, name: str = "the vmlinux") -> int:
    """The 32-bit physical PVH entry point of a vmlinux (its Xen PHYS32_ENTRY note)."""
    return _pvh_entry_in(_elf_notes(lambda offset, length: elf[offset:offset + length], len(elf), name), name)


def pvh_entry_of_file(path: str) -> int:
    """pvh_entry of the ELF file at PATH, reading only its headers and notes."""
    with open(path, "rb") as f:
        def read(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)
        return _pvh_entry_in(_elf_notes(read, os.fstat(f.fileno()).st_size, path), path)


def _has_pvh_note(path: str) -> bool:
    try:
        pvh_entry_of_file(path)
        return True
    except (KernelError, OSError):
        return False


def _unwritable(folder: str, e: OSError) -> KernelError:
    return KernelError(f"cannot write the unpacked kernel into {folder}: {e.strerror} (set XDG_CACHE_HOME to a "
                       f"writable folder)")


def vmlinux(kernel: str, cache: str | None = None) -> str:
    """The path of KERNEL's vmlinux with its PVH entry: KERNEL itself when it is such an ELF,
    else its bzImage payload unpacked into CACHE/vmlinux (once per bzImage content)."""
    try:
        with open(kernel, "rb") as f:
            data = f.read(MAX_VMLINUX + 1)
    except OSError as e:
        raise KernelError(f"cannot read the kernel {kernel}: {e.strerror}") from None
    if data[:4] == b"\x7fELF":
        pvh_entry(data, kernel)
        return kernel
    folder = os.path.join(cache or cache_dir(), "vmlinux")
    target = os.path.join(folder, hashlib.sha256(data).hexdigest() + ".elf")
    if _has_pvh_note(target):
        return target
    packed = payload(data, kernel)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise _unwritable(folder, e) from None
    elf = decompress(packed, kernel)
    pvh_entry(elf, f"the vmlinux in {kernel}")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".unpacking-")
    except OSError as e:
        raise _unwritable(folder, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(elf)
        os.replace(tmp, target)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, OSError):
            raise KernelError(f"cannot write the unpacked kernel {target}: {e.strerror}") from None
        raise
    log.info("unpacked the vmlinux of %s into %s", kernel, target)
    return target


@dataclass(frozen=True)
class BootKernel:
    """What QEMU's -kernel gets, and why."""

    path: str
    entry: str  # "pvh" or "bzimage"
    reason: str


def boot_kernel(kernel: str, entry: str, accel: str, cache: str | None = None) -> BootKernel:
    """The kernel file to boot for boot.kernel_entry ENTRY ('auto': PVH under TCG, where the
    bzImage's own decompressor is slowest; 'pvh'; 'bzimage'). Under 'auto', a kernel whose
    vmlinux cannot be had boots as it is, the reason logged; under 'pvh' that is an error."""
    if entry not in KERNEL_ENTRIES:
        raise KernelError(f"unknown kernel entry {entry!r} ({', '.join(KERNEL_ENTRIES)})")
    if entry == "bzimage":
        return BootKernel(kernel, "bzimage", "boot.kernel_entry = \"bzimage\"")
    if entry == "auto" and accel != "tcg":
        return BootKernel(kernel, "bzimage", f"under {accel} the kernel unpacks itself quickly")
    try:
        path = vmlinux(kernel, cache)
    except KernelError as e:
        if entry == "pvh":
            raise
        log.warning("booting %s as it is, not through its PVH entry: %s", kernel, e)
        return BootKernel(kernel, "bzimage", f"no PVH entry: {e}")
    return BootKernel(path, "pvh", "under TCG the vmlinux's PVH entry skips the bzImage's decompressor")
