"""What every presenter shares: the session description presenters are told about, and
`QueuedPresenter`, the base of presenters that must never hold up a guest.

A presenter is any object with `present(session_id, frame)` and `close()`. It may also have:
- `session_started(info: SessionInfo)` and `session_ended(session_id)`: told by the service;
- `mark()`, `done(mark)` and `flush()`: a presenter that hands every frame on from a thread
  of its own (the worker's frame forwarder) holds a guest's FENCE until the frames before it
  are through (see Session._fence); `flush()` waits for all of them;
- `counters(session_id) -> PresenterCounters`: what it showed and dropped, for `pvgpu top`
  and `/metrics`.

`frame.pixels` is valid during `present()` only. The service calls presenters one after the
other on the thread that forwards the session's frames, so a presenter that encodes, draws or
sends does that on its own thread: `QueuedPresenter` copies the frame into a bounded queue
and drops the oldest waiting frame when the queue is full.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..render.renderer import Frame

log = logging.getLogger("pvgpu.present")

ENDED_KEPT = 64  # ended sessions whose counters a presenter keeps


@dataclass
class SessionInfo:
    """A session as presenters see it."""

    session_id: int
    name: str  # "session 3", or the VM's name
    #: where viewer input goes: a list of QMP `input-send-event` events (None: the session
    #: takes no input, e.g. a local guest process)
    send_input: Callable[[list[dict]], None] | None = None
    #: the session's figures (worker.SessionStats) as the service sees them now
    stats: Callable[[], object] | None = None
    #: the process running the session's renderer (its worker, or the service itself), for
    #: memory figures; None once it is gone
    process_id: Callable[[], int | None] | None = None


@dataclass
class PresenterCounters:
    """One presenter's figures for one session."""

    received: int = 0  # frames handed to the presenter
    shown: int = 0  # frames it finished (written, drawn, sent, encoded)
    dropped: int = 0  # frames it skipped because it was still busy with older ones
    failed: int = 0  # frames whose show() raised (a full disk, a closed window)
    cpu_s: float = 0.0  # CPU time its own thread spent on shown frames
    last_latency_s: float = 0.0  # host PRESENT to frame finished, for the last frame
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=1024))


@dataclass
class QueuedFrame:
    session_id: int
    pixels: np.ndarray  # a copy the presenter owns
    index: int
    presented_at: float


class QueuedPresenter(abc.ABC):
    """Base of presenters whose work runs on a thread of their own.

    `present()` copies the pixels into a queue of at most `depth` frames per session; when the
    queue is full the oldest waiting frame is dropped and counted, so a slow presenter costs
    the guest one copy per frame and never more. Subclasses implement `show(frame)`, and may
    implement `started(info)`, `ended(session_id)` and `stop()` (called once, on the thread
    that calls `close()`, after the last frame was shown)."""

    name = "presenter"

    def __init__(self, depth: int = 2, workers: int = 1, queue_bytes: int = 0):
        """`workers` threads call `show()` (more than one only where frames may finish out of
        order, such as files named by index). A session's queue holds `depth` frames, or as
        many as fit in `queue_bytes` where that is more (small frames wait longer)."""
        self.depth = depth
        self.queue_bytes = queue_bytes
        self._queue: deque[QueuedFrame] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._busy = 0
        self._counters: dict[int, PresenterCounters] = {}
        self._ended: deque[int] = deque()  # ended sessions whose counters are kept, oldest first
        self.dropped_total = 0  # over every session, ended ones included
        self.sessions: dict[int, SessionInfo] = {}
        self.errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._loop, name=f"pvgpu-{self.name}", daemon=True)
                         for _ in range(workers)]
        for t in self._threads:
            t.start()

    # --- what the service calls -------------------------------------------------------------
    def counters(self, session_id: int) -> PresenterCounters:
        c = self._counters.get(session_id)
        if c is None:
            c = self._counters[session_id] = PresenterCounters()
        return c

    def session_started(self, info: SessionInfo) -> None:
        self.sessions[info.session_id] = info
        self.started(info)

    def session_ended(self, session_id: int) -> None:
        self.ended(session_id)
        self.sessions.pop(session_id, None)
        with self._cond:  # a long-running service keeps the figures of its last ENDED_KEPT sessions
            self._ended.append(session_id)
            while len(self._ended) > ENDED_KEPT:
                self._counters.pop(self._ended.popleft(), None)

    def present(self, session_id: int, frame: Frame) -> None:
        c = self.counters(session_id)
        c.received += 1
        item = QueuedFrame(session_id, np.array(frame.pixels, copy=True), frame.index,
                           frame.presented_at or time.monotonic())
        with self._cond:
            if self._closing:
                return
            waiting = [q for q in self._queue if q.session_id == session_id]
            limit = max(self.depth, self.queue_bytes // max(1, item.pixels.nbytes))
            if len(waiting) >= limit:
                self._queue.remove(waiting[0])
                c.dropped += 1
                self.dropped_total += 1
            self._queue.append(item)
            self._cond.notify()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued frame has been shown (tests, and close)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        self.drain()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=10)
        self.stop()
        if self.errors:
            log.warning("%s: %d frame(s) failed; first: %s", self.name, len(self.errors), self.errors[0])

    # --- subclass hooks -------------------------------------------------------------------------
    @abc.abstractmethod
    def show(self, frame: QueuedFrame) -> None:
        """Encode, write, draw or send one frame (on the presenter's own thread)."""

    def started(self, info: SessionInfo) -> None:
        pass

    def ended(self, session_id: int) -> None:
        pass

    def stop(self) -> None:
        pass

    # --- the presenter's thread ---------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                item = self._queue.popleft()
                self._busy += 1
            c = self.counters(item.session_id)
            cpu = time.thread_time()
            shown = False
            try:
                self.show(item)
                shown = True
            except Exception as e:  # one bad frame (a full disk, a closed window) is counted, not fatal
                if len(self.errors) < 16:
                    self.errors.append(e)
                log.debug("%s: frame %d of session %d failed: %s", self.name, item.index, item.session_id, e)
            finally:
                with self._cond:
                    c.cpu_s += time.thread_time() - cpu
                    if shown:
                        c.shown += 1
                        c.last_latency_s = time.monotonic() - item.presented_at
                        c.latencies_s.append(c.last_latency_s)
                    else:
                        c.failed += 1
                    self._busy -= 1
                    self._cond.notify_all()
