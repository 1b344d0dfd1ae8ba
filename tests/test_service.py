"""The local host service with real guest processes (wgpu renders on lavapipe).

Guests are separate Python processes speaking to the HostService over its UNIX socket and
shared region; frames come back through a FrameCallback presenter, keyed by session id.
"""

from __future__ import annotations

import gc
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np
import pytest

from pvgpu import guest
from pvgpu.errors import TransportError, VersionMismatchError, WaitTimeoutError
from pvgpu.guest.connection import GuestConnection
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService
from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import DeviceStatus, ErrorCode, GuestState
from pvgpu.protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from pvgpu.transport.control import format_control_page, log_error, read_errors
from pvgpu.transport.local import LocalGuestChannel
from pvgpu.transport.region import Region

WAIT_S = 30.0  # upper bound for any single wait; the whole file normally runs in a few seconds

RED = (1.0, 0.0, 0.0, 1.0)
GREEN = (0.0, 1.0, 0.0, 1.0)
BLUE = (0.0, 0.0, 1.0, 1.0)
YELLOW = (1.0, 1.0, 0.0, 1.0)


def rgba8(color) -> list[int]:
    return [round(c * 255) for c in color]


class FrameLog:
    """Collects presented frames per session id (FrameCallback runs on session threads)."""

    def __init__(self):
        self._cond = threading.Condition()
        self.frames: dict[int, list[np.ndarray]] = {}

    def add(self, session_id: int, frame) -> None:
        with self._cond:
            self.frames.setdefault(session_id, []).append(np.array(frame.pixels, copy=True))
            self._cond.notify_all()

    def wait_for(self, session_id: int, count: int, timeout: float = WAIT_S) -> list[np.ndarray]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.frames.get(session_id, ())) >= count, timeout):
                got = {k: len(v) for k, v in self.frames.items()}
                pytest.fail(f"session {session_id}: expected {count} frame(s) within {timeout:.0f} s, "
                            f"frames so far per session: {got}")
            return list(self.frames[session_id])

    def count(self, session_id: int) -> int:
        with self._cond:
            return len(self.frames.get(session_id, ()))


def assert_solid(pixels: np.ndarray, color, what: str) -> None:
    want = rgba8(color)
    assert pixels.ndim == 3 and pixels.shape[2] == 4, f"{what}: pixels have shape {pixels.shape}"
    distinct = np.unique(pixels.reshape(-1, 4), axis=0)
    assert distinct.tolist() == [want], f"{what}: expected every pixel {want}, got {distinct[:4].tolist()}"


@pytest.fixture
def host():
    folder = tempfile.mkdtemp(prefix="pvgpu-svc-")  # short path: UNIX socket paths are limited
    frames = FrameLog()
    service = HostService(os.path.join(folder, "host.sock"), region_size=16 << 20,
                          presenters=[FrameCallback(frames.add)])
    service.start()
    try:
        yield service, frames
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --- guest processes ---------------------------------------------------------------------------

GUEST_PRELUDE = textwrap.dedent("""
    import os, signal, sys
    import pvgpu.guest as g
    from pvgpu.errors import DeviceLostError, HostReportedError
    from pvgpu.protocol import codec

    dev = g.connect(sys.argv[1], timeout=30)
    conn = dev.connection
    ctx = dev.get_immediate_context()
    sc = dev.create_swap_chain(g.SwapChainDesc(32, 24))
    rtv = dev.create_render_target_view(sc.get_buffer(0))
    print("session", conn.region.get("session_id"), flush=True)

    def frame(color):
        ctx.om_set_render_targets([rtv], None)
        ctx.clear_render_target_view(rtv, color)
        sc.present(0)
""") + f"RED, GREEN, BLUE, YELLOW = {RED!r}, {GREEN!r}, {BLUE!r}, {YELLOW!r}\n"


