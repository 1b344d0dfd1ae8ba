"""Recognising runs of commands a guest re-issues frame after frame, and replaying them (issue 9).

A run is a maximal sequence of records whose opcodes are state setters, draws, dispatches,
clears and constant-buffer writes (`REPLAYABLE`), ended by any other record. The session hands each
record that may start a run to `Replayer.visit`:

1. **Learn.** The first time a run is seen whole (ended inside the chunk), its bytes become a
   template: a copy with each record's sequence number and heap offsets masked out (the guest
   allocates heap space afresh every frame), together with the renderer's D3D11 state at its
   start. It executes normally.
2. **Capture.** The next time the same bytes come with the same state at entry, the renderer
   captures the run as it executes it (`render/capture.py`): render bundles, passes, and the
   constant-buffer writes placed at fixed offsets of the run's own uniform memory (a slab).
3. **Replay.** From then on, a matching run is not decoded at all: the bytes are compared with
   the template in one vectorised operation, the heap ranges it names are bounds-checked and
   their contents gathered into the slab, and the renderer replays the capture.

A replay is the same work as executing the records, because everything the execution
depends on is checked to be equal first: the record bytes other than heap offsets and
sequence numbers (so every id, enum, count, size and value the validation saw), the heap
ranges lying inside the heap, the renderer's D3D11 state at entry, no object destroyed and no
backing renamed since the capture (`Renderer.epoch`: ids then name the same objects), and the
constant buffers the run reads from outside where they were. The contents of the
constant-buffer writes are the only thing that differs, and they are data.
"""

from __future__ import annotations

import copy
import os
import struct
from collections import OrderedDict

import numpy as np

from ..protocol import codec
from ..protocol.types import Meaning
from .render import capture as C

_NAMES = ("SET_RENDER_TARGETS", "SET_VIEWPORTS", "SET_SCISSOR_RECTS", "SET_VERTEX_BUFFERS", "SET_INDEX_BUFFER",
          "SET_PRIMITIVE_TOPOLOGY", "SET_INPUT_LAYOUT", "SET_VERTEX_SHADER", "SET_PIXEL_SHADER",
          "SET_CONSTANT_BUFFERS", "SET_SHADER_RESOURCES", "SET_SAMPLERS", "SET_BLEND_STATE",
          "SET_RASTERIZER_STATE", "SET_DEPTH_STENCIL_STATE", "DRAW", "DRAW_INDEXED", "DRAW_INSTANCED",
          "DRAW_INDEXED_INSTANCED", "CLEAR_RENDER_TARGET_VIEW", "CLEAR_DEPTH_STENCIL_VIEW", "MAP_WRITE_DISCARD",
          "UPDATE_SUBRESOURCE", "SET_COMPUTE_SHADER", "SET_UNORDERED_ACCESS_VIEWS", "DISPATCH")
_BY_NAME = {layout.name: op for op, layout in codec.LAYOUTS.items()}
#: opcodes a replayable run may hold
REPLAYABLE = frozenset(_BY_NAME[n] for n in _NAMES)
#: opcode -> its smallest valid record (a shorter one is the usual path's error to report)
_MIN_SIZE = {op: codec.HEADER_SIZE + codec.LAYOUTS[op].fixed_size for op in REPLAYABLE}
#: opcode -> byte positions (in the record) of its heap-offset fields
HEAP_OFFSETS = {op: tuple(codec.HEADER_SIZE + s.offset for s in codec.LAYOUTS[op].slots
                          if s.field.meaning is Meaning.HEAP_OFFSET)
                for op in REPLAYABLE}
_DATA_OPS = frozenset(op for op, pos in HEAP_OFFSETS.items() if pos)

MIN_RECORDS = 32  # shorter runs are not worth a template
MAX_TRACES = 64  # per session, least recently used dropped first
MAX_PER_KEY = 16  # traces starting with the same record (each one matched costs a compare)
MAX_TEMPLATE_BYTES = 16 << 20  # all templates of a session together
MAX_SLAB_BYTES = 4 << 20  # one run's constant data
MAX_SESSION_SLAB_BYTES = 32 << 20  # all captured runs' constant memory (GPU and its CPU stage) together
RETRY_AFTER = 64  # sightings before a run that failed to capture is tried again
FRUITLESS_LEARNS = 16
LEARN_EVERY = 16

_LEARNED, _CAPTURED, _FAILED = range(3)
_HEADER = codec.HEADER.unpack_from


