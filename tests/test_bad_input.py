"""Bad input from an untrusted guest, through the real path.

A host service runs in this process (its own threads, wgpu on lavapipe); guests connect to
it over the local transport and write hostile records straight into their command ring.
Every validation rule of DESIGN.md gets a test: the bad command must be reported in the
control page's error log with the exact error code, its opcode and its sequence number, and
afterwards the host must still serve (a clear + present shows the right pixels, or a
MAP_READ returns the right bytes). A guest that keeps sending garbage ends up device-lost
while other guests are served normally. The decoder and a live session are fuzzed.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from pvgpu import guest as g  # noqa: E402
from pvgpu.errors import DeviceLostError  # noqa: E402
from pvgpu.host.present.headless import FrameCallback  # noqa: E402
from pvgpu.host.service import HostService  # noqa: E402
from pvgpu.host.session import MAX_CONSECUTIVE_ERRORS  # noqa: E402
from pvgpu.protocol import codec  # noqa: E402
from pvgpu.protocol import layout as L  # noqa: E402
from pvgpu.protocol.enums import (  # noqa: E402
    BindFlag, ClearFlag, CpuAccessFlag, DeviceStatus, DxgiFormat, ErrorCode, ShaderLanguage, ShaderStage, Usage,
)
from pvgpu.protocol.spec import MAX_INPUT_ELEMENTS, MAX_RENDER_TARGETS, MAX_VIEWPORTS  # noqa: E402
from pvgpu.protocol.types import Meaning  # noqa: E402

WAIT = 20.0  # every wait in this file is bounded by this many seconds
OP = {name: layout.opcode for name, layout in codec.BY_NAME.items()}
RGBA8 = int(DxgiFormat.R8G8B8A8_UNORM)
U64_MAX = (1 << 64) - 1

#: CREATE_INPUT_LAYOUT without semantic names or shader bytecode (element i feeds @location(i))
NO_NAMES = dict(semantic_names_offset=0, semantic_names_size=0, shader_bytecode_offset=0, shader_bytecode_size=0)


# --- host and guests -------------------------------------------------------------------------------
class FrameSink:
    """Presenter callback: frames (RGBA pixels) per session id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: dict[int, list[np.ndarray]] = defaultdict(list)

    def __call__(self, session_id: int, frame) -> None:
        with self.lock:
            self.frames[session_id].append(frame.pixels.copy())

    def of(self, session_id: int) -> list[np.ndarray]:
        with self.lock:
            return list(self.frames[session_id])


@dataclass
class Host:
    service: HostService
    path: str
    frames: FrameSink

    def connect(self) -> "Guest":
        return Guest(self, g.connect(self.path, timeout=WAIT))


@pytest.fixture(scope="module")
def bad_host():
    folder = tempfile.mkdtemp(prefix="pvgpu-bad-")
    path = os.path.join(folder, "host.sock")
    sink = FrameSink()
    service = HostService(path, region_size=16 << 20, presenters=[FrameCallback(sink)], isolation="thread").start()
    try:
        yield Host(service, path, sink)
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def guest(bad_host):
    gst = bad_host.connect()
    yield gst
    gst.close()


_seqs = itertools.count(0x5EC0_0001)


def next_seq() -> int:
    """Sequence numbers for raw records: distinctive, so an entry can only match the one we wrote."""
    return next(_seqs)


class Guest:
    """A connected guest plus the helpers the tests need (raw records, sync, health checks)."""

    def __init__(self, host: Host, device: g.Device):
        self.host = host
        self.device = device
        self.conn = device.connection
        self.session_id = self.conn.region.get("session_id")
        self._ids = itertools.count(0x4000_0000)  # raw-created objects never collide with Device ids
        self._colors = itertools.cycle([(1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0),
                                        (1.0, 1.0, 0.0, 1.0), (0.0, 1.0, 1.0, 1.0)])

    def close(self) -> None:
        try:
            self.device.close()
        except Exception:
            pass

    def new_id(self) -> int:
        return next(self._ids)

    @property
    def heap_size(self) -> int:
        return len(self.conn.region.heap)

    @property
    def status(self) -> DeviceStatus | int:
        value = self.conn.region.get("device_status")
        try:
            return DeviceStatus(value)
        except ValueError:
            return value

    @property
    def session_thread(self) -> threading.Thread:
        return self.host.service.sessions[self.session_id].thread

    # raw records ----------------------------------------------------------------------------
    def raw(self, *records: bytes) -> None:
        """Copy ready-made records into the ring (published by the next kick)."""
        for r in records:
            self.conn.writer.write(r)

    def emit(self, name: str, elements=None, **fields) -> int:
        return self.conn.emit(name, elements, **fields)

    def wait_consumed(self) -> None:
        """Publish and wait (bounded) until the host has consumed everything published. Records
        written after this start a chunk of their own, whatever the ones before claimed."""
        self.conn.kick()
        slot = self.conn.region.u64_slot("ring_consumer")
        deadline = time.monotonic() + WAIT
        while int(self.conn.region.u64[slot]) < self.conn.writer.pos:
            assert time.monotonic() < deadline, "the host stopped consuming the ring"
            self.conn.channel.wait_interrupt(0.05)

    def pad_to(self, ring_offset: int) -> None:
        """Move the write position to `ring_offset` (mod the ring size) with PAD records."""
        writer = self.conn.writer
        while (gap := (ring_offset - writer.pos) % writer.size):
            n = min(gap, writer.max_record, writer.size - writer.pos % writer.size)  # never wraps
            pad = bytearray(n)
            codec.HEADER.pack_into(pad, 0, codec.PAD_OPCODE, 0, n, 0)
            self.raw(bytes(pad))
            self.wait_consumed()

    def sync(self) -> list:
        """Publish everything, wait (bounded) until the host has executed it, return new log entries."""
        self.conn.kick()
        self.conn.wait_fence(self.conn.fence(), timeout=WAIT)
        return self.device.host_errors()

    # objects made with valid raw commands -----------------------------------------------------
    def make_buffer(self, data: bytes | None = None, usage=Usage.DEFAULT, bind=BindFlag.VERTEX_BUFFER,
                    cpu=0, byte_width: int | None = None) -> int:
        object_id = self.new_id()
        off, size = self.conn.upload(data) if data else (0, 0)
        self.emit("CREATE_BUFFER", buffer=object_id, byte_width=byte_width or len(data), usage=usage,
                  bind_flags=bind, cpu_access_flags=cpu, misc_flags=0, structure_byte_stride=0,
                  initial_data_offset=off, initial_data_size=size)
        return object_id

    def make_target(self, size: int = 4) -> "Target":
        t = Target(self.new_id(), self.new_id(), self.new_id(), size)
        self.emit("CREATE_SWAP_CHAIN", swap_chain=t.swap_chain, buffer=t.back_buffer, width=size, height=size,
                  format=RGBA8, buffer_count=1)
        self.emit("CREATE_RENDER_TARGET_VIEW", view=t.rtv, resource=t.back_buffer, format=0, mip_slice=0, array_slice=0)
        return t

    def clear_and_present(self, target: "Target") -> tuple[float, ...]:
        """Emit a clear of the target and a present (not yet published); returns the color."""
        color = next(self._colors)
        self.emit("CLEAR_RENDER_TARGET_VIEW", view=target.rtv, color_r=color[0], color_g=color[1],
                  color_b=color[2], color_a=color[3])
        self.emit("PRESENT", swap_chain=target.swap_chain, sync_interval=0, flags=0)
        return color

    def frames(self) -> list[np.ndarray]:
        return self.host.frames.of(self.session_id)

    def assert_presented(self, color, frames_before: int, size: int) -> None:
        frames = self.frames()
        assert len(frames) == frames_before + 1, "the present did not reach the presenter"
        expected = np.array([round(c * 255) for c in color], dtype=np.uint8)
        assert frames[-1].shape == (size, size, 4)
        assert (frames[-1] == expected).all(), f"frame is {frames[-1][0, 0]}, expected {expected}"

    def assert_serves(self) -> None:
        """The host still serves this guest: a fresh target cleared and presented shows the color."""
        self.fix_fence_accounting()
        target = self.make_target()
        before = len(self.frames())
        color = self.clear_and_present(target)
        for object_id in (target.rtv, target.swap_chain):  # the swap chain takes its back buffer along
            self.emit("DESTROY_OBJECT", object=object_id)
        errors = self.sync()
        assert errors == [], [e.describe() for e in errors]
        self.assert_presented(color, before, target.size)
        assert self.status == DeviceStatus.READY

    def fix_fence_accounting(self) -> None:
        """A guest that wrote a raw FENCE may have moved the completed value past its own count."""
        self.conn.last_fence = max(self.conn.last_fence, self.conn.completed_fence)

    def read_buffer(self, buffer_id: int, nbytes: int, staging: bool = False) -> bytes:
        """The buffer's contents through COPY_RESOURCE into a staging buffer and MAP_READ."""
        src = buffer_id
        if not staging:
            src = self.make_buffer(usage=Usage.STAGING, bind=0, cpu=CpuAccessFlag.READ, byte_width=nbytes)
            self.emit("COPY_RESOURCE", dst=src, src=buffer_id)
        off = self.conn.reserve_heap(nbytes)
        self.emit("MAP_READ", resource=src, subresource=0, dst_row_pitch=nbytes, dst_depth_pitch=nbytes,
                  dst_offset=off, dst_size=nbytes)
        errors = self.sync()
        assert errors == [], [e.describe() for e in errors]
        return bytes(self.conn.region.heap[off:off + nbytes])

    def assert_not_created(self, object_id: int) -> None:
        """A rejected create must leave the id free: destroying it says no object has it."""
        seq = self.emit("DESTROY_OBJECT", object=object_id)
        expect_one(self.sync(), ErrorCode.DEAD_ID, OP["DESTROY_OBJECT"], seq)


