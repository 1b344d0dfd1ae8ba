"""The SPSC command ring and the guest heap allocator (pvgpu.transport.ring, .heap).

The stress test runs a real writer process against a reader in this process over a shared
memfd region, with eventfd doorbells, and checks every record that crosses the ring.
The unit tests pin down the ring's framing rules and the heap allocator's reclaim rules.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback

import numpy as np
import pytest

from pvgpu.errors import TransportError
from pvgpu.protocol import layout as L
from pvgpu.protocol.codec import HEADER, HEADER_SIZE, PAD_OPCODE
from pvgpu.transport.control import format_control_page
from pvgpu.transport.doorbell import EventFd
from pvgpu.transport.heap import HEAP_ALIGN, HeapAllocator
from pvgpu.transport.region import Region
from pvgpu.transport.ring import RingCorruptError, RingReader, RingWriter

# --- stress: a writer process and a reader over a real shared region ---------------------------

STRESS_RING = 8192
STRESS_RECORDS = 20_000
STRESS_SEED = 20240611
STRESS_DEADLINE_S = 60.0

_SIZE_RNG = random.Random(STRESS_SEED)
#: SIZES[seq] is the size of record `seq` (16..2000, 16-aligned); both processes derive it.
SIZES = [0] + [16 * _SIZE_RNG.randint(1, 125) for _ in range(STRESS_RECORDS)]
PATTERN = random.Random(STRESS_SEED + 1).randbytes(1 << 16)


def _opcode(seq: int) -> int:
    return 1000 + seq % 997


def _payload(seq: int, n: int) -> bytes:
    start = (seq * 7919) % (len(PATTERN) - 2048)
    return PATTERN[start:start + n]


def _writer_main(region: Region, doorbell_fd: int, interrupt_fd: int, result, deadline: float) -> None:
    """Runs in the forked writer process: pushes every record, then reports its final position."""
    try:
        u64 = region.u64
        prod, cons = region.u64_slot("ring_producer"), region.u64_slot("ring_consumer")
        doorbell, interrupt = EventFd(doorbell_fd), EventFd(interrupt_fd)
        waits = 0
        writer: RingWriter | None = None

        def wait_for_consumer(target: int) -> None:
            nonlocal waits
            waits += 1
            writer.publish()
            doorbell.signal()
            while int(u64[cons]) < target:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"writer: consumer stuck at {int(u64[cons])}, waiting for {target}")
                interrupt.wait(0.05)

        writer = RingWriter(region.ring, u64, prod, cons, wait_for_consumer)
        batch_rng = random.Random(STRESS_SEED + 2)
        seq = 0
        while seq < STRESS_RECORDS:
            for _ in range(min(batch_rng.randint(1, 12), STRESS_RECORDS - seq)):
                seq += 1
                size = SIZES[seq]
                off = writer.reserve(size)
                HEADER.pack_into(writer.ring, off, _opcode(seq), 0, size, seq)
                writer.ring[off + HEADER_SIZE:off + size] = _payload(seq, size - HEADER_SIZE)
                writer.commit(size)
            if writer.publish():
                doorbell.signal()
        result.send(("ok", writer.pos, waits))
    except BaseException:
        result.send(("error", traceback.format_exc()))
    finally:
        result.close()


def test_ring_stress_two_processes():
    plan = L.RegionLayout.plan(region_size=1 << 20, ring_size=STRESS_RING)
    region = Region.create(plan.region_size, "pvgpu-ring-stress")
    format_control_page(region, plan, 0, 1, 0)
    doorbell, interrupt = EventFd(), EventFd()
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    deadline = time.monotonic() + STRESS_DEADLINE_S
    proc = ctx.Process(target=_writer_main, args=(region, doorbell.fd, interrupt.fd, child_end, deadline),
                       daemon=True)
    proc.start()
    child_end.close()
    u64 = region.u64
    prod, cons = region.u64_slot("ring_producer"), region.u64_slot("ring_consumer")
    reader = RingReader(region.ring, u64, prod, cons)
    consume_rng = random.Random(STRESS_SEED + 3)
    expected = 1
    wraps = pads = pad_bytes = 0
    try:
        while expected <= STRESS_RECORDS:
            if time.monotonic() > deadline:
                pytest.fail(f"reader timed out after {STRESS_DEADLINE_S:.0f} s waiting for record {expected} "
                            f"(reader at {reader.pos}, producer at {int(u64[prod])}, writer alive: {proc.is_alive()})")
            chunk = reader.read_chunk()
            if not chunk:
                if not proc.is_alive() and not reader.pending():
                    msg = parent_end.recv() if parent_end.poll(1) else ("error", "no report")
                    pytest.fail(f"writer exited before sending record {expected}: {msg}")
                doorbell.wait(0.05)
                continue
            # Consume all of the chunk, or only its first few records, so the writer sees the
            # consumer move in many different steps.
            budget = consume_rng.choice((1, 2, 3, 1 << 30))
            chunk_base = reader.pos % STRESS_RING
            off = 0
            while off < len(chunk) and budget:
                assert len(chunk) - off >= HEADER_SIZE, f"torn header at ring offset {chunk_base + off}"
                opcode, flags, size, seq = HEADER.unpack_from(chunk, off)
                assert size >= HEADER_SIZE and size % 16 == 0, f"bad record size {size} (expected seq {expected})"
                assert off + size <= len(chunk), \
                    f"record seq {seq} of {size} bytes crosses the published end / ring end (torn)"
                if opcode == PAD_OPCODE:
                    assert chunk_base + off + size == STRESS_RING, \
                        f"PAD at ring offset {chunk_base + off} (size {size}) does not end at the ring end"
                    pads += 1
                    pad_bytes += size
                    off += size
                    continue
                assert seq == expected, f"expected record {expected}, got {seq} (lost, duplicated or reordered)"
                assert (opcode, flags, size) == (_opcode(seq), 0, SIZES[seq]), f"record {seq}: header is wrong"
                assert chunk[off + HEADER_SIZE:off + size] == _payload(seq, size - HEADER_SIZE), \
                    f"record {seq}: payload differs from what was written (torn)"
                expected += 1
                budget -= 1
                off += size
            before = reader.pos // STRESS_RING
            reader.consume(off)
            reader.publish()
            interrupt.signal()
            wraps += reader.pos // STRESS_RING - before

        if not parent_end.poll(max(0.0, deadline - time.monotonic())):
            pytest.fail("writer sent every record but never reported its final position")
        report = parent_end.recv()
        assert report[0] == "ok", f"writer failed:\n{report[1]}"
        _, final_pos, writer_waits = report
        proc.join(10)
        assert proc.exitcode == 0, f"writer exit code {proc.exitcode}"
        assert reader.pending() == 0, "bytes left in the ring after the last record"
        assert reader.pos == final_pos == int(u64[prod]) == int(u64[cons])
        assert final_pos == sum(SIZES) + pad_bytes, "ring positions do not add up to records + PAD"
        assert wraps >= 100, f"only {wraps} wraparounds"
        assert final_pos // STRESS_RING == wraps
        assert pads > 0, "no PAD record was ever needed"
        assert writer_waits > 0, "the writer never found the ring full"
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        parent_end.close()
        doorbell.close()
        interrupt.close()
        region.close()


# --- RingWriter / RingReader units -------------------------------------------------------------

PROD, CONS = 0, 8  # distinct slots, as in the control page


def _ring(size: int = 4096) -> tuple[memoryview, np.ndarray]:
    return memoryview(bytearray(size)), np.zeros(16, dtype=np.uint64)


def _no_wait(target: int) -> None:
    raise AssertionError(f"writer waited for the consumer (target {target}) with room in the ring")


def _put(writer: RingWriter, size: int, seq: int, opcode: int = 1000) -> int:
    off = writer.reserve(size)
    HEADER.pack_into(writer.ring, off, opcode, 0, size, seq)
    writer.commit(size)
    return off


def test_writer_pads_the_tail_when_a_record_would_cross_the_ring_end():
    ring, pos = _ring()
    writer = RingWriter(ring, pos, PROD, CONS, _no_wait)
    assert _put(writer, 2032, 1) == 0
    assert _put(writer, 2016, 2) == 2032  # now 48 bytes are left before the end
    writer.publish()
    pos[CONS] = 4048  # the host has consumed both
    off = _put(writer, 64, 3)
    assert off == 0, "the record must start at the ring's beginning, not wrap"
    assert HEADER.unpack_from(ring, 4048) == (PAD_OPCODE, 0, 48, 0)
    assert writer.pos == 4096 + 64
    assert writer.publish()
    assert int(pos[PROD]) == 4096 + 64

    reader = RingReader(ring, pos, PROD, CONS)
    first = reader.read_chunk()
    assert len(first) == 48 and HEADER.unpack_from(first)[0] == PAD_OPCODE
    reader.consume(len(first))
    second = reader.read_chunk()
    assert HEADER.unpack_from(second) == (1000, 0, 64, 3)


def test_writer_does_not_pad_an_exact_fit():
    ring, pos = _ring()
    writer = RingWriter(ring, pos, PROD, CONS, _no_wait)
    _put(writer, 2000, 1)
    _put(writer, 2000, 2)
    pos[CONS] = 4000
    assert _put(writer, 96, 3) == 4000
    assert writer.pos == 4096
    assert _put(writer, 16, 4) == 0


def test_writer_waits_for_room_including_the_pad():
    ring, pos = _ring()
    targets = []

    def wait_for_consumer(target: int) -> None:
        targets.append(target)
        pos[CONS] = target  # the host catches up exactly as far as asked

    writer = RingWriter(ring, pos, PROD, CONS, wait_for_consumer)
    _put(writer, 2048, 1)
    _put(writer, 2000, 2)  # 4048 used, consumer still at 0
    off = _put(writer, 64, 3)
    # 48 bytes of PAD plus 64 bytes of record must be free before anything is overwritten.
    assert targets == [4048 + 48 + 64 - 4096]
    assert off == 0
    # A full ring (published 4160, consumer 112 => 4048 in flight) waits again.
    _put(writer, 2048, 4)
    assert targets[-1] == 4160 + 2048 - 4096


def test_writer_rejects_records_larger_than_half_the_ring():
    ring, pos = _ring()
    writer = RingWriter(ring, pos, PROD, CONS, _no_wait)
    with pytest.raises(TransportError, match="half"):
        writer.reserve(2048 + 16)
    assert writer.pos == 0, "a refused record must not move the writer"
    assert writer.reserve(2048) == 0  # exactly half is allowed


def test_reader_rejects_a_producer_behind_the_consumer():
    ring, pos = _ring()
    pos[CONS] = 1024
    pos[PROD] = 512
    reader = RingReader(ring, pos, PROD, CONS)
    with pytest.raises(RingCorruptError, match="impossible"):
        reader.pending()
    with pytest.raises(RingCorruptError):
        reader.read_chunk()


def test_reader_rejects_a_producer_more_than_a_ring_ahead():
    ring, pos = _ring()
    pos[CONS] = 1024
    pos[PROD] = 1024 + 4096 + 16
    reader = RingReader(ring, pos, PROD, CONS)
    with pytest.raises(RingCorruptError):
        reader.read_chunk()
    pos[PROD] = 1024 + 4096  # exactly full is fine
    assert reader.pending() == 4096
    assert len(reader.read_chunk()) == 4096 - 1024  # up to the ring end


# --- HeapAllocator ------------------------------------------------------------------------------


class FakeFences:
    """Stands in for the guest connection: fence values and a host that completes them."""

    def __init__(self):
        self.submitted = 0
        self.completed = 0
        self.waited: list[int] = []
        self.on_submit = lambda value: None

    def next_fence(self) -> int:
        self.submitted += 1
        self.on_submit(self.submitted)
        return self.submitted

    def wait_for_fence(self, value: int) -> None:
        assert value <= self.submitted, f"waited on fence {value}, which was never submitted"
        self.waited.append(value)
        self.completed = max(self.completed, value)


def test_heap_allocations_are_aligned_disjoint_and_inside_the_heap():
    size = 64 * 1024
    fences = FakeFences()
    heap = HeapAllocator(size, fences.wait_for_fence, fences.next_fence)
    live: list[list] = []  # [offset, rounded size, fence or None]

    def tag_pending(value: int) -> None:
        for a in live:
            if a[2] is None:
                a[2] = value

    fences.on_submit = tag_pending
    rng = random.Random(7)
    for i in range(3000):
        n = rng.randint(1, size // 4)
        off = heap.allocate(n)
        rounded = -(-n // HEAP_ALIGN) * HEAP_ALIGN
        assert off % HEAP_ALIGN == 0, f"allocation {i} at {off} is not {HEAP_ALIGN}-aligned"
        assert off + rounded <= size, f"allocation {i} [{off}, {off + rounded}) straddles the heap end"
        # What the allocator has reclaimed (by waiting on fences) is free; the rest must not overlap.
        live = [a for a in live if a[2] is None or a[2] > fences.completed]
        for other_off, other_n, _ in live:
            assert off + rounded <= other_off or other_off + other_n <= off, \
                f"allocation {i} [{off}, {off + rounded}) overlaps live [{other_off}, {other_off + other_n})"
        live.append([off, rounded, None])
        if rng.random() < 0.3:
            value = fences.next_fence()
            heap.tag(value)
        if rng.random() < 0.1 and fences.submitted > fences.completed:  # the host catches up by itself
            fences.completed = rng.randint(fences.completed + 1, fences.submitted)
            heap.release_completed(fences.completed)
    assert fences.waited, "the heap never filled up, so reclaiming was not exercised"


def test_full_heap_waits_for_the_oldest_fence_and_reuses_its_space():
    fences = FakeFences()
    heap = HeapAllocator(4096, fences.wait_for_fence, fences.next_fence)
    for i in range(4):
        assert heap.allocate(1000) == i * 1024
        heap.tag(fences.next_fence())
    assert heap.in_use == 4096
    assert heap.allocate(1024) == 0
    assert fences.waited == [1], "only the oldest fence should be waited on"
    heap.tag(fences.next_fence())
    assert heap.allocate(1024) == 1024
    assert fences.waited == [1, 2]


def test_full_heap_submits_a_fence_for_untagged_allocations():
    fences = FakeFences()
    heap = HeapAllocator(4096, fences.wait_for_fence, fences.next_fence)
    for _ in range(4):
        heap.allocate(1024)
    assert fences.submitted == 0
    assert heap.allocate(512) == 0
    assert fences.submitted == 1 and fences.waited == [1]


def test_allocation_never_straddles_the_heap_end():
    fences = FakeFences()
    heap = HeapAllocator(4096, fences.wait_for_fence, fences.next_fence)
    assert heap.allocate(3072) == 0
    heap.tag(fences.next_fence())
    assert heap.allocate(512) == 3072
    heap.tag(fences.next_fence())
    heap.release_completed(1)
    # 512 bytes are left before the end; a 1024-byte allocation starts again at 0.
    assert heap.allocate(1024) == 0
    assert fences.waited == []
    assert heap.in_use == 512 + 512 + 1024  # the skipped tail counts until it is reclaimed


def test_allocation_larger_than_the_heap_is_refused_clearly():
    fences = FakeFences()
    heap = HeapAllocator(4096, fences.wait_for_fence, fences.next_fence)
    with pytest.raises(TransportError) as info:
        heap.allocate(4097)
    msg = str(info.value)
    assert "4097" in msg and "4096" in msg and "larger shared region" in msg
    assert fences.waited == [] and heap.in_use == 0
    assert heap.allocate(4096) == 0  # the whole heap is fine


def test_large_allocation_after_the_heap_drains():
    """An empty heap must satisfy any allocation up to its size, wherever the last one ended.

    Regression: the allocator used to count the bytes it would skip to restart at offset 0 as
    in use even with nothing live, find nothing to reclaim and raise "heap allocator is
    inconsistent" (a guest uploading more than half the heap after any earlier upload)."""
    fences = FakeFences()
    heap = HeapAllocator(4096, fences.wait_for_fence, fences.next_fence)
    assert heap.allocate(2048) == 0
    heap.tag(fences.next_fence())
    heap.release_completed(1)
    assert heap.in_use == 0
    assert heap.allocate(3072) == 0
    # The same when the heap only drains by waiting on its fences.
    heap.tag(fences.next_fence())
    assert heap.allocate(3072) == 0
    assert fences.waited == [2]


def test_uploads_whose_records_are_not_written_yet_survive_the_allocators_own_fence():
    """Two uploads for one command on a nearly full heap: the fence the allocator submits to
    make room for the second must not free the first (its record is not written yet); before,
    both got offset 0 and the first upload's bytes were lost."""
    fences = FakeFences()
    records = [0]  # the ring writer's position
    heap = HeapAllocator(4096, fences.wait_for_fence, fences.next_fence, records_written=lambda: records[0])
    a = heap.allocate(1536)
    records[0] += 64  # A's command written
    b = heap.allocate(1536)  # two uploads for one command: no record between them
    c = heap.allocate(1536)  # needs a fence: only A may be freed by it
    assert fences.submitted == 1
    assert (a, b, c) == (0, 1536, 0)  # C takes A's space, never B's
    with pytest.raises(TransportError, match="full of uploads no command names yet"):
        heap.allocate(3000)  # B and C are named by nothing: waiting cannot free them
    records[0] += 64  # B's and C's command written
    heap.tag(fences.next_fence())
    assert heap.allocate(3000) == 0  # now everything before is free once that fence completes

