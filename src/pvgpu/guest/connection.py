"""The guest runtime's link to the host: handshake, command encoding into the ring, heap
uploads, fences and the host's error log.

The channel (how the region is mapped and how doorbells and interrupts travel) is behind a
small interface, so the same runtime runs over the local transport or a VM's PCI device.

Commands are encoded by `emit_<command>(*fields[, elements])` methods generated from the
spec (through `protocol.encoders`): positional fields, one precompiled `pack_into` per record
straight into the ring. `emit(name, elements, **fields)` is the keyword form of the same.
"""

from __future__ import annotations

import functools
import linecache
import operator
import os
import time
from typing import Protocol

import numpy as np

from ..errors import DeviceLostError, HostReportedError, ProtocolError, VersionMismatchError, WaitTimeoutError
from ..protocol import codec, encoders
from ..protocol import layout as L
from ..protocol.enums import DeviceStatus, ErrorCode, Feature, GuestState
from ..protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from ..transport.control import ErrorEntry, attach_described_parts, read_errors
from ..transport.heap import HeapAllocator
from ..transport.region import Region
from ..transport.ring import RingWriter

DEFAULT_TIMEOUT = 30.0
#: Every feature bit this guest runtime knows (and may use): what it requests by default. Bits
#: it does not know are never requested, so a newer host's new bits stay off.
KNOWN_FEATURES = functools.reduce(operator.or_, (int(f) for f in Feature), 0)
_NDARRAY = np.ndarray