@dataclass
class Target:
    swap_chain: int
    back_buffer: int
    rtv: int
    size: int


def expect_one(errors, code: ErrorCode, opcode: int, seq: int) -> None:
    got = [(e.code, e.opcode, e.sequence) for e in errors]
    assert got == [(code, opcode, seq)], [e.describe() for e in errors]


# --- record building and patching -------------------------------------------------------------------
def _default(field) -> int | float:
    if field.meaning is Meaning.ENUM:
        return min(int(v) for v in field.enum)
    if field.wire.code == "f":
        return 0.0
    return 0


def record(name: str, seq: int, elements: list[tuple] | None = None, **fields) -> bytes:
    """A valid-layout record: unnamed fields are 0 (or the smallest enum value); the count is
    the number of elements unless given."""
    layout = codec.BY_NAME[name]
    values = {f.name: _default(f) for f in layout.fields}
    if layout.element is not None:
        values[layout.count_field.name] = len(elements or ())
    values.update(fields)
    unknown = set(fields) - set(values)
    assert not unknown, f"{name} has no fields {unknown}"
    return layout.encode(seq, tuple(values[f.name] for f in layout.fields), elements)


def field_offset(name: str, field: str) -> int:
    layout = codec.BY_NAME[name]
    (slot,) = [s for s in layout.slots if s.field.name == field]
    return codec.HEADER_SIZE + slot.offset


def patch(rec: bytes, offset: int, fmt: str, value) -> bytes:
    out = bytearray(rec)
    struct.pack_into("<" + fmt, out, offset, value)
    return bytes(out)


def with_size(rec: bytes, size: int, physical: int | None = None) -> bytes:
    """Set the header's size field to `size`; the bytes written are `physical` (default: size),
    zero-padded or cut."""
    physical = size if physical is None else physical
    out = patch(rec, 4, "I", size)
    return (out + bytes(max(0, physical - len(out))))[:physical]


# --- unknown opcode ------------------------------------------------------------------------------------
@pytest.mark.parametrize("opcode", [max(OP.values()) + 1, 0x1234, 0xFFFF])
def test_unknown_opcode_is_logged_and_skipped(guest, opcode):
    target = guest.make_target()
    assert guest.sync() == []
    seq = next_seq()
    bad = patch(record("DRAW", seq, vertex_count=3), 0, "H", opcode)
    guest.raw(bad)
    # In the same batch: the host must skip exactly the bad record and run what follows.
    before = len(guest.frames())
    color = guest.clear_and_present(target)
    expect_one(guest.sync(), ErrorCode.UNKNOWN_OPCODE, opcode, seq)
    guest.assert_presented(color, before, target.size)
    guest.assert_serves()


# --- truncated record -------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["header_claims_more", "prefix_published", "header_split"])
def test_truncated_record(bad_host, how):
    """A record that ends beyond what was published loses the framing: TRUNCATED_RECORD, then
    device-lost at once (a DEVICE_LOST entry naming it), so a fence after it raises
    DeviceLostError instead of hanging; a new guest is served."""
    gst = bad_host.connect()
    try:
        seq = next_seq()
        rec = record("CREATE_BUFFER", seq, buffer=gst.new_id(), byte_width=16, bind_flags=BindFlag.VERTEX_BUFFER)
        assert len(rec) >= 48
        writer = gst.conn.writer
        if how == "header_claims_more":
            # The last published record says it is 32 bytes longer than what was published.
            gst.raw(with_size(rec, len(rec) + 32, physical=len(rec)))
        elif how == "prefix_published":
            # A whole record is written, but the producer position only covers its first 32 bytes.
            gst.raw(rec)
            writer.pos -= len(rec) - 32
        else:
            # Only the first 8 bytes of the header are published (not even a whole header).
            gst.raw(rec)
            writer.pos -= len(rec) - 8
        # The host must see the published bytes end inside the record (a later batch could
        # otherwise complete it), so nothing else is published until it has consumed them.
        gst.wait_consumed()
        with pytest.raises(DeviceLostError, match="command stream framing lost"):
            gst.conn.wait_fence(gst.conn.fence(), timeout=WAIT)
        assert gst.status == DeviceStatus.LOST
        # Too short to hold a header: nothing in it can be trusted, so opcode and sequence are 0.
        where = (0, 0) if how == "header_split" else (OP["CREATE_BUFFER"], seq)
        got = [(e.code, e.opcode, e.sequence) for e in gst.device.host_errors()]
        assert got == [(ErrorCode.TRUNCATED_RECORD, *where), (ErrorCode.DEVICE_LOST, *where)], got
        assert gst.session_thread.is_alive()
    finally:
        gst.close()
    fresh = bad_host.connect()
    try:
        fresh.assert_serves()
    finally:
        fresh.close()


