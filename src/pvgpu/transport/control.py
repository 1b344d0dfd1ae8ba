"""Writing and reading the control page: the host formats it, the guest says hello."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import layout as L
from ..protocol.enums import DeviceStatus, ErrorCode
from .region import Region


def format_control_page(region: Region, plan: L.RegionLayout, offered_features: int, major: int, minor: int,
                        display_modes=L.DEFAULT_DISPLAY_MODES, session_id: int = 0,
                        format_support: dict | None = None) -> None:
    """Host side: lay out a fresh region and describe it in the control page."""
    region.set("magic", 0)  # first: a guest never sees the magic over a half-formatted page
    region.mm[:L.CONTROL_PAGE_SIZE] = bytes(L.CONTROL_PAGE_SIZE)
    region.set("host_version_major", major)
    region.set("host_version_minor", minor)
    region.set("offered_features", offered_features)
    region.set("region_size", plan.region_size)
    region.set("ring_offset", plan.ring_offset)
    region.set("ring_size", plan.ring_size)
    region.set("heap_offset", plan.heap_offset)
    region.set("heap_size", plan.heap_size)
    region.set("session_id", session_id)
    region.set("device_status", DeviceStatus.INITIALIZING)
    modes = list(display_modes)[:L.MAX_DISPLAY_MODES]
    for i, mode in enumerate(modes):
        L.DISPLAY_MODE.pack_into(region.mm, L.DISPLAY_MODES_OFFSET + i * L.DISPLAY_MODE.size, *mode)
    region.set("display_mode_count", len(modes))
    region.set("display_refresh", L.DESKTOP_REFRESH)  # windowed until the guest chooses (SET_DISPLAY_MODE)
    table = [0] * L.FORMAT_TABLE_ENTRIES
    for fmt, bits in (format_support or {}).items():
        table[int(fmt)] = int(bits)
    L.FORMAT_TABLE.pack_into(region.mm, L.FORMAT_TABLE_OFFSET, *table)
    region.attach_parts(plan.ring_offset, plan.ring_size, plan.heap_offset, plan.heap_size)
    region.set("magic", L.MAGIC)  # last: a guest that sees the magic sees a complete page


def attach_described_parts(region: Region) -> None:
    """Guest side: map the ring and heap the control page describes."""
    region.attach_parts(region.get("ring_offset"), region.get("ring_size"),
                        region.get("heap_offset"), region.get("heap_size"))


@dataclass(frozen=True)
class ErrorEntry:
    index: int
    code: ErrorCode | int
    opcode: int
    sequence: int
    detail: str

    def describe(self) -> str:
        from ..protocol.spec import BY_OPCODE
        cmd = BY_OPCODE.get(self.opcode)
        name = cmd.name if cmd else f"opcode {self.opcode}"
        code = self.code.name if isinstance(self.code, ErrorCode) else str(self.code)
        return f"#{self.sequence} {name}: {code}: {self.detail}"


def log_error(region: Region, index: int, code: int, opcode: int, sequence: int, detail: str) -> int:
    """Host side: write entry number `index` (the host's own count, never read back from the
    guest-writable page) and publish the count; returns the new error count."""
    n = index
    slot = n % L.ERROR_LOG_ENTRIES
    raw = detail.encode("utf-8", "replace")[:L.ERROR_DETAIL_BYTES]
    L.ERROR_ENTRY.pack_into(region.mm, L.ERROR_LOG_OFFSET + slot * L.ERROR_ENTRY_SIZE, int(code), opcode, sequence, raw)
    region.set("error_count", n + 1)
    return n + 1


def read_errors(region: Region, since: int = 0) -> list[ErrorEntry]:
    """Entries with index >= since that are still in the log (it keeps the last ERROR_LOG_ENTRIES).

    The host may overwrite a slot while it is read: error_count is read again after the copy,
    and entry i is kept only if the host had not yet reached entry i + ERROR_LOG_ENTRIES (which
    reuses its slot), so no entry is returned torn."""
    n = region.get("error_count")
    first = max(since, n - L.ERROR_LOG_ENTRIES)
    raw_entries = [(i, L.ERROR_ENTRY.unpack_from(
        region.mm, L.ERROR_LOG_OFFSET + (i % L.ERROR_LOG_ENTRIES) * L.ERROR_ENTRY_SIZE)) for i in range(first, n)]
    now = region.get("error_count")
    out = []
    for i, (code, opcode, seq, raw) in raw_entries:
        if i + L.ERROR_LOG_ENTRIES <= now:  # slot i % ERROR_LOG_ENTRIES may hold a newer, half-written entry
            continue
        try:
            code = ErrorCode(code)
        except ValueError:
            pass
        out.append(ErrorEntry(i, code, opcode, seq, raw.rstrip(b"\0").decode("utf-8", "replace")))
    return out
