"""The guest's encoding fast path (issue 9, "Guest side too"): the positional encoders generated
from the spec (pvgpu.protocol.encoders), the connection's generated emitters and the ring
writer's shortcut, DeviceContext's positional calls, and Map(WRITE_DISCARD)'s fast path.

Everything is checked against the codec: what goes through the ring is decoded with
`codec.decode` by a consumer in this process and compared with the commands expected, across
ring wraps, PAD records and a full ring. No host service, no GPU.
"""

from __future__ import annotations

import os
import random
import struct
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pvgpu import guest as g
from pvgpu.errors import PvgpuError, TransportError
from pvgpu.guest.connection import GuestConnection
from pvgpu.protocol import codec, encoders
from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import QUERY_RESULT_BYTES, DeviceStatus, GuestState, ShaderStage
from pvgpu.protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from pvgpu.protocol.types import Meaning
from pvgpu.transport.control import format_control_page
from pvgpu.transport.region import Region
from pvgpu.transport.ring import RingReader, RingWriter

from test_protocol import command_strategy

C = codec.Commands
ALL = [l for l in codec.LAYOUTS.values() if l.name != "PAD"]


# --- protocol.encoders: generated packers ------------------------------------------------------

def _positional(layout: codec.CommandLayout, cmd) -> tuple[list, list]:
    """(fields in spec order without the count, flat element values) of a command dataclass."""
    fields = [getattr(cmd, f.name) for i, f in enumerate(layout.fields)
              if layout.element is None or i != layout.count_index]
    flat = []
    if layout.element is not None:
        for e in getattr(cmd, layout.array_attr):
            flat += [getattr(e, f.name) for f in layout.element.fields]
    return fields, flat


@pytest.mark.parametrize("layout", ALL, ids=lambda l: l.name)
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seq=st.integers(0, 2**64 - 1))
def test_generated_packer_writes_the_codecs_bytes(layout, data, seq):
    cmd = data.draw(command_strategy(layout))
    expected = codec.encode(cmd, seq)
    enc = encoders.ENCODERS[layout.opcode]
    fields, flat = _positional(layout, cmd)
    buf = bytearray(b"\xa5" * (len(expected) + 48))  # stale bytes all around: pads must be written as zeros
    args = (fields + [flat]) if layout.element is not None else fields
    assert enc.pack(buf, 16, seq, *args) == len(expected)
    assert bytes(buf[16:16 + len(expected)]) == expected
    assert buf[:16] == b"\xa5" * 16 and buf[16 + len(expected):] == b"\xa5" * 32, "wrote outside its record"
    assert encoders.encode(layout.name, seq, *fields, elements=flat if layout.element is not None else None) \
        == expected


def test_encoders_are_derived_from_every_spec_entry():
    assert set(encoders.ENCODERS) == set(codec.LAYOUTS)
    for enc in encoders.ENCODERS.values():
        layout = enc.layout
        assert enc.params == tuple(f.name for f in layout.fields if f.meaning is not Meaning.COUNT)
        if enc.fixed:
            assert enc.size == layout.record_size() == enc.struct.size
        else:
            for n in (0, 1, 2, enc.limit):
                assert enc.structs[n].size == layout.record_size(n)
            enc.structs[enc.limit + 5]
            assert enc.limit + 5 not in enc.structs, "counts over the limit are not kept"
    assert encoders.MAX_SHORT_RECORD >= encoders.MAX_FIXED_RECORD


def test_flat_elements_must_be_whole():
    with pytest.raises(ValueError, match="whole number of 3-value elements"):
        encoders.encode("SET_VERTEX_BUFFERS", 1, 0, elements=[1, 16])


# --- a guest over a region whose "host" decodes everything it is given ----------------------------