# --- size mismatch ---------------------------------------------------------------------------------
def _size_cases():
    def draw_48(seq):  # the case from the brief: DRAW is 32 bytes; this one says 48, padded with zeros
        return "DRAW", with_size(record("DRAW", seq, vertex_count=3), 48)

    def create_buffer_short(seq):  # smaller than the fixed part of the command
        return "CREATE_BUFFER", with_size(record("CREATE_BUFFER", seq, buffer=0x3000_0001, byte_width=16), 32)

    def viewports_count_vs_size(seq):  # one viewport claimed, room for three
        rec = record("SET_VIEWPORTS", seq, [(0.0, 0.0, 4.0, 4.0, 0.0, 1.0)] * 3)
        return "SET_VIEWPORTS", patch(rec, field_offset("SET_VIEWPORTS", "viewport_count"), "I", 1)

    def fence_64(seq):
        return "FENCE", with_size(record("FENCE", seq, value=1 << 40), 64)

    return [draw_48, create_buffer_short, viewports_count_vs_size, fence_64]


@pytest.mark.parametrize("case", _size_cases(), ids=lambda c: c.__name__)
def test_size_mismatch(guest, case):
    target = guest.make_target()
    assert guest.sync() == []
    seq = next_seq()
    name, bad = case(seq)
    guest.raw(bad)
    # The header's size keeps the framing: what follows in the same batch still runs.
    before = len(guest.frames())
    color = guest.clear_and_present(target)
    expect_one(guest.sync(), ErrorCode.SIZE_MISMATCH, OP[name], seq)
    guest.assert_presented(color, before, target.size)
    # The FENCE with a bad size must not have moved the completed fence value.
    assert guest.conn.completed_fence == guest.conn.last_fence
    guest.assert_serves()


# --- heap ranges -------------------------------------------------------------------------------------
HEAP_CASES = {
    "offset_at_end": lambda heap: (heap, 16),
    "straddles_end": lambda heap: (heap - 8, 16),
    "offset_overflows_u64": lambda heap: (U64_MAX - 15, 32),  # offset + size wraps to 16
    "size_overflows_u64": lambda heap: (256, U64_MAX),  # offset + size wraps to 255
    "both_huge": lambda heap: (1 << 63, 1 << 63),
}


@pytest.mark.parametrize("case", list(HEAP_CASES))
def test_heap_range_create_buffer(guest, case):
    offset, size = HEAP_CASES[case](guest.heap_size)
    object_id = guest.new_id()
    seq = guest.emit("CREATE_BUFFER", buffer=object_id, byte_width=16, usage=Usage.DEFAULT,
                     bind_flags=BindFlag.VERTEX_BUFFER, cpu_access_flags=0, misc_flags=0, structure_byte_stride=0,
                     initial_data_offset=offset, initial_data_size=size)
    expect_one(guest.sync(), ErrorCode.HEAP_RANGE, OP["CREATE_BUFFER"], seq)
    guest.assert_not_created(object_id)
    guest.assert_serves()


@pytest.mark.parametrize("command", ["CREATE_VERTEX_SHADER", "CREATE_TEXTURE2D", "UPDATE_SUBRESOURCE",
                                     "MAP_READ", "MAP_WRITE_DISCARD"])
def test_heap_range_other_commands(guest, command):
    heap = guest.heap_size
    content = bytes(range(64))
    if command == "CREATE_VERTEX_SHADER":
        object_id = guest.new_id()
        seq = guest.emit(command, shader=object_id, language=ShaderLanguage.WGSL, code_offset=heap - 64,
                         code_size=128)
    elif command == "CREATE_TEXTURE2D":
        object_id = guest.new_id()
        seq = guest.emit(command, texture=object_id, width=2, height=2, mip_levels=1, array_size=1, format=RGBA8,
                         sample_count=1, sample_quality=0, usage=Usage.DEFAULT, bind_flags=BindFlag.SHADER_RESOURCE,
                         cpu_access_flags=0, misc_flags=0, initial_data_offset=U64_MAX - 7, initial_data_size=16)
    elif command == "UPDATE_SUBRESOURCE":
        object_id = guest.make_buffer(content)
        seq = guest.emit(command, resource=object_id, subresource=0, has_box=0, box_left=0, box_top=0, box_front=0,
                         box_right=0, box_bottom=0, box_back=0, src_row_pitch=0, src_depth_pitch=0,
                         src_offset=heap, src_size=64)
    elif command == "MAP_READ":
        object_id = guest.make_buffer(content, usage=Usage.STAGING, bind=0, cpu=CpuAccessFlag.READ)
        seq = guest.emit(command, resource=object_id, subresource=0, dst_row_pitch=64, dst_depth_pitch=64,
                         dst_offset=heap - 32, dst_size=64)
    else:
        object_id = guest.make_buffer(content, usage=Usage.DYNAMIC, cpu=CpuAccessFlag.WRITE)
        seq = guest.emit(command, resource=object_id, subresource=0, src_row_pitch=64, src_offset=U64_MAX,
                         src_size=2)
    expect_one(guest.sync(), ErrorCode.HEAP_RANGE, OP[command], seq)
    if command.startswith("CREATE"):
        guest.assert_not_created(object_id)
    elif command == "MAP_READ":
        assert guest.read_buffer(object_id, 64, staging=True) == content
    else:
        assert guest.read_buffer(object_id, 64) == content, "a rejected write changed the buffer"
    guest.assert_serves()


# --- wrong kind ------------------------------------------------------------------------------------
WRONG_KIND_CASES = {
    # case -> (command, its fields from the objects made, its array elements from the objects made)
    "vertex_shader_is_buffer": ("SET_VERTEX_SHADER", lambda o: dict(shader=o["buffer"]), None),
    "pixel_shader_is_texture": ("SET_PIXEL_SHADER", lambda o: dict(shader=o["texture"]), None),
    "clear_view_is_texture": ("CLEAR_RENDER_TARGET_VIEW",
                              lambda o: dict(view=o["texture"], color_r=1.0, color_g=0.0, color_b=0.0, color_a=1.0),
                              None),
    "present_rtv": ("PRESENT", lambda o: dict(swap_chain=o["rtv"], sync_interval=0, flags=0), None),
    "rtv_of_buffer": ("CREATE_RENDER_TARGET_VIEW",
                      lambda o: dict(view=0x3100_0001, resource=o["buffer"], format=0, mip_slice=0, array_slice=0), None),
    "copy_into_swap_chain": ("COPY_RESOURCE", lambda o: dict(dst=o["swap_chain"], src=o["buffer"]), None),
    "render_target_slot_is_buffer": ("SET_RENDER_TARGETS", lambda o: dict(depth_stencil_view=0),
                                      lambda o: [(o["rtv"],), (o["buffer"],)]),
    "vertex_buffer_slot_is_texture": ("SET_VERTEX_BUFFERS", lambda o: dict(start_slot=0),
                                      lambda o: [(o["texture"], 16, 0)]),
}


