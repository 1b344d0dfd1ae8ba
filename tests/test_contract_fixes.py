"""Issue 11's host fixes to the guest-driver contract, through the real path (a host service in
this process, guests over the local transport):

- a framing error (a record size that is not a multiple of 16, 0, or beyond what was
  published) is an error-log entry and puts the device at once in the device-lost state with a
  reason the guest reads; a guest waiting on a fence published after it gets DeviceLostError
  naming that reason (not a timeout); a reset then brings a fresh session;
- feature bits are enforced: a command (or a field value) whose feature the session did not
  accept is refused with UNSUPPORTED naming the bit, and the session goes on;
- a swap chain owns its back buffer: destroying the chain frees the buffer's id.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections import defaultdict

import numpy as np
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from pvgpu import guest as g  # noqa: E402
from pvgpu.errors import DeviceLostError  # noqa: E402
from pvgpu.guest.connection import GuestConnection  # noqa: E402
from pvgpu.host.present.headless import FrameCallback  # noqa: E402
from pvgpu.host.service import HostService  # noqa: E402
from pvgpu.protocol import codec  # noqa: E402
from pvgpu.protocol.enums import DeviceStatus, DxgiFormat, ErrorCode  # noqa: E402
from pvgpu.transport.control import read_errors  # noqa: E402
from pvgpu.transport.local import LocalGuestChannel  # noqa: E402

WAIT = 30.0  # bounds every wait (a DeviceLostError must come long before)
OP = {name: layout.opcode for name, layout in codec.BY_NAME.items()}
RGBA8 = int(DxgiFormat.R8G8B8A8_UNORM)


class Frames:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_session: dict[int, list[np.ndarray]] = defaultdict(list)

    def __call__(self, session_id: int, frame) -> None:
        with self.lock:
            self.by_session[session_id].append(frame.pixels.copy())

    def of(self, session_id: int) -> list[np.ndarray]:
        with self.lock:
            return list(self.by_session[session_id])


@pytest.fixture(scope="module")
def host():
    folder = tempfile.mkdtemp(prefix="pvgpu-contract-")
    frames = Frames()
    service = HostService(os.path.join(folder, "host.sock"), region_size=16 << 20,
                          presenters=[FrameCallback(frames)], isolation="thread").start()
    service.frames = frames
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def device(host):
    d = g.connect(host.socket_path, timeout=WAIT)
    yield d
    d.close()


_seqs = itertools.count(0x5EC1_0001)


def record(name: str, seq: int, **fields) -> bytes:
    """A record with the given fields, every other field 0 (or the smallest enum value)."""
    layout = codec.BY_NAME[name]
    values = {f.name: (min(int(v) for v in f.enum) if f.enum else 0) for f in layout.fields}
    values.update(fields)
    return layout.encode(seq, tuple(values[f.name] for f in layout.fields), None)


def with_size(rec: bytes, size: int, physical: int) -> bytes:
    """`rec` with its header's size field set to `size`, `physical` bytes of it written."""
    out = bytearray(rec)
    out[4:8] = size.to_bytes(4, "little")
    return (bytes(out) + bytes(max(0, physical - len(out))))[:physical]


def session_of(host: HostService, device: g.Device):
    return host.sessions[device.connection.region.get("session_id")].session


def clear_and_present(device: g.Device, color) -> g.SwapChain:
    chain = device.create_swap_chain(g.SwapChainDesc(4, 4))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    device.immediate_context.clear_render_target_view(rtv, color)
    chain.present()
    chain.wait_idle()
    rtv.release()
    return chain


# --- 1. framing errors -------------------------------------------------------------------------------
#: (header size field, bytes written, expected code, words the detail must hold)
FRAMING_CASES = {
    "size_not_multiple_of_16": (40, 48, ErrorCode.BAD_FRAMING, "record size 40 is not a multiple of 16"),
    "size_0": (0, 32, ErrorCode.BAD_FRAMING, "record size 0 is not a multiple of 16"),
    "size_beyond_published": (4096, 32, ErrorCode.TRUNCATED_RECORD, "record claims 4096 bytes but only"),
}


@pytest.mark.parametrize("case", FRAMING_CASES)
def test_framing_error_loses_the_device_at_once_and_a_fence_waiter_hears_why(host, case):
    size, physical, code, words = FRAMING_CASES[case]
    channel = LocalGuestChannel(host.socket_path)
    try:
        conn = GuestConnection(channel, timeout=WAIT)
        dev = g.Device(conn)
        clear_and_present(dev, (1, 0, 0, 1))
        session_id = channel.region.get("session_id")
        assert len(host.frames.of(session_id)) == 1
        seq = next(_seqs)
        conn.writer.write(with_size(record("FLUSH", seq), size, physical))
        conn.emit("CLEAR_RENDER_TARGET_VIEW", view=0, color_r=0.0, color_g=0.0, color_b=0.0, color_a=1.0)
        fence = conn.fence()  # published in the same batch as the bad record
        with pytest.raises(DeviceLostError) as info:
            conn.wait_fence(fence, timeout=WAIT)
        message = str(info.value)
        assert f"waiting for fence {fence}" in message and "command stream framing lost" in message, message
        assert words in message, message
        assert conn.device_status == DeviceStatus.LOST
        assert conn.completed_fence < fence
        entries = [(e.code, e.opcode, e.sequence) for e in read_errors(channel.region)]
        assert entries == [(code, OP["FLUSH"], seq), (ErrorCode.DEVICE_LOST, OP["FLUSH"], seq)], entries
        lost_entry = read_errors(channel.region)[-1]
        assert lost_entry.detail.startswith("command stream framing lost: ") and words in lost_entry.detail
        assert conn.lost_reason() == lost_entry.detail
        # Lost stays lost: a later fence is not completed either, the guest hears it at once.
        with pytest.raises(DeviceLostError, match="framing lost"):
            conn.wait_fence(conn.fence(), timeout=WAIT)

        # A reset (a new guest program on the same device) brings a fresh, working session.
        fresh = g.Device(GuestConnection(channel, timeout=WAIT))
        assert fresh.connection.device_status == DeviceStatus.READY
        assert read_errors(channel.region) == []
        clear_and_present(fresh, (0, 0, 1, 1))
        assert fresh.host_errors() == []
        frames = host.frames.of(session_id)
        assert [tuple(f[0, 0]) for f in frames] == [(255, 0, 0, 255), (0, 0, 255, 255)]
    finally:
        channel.close()
