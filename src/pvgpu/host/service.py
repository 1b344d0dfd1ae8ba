"""The host service: listens on a UNIX socket and gives each guest its own region,
doorbells and session, whose renderer runs in a worker process under a supervisor thread
(or, for tests that look inside, in a thread of this process). One guest leaving, dying or
losing its device never disturbs the others.

Two transports, one per service: "local" (a guest process connects and gets the region's
memfd and eventfds) and "ivshmem" (QEMU's ivshmem-doorbell device connects, and pvgpu speaks
QEMU's ivshmem server protocol; each VM gets a region of its own)."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Callable

from ..errors import PvgpuError
from ..protocol import layout as L
from ..protocol.enums import Feature
from ..protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from ..transport.control import format_control_page
from ..transport import ivshmem, local
from ..transport.region import Region
from . import gpu
from .present.base import SessionInfo
from .present.window import WindowOptions, WindowPresenter, require_display
from .render.renderer import Renderer
from .session import Presenter, Session
from .worker import DEFAULT_WATCHDOG_S, SessionStats, WorkerSupervisor

log = logging.getLogger("pvgpu.host")

#: Session ids are unique in this process, across services (`pvgpu serve` runs a local and an
#: ivshmem service side by side, and presenters key sessions by id).
_SESSION_IDS = itertools.count(1)


@dataclass
class SessionRecord:
    """One guest's session as the service tracks it (in a thread or in worker processes)."""

    session_id: int
    thread: threading.Thread
    session: Session | None = None  # isolation="thread": the session itself
    supervisor: WorkerSupervisor | None = None  # isolation="process"
    ended: threading.Event = field(default_factory=threading.Event)

    def process_id(self) -> int | None:
        """The process running the session's renderer now (None once it has ended)."""
        if self.ended.is_set():
            return None
        if self.supervisor is not None:
            proc = self.supervisor.proc
            return proc.pid if proc is not None and proc.poll() is None else None
        return os.getpid()

    @property
    def stats(self) -> SessionStats:
        if self.supervisor is not None:
            return self.supervisor.stats
        return SessionStats.of(self.session)