@pytest.mark.parametrize("case", list(WRONG_KIND_CASES))
def test_wrong_kind(guest, case):
    name, fields, elements = WRONG_KIND_CASES[case]
    target = guest.make_target()
    objects = {"buffer": guest.make_buffer(bytes(64)), "texture": target.back_buffer, "rtv": target.rtv,
               "swap_chain": target.swap_chain}
    assert guest.sync() == []
    seq = guest.emit(name, elements(objects) if elements else None, **fields(objects))
    expect_one(guest.sync(), ErrorCode.WRONG_KIND, OP[name], seq)
    if name == "CREATE_RENDER_TARGET_VIEW":
        guest.assert_not_created(0x3100_0001)
    # The objects named are unharmed: the target still clears and presents.
    before = len(guest.frames())
    color = guest.clear_and_present(target)
    assert guest.sync() == []
    guest.assert_presented(color, before, target.size)
    guest.assert_serves()


# --- dead ids --------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["destroyed_buffer", "destroyed_view", "never_created", "double_destroy",
                                  "never_created_in_array", "destroyed_swap_chain"])
def test_dead_id(guest, case):
    target = guest.make_target()
    buffer_id = guest.make_buffer(bytes(64), bind=BindFlag.INDEX_BUFFER | BindFlag.CONSTANT_BUFFER)
    assert guest.sync() == []
    if case == "destroyed_buffer":
        guest.emit("DESTROY_OBJECT", object=buffer_id)
        name, seq = "SET_INDEX_BUFFER", guest.emit("SET_INDEX_BUFFER", buffer=buffer_id,
                                                   format=DxgiFormat.R16_UINT, offset=0)
    elif case == "destroyed_view":
        guest.emit("DESTROY_OBJECT", object=target.rtv)
        name, seq = "CLEAR_RENDER_TARGET_VIEW", guest.emit("CLEAR_RENDER_TARGET_VIEW", view=target.rtv, color_r=1.0,
                                                           color_g=1.0, color_b=1.0, color_a=1.0)
    elif case == "never_created":
        name, seq = "SET_VERTEX_SHADER", guest.emit("SET_VERTEX_SHADER", shader=0x3EAD_BEEF)
    elif case == "double_destroy":
        guest.emit("DESTROY_OBJECT", object=buffer_id)
        name, seq = "DESTROY_OBJECT", guest.emit("DESTROY_OBJECT", object=buffer_id)
    elif case == "never_created_in_array":
        name, seq = "SET_CONSTANT_BUFFERS", guest.emit("SET_CONSTANT_BUFFERS", [(buffer_id,), (0x3EAD_BEEF,)],
                                                       stage=ShaderStage.PIXEL, start_slot=0)
    else:
        guest.emit("DESTROY_OBJECT", object=target.swap_chain)
        name, seq = "PRESENT", guest.emit("PRESENT", swap_chain=target.swap_chain, sync_interval=0, flags=0)
    before = len(guest.frames())
    expect_one(guest.sync(), ErrorCode.DEAD_ID, OP[name], seq)
    assert len(guest.frames()) == before
    guest.assert_serves()


# --- enum, flag and bool values -----------------------------------------------------------------------
def _enum_cases():
    rt = (0, 2, 1, 1, 2, 1, 1, 0xF)  # a valid RenderTargetBlend: blend off, ONE/ZERO/ADD, write all
    new = 0x3200_0001
    return {
        "topology_99": ("SET_PRIMITIVE_TOPOLOGY", dict(topology=99), None, None),
        "topology_0": ("SET_PRIMITIVE_TOPOLOGY", dict(topology=0), None, None),
        "bind_flags_unknown_bit": ("CREATE_BUFFER", dict(buffer=new, byte_width=16, bind_flags=0x8000_0001), None,
                                   new),
        "misc_flags_unknown_bit": ("CREATE_BUFFER", dict(buffer=new, byte_width=16, bind_flags=1, misc_flags=0x8000_0000),
                                    None, new),
        "usage_7": ("CREATE_BUFFER", dict(buffer=new, byte_width=16, bind_flags=1, usage=7), None, new),
        "bool_2": ("CREATE_RASTERIZER_STATE", dict(state=new, fill_mode=3, cull_mode=1, front_counter_clockwise=2,
                                                   depth_clip_enable=1), None, new),
        "texture_format_9999": ("CREATE_TEXTURE2D", dict(texture=new, width=2, height=2, mip_levels=1, array_size=1,
                                                         format=9999, sample_count=1, bind_flags=8), None, new),
        "element_bool_2": ("CREATE_BLEND_STATE", dict(state=new), [(2,) + rt[1:]], new),
        "element_write_mask_0x10": ("CREATE_BLEND_STATE", dict(state=new), [rt[:-1] + (0x10,)], new),
        "element_input_format_9999": ("CREATE_INPUT_LAYOUT", dict(layout=new, **NO_NAMES), [(0, 9999, 0, 0, 0, 0)],
                                      new),
        "stage_3": ("SET_CONSTANT_BUFFERS", dict(stage=3, start_slot=0), [(0,)], None),
        "clear_flags_4": ("CLEAR_DEPTH_STENCIL_VIEW", dict(view="dsv", clear_flags=ClearFlag.DEPTH | 4, depth=1.0),
                          None, None),
        "shader_language_0": ("CREATE_PIXEL_SHADER", dict(shader=new, language=0, code_offset=0, code_size=16),
                              None, new),
    }


ENUM_CASES = _enum_cases()


@pytest.mark.parametrize("case", list(ENUM_CASES))
def test_out_of_range_enum_flag_or_bool(guest, case):
    name, fields, elements, created = ENUM_CASES[case]
    if fields.get("view") == "dsv":  # a real depth-stencil view, so only the flags are wrong
        depth, dsv = guest.new_id(), guest.new_id()
        guest.emit("CREATE_TEXTURE2D", texture=depth, width=4, height=4, mip_levels=1, array_size=1,
                   format=DxgiFormat.D32_FLOAT, sample_count=1, sample_quality=0, usage=Usage.DEFAULT,
                   bind_flags=BindFlag.DEPTH_STENCIL, cpu_access_flags=0, misc_flags=0, initial_data_offset=0,
                   initial_data_size=0)
        guest.emit("CREATE_DEPTH_STENCIL_VIEW", view=dsv, resource=depth, format=0, mip_slice=0, array_slice=0, flags=0)
        assert guest.sync() == []
        fields = dict(fields, view=dsv)
    seq = next_seq()
    guest.raw(record(name, seq, elements, **fields))
    expect_one(guest.sync(), ErrorCode.BAD_ENUM, OP[name], seq)
    if created is not None:
        guest.assert_not_created(created)
    guest.assert_serves()


def test_reserved_header_flags(guest):
    """The header's flags are reserved: a record that sets them is rejected, not half-understood."""
    seq = next_seq()
    guest.raw(patch(record("SET_PRIMITIVE_TOPOLOGY", seq, topology=4), 2, "H", 0x8000))
    expect_one(guest.sync(), ErrorCode.BAD_ENUM, OP["SET_PRIMITIVE_TOPOLOGY"], seq)
    guest.assert_serves()


