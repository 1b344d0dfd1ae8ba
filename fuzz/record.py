"""Recording real guests: the exact bytes of each published batch and the heap bytes its
records point at, captured on the guest side at publish time (`GuestConnection.kick` is
wrapped for the recording's duration; nothing of this is in the product's path).

`python -m fuzz.record` regenerates the seed corpus (fuzz/corpus/): the cube demo (WGSL and
DXBC shaders) and the conformance scenes (tests/conformance, run through pytest with this
module as a plugin), one stream per guest connection, each cut to a few tens of KB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

from pvgpu.guest.connection import GuestConnection
from pvgpu.protocol import codec
from pvgpu.protocol.types import Meaning

from .stream import Stream

CORPUS = os.path.join(os.path.dirname(__file__), "corpus")
MAX_BATCH_BYTES = 16 << 10  # record bytes kept per stream
MAX_HEAP_BYTES = 16 << 10  # heap bytes kept per stream; beyond it a range keeps its first bytes
HEAP_HEAD = 64
REGION_SIZE = 32 << 20  # the region the recorded guests (and the fuzz session) use

_HEAP_FIELDS = {op: tuple((f.name, f.pair) for f in l.fields if f.meaning is Meaning.HEAP_OFFSET)
                for op, l in codec.LAYOUTS.items()}


class _Capture:
    def __init__(self) -> None:
        self.stream = Stream()
        self.batch_bytes = 0
        self.heap_bytes = 0
        self.full = False


class Recorder:
    """Collects one Stream per guest connection while active."""

    def __init__(self) -> None:
        self.captures: dict[int, _Capture] = {}
        self.order: list[int] = []
        self.names: dict[int, str] = {}
        self.label = "stream"

    def capture(self, conn: GuestConnection) -> None:
        w = conn.writer
        start, end = w.published, w.cursor
        if end <= start:
            return
        cap = self.captures.get(id(conn))
        if cap is None:
            cap = self.captures[id(conn)] = _Capture()
            self.order.append(id(conn))
            self.names[id(conn)] = self.label
        if cap.full:
            return
        records = []
        pos = start
        ring, size = w.ring, w.size
        while pos < end:
            off = pos % size
            opcode, _flags, rsize, _seq = codec.HEADER.unpack_from(ring, off)
            if rsize < 16 or rsize % 16:
                break  # not a stream this guest library writes
            if opcode != codec.PAD_OPCODE:
                records.append(bytes(ring[off:off + rsize]))
            pos += rsize
        heap = conn.region.heap
        kept = []
        for rec in records:
            if cap.batch_bytes + len(rec) > MAX_BATCH_BYTES:
                cap.full = True
                break
            cap.batch_bytes += len(rec)
            kept.append(rec)
            for offset, length in _heap_ranges(rec):
                if offset + length > len(heap):
                    continue
                n = length if cap.heap_bytes + length <= MAX_HEAP_BYTES else min(length, HEAP_HEAD)
                cap.heap_bytes += n
                cap.stream.heap(offset, heap[offset:offset + n])
        if kept:
            cap.stream.batch(b"".join(kept))

    def streams(self) -> Iterator[tuple[str, Stream]]:
        for key in self.order:
            yield self.names[key], self.captures[key].stream


def _heap_ranges(record: bytes) -> list[tuple[int, int]]:
    fields = _HEAP_FIELDS.get(codec.read_header(record)[0])
    if not fields:
        return []
    try:
        _seq, cmd, _size = codec.decode(record)
    except codec.DecodeError:
        return []
    return [(getattr(cmd, o), getattr(cmd, s)) for o, s in fields if getattr(cmd, s)]


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record every guest connection of this process while the block runs."""
    rec = Recorder()
    original = GuestConnection.kick

    def kick(self: GuestConnection) -> None:
        rec.capture(self)
        original(self)

    GuestConnection.kick = kick
    try:
        yield rec
    finally:
        GuestConnection.kick = original


def save(rec: Recorder, folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for label, stream in rec.streams():
        if not stream.batches:
            continue
        data = stream.to_bytes()
        name = f"{label}-{hashlib.sha1(data).hexdigest()[:10]}.pvfz"
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


# --- as a pytest plugin (-p fuzz.record): records the scenes a pytest run plays ------------------
_PLUGIN: dict = {}


def pytest_configure(config) -> None:
    ctx = recording()
    _PLUGIN["ctx"], _PLUGIN["rec"] = ctx, ctx.__enter__()


def pytest_runtest_setup(item) -> None:
    rec = _PLUGIN.get("rec")
    if rec is not None:
        rec.label = item.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


def pytest_unconfigure(config) -> None:
    ctx = _PLUGIN.pop("ctx", None)
    if ctx is not None:
        ctx.__exit__(None, None, None)
        save(_PLUGIN.pop("rec"), os.environ.get("PVGPU_FUZZ_RECORD_DIR", CORPUS))


# --- the seed corpus ------------------------------------------------------------------------------
def record_demo(folder: str, frames: int = 3) -> list[str]:
    """The cube demo's guest (WGSL and DXBC shaders), against a host service in this process."""
    from pvgpu import guest as g
    from pvgpu.demo.guest_cube import GuestCube
    from pvgpu.host.service import HostService

    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        with HostService(os.path.join(tmp, "host.sock"), region_size=REGION_SIZE, isolation="thread") as host:
            for shaders in ("wgsl", "dxbc"):
                with recording() as rec:
                    rec.label = f"demo_{shaders}"
                    device = g.connect(host.socket_path, timeout=60)
                    try:
                        cube = GuestCube(device, 64, 64, shaders)
                        for i in range(frames):
                            cube.draw_frame(i)
                        device.connection.finish()
                    finally:
                        device.close()
                paths += save(rec, folder)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=CORPUS, help="corpus folder (default: fuzz/corpus)")
    ap.add_argument("--no-conformance", action="store_true", help="record the demo only")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if name.endswith(".pvfz"):
            os.unlink(os.path.join(args.out, name))
    paths = record_demo(args.out)
    if not args.no_conformance:
        import pytest
        os.environ["PVGPU_FUZZ_RECORD_DIR"] = args.out
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        pytest.main(["-q", "-p", "no:cacheprovider", "-p", "fuzz.record", os.path.join(root, "tests", "conformance")])
    names = sorted(n for n in os.listdir(args.out) if n.endswith(".pvfz"))
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in names)
    print(f"{len(names)} streams, {total / 1024:.0f} KiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
