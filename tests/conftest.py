"""Shared fixtures: a real host service (wgpu on lavapipe here), guests, a direct wgpu device."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from pvgpu import guest as g  # noqa: E402
from pvgpu.host import gpu  # noqa: E402
from pvgpu.host.present.headless import FrameCallback  # noqa: E402
from pvgpu.host.service import HostService  # noqa: E402


@pytest.fixture
def host(tmp_path):
    """A running host service; `host.frames[session_id]` collects presented RGBA frames."""
    frames = defaultdict(list)
    service = HostService(str(tmp_path / "host.sock"), region_size=32 << 20,
                          presenters=[FrameCallback(lambda sid, f: frames[sid].append(f.pixels.copy()))])
    service.frames = frames
    service.start()
    yield service
    service.stop()


@pytest.fixture
def device(host):
    d = g.connect(host.socket_path, timeout=30)
    yield d
    d.close()


@pytest.fixture(scope="session")
def wgpu_device():
    return gpu.open_device()[0]
