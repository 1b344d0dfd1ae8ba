"""One guest's session: handshake, the decode-validate-execute loop, errors and device-lost.

The session reads the ring as private copies of published chunks, decodes each record
(protocol checks), resolves ids and heap ranges (host checks) from the spec's field meanings,
then calls the renderer method named after the command. A bad record is logged in the
control page with its sequence number and skipped; a guest that keeps sending bad records
is put in the device-lost state.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import wgpu

from ..protocol import codec
from ..protocol.codec import DecodeError
from ..protocol.enums import FORMAT_BYTES, DeviceStatus, ErrorCode, GuestState, ObjectKind
from ..protocol import layout as L
from ..protocol.layout import RegionLayout
from ..protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from ..protocol.types import Meaning
from ..transport.control import format_control_page, log_error
from ..transport.region import Region
from ..transport.ring import RingCorruptError, RingReader
from .errors import CommandError
from .handlers import check_features, feature_gates, handled_opcodes, make_handlers
from .replay import Replayer
from .objects import ObjectTable
from .pacing import FramePacer
from .render.renderer import Frame, Renderer

log = logging.getLogger("pvgpu.host")

MAX_CONSECUTIVE_ERRORS = 64
MAX_TOTAL_ERRORS = 4096
FRAME_TIMES = 256  # per-frame processing times kept for the stats


class Presenter(Protocol):
    def present(self, session_id: int, frame: Frame) -> None: ...

    def close(self) -> None: ...


class Link(Protocol):
    """What a session needs from a transport: the region, a doorbell to wait on and whether
    the guest is still there (the interrupt to raise is passed to the session separately)."""

    region: Region
    connected: bool

    def wait(self, timeout: float | None) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    meaning: Meaning
    kinds: tuple = ()
    optional: bool = False
    pair: str = ""


@dataclass(frozen=True)
class _CommandPlan:
    layout: codec.CommandLayout
    method: str
    fields: tuple[_FieldPlan, ...]
    new_ids: tuple[tuple[str, ObjectKind], ...]
    element_objects: tuple[_FieldPlan, ...]  # object fields of the array element
    element_names: tuple[str, ...]
    plain: bool  # only pass-through fields: call with positional values
    predicated: bool  # skipped while the renderer's predicate holds

    def values(self, cmd: Any) -> tuple:
        """The pass-through fields of a plain command, in spec order."""
        return tuple([getattr(cmd, p.name) for p in self.fields])


def _plan(layout: codec.CommandLayout) -> _CommandPlan:
    fields, new_ids = [], []
    for f in layout.fields:
        if f.meaning is Meaning.NEW_OBJECT:
            new_ids.append((f.name, f.kinds[0]))
        elif f.meaning is Meaning.HEAP_OFFSET:
            fields.append(_FieldPlan(f.name, f.meaning, pair=f.pair))
        elif f.meaning not in (Meaning.HEAP_SIZE, Meaning.COUNT):
            fields.append(_FieldPlan(f.name, f.meaning, f.kinds, f.optional))
    element_objects = ()
    if layout.element is not None:
        element_objects = tuple(_FieldPlan(f.name, f.meaning, f.kinds, f.optional)
                                for f in layout.element.fields if f.meaning is Meaning.OBJECT)
    plain = layout.element is None and all(
        p.meaning in (Meaning.PLAIN, Meaning.ENUM, Meaning.FLAGS, Meaning.BOOL) for p in fields) and not new_ids
    element_names = tuple(f.name for f in layout.element.fields) if layout.element is not None else ()
    return _CommandPlan(layout, layout.name.lower(), tuple(fields), tuple(new_ids), element_objects, element_names,
                        plain, layout.command.predicated)


PLANS: dict[int, _CommandPlan] = {op: _plan(l) for op, l in codec.LAYOUTS.items() if l.name != "PAD"}
#: Opcodes run by generated handlers (handlers.py); the general path only explains their errors.
GENERATED = handled_opcodes()
_HEADER_UNPACK = codec.HEADER.unpack_from
_CLASS_NAMES = {op: l.cls.__name__ for op, l in codec.LAYOUTS.items()}


class Session:
    def __init__(self, session_id: int, link: Link, renderer: Renderer, offered_features: int,
                 presenters: list[Presenter] = (), interrupt: Callable[[], None] | None = None,
                 max_objects: int | None = None, max_bytes: int | None = None,
                 plan: RegionLayout | None = None,
                 initial_status: DeviceStatus = DeviceStatus.INITIALIZING,
                 on_busy: Callable[[bool], None] | None = None, gpu_presenters: list = (),
                 display_modes: tuple = L.DEFAULT_DISPLAY_MODES):
        """`plan` is how the region was formatted; with it a new guest program may reset the
        session (VM transports, where one region serves guest program after guest program).
        `on_busy(True/False)` brackets every wait for the GPU (a supervisor's watchdog watches it).
        `gpu_presenters` draw the back buffer with this session's own device (a window):
        `present_texture(session_id, texture, frame)`; a frame is read back to the CPU only
        when there are `presenters` too. `display_modes` are the (width, height, refresh in
        millihertz) modes the control page offers (the host's own copy: the page is guest-writable)."""
        self.id = session_id
        self.plan = plan
        self.link = link
        self.region = link.region
        self.offered_features = offered_features
        self.presenters = list(presenters)
        self.gpu_presenters = list(gpu_presenters)
        self.interrupt = interrupt or (lambda: None)
        self.renderer = renderer
        self._methods: dict[int, Callable] = {}
        self.stats = self.renderer.stats
        self.objects = ObjectTable(**{k: v for k, v in (("max_objects", max_objects), ("max_bytes", max_bytes))
                                      if v is not None})
        self.renderer.memory.limit = self.objects.max_bytes  # one quota for ids' bytes and the GPU memory they keep alive
        self.reader = RingReader(self.region.ring, self.region.u64, self.region.u64_slot("ring_producer"),
                                 self.region.u64_slot("ring_consumer"))
        self.consecutive_errors = 0
        self.total_errors = 0
        self.errors_logged = 0
        self._status = initial_status
        self._on_busy = on_busy
        self.renderer.readback.on_wait = self._gpu_wait
        self.gpu_wait_s = 0.0  # of busy_s, the time spent waiting for the GPU (read-backs, fences)
        self._wait_since = 0.0
        self._wait_at_frame = 0.0
        self.frame_gpu_wait_s: deque[float] = deque(maxlen=FRAME_TIMES)
        self.after_step: Callable[[], None] | None = None
        self.commands_executed = 0
        self.frames_presented = 0
        # Host processing time (issue 9): seconds spent in process_ring (decode, validate,
        # execute, submit, GPU waits the commands ask for; not waits for the guest), in total
        # and per presented frame (the last FRAME_TIMES frames). Two perf_counter calls a ring
        # pass, one more a present.
        self.busy_s = 0.0
        self.frame_busy_s: deque[float] = deque(maxlen=FRAME_TIMES)
        self._busy_since = 0.0  # when the current ring pass began
        self._busy_at_frame = 0.0  # busy_s at the end of the last present
        self.last_fence = 0  # the last fence value accepted (completed at once, or pending below)
        self._pending_fences: deque[tuple[int, list]] = deque()
        self._warnings = 0
        self._fence_slot = self.region.u64_slot("fence_completed")
        self._consumer_slot = self.region.u64_slot("ring_consumer")
        self._chunk_pos: int | None = None  # ring position of the chunk being executed
        self._record_end = 0  # end of the record being executed (general path), in that chunk
        self._frames_slot = self.region.u64_slot("presented_frames")
        self._present_refresh_slot = self.region.u64_slot("present_refresh_count")
        self._sync_refresh_slot = self.region.u64_slot("sync_refresh_count")
        self._sync_time_slot = self.region.u64_slot("sync_time_ns")
        self._stats_seq_slot = self.region.u64_slot("frame_stats_sequence")
        self._heap = self.region.heap
        self._heap_size = len(self.region.heap)
        # Display mode and frame pacing (issue 10): one virtual output per session.
        self.display_modes = tuple(tuple(m) for m in tuple(display_modes)[:L.MAX_DISPLAY_MODES])
        self._stop: threading.Event | None = None
        self._stats_sequence = 0
        self._init_display()
        self._accept(0)
        #: runs re-issued frame after frame are replayed (host/replay.py); PVGPU_REPLAY=0 turns it off
        self.replayer = Replayer(self) if os.environ.get("PVGPU_REPLAY", "1") != "0" else None

    # --- loop -----------------------------------------------------------------------------
    @property
    def status(self) -> DeviceStatus:
        """The host's own record of the device state (the control page copy is for the guest,
        which can write anything there)."""
        return self._status

    @property
    def lost(self) -> bool:
        return self._status == DeviceStatus.LOST

    def _set_status(self, status: DeviceStatus) -> None:
        self._status = status
        self.region.set("device_status", status)

    def run(self, stop: threading.Event | None = None, poll_interval: float = 0.25) -> None:
        """Serve the guest until it disconnects (or `stop` is set)."""
        self._stop = stop
        try:
            while self.link.connected and not (stop and stop.is_set()):
                self.link.wait(poll_interval)
                self.step()  # also after a disconnect: what the guest published still runs
                if self.after_step:
                    self.after_step()
        finally:
            self.close()

    def step(self) -> None:
        """Do whatever the guest's control page and ring ask for now."""
        if self.region.get("guest_state") == GuestState.RESET and self.plan is not None:
            self.reset()
            return
        status = self.status
        if status == DeviceStatus.INITIALIZING:
            if self.region.get("guest_state") == GuestState.HELLO:
                self._handshake()
        elif status == DeviceStatus.READY:
            self._busy_since = time.perf_counter()  # moved on by pacing waits, which are not work
            try:
                self.process_ring()
            finally:
                self.busy_s += time.perf_counter() - self._busy_since
                self._busy_since = 0.0
        elif status == DeviceStatus.LOST:
            self._discard_ring()
        if self._pending_fences:
            self._complete_fences()

    def reset(self) -> None:
        """A fresh session for a new guest program: free everything, reformat the page."""
        log.info("session %d: guest asked for a reset", self.id)
        self.objects.clear()
        self.renderer.release_shared()
        self.renderer.reset_state()
        self.renderer.drop_recorded_work()
        self.renderer.drop_pipelines()
        if self.replayer is not None:
            self.replayer.clear()
        format_control_page(self.region, self.plan, self.offered_features, PROTOCOL_MAJOR, PROTOCOL_MINOR,
                            session_id=self.id, format_support=self.renderer.format_caps)
        self.reader = RingReader(self.region.ring, self.region.u64, self.region.u64_slot("ring_producer"),
                                 self.region.u64_slot("ring_consumer"))
        self.consecutive_errors = self.total_errors = self.errors_logged = 0
        self.frames_presented = self.last_fence = 0
        self._pending_fences.clear()
        self._init_display()
        self._accept(0)
        self._status = DeviceStatus.INITIALIZING
        self.interrupt()

    def _handshake(self) -> None:
        major = self.region.get("guest_version_major")
        if major != PROTOCOL_MAJOR:
            detail = f"guest speaks protocol {major}.x, host {PROTOCOL_MAJOR}.x"
            self._log(ErrorCode.VERSION, 0, 0, detail)
            self._set_status(DeviceStatus.REFUSED)
            log.warning("session %d refused: %s", self.id, detail)
        else:
            self._accept(self.region.get("requested_features") & self.offered_features)
            self.region.set("accepted_features", self.accepted_features)
            self._publish_display()
            self._publish_frame_stats()
            self._set_status(DeviceStatus.READY)
            log.info("session %d ready (guest pid %d)", self.id, self.region.get("guest_pid"))
        self.interrupt()

    def _accept(self, features: int) -> None:
        """The feature bits this session serves (the host's own copy: the control page's is
        guest-writable). Commands and field values that need another bit are refused with
        UNSUPPORTED: gated commands get no generated handler, gated field values the gated
        handler variant, and the general path checks `_gates`."""
        self.accepted_features = int(features)
        self._gates = feature_gates(self.accepted_features)
        self._handlers = make_handlers(self.renderer, self)

    def process_ring(self) -> int:
        """Execute every published record; returns how many records were handled."""
        handled = 0
        while True:
            try:
                chunk = self.reader.read_chunk()
            except RingCorruptError as e:
                self._report(ErrorCode.BAD_FRAMING, 0, 0, str(e))
                self._lose_device("the ring positions are corrupt")
                break
            if not chunk:
                break
            if self.renderer.shared_textures:
                # before every batch: the guest may have waited for another process's flush
                # between the batches this loop picks up
                self._take_in_shared()
            n = len(chunk)
            self._chunk_pos = self.reader.pos
            off = 0
            replayer = self.replayer
            look_at = 0 if replayer is not None else n  # the next record that may start a replayable run
            while off < n:
                if off >= look_at:
                    try:
                        used, count, look_at = replayer.visit(chunk, off, n)
                    except Exception:  # a fault of the replayer itself: the session goes on without it
                        log.exception("session %d: replaying runs turned off", self.id)
                        self.replayer = replayer = None
                        used, look_at = 0, n
                    if used:
                        off += used
                        handled += count
                        if self.lost:
                            off = n
                        continue
                size = self._handle_record(chunk, off, n - off)
                off += size
                handled += 1
                if self.lost:
                    off = n
            self.reader.consume(n)
            self.reader.publish()
            if self.lost:
                self._discard_ring()
                break
        if handled:
            self.interrupt()
        return handled

    def _take_in_shared(self) -> None:
        try:
            self.renderer.sync_shared()
        except (CommandError, wgpu.GPUError) as e:
            self._report(getattr(e, "code", ErrorCode.HOST_GPU_ERROR), 0, 0,
                         f"taking in a shared texture's contents: {getattr(e, 'detail', e)}")

    def _handle_record(self, chunk: bytes, off: int, available: int) -> int:
        if available < 16:
            return self._handle_record_general(chunk, off, available)
        opcode, flags, size, seq = _HEADER_UNPACK(chunk, off)
        handler = self._handlers.get(opcode)
        if handler is not None and not flags and size <= available:
            try:
                ok = handler(chunk, off, size, seq)
            except Exception as e:
                self._failed(e, opcode, seq)
                return size
            if ok:
                self.consecutive_errors = 0
                self.commands_executed += 1
                return size
        return self._handle_record_general(chunk, off, available)

    def _handle_record_general(self, chunk: bytes, off: int, available: int) -> int:
        """Decode into a command object and execute it: creating and session commands, and
        the error report of a record a generated handler refused."""
        try:
            seq, cmd, size = codec.decode(chunk, off, available)
        except DecodeError as e:
            if e.code in _FRAMING_CODES:
                # Where the next record starts is unknown: nothing after this one can be
                # executed (a FENCE among it would never complete), so the device is lost at once
                # (its reason is the framing, even where this error is also the limit's last one).
                self._log(e.code, e.opcode, e.seq, e.detail)
                self.consecutive_errors += 1
                self.total_errors += 1
                self._lose_device(f"command stream framing lost: {e.detail}", e.opcode, e.seq)
                return available
            self._report(e.code, e.opcode, e.seq, e.detail)
            return codec.read_header(chunk, off)[2]
        if cmd is None:
            return size
        self._record_end = off + size
        try:
            self.execute(cmd)
            self.consecutive_errors = 0
            self.commands_executed += 1
        except Exception as e:
            self._failed(e, cmd.OPCODE, seq)
        return size

    def _failed(self, e: Exception, opcode: int, seq: int) -> None:
        if isinstance(e, CommandError):
            self._report(e.code, opcode, seq, e.detail)
        elif isinstance(e, wgpu.GPUError):
            self._report(ErrorCode.HOST_GPU_ERROR, opcode, seq, " ".join(str(e).split())[:400])
        else:  # a host bug must not take the host down; the guest hears of it
            if self._warnings < 20:
                log.error("session %d: internal error on %s", self.id, _CLASS_NAMES.get(opcode, opcode), exc_info=e)
            self._report(ErrorCode.HOST_GPU_ERROR, opcode, seq, f"internal host error: {type(e).__name__}: {e}")

    # --- execution ---------------------------------------------------------------------------
    def execute(self, cmd: Any) -> None:
        """Validate ids and heap ranges of a decoded command, then run it."""
        opcode = cmd.OPCODE
        gate = self._gates.get(opcode)
        if gate is not None:
            check_features(cmd, gate)
        special = _SPECIAL.get(opcode)
        if special is not None:
            special(self, cmd)
            return
        plan = PLANS[opcode]
        if plan.predicated and self.renderer.predicated:
            return  # SetPredication: D3D11 skips rendering and resource-changing commands
        if opcode in GENERATED:
            # Only reached when a generated handler refused the record: the checks below raise
            # the error it found (they are the same checks, made the general way).
            self._resolve(cmd, plan)
            raise CommandError(ErrorCode.HOST_GPU_ERROR,
                               f"internal host error: the generated handler of {plan.layout.name} refused a "
                               f"record the general checks accept")
        method = self._methods.get(opcode)
        if method is None:
            method = self._methods[opcode] = getattr(self.renderer, plan.method)
        if plan.plain:  # fields pass through in spec order: positional, no dict
            method(*plan.values(cmd))
            return
        kwargs = self._resolve(cmd, plan)
        if plan.new_ids:
            self.objects.check_room(_estimated_bytes(cmd), plan.layout.name)
        fresh: set[int] = set()
        for name, _kind in plan.new_ids:
            object_id = getattr(cmd, name)
            self.objects.check_new(object_id, name)
            if object_id in fresh:
                raise CommandError(ErrorCode.ID_IN_USE, f"{name}: id {object_id} is given twice in one command")
            fresh.add(object_id)
        result = method(**kwargs)
        if plan.new_ids:
            results = result if len(plan.new_ids) > 1 else (result,)
            added = []
            try:
                for (name, kind), obj in zip(plan.new_ids, results):
                    self.objects.add(getattr(cmd, name), kind, obj)
                    added.append((getattr(cmd, name), obj))
                for object_id, _obj in added[1:]:  # a swap chain owns its back buffer
                    self.objects.own(added[0][0], object_id)
            except CommandError:
                for object_id, obj in added:
                    self.objects.remove(object_id)
                for obj in results:
                    self.renderer.destroy(obj)
                raise

    def _resolve(self, cmd: Any, plan: _CommandPlan) -> dict:
        kwargs: dict[str, Any] = {}
        table = self.objects
        for p in plan.fields:
            value = getattr(cmd, p.name)
            if p.meaning is Meaning.OBJECT:
                kwargs[p.name] = None if (value == 0 and p.optional) else table.get(value, p.kinds, p.name)
            elif p.meaning is Meaning.HEAP_OFFSET:
                size = getattr(cmd, p.pair)
                range_name = p.name.removesuffix("_offset")
                kwargs[range_name] = self._heap_range(value, size, range_name)
            else:
                kwargs[p.name] = value
        layout = plan.layout
        if layout.element is not None:
            items = getattr(cmd, layout.array_attr)
            if plan.element_objects:
                resolved = []
                for i, item in enumerate(items):
                    changes = {}
                    for p in plan.element_objects:
                        value = getattr(item, p.name)
                        where = f"{layout.array_attr}[{i}].{p.name}"
                        changes[p.name] = None if (value == 0 and p.optional) else table.get(value, p.kinds, where)
                    resolved.append(type(item)(*[changes.get(n, getattr(item, n)) for n in plan.element_names]))
                items = resolved
            kwargs[layout.array_attr] = items
        return kwargs

    def _heap_range(self, offset: int, size: int, name: str) -> memoryview | None:
        if size == 0:
            return None
        if offset >= self._heap_size or size > self._heap_size - offset:
            raise CommandError(ErrorCode.HEAP_RANGE,
                               f"{name}: [{offset}, {offset + size}) is outside the {self._heap_size}-byte heap")
        return self._heap[offset:offset + size]

    def _destroy_object(self, cmd: Any) -> None:
        """DESTROY_OBJECT: the id is free at once. A swap chain takes its back buffer with it
        (whose id is then free as well); the back buffer alone cannot be destroyed. As in D3D11,
        views keep their resource usable (the renderer's objects hold it), without an id."""
        objects = self.objects
        objects.get(cmd.object, tuple(ObjectKind), "object")
        objects.check_destroyable(cmd.object, "object")
        for entry in objects.remove_with_owned(cmd.object):
            self.renderer.destroy(entry.obj)

    def _fence(self, cmd: Any) -> None:
        """A fence completes once the GPU has finished the work before it and every frame
        presented before it has been handed on. Presenters that hand frames on from a thread
        of their own (`mark()` / `done(mark)`: the worker's frame forwarder) let the session go
        on with the next commands meanwhile; the fence is then completed in order, later, by
        `_complete_fences`."""
        if cmd.value <= self.last_fence:
            raise CommandError(ErrorCode.INVALID_CALL,
                               f"fence value {cmd.value} is not above the last completed value {self.last_fence}")
        marks: list = []
        try:
            self.renderer.wait_idle()
            marks = [(p, p.mark()) for p in self.presenters if hasattr(p, "mark")]
        finally:
            # Even if the submit failed (its work is dropped and reported), the fence completes:
            # a guest must never wait for work that will not happen.
            self.last_fence = cmd.value
            self._pending_fences.append((cmd.value, marks))
            if self._chunk_pos is not None:
                # the ring up to this FENCE is consumed before the fence completes: a guest that
                # sees the fence completed also sees that space free
                self.region.u64[self._consumer_slot] = self._chunk_pos + self._record_end
            self._complete_fences()

    def _complete_fences(self) -> None:
        """Complete, in order, the fences whose frames every presenter has handed on."""
        pending = self._pending_fences
        done = None
        while pending and all(p.done(m) for p, m in pending[0][1]):
            done = pending.popleft()[0]
        if done is not None:
            self.region.u64[self._fence_slot] = done
            self.interrupt()

    def _flush_fences(self) -> None:
        """Hand every presented frame on and complete every fence (the session is ending)."""
        for presenter in self.presenters:
            if hasattr(presenter, "flush"):
                presenter.flush()
        self._complete_fences()

    def _present(self, cmd: Any) -> None:
        swap_chain = self.objects.get(cmd.swap_chain, (ObjectKind.SWAP_CHAIN,), "swap_chain")
        frame = self.renderer.present(swap_chain, cmd.sync_interval, cmd.flags, read_back=bool(self.presenters))
        self.frames_presented += 1
        self._pace(cmd.sync_interval, frame)
        try:
            for presenter in self.gpu_presenters:
                presenter.present_texture(self.id, swap_chain.back_buffer, frame)
            if frame.pixels is not None:
                for presenter in self.presenters:
                    presenter.present(self.id, frame)
        finally:
            if frame.release is not None:
                frame.release()
        self._mark_frame()

    # --- display mode and frame pacing ----------------------------------------------------------
    def _init_display(self) -> None:
        """Before the guest chooses: mode 0, windowed (so paced at the desktop's 60 Hz)."""
        self.display_mode_index = 0
        self.display_mode: tuple[int, int, int] | None = self.display_modes[0] if self.display_modes else None
        self.fullscreen = False
        self.pacer = FramePacer(self.refresh_mhz, sleep=self.link.wait, keep_waiting=self._guest_present)
        self.pacing_wait_s = 0.0

    @property
    def refresh_mhz(self) -> int:
        """The rate presents are paced to: the chosen mode's when fullscreen, else the desktop's."""
        if self.fullscreen and self.display_mode is not None:
            return min(max(self.display_mode[2], L.MIN_REFRESH), L.MAX_REFRESH)
        return L.DESKTOP_REFRESH

    def _set_display_mode(self, cmd: Any) -> None:
        """SET_DISPLAY_MODE: the session's one output takes the mode."""
        self.objects.get(cmd.swap_chain, (ObjectKind.SWAP_CHAIN,), "swap_chain")
        mode_index, fullscreen = cmd.mode_index, cmd.fullscreen
        if mode_index >= len(self.display_modes):
            raise CommandError(ErrorCode.INVALID_CALL,
                               f"display mode {mode_index} is not offered (the host offers "
                               f"{len(self.display_modes)} modes, 0..{len(self.display_modes) - 1})")
        self.display_mode_index = mode_index
        self.display_mode = self.display_modes[mode_index]
        self.fullscreen = bool(fullscreen)
        self.pacer.set_refresh(self.refresh_mhz)
        self._publish_display()

    def _publish_display(self) -> None:
        self.region.set("display_mode_chosen", self.display_mode_index)
        self.region.set("display_fullscreen", int(self.fullscreen))
        self.region.set("display_refresh", self.refresh_mhz)

    def _guest_present(self) -> bool:
        return self.link.connected and not (self._stop is not None and self._stop.is_set())

    def _pace(self, sync_interval: int, frame: Frame) -> None:
        """Hold the frame until its vblank (sync_interval > 0), then publish the statistics.
        The wait sleeps on the doorbell (so a guest that leaves is seen at once: a session
        whose guest has gone does not wait); it is not processing time."""
        before = self.pacer.waited_ns
        self.pacer.present(sync_interval, wait=self._guest_present())
        waited = (self.pacer.waited_ns - before) / 1e9
        if waited:
            self.pacing_wait_s += waited
            if self._busy_since:
                self._busy_since += waited
            frame.presented_at = time.monotonic()
        self._publish_frame_stats()

    def _publish_frame_stats(self) -> None:
        """presented_frames and DXGI's frame statistics, under a sequence count the guest checks."""
        u64 = self.region.u64
        st = self.pacer.stats
        self._stats_sequence += 1
        u64[self._stats_seq_slot] = self._stats_sequence  # odd: being written
        u64[self._frames_slot] = self.frames_presented
        u64[self._present_refresh_slot] = st.present_refresh_count
        u64[self._sync_refresh_slot] = st.sync_refresh_count
        u64[self._sync_time_slot] = st.sync_time_ns
        self._stats_sequence += 1
        u64[self._stats_seq_slot] = self._stats_sequence

    def _mark_frame(self) -> None:
        """A frame boundary: record the processing time since the previous present."""
        busy = self.busy_s + (time.perf_counter() - self._busy_since if self._busy_since else 0.0)
        self.frame_busy_s.append(busy - self._busy_at_frame)
        self._busy_at_frame = busy
        self.frame_gpu_wait_s.append(self.gpu_wait_s - self._wait_at_frame)
        self._wait_at_frame = self.gpu_wait_s

    def _gpu_wait(self, waiting: bool) -> None:
        """Brackets every wait for the GPU: timed, and told to the supervisor's watchdog."""
        if waiting:
            self._wait_since = time.perf_counter()
        else:
            self.gpu_wait_s += time.perf_counter() - self._wait_since
        if self._on_busy is not None:
            self._on_busy(waiting)

    # --- errors --------------------------------------------------------------------------------
    def _report(self, code: ErrorCode, opcode: int, seq: int, detail: str) -> None:
        self._log(code, opcode, seq, detail)
        self.consecutive_errors += 1
        self.total_errors += 1
        self._warnings += 1
        if self._warnings <= 20 or self._warnings % 1000 == 0:  # a guest must not flood the host's log
            name = codec.LAYOUTS[opcode].name if opcode in codec.LAYOUTS else f"opcode {opcode}"
            log.warning("session %d: #%d %s: %s: %s%s", self.id, seq, name, ErrorCode(code).name, detail,
                        " (further errors of this guest are logged sparsely)" if self._warnings == 20 else "")
        if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS or self.total_errors >= MAX_TOTAL_ERRORS:
            self._lose_device(f"{self.consecutive_errors} consecutive / {self.total_errors} total bad commands")

    def _log(self, code: ErrorCode, opcode: int, seq: int, detail: str) -> None:
        self.errors_logged = log_error(self.region, self.errors_logged, code, opcode, seq, detail)

    def _lose_device(self, why: str, opcode: int = 0, seq: int = 0) -> None:
        """Device-lost: a DEVICE_LOST entry whose detail is `why` (with the record that caused
        it, if one did), then DeviceStatus.LOST; the guest's objects are freed, nothing more of
        its ring is executed and its fences stop completing until it asks for a reset."""
        if self.lost:
            return
        self._log(ErrorCode.DEVICE_LOST, opcode, seq, why)
        self._set_status(DeviceStatus.LOST)
        self.objects.clear()
        self.renderer.release_shared()
        self.renderer.reset_state()
        log.warning("session %d: device lost: %s", self.id, why)
        self.interrupt()

    def _discard_ring(self) -> None:
        try:
            while self.reader.pending():
                self.reader.consume(len(self.reader.read_chunk()))
        except RingCorruptError:
            return
        self.reader.publish()
        self.interrupt()

    def close(self) -> None:
        """Free this guest's objects and drop every view of its region (so it can be unmapped)."""
        try:
            self._flush_fences()
        except Exception:
            log.exception("session %d: frames could not be handed on at the end", self.id)
        for presenter in self.gpu_presenters:
            presenter.close()
        if self.replayer is not None:
            self.replayer.close()
        self.objects.clear()
        self.renderer.release()
        self.reader = None
        self._heap = None


_FRAMING_CODES = frozenset({ErrorCode.TRUNCATED_RECORD, ErrorCode.BAD_FRAMING})
_TEXTURE_CREATES = (codec.Commands.CreateTexture1d, codec.Commands.CreateTexture2d, codec.Commands.CreateTexture3d,
                    codec.Commands.CreateSwapChain)


def _estimated_bytes(cmd: Any) -> int:
    """GPU memory a create command will take, checked against the quota before allocating."""
    if isinstance(cmd, codec.Commands.CreateBuffer):
        return cmd.byte_width
    if isinstance(cmd, _TEXTURE_CREATES):
        texel = FORMAT_BYTES.get(cmd.format, 16)
        mips = 2 if getattr(cmd, "mip_levels", 1) != 1 else 1  # a full chain is at most twice the top mip
        return int(cmd.width * getattr(cmd, "height", 1) * getattr(cmd, "depth", 1) * texel * mips
                   * getattr(cmd, "array_size", 1))
    return 0


_SPECIAL: dict[int, Callable[[Session, Any], None]] = {
    codec.BY_NAME["DESTROY_OBJECT"].opcode: Session._destroy_object,
    codec.BY_NAME["FENCE"].opcode: Session._fence,
    codec.BY_NAME["PRESENT"].opcode: Session._present,
    codec.BY_NAME["SET_DISPLAY_MODE"].opcode: Session._set_display_mode,
}