class GuestChannel(Protocol):
    """How a guest reaches its host: the mapped region, a doorbell, an interrupt."""

    region: Region

    def ring_doorbell(self) -> None: ...

    def wait_interrupt(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class _CommandNames:
    """Per-command field-name tuples, so emit() can take keyword arguments named as in the spec."""

    def __init__(self, layout: codec.CommandLayout):
        self.layout = layout
        self.names = tuple(f.name for f in layout.fields)
        self.count_name = layout.count_field.name if layout.element is not None else None
        self.element_names = tuple(f.name for f in layout.element.fields) if layout.element else ()
        self.encoder = encoders.ENCODERS[layout.opcode]
        self.count_index = layout.count_index if layout.element is not None else -1
        self.width = len(self.element_names)
        self.emitter = None  # GuestConnection's generated emit_<name>, set below
        # the fields of a command without an array, as a tuple in spec order (KeyError names a missing one)
        if not self.names:
            self.values = lambda fields: ()
        elif len(self.names) == 1:
            name = self.names[0]
            self.values = lambda fields: (fields[name],)
        else:
            self.values = operator.itemgetter(*self.names)


_NAMES = {l.name: _CommandNames(l) for l in codec.LAYOUTS.values()}


# --- generated per-command emitters --------------------------------------------------------------
#
# One method per command, `GuestConnection.emit_<name>(*fields[, elements])`, generated from the
# spec through `protocol.encoders`: the fields positionally in spec order without the count
# field, an array as one flat sequence of element values. Each writes its record with a single
# precompiled `pack_into` (header and body together) straight into the ring, taking the ring
# writer's shortcut (see `RingWriter`) when the record plainly fits and `reserve` otherwise.

_FIXED_EMITTER = """\
def {method}(self{params}):
    _w = self.writer
    _pos = _w.cursor
    if _pos + {size} <= _w.fast_end:
        _off = _pos % _w.size
    else:
        _off = _w.reserve({size})
        _pos = _w.cursor
    self.seq = _seq = self.seq + 1
    _pack_{opcode}(_w.ring, _off, {header}, _seq{args})
    _w.cursor = _pos + {size}
    return _seq
"""

_ARRAY_EMITTER = """\
def {method}(self{params}, elements):
    if len(elements) == {width}:  # one element, the common case: its own precompiled struct
        {one_vars}, = elements
        _w = self.writer
        _pos = _w.cursor
        if _pos + {one_size} <= _w.fast_end:
            _off = _pos % _w.size
        else:
            _off = _w.reserve({one_size})
            _pos = _w.cursor
        self.seq = _seq = self.seq + 1
        _pack1_{opcode}(_w.ring, _off, {opcode}, 0, {one_size}, _seq, {one_args})
        _w.cursor = _pos + {one_size}
        return _seq
    _n = {count}
    _st = _structs_{opcode}[_n]
    _size = _st.size
    _w = self.writer
    _pos = _w.cursor
    if _pos + _size <= _w.fast_end and _size <= _w.max_record:
        _off = _pos % _w.size
    else:
        _off = _w.reserve(_size)
        _pos = _w.cursor
    self.seq = _seq = self.seq + 1
    _st.pack_into(_w.ring, _off, {opcode}, 0, _size, _seq, {args})
    _w.cursor = _pos + _size
    return _seq
"""


def _emitter_source(enc: encoders.RecordEncoder, ns: dict) -> str:
    params = "".join(", " + p for p in enc.params)
    if enc.fixed:
        ns[f"_pack_{enc.opcode}"] = enc.struct.pack_into
        args = "".join(", " + p for p in enc.params)
        return _FIXED_EMITTER.format(method=enc.method, params=params, size=enc.size, opcode=enc.opcode,
                                     header=enc.header_args(), args=args)
    ns[f"_structs_{enc.opcode}"] = enc.structs
    ns[f"_count_{enc.opcode}"] = enc.element_count
    ns[f"_pack1_{enc.opcode}"] = enc.structs[1].pack_into
    assert enc.record_size(1) <= encoders.MAX_SHORT_RECORD  # so no max_record check for one element
    one = [f"_e{i}" for i in range(enc.element_width)]
    one_args = enc.pack_args("1", "elements").replace("*elements", ", ".join(one))
    return _ARRAY_EMITTER.format(method=enc.method, params=params, count=enc.count_source("elements"),
                                 opcode=enc.opcode, args=enc.pack_args("_n", "elements"), width=enc.element_width,
                                 one_vars=", ".join(one), one_size=enc.record_size(1), one_args=one_args)


def _make_emitters() -> dict:
    ns: dict = {}
    sources = []
    for enc in encoders.ENCODERS.values():
        sources.append(_emitter_source(enc, ns))
    src = "\n".join(sources)
    filename = "<pvgpu guest emitters>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)  # readable tracebacks
    ns["__name__"] = __name__
    exec(compile(src, filename, "exec"), ns)
    methods = {}
    for enc in encoders.ENCODERS.values():
        fn = ns[enc.method]
        fn.__qualname__ = f"GuestConnection.{enc.method}"
        fn.__doc__ = (f"Encode one {enc.name} into the ring (not yet published); returns its sequence number. "
                      f"Fields, positionally: {', '.join(enc.params) or 'none'}"
                      + (f"; elements: one flat sequence of {', '.join(f.name for f in enc.element.fields)} "
                         f"values, element after element" if enc.element is not None else "") + ".")
        methods[enc.method] = fn
    methods["_emitters_source"] = src
    return methods


class GuestConnection:
    def __init__(self, channel: GuestChannel, timeout: float = DEFAULT_TIMEOUT,
                 requested_features: int = KNOWN_FEATURES):
        """`requested_features`: the Feature bits to ask for; the host accepts those it offers
        (`accepted_features`) and refuses commands that need any other (UNSUPPORTED)."""
        self.channel = channel
        self.region = channel.region
        self.timeout = timeout
        self._hello(requested_features & 0xFFFFFFFFFFFFFFFF)
        u64 = self.region.u64
        self._u64 = u64
        self._consumer_slot = self.region.u64_slot("ring_consumer")
        self._fence_slot = self.region.u64_slot("fence_completed")
        self.writer = RingWriter(self.region.ring, u64, self.region.u64_slot("ring_producer"),
                                 self._consumer_slot, self._wait_for_consumer)
        self.heap = HeapAllocator(len(self.region.heap), self.wait_fence, self.fence,
                                  records_written=lambda: self.writer.cursor)
        self.seq = 0
        self.before_heap_release: list = []
        self.last_fence = int(u64[self._fence_slot])
        self.errors_seen = self.region.get("error_count")

    # --- handshake ---------------------------------------------------------------------------
    def _hello(self, requested: int) -> None:
        r = self.region
        deadline = time.monotonic() + self.timeout
        while r.get("magic") != L.MAGIC:
            if time.monotonic() > deadline:
                raise ProtocolError("the shared region has no pvgpu control page (bad magic)")
            time.sleep(0.001)
        if r.get("device_status") != DeviceStatus.INITIALIZING or r.get("guest_state") != GuestState.NONE:
            # Another guest program used this device before (a VM's ivshmem region outlives
            # guest processes): ask the host for a fresh session.
            r.set("guest_state", GuestState.RESET)
            self.channel.ring_doorbell()
            # The host zeroes the page, then writes it, the magic last: read the magic last too.
            self._wait(lambda: (r.get("guest_state") == GuestState.NONE
                                and r.get("device_status") == DeviceStatus.INITIALIZING
                                and r.get("magic") == L.MAGIC),
                       "the host to reset the device", check_lost=False)
        host_major = r.get("host_version_major")
        if host_major != PROTOCOL_MAJOR:
            raise VersionMismatchError(f"host speaks pvgpu protocol {host_major}.x, this guest "
                                       f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}; update one of them")
        attach_described_parts(r)
        r.set("guest_version_major", PROTOCOL_MAJOR)
        r.set("guest_version_minor", PROTOCOL_MINOR)
        r.set("requested_features", requested)
        r.set("guest_pid", os.getpid())
        r.set("guest_state", GuestState.HELLO)
        self.channel.ring_doorbell()
        self._wait(lambda: r.get("device_status") != DeviceStatus.INITIALIZING, "the host to accept this guest",
                   check_lost=False)
        status = r.get("device_status")
        if status == DeviceStatus.REFUSED:
            details = "; ".join(e.detail for e in read_errors(r))
            raise VersionMismatchError(f"the host refused this guest: {details}")
        if status != DeviceStatus.READY:
            raise ProtocolError(f"the host answered the handshake with device status {status}")
        self.accepted_features = r.get("accepted_features")

    # --- waiting -----------------------------------------------------------------------------
    def _wait(self, done, what: str, timeout: float | None = None, check_lost: bool = True) -> None:
        """Wait for `done()`: a short spin, then sleeps on the interrupt (never a long busy spin)."""
        if done():
            return
        for _ in range(200):
            if done():
                return
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not done():
            if check_lost and self.region.get("device_status") == DeviceStatus.LOST:
                raise DeviceLostError(f"device lost while waiting for {what}: {self.lost_reason()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(f"timed out after {self.timeout if timeout is None else timeout:.1f} s "
                                       f"waiting for {what}; is the host still running?")
            self.channel.wait_interrupt(min(left, 0.05))

    def _wait_for_consumer(self, target: int) -> None:
        self.kick()
        slot = self._consumer_slot
        self._wait(lambda: int(self._u64[slot]) >= target, "the host to make room in the full command ring")

    # --- commands ----------------------------------------------------------------------------
    def emit(self, name: str, elements: list[tuple] | None = None, **fields) -> int:
        """Encode one command into the ring (not yet published); returns its sequence number.

        The keyword form: fields named as in the spec, the array as a list of element tuples.
        The hot paths call the positional `emit_<name>` methods instead."""
        n = _NAMES[name]
        if n.count_name is None:
            try:
                values = n.values(fields)
            except KeyError as e:
                raise TypeError(f"{name}: missing field {e.args[0]}") from None
            if not elements:
                return n.emitter(self, *values)
            return self._emit_layout(n.layout, values, elements)
        fields[n.count_name] = len(elements) if elements else 0
        try:
            values = [fields[k] for k in n.names]
        except KeyError as e:
            raise TypeError(f"{name}: missing field {e.args[0]}") from None
        if elements:
            width = n.width
            try:
                whole = all([len(e) == width for e in elements])
            except TypeError:
                whole = False
            if whole:
                del values[n.count_index]
                return n.emitter(self, *values, [v for e in elements for v in e])
        else:
            del values[n.count_index]
            return n.emitter(self, *values, ())
        return self._emit_layout(n.layout, tuple(values), elements)

    def _emit_layout(self, layout: codec.CommandLayout, values: tuple, elements) -> int:
        """The general encoder (codec's), for what the generated emitters do not take: element
        tuples of the wrong length, elements given to a command without an array (both fail
        in `pack_into` as they always did)."""
        size = layout.record_size(len(elements) if elements else 0)
        off = self.writer.reserve(size)
        self.seq += 1
        layout.pack_into(self.writer.ring, off, self.seq, values, elements)
        self.writer.commit(size)
        return self.seq

    def kick(self) -> None:
        """Publish the commands written so far and ring the host's doorbell."""
        if self.writer.publish():
            self.channel.ring_doorbell()

    def upload(self, data) -> tuple[int, int]:
        """Copy bytes-like `data` into the heap; returns (offset, size) for a heap range field.
        A C-contiguous array or buffer is taken as its bytes; anything else is refused
        (TypeError), as memoryview.cast refuses it."""
        if type(data) is _NDARRAY and data.flags.c_contiguous:  # Map's arrays: no memoryview needed
            n = data.nbytes
            if n == 0:
                return 0, 0
            off = self.heap.allocate(n)
            heap = self.region.heap
            try:
                heap[off:off + n] = data  # a flat vector of bytes (uint8)
            except (ValueError, TypeError):  # another shape or item type: its bytes
                heap[off:off + n] = memoryview(data).cast("B")
            return off, n
        mv = memoryview(data)
        if mv.ndim != 1 or mv.format != "B" or not mv.c_contiguous:
            mv = mv.cast("B")
        n = mv.nbytes
        if n == 0:
            return 0, 0
        off = self.heap.allocate(n)
        self.region.heap[off:off + n] = mv
        return off, n

    def reserve_heap(self, nbytes: int) -> int:
        return self.heap.allocate(nbytes)

    # --- fences ------------------------------------------------------------------------------
    def fence(self) -> int:
        """Put a fence in the stream and publish; returns its value."""
        self.last_fence += 1
        value = self.last_fence
        freed_end = self.heap.named_end()  # before the FENCE record itself is written
        self.emit_fence(value)
        self.region.set("fence_submitted", value)
        self.heap.tag(value, freed_end)
        self.kick()
        return value

    @property
    def completed_fence(self) -> int:
        return int(self._u64[self._fence_slot])

    def wait_fence(self, value: int, timeout: float | None = None) -> None:
        slot = self._fence_slot
        self._wait(lambda: int(self._u64[slot]) >= value, f"fence {value}", timeout)
        completed = int(self._u64[slot])
        for hook in self.before_heap_release:  # results still in the heap are taken out first
            hook(completed)
        self.heap.release_completed(completed)

    def finish(self) -> None:
        """Wait until the host has executed everything sent so far; raise on new host errors."""
        self.wait_fence(self.fence())
        self.raise_host_errors()

    # --- errors ------------------------------------------------------------------------------
    def host_errors(self) -> list[ErrorEntry]:
        """Error-log entries the host wrote since the last call."""
        entries = read_errors(self.region, self.errors_seen)
        if entries:
            self.errors_seen = entries[-1].index + 1
        return entries

    def raise_host_errors(self) -> None:
        entries = self.host_errors()
        if entries:
            lines = "\n  ".join(e.describe() for e in entries)
            raise HostReportedError(f"the host rejected {len(entries)} command(s):\n  {lines}")

    def lost_reason(self) -> str:
        """Why the host put this device in the device-lost state: the detail of the last
        DEVICE_LOST entry in the error log (else the last entry's)."""
        entries = read_errors(self.region)
        for entry in reversed(entries):
            if entry.code == ErrorCode.DEVICE_LOST:
                return entry.detail
        return entries[-1].detail if entries else "no detail"

    @property
    def device_status(self) -> DeviceStatus:
        return DeviceStatus(self.region.get("device_status"))

    def close(self) -> None:
        try:
            self.kick()
        finally:
            self.writer = None
            self.heap = None
            self._u64 = None
            self.channel.close()


for _method, _fn in _make_emitters().items():
    setattr(GuestConnection, _method, _fn)
for _n in _NAMES.values():
    _n.emitter = getattr(GuestConnection, _n.encoder.method)


def copy_out(view: memoryview) -> np.ndarray:
    """A private copy of heap bytes (the host could still be told to overwrite the heap)."""
    return np.frombuffer(view, dtype=np.uint8).copy()
