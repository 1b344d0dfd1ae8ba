"""Display modes (issue 10): the host's offer in the control page, SET_DISPLAY_MODE, and the
DXGI flow of going fullscreen (resize_target, set_fullscreen_state, resize_buffers)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import DeviceStatus, DxgiFormat

GREEN = (0.0, 1.0, 0.0, 1.0)
BLUE = (0.0, 0.0, 1.0, 1.0)


class Frames:
    """Sizes and last pixels of the frames a FrameCallback presenter receives."""

    def __init__(self):
        self.lock = threading.Lock()
        self.shapes: list[tuple[int, ...]] = []
        self.last: np.ndarray | None = None

    def add(self, session_id: int, frame) -> None:
        with self.lock:
            self.shapes.append(frame.pixels.shape)
            self.last = frame.pixels.copy()


@pytest.fixture
def host(tmp_path):
    """conftest's host (its `device` fixture connects to this one), in this process so the
    tests can look at the session."""
    frames = Frames()
    service = HostService(str(tmp_path / "host.sock"), region_size=32 << 20, isolation="thread",
                          presenters=[FrameCallback(frames.add)])
    service.frames = frames
    service.start()
    yield service
    service.stop()


def session_of(host, device):
    return host.sessions[device.connection.region.get("session_id")]


def mode_tuple(m: g.ModeDesc) -> tuple[int, int, int]:
    return m.width, m.height, m.refresh_millihertz


def clear_and_present(device, chain, color, sync_interval: int = 0) -> None:
    rtv = device.create_render_target_view(chain.get_buffer())
    device.get_immediate_context().clear_render_target_view(rtv, color)
    rtv.release()
    chain.present(sync_interval)


def test_the_offer_is_every_size_at_every_rate_in_dxgi_order():
    sizes = [(1280, 720), (1920, 1080), (2560, 1440), (3840, 2160)]
    expected = [(w, h, hz * 1000) for w, h in sizes for hz in (60, 75, 120, 144)]
    assert list(L.DEFAULT_DISPLAY_MODES) == expected
    assert len(L.DEFAULT_DISPLAY_MODES) == L.MAX_DISPLAY_MODES
    assert sorted(L.DEFAULT_DISPLAY_MODES) == list(L.DEFAULT_DISPLAY_MODES)


def test_guest_lists_the_hosts_offer(device):
    modes = device.get_display_mode_list()
    assert [mode_tuple(m) for m in modes] == list(L.DEFAULT_DISPLAY_MODES)
    assert modes[3].refresh_rate == g.Rational(144, 1) and modes[3].refresh_rate_hz == 144.0
    chain = device.create_swap_chain(g.SwapChainDesc(64, 64))
    output = chain.get_containing_output()
    bgra = output.get_display_mode_list(DxgiFormat.B8G8R8A8_UNORM)
    assert [mode_tuple(m) for m in bgra] == list(L.DEFAULT_DISPLAY_MODES)
    assert {m.format for m in bgra} == {DxgiFormat.B8G8R8A8_UNORM}
    assert output.get_display_mode_list(DxgiFormat.R32_FLOAT) == []  # not a display format
    # before any choice: mode 0, windowed, paced at the desktop's 60 Hz
    assert output.get_current_mode() == (modes[0], False)
    assert output.get_refresh_millihertz() == 60000


def test_closest_mode(device):
    output = g.Output(device.connection)
    like = g.ModeDesc(2560, 1440, g.Rational(120, 1))
    assert mode_tuple(output.find_closest_matching_mode(g.ModeDesc(2000, 1100, g.Rational(143, 1)))) == (1920, 1080, 144000)
    assert mode_tuple(output.find_closest_matching_mode(g.ModeDesc(0, 0, g.Rational(75, 1)), like)) == (2560, 1440, 75000)
    assert mode_tuple(output.find_closest_matching_mode(g.ModeDesc(3840, 2160), like)) == (3840, 2160, 120000)
    assert mode_tuple(output.find_closest_matching_mode(g.ModeDesc(1280, 720, g.Rational(60000, 1001)))) == (1280, 720, 60000)


def test_choosing_a_mode_is_seen_by_host_guest_and_stats(host, device):
    chain = device.create_swap_chain(g.SwapChainDesc(64, 64))
    output = chain.get_containing_output()
    taken = chain.resize_target(g.ModeDesc(1920, 1080, g.Rational(144, 1)))
    assert mode_tuple(taken) == (1920, 1080, 144000)
    clear_and_present(device, chain, GREEN)
    chain.wait_idle()
    index = list(L.DEFAULT_DISPLAY_MODES).index((1920, 1080, 144000))
    region = device.connection.region
    assert region.get("display_mode_chosen") == index
    assert output.get_current_mode() == (output.mode_at(index), False)
    assert output.get_refresh_millihertz() == 60000  # windowed: the desktop's rate
    record = session_of(host, device)
    assert record.session.display_mode == (1920, 1080, 144000) and record.session.fullscreen is False
    assert record.stats.display_mode == [1920, 1080, 144000] and record.stats.fullscreen is False

    chain.set_fullscreen_state(True)
    chain.wait_idle()
    assert chain.get_fullscreen_state() == (True, output)
    assert output.get_current_mode() == (output.mode_at(index), True)
    assert output.get_refresh_millihertz() == 144000
    assert record.stats.fullscreen is True and record.session.refresh_mhz == 144000

    chain.set_fullscreen_state(False)
    chain.wait_idle()
    assert chain.get_fullscreen_state() == (False, None)
    assert region.get("display_fullscreen") == 0 and output.get_refresh_millihertz() == 60000
    assert record.stats.display_mode == [1920, 1080, 144000] and record.stats.fullscreen is False


def test_an_unoffered_mode_index_is_an_invalid_call_and_the_session_goes_on(host, device):
    chain = device.create_swap_chain(g.SwapChainDesc(16, 16))
    chain.resize_target(g.ModeDesc(2560, 1440, g.Rational(75, 1)))
    chain.wait_idle()
    conn = device.connection
    conn.emit_set_display_mode(chain.id, L.MAX_DISPLAY_MODES, 1)
    conn.emit_set_display_mode(chain.id, 0xFFFFFFFF, 0)
    with pytest.raises(HostReportedError) as e:
        chain.wait_idle()
        conn.raise_host_errors()
    errors = [line for line in str(e.value).splitlines() if "SET_DISPLAY_MODE" in line]
    assert len(errors) == 2, str(e.value)
    assert "INVALID_CALL" in errors[0] and f"display mode {L.MAX_DISPLAY_MODES} is not offered" in errors[0]
    assert "offers 16 modes" in errors[0]
    assert "display mode 4294967295 is not offered" in errors[1]
    record = session_of(host, device)
    assert record.session.display_mode == (2560, 1440, 75000) and not record.session.fullscreen
    assert conn.region.get("display_mode_chosen") == list(L.DEFAULT_DISPLAY_MODES).index((2560, 1440, 75000))
    before = len(host.frames.shapes)
    clear_and_present(device, chain, BLUE)
    chain.wait_idle()
    assert len(host.frames.shapes) == before + 1
    assert host.frames.last[0, 0].tolist() == [0, 0, 255, 255]
    assert record.stats.errors == 2 and record.stats.status == DeviceStatus.READY


def test_a_swap_chain_id_that_is_not_a_swap_chain_is_refused(host, device):
    chain = device.create_swap_chain(g.SwapChainDesc(16, 16))
    texture = device.create_texture2d(g.Texture2DDesc(4, 4))
    device.connection.emit_set_display_mode(texture.id, 0, 1)
    with pytest.raises(HostReportedError, match="SET_DISPLAY_MODE"):
        chain.wait_idle()
    assert session_of(host, device).session.fullscreen is False


def test_going_fullscreen_at_1080p_144_changes_the_presented_frames(host, device):
    chain = device.create_swap_chain(g.SwapChainDesc(64, 64))
    clear_and_present(device, chain, BLUE)
    chain.wait_idle()
    assert host.frames.shapes[-1] == (64, 64, 4)

    # the DXGI way: pick the mode, go fullscreen, resize the buffers to it
    mode = next(m for m in device.get_display_mode_list() if mode_tuple(m) == (1920, 1080, 144000))
    chain.resize_target(mode)
    chain.set_fullscreen_state(True)
    chain.resize_buffers(0, 1920, 1080)
    clear_and_present(device, chain, GREEN, sync_interval=1)
    chain.wait_idle()
    assert host.frames.shapes[-1] == (1080, 1920, 4)
    assert np.unique(host.frames.last.reshape(-1, 4), axis=0).tolist() == [[0, 255, 0, 255]]
    record = session_of(host, device)
    assert record.stats.display_mode == [1920, 1080, 144000] and record.stats.fullscreen is True

    # and back to a window of 64x64
    chain.set_fullscreen_state(False)
    chain.resize_buffers(0, 64, 64)
    clear_and_present(device, chain, BLUE)
    chain.wait_idle()
    assert host.frames.shapes[-1] == (64, 64, 4)
    assert record.stats.fullscreen is False