class DecodingHost:
    """Answers the handshake; whenever the guest rings or waits, decodes everything published
    (codec.decode, PAD records counted), frees the ring and completes every submitted fence."""

    def __init__(self, region: Region):
        self.region = region
        self.reader: RingReader | None = None
        self.commands: list[tuple[int, object]] = []
        self.pads = 0
        self.drains = 0

    def ring_doorbell(self) -> None:
        r = self.region
        if r.get("device_status") == DeviceStatus.INITIALIZING and r.get("guest_state") == GuestState.HELLO:
            r.set("device_status", DeviceStatus.READY)
            return
        self.drain()

    def drain(self) -> None:
        r = self.region
        if self.reader is None:
            self.reader = RingReader(r.ring, r.u64, r.u64_slot("ring_producer"), r.u64_slot("ring_consumer"))
        self.drains += 1
        while chunk := self.reader.read_chunk():
            off = 0
            while off < len(chunk):
                seq, cmd, size = codec.decode(chunk, off, len(chunk) - off)
                if cmd is None:
                    self.pads += 1
                else:
                    self.commands.append((seq, cmd))
                off += size
            self.reader.consume(len(chunk))
        self.reader.publish()
        r.set("fence_completed", r.get("fence_submitted"))

    def wait_interrupt(self, timeout: float) -> bool:
        self.drain()
        return True

    def close(self) -> None:
        pass

    def take(self, conn: GuestConnection) -> list:
        """Everything the guest wrote since the last take (published first)."""
        conn.kick()
        self.drain()
        out, self.commands = self.commands, []
        return out


@pytest.fixture
def guest():
    """(device, host) over a 64 KiB-ring region."""
    plan = L.RegionLayout.plan(4 << 20, 1 << 16)
    region = Region.create(plan.region_size)
    format_control_page(region, plan, 0, PROTOCOL_MAJOR, PROTOCOL_MINOR)
    host = DecodingHost(region)
    device = g.Device(GuestConnection(host, timeout=5))
    yield device, host
    device.close()
    region.close()


def _connection(ring_size: int, heap_size: int = 1 << 16) -> tuple[GuestConnection, DecodingHost, Region]:
    """A connection over a region whose control page describes a ring of any size."""
    plan = L.RegionLayout(L.CONTROL_PAGE_SIZE + ring_size + heap_size, L.CONTROL_PAGE_SIZE, ring_size,
                          L.CONTROL_PAGE_SIZE + ring_size, heap_size)
    region = Region.create(plan.region_size)
    format_control_page(region, plan, 0, PROTOCOL_MAJOR, PROTOCOL_MINOR)
    host = DecodingHost(region)
    return GuestConnection(host, timeout=5), host, region


def _random_command(rng: random.Random, layout: codec.CommandLayout, max_elements: int | None = None):
    def value(f):
        if f.meaning is Meaning.ENUM:
            return int(rng.choice(list(f.enum)))
        if f.meaning in (Meaning.FLAGS, Meaning.BOOL):
            return 0
        if f.wire.name == "f32":
            return rng.choice((0.0, 0.5, -2.25, 1e6))
        if f.wire.name == "i32":
            return rng.randint(-2**31, 2**31 - 1)
        return rng.randint(0, 2**32 - 1 if f.wire.size == 4 else 2**64 - 1)

    kw = {f.name: value(f) for f in layout.fields if f.meaning is not Meaning.COUNT}
    if layout.element is not None:
        limit = layout.count_field.limit if max_elements is None else min(max_elements, layout.count_field.limit)
        n = rng.choice((0, 1, 1, 1, 2, rng.randint(0, limit)))
        kw[layout.array_attr] = [layout.element.cls(**{f.name: value(f) for f in layout.element.fields})
                                 for _ in range(n)]
        kw[layout.count_field.name] = n
    return layout.cls(**kw)


def _emit_positional(conn: GuestConnection, layout: codec.CommandLayout, cmd) -> int:
    fields, flat = _positional(layout, cmd)
    method = getattr(conn, encoders.ENCODERS[layout.opcode].method)
    return method(*fields, flat) if layout.element is not None else method(*fields)


