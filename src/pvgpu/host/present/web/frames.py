"""Frames as the viewer page receives them: one binary WebSocket message per frame, a fixed
little-endian header followed by the encoded image.

    offset  type  field
    0       4s    magic b"PVGF"
    4       u16   header length in bytes (44; the page skips what it does not know)
    6       u8    codec: 0 JPEG, 1 WebP
    7       u8    reserved (0)
    8       u32   session id
    12      u64   frame index (the session's presented frames, from 0)
    20      u32   width in pixels
    24      u32   height in pixels
    28      f64   the host's PRESENT of this frame, wall clock (ms since the Unix epoch)
    36      f64   what encoding the frame cost (ms)

The present time is sent as wall-clock time (the host's monotonic present stamp moved onto
time.time()), so a page on this machine compares it with its own clock directly, and a page
elsewhere corrects it by the offset it measures with ping messages.
"""

from __future__ import annotations

import io
import struct
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ....errors import PvgpuError

MAGIC = b"PVGF"
HEADER = struct.Struct("<4sHBBIQIIdd")
CODECS = {"jpeg": 0, "webp": 1}
MIME = {"jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class FrameHeader:
    session_id: int
    index: int
    width: int
    height: int
    presented_wall_ms: float
    encode_ms: float
    codec: str = "jpeg"

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, HEADER.size, CODECS[self.codec], 0, self.session_id, self.index, self.width,
                           self.height, self.presented_wall_ms, self.encode_ms)

    @classmethod
    def unpack(cls, data: bytes) -> tuple["FrameHeader", bytes]:
        """The header and the image bytes of one frame message."""
        if len(data) < HEADER.size:
            raise PvgpuError(f"a frame message of {len(data)} bytes is shorter than its header")
        magic, size, codec, _, sid, index, w, h, wall, enc = HEADER.unpack_from(data)
        if magic != MAGIC or size < HEADER.size:
            raise PvgpuError("not a pvgpu frame message")
        name = {v: k for k, v in CODECS.items()}.get(codec)
        if name is None:
            raise PvgpuError(f"unknown codec {codec} in a frame message")
        return cls(sid, index, w, h, wall, enc, name), bytes(data[size:])


def wall_ms(monotonic_s: float) -> float:
    """A time.monotonic() stamp of this machine as wall-clock milliseconds."""
    return (time.time() - (time.monotonic() - monotonic_s)) * 1e3


class Encoder:
    """Encodes RGBA8 frames (height, width, 4) as JPEG (libjpeg-turbo through Pillow) or WebP."""

    def __init__(self, codec: str = "jpeg", quality: int = 80):
        if codec not in CODECS:
            raise PvgpuError(f"web: unknown codec {codec!r} (one of {', '.join(CODECS)})")
        if not 1 <= quality <= 100:
            raise PvgpuError(f"web: quality {quality} is not 1..100")
        self.codec, self.quality = codec, quality
        self.mime = MIME[codec]

    def encode(self, pixels: np.ndarray) -> bytes:
        h, w = pixels.shape[:2]
        pixels = np.ascontiguousarray(pixels)
        # RGBX shares the frame's memory: JPEG drops the fourth byte itself, with no copy.
        image = Image.frombuffer("RGBX", (w, h), pixels, "raw", "RGBX", 0, 1)
        out = io.BytesIO()
        if self.codec == "jpeg":
            image.save(out, "JPEG", quality=self.quality)
        else:
            image.convert("RGB").save(out, "WEBP", quality=self.quality, method=0)
        return out.getvalue()
