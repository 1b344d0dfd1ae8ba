"""Fixtures of the conformance suite.

`pair` (a `pair.Pair`): a pvgpu guest device on a running host, plus the direct wgpu device.
Connecting a guest starts a renderer worker process (most of a scene's cost), so the scenes
of one module share a host and a guest session; each scene sets all the state it draws with.
After a scene whose session saw host errors or lost its device, the next scene connects
afresh. Scenes that need a session of their own can use tests/conftest.py's `host`, `device`
and `wgpu_device` fixtures directly, with the helpers of guest.py and direct.py.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

from pvgpu import guest as g
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.protocol.enums import DeviceStatus

from .pair import Pair


class SharedSession:
    def __init__(self, host):
        self.host = host
        self.device: g.Device | None = None

    def connect(self) -> g.Device:
        if self.device is None:
            self.device = g.connect(self.host.socket_path, timeout=30)
        return self.device

    def check_in(self) -> None:
        """After a scene: keep the session only if it is healthy and has nothing pending."""
        dev, ok = self.device, False
        try:
            dev.connection.finish()
            ok = dev.connection.device_status == DeviceStatus.READY and not dev.get_immediate_context()._mapped
        except Exception:
            pass
        if not ok:
            self.close()

    def close(self) -> None:
        if self.device is not None:
            try:
                self.device.close()
            except Exception:
                pass
            self.device = None


@pytest.fixture(scope="module")
def shared_session(tmp_path_factory):
    frames = defaultdict(list)
    path = os.path.join(tmp_path_factory.mktemp("host"), "host.sock")
    host = HostService(path, region_size=32 << 20,
                       presenters=[FrameCallback(lambda sid, f: frames[sid].append(f.pixels.copy()))])
    host.frames = frames
    host.start()
    session = SharedSession(host)
    yield session
    session.close()
    host.stop()


@pytest.fixture
def pair(shared_session, wgpu_device) -> Pair:
    device = shared_session.connect()
    shared_session.host.frames.clear()  # presented() then finds this scene's frames only
    yield Pair(shared_session.host, device, wgpu_device)
    shared_session.check_in()