def test_view_format_checked_by_host(guest):
    """A view's format is a plain u32 (0: the resource's); an unknown value is still BAD_ENUM."""
    target = guest.make_target()
    assert guest.sync() == []
    view = guest.new_id()
    seq = guest.emit("CREATE_RENDER_TARGET_VIEW", view=view, resource=target.back_buffer, format=9999, mip_slice=0, array_slice=0)
    expect_one(guest.sync(), ErrorCode.BAD_ENUM, OP["CREATE_RENDER_TARGET_VIEW"], seq)
    guest.assert_not_created(view)
    guest.assert_serves()


def test_resize_buffers_format_zero_keeps_format(guest):
    """RESIZE_BUFFERS with format 0 means "keep the current format" (DXGI_FORMAT_UNKNOWN, what the
    guest API sends by default and what the renderer implements); range checks must not reject it."""
    target = guest.make_target()
    guest.emit("DESTROY_OBJECT", object=target.rtv)  # no view of the back buffer may be alive
    assert guest.sync() == []
    guest.emit("RESIZE_BUFFERS", swap_chain=target.swap_chain, buffer_count=1, width=8, height=8, format=0)
    errors = guest.sync()
    assert errors == [], [e.describe() for e in errors]
    rtv = guest.new_id()
    guest.emit("CREATE_RENDER_TARGET_VIEW", view=rtv, resource=target.back_buffer, format=0, mip_slice=0, array_slice=0)
    before = len(guest.frames())
    color = guest.clear_and_present(Target(target.swap_chain, target.back_buffer, rtv, 8))
    assert guest.sync() == []
    guest.assert_presented(color, before, 8)


# --- counts ---------------------------------------------------------------------------------------------
VIEWPORT = (0.0, 0.0, 4.0, 4.0, 0.0, 1.0)


def _count_cases():
    def viewports(n_claimed, n_written):
        def build(seq):
            rec = record("SET_VIEWPORTS", seq, [VIEWPORT] * n_written)
            return "SET_VIEWPORTS", patch(rec, field_offset("SET_VIEWPORTS", "viewport_count"), "I", n_claimed)
        build.__name__ = f"viewports_{n_claimed:#x}_claimed_{n_written}_written"
        return build

    def render_targets(seq):
        n = MAX_RENDER_TARGETS + 1
        return "SET_RENDER_TARGETS", record("SET_RENDER_TARGETS", seq, [(0,)] * n)

    def input_elements(seq):
        n = MAX_INPUT_ELEMENTS + 1
        return "CREATE_INPUT_LAYOUT", record("CREATE_INPUT_LAYOUT", seq, [(0, 16, 0, 0, 0, 0)] * n,
                                             layout=0x3300_0001, **NO_NAMES)

    def vertex_slots_past_end(seq):  # each count is fine, start_slot + count is not
        return "SET_VERTEX_BUFFERS", record("SET_VERTEX_BUFFERS", seq, [(0, 0, 0)] * 2, start_slot=31)

    def sampler_start_slot_huge(seq):
        return "SET_SAMPLERS", record("SET_SAMPLERS", seq, [(0,)], stage=0, start_slot=0xFFFF_FFFF)

    return [viewports(MAX_VIEWPORTS + 1, MAX_VIEWPORTS + 1), viewports(MAX_VIEWPORTS + 1, 1),
            viewports(0xFFFF_FFFF, 1), render_targets, input_elements, vertex_slots_past_end,
            sampler_start_slot_huge]


@pytest.mark.parametrize("case", _count_cases(), ids=lambda c: c.__name__)
def test_oversized_count(guest, case):
    seq = next_seq()
    name, bad = case(seq)
    guest.raw(bad)
    expect_one(guest.sync(), ErrorCode.COUNT_LIMIT, OP[name], seq)
    guest.assert_serves()


# --- ids already in use ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["same_kind", "other_kind", "zero", "swap_chain_ids_equal",
                                  "back_buffer_id_live"])
def test_id_already_in_use(guest, case):
    content = bytes(range(32))
    staging = guest.make_buffer(content, usage=Usage.STAGING, bind=0, cpu=CpuAccessFlag.READ)
    target = guest.make_target()
    assert guest.sync() == []
    if case in ("same_kind", "other_kind", "zero"):
        object_id = {"same_kind": staging, "other_kind": target.rtv, "zero": 0}[case]
        off, size = guest.conn.upload(bytes(32))
        name, seq = "CREATE_BUFFER", guest.emit("CREATE_BUFFER", buffer=object_id, byte_width=32,
                                                usage=Usage.DEFAULT, bind_flags=BindFlag.VERTEX_BUFFER,
                                                cpu_access_flags=0, misc_flags=0, structure_byte_stride=0,
                                                initial_data_offset=off, initial_data_size=size)
    elif case == "swap_chain_ids_equal":
        # One command naming the same new id twice: the second object would take the first's place.
        object_id = guest.new_id()
        name, seq = "CREATE_SWAP_CHAIN", guest.emit("CREATE_SWAP_CHAIN", swap_chain=object_id, buffer=object_id,
                                                    width=4, height=4, format=RGBA8, buffer_count=1)
    else:
        object_id = guest.new_id()
        name, seq = "CREATE_SWAP_CHAIN", guest.emit("CREATE_SWAP_CHAIN", swap_chain=object_id, buffer=staging,
                                                    width=4, height=4, format=RGBA8, buffer_count=1)
    expect_one(guest.sync(), ErrorCode.ID_IN_USE, OP[name], seq)
    # The live objects are untouched: the staging buffer still holds its bytes, the target presents.
    assert guest.read_buffer(staging, 32, staging=True) == content
    before = len(guest.frames())
    color = guest.clear_and_present(target)
    assert guest.sync() == []
    guest.assert_presented(color, before, target.size)
    if case in ("swap_chain_ids_equal", "back_buffer_id_live"):
        guest.assert_not_created(object_id)
    guest.assert_serves()


# --- D3D11 usage rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["immutable_without_data", "staging_with_bind_flags", "dynamic_without_cpu_write",
                                  "default_with_cpu_access", "immutable_texture_without_data",
                                  "staging_texture_with_bind_flags"])
def test_usage_rules_on_create(guest, case):
    object_id = guest.new_id()
    data = guest.conn.upload(bytes(64))
    usage, bind, cpu, with_data = {
        "immutable_without_data": (Usage.IMMUTABLE, BindFlag.VERTEX_BUFFER, 0, False),
        "staging_with_bind_flags": (Usage.STAGING, BindFlag.VERTEX_BUFFER, CpuAccessFlag.READ, True),
        "dynamic_without_cpu_write": (Usage.DYNAMIC, BindFlag.VERTEX_BUFFER, 0, True),
        "default_with_cpu_access": (Usage.DEFAULT, BindFlag.VERTEX_BUFFER, CpuAccessFlag.READ, True),
        "immutable_texture_without_data": (Usage.IMMUTABLE, BindFlag.SHADER_RESOURCE, 0, False),
        "staging_texture_with_bind_flags": (Usage.STAGING, BindFlag.SHADER_RESOURCE, CpuAccessFlag.READ, False),
    }[case]
    off, size = data if with_data else (0, 0)
    if "texture" in case:
        name = "CREATE_TEXTURE2D"
        seq = guest.emit(name, texture=object_id, width=4, height=4, mip_levels=1, array_size=1, format=RGBA8,
                         sample_count=1, sample_quality=0, usage=usage, bind_flags=bind, cpu_access_flags=cpu,
                         misc_flags=0, initial_data_offset=off, initial_data_size=size)
    else:
        name = "CREATE_BUFFER"
        seq = guest.emit(name, buffer=object_id, byte_width=64, usage=usage, bind_flags=bind, cpu_access_flags=cpu,
                         misc_flags=0, structure_byte_stride=0, initial_data_offset=off, initial_data_size=size)
    expect_one(guest.sync(), ErrorCode.INVALID_CALL, OP[name], seq)
    guest.assert_not_created(object_id)
    guest.assert_serves()


