"""Hostile bytes inside runs the host has learned, captured and replays (host/replay.py).

The guest re-issues the grid scene of tests/test_replay.py frame after frame; in most frames a
few random bytes of a few of its records (their fields, not their headers, so the framing
holds) are changed before the frame is published. The mutated records must be checked as
ever: refused with an error the guest can read, never an internal host error, and never
replayed from a template they no longer match. Every third frame is left alone and must be
drawn exactly, from which the runs must come back to being replayed."""

from __future__ import annotations

import random

import pytest

from pvgpu.errors import HostReportedError
from pvgpu.protocol import codec

from test_replay import Scene, _cell_pixels, _expected


def _unpublished(conn) -> list[tuple[int, int]]:
    """(ring offset, size) of each record written but not yet published."""
    w = conn.writer
    pos = w.published
    pos = pos() if callable(pos) else pos
    out = []
    while pos < w.pos:
        off = pos % w.size
        opcode, _flags, size, _seq = codec.HEADER.unpack_from(w.ring, off)
        if opcode != 0:
            out.append((off, size))
        pos += size
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_fields_inside_replayed_runs(host, seed):
    rng = random.Random(seed)
    s = Scene(host)
    details: list[str] = []
    for f in range(4):  # learned, captured, replayed
        s.run(f)
        assert _cell_pixels(s.present()) == _expected(f)
    for f in range(4, 40):
        s.run(f)
        clean = f % 3 == 0
        if not clean:
            ring = s.ctx.conn.writer.ring
            for off, size in rng.sample(_unpublished(s.ctx.conn), 3):
                for _ in range(rng.randint(1, 3)):
                    at = off + rng.randrange(codec.HEADER_SIZE, size)
                    ring[at] = rng.randrange(256)
        try:
            frame = s.present()
        except HostReportedError as e:
            details.append(str(e))
            (frames,) = host.frames.values()
            frame = frames[-1]
        if clean:
            assert _cell_pixels(frame) == _expected(f), f"frame {f} (seed {seed})"
    stats = s.finish()
    assert details  # the mutations were seen and refused
    assert not any("internal host error" in d for d in details), details
    assert stats.status == 1  # READY: no mutation lost the device
    assert stats.runs_replayed >= 8  # the clean frames (and untouched runs) replayed
