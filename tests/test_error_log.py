"""The error log in the control page: a guest never reads an entry the host is rewriting."""

from __future__ import annotations

from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import ErrorCode
from pvgpu.transport.control import log_error, read_errors
from pvgpu.transport.region import Region


class _HostWritesDuringRead(Region):
    """A region whose host logs `extra` more entries between the reader's first look at
    error_count and its second, as a host running at the same time can."""

    def __init__(self, fd: int, size: int, extra: int):
        super().__init__(fd, size)
        self.extra, self.reads = extra, 0

    def get(self, name: str) -> int:
        value = super().get(name)
        if name == "error_count":
            self.reads += 1
            if self.reads == 1:  # after this read the reader copies the entries
                for k in range(self.extra):
                    log_error(self, value + k, ErrorCode.DEAD_ID, 23, 1000 + k, f"newer {k}")
        return value


def _log(region: Region, count: int) -> None:
    for i in range(count):
        log_error(region, i, ErrorCode.INVALID_CALL, 5, i, f"entry {i}")


def test_entries_are_read_in_order_with_their_details():
    region = Region.create(L.CONTROL_PAGE_SIZE)
    _log(region, 5)
    entries = read_errors(region, since=2)
    assert [(e.index, e.sequence, e.detail, e.code) for e in entries] == [
        (i, i, f"entry {i}", ErrorCode.INVALID_CALL) for i in range(2, 5)]


def test_the_entry_whose_slot_the_host_writes_next_is_left_out():
    """With error_count at n the host may at any moment be writing entry n into the slot of
    entry n - ERROR_LOG_ENTRIES, so a reader returns the newest ERROR_LOG_ENTRIES - 1."""
    region = Region.create(L.CONTROL_PAGE_SIZE)
    _log(region, 30)
    assert [e.index for e in read_errors(region)] == list(range(30 - L.ERROR_LOG_ENTRIES + 1, 30))


def test_entries_the_host_rewrote_during_the_read_are_left_out():
    probe = Region.create(L.CONTROL_PAGE_SIZE)
    region = _HostWritesDuringRead(probe.fd, L.CONTROL_PAGE_SIZE, extra=3)
    _log(region, 24)
    entries = read_errors(region)
    # entries 0..2 share their slots with the newer 24..26 and entry 3 with the next one (27)
    assert [e.index for e in entries] == list(range(4, 24))
    assert all(e.detail == f"entry {e.index}" and e.sequence == e.index for e in entries)
