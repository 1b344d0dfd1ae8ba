"""Renderer worker processes and their supervisor.

The service process holds what a guest's connection depends on (the socket, the region, the
eventfds): QEMU cannot reconnect to a restarted ivshmem server, so that process must outlive
any renderer. Each session's decode loop and wgpu device run in a worker process of their
own. The supervisor (a thread of the service) forwards presented frames to the presenters,
keeps the session's figures, and when the worker dies or its GPU work outlasts the watchdog,
kills it, puts the guest's device in the device-lost state and starts a fresh worker once the
guest asks for a reset.

Worker side: `python -m pvgpu.host.worker CONFIG_JSON` with the region, doorbell, interrupt,
control-socket and watchdog fds inherited.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..protocol.enums import DeviceStatus, ErrorCode, GuestState
from ..transport.control import log_error
from ..transport.local import HostLink
from .render.renderer import MAX_FRAME_BYTES, Frame
from .render.sharing import session_dir

log = logging.getLogger("pvgpu.host")

_HEADER = struct.Struct("<II")  # message kind, payload length
MSG_FRAME, MSG_STATS = 1, 2
ACK, STOP = b"\x01", b"\x00"  # supervisor -> worker bytes
DEFAULT_WATCHDOG_S = 20.0
#: the watchdog memfd: two float64s, when the worker's current bracket began (0: none) and
#: what it brackets (BUSY_GPU: a wait for the GPU; BUSY_COMPILE: shader translation or
#: shader/pipeline compilation)
WATCHDOG_BYTES = 16
BUSY_GPU, BUSY_COMPILE = 0.0, 1.0


def send_message(sock: socket.socket, kind: int, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(kind, len(payload)) + payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv_message(sock: socket.socket) -> tuple[int, bytes] | None:
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    kind, length = _HEADER.unpack(header)
    payload = _recv_exact(sock, length)
    return None if payload is None else (kind, payload)


@dataclass
class SessionStats:
    """What a session has done, as the service sees it (from the worker's reports)."""

    commands: int = 0
    frames: int = 0
    errors: int = 0
    pipeline_hits: int = 0
    pipeline_misses: int = 0
    status: int = DeviceStatus.INITIALIZING
    log_entries: int = 0  # entries the host has written to the guest's error log
    worker_restarts: int = 0
    lost_reason: str = ""
    busy_s: float = 0.0  # the renderer's own processing time (Session.busy_s)
    frame_busy_s: list = field(default_factory=list)  # ... per presented frame, the latest last
    #: re-issued runs of commands (host/replay.py): learned, captured, replayed, and the records replayed
    frame_gpu_wait_s: list = field(default_factory=list)  # ... of which waiting for the GPU
    runs_learned: int = 0
    runs_captured: int = 0
    runs_replayed: int = 0
    commands_replayed: int = 0
    capture_failures: dict = field(default_factory=dict)  # why runs could not be captured: how often
    replay_slab_bytes: int = 0  # the most constant memory the captured runs held at once
    #: presents too large to be read back for presenters (render.renderer.MAX_FRAME_BYTES)
    frames_too_large: int = 0
    #: GPU memory charged to the guest's quota now, and at most (render/memory.py)
    gpu_bytes: int = 0
    gpu_bytes_peak: int = 0
    #: the display mode the guest chose (width, height, refresh in millihertz) and whether it is
    #: fullscreen (Session.display_mode / Session.fullscreen; issue 10)
    display_mode: list = field(default_factory=list)
    fullscreen: bool = False
    #: figures of presenters that run next to the renderer (the window): name -> dict
    gpu_presenters: dict = field(default_factory=dict)

    @classmethod
    def of(cls, session) -> "SessionStats":
        r = session.replayer
        return cls(session.commands_executed, session.frames_presented, session.total_errors,
                   session.stats.pipeline_hits, session.stats.pipeline_misses, int(session.status),
                   session.errors_logged, busy_s=session.busy_s, frame_busy_s=list(session.frame_busy_s),
                   frame_gpu_wait_s=list(session.frame_gpu_wait_s),
                   runs_learned=r.learned if r else 0, runs_captured=r.captures if r else 0,
                   runs_replayed=r.replays if r else 0, commands_replayed=r.replayed_records if r else 0,
                   capture_failures=dict(r.failures) if r else {},
                   replay_slab_bytes=r.peak_slab_bytes if r else 0,
                   frames_too_large=session.renderer.frames_too_large,
                   gpu_bytes=session.renderer.memory.total, gpu_bytes_peak=session.renderer.memory.peak,
                   display_mode=list(session.display_mode or ()), fullscreen=session.fullscreen,
                   gpu_presenters={p.name: p.figures() for p in session.gpu_presenters})


# --- worker side -------------------------------------------------------------------------------
class _WorkerLink:
    """The session's link inside a worker: the doorbell to wait on, and the control socket,
    whose end means "stop" and whose bytes acknowledge forwarded frames. Only the session's
    thread reads the socket; `acks` changes are told to `on_ack` (the frame forwarder)."""

    def __init__(self, region, doorbell, interrupt, ctl: socket.socket):
        self.region, self.doorbell, self.interrupt, self.ctl = region, doorbell, interrupt, ctl
        self.connected = True  # False once the supervisor says stop (the guest has gone)
        self.ctl_open = True  # False once the supervisor itself is gone
        self.acks = 0  # frames the supervisor has taken out of their slots
        self.on_ack: Callable[[], None] = lambda: None

    def read_ctl(self) -> None:
        try:
            data = self.ctl.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.ctl_open = self.connected = False
        self.acks += data.count(ACK)
        if STOP in data:
            self.connected = False
        self.on_ack()

    def pump(self, timeout: float) -> None:
        """Read the supervisor's acknowledgements for up to `timeout` seconds (the doorbell is
        left for the session's own wait)."""
        if self.ctl_open and select.select([self.ctl], [], [], timeout)[0]:
            self.read_ctl()

    def wait(self, timeout: float | None) -> bool:
        r, _, _ = select.select([self.doorbell.fd, self.ctl] if self.ctl_open else [self.doorbell.fd], [], [],
                                timeout)
        if self.ctl in r:
            self.read_ctl()
        if self.doorbell.fd in r:
            self.doorbell.drain()
        return self.connected

    def close(self) -> None:
        pass


FRAME_SLOTS = 3


def frame_slots(frame_bytes: int) -> int:
    """How many slots frames of `frame_bytes` get: FRAME_SLOTS, fewer where they would take
    more than MAX_FRAME_BYTES together (at least one: the renderer reads back no bigger frame)."""
    return max(1, min(FRAME_SLOTS, MAX_FRAME_BYTES // max(1, frame_bytes)))


class _FrameForwarder:
    """Hands presented frames to the supervisor through shared memory: up to FRAME_SLOTS slots
    in a memfd (MAX_FRAME_BYTES in all: `frame_slots`), a short message per frame, a one-byte
    acknowledgement back once it is copied out.

    The copy into a slot runs on a thread of its own, straight out of the mapped read-back
    buffer, which goes back to the renderer afterwards (`frame.release`): the session goes on
    with the next frame meanwhile, and a FENCE after a present completes once the supervisor
    has acknowledged the frames before it (`mark` / `done`, see Session._fence)."""

    def __init__(self, link: _WorkerLink, fd: int, lock: threading.Lock):
        self.link, self.fd, self.lock = link, fd, lock
        self.taken = 0  # frames given to the forwarder
        self.sent = 0  # frames copied into a slot and announced
        self.failed = 0  # frames that could not be forwarded (they count as handed on)
        self.slot_size = 0
        self.slots = FRAME_SLOTS
        self.map: mmap.mmap | None = None
        self._jobs: deque = deque()
        self._cond = threading.Condition()
        self._closing = False
        link.on_ack = self._acked
        self._thread = threading.Thread(target=self._run, name="pvgpu-forward", daemon=True)
        self._thread.start()

    def _acked(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def present(self, session_id: int, frame) -> None:
        release, frame.release = frame.release, None  # the forwarder gives the buffer back
        with self._cond:
            self._jobs.append((frame.pixels, frame.index, frame.presented_at, release))
            self.taken += 1
            self._cond.notify_all()

    def mark(self) -> int:
        return self.taken

    def done(self, mark: int) -> bool:
        return self.link.acks + self.failed >= mark or not self.link.ctl_open

    def flush(self) -> None:
        """Return once the supervisor has taken every frame given so far (or is gone)."""
        mark = self.taken
        while not self.done(mark):
            self.link.pump(0.05)

    def _wait(self, ready) -> bool:
        """On the forwarder's thread: wait until `ready()` (acks arrive through the session's
        thread); False if the supervisor is gone."""
        with self._cond:
            while not ready():
                if not self.link.ctl_open:
                    return False
                self._cond.wait(0.05)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    return
                pixels, index, presented_at, release = self._jobs.popleft()
            try:
                self._send(pixels, index, presented_at)
            except Exception:  # the supervisor went away mid-frame, or no memory for the slots
                with self._cond:
                    self.failed += 1  # later fences must not wait for this frame's acknowledgement
                log.log(logging.WARNING if self.link.ctl_open else logging.DEBUG,
                        "a frame could not be forwarded", exc_info=True)
            finally:
                del pixels
                if release is not None:
                    release()

    def _send(self, pixels, index: int, presented_at: float) -> None:
        pixels = np.ascontiguousarray(pixels)
        if pixels.nbytes > self.slot_size:
            if not self._wait(lambda: self.link.acks >= self.sent):
                return
            if self.map is not None:
                self.map.close()
            self.slot_size = pixels.nbytes
            self.slots = frame_slots(self.slot_size)
            os.ftruncate(self.fd, self.slot_size * self.slots)
            self.map = mmap.mmap(self.fd, self.slot_size * self.slots)
        if not self._wait(lambda: self.sent - self.link.acks < self.slots):
            return
        slot = self.sent % self.slots
        view = np.frombuffer(self.map, dtype=np.uint8, count=pixels.nbytes, offset=slot * self.slot_size)
        view[:] = pixels.reshape(-1)
        del view
        header = {"index": index, "presented_at": presented_at, "shape": pixels.shape,
                  "offset": slot * self.slot_size, "size": self.slot_size * self.slots}
        with self.lock:
            send_message(self.link.ctl, MSG_FRAME, json.dumps(header).encode())
        self.sent += 1

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=10)


def _bracket(busy: np.ndarray, kind: float, on: bool) -> None:
    """Open or close the watchdog's bracket (the kind is written before the time it guards)."""
    if on:
        busy[1] = kind
        busy[0] = time.monotonic()
    else:
        busy[0] = 0.0


def worker_main(config: dict) -> int:
    from ..protocol.layout import RegionLayout
    from ..transport.doorbell import EventFd
    from ..transport.region import Region
    from . import gpu
    from .render.renderer import Renderer
    from .session import Session

    fds = config["fds"]
    region = Region(fds["region"], config["region_size"])
    plan = RegionLayout(**config["plan"])
    region.attach_parts(plan.ring_offset, plan.ring_size, plan.heap_offset, plan.heap_size)
    ctl = socket.socket(fileno=fds["ctl"])
    watchdog = mmap.mmap(fds["watchdog"], WATCHDOG_BYTES)
    busy = np.frombuffer(watchdog, dtype=np.float64, count=2)
    lock = threading.Lock()
    link = _WorkerLink(region, EventFd(fds["doorbell"]), EventFd(fds["interrupt"]), ctl)
    presenters = [_FrameForwarder(link, fds["frames"], lock)] if config["forward_frames"] else []
    device, features = gpu.open_device()
    gpu_presenters = []
    if config.get("window") is not None:
        from .present.window import WindowOptions, WindowPresenter
        gpu_presenters.append(WindowPresenter(device, WindowOptions(vsync=bool(config["window"]["vsync"])),
                                              str(config["window"]["title"])))
    session = Session(config["session_id"], link, Renderer(device, features, config["share_dir"], config["session_id"]), config["offered"],
                      presenters,
                      interrupt=link.interrupt.signal, plan=plan,
                      initial_status=DeviceStatus(config["initial_status"]),
                      on_busy=lambda waiting: _bracket(busy, BUSY_GPU, waiting),
                      gpu_presenters=gpu_presenters, **config.get("quotas", {}))
    session.renderer.readback.pump = link.pump  # frame buffers come back as the supervisor acknowledges
    session.renderer.on_compile = lambda compiling: _bracket(busy, BUSY_COMPILE, compiling)

    last = {"at": 0.0, "status": None}

    def report(force: bool = False) -> None:
        """Send the session's figures: on a status change, else at most twice a second (each
        message wakes the service, which shares the CPUs with guest and renderer)."""
        s = session
        now = time.monotonic()
        key = (s.status, s.errors_logged)
        if not force and key == last["status"] and now - last["at"] < 0.5:
            return
        if not link.ctl_open:
            return
        last["at"], last["status"] = now, key
        try:
            with lock:
                send_message(ctl, MSG_STATS, json.dumps(asdict(SessionStats.of(s))).encode())
        except OSError:  # the supervisor stopped waiting for this worker and closed its end
            link.ctl_open = link.connected = False

    session.after_step = report
    try:
        session.run()
    finally:
        try:
            report(force=True)
        except OSError:
            pass
        for presenter in presenters:  # the session closed its window itself
            presenter.close()
    return 0


# --- supervisor side ---------------------------------------------------------------------------
class WorkerSupervisor:
    """Runs one session in worker processes for as long as its guest stays connected."""

    def __init__(self, session_id: int, link: HostLink, plan, offered: int, presenters: list,
                 watchdog_s: float = DEFAULT_WATCHDOG_S, share_dir: str | None = None, window=None,
                 title: str = "", quotas: dict | None = None):
        """`window` (present.window.WindowOptions or None): the worker shows the session in a
        window of its own, titled with `title`, drawn by its own device."""
        self.session_id = session_id
        self.window = window
        self.title = title or f"session {session_id}"
        self.link = link
        self.plan = plan
        self.offered = offered
        self.presenters = list(presenters)
        self.watchdog_s = watchdog_s
        self.share_dir = share_dir
        self.quotas = dict(quotas or {})  # Session's max_objects / max_bytes (None: its defaults)
        self.stats = SessionStats()
        self.proc: subprocess.Popen | None = None
        self.ctl: socket.socket | None = None
        self._watchdog_fd = os.memfd_create(f"pvgpu-watchdog-{session_id}", os.MFD_CLOEXEC)
        os.ftruncate(self._watchdog_fd, WATCHDOG_BYTES)
        self._watchdog_map = mmap.mmap(self._watchdog_fd, WATCHDOG_BYTES)
        self._busy = np.frombuffer(self._watchdog_map, dtype=np.float64, count=2)
        self._kill_reason = ""
        self._frames_fd = os.memfd_create(f"pvgpu-frames-{session_id}", os.MFD_CLOEXEC)
        self._frames_map: mmap.mmap | None = None

    def _spawn(self, initial_status: DeviceStatus) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        region = self.link.region
        fds = {"region": region.fd, "doorbell": self.link.doorbell.fd, "interrupt": self.link.interrupt.fd,
               "ctl": child.fileno(), "watchdog": self._watchdog_fd, "frames": self._frames_fd}
        config = {"fds": fds, "region_size": region.size, "session_id": self.session_id, "offered": self.offered,
                  "plan": asdict(self.plan), "share_dir": self.share_dir,
                  "forward_frames": bool(self.presenters), "initial_status": int(initial_status),
                  "window": None if self.window is None else {"vsync": bool(self.window.vsync), "title": self.title},
                  "log_level": logging.getLogger("pvgpu").getEffectiveLevel(), "quotas": self.quotas}
        self._busy[0] = 0.0
        # A process group of its own: a terminal's Ctrl-C or a group-wide SIGTERM (systemd) reaches
        # the service, which ends its workers in order, not the workers first.
        self.proc = subprocess.Popen([sys.executable, "-m", "pvgpu.host.worker", json.dumps(config)],
                                     pass_fds=list(fds.values()), stdin=subprocess.DEVNULL, process_group=0)
        child.close()
        self.ctl = parent

    def run(self, stop: threading.Event, on_stats: Callable[[SessionStats], None] | None = None) -> None:
        self._spawn(DeviceStatus.INITIALIZING)
        try:
            while not stop.is_set():
                watch = [self.link.sock] + ([self.ctl] if self.ctl else []) + \
                    ([self.link.doorbell.fd] if self.ctl is None else [])
                r, _, _ = select.select(watch, [], [], 0.25)
                if self.link.sock in r and not self._guest_still_there():
                    break
                if self.ctl is not None and self.ctl in r:
                    if not self._handle_message():
                        self._worker_died()
                        continue
                if self.ctl is not None:
                    self._check_watchdog()
                elif self.link.doorbell.fd in r:
                    self.link.doorbell.drain()
                    if self.link.region.get("guest_state") == GuestState.RESET:
                        self.stats.worker_restarts += 1
                        self._spawn(DeviceStatus.LOST)
        finally:
            self._stop_worker()

    def _guest_still_there(self) -> bool:
        try:
            return bool(self.link.sock.recv(64))
        except OSError:
            return False

    def _handle_message(self) -> bool:
        msg = recv_message(self.ctl)
        if msg is None:
            return False
        kind, payload = msg
        if kind == MSG_FRAME:
            header = json.loads(payload)
            count = int(np.prod(header["shape"]))
            if not 0 < header["size"] <= MAX_FRAME_BYTES or not 0 <= header["offset"] <= header["size"] - count:
                log.error("session %d: the renderer announced a frame outside its slots; dropped", self.session_id)
                self.ctl.sendall(ACK)
                return True
            if self._frames_map is None or len(self._frames_map) != header["size"]:
                if self._frames_map is not None:
                    self._frames_map.close()
                self._frames_map = mmap.mmap(self._frames_fd, header["size"])
            # Presenters see the slot itself (a Frame's pixels are valid during present() only,
            # as with the in-process renderer); the ack frees the slot afterwards.
            pixels = np.frombuffer(self._frames_map, dtype=np.uint8, count=count,
                                   offset=header["offset"]).reshape(header["shape"])
            frame = Frame(pixels, header["index"], None, header.get("presented_at", 0.0))
            try:
                for presenter in self.presenters:
                    presenter.present(self.session_id, frame)
            finally:
                del frame, pixels
                self.ctl.sendall(ACK)  # the slot is free again, and the frame has been presented
        elif kind == MSG_STATS:
            data = json.loads(payload)
            restarts, reason = self.stats.worker_restarts, self.stats.lost_reason
            self.stats = SessionStats(**data)
            self.stats.worker_restarts, self.stats.lost_reason = restarts, reason
        return True

    def _check_watchdog(self) -> None:
        since, kind = float(self._busy[0]), float(self._busy[1])
        if since and time.monotonic() - since > self.watchdog_s and self.proc.poll() is None:
            what = "shader or pipeline compilation" if kind == BUSY_COMPILE else "GPU work"
            self._kill_reason = f"{what} ran longer than the {self.watchdog_s:g} s watchdog allows"
            log.warning("session %d: %s; killing its renderer", self.session_id, self._kill_reason)
            self.proc.kill()

    def _forget_shared_files(self) -> None:
        """Remove the shared-texture files this session's worker made (it is gone; holders in
        other sessions keep their open copies)."""
        if self.share_dir is not None:
            shutil.rmtree(session_dir(self.share_dir, self.session_id), ignore_errors=True)

    def _worker_died(self) -> None:
        code = self.proc.wait()
        self.ctl.close()
        self.ctl = None
        self._forget_shared_files()
        reason = self._kill_reason or f"the renderer process exited unexpectedly (code {code})"
        self._kill_reason = ""
        log.warning("session %d: device lost: %s", self.session_id, reason)
        region = self.link.region
        # The worker reported how many entries it wrote; the page's count (guest-writable) may
        # be a little ahead of that report, never trusted beyond a bound.
        reported = self.stats.log_entries
        index = max(reported, min(region.get("error_count"), reported + 1024))
        self.stats.log_entries = log_error(region, index, ErrorCode.DEVICE_LOST, 0, 0, reason + "; reset the device")
        region.set("device_status", DeviceStatus.LOST)
        self.stats.status = DeviceStatus.LOST
        self.stats.lost_reason = reason
        self.link.interrupt.signal()

    def _stop_worker(self) -> None:
        if self.ctl is not None:
            try:
                self.ctl.sendall(STOP)  # the worker finishes what was published, then exits
                deadline = time.monotonic() + 10
                while (left := deadline - time.monotonic()) > 0:
                    if select.select([self.ctl], [], [], min(left, 0.25))[0] and not self._handle_message():
                        break
                    self._check_watchdog()  # a worker stuck on the GPU is killed, not waited for
            except OSError:
                pass
            self.ctl.close()
            self.ctl = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._forget_shared_files()
        self._busy = None
        self._watchdog_map.close()
        os.close(self._watchdog_fd)
        if self._frames_map is not None:
            self._frames_map.close()
        os.close(self._frames_fd)


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1])
    logging.basicConfig(level=cfg.get("log_level", logging.WARNING), format="%(name)s: %(message)s")
    sys.exit(worker_main(cfg))
