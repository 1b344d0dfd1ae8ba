"""The uniform ring: where whole updates of constant buffers are written (UNIFORM_RING_BYTES
says why), how its slices reach the GPU, and how a buffer's contents move back into its own
backing (`_settle`).

`UniformRing` is part of `Renderer` (a mixin, as `ComputeCommands` is); it uses the
renderer's encoder, submit and bind-group dirty flags.
"""

from __future__ import annotations

import wgpu

from .objects import Buffer

#: The uniform ring: whole updates of constant buffers (Map(WRITE_DISCARD), UpdateSubresource
#: without a box) are written here, each to a fresh aligned slice, and bound with a dynamic
#: offset, so bind groups survive the update (DXVK's renaming of D3D11 dynamic buffers).
UNIFORM_RING_BYTES = 8 << 20


class UniformRing:
    def _init_ring(self) -> None:
        """The ring and the CPU stage its slices are gathered in (part of _make_helpers)."""
        d = self.device
        self._ring_align = max(16, int(d.limits.get("min-uniform-buffer-offset-alignment", 256)))
        self._ring = d.create_buffer(size=UNIFORM_RING_BYTES, label="pvgpu-uniform-ring",
                                     usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
                                     | wgpu.BufferUsage.COPY_SRC)
        self._ring_cursor = 0
        self._ring_holders: set[Buffer] = set()  # buffers whose contents live in the ring
        self._ring_stage = bytearray(UNIFORM_RING_BYTES)  # the slices written since the last _finish
        self._ring_view = memoryview(self._ring_stage)
        self._ring_lo = -1  # first byte of those slices (-1: none)

    # --- the uniform ring ----------------------------------------------------------------------
    # Slices reach the GPU by queue.write_buffer, which the queue runs before the next submitted
    # command buffer and after every one submitted before it. So slices are never reused within
    # the recording (generation) that may bind them: when the ring is full, the buffers that
    # still live in it are copied into their own backings (recorded), that work is submitted, and
    # allocation starts again at 0; the writes that follow land after the submitted work. The
    # slices of one recording are contiguous: they are copied into a CPU stage as they come and
    # written with one write_buffer when the recording is closed (_finish), before its submit.
    def _ring_write(self, buf: Buffer, data) -> None:
        size = buf.alloc_size
        step = -(-size // self._ring_align) * self._ring_align
        if self._ring_cursor + step > UNIFORM_RING_BYTES:
            self._ring_wrap()
        off = self._ring_cursor
        self._ring_cursor = off + step
        self.ring_bytes += step
        self._ring_view[off:off + len(data)] = data  # a CB's byte_width: a multiple of 16
        if self._ring_lo < 0:
            self._ring_lo = off
        self.readback.idle = False
        if buf.ring is not self._ring:
            self._groups_dirty = [True, True, True]  # bound from its backing or a slab until now
        buf.ring, buf.ring_slab, buf.ring_offset = self._ring, None, off
        self._ring_holders.add(buf)

    def _ring_wrap(self) -> None:
        for buf in list(self._ring_holders):
            self._settle(buf)
        self.submit()
        self._ring_cursor = 0

    def _settle(self, buf: Buffer) -> None:
        """Move a constant buffer's contents from the ring back into its backing (a recorded
        copy, so work recorded before it still reads what it read), for the uses that read or
        write the backing itself: copies, partial updates, no-overwrite maps."""
        off = buf.ring_offset
        if off < 0:
            return
        self._end_pass()
        self.encoder.copy_buffer_to_buffer(buf.ring, off, buf.backing, 0, buf.alloc_size)
        if buf.ring_slab is not None:
            buf.ring_slab.bound_generation = self.generation
        buf.ring_offset = -1
        buf.ring = buf.ring_slab = None
        self._ring_holders.discard(buf)
        self._dirty_all()
        self._wrote(buf)

    def _flush_ring(self) -> None:
        lo = self._ring_lo
        if lo >= 0:
            self._ring_lo = -1
            self.queue.write_buffer(self._ring, lo, self._ring_view[lo:self._ring_cursor])
