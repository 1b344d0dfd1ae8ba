"""A session with the real renderer over a region in this process, fed fuzz streams.

`FuzzHost.run(stream)` plays one input as a guest would (heap writes, then each batch written
into the ring and published, the session stepped) and then checks what must hold after any
input, hostile or not (a broken check is a `Finding`):
- no exception escapes the session;
- the input ends within `time_bound` seconds (a finding, not an assertion on speed);
- the control page agrees with the session: device status, error count; a lost device has
  its DEVICE_LOST entry; a ready one is under the consecutive-error limit;
- no error entry says "internal host error"; a generated handler runs no record the decoder
  refuses; no wgpu error reaches the session uncaught by
  the renderer (`Session._failed` given a `wgpu.GPUError`: a command buffer wgpu refused, its
  work dropped); nothing is logged at ERROR by wgpu (uncaptured errors) or by pvgpu;
- a FENCE published after the input completes (or the device is lost);
- the object table and the renderer's caches stay within their limits, and (sampled every
  `rss_every` inputs) the process's RSS stays under its level after warm-up plus `rss_budget`.
Between inputs the session is reset (`Session.reset`, as a new guest program asks for it);
every `fresh_every` inputs it is closed and a new one (with a new wgpu device) starts.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass, field

import wgpu

from pvgpu.host import gpu
from pvgpu.host.render.pipelines import MAX_CACHED_PIPELINES
from pvgpu.host.render.renderer import Renderer
from pvgpu.host.session import MAX_CONSECUTIVE_ERRORS, Session
from pvgpu.protocol import codec
from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import DeviceStatus, ErrorCode, GuestState
from pvgpu.protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from pvgpu.transport.control import format_control_page, read_errors
from pvgpu.transport.region import Region
from pvgpu.transport.ring import RingWriter

from .record import REGION_SIZE
from .stream import BATCH, Stream, split_records

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
U64_MAX = (1 << 64) - 1
_FENCE = codec.BY_NAME["FENCE"]


class Finding(Exception):
    """A broken host guarantee; `kind` groups findings (crash, hang, leak, ...)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class _Link:
    """No doorbell, no guest process: the harness steps the session itself. `connected` is
    False so presents are not paced (a pacing wait would only measure the clock)."""

    connected = False

    def __init__(self, region: Region):
        self.region = region

    def wait(self, timeout: float | None) -> bool:
        return False

    def close(self) -> None:
        pass


class _NullPresenter:
    """Takes frames and drops them (so presents read back, as with a real CPU presenter)."""

    def present(self, session_id: int, frame) -> None:
        pass

    def close(self) -> None:
        pass


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            tb = e.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 3)[-1]}:{tb.tb_lineno}" if tb else ""
            text += f" ({type(e).__name__}: {e}{where})"
        self.messages.append(text[:2000])


class CheckedSession(Session):
    """A Session that remembers wgpu errors the renderer let through to it, and records its
    generated handlers (handlers.py) ran that the decoder refuses (a check the generated code
    lost)."""

    def __init__(self, *args, **kwargs):
        self.escaped: list[str] = []
        self.unchecked: list[str] = []
        self._wrapped = None
        super().__init__(*args, **kwargs)

    def step(self) -> None:
        if self._handlers is not self._wrapped:
            self._handlers = self._wrapped = {op: self._differential(op, h) for op, h in self._handlers.items()}
        super().step()

    def _differential(self, opcode: int, handler):
        unchecked = self.unchecked

        def checked(data, off, size, seq):
            ran = handler(data, off, size, seq)
            if ran:
                try:
                    codec.decode(data, off, size)
                except codec.DecodeError as e:
                    unchecked.append(f"{codec.LAYOUTS[opcode].name}: the generated handler ran a record the "
                                     f"decoder refuses ({ErrorCode(e.code).name}: {e.detail})")
            return ran

        return checked

    def _failed(self, e: Exception, opcode: int, seq: int) -> None:
        if isinstance(e, wgpu.GPUError):
            name = codec.LAYOUTS[opcode].name if opcode in codec.LAYOUTS else opcode
            self.escaped.append(f"{name}: {type(e).__name__}: {' '.join(str(e).split())[:300]}")
        super()._failed(e, opcode, seq)