def _field_mask(slots) -> bytes:
    """0xFF over the bytes of value fields, 0 over pads and heap offsets."""
    size = max((sl.offset + struct.calcsize("<" + sl.field.wire.code) for sl in slots), default=0)
    mask = bytearray(size)
    for sl in slots:
        if sl.field.meaning not in (Meaning.PAD, Meaning.HEAP_OFFSET):
            n = struct.calcsize("<" + sl.field.wire.code)
            mask[sl.offset:sl.offset + n] = b"\xff" * n
    return bytes(mask)


def _record_masks(opcode: int) -> tuple[bytes, bytes | None, int, int]:
    """(mask of the record's header and fixed fields, mask of one array element, element size,
    byte position of the count field). The guest need not write a record's pads and the bytes
    after its last field up to the 16-byte record boundary: they may hold anything (an earlier
    lap of the ring), so they are not compared."""
    layout = codec.LAYOUTS[opcode]
    fixed = b"\xff" * 8 + bytes(8) + _field_mask(layout.slots)  # the sequence number masked
    el = layout.element
    if el is None:
        return fixed, None, 0, 0
    count_slot = next(sl for sl in layout.slots if sl.field is layout.count_field)
    fixed = fixed + bytes(codec.HEADER_SIZE + layout.fixed_size - len(fixed))
    return fixed, _field_mask(el.slots).ljust(el.size, b"\0"), el.size, codec.HEADER_SIZE + count_slot.offset


_MASKS = {op: _record_masks(op) for op in REPLAYABLE}


