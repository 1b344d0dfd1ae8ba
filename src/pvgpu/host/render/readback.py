"""Reading textures and buffers back from the GPU into host memory.

A mapped read is also this renderer's completion point: wgpu resolves a map only once the
GPU has finished the submission that last used the buffer (wgpu 0.32's
`on_submitted_work_done_sync` raises a cffi TypeError, so it cannot be used).
"""

from __future__ import annotations

import collections
import time
from typing import Callable

import numpy as np
import wgpu


#: The largest staging buffer kept for reuse; bigger reads go in slices of rows.
MAX_STAGING_BYTES = 32 << 20
#: staging buffers per frame size for presented frames (DESIGN.md: a ring of mapped buffers)
FRAME_RING = 3


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class Readback:
    def __init__(self, device: wgpu.GPUDevice):
        self.device = device
        self._buffers: dict[int, wgpu.GPUBuffer] = {}
        self.idle = True  # nothing submitted since the last completion point
        self.completions = 0  # completion points passed (the GPU had finished all submitted work)
        self.on_wait = lambda waiting: None  # brackets every wait for the GPU (for a watchdog)
        #: frame read-backs (`frame`): per frame size, a ring of staging buffers; those mapped
        #: and not yet given back, and those given back but not yet unmapped
        self._frame_rings: dict[int, list] = {}
        self._held: set = set()
        self._returned: collections.deque = collections.deque()
        #: waits up to the given seconds for presenters to give frame buffers back (a worker
        #: reads its supervisor's acknowledgements here)
        self.pump: Callable[[float], None] = time.sleep
        self._fence_buffer = device.create_buffer(
            size=16, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label="pvgpu-fence")

    def _buffer(self, size: int) -> wgpu.GPUBuffer:
        size = max(4096, 1 << (size - 1).bit_length())
        buf = self._buffers.get(size)
        if buf is None:
            buf = self.device.create_buffer(size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST,
                                            label="pvgpu-readback")
            if size <= 2 * MAX_STAGING_BYTES:  # a copy of up to MAX_STAGING_BYTES, rounded up to a power of two
                if len(self._buffers) > 8:
                    self._buffers.clear()
                self._buffers[size] = buf
        return buf

    def _wait(self, buffer, size: int) -> None:
        self.on_wait(True)
        try:
            buffer.map_sync(wgpu.MapMode.READ, 0, size)
        finally:
            self.on_wait(False)
        self.completions += 1

    def texture(self, command_buffers: list, texture, mip: int, width: int, height: int,
                bytes_per_texel: int, aspect: str = "all", layer: int = 0, depth: int = 1) -> np.ndarray:
        """Submit `command_buffers` plus a copy of one mip (of array slice `layer`, or `depth`
        slices of a 3D texture); returns (depth*height, width*bpp) uint8. A copy whose padded
        rows would need more than MAX_STAGING_BYTES goes in slices of rows (depth aspects,
        which WebGPU copies whole only, go in one)."""
        row = width * bytes_per_texel
        padded = _align(row, 256)
        if padded * height * depth <= MAX_STAGING_BYTES or aspect != "all":
            return self._rows(command_buffers, texture, mip, (0, 0, layer), (width, height, depth), row, padded,
                              aspect)
        out = np.empty((depth * height, row), dtype=np.uint8)
        step = max(1, MAX_STAGING_BYTES // padded)  # rows per copy
        if height <= step:  # whole depth slices per copy
            slices = step // height
            for z in range(0, depth, slices):
                n = min(slices, depth - z)
                out[z * height:(z + n) * height] = self._rows(command_buffers, texture, mip, (0, 0, z),
                                                              (width, height, n), row, padded, aspect)
                command_buffers = []
            return out
        for z in range(depth):
            for y in range(0, height, step):
                n = min(step, height - y)
                origin = (0, y, z if depth > 1 else layer)
                out[z * height + y:z * height + y + n] = self._rows(command_buffers, texture, mip, origin,
                                                                    (width, n, 1), row, padded, aspect)
                command_buffers = []
        return out

    @property
    def staging_buffers(self) -> int:
        """Staging buffers kept for reuse (frame rings included)."""
        return len(self._buffers) + sum(len(r) for r in self._frame_rings.values())

    def _frame_buffer(self, size: int) -> wgpu.GPUBuffer:
        """A free staging buffer of the frame ring for frames of `size` bytes: FRAME_RING
        buffers, so a presenter may still be copying one frame out of its mapping (from its
        own thread) while the next frames are read into the others."""
        self._unmap_returned()
        ring = self._frame_rings.get(size)
        if ring is None:
            if sum(len(r) for r in self._frame_rings.values()) >= 3 * FRAME_RING:
                self._frame_rings = {k: r for k, r in self._frame_rings.items() if any(b in self._held for b in r)}
            ring = self._frame_rings[size] = []
        while True:
            for buf in ring:
                if buf not in self._held:
                    return buf
            if len(ring) < FRAME_RING:
                buf = self.device.create_buffer(size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST,
                                                label="pvgpu-frame")
                ring.append(buf)
                return buf
            self.on_wait(True)  # every buffer is still being copied out: wait for one back
            try:
                self.pump(0.005)
            finally:
                self.on_wait(False)
            self._unmap_returned()

    def _unmap_returned(self) -> None:
        """Unmap the frame buffers presenters gave back (on this, the device's, thread)."""
        while self._returned:
            buf = self._returned.popleft()
            buf.unmap()
            self._held.discard(buf)

    def frame(self, command_buffers: list, texture, width: int, height: int, bytes_per_texel: int):
        """Like `texture` for a whole 2D frame, without copying it out where its rows need no
        padding: (pixels, release), `pixels` a view of a mapped staging buffer of the frame
        ring, valid until `release()` is called (None where the pixels are a copy).
        `release` may be called from any thread; the buffer is unmapped on the next call here."""
        row = width * bytes_per_texel
        if row % 256 or row * height > MAX_STAGING_BYTES:
            return self.texture(command_buffers, texture, 0, width, height, bytes_per_texel), None
        buf = self._frame_buffer(row * height)
        enc = self.device.create_command_encoder()
        enc.copy_texture_to_buffer({"texture": texture, "mip_level": 0, "origin": (0, 0, 0)},
                                   {"buffer": buf, "offset": 0, "bytes_per_row": row, "rows_per_image": height},
                                   (width, height, 1))
        self.device.queue.submit([*command_buffers, enc.finish()])
        self._wait(buf, row * height)
        self.idle = True
        self._held.add(buf)
        try:
            data = np.frombuffer(buf.read_mapped(0, row * height, copy=False), dtype=np.uint8)
        except BaseException:
            self._returned.append(buf)
            raise
        return data.reshape(height, row), lambda: self._returned.append(buf)

    def _rows(self, command_buffers: list, texture, mip: int, origin: tuple, extent: tuple, row: int, padded: int,
              aspect: str) -> np.ndarray:
        width, height, depth = extent
        rows = height * depth
        buf = self._buffer(padded * rows)
        enc = self.device.create_command_encoder()
        enc.copy_texture_to_buffer(
            {"texture": texture, "mip_level": mip, "origin": origin, "aspect": aspect},
            {"buffer": buf, "offset": 0, "bytes_per_row": padded, "rows_per_image": height}, extent)
        self.device.queue.submit([*command_buffers, enc.finish()])
        self._wait(buf, padded * rows)
        self.idle = True
        try:
            data = np.frombuffer(buf.read_mapped(0, padded * rows, copy=False), dtype=np.uint8)
            out = data.reshape(rows, padded)[:, :row].copy()
        finally:
            buf.unmap()
        return out

    def buffer(self, command_buffers: list, source, offset: int, size: int) -> np.ndarray:
        padded = _align(size, 4)
        buf = self._buffer(padded)
        enc = self.device.create_command_encoder()
        enc.copy_buffer_to_buffer(source, offset, buf, 0, padded)
        self.device.queue.submit([*command_buffers, enc.finish()])
        self._wait(buf, padded)
        self.idle = True
        try:
            out = np.frombuffer(buf.read_mapped(0, padded, copy=False), dtype=np.uint8)[:size].copy()
        finally:
            buf.unmap()
        return out

    def wait_idle(self, command_buffers: list) -> None:
        """Submit `command_buffers` and return once the GPU has finished all submitted work."""
        self._unmap_returned()
        if not command_buffers and self.idle:
            return
        enc = self.device.create_command_encoder()
        enc.clear_buffer(self._fence_buffer)
        self.device.queue.submit([*command_buffers, enc.finish()])
        self._wait(self._fence_buffer, 16)
        self._fence_buffer.unmap()
        self.idle = True