@pytest.mark.parametrize("case", ["update_immutable", "update_dynamic", "map_read_default",
                                  "map_write_discard_immutable"])
def test_usage_rules_on_write_and_map(guest, case):
    content = bytes(range(100, 164))
    usage, cpu = {"update_immutable": (Usage.IMMUTABLE, 0), "update_dynamic": (Usage.DYNAMIC, CpuAccessFlag.WRITE),
                  "map_read_default": (Usage.DEFAULT, 0), "map_write_discard_immutable": (Usage.IMMUTABLE, 0)}[case]
    buffer_id = guest.make_buffer(content, usage=usage, bind=BindFlag.VERTEX_BUFFER, cpu=cpu)
    assert guest.sync() == []
    off, size = guest.conn.upload(bytes(64))  # zeros: would be visible if the write went through
    if case.startswith("update"):
        name = "UPDATE_SUBRESOURCE"
        seq = guest.emit(name, resource=buffer_id, subresource=0, has_box=0, box_left=0, box_top=0, box_front=0,
                         box_right=0, box_bottom=0, box_back=0, src_row_pitch=0, src_depth_pitch=0, src_offset=off,
                         src_size=size)
    elif case == "map_read_default":
        name = "MAP_READ"
        seq = guest.emit(name, resource=buffer_id, subresource=0, dst_row_pitch=64, dst_depth_pitch=64,
                         dst_offset=off, dst_size=size)
    else:
        name = "MAP_WRITE_DISCARD"
        seq = guest.emit(name, resource=buffer_id, subresource=0, src_row_pitch=64, src_offset=off, src_size=size)
    expect_one(guest.sync(), ErrorCode.INVALID_CALL, OP[name], seq)
    if case == "map_read_default":
        assert bytes(guest.conn.region.heap[off:off + size]) == bytes(64), "a rejected MAP_READ wrote the heap"
    assert guest.read_buffer(buffer_id, 64) == content, "the rejected command changed the buffer"
    guest.assert_serves()


# --- device lost -------------------------------------------------------------------------------------------
def unknown_opcode_records(n: int) -> list[tuple[int, bytes]]:
    out = []
    for _ in range(n):
        seq = next_seq()
        out.append((seq, patch(record("FLUSH", seq), 0, "H", 0xFEED)))
    return out


def test_device_lost_after_consecutive_bad_records(bad_host):
    lost = bad_host.connect()
    try:
        assert lost.sync() == []
        bad = unknown_opcode_records(MAX_CONSECUTIVE_ERRORS + 8)
        lost.raw(*(r for _, r in bad))
        fence = lost.conn.fence()  # published together with the bad records: one chunk for the host
        lost.wait_consumed()
        assert lost.conn.device_status == DeviceStatus.LOST
        assert lost.conn.completed_fence < fence, "a lost device executed the FENCE after the bad records"
        with pytest.raises(DeviceLostError):
            lost.conn.wait_fence(fence, timeout=WAIT)
        log = lost.device.host_errors()
        assert log[-1].code == ErrorCode.DEVICE_LOST
        bad_entries = [e for e in log if e.code == ErrorCode.UNKNOWN_OPCODE]
        assert bad_entries, "the bad records before the loss are in the log"
        assert all(e.opcode == 0xFEED for e in bad_entries)
        # The loss happens at the 64th bad record: the ones after it are not even decoded.
        assert bad_entries[-1].sequence == bad[MAX_CONSECUTIVE_ERRORS - 1][0]
        # The lost guest keeps being a lost guest (no crash, no recovery by itself)...
        with pytest.raises(DeviceLostError):
            lost.conn.wait_fence(lost.conn.fence(), timeout=WAIT)
        assert lost.session_thread.is_alive()
        # ...while a new guest is served normally, even with the lost one still connected.
        fresh = bad_host.connect()
        try:
            fresh.assert_serves()
        finally:
            fresh.close()
    finally:
        lost.close()
    fresh = bad_host.connect()
    try:
        fresh.assert_serves()
    finally:
        fresh.close()


def test_bad_records_below_the_limit_do_not_lose_the_device(guest):
    for _ in range(3):
        bad = unknown_opcode_records(MAX_CONSECUTIVE_ERRORS - 1)
        guest.raw(*(r for _, r in bad))
        errors = guest.sync()  # the FENCE is a good command: the run of errors ends there
        assert guest.status == DeviceStatus.READY
        # the log keeps the last ones, less the one whose slot the host writes next (never read torn)
        assert len(errors) == min(len(bad), L.ERROR_LOG_ENTRIES - 1)
        assert [e.sequence for e in errors] == [s for s, _ in bad][-len(errors):]
        assert all(e.code == ErrorCode.UNKNOWN_OPCODE for e in errors)
    guest.assert_serves()


def test_lost_device_executes_nothing_published_with_the_bad_batch(guest):
    """Records published together with the 64th bad one are dropped, also when the batch spans
    the ring's end (the host then reads it as two chunks in one go)."""
    ring = guest.conn.writer.size
    bad = unknown_opcode_records(MAX_CONSECUTIVE_ERRORS)
    bad_bytes = sum(len(r) for _, r in bad)
    guest.pad_to(ring - bad_bytes)  # the bad records end exactly at the ring's end
    guest.raw(*(r for _, r in bad))
    fence = guest.conn.fence()  # at ring offset 0: the second chunk of the same publish
    assert guest.conn.writer.pos % ring == 32
    guest.wait_consumed()
    assert guest.status == DeviceStatus.LOST
    assert guest.conn.completed_fence < fence, "a lost device executed the FENCE after the bad records"
    assert guest.session_thread.is_alive()


def test_lost_guest_cannot_revive_itself_through_the_control_page(guest):
    """device_status is the host's word; a lost guest that writes READY there stays lost."""
    bad = unknown_opcode_records(MAX_CONSECUTIVE_ERRORS)
    guest.raw(*(r for _, r in bad))
    guest.wait_consumed()
    assert guest.status == DeviceStatus.LOST
    guest.conn.region.set("device_status", DeviceStatus.READY)
    fence = guest.conn.fence()
    guest.wait_consumed()
    assert guest.conn.completed_fence < fence, "the host served a lost guest that declared itself READY"
    assert guest.session_thread.is_alive()