def _emit_keywords(conn: GuestConnection, layout: codec.CommandLayout, cmd) -> int:
    kw = {f.name: getattr(cmd, f.name) for f in layout.fields if f.meaning is not Meaning.COUNT}
    elements = None
    if layout.element is not None:
        elements = [tuple(getattr(e, f.name) for f in layout.element.fields) for e in getattr(cmd, layout.array_attr)]
    return conn.emit(layout.name, elements, **kw)


@pytest.mark.parametrize("ring_size", [4096, 8192])
def test_emitters_across_wraps_pads_and_a_full_ring(ring_size):
    """Random commands of every kind through a small ring, published in random batches; the
    decoded stream is exactly what was emitted, with sequence numbers in order."""
    conn, host, region = _connection(ring_size)
    try:
        rng = random.Random(ring_size)
        expected = []
        for i in range(3000):
            layout = rng.choice(ALL)
            cmd = _random_command(rng, layout, max_elements=40)
            emit = _emit_positional if rng.random() < 0.7 else _emit_keywords
            seq = emit(conn, layout, cmd)
            assert seq == conn.seq
            expected.append((seq, cmd))
            if rng.random() < 0.05:
                conn.kick()
        got = host.take(conn)
        assert [s for s, _ in got] == list(range(1, len(expected) + 1))
        assert got == expected
        assert host.pads > 0, "no PAD record was needed: the test did not reach the ring's end"
        assert conn.writer.pos > 10 * ring_size
    finally:
        conn.close()
        region.close()