class HostService:
    def __init__(self, socket_path: str, region_size: int = L.DEFAULT_REGION_SIZE,
                 ring_size: int = L.DEFAULT_RING_SIZE, presenters: list[Presenter] = (),
                 on_session_end: Callable[[SessionRecord], None] | None = None, transport: str = "local",
                 isolation: str = "process", watchdog_s: float = DEFAULT_WATCHDOG_S, max_sessions: int = 64,
                 name: str | None = None, input_sink: Callable[[list[dict]], None] | None = None,
                 window: WindowOptions | None = None):
        """`isolation`: "process" runs each session's renderer in a worker process a
        supervisor restarts (a crash or a hung GPU job becomes device-lost for that guest);
        "thread" runs it in a thread of this process (tests that look inside sessions).
        `name` names its sessions for presenters (a VM's name; else "session N"), and
        `input_sink` takes viewer input for them (QMP input-send-event events).
        `window` shows each session in a desktop window drawn by the session's own device
        (raises PvgpuError at once when there is no display)."""
        if window is not None:
            require_display()
        self.window = window
        self.name = name
        self.input_sink = input_sink
        if isolation not in ("process", "thread"):
            raise PvgpuError(f"unknown isolation {isolation!r} (process or thread)")
        self.isolation = isolation
        self.watchdog_s = watchdog_s
        self.max_sessions = max_sessions
        if transport not in ("local", "ivshmem"):
            raise PvgpuError(f"unknown transport {transport!r} (local or ivshmem)")
        if transport == "ivshmem" and region_size & (region_size - 1):
            raise PvgpuError(f"an ivshmem region must be a power of two in size, not {region_size} bytes")
        self.transport = transport
        self.socket_path = socket_path
        try:
            self.plan = L.RegionLayout.plan(region_size, ring_size)
        except ValueError as e:
            raise PvgpuError(str(e)) from None
        self._peer_ids = itertools.count(1)
        self.presenters = list(presenters)
        self.on_session_end = on_session_end
        self.sessions: dict[int, SessionRecord] = {}
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.offered = gpu.offered_features() | Feature.SHARED_RESOURCES
        self.formats = gpu.format_table()
        # Shared textures' host copies (see render/sharing.py), private to this service's user.
        self.share_dir = tempfile.mkdtemp(prefix="pvgpu-share-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)

    def start(self) -> "HostService":
        if os.path.exists(self.socket_path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.socket_path)
                probe.close()
                raise PvgpuError(f"another pvgpu host is already serving {self.socket_path}")
            except (ConnectionRefusedError, FileNotFoundError):
                os.unlink(self.socket_path)  # a stale socket from a host that died
            finally:
                probe.close()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket_path)
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self._accept_thread = threading.Thread(target=self._accept_loop, name="pvgpu-accept", daemon=True)
        self._accept_thread.start()
        log.info("serving %s to %s guests on %s", gpu.describe_adapter(), self.transport, self.socket_path)
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self.active_sessions() >= self.max_sessions:
                log.error("refusing a guest: %d sessions are already being served", self.max_sessions)
                conn.close()
                continue
            try:
                self._start_session(conn)
            except Exception as e:  # a failed set-up costs that guest its connection, nothing more
                log.error("could not start a session: %s", e)
                conn.close()

    def active_sessions(self) -> int:
        with self._lock:
            return sum(1 for r in self.sessions.values() if not r.ended.is_set())

    def _start_session(self, conn: socket.socket) -> None:
        session_id = next(_SESSION_IDS)
        region = Region.create(self.plan.region_size, f"pvgpu-session-{session_id}")
        try:
            format_control_page(region, self.plan, self.offered, PROTOCOL_MAJOR, PROTOCOL_MINOR,
                                session_id=session_id, format_support=self.formats)
            if self.transport == "ivshmem":
                link = ivshmem.offer_region(conn, region, (next(self._peer_ids) - 1) % 65535 + 1)
            else:
                link = local.offer_region(conn, region)
        except BaseException:
            region.close()
            raise
        name = self.name or f"session {session_id}"
        if self.isolation == "process":
            supervisor = WorkerSupervisor(session_id, link, self.plan, self.offered, self.presenters, self.watchdog_s,
                                          share_dir=self.share_dir, window=self.window, title=name)
            thread = threading.Thread(target=self._supervise, args=(session_id, supervisor),
                                      name=f"pvgpu-supervisor-{session_id}", daemon=True)
            record = SessionRecord(session_id, thread, supervisor=supervisor)
        else:
            device, features = gpu.open_device()
            window = [] if self.window is None else [WindowPresenter(device, self.window, name)]
            session = Session(session_id, link, Renderer(device, features, self.share_dir, session_id), self.offered,
                              self.presenters,
                              interrupt=link.interrupt.signal, plan=self.plan, gpu_presenters=window)
            thread = threading.Thread(target=self._run_session, args=(session,), name=f"pvgpu-session-{session_id}",
                                      daemon=True)
            record = SessionRecord(session_id, thread, session=session)
        with self._lock:
            self.sessions[session_id] = record
        info = SessionInfo(session_id, name, self.input_sink, lambda: record.stats, record.process_id)
        for presenter in self.presenters:
            started = getattr(presenter, "session_started", None)
            if started is not None:
                started(info)
        thread.start()

    def _supervise(self, session_id: int, supervisor: WorkerSupervisor) -> None:
        try:
            supervisor.run(self._stop)
        except Exception:
            log.exception("session %d: supervisor failed", session_id)
        finally:
            supervisor.link.close()
            self._ended(session_id)

    def _run_session(self, session: Session) -> None:
        try:
            session.run(self._stop)
        except Exception:
            log.exception("session %d ended with an internal error", session.id)
        finally:  # session.run closed the session, and with it its window
            session.link.close()
            self._ended(session.id)

    def _ended(self, session_id: int) -> None:
        with self._lock:
            record = self.sessions.get(session_id)
        if record is None:
            return
        st = record.stats
        log.info("session %d ended: %d commands, %d frames, %d errors", session_id, st.commands, st.frames, st.errors)
        for presenter in self.presenters:
            ended = getattr(presenter, "session_ended", None)
            if ended is not None:
                try:
                    ended(session_id)
                except Exception:
                    log.exception("session %d: a presenter failed at the session's end", session_id)
        if self.on_session_end:
            self.on_session_end(record)
        record.ended.set()

    def wait(self) -> None:
        """Serve until stopped (Ctrl-C)."""
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        for record in list(self.sessions.values()):
            record.thread.join(timeout=10)
        if os.path.exists(self.socket_path):
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass
        shutil.rmtree(self.share_dir, ignore_errors=True)

    def __enter__(self) -> "HostService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
