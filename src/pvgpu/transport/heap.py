"""Guest-side heap allocator: a ring of allocations reclaimed by fence.

Each allocation is tagged with the fence value that follows the commands using it; once the
host reports that fence complete, the space is free again. Allocations are contiguous: one
that would cross the heap's end starts again at offset 0, and the skipped tail is reclaimed
with it.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from ..errors import TransportError

HEAP_ALIGN = 256


class HeapAllocator:
    def __init__(self, size: int, wait_for_fence: Callable[[int], None], next_fence: Callable[[], int]):
        """`wait_for_fence(v)` blocks until fence v is complete; `next_fence()` submits a fence
        covering everything allocated so far and returns its value."""
        self.size = size
        self.head = 0  # monotonic: next free byte
        self.tail = 0  # monotonic: oldest byte still in use
        self._live: deque[tuple[int, int]] = deque()  # (end position, fence value)
        self._untagged_end = 0
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
        off = head % size
        if off + n <= size and head + n - self.tail <= size:  # the common case: room right here
            self.head = self._untagged_end = head + n
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
                self._untagged_end = self.head
                return start % self.size
            self._reclaim_oldest()

    def tag(self, fence_value: int) -> None:
        """Everything allocated since the last tag is free once `fence_value` completes."""
        if self._untagged_end > (self._live[-1][0] if self._live else self.tail):
            self._live.append((self._untagged_end, fence_value))

    def release_completed(self, completed_fence: int) -> None:
        while self._live and self._live[0][1] <= completed_fence:
            self.tail = self._live.popleft()[0]

    def _reclaim_oldest(self) -> None:
        if not self._live:
            if self._untagged_end > self.tail:
                self.tag(self.next_fence())
            else:
                raise TransportError("heap allocator is inconsistent: nothing to reclaim")
        fence = self._live[0][1]
        self.wait_for_fence(fence)
        self.release_completed(fence)

    @property
    def in_use(self) -> int:
        return self.head - self.tail
