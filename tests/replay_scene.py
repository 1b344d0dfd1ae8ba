"""What tests/test_replay.py and tests/test_replay_review.py draw: a 4x4 grid of cells over
a 32x32 target, each cell one draw of two triangles coloured by a constant buffer; and how
they present a frame and end a session."""

from __future__ import annotations

import numpy as np

W = H = 32
CELLS = 16
VS = """
@vertex
fn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> { return vec4<f32>(p, 0.0, 1.0); }
"""
CB_PS = """
struct K { color: vec4<f32> };
@group(1) @binding(0) var<uniform> k: K;
@fragment
fn ps() -> @location(0) vec4<f32> { return k.color; }
"""


def grid(shift: float = 0.0) -> np.ndarray:
    """Two triangles per cell of a 4x4 grid over clip space, moved right by `shift`."""
    quads = []
    for i in range(CELLS):
        x0, y0 = -1 + (i % 4) * 0.5 + shift, 1 - (i // 4) * 0.5
        x1, y1 = x0 + 0.5, y0 - 0.5
        quads += [[x0, y0], [x1, y0], [x1, y1], [x0, y0], [x1, y1], [x0, y1]]
    return np.array(quads, np.float32)


def present_frame(host, chain) -> np.ndarray:
    """Present, wait for the host, and return the frame the host presented."""
    chain.present()
    chain.wait_idle()
    (frames,) = host.frames.values()
    return frames[-1]


def finish_session(host, device):
    """Close the guest; the session's final figures."""
    device.close()
    (record,) = host.sessions.values()
    assert record.ended.wait(30)
    return record.stats
