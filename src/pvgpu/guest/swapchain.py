"""`SwapChain`: DXGI's IDXGISwapChain in snake case."""

from __future__ import annotations

from collections import deque

from ..errors import PvgpuError
from ..protocol.enums import ObjectKind
from .descs import FrameStatistics, ModeDesc, Rational, SwapChainDesc
from .device import BackBuffer, DeviceChild
from .output import Output

MAX_FRAME_LATENCY = 3
MAX_SYNC_INTERVAL = 4


class SwapChain(DeviceChild):
    kind = ObjectKind.SWAP_CHAIN

    def __init__(self, device, object_id: int, desc: SwapChainDesc, back_buffer: BackBuffer):
        super().__init__(device, object_id)
        self.desc = desc
        self._back_buffer = back_buffer
        self._frame_fences: deque[int] = deque()
        self.frames_presented = 0
        self._output = Output(device.connection)
        self._target: ModeDesc | None = None  # the mode resize_target chose (None: not yet)
        self._fullscreen = False

    def get_buffer(self, index: int = 0) -> BackBuffer:
        """The back buffer (pvgpu's swap chains expose one, as D3D11's discard model does)."""
        if index != 0:
            raise IndexError("only buffer 0 of a swap chain can be accessed (DXGI's discard model)")
        return self._back_buffer

    def present(self, sync_interval: int = 0, flags: int = 0) -> None:
        """Queue the back buffer for presentation. At most MAX_FRAME_LATENCY frames are in
        flight (DXGI's default): beyond that, present waits for the oldest one.

        The host paces the frame to its display's refresh rate (the chosen mode's when
        fullscreen, 60 Hz when windowed): `sync_interval` 0 shows it at once, N at the Nth
        vblank after the previous frame's (DXGI's sync interval), so with frames in flight
        bounded, N > 0 makes this call return at the refresh rate / N."""
        if not 0 <= sync_interval <= MAX_SYNC_INTERVAL:
            raise PvgpuError(f"sync interval {sync_interval} must be 0..{MAX_SYNC_INTERVAL} (DXGI_ERROR_INVALID_CALL)")
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

    # --- display modes (DXGI's ResizeTarget / SetFullscreenState) --------------------------------
    def get_containing_output(self) -> Output:
        """IDXGISwapChain::GetContainingOutput: the host's virtual display."""
        return self._output

    def _target_index(self) -> int:
        if self._target is not None:
            return self._output.closest_mode_index(self._target)
        # not chosen yet: DXGI takes the mode closest to the back buffer (here at the desktop's 60 Hz)
        return self._output.closest_mode_index(ModeDesc(self.desc.width, self.desc.height, Rational(60, 1)))

    def resize_target(self, mode: ModeDesc) -> ModeDesc:
        """IDXGISwapChain::ResizeTarget: the output takes the offered mode closest to `mode`
        (0 fields keep the current target's). Windowed, only its size matters (presents stay
        paced at the desktop's 60 Hz); fullscreen, the refresh rate paces them too. The back
        buffer keeps its size: call resize_buffers after, as DXGI wants. Returns the mode taken."""
        index = self._output.closest_mode_index(mode, like=self._output.mode_at(self._target_index()))
        self._target = self._output.mode_at(index)
        self._emit_mode(index)
        return self._target

    def set_fullscreen_state(self, fullscreen: bool, target: Output | None = None) -> None:
        """IDXGISwapChain::SetFullscreenState: fullscreen on the target mode (the one
        resize_target chose, else the mode closest to the back buffer's size at 60 Hz)."""
        self._fullscreen = bool(fullscreen)
        self._emit_mode(self._target_index())

    def get_fullscreen_state(self) -> tuple[bool, Output | None]:
        """IDXGISwapChain::GetFullscreenState: (fullscreen, the output when fullscreen)."""
        return self._fullscreen, (self._output if self._fullscreen else None)

    def _emit_mode(self, index: int) -> None:
        self.device.connection.emit_set_display_mode(self.id, index, int(self._fullscreen))

    def get_frame_statistics(self) -> FrameStatistics:
        """IDXGISwapChain::GetFrameStatistics: presents so far, the vblank the last one was
        shown at, and the vblank (count and host CLOCK_MONOTONIC ns) they were sampled at (see
        Output.get_frame_statistics: at least as new as the last completed fence). Counts are
        the session's, all its swap chains together."""
        return self._output.get_frame_statistics()

    def wait_idle(self) -> None:
        """Wait until every presented frame has been handled by the host."""
        conn = self.device.connection
        conn.finish()
        self._frame_fences.clear()

    def release(self) -> None:
        """The host frees the back buffer with the swap chain (its id is free again); views of
        it the program still holds keep working, as in D3D11."""
        if not self.released:
            super().release()
            self._back_buffer._freed_with_owner()