def _mask_record(mask: np.ndarray, data, pos: int, opcode: int, size: int) -> None:
    """Write the record at `pos`'s compare mask into `mask[pos:pos + size]` (zeros there first)."""
    fixed, element, el_size, count_at = _MASKS[opcode]
    mask[pos:pos + len(fixed)] = np.frombuffer(fixed, np.uint8)
    if element is not None:
        count = int.from_bytes(bytes(data[pos + count_at:pos + count_at + 4]), "little")
        start = pos + len(fixed)
        count = min(count, (size - len(fixed)) // el_size)
        if count:
            mask[start:start + count * el_size] = np.tile(np.frombuffer(element, np.uint8), count)


def _key(chunk: bytes, off: int, size: int, opcode: int) -> bytes:
    """The first record's bytes that are value fields (no sequence number, heap offsets or pads)."""
    rec = np.frombuffer(chunk, np.uint8, size, off)
    mask = np.zeros(size, np.uint8)
    _mask_record(mask, rec, 0, opcode, size)
    return (rec & mask).tobytes()


class Trace:
    """A learned run: its masked template and, once captured, its recording and slab."""

    def __init__(self, key: bytes, seg: np.ndarray, mask: np.ndarray, data_fields: list[int], records: int,
                 entry: tuple, epoch: int, slab_bytes: int):
        self.key = key
        self.nbytes = len(seg)
        self.mask = mask
        self.template = seg & mask
        self.scratch = np.empty_like(seg)
        self.data_index = np.array(data_fields, np.int64) // 8  # u64 index of each heap offset field
        self.data_sizes = np.frombuffer(seg.tobytes(), "<u8")[self.data_index + 1].astype(np.int64)
        self.records = records
        self.entry = entry
        self.epoch = epoch
        self.slab_bytes = slab_bytes
        self.state = _LEARNED
        self.recording: C.Recording | None = None
        self.slab: C.Slab | None = None
        self.wait = 0  # sightings left before a failed run is tried again
        self._rows = None  # (source row offsets, record of each row, destination rows) for the gather

    def fork(self) -> "Trace":
        """A trace of the same bytes, to be learned with another state at entry."""
        other = copy.copy(self)
        other.scratch = np.empty_like(self.scratch)
        other.state, other.recording, other.slab, other.wait = _LEARNED, None, None, 0
        return other

    def matches(self, chunk: bytes, off: int) -> bool:
        cur = np.frombuffer(chunk, np.uint8, self.nbytes, off)
        np.bitwise_and(cur, self.mask, out=self.scratch)
        return np.array_equal(self.scratch, self.template)

    def heap_offsets(self, chunk: bytes, off: int, heap_size: int) -> np.ndarray | None:
        """The run's heap offsets, or None where a range reaches outside the heap."""
        if not len(self.data_index):
            return self.data_index
        offsets = np.frombuffer(chunk, "<u8", self.nbytes // 8, off)[self.data_index]
        if (offsets > np.uint64(heap_size)).any():
            return None
        offsets = offsets.astype(np.int64)
        if (offsets + self.data_sizes > heap_size).any():
            return None
        return offsets

    def set_recording(self, rec: C.Recording) -> None:
        self.recording = rec
        self.state = _CAPTURED
        lengths = [n for _buf, _off, n in rec.ring_writes]
        dst = [o for _buf, o, _n in rec.ring_writes]
        if all(n % 16 == 0 for n in lengths) and all(o % 16 == 0 for o in dst):
            rel = [np.arange(n // 16, dtype=np.int64) for n in lengths]
            self._rows = (np.concatenate(rel) if rel else np.zeros(0, np.int64),
                          np.repeat(np.arange(len(lengths)), [n // 16 for n in lengths]),
                          np.concatenate([o // 16 + r for o, r in zip(dst, rel)]) if rel else np.zeros(0, np.int64))
        self._lengths, self._dst = lengths, dst

    def gather(self, heap_np: np.ndarray, offsets: np.ndarray) -> None:
        """Copy the run's constant data from the heap into its slab's stage."""
        stage = self.slab.stage
        rows = self._rows
        if rows is not None and not (offsets % 16).any():
            rel, rec, dst = rows
            src = offsets[rec] // 16 + rel
            stage.reshape(-1, 16)[dst] = heap_np[:len(heap_np) // 16 * 16].reshape(-1, 16)[src]
            return
        for o, n, d in zip(offsets.tolist(), self._lengths, self._dst):
            stage[d:d + n] = heap_np[o:o + n]


class Replayer:
    """One session's learned runs (see the module's docstring)."""

    def __init__(self, session):
        self.session = session
        self.renderer = session.renderer
        self.traces: OrderedDict[bytes, list[Trace]] = OrderedDict()
        self.template_bytes = 0
        self.replays = self.captures = self.learned = 0
        self.replayed_records = 0
        self.failures: dict[str, int] = {}  # why captures failed: how often
        # A stream whose runs never repeat (a scene that changes every frame) would pay for a
        # template at every run: after FRUITLESS_LEARNS learned runs with no replay since, only
        # one run in LEARN_EVERY is learned, until a replay happens again.
        self._fruitless = 0
        self._since_learned = 0
        self.peak_slab_bytes = 0  # the most constant memory the captured runs held at once
        #: set when the renderer's caches must let go of released resources (CACHE_RETAIN_BYTES);
        #: the traces are dropped at the next run boundary (visit), never inside a capture
        self._drop_recordings = False
        memory = getattr(self.renderer, "memory", None)
        if memory is not None:
            memory.on_drop_caches.append(self._recordings_stale)
        self._heap_np = np.frombuffer(session._heap, np.uint8) if session._heap is not None else None
        trace_path = os.environ.get("PVGPU_REPLAY_LOG")  # a file to log the replayer's decisions to
        self._log = open(trace_path, "a", buffering=1) if trace_path else None

    def _note(self, what: str, *args) -> None:
        if self._log is not None:
            self._log.write(f"{what} {' '.join(str(a) for a in args)}\n")

    def _recordings_stale(self) -> None:
        self._drop_recordings = True

    def clear(self) -> None:
        for lst in self.traces.values():
            for t in lst:
                self._drop(t)
        self.traces.clear()
        self.template_bytes = 0

    def close(self) -> None:
        """The session is over: let go of the guest's heap (the region can be unmapped)."""
        self.traces.clear()
        self._heap_np = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _drop(self, trace: Trace) -> None:
        """A trace leaves the table: constant buffers still living in its slab move back to
        their own backings, so the slab's memory goes with it (the slab bound holds)."""
        slab = trace.slab
        trace.slab = trace.recording = None
        self.template_bytes -= trace.nbytes
        if slab is not None:
            self._evacuate(slab)

    def _evacuate(self, slab: C.Slab) -> None:
        """Move the constant buffers living in `slab` back to their own backings (recorded
        copies; the slab is then marked bound by this recording, so a write to it waits)."""
        r = self.renderer
        for entry in list(self.session.objects.entries.values()):
            buf = entry.obj
            if getattr(buf, "ring_slab", None) is slab:
                r._settle(buf)

    def _evict(self, keep: bytes | None = None) -> None:
        """Drop least recently used traces (never those under `keep`) while over the limits."""
        while self.traces and (sum(len(v) for v in self.traces.values()) > MAX_TRACES
                               or self.template_bytes > MAX_TEMPLATE_BYTES):
            oldest = next(iter(self.traces))
            if oldest == keep:
                if len(self.traces) == 1:
                    break
                self.traces.move_to_end(oldest)
                continue
            for t in self.traces.pop(oldest):
                self._drop(t)

    def visit(self, chunk: bytes, off: int, n: int) -> tuple[int, int, int]:
        """Called at a record that may start a run: (bytes consumed, records handled, where
        to look again). Consumed 0: the caller executes the records as usual up to there."""
        if n - off < 16:
            return 0, 0, n  # a truncated record: the usual path reports it
        opcode, flags, size, _seq = _HEADER(chunk, off)
        if opcode not in REPLAYABLE or flags or size < _MIN_SIZE[opcode] or size > n - off:
            return 0, 0, off + max(size, 16)
        if self._drop_recordings:  # released resources they reference must go (render/memory.py)
            self._drop_recordings = False
            self.clear()
        if self.renderer._active:  # a query is counting what draws do: runs execute as usual
            return 0, 0, off + size
        key = _key(chunk, off, size, opcode)
        candidates = self.traces.get(key)
        if candidates is not None:
            self.traces.move_to_end(key)
            r = self.renderer
            others = []  # the same bytes, learned with another state at entry
            waiting = None  # a run that failed to capture, not yet due for another try
            chosen = None
            # the longest captured run first: a shorter one may be a prefix of it (learned
            # where the ring's wrap cut a frame)
            for trace in sorted(candidates, key=lambda t: (t.state != _CAPTURED, -t.nbytes)):
                if trace.nbytes > n - off or not trace.matches(chunk, off):
                    continue
                if trace.state == _FAILED:
                    trace.wait -= 1
                    if trace.wait > 0:
                        waiting = waiting or trace
                        continue
                    trace.state = _LEARNED
                if not self._entry_holds(trace):
                    others.append(trace)
                    continue
                chosen = trace
                break
            trace = chosen
            if trace is not None:
                if trace.state == _CAPTURED:
                    offsets = trace.heap_offsets(chunk, off, len(self._heap_np))
                    if self._log is not None:
                        self._note("replay", off, n, trace.records, offsets is None)
                    if offsets is None:
                        return 0, 0, off + trace.nbytes  # the records report the bad range
                    trace.gather(self._heap_np, offsets)
                    C.replay(r, trace.recording, trace.slab)
                    session = self.session
                    session.commands_executed += trace.records
                    session.consecutive_errors = 0
                    self.replays += 1
                    self._fruitless = 0
                    self.replayed_records += trace.records
                    return trace.nbytes, trace.records, off + trace.nbytes
                return self._capture(trace, chunk, off)
            if self._log is not None:
                self._note("others", off, n, len(others), r.epoch, [t.epoch for t in others],
                           [C.state_of(r) == t.entry for t in others], [(t.state, t.nbytes) for t in candidates])
            if waiting is not None:
                return 0, 0, off + waiting.nbytes
            if others:  # learn this entry state too: a stale one in place, else beside the others
                trace = next((t for t in others if t.epoch != r.epoch), None)
                if trace is None and len(candidates) < MAX_PER_KEY:
                    trace = others[0].fork()
                    candidates.append(trace)
                    self.template_bytes += trace.nbytes
                    self._evict(keep=key)
                trace = trace or others[-1]
                trace.entry, trace.epoch = C.state_of(r), r.epoch
                trace.state, trace.recording = _LEARNED, None
                return self._run(chunk, off, trace.nbytes, trace.records)
        if self._log is not None:
            self._note("learn", off, n, candidates is not None, len(self.traces), self.template_bytes, hash(key))
        return self._learn(chunk, off, n, key)

    def _entry_holds(self, trace: Trace) -> bool:
        r = self.renderer
        if r._active:  # a query counting: draws inside it are not bundled (capture.begin refuses too)
            return False
        if trace.epoch != r.epoch or C.state_of(r) != trace.entry:
            return False
        return trace.recording is None or C.externals_hold(trace.recording)

    def _run(self, chunk: bytes, off: int, nbytes: int, records: int) -> tuple[int, int, int]:
        """Execute the run's records the usual way."""
        s = self.session
        end = off + nbytes
        pos = off
        while pos < end and not s.lost:
            pos += s._handle_record(chunk, pos, end - pos)
        return nbytes, records, end

    def _learn(self, chunk: bytes, off: int, n: int, key: bytes) -> tuple[int, int, int]:
        pos, records, data_fields = off, 0, []
        ended = False  # by a whole record that is not replayable
        while pos + 16 <= n:
            opcode, flags, size, _seq = _HEADER(chunk, pos)
            if size < 16 or size > n - pos:
                break
            if opcode not in REPLAYABLE or flags:
                ended = True
                break
            for p in HEAP_OFFSETS[opcode]:
                data_fields.append(pos - off + p)
            pos += size
            records += 1
        self._since_learned += 1
        if not ended or records < MIN_RECORDS or pos - off > MAX_TEMPLATE_BYTES // 4 or (
                self._fruitless >= FRUITLESS_LEARNS and self._since_learned < LEARN_EVERY):
            if self._log is not None:
                self._note("not-learned", off, pos, records, ended)
            return 0, 0, pos  # not ended inside the chunk (it may go on), or too short
        r, s = self.renderer, self.session
        entry, epoch = C.state_of(r), r.epoch
        errors, ring0 = s.total_errors, r.ring_bytes
        used = self._run(chunk, off, pos - off, records)
        slab_bytes = r.ring_bytes - ring0
        if s.total_errors != errors or slab_bytes > MAX_SLAB_BYTES:
            if self._log is not None:
                self._note("not-learned", off, pos, "errors", s.total_errors - errors, "slab", slab_bytes)
            return used
        seg = np.frombuffer(chunk, np.uint8, pos - off, off).copy()
        mask = np.zeros(len(seg), np.uint8)
        p = 0
        while p < len(seg):
            opcode, _flags, size, _seq = _HEADER(seg, p)
            _mask_record(mask, seg, p, opcode, size)
            p += size
        trace = Trace(key, seg, mask, data_fields, records, entry, epoch, slab_bytes)
        self._store(trace)
        self.learned += 1
        self._fruitless += 1
        self._since_learned = 0
        return used

    def _store(self, trace: Trace) -> None:
        self.traces.setdefault(trace.key, []).insert(0, trace)
        self.traces.move_to_end(trace.key)
        self.template_bytes += trace.nbytes
        self._evict()
        lst = self.traces.get(trace.key)
        while lst is not None and len(lst) > MAX_PER_KEY:
            self._drop(lst.pop())

    def _slab_bytes(self) -> int:
        return sum(t.slab.size for lst in self.traces.values() for t in lst if t.slab is not None)

    def _capture(self, trace: Trace, chunk: bytes, off: int) -> tuple[int, int, int]:
        r, s = self.renderer, self.session
        if trace.slab is None or trace.slab.size < trace.slab_bytes:
            if trace.slab is not None:
                self._evacuate(trace.slab)
            trace.slab = None
            while self.traces and self._slab_bytes() + trace.slab_bytes > MAX_SESSION_SLAB_BYTES:
                oldest = next(iter(self.traces))
                if oldest == trace.key:
                    break
                for t in self.traces.pop(oldest):
                    self._drop(t)
            if self._slab_bytes() + trace.slab_bytes > MAX_SESSION_SLAB_BYTES:
                return self._run(chunk, off, trace.nbytes, trace.records)
            trace.slab = C.Slab(r.device, trace.slab_bytes)
            self.peak_slab_bytes = max(self.peak_slab_bytes, self._slab_bytes())
        else:  # captured again: what an earlier capture or replay left in the slab moves out first
            self._evacuate(trace.slab)
        cap = C.begin(r, trace.slab)
        if cap is None:
            return self._run(chunk, off, trace.nbytes, trace.records)
        errors = s.total_errors
        try:
            used = self._run(chunk, off, trace.nbytes, trace.records)
        finally:
            rec = C.end(r)
        data_records = len(trace.data_index)
        if rec is None or s.total_errors != errors or len(rec.ring_writes) != data_records:
            why = (cap.failed or ("a slice target" if rec is None else "")) or (
                "an error" if s.total_errors != errors else "constant-buffer writes outside the slab")
            self.failures[why] = self.failures.get(why, 0) + 1
            self._note("capture-failed", why)
            trace.state, trace.wait, trace.recording = _FAILED, RETRY_AFTER, None
            return used
        trace.set_recording(rec)
        self._note("captured", off, trace.records, len(rec.ops), rec.slab_bytes)
        self.captures += 1
        return used
