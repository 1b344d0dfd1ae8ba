"""The SPSC command ring (DESIGN.md, "Ring rules").

Positions are monotonically increasing 64-bit byte counts, so full and empty are never
ambiguous. Records are 16-byte aligned and never wrap: a PAD record fills the tail. The
guest writes a batch, then publishes the producer position once; the host reads up to the
producer position, executes, then publishes the consumer position.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ProtocolError, TransportError
from ..protocol.codec import HEADER, HEADER_SIZE, PAD_OPCODE
from ..protocol.encoders import MAX_SHORT_RECORD


class RingWriter:
    """Guest side. `wait_for_consumer(target)` must publish, ring the doorbell and wait until
    the host's consumer position reaches `target` (or raise a timeout error).

    Writing a record: `off = reserve(n)`, write the record at `ring[off:off + n]`, `commit(n)`;
    `publish()` once per batch makes the committed records visible to the host (the producer
    position is stored after the records' bytes, never before).

    The hot path (the guest's generated emitters) may skip `reserve` when it is plainly
    not needed: a record of n bytes goes at offset `cursor % size` with no PAD and no wait
    whenever `cursor + n <= fast_end` and n is at most `max_record` (always so for n up to
    `MAX_SHORT_RECORD`, the largest record size an emitter knows in advance); it is then
    committed by `cursor += n`. `fast_end` is the end of the contiguous room known to be free:
    the smaller of the ring's end (of the lap `cursor` is in) and the last known consumer
    position plus the ring size; `reserve` recomputes it. It is -1 (nothing takes the
    shortcut) when `max_record` is below `MAX_SHORT_RECORD` (a ring of a few hundred bytes).
    """

    def __init__(self, ring: memoryview, positions: np.ndarray, producer_slot: int, consumer_slot: int,
                 wait_for_consumer: Callable[[int], None]):
        self.ring = ring
        self.size = len(ring)
        self._pos = positions
        self._prod = producer_slot
        self._cons = consumer_slot
        self.cursor = int(positions[producer_slot])
        self._known_consumer = int(positions[consumer_slot])
        self.wait_for_consumer = wait_for_consumer
        self.max_record = self.size // 2
        self._shortcut = self.max_record >= MAX_SHORT_RECORD
        self.fast_end = -1
        self._set_fast_end(self.cursor)

    def _set_fast_end(self, pos: int) -> None:
        if self._shortcut:
            self.fast_end = min(self._known_consumer + self.size, pos - pos % self.size + self.size)

    @property
    def pos(self) -> int:
        """The write position: bytes committed so far (monotonic)."""
        return self.cursor

    @pos.setter
    def pos(self, value: int) -> None:
        self.cursor = value
        self._set_fast_end(value)  # the room known for the old position no longer holds

    @property
    def published(self) -> int:
        return int(self._pos[self._prod])

    def reserve(self, nbytes: int) -> int:
        """Make room for a record of `nbytes`; returns its offset in the ring."""
        if nbytes > self.max_record:
            raise TransportError(f"a {nbytes}-byte record does not fit a {self.size}-byte ring "
                                 f"(records may use at most half of it)")
        pos = self.cursor
        off = pos % self.size
        to_end = self.size - off
        need = nbytes if nbytes <= to_end else to_end + nbytes
        if pos + need - self._known_consumer > self.size:
            self._known_consumer = int(self._pos[self._cons])
            if pos + need - self._known_consumer > self.size:
                self.wait_for_consumer(pos + need - self.size)
                self._known_consumer = int(self._pos[self._cons])
        if nbytes > to_end:
            HEADER.pack_into(self.ring, off, PAD_OPCODE, 0, to_end, 0)
            pos += to_end
            self.cursor = pos
            off = 0
        self._set_fast_end(pos)
        return off

    def commit(self, nbytes: int) -> None:
        self.cursor += nbytes

    def publish(self) -> bool:
        """Make committed records visible to the host; returns whether there was anything new."""
        pos = self.cursor
        if self._pos[self._prod] == pos:
            return False
        self._pos[self._prod] = pos
        return True

    def write(self, record: bytes) -> None:
        """Copy a ready-made record (tests, raw streams)."""
        off = self.reserve(len(record))
        self.ring[off:off + len(record)] = record
        self.commit(len(record))


class RingCorruptError(ProtocolError):
    """The guest's producer position is impossible (behind the consumer or beyond a full ring)."""


class RingReader:
    """Host side: reads published bytes, one contiguous chunk at a time, as a private copy
    (the guest cannot change a record after the host has checked it)."""

    def __init__(self, ring: memoryview, positions: np.ndarray, producer_slot: int, consumer_slot: int):
        self.ring = ring
        self.size = len(ring)
        self._pos = positions
        self._prod = producer_slot
        self._cons = consumer_slot
        self.pos = int(positions[consumer_slot])

    def pending(self) -> int:
        prod = int(self._pos[self._prod])
        delta = prod - self.pos
        if delta < 0 or delta > self.size:
            raise RingCorruptError(
                f"producer position {prod} is impossible with consumer at {self.pos} and a "
                f"{self.size}-byte ring")
        return delta

    def read_chunk(self) -> bytes:
        """The published bytes from the consumer position up to the producer or the ring end."""
        n = self.pending()
        if not n:
            return b""
        off = self.pos % self.size
        n = min(n, self.size - off)
        return bytes(self.ring[off:off + n])

    def consume(self, nbytes: int) -> None:
        self.pos += nbytes

    def publish(self) -> None:
        self._pos[self._cons] = self.pos


__all__ = ["RingWriter", "RingReader", "RingCorruptError", "HEADER_SIZE"]