def test_the_ring_writers_shortcut_keeps_the_full_rule():
    """A guest that publishes nothing until the ring is full waits for the consumer exactly
    when reserve would have, never overwriting what the host has not consumed."""
    conn, host, region = _connection(4096)
    try:
        waits = []
        inner = conn.writer.wait_for_consumer
        conn.writer.wait_for_consumer = lambda target: (waits.append(target), inner(target))
        for i in range(4096 // 32 - 1):
            conn.emit_draw(3, i)
        assert not waits and host.drains == 0
        conn.emit_draw(3, 999)  # the ring's last 32 bytes: full, not overfull
        assert not waits
        conn.emit_draw(3, 1000)  # no room: the writer must wait for the consumer
        assert waits == [32]
        got = host.take(conn)
        assert [c.start_vertex_location for _, c in got] == list(range(4096 // 32 - 1)) + [999, 1000]
    finally:
        conn.close()
        region.close()


def test_a_ring_too_small_for_the_shortcut_still_follows_the_rules():
    """A host may describe a tiny ring: the shortcut is off, reserve does everything, and a
    record over half the ring is refused before anything moves."""
    conn, host, region = _connection(128)
    try:
        w = conn.writer
        assert w.max_record == 64 < encoders.MAX_SHORT_RECORD and w.fast_end == -1
        for i in range(20):
            conn.emit_draw(3, i)  # 32 bytes
            conn.emit_set_blend_state(0, 1.0, 1.0, 1.0, 1.0, 0xFFFFFFFF)  # 48 bytes: PADs
        seq, pos = conn.seq, w.pos
        with pytest.raises(TransportError, match="half"):
            conn.emit_create_sampler_state(1, 0x15, 1, 1, 1, 0.0, 1, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # 80 bytes
        assert (conn.seq, w.pos) == (seq, pos)
        got = host.take(conn)
        assert len(got) == 40 and host.pads > 0
        assert [c.start_vertex_location for _, c in got[::2]] == list(range(20))
    finally:
        conn.close()
        region.close()


def test_an_array_record_over_half_the_ring_is_refused():
    conn, host, region = _connection(4096)
    try:
        seq, pos = conn.seq, conn.writer.pos
        with pytest.raises(TransportError, match="half"):
            conn.emit_set_shader_resources(ShaderStage.PIXEL, 0, list(range(600)))  # 2,432 bytes, over the limit too
        assert (conn.seq, conn.writer.pos) == (seq, pos)
        conn.emit_set_shader_resources(ShaderStage.PIXEL, 0, list(range(128)))
        (_, cmd), = host.take(conn)
        assert cmd.view_count == 128 and [v.view for v in cmd.views] == list(range(128))
    finally:
        conn.close()
        region.close()


def test_moving_the_write_position_by_hand_resets_the_shortcut():
    """Tests and tools set `writer.pos` directly (test_bad_input); the shortcut must then
    not trust a room computed for the old position."""
    ring, pos = memoryview(bytearray(4096)), np.zeros(16, dtype=np.uint64)
    w = RingWriter(ring, pos, 0, 8, lambda target: None)
    w.pos = 4096 + 4096 - 16  # a lap later, 16 bytes before the ring's end
    assert w.fast_end <= 8192
    pos[8] = 4096 + 4096 - 16  # consumer caught up
    off = w.reserve(32)
    assert off == 0 and w.pos == 8192, "a PAD was written and the record starts the next lap"
    assert codec.HEADER.unpack_from(ring, 4080) == (codec.PAD_OPCODE, 0, 16, 0)


def test_keyword_emit_keeps_its_errors():
    conn, host, region = _connection(4096)
    try:
        with pytest.raises(TypeError, match="missing field start_vertex_location"):
            conn.emit("DRAW", vertex_count=3)
        with pytest.raises(KeyError):
            conn.emit("NO_SUCH_COMMAND")
        with pytest.raises(struct.error):  # an element of the wrong length, as pack_into always said
            conn.emit("SET_VERTEX_BUFFERS", [(1, 16)], start_slot=0)
        with pytest.raises(struct.error):
            conn.emit("DRAW", vertex_count=-1, start_vertex_location=0)
        assert conn.emit("SET_VERTEX_BUFFERS", [(1, 16, 0), (2, 8, 4)], start_slot=3) == conn.seq
        got = host.take(conn)
        assert got[-1][1] == C.SetVertexBuffers(3, 2, [C.VertexBufferBinding(1, 16, 0), C.VertexBufferBinding(2, 8, 4)])
    finally:
        conn.close()
        region.close()


# --- DeviceContext: every method's positional call lands in the right fields -----------------------

def test_context_methods_encode_what_they_always_did(guest):
    device, host = guest
    ctx = device.get_immediate_context()
    conn = device.connection
    vb = device.create_buffer(g.BufferDesc(64))
    cb = device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER))
    tex = device.create_texture2d(g.Texture2DDesc(4, 4, bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE))
    rtv, srv = device.create_render_target_view(tex), device.create_shader_resource_view(tex)
    dsv = device.create_depth_stencil_view(device.create_texture2d(
        g.Texture2DDesc(4, 4, g.DxgiFormat.D32_FLOAT, bind_flags=g.BindFlag.DEPTH_STENCIL)))
    uav = device.create_unordered_access_view(device.create_texture2d(
        g.Texture2DDesc(4, 4, bind_flags=g.BindFlag.UNORDERED_ACCESS)))
    blend = device.create_blend_state(g.BlendDesc())
    raster = device.create_rasterizer_state(g.RasterizerDesc())
    depth = device.create_depth_stencil_state(g.DepthStencilDesc())
    sampler = device.create_sampler_state(g.SamplerDesc())
    layout = device.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT)])
    query = device.create_query(g.QueryType.OCCLUSION_PREDICATE)
    host.take(conn)
    V, P, CS = ShaderStage.VERTEX, ShaderStage.PIXEL, ShaderStage.COMPUTE
    VBB, CBS, SRS, SMS, RTS, UAS = (C.VertexBufferBinding, C.ConstantBufferSlot, C.ShaderResourceSlot, C.SamplerSlot,
                                    C.RenderTargetSlot, C.UnorderedAccessSlot)
    calls = [
        (lambda: ctx.ia_set_input_layout(layout), C.SetInputLayout(layout.id)),
        (lambda: ctx.ia_set_input_layout(None), C.SetInputLayout(0)),
        (lambda: ctx.ia_set_vertex_buffers(0, [vb], [16]), C.SetVertexBuffers(0, 1, [VBB(vb.id, 16, 0)])),
        (lambda: ctx.ia_set_vertex_buffers(2, [vb], [16], [32]), C.SetVertexBuffers(2, 1, [VBB(vb.id, 16, 32)])),
        (lambda: ctx.ia_set_vertex_buffers(1, [vb, None], [16, 8], [4, 0]),
         C.SetVertexBuffers(1, 2, [VBB(vb.id, 16, 4), VBB(0, 8, 0)])),
        (lambda: ctx.ia_set_vertex_buffers(0, (b for b in [vb, vb]), iter([16, 12]), [0, 8]),
         C.SetVertexBuffers(0, 2, [VBB(vb.id, 16, 0), VBB(vb.id, 12, 8)])),
        (lambda: ctx.ia_set_vertex_buffers(0, [vb, vb], [16]), C.SetVertexBuffers(0, 1, [VBB(vb.id, 16, 0)])),
        (lambda: ctx.ia_set_vertex_buffers(0, [], []), C.SetVertexBuffers(0, 0, [])),
        (lambda: ctx.ia_set_vertex_buffers(0, [None], np.array([16]), np.array([4])),
         C.SetVertexBuffers(0, 1, [VBB(0, 16, 4)])),
        (lambda: ctx.ia_set_index_buffer(vb, g.DxgiFormat.R32_UINT, 8), C.SetIndexBuffer(vb.id, 42, 8)),
        (lambda: ctx.ia_set_index_buffer(None), C.SetIndexBuffer(0, int(g.DxgiFormat.R16_UINT), 0)),
        (lambda: ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLESTRIP), C.SetPrimitiveTopology(5)),
        (lambda: ctx.vs_set_shader(None), C.SetVertexShader(0)),
        (lambda: ctx.ps_set_shader(None), C.SetPixelShader(0)),
        (lambda: ctx.cs_set_shader(None), C.SetComputeShader(0)),
        (lambda: ctx.vs_set_constant_buffers(1, [cb]), C.SetConstantBuffers(V, 1, 1, [CBS(cb.id)])),
        (lambda: ctx.ps_set_constant_buffers(0, [cb, None, cb]),
         C.SetConstantBuffers(P, 0, 3, [CBS(cb.id), CBS(0), CBS(cb.id)])),
        (lambda: ctx.cs_set_constant_buffers(2, (b for b in [cb])), C.SetConstantBuffers(CS, 2, 1, [CBS(cb.id)])),
        (lambda: ctx.vs_set_shader_resources(0, [srv]), C.SetShaderResources(V, 0, 1, [SRS(srv.id)])),
        (lambda: ctx.ps_set_shader_resources(1, [None, srv]), C.SetShaderResources(P, 1, 2, [SRS(0), SRS(srv.id)])),
        (lambda: ctx.cs_set_shader_resources(0, []), C.SetShaderResources(CS, 0, 0, [])),
        (lambda: ctx.vs_set_samplers(0, [sampler]), C.SetSamplers(V, 0, 1, [SMS(sampler.id)])),
        (lambda: ctx.ps_set_samplers(3, [sampler, sampler]), C.SetSamplers(P, 3, 2, [SMS(sampler.id)] * 2)),
        (lambda: ctx.cs_set_samplers(0, [None]), C.SetSamplers(CS, 0, 1, [SMS(0)])),
        (lambda: ctx.cs_set_unordered_access_views(1, [uav]), C.SetUnorderedAccessViews(1, 1, [UAS(uav.id, 0xFFFFFFFF)])),
        (lambda: ctx.cs_set_unordered_access_views(0, [uav, None], [5, 6]),
         C.SetUnorderedAccessViews(0, 2, [UAS(uav.id, 5), UAS(0, 6)])),
        (lambda: ctx.copy_structure_count(vb, 8, uav), C.CopyStructureCount(vb.id, 8, uav.id)),
        (lambda: ctx.dispatch(4), C.Dispatch(4, 1, 1)),
        (lambda: ctx.dispatch(4, 5, 6), C.Dispatch(4, 5, 6)),
        (lambda: ctx.dispatch_indirect(vb, 12), C.DispatchIndirect(vb.id, 12)),
        (lambda: ctx.clear_unordered_access_view_float(uav, (0.5, 1.0, 0.25, 2.0)),
         C.ClearUnorderedAccessViewFloat(uav.id, 0.5, 1.0, 0.25, 2.0)),
        (lambda: ctx.clear_unordered_access_view_uint(uav, [1, 2, 3, 4]), C.ClearUnorderedAccessViewUint(uav.id, 1, 2, 3, 4)),
        (lambda: ctx.rs_set_viewports([g.Viewport(0, 0, 64, 32), g.Viewport(1.5, 2.5, 8, 4, 0.25, 0.5)]),
         C.SetViewports(2, [C.Viewport(0, 0, 64, 32, 0.0, 1.0), C.Viewport(1.5, 2.5, 8, 4, 0.25, 0.5)])),
        (lambda: ctx.rs_set_scissor_rects([g.Rect(1, 2, 3, 4)]), C.SetScissorRects(1, [C.Rect(1, 2, 3, 4)])),
        (lambda: ctx.rs_set_state(raster), C.SetRasterizerState(raster.id)),
        (lambda: ctx.rs_set_state(None), C.SetRasterizerState(0)),
        (lambda: ctx.om_set_render_targets([rtv], dsv), C.SetRenderTargets(dsv.id, 1, [RTS(rtv.id)])),
        (lambda: ctx.om_set_render_targets([], None), C.SetRenderTargets(0, 0, [])),
        (lambda: ctx.om_set_render_targets([None, rtv]), C.SetRenderTargets(0, 2, [RTS(0), RTS(rtv.id)])),
        (lambda: ctx.om_set_blend_state(blend), C.SetBlendState(blend.id, 1.0, 1.0, 1.0, 1.0, 0xFFFFFFFF)),
        (lambda: ctx.om_set_blend_state(None, [0.5, 0.25, 0.0, 1.0], 3), C.SetBlendState(0, 0.5, 0.25, 0.0, 1.0, 3)),
        (lambda: ctx.om_set_depth_stencil_state(depth, 7), C.SetDepthStencilState(depth.id, 7)),
        (lambda: ctx.om_set_depth_stencil_state(None), C.SetDepthStencilState(0, 0)),
        (lambda: ctx.draw(3), C.Draw(3, 0)),
        (lambda: ctx.draw(6, 12), C.Draw(6, 12)),
        (lambda: ctx.draw_indexed(6, 1, -2), C.DrawIndexed(6, 1, -2)),
        (lambda: ctx.draw_indexed(6), C.DrawIndexed(6, 0, 0)),
        (lambda: ctx.draw_instanced(3, 4, 5, 6), C.DrawInstanced(3, 4, 5, 6)),
        (lambda: ctx.draw_instanced(3, 4), C.DrawInstanced(3, 4, 0, 0)),
        (lambda: ctx.draw_indexed_instanced(3, 4, 5, -6, 7), C.DrawIndexedInstanced(3, 4, 5, -6, 7)),
        (lambda: ctx.draw_indexed_instanced(3, 4), C.DrawIndexedInstanced(3, 4, 0, 0, 0)),
        (lambda: ctx.draw_instanced_indirect(vb, 16), C.DrawInstancedIndirect(vb.id, 16)),
        (lambda: ctx.draw_indexed_instanced_indirect(vb), C.DrawIndexedInstancedIndirect(vb.id, 0)),
        (lambda: ctx.clear_render_target_view(rtv, (0.5, 0.25, 0.125, 1.0)),
         C.ClearRenderTargetView(rtv.id, 0.5, 0.25, 0.125, 1.0)),
        (lambda: ctx.clear_depth_stencil_view(dsv), C.ClearDepthStencilView(dsv.id, int(g.ClearFlag.DEPTH), 1.0, 0)),
        (lambda: ctx.clear_depth_stencil_view(dsv, 3, 0.5, 9), C.ClearDepthStencilView(dsv.id, 3, 0.5, 9)),
        (lambda: ctx.copy_resource(vb, cb), C.CopyResource(vb.id, cb.id)),
        (lambda: ctx.resolve_subresource(tex, 1, tex, 2, g.DxgiFormat.R8G8B8A8_UNORM),
         C.ResolveSubresource(tex.id, 1, tex.id, 2, int(g.DxgiFormat.R8G8B8A8_UNORM))),
        (lambda: ctx.resolve_subresource(tex, 0, tex, 0), C.ResolveSubresource(tex.id, 0, tex.id, 0, 0)),
        (lambda: ctx.generate_mips(srv), C.GenerateMips(srv.id)),
        (lambda: ctx.copy_subresource_region(vb, 0, 8, 0, 0, cb, 0),
         C.CopySubresourceRegion(vb.id, 0, 8, 0, 0, cb.id, 0, 0, 0, 0, 0, 0, 0, 0)),
        (lambda: ctx.copy_subresource_region(tex, 1, 2, 3, 0, tex, 4, g.Box(1, 2, 0, 3, 4, 1)),
         C.CopySubresourceRegion(tex.id, 1, 2, 3, 0, tex.id, 4, 1, 1, 2, 0, 3, 4, 1)),
        (lambda: ctx.begin(query), C.BeginQuery(query.id)),
        (lambda: ctx.set_predication(query, True), C.SetPredication(query.id, 1)),
        (lambda: ctx.set_predication(None), C.SetPredication(0, 0)),
    ]
    for i, (call, want) in enumerate(calls):
        seq = conn.seq
        assert call() is None, f"call {i} returned something"
        got = host.take(conn)
        assert got == [(seq + 1, want)], f"call {i}: {got} != {want}"

    ctx.flush()  # publishes by itself
    host.drain()
    assert host.commands[-1][1] == C.Flush()
    host.commands.clear()
    ctx.end(query)  # END_QUERY with a heap range, then a FENCE
    (_, end), (_, fence) = host.take(conn)
    assert isinstance(end, C.EndQuery) and end.query == query.id and end.result_size == QUERY_RESULT_BYTES[query.type]
    assert fence == C.Fence(conn.last_fence)

    data = np.arange(16, dtype=np.uint8)
    ctx.update_subresource(cb, 0, None, data)
    (_, upd), = host.take(conn)
    assert upd == C.UpdateSubresource(cb.id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, upd.src_offset, 16)
    assert bytes(conn.region.heap[upd.src_offset:upd.src_offset + 16]) == data.tobytes()
    ctx.update_subresource(tex, 0, g.Box(1, 1, 0, 3, 2, 1), bytes(8))
    (_, upd), = host.take(conn)
    assert upd == C.UpdateSubresource(tex.id, 0, 1, 1, 1, 0, 3, 2, 1, 8, 8, upd.src_offset, 8)


