"""The host service: listens on a UNIX socket and gives each guest its own region,
doorbells and session, whose renderer runs in a worker process under a supervisor thread
(or, for tests that look inside, in a thread of this process). One guest leaving, dying or
losing its device never disturbs the others.

Two transports, one per service: "local" (a guest process connects and gets the region's
memfd and eventfds) and "ivshmem" (QEMU's ivshmem-doorbell device connects, and pvgpu speaks
QEMU's ivshmem server protocol; each VM gets a region of its own).

Stopping (`stop`, or `abort` when it must be quick) tells every guest: once its session's
worker has ended, the session's region gets a DEVICE_LOST error entry whose detail is
SHUTDOWN_REASON, device_status becomes LOST and the guest's interrupt is signalled; then the
host closes its end of the connection and the region."""

from __future__ import annotations

import collections
import itertools
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import PvgpuError
from ..protocol import layout as L
from ..protocol.enums import DeviceStatus, ErrorCode, Feature
from ..protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from ..transport.control import format_control_page, log_error
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

#: The error-log detail (with device_status LOST) a guest finds when the host stops serving it.
SHUTDOWN_REASON = "the host is shutting down"
#: ended sessions whose records (figures, end reason) the service keeps
ENDED_KEPT = 64


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
                 window: WindowOptions | None = None, max_objects: int | None = None,
                 max_gpu_bytes: int | None = None):
        """`isolation`: "process" runs each session's renderer in a worker process a
        supervisor restarts (a crash or a hung GPU job becomes device-lost for that guest);
        "thread" runs it in a thread of this process (tests that look inside sessions).
        `name` names its sessions for presenters (a VM's name; else "session N"), and
        `input_sink` takes viewer input for them (QMP input-send-event events).
        `window` shows each session in a desktop window drawn by the session's own device
        (raises PvgpuError at once when there is no display). `max_objects` and
        `max_gpu_bytes` are every session's quotas (None: objects.DEFAULT_MAX_OBJECTS and
        DEFAULT_MAX_BYTES)."""
        for what, value in (("max_objects", max_objects), ("max_gpu_bytes", max_gpu_bytes)):
            if value is not None and value < 1:
                raise PvgpuError(f"{what} must be at least 1, not {value}")
        self.quotas = {"max_objects": max_objects, "max_bytes": max_gpu_bytes}
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
        self.sessions: dict[int, SessionRecord] = {}  # live ones and the last ENDED_KEPT ended ones
        self._ended_ids: collections.deque[int] = collections.deque()
        self.sessions_served = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._socket_inode: int | None = None  # the socket this service bound (and so may remove)
        self._lock = threading.Lock()
        self.offered = gpu.offered_features() | Feature.SHARED_RESOURCES
        self.formats = gpu.format_table()
        # Shared textures' host copies (see render/sharing.py), private to this service's user.
        self.share_dir = tempfile.mkdtemp(prefix="pvgpu-share-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)

    def start(self) -> "HostService":
        try:
            self._listen()
        except BaseException:
            self._remove_share_dir()
            raise
        self._accept_thread = threading.Thread(target=self._accept_loop, name="pvgpu-accept", daemon=True)
        self._accept_thread.start()
        log.info("serving %s to %s guests on %s", gpu.describe_adapter(), self.transport, self.socket_path)
        return self

    def _listen(self) -> None:
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
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.socket_path)
            self._socket_inode = os.stat(self.socket_path).st_ino
            listener.listen(16)
        except OSError as e:
            listener.close()
            self._remove_socket()
            raise PvgpuError(f"cannot listen on {self.socket_path}: {e}") from e
        listener.settimeout(0.2)
        self._listener = listener

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                break
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self._stop.is_set():  # the host is stopping: this guest finds the connection closed
                conn.close()
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
        try:
            record = self._new_record(session_id, link, name)
        except BaseException:  # the guest loses its connection; its region and eventfds go too
            link.close()
            raise
        thread = record.thread
        with self._lock:
            self.sessions[session_id] = record
            self.sessions_served += 1
        info = SessionInfo(session_id, name, self.input_sink, lambda: record.stats, record.process_id)
        for presenter in self.presenters:
            started = getattr(presenter, "session_started", None)
            if started is not None:
                try:
                    started(info)
                except Exception:  # that presenter misses this session; the guest is served
                    log.exception("session %d: a presenter failed at the session's start", session_id)
        thread.start()

    def _new_record(self, session_id: int, link, name: str) -> SessionRecord:
        if self.isolation == "process":
            supervisor = WorkerSupervisor(session_id, link, self.plan, self.offered, self.presenters, self.watchdog_s,
                                          share_dir=self.share_dir, window=self.window, title=name,
                                          quotas=self.quotas)
            thread = threading.Thread(target=self._supervise, args=(session_id, supervisor),
                                      name=f"pvgpu-supervisor-{session_id}", daemon=True)
            return SessionRecord(session_id, thread, supervisor=supervisor)
        device, features = gpu.open_device()
        window = [] if self.window is None else [WindowPresenter(device, self.window, name)]
        session = Session(session_id, link, Renderer(device, features, self.share_dir, session_id), self.offered,
                          self.presenters, interrupt=link.interrupt.signal, plan=self.plan, gpu_presenters=window,
                          **self.quotas)
        thread = threading.Thread(target=self._run_session, args=(session,), name=f"pvgpu-session-{session_id}",
                                  daemon=True)
        return SessionRecord(session_id, thread, session=session)

    def _supervise(self, session_id: int, supervisor: WorkerSupervisor) -> None:
        # Workers inherit this thread's signal mask: with SIGINT blocked, a Ctrl-C sent to the
        # terminal's whole process group reaches the service only, which ends its workers itself.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            supervisor.run(self._stop)
        except Exception:
            log.exception("session %d: supervisor failed", session_id)
        finally:  # the worker has ended
            if self._stop.is_set():
                self._tell_stopping(supervisor.link, supervisor.stats.log_entries)
            supervisor.link.close()
            self._ended(session_id)

    def _run_session(self, session: Session) -> None:
        try:
            session.run(self._stop)
        except Exception:
            log.exception("session %d ended with an internal error", session.id)
        finally:  # session.run closed the session, and with it its window
            if self._stop.is_set():
                self._tell_stopping(session.link, session.errors_logged)
            session.link.close()
            self._ended(session.id)

    def _tell_stopping(self, link, entries: int) -> None:
        """Tell a guest whose session has ended (nothing else writes its region now) that the
        host is going: a DEVICE_LOST entry, device_status LOST, an interrupt. `entries` is the
        host's own count of the entries it wrote; the page's count (guest-writable) is trusted
        only a bounded distance beyond it, as the supervisor does."""
        region = link.region
        try:
            index = max(entries, min(region.get("error_count"), entries + 1024))
            log_error(region, index, ErrorCode.DEVICE_LOST, 0, 0, SHUTDOWN_REASON)
            region.set("device_status", DeviceStatus.LOST)
            link.interrupt.signal()
        except (OSError, ValueError, TypeError, AttributeError):  # the region was closed meanwhile
            log.debug("could not tell a guest that the host is stopping", exc_info=True)

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
        with self._lock:  # a long-running host keeps a bounded history, not every session it served
            self._ended_ids.append(session_id)
            while len(self._ended_ids) > ENDED_KEPT:
                self.sessions.pop(self._ended_ids.popleft(), None)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving: no new guests; each session's worker finishes what its guest had
        published and exits; each guest is told (SHUTDOWN_REASON) and its connection and region
        closed; then the socket and the share folder are removed. Workers still running after
        `timeout` seconds are killed. Safe to call more than once, and on a service that never
        started."""
        self.begin_stop()
        self._join(time.monotonic() + timeout)
        if self._running_threads():
            log.warning("sessions did not end within %.0f s of the stop; killing their workers", timeout)
            self.kill_workers()
            self._join(time.monotonic() + 5)
        self._remove_share_dir()

    def begin_stop(self) -> None:
        """Take no new guests and tell the sessions to end; `stop` waits for them."""
        self._stop.set()
        self._close_listener()

    def abort(self, grace: float = 2.0) -> None:
        """Stop at once: kill every worker (their guests are still told, by their supervisor
        threads), remove the socket and the share folder, and give the sessions at most `grace`
        seconds to close. For a signal handler: it takes no locks."""
        self._stop.set()
        self.kill_workers()
        self._close_listener()
        self._join(time.monotonic() + grace)
        self._remove_share_dir()

    def kill_workers(self) -> None:
        """SIGKILL every session's renderer process."""
        for record in list(self.sessions.values()):
            proc = record.supervisor.proc if record.supervisor is not None else None
            if proc is not None:
                try:
                    proc.kill()
                except OSError:
                    pass

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._remove_socket()

    def _remove_socket(self) -> None:
        """Remove the socket this service bound, not one another host has put there since."""
        inode, self._socket_inode = self._socket_inode, None
        if inode is None:
            return
        try:
            if os.stat(self.socket_path).st_ino == inode:
                os.unlink(self.socket_path)
        except OSError:
            pass

    def _remove_share_dir(self) -> None:
        shutil.rmtree(self.share_dir, ignore_errors=True)

    def _running_threads(self) -> list[threading.Thread]:
        threads = [self._accept_thread] + [r.thread for r in list(self.sessions.values())]
        return [t for t in threads if t is not None and t.is_alive()]

    def _join(self, deadline: float) -> None:
        """Wait for the accept thread, then the session threads, until `deadline`, in short
        slices (the main thread stays free to run signal handlers)."""
        while (threads := self._running_threads()) and (left := deadline - time.monotonic()) > 0:
            threads[0].join(min(left, 0.1))

    def __enter__(self) -> "HostService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
