"""Layout of the shared region and its control page (the first 4 KiB).

Positions and fence values sit on 64-byte lines of their own so that guest and host writes
do not share a cache line. Offsets are absolute within the control page.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .types import U16, U32, U64, WireType

MAGIC = int.from_bytes(b"PVGPU\x00\x01\x00", "little")
CONTROL_PAGE_SIZE = 4096
CACHE_LINE = 64
ERROR_LOG_ENTRIES = 24
ERROR_DETAIL_BYTES = 112
MAX_DISPLAY_MODES = 16
FORMAT_TABLE_ENTRIES = 133  # DXGI_FORMAT values 0..132
DEFAULT_REGION_SIZE = 256 * 1024 * 1024
DEFAULT_RING_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class ControlField:
    name: str
    offset: int
    wire: WireType
    doc: str


CONTROL_FIELDS: tuple[ControlField, ...] = (
    ControlField("magic", 0, U64, "'PVGPU\\0\\1\\0' little-endian"),
    ControlField("host_version_major", 8, U32, "protocol major version the host speaks"),
    ControlField("host_version_minor", 12, U32, "protocol minor version the host speaks"),
    ControlField("offered_features", 16, U64, "Feature bits the host offers"),
    ControlField("requested_features", 24, U64, "Feature bits the guest asks for"),
    ControlField("accepted_features", 32, U64, "requested & offered, written by the host"),
    ControlField("region_size", 40, U64, "size of the whole shared region"),
    ControlField("ring_offset", 48, U64, "offset of the command ring in the region"),
    ControlField("ring_size", 56, U64, "size of the command ring (a power of two)"),
    ControlField("heap_offset", 64, U64, "offset of the heap in the region"),
    ControlField("heap_size", 72, U64, "size of the heap"),
    ControlField("guest_version_major", 80, U32, "protocol major version of the guest"),
    ControlField("guest_version_minor", 84, U32, "protocol minor version of the guest"),
    ControlField("guest_state", 88, U32, "GuestState: the guest sets HELLO after writing its version"),
    ControlField("device_status", 92, U32, "DeviceStatus, written by the host"),
    ControlField("guest_pid", 96, U32, "guest process id (informational)"),
    ControlField("session_id", 100, U32, "host's id of this guest's session"),
    ControlField("ring_producer", 128, U64, "bytes the guest has published (monotonic)"),
    ControlField("ring_consumer", 192, U64, "bytes the host has consumed (monotonic)"),
    ControlField("fence_completed", 256, U64, "highest fence value whose work the GPU finished"),
    ControlField("fence_submitted", 320, U64, "highest fence value the guest has put in the ring"),
    ControlField("presented_frames", 384, U64,
                 "frames the host has presented (DXGI_FRAME_STATISTICS.PresentCount, all of the session's "
                 "swap chains); with the three frame statistics below it is written under "
                 "frame_stats_sequence"),
    ControlField("present_refresh_count", 392, U64,
                 "PresentRefreshCount: the vblank (refresh) count at which the last present was shown"),
    ControlField("sync_refresh_count", 400, U64,
                 "SyncRefreshCount: the vblank count at which these statistics were sampled (the last "
                 "present's vblank); never below present_refresh_count"),
    ControlField("sync_time_ns", 408, U64,
                 "SyncQPCTime: CLOCK_MONOTONIC time in ns of vblank number sync_refresh_count"),
    ControlField("frame_stats_sequence", 416, U64,
                 "odd while the host writes the frame statistics, even after (a reader retries when it "
                 "saw an odd value or the value changed while it read)"),
    ControlField("error_count", 448, U64, "errors ever logged; entry i is at index i % ERROR_LOG_ENTRIES"),
    ControlField("error_log", 512, U32, "ERROR_LOG_ENTRIES ErrorEntry records (128 bytes each)"),
    ControlField("display_mode_count", 3584, U32, "display modes offered"),
    ControlField("display_mode_chosen", 3588, U32,
                 "index of the display mode the guest chose with SET_DISPLAY_MODE (0 until it chooses), "
                 "written by the host"),
    ControlField("display_modes", 3592, U32,
                 "MAX_DISPLAY_MODES DisplayMode records (12 bytes each), ordered as DXGI lists them: by "
                 "width, height, then refresh rate"),
    ControlField("display_fullscreen", 3784, U32, "1 while the guest's output is fullscreen, written by the host"),
    ControlField("display_refresh", 3788, U32,
                 "refresh rate in millihertz that presents are paced to: the chosen mode's when "
                 "fullscreen, DESKTOP_REFRESH (60 Hz) when windowed; written by the host"),
    ControlField("format_support", 3800, U16, "FORMAT_TABLE_ENTRIES FormatSupport bit sets, one per DXGI_FORMAT value"),
)
CONTROL = {f.name: f for f in CONTROL_FIELDS}

#: ErrorEntry: code u32, opcode u32, sequence u64, detail char[112] (NUL padded UTF-8)
ERROR_ENTRY = struct.Struct(f"<IIQ{ERROR_DETAIL_BYTES}s")
ERROR_ENTRY_SIZE = ERROR_ENTRY.size
assert ERROR_ENTRY_SIZE == 128
ERROR_LOG_OFFSET = CONTROL["error_log"].offset

#: DisplayMode: width u32, height u32, refresh rate in millihertz u32
DISPLAY_MODE = struct.Struct("<III")
DISPLAY_MODES_OFFSET = CONTROL["display_modes"].offset
#: the host's offer: every size with every refresh rate, in DXGI's order (width, height, refresh)
DEFAULT_DISPLAY_MODES = tuple(
    (w, h, hz * 1000)
    for w, h in ((1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))
    for hz in (60, 75, 120, 144))
#: refresh rate (millihertz) of the host's desktop, which windowed presents are paced to (as a
#: desktop compositor paces them), whatever mode the guest chose
DESKTOP_REFRESH = 60000
#: refresh rates a host may offer (millihertz): pacing divides by them, so none may be tiny
MIN_REFRESH, MAX_REFRESH = 1000, 1000000

assert ERROR_LOG_OFFSET + ERROR_LOG_ENTRIES * ERROR_ENTRY_SIZE <= CONTROL["display_mode_count"].offset
assert len(DEFAULT_DISPLAY_MODES) <= MAX_DISPLAY_MODES
assert DISPLAY_MODES_OFFSET + MAX_DISPLAY_MODES * DISPLAY_MODE.size <= CONTROL["display_fullscreen"].offset
assert CONTROL["display_refresh"].offset + 4 <= CONTROL["format_support"].offset
FORMAT_TABLE_OFFSET = CONTROL["format_support"].offset
FORMAT_TABLE = struct.Struct(f"<{FORMAT_TABLE_ENTRIES}H")
assert FORMAT_TABLE_OFFSET + FORMAT_TABLE.size <= CONTROL_PAGE_SIZE


@dataclass(frozen=True)
class RegionLayout:
    """Where the parts of a region of `region_size` bytes lie."""

    region_size: int
    ring_offset: int
    ring_size: int
    heap_offset: int
    heap_size: int

    @classmethod
    def plan(cls, region_size: int = DEFAULT_REGION_SIZE, ring_size: int = DEFAULT_RING_SIZE) -> "RegionLayout":
        if ring_size & (ring_size - 1) or ring_size < 4096:
            raise ValueError(f"ring size {ring_size} must be a power of two of at least 4096")
        heap_offset = CONTROL_PAGE_SIZE + ring_size
        if region_size < heap_offset + 64 * 1024:
            raise ValueError(
                f"region of {region_size} bytes is too small for a {ring_size}-byte ring and a heap "
                f"(needs at least {heap_offset + 64 * 1024})")
        return cls(region_size, CONTROL_PAGE_SIZE, ring_size, heap_offset, region_size - heap_offset)