# --- Map(WRITE_DISCARD)'s fast path keeps D3D11's rules ----------------------------------------------

def _map_writes(host, conn) -> list:
    return [c for _, c in host.take(conn) if isinstance(c, (C.MapWriteDiscard, C.MapWriteNoOverwrite))]


def _heap_bytes(conn, cmd) -> bytes:
    return bytes(conn.region.heap[cmd.src_offset:cmd.src_offset + cmd.src_size])


def test_write_discard_gives_a_fresh_zeroed_array_and_sends_what_was_written(guest):
    device, host = guest
    ctx, conn = device.get_immediate_context(), device.connection
    dyn = device.create_buffer(g.BufferDesc(64, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    first = ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    assert first.data.dtype == np.uint8 and first.data.shape == (64,) and not first.data.any()
    assert (first.row_pitch, first.depth_pitch) == (64, 64)
    first.data[:] = 7
    ctx.unmap(dyn, 0)
    first.data[:] = 99  # after Unmap: must change nothing that was sent or kept
    second = ctx.map(dyn, 0, 4)  # a plain int map type
    assert second.data is not first.data and not second.data.any()
    second.data[:8] = 1
    ctx.unmap(dyn)
    (a, b) = _map_writes(host, conn)
    assert a == C.MapWriteDiscard(dyn.id, 0, 64, a.src_offset, 64)
    assert _heap_bytes(conn, a) == bytes([7] * 64) and _heap_bytes(conn, b) == bytes([1] * 8 + [0] * 56)
    # WRITE_NO_OVERWRITE starts from what the last Unmap sent
    more = ctx.map(dyn, 0, g.MapType.WRITE_NO_OVERWRITE)
    assert bytes(more.data) == bytes([1] * 8 + [0] * 56)
    more.data[16:20] = 5
    ctx.unmap(dyn, 0)
    (nov,) = _map_writes(host, conn)
    assert nov == C.MapWriteNoOverwrite(dyn.id, 16, nov.src_offset, 4) and _heap_bytes(conn, nov) == bytes([5] * 4)


def test_write_discard_uploads_the_bytes_whatever_the_program_did_to_the_array(guest):
    device, host = guest
    ctx, conn = device.get_immediate_context(), device.connection
    dyn = device.create_buffer(g.BufferDesc(16, g.BindFlag.VERTEX_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    m = ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    m.data.shape = (4, 4)  # reshaped in place
    m.data[1] = 3
    ctx.unmap(dyn, 0)
    m = ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    m.data.dtype = np.float32  # reinterpreted in place
    m.data[:] = 1.0
    ctx.unmap(dyn, 0)
    m = ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    m.data = np.array([2, 3, 4, 5], dtype=np.uint32)  # another array put in its place
    ctx.unmap(dyn, 0)
    a, b, c = _map_writes(host, conn)
    assert _heap_bytes(conn, a) == bytes(4) + bytes([3] * 4) + bytes(8)
    assert _heap_bytes(conn, b) == np.ones(4, np.float32).tobytes()
    assert _heap_bytes(conn, c) == np.array([2, 3, 4, 5], np.uint32).tobytes()


def test_map_keeps_its_checks(guest):
    device, host = guest
    ctx = device.get_immediate_context()
    dyn = device.create_buffer(g.BufferDesc(16, g.BindFlag.VERTEX_BUFFER, g.Usage.DYNAMIC, g.CpuAccessFlag.WRITE))
    plain = device.create_buffer(g.BufferDesc(16))
    with pytest.raises(PvgpuError, match="needs a DYNAMIC resource"):
        ctx.map(plain, 0, g.MapType.WRITE_DISCARD)
    with pytest.raises(ValueError):
        ctx.map(dyn, 0, 9)
    with pytest.raises(ValueError):
        ctx.map(dyn, 0, [4])
    ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    with pytest.raises(PvgpuError, match="already mapped"):
        ctx.map(dyn, 0, g.MapType.WRITE_DISCARD)
    ctx.unmap(dyn, 0)
    with pytest.raises(PvgpuError, match="is not mapped"):
        ctx.unmap(dyn, 0)
    tex = device.create_texture2d(g.Texture2DDesc(4, 2, usage=g.Usage.DYNAMIC, cpu_access_flags=g.CpuAccessFlag.WRITE))
    m = ctx.map(tex, 0, g.MapType.WRITE_DISCARD)
    assert m.data.shape == (32,) and (m.row_pitch, m.depth_pitch) == (16, 32)
    m.data[:] = 8
    ctx.unmap(tex, 0)
    conn = device.connection
    w = _map_writes(host, conn)[-1]
    assert w == C.MapWriteDiscard(tex.id, 0, 16, w.src_offset, 32) and _heap_bytes(conn, w) == bytes([8] * 32)


# --- the benchmark runs (not timed here) ---------------------------------------------------------------

def test_guest_encode_benchmark_runs():
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import guest_encode
    result = guest_encode.measure(draws=200, rounds=1, batch=100)  # also checks its bytes against the floor's
    assert set(result["cases"]) >= {"a", "b", "c"}
    assert "x floor" in guest_encode.table(result)
