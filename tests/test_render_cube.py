"""The demo cube through the whole path (guest process -> ring -> host -> wgpu) against the
same frames drawn by direct wgpu calls."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pvgpu.demo.direct import DirectCube

W, H, FRAMES = 160, 120, 6


@pytest.mark.parametrize("shaders", ["wgsl", "dxbc"])
def test_cube_frames_match_direct_wgpu(host, wgpu_device, shaders):
    """With DXBC shaders the host translates the bytecode; the frames must still be the ones
    direct wgpu draws with the scene's WGSL."""
    out = subprocess.run([sys.executable, "-m", "pvgpu.cli", "demo", "--guest-only", "--socket", host.socket_path,
                          "--frames", str(FRAMES), "--size", f"{W}x{H}", "--shaders", shaders],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (session_id, frames), = host.frames.items()
    assert len(frames) == FRAMES
    reference = DirectCube(wgpu_device, W, H)
    for i, frame in enumerate(frames):
        expected = reference.render(i)
        assert frame.shape == (H, W, 4)
        diff = np.abs(frame.astype(np.int16) - expected.astype(np.int16))
        assert diff.max() <= 1, f"frame {i}: {np.count_nonzero(diff)} channel values differ, max {diff.max()}"
    # The scene is not trivially empty: the cube covers a good part of every frame.
    background = (np.array([0.08, 0.09, 0.16, 1.0]) * 255 + 0.5).astype(np.uint8)
    for frame in frames:
        covered = np.any(frame != background, axis=2).mean()
        assert 0.1 < covered < 0.9
    # Frames differ (the cube rotates and the constant buffer update reached the GPU each frame).
    assert not np.array_equal(frames[0], frames[-1])