class Proc:
    """A Python process; its stdout lines are read on a thread so every wait is bounded."""

    def __init__(self, code: str, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = WAIT_S) -> str:
        """The next stdout line starting with `prefix` (other lines are kept in `output`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0))
            except queue.Empty:
                pytest.fail(f"process printed no {prefix!r} line within {timeout:.0f} s; output:\n"
                            + "\n".join(self.output))
            if line is None:
                pytest.fail(f"process ended (rc {self.proc.wait()}) before printing {prefix!r}; output:\n"
                            + "\n".join(self.output))
            self.output.append(line)
            if line.startswith(prefix):
                return line

    def session_id(self) -> int:
        return int(self.expect("session ").split()[1])

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process did not exit within {timeout:.0f} s")
        self._reader.join(5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.output.append(line)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Guest(Proc):
    """A guest process running GUEST_PRELUDE, then `body`."""

    def __init__(self, socket_path: str, body: str, *args: str):
        super().__init__(GUEST_PRELUDE + textwrap.dedent(body), socket_path, *args)


def wait_ended(service: HostService, session_id: int, timeout: float = WAIT_S) -> None:
    record = service.sessions.get(session_id)
    assert record is not None, f"the host has no session {session_id} (sessions: {sorted(service.sessions)})"
    assert record.ended.wait(timeout), f"session {session_id} did not end within {timeout:.0f} s"


DYING_GUEST = """
    frame(RED)
    sc.wait_idle()  # that frame has been presented

    # A record whose header claims 4096 bytes, of which only 32 are published.
    w = conn.writer
    off = w.reserve(32)
    codec.HEADER.pack_into(w.ring, off, codec.BY_NAME["FLUSH"].opcode, 0, 4096, 999)
    w.commit(32)
    conn.kick()
    try:  # framing is lost: the device is lost at once, and the fence wait says why
        conn.wait_fence(conn.fence(), 20)
        print("no error reported", flush=True)
    except DeviceLostError as e:
        print("reported", " ".join(str(e).split()), *[x.code.name for x in conn.host_errors()], flush=True)

    # Mid-batch: a published clear without its present, then a present never published.
    ctx.om_set_render_targets([rtv], None)
    ctx.clear_render_target_view(rtv, BLUE)
    conn.kick()
    conn.emit("PRESENT", swap_chain=sc.id, sync_interval=0, flags=0)
    ctx.clear_render_target_view(rtv, YELLOW)
    conn.emit("PRESENT", swap_chain=sc.id, sync_interval=0, flags=0)
    print("dying", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""

COLOR_GUEST = """
    color = tuple(float(c) for c in sys.argv[2].split(","))
    frames = int(sys.argv[3])
    if sys.stdin.readline().strip() != "go":
        sys.exit("expected go")
    for _ in range(frames):
        frame(color)
    sc.wait_idle()
    print("rendered", flush=True)
    sys.stdin.readline()  # stay connected until told to leave
    dev.close()
"""

def color_arg(color) -> str:
    return ",".join(str(c) for c in color)


def test_guest_killed_mid_batch_does_not_disturb_the_next_guest(host):
    service, frames = host
    dying = Guest(service.socket_path, DYING_GUEST)
    try:
        first = dying.session_id()
        report = dying.expect("reported")
        assert ErrorCode.TRUNCATED_RECORD.name in report, report
        dying.expect("dying")
        assert dying.wait() == -signal.SIGKILL
    finally:
        dying.kill()
    wait_ended(service, first)
    # Only the frame presented before the bad record: nothing unpublished was executed.
    assert frames.count(first) == 1, f"session {first} presented {frames.count(first)} frames, expected 1"
    assert_solid(frames.wait_for(first, 1)[0], RED, "first guest's frame")
    assert service.sessions[first].stats.errors >= 1

    second = Guest(service.socket_path, COLOR_GUEST, color_arg(GREEN), "1")
    try:
        sid = second.session_id()
        assert sid != first
        second.send("go")
        second.expect("rendered")
        assert_solid(frames.wait_for(sid, 1)[0], GREEN, "second guest's frame")
        assert not service.sessions[sid].ended.is_set()
        second.send("bye")
        assert second.wait() == 0, "\n".join(second.output)
    finally:
        second.kill()
    wait_ended(service, sid)
    assert frames.count(first) == 1


def test_two_guests_render_at_once(host):
    service, frames = host
    guests = {RED: Guest(service.socket_path, COLOR_GUEST, color_arg(RED), "3"),
              BLUE: Guest(service.socket_path, COLOR_GUEST, color_arg(BLUE), "3")}
    try:
        ids = {color: g.session_id() for color, g in guests.items()}
        assert len(set(ids.values())) == 2, f"both guests got session {ids}"
        for sid in ids.values():  # both are connected before either renders
            assert not service.sessions[sid].ended.is_set()
        for g in guests.values():
            g.send("go")
        for g in guests.values():
            g.expect("rendered")
        for color, sid in ids.items():
            got = frames.wait_for(sid, 3)
            assert len(got) == 3, f"session {sid} presented {len(got)} frames, expected 3"
            for i, pixels in enumerate(got):
                assert_solid(pixels, color, f"session {sid} frame {i}")
        for g in guests.values():
            g.send("bye")
        for g in guests.values():
            assert g.wait() == 0, "\n".join(g.output)
    finally:
        for g in guests.values():
            g.kill()
    for sid in ids.values():
        wait_ended(service, sid)


def test_host_refuses_a_guest_with_another_major_version(host):
    service, _frames = host
    channel = LocalGuestChannel(service.socket_path)
    try:
        region = channel.region
        deadline = time.monotonic() + WAIT_S
        while region.get("magic") != L.MAGIC:
            assert time.monotonic() < deadline, "the host never formatted the control page"
            time.sleep(0.001)
        sid = region.get("session_id")
        region.set("guest_version_major", 99)
        region.set("guest_version_minor", 0)
        region.set("guest_state", GuestState.HELLO)
        channel.ring_doorbell()
        while region.get("device_status") == DeviceStatus.INITIALIZING:
            assert time.monotonic() < deadline, "the host never answered the hello"
            channel.wait_interrupt(0.05)
        assert region.get("device_status") == DeviceStatus.REFUSED
        entries = [e for e in read_errors(region) if e.code == ErrorCode.VERSION]
        assert len(entries) == 1, read_errors(region)
        assert "99.x" in entries[0].detail and f"{PROTOCOL_MAJOR}.x" in entries[0].detail, entries[0].detail
    finally:
        channel.close()
    wait_ended(service, sid)
    # The host's own record (reported by the renderer worker) agrees with the page.
    assert service.sessions[sid].stats.status == DeviceStatus.REFUSED


class FakeChannel:
    """The smallest GuestChannel: a region this test formats itself."""

    def __init__(self, region: Region, on_doorbell=lambda: None):
        self.region = region
        self.doorbells = 0
        self.closed = False
        self.on_doorbell = on_doorbell

    def ring_doorbell(self) -> None:
        self.doorbells += 1
        self.on_doorbell()

    def wait_interrupt(self, timeout: float) -> bool:
        time.sleep(min(timeout, 0.001))
        return False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def region():
    plan = L.RegionLayout.plan(region_size=1 << 20, ring_size=8192)
    r = Region.create(plan.region_size, "pvgpu-fake-host")
    r.plan = plan
    try:
        yield r
    finally:
        r.close()


def test_guest_refuses_a_host_with_another_major_version(region):
    format_control_page(region, region.plan, 0, major=99, minor=3)
    channel = FakeChannel(region)
    with pytest.raises(VersionMismatchError) as info:
        GuestConnection(channel, timeout=2)
    msg = str(info.value)
    assert "99" in msg and f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}" in msg, msg
    assert channel.doorbells == 0 and region.get("guest_state") == GuestState.NONE, \
        "the guest must not say hello to a host it cannot speak to"


