"""Ring throughput: DRAW records encoded by one process and decoded by another through the
shared ring, next to the same encode and decode loops in one process over a plain buffer."""

from __future__ import annotations

import multiprocessing as mp
import time

from pvgpu.protocol import codec
from pvgpu.protocol import layout as L
from pvgpu.transport.control import format_control_page
from pvgpu.transport.doorbell import EventFd
from pvgpu.transport.region import Region
from pvgpu.transport.ring import RingReader, RingWriter

BATCH = 256
DRAW = codec.BY_NAME["DRAW"]


def _writer(fd: int, size: int, doorbell_fd: int, interrupt_fd: int, count: int) -> None:
    region = Region(fd, size)
    region.attach_parts(region.get("ring_offset"), region.get("ring_size"), region.get("heap_offset"),
                        region.get("heap_size"))
    doorbell, interrupt = EventFd(doorbell_fd), EventFd(interrupt_fd)
    cons_slot = region.u64_slot("ring_consumer")

    def wait_for_consumer(target: int) -> None:
        writer.publish()
        doorbell.signal()
        deadline = time.monotonic() + 30
        while int(region.u64[cons_slot]) < target:
            if time.monotonic() > deadline:
                raise TimeoutError("reader stopped consuming")
            interrupt.wait(0.01)

    writer = RingWriter(region.ring, region.u64, region.u64_slot("ring_producer"), cons_slot, wait_for_consumer)
    size_rec = DRAW.record_size()
    for i in range(count):
        off = writer.reserve(size_rec)
        DRAW.pack_into(writer.ring, off, i + 1, (3, i))
        writer.commit(size_rec)
        if i % BATCH == BATCH - 1:
            writer.publish()
            doorbell.signal()
    writer.publish()
    doorbell.signal()


def two_processes(count: int, ring_size: int = 1 << 20) -> float:
    """Commands per second, writer and reader in different processes."""
    plan = L.RegionLayout.plan(ring_size + (1 << 20), ring_size)
    region = Region.create(plan.region_size)
    format_control_page(region, plan, 0, 1, 0)
    doorbell, interrupt = EventFd(), EventFd()
    reader = RingReader(region.ring, region.u64, region.u64_slot("ring_producer"), region.u64_slot("ring_consumer"))
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_writer, args=(region.fd, region.size, doorbell.fd, interrupt.fd, count))
    decoded = 0
    start = time.perf_counter()
    proc.start()
    deadline = time.monotonic() + 120
    while decoded < count:
        chunk = reader.read_chunk()
        if not chunk:
            if time.monotonic() > deadline:
                raise TimeoutError("writer stopped producing")
            doorbell.wait(0.01)
            continue
        off, n = 0, len(chunk)
        while off < n:
            _seq, cmd, size = codec.decode(chunk, off, n - off)
            off += size
            if cmd is not None:
                decoded += 1
        reader.consume(n)
        reader.publish()
        interrupt.signal()
    elapsed = time.perf_counter() - start
    proc.join(10)
    region.close()
    return count / elapsed


def one_process(count: int) -> float:
    """Commands per second: the same encode and decode loops, one process, no shared memory."""
    size_rec = DRAW.record_size()
    buf = bytearray(BATCH * size_rec)
    decoded = 0
    start = time.perf_counter()
    seq = 0
    while decoded < count:
        n = min(BATCH, count - decoded)
        for i in range(n):
            seq += 1
            DRAW.pack_into(buf, i * size_rec, seq, (3, seq))
        chunk = bytes(buf[:n * size_rec])
        off = 0
        while off < len(chunk):
            _seq, cmd, size = codec.decode(chunk, off, len(chunk) - off)
            off += size
            decoded += 1
    return count / (time.perf_counter() - start)
