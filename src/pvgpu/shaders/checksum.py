"""The DXBC container checksum: MD5's compression function over bytes 20.. of the blob, with
a padding of its own (the bit count goes first in the last block and `(bits >> 2) | 1` in
its last dword, where MD5 puts a 64-bit length at the end). Direct3D refuses a blob whose
checksum is wrong.

hashlib cannot run MD5 with another padding (it never exposes its state between blocks), so
the blocks run through OpenSSL's own MD5 block function where the interpreter's `_hashlib`
carries it (the library hashlib already loaded; checked against the pure-Python core on first
use) and otherwise through an unrolled pure-Python core (about 25 us per 64-byte block).
"""

from __future__ import annotations

import math
import struct

from .errors import ShaderInvalid

__all__ = ["checksum", "with_checksum", "HEADER_SKIP"]

#: The checksum covers everything after magic (4 bytes) and the checksum itself (16 bytes).
HEADER_SKIP = 20

_IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_SHIFTS = ((7, 12, 17, 22), (5, 9, 14, 20), (4, 11, 16, 23), (6, 10, 15, 21))
#: Round functions of b, c, d (the forms with the fewest operations).
_ROUND_FUNCTIONS = ("(d ^ (b & (c ^ d)))", "(c ^ (d & (b ^ c)))", "(b ^ c ^ d)", "(c ^ (b | (~d & 0xFFFFFFFF)))")


def _message_index(step: int) -> int:
    round_ = step // 16
    return (step, 5 * step + 1, 3 * step + 5, 7 * step)[round_] % 16


def _generate_compress():
    """An unrolled MD5 compression function over a sequence of 64-byte blocks: one source
    line per step, the constants inlined, the registers rotating by name."""
    names = "abcd"
    lines = ["def compress(state, data, start, stop):",
             "    a, b, c, d = state",
             "    for pos in range(start, stop, 64):",
             "        aa, bb, cc, dd = a, b, c, d",
             "        x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15 = unpack_from(data, pos)"]
    for step in range(64):
        round_ = step // 16
        k = int(abs(math.sin(step + 1)) * 2 ** 32) & 0xFFFFFFFF
        shift = _SHIFTS[round_][step % 4]
        rot = (-step) % 4
        a, b, c, d = (names[(i + rot) % 4] for i in range(4))
        function = _ROUND_FUNCTIONS[round_].replace("b", "B").replace("c", "C").replace("d", "D")
        function = function.replace("B", b).replace("C", c).replace("D", d)
        lines.append(f"        t = ({a} + {function} + x{_message_index(step)} + {k:#x}) & 0xFFFFFFFF")
        lines.append(f"        {a} = ({b} + (((t << {shift}) | (t >> {32 - shift})) & 0xFFFFFFFF)) & 0xFFFFFFFF")
    lines.append("        a = (a + aa) & 0xFFFFFFFF; b = (b + bb) & 0xFFFFFFFF; "
                 "c = (c + cc) & 0xFFFFFFFF; d = (d + dd) & 0xFFFFFFFF")
    lines.append("    return a, b, c, d")
    namespace = {"unpack_from": struct.Struct("<16I").unpack_from}
    exec(compile("\n".join(lines), "<md5-compress>", "exec"), namespace)
    return namespace["compress"]


_compress_python = _generate_compress()


def _openssl_compress():
    """OpenSSL's MD5 block function through the library `_hashlib` links, or None.

    Only full blocks go in, so OpenSSL's own length counter and padding are never used; the
    state is read back from MD5_CTX's first four words."""
    try:
        import ctypes
        import _hashlib

        library = ctypes.CDLL(_hashlib.__file__)
        init, update = library.MD5_Init, library.MD5_Update
    except (ImportError, OSError, AttributeError):
        return None
    init.argtypes = [ctypes.c_void_p]
    update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]

    class Context(ctypes.Structure):
        _fields_ = [("state", ctypes.c_uint32 * 4), ("rest", ctypes.c_uint32 * 19), ("spare", ctypes.c_uint8 * 64)]

    def compress(state, data, start, stop):
        if stop <= start:
            return state
        context = Context()
        init(ctypes.byref(context))
        context.state[:] = state
        update(ctypes.byref(context), bytes(data[start:stop]), stop - start)
        return tuple(context.state)

    probe = bytes(range(256)) * 2
    try:
        if compress(_IV, probe, 0, len(probe)) != _compress_python(_IV, probe, 0, len(probe)):
            return None
    except (OSError, ValueError, TypeError):
        return None
    return compress


_compress = None


def _compressor():
    global _compress
    if _compress is None:
        _compress = _openssl_compress() or _compress_python
    return _compress




def digest(data: bytes | memoryview, compress=None) -> bytes:
    """The DXBC checksum of `data` (the blob from byte 20 on), as the 16 bytes the header holds."""
    compress = compress or _compressor()
    size = len(data)
    bits = (size * 8) & 0xFFFFFFFF
    full = size & ~63
    state = compress(_IV, data, 0, full)
    tail = bytes(data[full:])
    count = struct.pack("<I", bits)
    trailer = struct.pack("<I", ((bits >> 2) | 1) & 0xFFFFFFFF)
    if len(tail) >= 56:
        last = (tail + b"\x80").ljust(64, b"\0") + count + bytes(56) + trailer
    else:
        last = (count + tail + b"\x80").ljust(60, b"\0") + trailer
    state = compress(state, last, 0, len(last))
    return struct.pack("<4I", *state)


def checksum(blob: bytes | memoryview) -> bytes:
    """The checksum a DXBC blob's header must hold (bytes 4..20); `blob` is the whole container."""
    if len(blob) < HEADER_SKIP:
        raise ShaderInvalid(f"DXBC blob of {len(blob)} bytes: shorter than its 20-byte checksum header")
    return digest(memoryview(blob)[HEADER_SKIP:])


def with_checksum(blob: bytes | memoryview) -> bytes:
    """`blob` with its checksum field rewritten to match its content."""
    data = bytes(blob)
    return data[:4] + checksum(data) + data[HEADER_SKIP:]
