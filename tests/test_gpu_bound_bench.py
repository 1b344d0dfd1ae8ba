"""benchmarks/gpu_bound.py at a tiny size: the frame drawn through pvgpu is the frame drawn
directly, and both sides report a frame rate (no timed assertions)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import gpu_bound  # noqa: E402


def test_gpu_bound_measure_matches_direct():
    # 60 px rows (240 bytes) are not a multiple of 256: the direct side's padded read-back too
    m = gpu_bound.measure(frames=3, size=(60, 40), iterations=8)
    assert m["image_diff_max"] == 0
    assert m["image_std"] > 0  # not two blank frames
    assert m["pvgpu"]["fps"] > 0 and m["direct"]["fps"] > 0
    assert m["ratio"] > 0
    assert m["pvgpu"]["host_errors"] == 0 and m["pvgpu"]["guest_errors"] == []
    assert m["pvgpu"]["frames_presented"] == 3 + gpu_bound.WARMUP
    names = [r[0] for r in gpu_bound.rows(m)]
    assert any("max diff" in n for n in names)