@pytest.mark.parametrize("field, value", [("device_status", 99), ("error_count", U64_MAX)])
def test_hostile_control_page_values_do_not_kill_the_session(bad_host, field, value):
    """The guest can write every byte of its control page; the session must survive whatever it
    finds there (serving the guest or declaring it lost), and other guests are unaffected."""
    gst = bad_host.connect()
    try:
        assert gst.sync() == []
        gst.conn.region.set(field, value)
        seq = next_seq()
        gst.raw(patch(record("FLUSH", seq), 0, "H", 0xFEED))  # one bad record: something to log
        fence = gst.conn.fence()
        thread = gst.session_thread
        slot = gst.conn.region.u64_slot("ring_consumer")
        deadline = time.monotonic() + WAIT
        while int(gst.conn.region.u64[slot]) < gst.conn.writer.pos and thread.is_alive():
            assert time.monotonic() < deadline, "the host neither consumed the ring nor ended the session"
            thread.join(0.05)
        assert thread.is_alive(), "a value the guest wrote in its control page killed its session"
        assert gst.conn.completed_fence >= fence or gst.status == DeviceStatus.LOST
    finally:
        gst.close()
    fresh = bad_host.connect()
    try:
        fresh.assert_serves()
    finally:
        fresh.close()


def test_corrupt_ring_position_loses_device(bad_host):
    lost = bad_host.connect()
    try:
        assert lost.sync() == []
        region = lost.conn.region
        consumer = int(region.u64[region.u64_slot("ring_consumer")])
        region.u64[region.u64_slot("ring_producer")] = consumer + 4 * len(lost.conn.region.ring)  # beyond full
        lost.conn.channel.ring_doorbell()
        deadline = time.monotonic() + WAIT
        while lost.status != DeviceStatus.LOST and time.monotonic() < deadline:
            lost.conn.channel.wait_interrupt(0.05)
        assert lost.status == DeviceStatus.LOST
        codes = [e.code for e in lost.device.host_errors()]
        assert codes == [ErrorCode.BAD_FRAMING, ErrorCode.DEVICE_LOST]
        assert lost.session_thread.is_alive()
    finally:
        lost.close()
    fresh = bad_host.connect()
    try:
        fresh.assert_serves()
    finally:
        fresh.close()


HANG_SCRIPT = r"""
import os, sys
from pvgpu import guest as g
from pvgpu.errors import DeviceLostError, WaitTimeoutError
from pvgpu.host.service import HostService

WAIT = float(sys.argv[1])
path = os.path.join(sys.argv[2], "host.sock")
HostService(path, region_size=16 << 20, isolation="thread").start()
dev = g.connect(path, timeout=WAIT)
ctx = dev.immediate_context
chain = dev.create_swap_chain(g.SwapChainDesc(8, 8))
ctx.om_set_render_targets([dev.create_render_target_view(chain.get_buffer(0))])
ctx.vs_set_shader(dev.create_vertex_shader(
    "@vertex fn main() -> @builtin(position) vec4<f32> { return vec4<f32>(0.0, 0.0, 0.0, 1.0); }"))
ctx.ps_set_shader(dev.create_pixel_shader(
    "@fragment fn main() -> @location(0) vec4<f32> { return vec4<f32>(1.0, 0.0, 0.0, 1.0); }"))
ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
ctx.rs_set_viewports([g.Viewport(0, 0, 8, 8)])
dev.connection.finish()
ctx.draw_instanced(0xFFFFFFFF, 0xFFFFFFFF)  # 2**64 vertex shader invocations
conn = dev.connection
try:
    conn.wait_fence(conn.fence(), timeout=WAIT)
    print("OUTCOME done", [e.code.name for e in conn.host_errors()], flush=True)
except DeviceLostError:
    print("OUTCOME lost", flush=True)
except WaitTimeoutError:
    print("OUTCOME hung", flush=True)
os._exit(0)  # a hung session thread cannot be joined
"""


def test_pathological_draw_does_not_hang_the_session():
    """One DRAW_INSTANCED of 2**32-1 vertices x 2**32-1 instances: the host must refuse it (a count
    limit) or stop it (a watchdog and device-lost), not keep the session busy for ever. Run in a
    child process, which is killed afterwards, so a hang burns no CPU in this one."""
    with tempfile.TemporaryDirectory(prefix="pvgpu-hang-") as folder:
        proc = subprocess.run([sys.executable, "-c", HANG_SCRIPT, str(WAIT), folder], capture_output=True,
                              text=True, timeout=WAIT * 3 + 60, env=dict(os.environ, XDG_RUNTIME_DIR="/tmp"))
    outcome = [line for line in proc.stdout.splitlines() if line.startswith("OUTCOME")]
    assert outcome, proc.stdout + proc.stderr[-2000:]
    assert outcome[0].split()[1] in ("done", "lost"), f"the session hung on one draw: {outcome[0]}"


# --- fuzzing --------------------------------------------------------------------------------------------
def _wire_value(field, draw_int):
    """A value for a field, drawn from small pools so objects made by one record are used by others."""
    m = field.meaning
    if m in (Meaning.OBJECT, Meaning.NEW_OBJECT):
        return draw_int([0, 1, 2, 3])
    if m is Meaning.ENUM:
        return draw_int(sorted(int(v) for v in field.enum))
    if m is Meaning.FLAGS:
        bits = [int(v) for v in field.enum]
        return sum(b for b in bits if draw_int([0, 1]))
    if m is Meaning.BOOL:
        return draw_int([0, 1])
    if m is Meaning.HEAP_OFFSET:
        return draw_int([0, 256, 4096])
    if m is Meaning.HEAP_SIZE:
        return draw_int([0, 16, 64, 256])
    if field.wire.code == "f":
        return [0.0, 1.0, -1.0, 0.5, 1e30][draw_int(list(range(5)))]
    if field.wire.code == "i":
        return draw_int([0, 1, -1])
    if field.wire.code == "Q":
        return draw_int([0, 1, 1 << 40])
    return draw_int([0, 1, 4, 16, 0xFFFF_FFFF])


@st.composite
def valid_records(draw, max_elements: int = 3):
    layout = draw(st.sampled_from([l for l in codec.LAYOUTS.values() if l.name != "PAD"]))

    def draw_int(choices):
        return draw(st.sampled_from(choices))

    values = [_wire_value(f, draw_int) for f in layout.fields]
    elements = None
    if layout.element is not None:
        n = draw(st.integers(0, min(max_elements, layout.count_field.limit)))
        elements = [tuple(_wire_value(f, draw_int) for f in layout.element.fields) for _ in range(n)]
        values[layout.count_index] = n
    seq = draw(st.integers(0, U64_MAX))
    return layout.encode(seq, tuple(values), elements)


@st.composite
def mutated_records(draw):
    rec = bytearray(draw(valid_records()))
    flips = draw(st.lists(st.tuples(st.integers(0, len(rec) - 1), st.integers(0, 255)), min_size=1, max_size=6))
    for pos, byte in flips:
        rec[pos] = byte
    return bytes(rec)


def _decode_or_decode_error(data: bytes, available=None) -> None:
    try:
        seq, cmd, size = codec.decode(data, 0, available)
    except codec.DecodeError as e:
        assert isinstance(e.code, ErrorCode)
        return
    limit = len(data) if available is None else available
    assert size % codec.RECORD_ALIGN == 0 and codec.HEADER_SIZE <= size <= limit
    if cmd is not None:
        # What decoded is a well-formed command of exactly that size (pads and header flags,
        # which a mutation may have set, are not part of it).
        assert len(codec.encode(cmd, seq)) == size


FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=600))
def test_decode_fuzz_random_bytes(data):
    _decode_or_decode_error(data)


@FUZZ
@given(mutated_records(), st.integers(0, 64))
def test_decode_fuzz_mutated_records(rec, cut):
    _decode_or_decode_error(rec)
    _decode_or_decode_error(rec, max(0, len(rec) - cut))  # fewer bytes published than the record holds
    _decode_or_decode_error(rec + bytes(cut))


@FUZZ
@given(valid_records())
def test_decode_accepts_every_valid_record(rec):
    """The other side of validation: what the spec allows must decode (and re-encode the same)."""
    seq, cmd, size = codec.decode(rec)
    assert size == len(rec)
    assert codec.encode(cmd, seq) == rec


def _framed(data: bytes) -> bytes:
    """Random bytes written to the ring as a whole number of 16-byte units (the header inside is random)."""
    return data + bytes(-len(data) % 16) if data else bytes(16)


LIVE_RECORDS = st.one_of(
    mutated_records(), valid_records(), st.binary(min_size=16, max_size=160).map(_framed),
    # a burst of one bad record, long enough to put the device in the lost state
    mutated_records().map(lambda r: _framed(r) * (MAX_CONSECUTIVE_ERRORS + 1)),
)


def test_live_session_fuzz(bad_host):
    """Hostile streams through real sessions: the host never crashes and never hangs; the guest
    is READY (and served) or LOST; and a new guest is served afterwards."""
    outcomes = defaultdict(int)

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(LIVE_RECORDS, min_size=1, max_size=12))
    def run(records):
        gst = bad_host.connect()
        try:
            gst.raw(*records)
            # A lying header may swallow what follows it, so the next fence goes in a batch of its own.
            gst.wait_consumed()
            assert gst.session_thread.is_alive()
            internal = [e.describe() for e in gst.device.host_errors() if "internal" in e.detail]
            assert not internal, f"host bugs surfaced as internal errors: {internal}"
            if gst.status == DeviceStatus.LOST:
                outcomes["lost"] += 1
                with pytest.raises(DeviceLostError):
                    gst.conn.wait_fence(gst.conn.fence(), timeout=WAIT)
            else:
                outcomes["ready"] += 1
                assert gst.status == DeviceStatus.READY
                gst.assert_serves()
        finally:
            gst.close()

    run()
    assert outcomes["ready"] > 0 and outcomes["lost"] > 0, dict(outcomes)
    fresh = bad_host.connect()
    try:
        fresh.assert_serves()
    finally:
        fresh.close()


# --- draws that read past their buffers, memory quota ------------------------------------------
RANGE_VS = "@vertex\nfn vs(@location(0) p: vec2<f32>) -> @builtin(position) vec4<f32> { return vec4<f32>(p, 0.0, 1.0); }"
RANGE_PS = "@fragment\nfn ps() -> @location(0) vec4<f32> { return vec4<f32>(1.0, 0.0, 0.0, 1.0); }"


@pytest.mark.parametrize("draw", [
    ("DRAW", dict(vertex_count=7, start_vertex_location=0)),
    ("DRAW", dict(vertex_count=1, start_vertex_location=6)),
    ("DRAW_INSTANCED", dict(vertex_count_per_instance=6, instance_count=1, start_vertex_location=2,
                            start_instance_location=0)),
    ("DRAW_INDEXED", dict(index_count=7, start_index_location=0, base_vertex_location=0)),
    ("DRAW_INDEXED", dict(index_count=2, start_index_location=5, base_vertex_location=0)),
], ids=lambda d: f"{d[0]}-{'-'.join(map(str, d[1].values()))}")
def test_draw_reading_past_its_buffers_is_rejected_alone(guest, draw):
    """wgpu would fail the whole command buffer; pvgpu rejects just the draw (D3D11 keeps the rest)."""
    name, fields = draw
    target = guest.make_target(8)
    vb = guest.make_buffer(np.zeros(12, np.float32).tobytes())  # 6 vertices of float2
    ib = guest.make_buffer(np.zeros(6, np.uint16).tobytes(), bind=BindFlag.INDEX_BUFFER)
    vs, ps, layout = guest.new_id(), guest.new_id(), guest.new_id()
    for shader_id, code, op in ((vs, RANGE_VS, "CREATE_VERTEX_SHADER"), (ps, RANGE_PS, "CREATE_PIXEL_SHADER")):
        off, size = guest.conn.upload(code.encode())
        guest.emit(op, shader=shader_id, language=1, code_offset=off, code_size=size)
    guest.emit("CREATE_INPUT_LAYOUT", [(0, int(g.DxgiFormat.R32G32_FLOAT), 0, 0, 0, 0)], layout=layout, **NO_NAMES)
    guest.emit("SET_RENDER_TARGETS", [(target.rtv,)], depth_stencil_view=0)
    guest.emit("SET_VIEWPORTS", [(0.0, 0.0, 8.0, 8.0, 0.0, 1.0)])
    guest.emit("SET_INPUT_LAYOUT", layout=layout)
    guest.emit("SET_VERTEX_BUFFERS", [(vb, 8, 0)], start_slot=0)
    guest.emit("SET_INDEX_BUFFER", buffer=ib, format=int(g.DxgiFormat.R16_UINT), offset=0)
    guest.emit("SET_PRIMITIVE_TOPOLOGY", topology=4)
    guest.emit("SET_VERTEX_SHADER", shader=vs)
    guest.emit("SET_PIXEL_SHADER", shader=ps)
    before = len(guest.frames())
    guest.clear_and_present(target)
    seq = guest.emit(name, **fields)
    guest.emit("PRESENT", swap_chain=target.swap_chain, sync_interval=0, flags=0)
    expect_one(guest.sync(), ErrorCode.INVALID_CALL, OP[name], seq)
    assert len(guest.frames()) == before + 2  # both presents happened: nothing else was lost
    guest.assert_serves()


def test_creation_beyond_the_memory_quota_is_refused_before_allocating(guest):
    table = guest.host.service.sessions[guest.session_id].session.objects
    table.max_bytes = table.bytes + (1 << 20)
    buffer_id = guest.new_id()
    seq = guest.emit("CREATE_BUFFER", buffer=buffer_id, byte_width=1 << 30, usage=0, bind_flags=1,
                     cpu_access_flags=0, misc_flags=0, structure_byte_stride=0, initial_data_offset=0,
                     initial_data_size=0)
    expect_one(guest.sync(), ErrorCode.QUOTA, OP["CREATE_BUFFER"], seq)
    guest.assert_not_created(buffer_id)
    table.max_bytes = 2 << 30
    guest.assert_serves()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_rejected(guest, value):
    """NaN and infinities never reach the GPU API (a NaN viewport is undefined behaviour there)."""
    seq = next_seq()
    guest.raw(record("SET_VIEWPORTS", seq, [(0.0, 0.0, value, 8.0, 0.0, 1.0)]))
    expect_one(guest.sync(), ErrorCode.BAD_ENUM, OP["SET_VIEWPORTS"], seq)
    guest.assert_serves()
