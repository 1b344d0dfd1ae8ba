"""Frame pacing (issue 10): SwapChain.present(sync_interval) is paced by the host to the display
mode's refresh rate, and get_frame_statistics() reports DXGI's figures consistently.

The rate checks count presents in a measured window of wall-clock time (the issue asks for
60 +- 2 presents per second at sync interval 1 and 60 Hz). Frames are 64x64, so the CPU
renderer is not what limits the rate.
"""

from __future__ import annotations

import time

import pytest

from pvgpu import guest as g
from pvgpu.errors import PvgpuError
from pvgpu.host.pacing import MAX_WAIT_NS, NS, SPIN_NS, FramePacer, VblankClock
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService

SIZE = 64


# --- the clock and the pacer alone (a fake clock: exact) -----------------------------------
class FakeTime:
    def __init__(self, start: int = 1_000_000_000):
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += round(seconds * NS) + SPIN_NS  # past the spin: no busy loop on a clock that stands still


@pytest.mark.parametrize("refresh_mhz", [60000, 75000, 120000, 144000, 59940])
def test_vblank_times_and_counts_agree(refresh_mhz):
    clock = VblankClock(refresh_mhz, 123_456_789)
    period = NS * 1000 / refresh_mhz
    for k in range(0, 5000, 7):
        t = clock.time_of(k)
        assert clock.count_at(t) == k and clock.count_at(t - 1) == k - 1
        assert abs(t - 123_456_789 - k * period) < 1
    t = clock.time_of(100) + 5
    clock.set_refresh(144000, t)  # a mode change ticks on from the last vblank, never back
    assert clock.count_at(t) == 100
    assert clock.count_at(t + NS) == 100 + 144


def test_pacer_shows_frames_at_the_vblanks_dxgi_would():
    ft = FakeTime()
    pacer = FramePacer(60000, now=ft.now, sleep=ft.sleep)
    clock = pacer.clock
    shown = [pacer.present(1).present_refresh_count for _ in range(5)]
    assert shown == [1, 2, 3, 4, 5]  # the first paced frame waits for the next vblank
    assert ft.now() >= clock.time_of(5)
    shown = [pacer.present(2).present_refresh_count for _ in range(3)]
    assert shown == [7, 9, 11]
    ft.t = clock.time_of(20) + 10  # the guest is late: the frame goes to the next vblank
    st = pacer.present(2)
    assert st.present_refresh_count == 21 and st.sync_refresh_count == 21 and st.sync_time_ns == clock.time_of(21)
    before = ft.t
    st = pacer.present(0)  # not paced: shown at once, in the refresh interval that is running
    assert ft.t == before and st.present_refresh_count == clock.count_at(before) == 21
    assert st.sync_time_ns == clock.time_of(21) <= before
    assert st.present_count == 10


def test_a_wait_is_bounded_and_ends_when_the_guest_leaves():
    ft = FakeTime()
    slow = FramePacer(1000, now=ft.now, sleep=ft.sleep)  # 1 Hz: 4 vblanks would be 4 s
    slow.present(4)
    start = ft.t
    slow.present(4)
    assert ft.t - start <= MAX_WAIT_NS + SPIN_NS
    here = [True]
    gone = FramePacer(60000, now=ft.now, sleep=lambda s: here.__setitem__(0, False), keep_waiting=lambda: here[0])
    start = ft.t
    st = gone.present(4)
    assert ft.t == start and st.present_count == 1  # accounted, not waited for


# --- a real host -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def host(tmp_path_factory):
    service = HostService(str(tmp_path_factory.mktemp("pacing") / "host.sock"), region_size=16 << 20,
                          isolation="thread", presenters=[FrameCallback(lambda sid, frame: None)])
    service.start()
    yield service
    service.stop()


class Scene:
    def __init__(self, host):
        self.device = g.connect(host.socket_path, timeout=30)
        self.ctx = self.device.get_immediate_context()
        self.chain = self.device.create_swap_chain(g.SwapChainDesc(SIZE, SIZE))
        self.rtv = self.device.create_render_target_view(self.chain.get_buffer())
        self.session = host.sessions[self.device.connection.region.get("session_id")].session

    def mode(self, hz: int, fullscreen: bool = True) -> None:
        self.chain.resize_target(g.ModeDesc(1280, 720, g.Rational(hz, 1)))
        self.chain.set_fullscreen_state(fullscreen)

    def frame(self, sync_interval: int) -> None:
        self.ctx.clear_render_target_view(self.rtv, (0.2, 0.4, 0.6, 1.0))
        self.chain.present(sync_interval)

    def measure(self, sync_interval: int, seconds: float) -> tuple[float, list[g.FrameStatistics]]:
        """Presents per second over a window of `seconds`, and the statistics after each present."""
        for _ in range(6):  # the queue of frames in flight fills, a mode change has taken effect
            self.frame(sync_interval)
        chain = self.chain
        first, start = chain.get_frame_statistics(), time.monotonic()
        samples = [first]
        while time.monotonic() - start < seconds:
            self.frame(sync_interval)
            samples.append(chain.get_frame_statistics())
        last, end = chain.get_frame_statistics(), time.monotonic()
        samples.append(last)
        return (last.present_count - first.present_count) / (end - start), samples

    def close(self) -> None:
        self.device.close()


@pytest.fixture
def scene(host):
    s = Scene(host)
    yield s
    s.close()


