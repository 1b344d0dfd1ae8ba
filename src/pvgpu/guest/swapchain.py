"""`SwapChain`: DXGI's IDXGISwapChain in snake case."""

from __future__ import annotations

from collections import deque

from ..protocol.enums import ObjectKind
from .descs import SwapChainDesc
from .device import DeviceChild, Texture2D

MAX_FRAME_LATENCY = 3


class SwapChain(DeviceChild):
    kind = ObjectKind.SWAP_CHAIN

    def __init__(self, device, object_id: int, desc: SwapChainDesc, back_buffer: Texture2D):
        super().__init__(device, object_id)
        self.desc = desc
        self._back_buffer = back_buffer
        self._frame_fences: deque[int] = deque()
        self.frames_presented = 0

    def get_buffer(self, index: int = 0) -> Texture2D:
        """The back buffer (pvgpu's swap chains expose one, as D3D11's discard model does)."""
        if index != 0:
            raise IndexError("only buffer 0 of a swap chain can be accessed (DXGI's discard model)")
        return self._back_buffer

    def present(self, sync_interval: int = 0, flags: int = 0) -> None:
        """Queue the back buffer for presentation. At most MAX_FRAME_LATENCY frames are in
        flight (DXGI's default): beyond that, present waits for the oldest one."""
        conn = self.device.connection
        conn.emit_present(self.id, sync_interval, flags)
        self._frame_fences.append(conn.fence())
        self.frames_presented += 1
        while len(self._frame_fences) > MAX_FRAME_LATENCY - 1:
            conn.wait_fence(self._frame_fences.popleft())
        conn.raise_host_errors()

    def resize_buffers(self, buffer_count: int, width: int, height: int, format: int = 0, flags: int = 0) -> None:
        """Resize the back buffer; release its views first (as DXGI requires)."""
        conn = self.device.connection
        conn.emit("RESIZE_BUFFERS", swap_chain=self.id, buffer_count=buffer_count, width=width, height=height,
                  format=format)
        self.desc.width, self.desc.height = width or self.desc.width, height or self.desc.height
        if format:
            self.desc.format = format
        self._back_buffer.desc.width, self._back_buffer.desc.height = self.desc.width, self.desc.height
        self._back_buffer.desc.format = self.desc.format

    def wait_idle(self) -> None:
        """Wait until every presented frame has been handled by the host."""
        conn = self.device.connection
        conn.finish()
        self._frame_fences.clear()

    def release(self) -> None:
        if not self.released:
            super().release()
            self._back_buffer.release()
