"""Guest-side heap allocator: a ring of allocations reclaimed by fence.

Each allocation is tagged with the fence value that follows the commands using it; once the
host reports that fence complete, the space is free again. Allocations are contiguous: one
that would cross the heap's end starts again at offset 0, and the skipped tail is reclaimed
with it.

A fence frees only the space allocated before the last record written before it: an
allocation whose record is not written yet (several uploads for one command, and the heap
fills up at the second) stays allocated through the fence the allocator itself submits to
make room, or the bytes would be handed out twice.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from ..errors import TransportError

HEAP_ALIGN = 256


class HeapAllocator:
    def __init__(self, size: int, wait_for_fence: Callable[[int], None], next_fence: Callable[[], int],
                 records_written: Optional[Callable[[], int]] = None):
        """`wait_for_fence(v)` blocks until fence v is complete; `next_fence()` submits a fence
        and returns its value;
        `records_written()` is the ring writer's position (without it every allocation counts
        as named by a record at once)."""
        self.size = size
        self.head = 0  # monotonic: next free byte
        self.tail = 0  # monotonic: oldest byte still in use
        self._live: deque[tuple[int, int]] = deque()  # (end position, fence value)
        self._named_end = 0  # the head when a record was last written after an allocation
        self._records_at_alloc = -1  # records_written() at the last allocation
        self.records_written = records_written
        self.wait_for_fence = wait_for_fence
        self.next_fence = next_fence

    def allocate(self, nbytes: int) -> int:
        """Reserve `nbytes`; returns the heap offset. Waits on fences when the heap is full."""
        if nbytes <= 0:
            raise ValueError("allocation size must be positive")
        n = (nbytes + HEAP_ALIGN - 1) // HEAP_ALIGN * HEAP_ALIGN
        size = self.size
        if n > size:
            raise TransportError(
                f"a {nbytes}-byte upload does not fit the {size}-byte heap; "
                f"create the device with a larger shared region")
        head = self.head
        if self.records_written is not None:
            written = self.records_written()
            if written != self._records_at_alloc:  # a record came after the allocations before
                self._named_end = head
                self._records_at_alloc = written
        off = head % size
        if off + n <= size and head + n - self.tail <= size:  # the common case: room right here
            self.head = head + n
            return off
        while True:
            off = self.head % self.size
            if self.head == self.tail and off + n > self.size:
                # Empty heap: the tail before the end is free too, so start the next lap.
                self.head = self.tail = self.head + (self.size - off)
                continue
            start = self.head if off + n <= self.size else self.head + (self.size - off)
            if start + n - self.tail <= self.size:
                self.head = start + n
                return start % self.size
            self._reclaim_oldest()

    def named_end(self) -> int:
        """Where the space a fence written now may free ends: every allocation before the last
        record written (all of them, once a record follows the last allocation)."""
        if self.records_written is None or self.records_written() != self._records_at_alloc:
            return self.head
        return self._named_end

    def tag(self, fence_value: int, end: Optional[int] = None) -> None:
        """The space up to `end` (default: named_end()) not yet tagged is free once
        `fence_value` completes."""
        end = self.named_end() if end is None else end
        if end > (self._live[-1][0] if self._live else self.tail):
            self._live.append((end, fence_value))

    def release_completed(self, completed_fence: int) -> None:
        while self._live and self._live[0][1] <= completed_fence:
            self.tail = self._live.popleft()[0]

    def _reclaim_oldest(self) -> None:
        if not self._live:
            end = self.named_end()
            if end <= self.tail:
                raise TransportError(
                    f"the {self.size}-byte heap is full of uploads no command names yet "
                    f"({self.head - self.tail} bytes); create the device with a larger shared region")
            self.tag(self.next_fence(), end)
        fence = self._live[0][1]
        self.wait_for_fence(fence)
        self.release_completed(fence)

    @property
    def in_use(self) -> int:
        return self.head - self.tail