def per_frame_refreshes(samples: list[g.FrameStatistics]) -> list[int]:
    """Vblanks between consecutive presents, where two samples are one present apart."""
    return [b.present_refresh_count - a.present_refresh_count
            for a, b in zip(samples, samples[1:]) if b.present_count == a.present_count + 1]


def assert_consistent(samples: list[g.FrameStatistics], refresh_hz: float) -> None:
    period = NS / refresh_hz
    for a, b in zip(samples, samples[1:]):
        assert b.present_count >= a.present_count and b.present_refresh_count >= a.present_refresh_count
        assert b.sync_refresh_count == b.present_refresh_count  # sampled at the last present's vblank
        # sync time is the time of vblank number sync_refresh_count on one clock
        expected = a.sync_qpc_time + (b.sync_refresh_count - a.sync_refresh_count) * period
        assert abs(b.sync_qpc_time - expected) <= 2, (a, b)


@pytest.mark.slow
def test_sync_interval_1_at_60_hz_gives_60_presents_a_second(scene):
    scene.mode(60)
    rate, samples = scene.measure(1, 2.0)
    assert 58 <= rate <= 62, f"{rate:.1f} presents/s at sync interval 1 and 60 Hz"
    assert_consistent(samples, 60)
    steps = per_frame_refreshes(samples)
    assert len(steps) > 60 and min(steps) >= 1  # never two frames on one vblank
    assert steps.count(1) >= 0.9 * len(steps), steps  # and almost every frame on the next one
    now = time.monotonic_ns()
    assert now - NS // 10 < samples[-1].sync_qpc_time <= now  # the host's clock is this machine's


@pytest.mark.slow
def test_sync_interval_2_at_60_hz_gives_30(scene):
    scene.mode(60)
    rate, samples = scene.measure(2, 1.5)
    assert 28 <= rate <= 32, f"{rate:.1f} presents/s at sync interval 2 and 60 Hz"
    assert_consistent(samples, 60)
    steps = per_frame_refreshes(samples)
    assert min(steps) >= 2 and steps.count(2) >= 0.9 * len(steps), steps


@pytest.mark.slow
def test_windowed_presents_are_paced_at_the_desktops_60_hz(scene):
    scene.mode(144, fullscreen=False)
    rate, samples = scene.measure(1, 1.5)
    assert scene.chain.get_containing_output().get_refresh_millihertz() == 60000
    assert 58 <= rate <= 62, f"{rate:.1f} presents/s windowed with a 144 Hz mode chosen"
    assert_consistent(samples, 60)


@pytest.mark.slow
def test_sync_interval_0_is_not_paced_and_144_hz_is(scene):
    scene.mode(60)
    unpaced, samples = scene.measure(0, 1.0)
    assert unpaced > 100, f"sync interval 0 gave only {unpaced:.1f} presents/s"
    refreshes = samples[-1].present_refresh_count - samples[0].present_refresh_count
    presents = samples[-1].present_count - samples[0].present_count
    assert refreshes < presents / 1.5, "presents at sync interval 0 kept to the 60 Hz clock"
    assert_consistent(samples, 60)

    scene.mode(144)
    rate, samples = scene.measure(1, 1.5)
    assert rate <= 149, f"{rate:.1f} presents/s at sync interval 1 and 144 Hz"
    assert_consistent(samples, 144)
    steps = per_frame_refreshes(samples)
    assert min(steps) >= 1
    on_time = steps.count(1) / len(steps)
    if on_time >= 0.95:  # the machine kept up (a loaded one shows frames late, at later vblanks)
        assert rate >= 139, f"{rate:.1f} presents/s at sync interval 1 and 144 Hz"
    else:
        print(f"144 Hz lower bound not checked: {100 * (1 - on_time):.0f}% of the frames were late here "
              f"({unpaced:.0f} unpaced presents/s, {rate:.1f} paced)")


def test_statistics_count_every_present(scene):
    scene.mode(75)
    before = scene.chain.get_frame_statistics().present_count
    for sync_interval in (1, 0, 2, 1, 0):
        scene.frame(sync_interval)
    scene.chain.wait_idle()
    st = scene.chain.get_frame_statistics()
    assert st.present_count == before + 5 == scene.chain.frames_presented == scene.session.frames_presented
    assert st.sync_refresh_count == st.present_refresh_count == scene.session.pacer.last_shown
    assert st.sync_qpc_time == scene.session.pacer.clock.time_of(st.sync_refresh_count)
    # the session's processing time leaves the pacing waits out
    assert scene.session.pacing_wait_s > 0


def test_sync_interval_above_4_is_refused_by_the_guest(scene):
    with pytest.raises(PvgpuError, match="sync interval 5 must be 0..4"):
        scene.chain.present(5)


def test_a_guest_that_leaves_is_not_waited_for(host):
    """Presents still queued when the guest goes are executed without their pacing waits."""
    scene = Scene(host)
    record = host.sessions[scene.device.connection.region.get("session_id")]
    scene.mode(60)
    scene.chain.wait_idle()
    conn = scene.device.connection
    for _ in range(40):  # 40 presents 4 vblanks apart: 2.7 s if they were paced
        conn.emit_present(scene.chain.id, 4, 0)
    scene.close()
    assert record.ended.wait(30), "the session did not end after its guest left"
    session = record.session
    assert session.frames_presented == 40
    assert session.pacing_wait_s < 1.0, f"{session.pacing_wait_s:.2f} s spent pacing for a guest that had gone"