def test_guest_raises_when_the_host_refuses_it(region):
    format_control_page(region, region.plan, 0, major=PROTOCOL_MAJOR, minor=PROTOCOL_MINOR)

    def host_refuses() -> None:
        log_error(region, 0, ErrorCode.VERSION, 0, 0, "guest speaks protocol 1.x, host 7.x")
        region.set("device_status", DeviceStatus.REFUSED)

    channel = FakeChannel(region, host_refuses)
    with pytest.raises(VersionMismatchError, match="host 7.x"):
        GuestConnection(channel, timeout=2)
    assert channel.doorbells == 1


def test_connect_without_a_host_names_pvgpu_serve(tmp_path):
    with pytest.raises(TransportError, match="pvgpu serve"):
        guest.connect(str(tmp_path / "nobody.sock"), timeout=2)


def test_connect_to_a_stale_socket_names_pvgpu_serve():
    """A socket file left by a host that died: nothing listens, the advice is the same."""
    folder = tempfile.mkdtemp(prefix="pvgpu-stale-")
    path = os.path.join(folder, "host.sock")
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.close()  # the file stays, nobody listens
        with pytest.raises(TransportError, match="pvgpu serve"):
            guest.connect(path, timeout=2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- regressions for bugs found while writing these tests -----------------------------------------

HOST_PROCESS = textwrap.dedent("""
    import sys
    from pvgpu.host.present.headless import FrameCallback
    from pvgpu.host.service import HostService

    def on_frame(session_id, frame):
        print("frame", session_id, *frame.pixels.reshape(-1, 4)[0].tolist(), flush=True)

    def on_end(record):
        print("ended", record.session_id, record.stats.frames, flush=True)

    service = HostService(sys.argv[1], region_size=16 << 20, presenters=[FrameCallback(on_frame)],
                          on_session_end=on_end)
    service.start()
    print("ready", flush=True)
    sys.stdin.readline()
    service.stop()
""")

PRESENT_AND_CLOSE_GUEST = """
    if sys.stdin.readline().strip() != "go":
        sys.exit("expected go")
    frame(RED)   # published and the doorbell rung ...
    dev.close()  # ... then the guest leaves without waiting, as a program that exits after Present does
    print("closed", flush=True)
"""


def test_work_published_before_a_clean_close_is_executed():
    """A guest that presents and closes without waiting must still get its frame shown.

    The host is paused (SIGSTOP) while the guest publishes, rings the doorbell and closes, so
    the host's session thread wakes to a rung doorbell and a closed socket at once. Session.run
    used to see the disconnect first and return without reading the published records, dropping
    the frame and everything before it (in about a third of unpaused runs)."""
    folder = tempfile.mkdtemp(prefix="pvgpu-close-")
    sock = os.path.join(folder, "host.sock")
    host_proc = Proc(HOST_PROCESS, sock)
    guest_proc = None
    stopped = False
    try:
        host_proc.expect("ready")
        guest_proc = Guest(sock, PRESENT_AND_CLOSE_GUEST)
        sid = guest_proc.session_id()  # handshake done, nothing published yet
        os.kill(host_proc.proc.pid, signal.SIGSTOP)
        stopped = True
        guest_proc.send("go")
        guest_proc.expect("closed")
        assert guest_proc.wait() == 0, "\n".join(guest_proc.output)
        os.kill(host_proc.proc.pid, signal.SIGCONT)
        stopped = False
        ended = host_proc.expect(f"ended {sid} ")
        frames_presented = int(ended.split()[2])
        assert frames_presented == 1, (f"session {sid} presented {frames_presented} frames, expected the 1 frame "
                                       f"published before the guest closed; host output: {host_proc.output}")
        assert any(line == f"frame {sid} 255 0 0 255" for line in host_proc.output), host_proc.output
    finally:
        if stopped:
            os.kill(host_proc.proc.pid, signal.SIGCONT)
        if guest_proc is not None:
            guest_proc.kill()
        if host_proc.proc.poll() is None:
            try:
                host_proc.send("stop")
                host_proc.wait(15)
            except (OSError, pytest.fail.Exception):
                pass
        host_proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _mappings_of_inode(inode: int) -> list[str]:
    with open("/proc/self/maps") as f:
        return [line.strip() for line in f
                if len(line.split()) >= 6 and line.split()[4] == str(inode) and "memfd:pvgpu-session" in line]


INODE_GUEST = """
    print("inode", os.fstat(conn.region.fd).st_ino, flush=True)
    sys.stdin.readline()
    dev.close()
"""


def test_ended_session_unmaps_its_region(host):
    """The host must let go of a guest's shared region (up to 256 MiB) when its session ends.

    Region.close cannot close the mmap while numpy views of it are alive; the ended session's
    RingReader used to keep one (RingReader._pos is region.u64) and HostService keeps every
    ended Session in `sessions`, so each guest that ever connected stayed mapped."""
    service, _frames = host
    g = Guest(service.socket_path, INODE_GUEST)
    try:
        sid = g.session_id()
        inode = int(g.expect("inode").split()[1])
        assert _mappings_of_inode(inode), "the live session's region should be mapped in the host"
        g.send("bye")
        assert g.wait() == 0, "\n".join(g.output)
    finally:
        g.kill()
    wait_ended(service, sid)
    gc.collect()
    left = _mappings_of_inode(inode)
    assert not left, f"session {sid} ended but its region is still mapped:\n" + "\n".join(left)


def test_a_new_guest_program_on_a_used_region_gets_a_fresh_session(host):
    """In a VM one region outlives guest programs: the next program asks for a reset (objects
    freed, ring restarted) instead of inheriting the last one's state."""
    service, frames = host
    channel = LocalGuestChannel(service.socket_path)
    try:
        first = guest.Device(GuestConnection(channel))
        chain = first.create_swap_chain(guest.SwapChainDesc(8, 8))
        rtv = first.create_render_target_view(chain.get_buffer(0))
        first.get_immediate_context().clear_render_target_view(rtv, (1, 0, 0, 1))
        chain.present()
        chain.wait_idle()
        first.connection.kick()  # the first program ends without any goodbye; the channel stays
        second = guest.Device(GuestConnection(channel))
        assert channel.region.get("device_status") == DeviceStatus.READY
        chain2 = second.create_swap_chain(guest.SwapChainDesc(8, 8))  # reuses ids 1..2: free again
        rtv2 = second.create_render_target_view(chain2.get_buffer(0))
        second.get_immediate_context().clear_render_target_view(rtv2, (0, 0, 1, 1))
        chain2.present()
        chain2.wait_idle()
        assert second.host_errors() == []
    finally:
        channel.close()
    (session_id,) = frames.frames
    got = frames.wait_for(session_id, 2)
    assert len(got) == 2
    assert_solid(got[0], (1, 0, 0, 1), "first program's frame")
    assert_solid(got[1], (0, 0, 1, 1), "second program's frame")


def test_full_ring_wait_is_bounded_and_does_not_spin(region):
    """A host that stops consuming: the guest waits for room with a clear timeout error, and
    sleeps rather than burning a CPU while it waits."""
    format_control_page(region, region.plan, 0, major=PROTOCOL_MAJOR, minor=PROTOCOL_MINOR)

    def host_accepts() -> None:
        if region.get("guest_state") == GuestState.HELLO:
            region.set("device_status", DeviceStatus.READY)

    conn = GuestConnection(FakeChannel(region, host_accepts), timeout=1.5)
    cpu_before, wall_before = time.process_time(), time.monotonic()
    with pytest.raises(WaitTimeoutError, match="full command ring"):
        for _ in range(10_000):  # 8 KiB ring: full after a few hundred draws
            conn.emit("DRAW", vertex_count=3, start_vertex_location=0)
    waited = time.monotonic() - wall_before
    assert waited >= 1.5
    assert time.process_time() - cpu_before < 0.5 * waited, "the guest spun while the ring was full"


def test_guest_cannot_shrink_its_region(host):
    """The region's memfd is sealed: a guest that tries to shrink it (which would make the
    host fault on its next access) is refused by the kernel."""
    service, frames = host
    channel = LocalGuestChannel(service.socket_path)
    try:
        with pytest.raises(PermissionError):
            os.ftruncate(channel.region.fd, 0)
        dev = guest.Device(GuestConnection(channel))
        chain = dev.create_swap_chain(guest.SwapChainDesc(8, 8))
        rtv = dev.create_render_target_view(chain.get_buffer(0))
        dev.get_immediate_context().clear_render_target_view(rtv, (0, 1, 0, 1))
        chain.present()
        chain.wait_idle()
    finally:
        channel.close()


def test_a_long_running_host_keeps_a_bounded_history_of_ended_sessions(tmp_path, monkeypatch):
    """Every session ever served must not stay in memory: the live ones and the last
    ENDED_KEPT ended ones do; `sessions_served` still counts them all."""
    from pvgpu.host import service as service_module
    monkeypatch.setattr(service_module, "ENDED_KEPT", 2)
    svc = HostService(str(tmp_path / "h.sock"), region_size=8 << 20, isolation="thread")
    svc.start()
    try:
        served = []
        for _ in range(5):
            d = guest.connect(svc.socket_path, timeout=30)
            served.append(max(svc.sessions))
            d.close()
            deadline = time.monotonic() + 60
            while not all(r.ended.is_set() for r in svc.sessions.values()):
                assert time.monotonic() < deadline, "a session did not end after its guest left"
                time.sleep(0.05)
        assert svc.sessions_served == 5
        assert sorted(svc.sessions) == served[-2:]
    finally:
        svc.stop()