def _pieces(batch: bytes, limit: int) -> list[bytes]:
    """A batch cut to fit the ring (a guest publishes at most half the ring at once): whole
    records where the framing allows, raw cuts where one record alone is too large."""
    if len(batch) <= limit:
        return [batch]
    out: list[bytes] = []
    cur: list[bytes] = []
    n = 0
    for rec in split_records(batch):
        if n + len(rec) > limit and cur:
            out.append(b"".join(cur))
            cur, n = [], 0
        if len(rec) > limit:
            out += [rec[i:i + limit] for i in range(0, len(rec), limit)]
            continue
        cur.append(rec)
        n += len(rec)
    if cur:
        out.append(b"".join(cur))
    return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Stats:
    inputs: int = 0
    records: int = 0  # records fed to the session (by their framing)
    executed: int = 0  # of them, commands the session executed
    errors: int = 0  # error-log entries written
    lost: int = 0  # inputs that ended with the device lost
    sessions: int = 0
    findings: list = field(default_factory=list)
    rss_start: int = 0
    rss_warm: int = 0
    rss_peak: int = 0
    seconds: float = 0.0
    slowest: float = 0.0


class FuzzHost:
    def __init__(self, time_bound: float = 20.0, fresh_every: int = 500, rss_every: int = 50,
                 warmup: int = 200, rss_budget: int = 512 << 20, region_size: int = REGION_SIZE):
        self.time_bound = time_bound
        self.fresh_every = fresh_every
        self.rss_every = rss_every
        self.warmup = warmup
        self.rss_budget = rss_budget
        self.plan = L.RegionLayout.plan(region_size)
        self.region = Region.create(region_size, "pvgpu-fuzz")
        self.offered = gpu.offered_features()
        self.stats = Stats(rss_start=_rss_bytes())
        self.log = _Collect()
        for name in ("wgpu", "pvgpu"):
            logger = logging.getLogger(name)
            logger.addHandler(self.log)
            logger.propagate = False
        logging.getLogger("pvgpu").setLevel(logging.ERROR)  # bad commands are warnings, by design
        self.session: CheckedSession | None = None
        self._since_fresh = 0
        self._new_session()

    # --- session life -------------------------------------------------------------------------
    def _new_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
            gc.collect()  # a session and its handlers refer to each other: free the old device now
        device, features = gpu.open_device()
        format_control_page(self.region, self.plan, self.offered, PROTOCOL_MAJOR, PROTOCOL_MINOR, session_id=1)
        renderer = Renderer(device, features, None, 1)
        self.session = CheckedSession(1, _Link(self.region), renderer, self.offered, [_NullPresenter()],
                                      plan=self.plan)
        self.stats.sessions += 1
        self._since_fresh = 0
        self._hello()

    def _reset(self) -> None:
        self.region.set("guest_state", GuestState.RESET)
        self.session.step()
        self._hello()

    def _hello(self) -> None:
        r, s = self.region, self.session
        r.set("guest_version_major", PROTOCOL_MAJOR)
        r.set("guest_version_minor", PROTOCOL_MINOR)
        r.set("requested_features", self.offered)
        r.set("guest_state", GuestState.HELLO)
        s.step()
        if s.status != DeviceStatus.READY:
            raise Finding("handshake", f"a fresh session answered the handshake with {s.status!r}")
        self.writer = RingWriter(r.ring, r.u64, r.u64_slot("ring_producer"), r.u64_slot("ring_consumer"),
                                 self._make_room)
        self.errors_seen = 0

    def _make_room(self, target: int) -> None:
        self.writer.publish()
        self.session.step()
        if int(self.region.u64[self.region.u64_slot("ring_consumer")]) < target:
            raise Finding("hang", "the session left published records in the ring unconsumed")

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        self.region.close()

    # --- one input ----------------------------------------------------------------------------
    def run(self, stream: Stream) -> int:
        """Play one input and check it; returns the records fed. Raises Finding."""
        if self._since_fresh >= self.fresh_every:
            self._new_session()
        elif self.stats.inputs:
            self._reset()
        self._since_fresh += 1
        s = self.session
        st = self.stats
        errors_before = s.errors_logged
        executed_before = s.commands_executed
        self.log.messages.clear()
        s.escaped.clear()
        s.unchecked.clear()
        t0 = time.perf_counter()
        fed = 0
        try:
            fed = self._play(stream)
            fence = self._final_fence()
        except Finding:
            raise
        except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
            raise Finding("exception", f"{type(e).__name__}: {e}") from e
        finally:
            took = time.perf_counter() - t0
            st.seconds += took
            st.slowest = max(st.slowest, took)
            st.inputs += 1
            st.records += fed
            st.executed += s.commands_executed - executed_before
            st.errors += s.errors_logged - errors_before
            st.lost += s.lost
        if took > self.time_bound:
            raise Finding("hang", f"the input took {took:.1f} s (bound {self.time_bound:.0f} s)")
        self._check(fence)
        if st.inputs % self.rss_every == 0:
            self._check_memory()
        return fed

    def _play(self, stream: Stream) -> int:
        heap = self.region.heap
        heap_size = len(heap)
        fed = 0
        max_batch = self.writer.max_record
        for kind, offset, data in stream.items:
            if kind != BATCH:
                offset %= heap_size
                n = min(len(data), heap_size - offset)
                heap[offset:offset + n] = data[:n]
                continue
            for piece in _pieces(data, max_batch):
                piece += bytes(-len(piece) % 16)  # the ring holds whole 16-byte units
                off = self.writer.reserve(len(piece))
                self.writer.ring[off:off + len(piece)] = piece
                self.writer.commit(len(piece))
                self.writer.publish()
                self.session.step()
                fed += len(split_records(piece))
        return fed

    def _final_fence(self) -> int:
        """Publish FENCE(last + 1) in a batch of its own; returns its value (0: none sent)."""
        s = self.session
        if s.lost or s.last_fence >= U64_MAX:
            return 0
        value = s.last_fence + 1
        self.writer.write(_FENCE.encode(0xF0F0, (value,)))
        self.writer.publish()
        s.step()
        return value

    def _check(self, fence: int) -> None:
        s, r = self.session, self.region
        if s.escaped:
            raise Finding("wgpu-error", "a wgpu error reached the session (the renderer let wgpu refuse "
                                        "the work): " + s.escaped[0])
        if s.unchecked:
            raise Finding("handler-check", s.unchecked[0])
        if r.get("device_status") != s.status:
            raise Finding("status", f"control page says {r.get('device_status')}, the session {s.status!r}")
        if r.get("error_count") != s.errors_logged:
            raise Finding("error-log", f"control page counts {r.get('error_count')} errors, "
                                       f"the session logged {s.errors_logged}")
        entries = read_errors(r, self.errors_seen)
        self.errors_seen = s.errors_logged
        for e in entries:
            if "internal host error" in e.detail:
                raise Finding("internal-error", e.describe())
        if self.log.messages:
            first = self.log.messages[0]
            raise Finding("wgpu-log" if first.startswith("wgpu:") else "logged-error", first)
        if s.status == DeviceStatus.LOST:
            if not any(e.code == ErrorCode.DEVICE_LOST for e in read_errors(r)):
                raise Finding("error-log", "the device is lost without a DEVICE_LOST entry")
        elif s.status == DeviceStatus.READY:
            if s.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                raise Finding("status", f"{s.consecutive_errors} consecutive errors and the device is still ready")
            if fence and int(r.u64[r.u64_slot("fence_completed")]) != fence:
                raise Finding("fence", f"fence {fence} published after the input was not completed "
                                       f"(completed: {int(r.u64[r.u64_slot('fence_completed')])})")
            if r.get("ring_producer") != r.get("ring_consumer"):
                raise Finding("hang", "records left unconsumed in the ring")
        else:
            raise Finding("status", f"the session ended an input in status {s.status!r}")
        if len(s.objects.entries) > s.objects.max_objects:
            raise Finding("leak", f"{len(s.objects.entries)} objects, over the quota of {s.objects.max_objects}")
        caches = {"pipelines": len(s.renderer._pipelines), "bind groups": len(s.renderer._bind_groups)}
        for name, n in caches.items():
            if n > MAX_CACHED_PIPELINES + 1:
                raise Finding("leak", f"{n} cached {name}, over the limit of {MAX_CACHED_PIPELINES}")

    def _check_memory(self) -> None:
        st = self.stats
        rss = _rss_bytes()
        st.rss_peak = max(st.rss_peak, rss)
        if st.inputs <= self.warmup:
            st.rss_warm = max(st.rss_warm, rss)
        elif rss > st.rss_warm + self.rss_budget:
            raise Finding("leak", f"RSS {rss >> 20} MiB after {st.inputs} inputs, "
                                  f"{st.rss_warm >> 20} MiB after warm-up (budget {self.rss_budget >> 20} MiB)")
