"""Guest encoding rate without a host GPU in the loop (issue 9, "Guest side too").

The guest runtime (Device, DeviceContext, GuestConnection) runs over a real shared region
whose "host" is a loopback channel: it answers the handshake and, when the guest rings the
doorbell or waits, drains the ring and completes every fence at once (no decoding, no GPU).
Each case is timed in batches that fit the ring and the heap; the ring and the heap are
drained between batches, outside the timing.

Cases, each next to its floor measured in the same run: the same bytes written with one
precompiled `struct.pack_into` per record into a bytearray (what a Python guest cannot
beat; the floor of (b) also copies the 64 constant bytes, as the heap upload does):

  (a) a draw with three state changes: om_set_blend_state, ps_set_constant_buffers,
      ia_set_vertex_buffers, draw (benchmarks/game_frame.py's guest-rate loop)
  (b) Map(WRITE_DISCARD) of a 64-byte dynamic constant buffer, its 64 bytes written, Unmap, draw
  (c) GuestConnection.emit("DRAW", ...) (the keyword API), and where the guest has them the
      positional per-command emitter (conn.emit_draw) and DeviceContext.draw

Run: `.venv/bin/python -m benchmarks.guest_encode [--draws N] [--rounds R] [--batch B]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import time

import numpy as np

from pvgpu import guest as g
from pvgpu.guest.connection import GuestConnection
from pvgpu.protocol import codec
from pvgpu.protocol import layout as L
from pvgpu.protocol.enums import DeviceStatus, GuestState, ShaderStage
from pvgpu.protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from pvgpu.protocol.types import Meaning
from pvgpu.transport.control import format_control_page
from pvgpu.transport.region import Region

CB_BYTES = 64


class LoopbackHost:
    """A guest channel whose host answers the handshake, then drains the ring and completes
    every submitted fence whenever the guest rings or waits (a consumer that does nothing)."""

    def __init__(self, region: Region):
        self.region = region
        self._prod = region.u64_slot("ring_producer")
        self._cons = region.u64_slot("ring_consumer")

    def ring_doorbell(self) -> None:
        r = self.region
        if r.get("device_status") == DeviceStatus.INITIALIZING and r.get("guest_state") == GuestState.HELLO:
            r.set("device_status", DeviceStatus.READY)
            return
        self.drain()

    def drain(self) -> None:
        u64 = self.region.u64
        u64[self._cons] = u64[self._prod]
        self.region.set("fence_completed", self.region.get("fence_submitted"))

    def wait_interrupt(self, timeout: float) -> bool:
        self.drain()
        return True

    def close(self) -> None:
        pass


def open_loopback(region_size: int = 64 << 20, ring_size: int = L.DEFAULT_RING_SIZE) -> tuple[g.Device, Region]:
    plan = L.RegionLayout.plan(region_size, ring_size)
    region = Region.create(plan.region_size, "pvgpu-guest-encode")
    format_control_page(region, plan, 0, PROTOCOL_MAJOR, PROTOCOL_MINOR)
    # Touch every page of the ring and the heap once, as a long-running guest has: the first
    # write to a page of the fresh region faults (about 0.1 us per 256-byte heap allocation).
    region.ring[:] = bytes(len(region.ring))
    region.heap[:] = bytes(len(region.heap))
    return g.Device(GuestConnection(LoopbackHost(region), timeout=10)), region


# --- the floor: one precompiled Struct per record, derived from the spec's layouts ----------------

def record_struct(name: str, elements: int = 0) -> tuple[struct.Struct, int, int]:
    """(Struct of the whole record with pads as zero bytes, opcode, record size)."""
    layout = codec.BY_NAME[name]
    fmt = "<HHIQ"
    for s in layout.slots:
        fmt += "4x" if s.field.meaning is Meaning.PAD else s.field.wire.code
    if elements:
        el = "".join("4x" if s.field.meaning is Meaning.PAD else s.field.wire.code for s in layout.element.slots)
        fmt += el * elements
    size = layout.record_size(elements)
    tail = size - struct.calcsize(fmt)
    if tail:
        fmt += f"{tail}x"
    st = struct.Struct(fmt)
    assert st.size == size
    return st, layout.opcode, size


def floor_draw_3_states(buf: bytearray, n: int, seq: int, blend_ids, cb_ids, vb_id: int) -> int:
    blend, op_b, sz_b = record_struct("SET_BLEND_STATE")
    cbs, op_c, sz_c = record_struct("SET_CONSTANT_BUFFERS", 1)
    vbs, op_v, sz_v = record_struct("SET_VERTEX_BUFFERS", 1)
    draw, op_d, sz_d = record_struct("DRAW")
    pb, pc, pv, pd = blend.pack_into, cbs.pack_into, vbs.pack_into, draw.pack_into
    pixel = int(ShaderStage.PIXEL)
    off = 0
    t0 = time.perf_counter()
    for i in range(n):
        pb(buf, off, op_b, 0, sz_b, seq + 1, blend_ids[i & 1], 1.0, 1.0, 1.0, 1.0, 0xFFFFFFFF)
        off += sz_b
        pc(buf, off, op_c, 0, sz_c, seq + 2, pixel, 0, 1, cb_ids[i & 7])
        off += sz_c
        pv(buf, off, op_v, 0, sz_v, seq + 3, 0, 1, vb_id, 16, (i & 3) * 16)
        off += sz_v
        pd(buf, off, op_d, 0, sz_d, seq + 4, 3, 0)
        off += sz_d
        seq += 4
    return time.perf_counter() - t0


def floor_map_discard_draw(buf: bytearray, heap: memoryview, n: int, seq: int, cb_id: int, src: np.ndarray) -> float:
    mwd, op_m, sz_m = record_struct("MAP_WRITE_DISCARD")
    draw, op_d, sz_d = record_struct("DRAW")
    pm, pd = mwd.pack_into, draw.pack_into
    rows = [memoryview(r) for r in src]
    off = 0
    heap_off = 0
    t0 = time.perf_counter()
    for i in range(n):
        heap[heap_off:heap_off + CB_BYTES] = rows[i & 63]
        pm(buf, off, op_m, 0, sz_m, seq + 1, cb_id, 0, CB_BYTES, heap_off, CB_BYTES)
        off += sz_m
        pd(buf, off, op_d, 0, sz_d, seq + 2, 6, 0)
        off += sz_d
        heap_off += 256
        seq += 2
    return time.perf_counter() - t0


def floor_draw(buf: bytearray, n: int, seq: int) -> float:
    draw, op_d, sz_d = record_struct("DRAW")
    pd = draw.pack_into
    off = 0
    t0 = time.perf_counter()
    for i in range(n):
        seq += 1
        pd(buf, off, op_d, 0, sz_d, seq, 3, i)
        off += sz_d
    return time.perf_counter() - t0


# --- the guest runtime --------------------------------------------------------------------------

class Scene:
    def __init__(self, device: g.Device):
        self.device = device
        self.ctx = ctx = device.get_immediate_context()
        self.conn = device.connection
        self.blends = [device.create_blend_state(g.BlendDesc()),
                       device.create_blend_state(g.BlendDesc([g.RenderTargetBlendDesc(True, g.Blend.SRC_ALPHA,
                                                                                       g.Blend.INV_SRC_ALPHA)]))]
        self.cbs = [device.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER, g.Usage.IMMUTABLE),
                                         np.full(4, i / 8, np.float32)) for i in range(8)]
        self.vb = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE),
                                       np.zeros(16, np.float32))
        self.dyn = device.create_buffer(g.BufferDesc(CB_BYTES, g.BindFlag.CONSTANT_BUFFER, g.Usage.DYNAMIC,
                                                     g.CpuAccessFlag.WRITE))
        self.src = np.random.default_rng(3).integers(0, 255, (64, CB_BYTES), dtype=np.uint8)
        ctx.vs_set_constant_buffers(0, [self.dyn])
        self.drain()

    def drain(self) -> None:
        """The host catches up (outside the timing): ring drained, fences complete, heap free."""
        self.conn.finish()

    def draw_3_states(self, n: int) -> float:
        ctx, blends, cbs, vb = self.ctx, self.blends, self.cbs, self.vb
        t0 = time.perf_counter()
        for i in range(n):
            ctx.om_set_blend_state(blends[i & 1])
            ctx.ps_set_constant_buffers(0, [cbs[i & 7]])
            ctx.ia_set_vertex_buffers(0, [vb], [16], [(i & 3) * 16])
            ctx.draw(3)
        return time.perf_counter() - t0

    def map_discard_draw(self, n: int) -> float:
        ctx, dyn, src = self.ctx, self.dyn, self.src
        wd = g.MapType.WRITE_DISCARD
        t0 = time.perf_counter()
        for i in range(n):
            m = ctx.map(dyn, 0, wd)
            m.data[:] = src[i & 63]
            ctx.unmap(dyn, 0)
            ctx.draw(6)
        return time.perf_counter() - t0

    def emit_draw(self, n: int) -> float:
        emit = self.conn.emit
        t0 = time.perf_counter()
        for i in range(n):
            emit("DRAW", vertex_count=3, start_vertex_location=i)
        return time.perf_counter() - t0

    def emit_draw_positional(self, n: int) -> float:
        emit_draw = self.conn.emit_draw
        t0 = time.perf_counter()
        for i in range(n):
            emit_draw(3, i)
        return time.perf_counter() - t0

    def context_draw(self, n: int) -> float:
        draw = self.ctx.draw
        t0 = time.perf_counter()
        for i in range(n):
            draw(3, i)
        return time.perf_counter() - t0


def check_same_bytes(scene: Scene) -> None:
    """The guest's records for (a) and (c) are byte for byte the floor's (same sequence numbers)."""
    conn = scene.conn
    for run, floor, n in ((scene.draw_3_states, lambda buf, n, s: floor_draw_3_states(
            buf, n, s, [b.id for b in scene.blends], [c.id for c in scene.cbs], scene.vb.id), 64),
                          (scene.emit_draw, floor_draw, 64)):
        scene.drain()
        ring = conn.region.ring
        start = conn.writer.pos
        assert start % len(ring) + 64 * 160 <= len(ring), "the check runs first, far from the ring's end"
        seq = conn.seq
        run(n)
        end = conn.writer.pos
        buf = bytearray(end - start)
        floor(buf, n, seq)
        got = bytes(ring[start % len(ring):start % len(ring) + len(buf)])
        assert got == bytes(buf), f"{run.__name__}: the guest's bytes differ from the floor's"
    scene.drain()


def measure(draws: int = 20_000, rounds: int = 5, batch: int = 2_000) -> dict:
    device, region = open_loopback()
    try:
        scene = Scene(device)
        check_same_bytes(scene)
        conn = scene.conn
        blend_ids, cb_ids, vb_id = [b.id for b in scene.blends], [c.id for c in scene.cbs], scene.vb.id
        buf = bytearray(batch * 160 + 4096)
        heap_copy = memoryview(bytearray(batch * 256))
        batches = max(1, draws // batch)
        n = batches * batch
        cases = {
            "a": ("draw + 3 state changes", 4, scene.draw_3_states,
                  lambda k: floor_draw_3_states(buf, k, 0, blend_ids, cb_ids, vb_id)),
            "b": ("Map(WRITE_DISCARD) 64 B + Unmap + draw", 2, scene.map_discard_draw,
                  lambda k: floor_map_discard_draw(buf, heap_copy, k, 0, scene.dyn.id, scene.src)),
            "c": ('emit("DRAW", **fields)', 1, scene.emit_draw, lambda k: floor_draw(buf, k, 0)),
        }
        if hasattr(conn, "emit_draw"):
            cases["c2"] = ("conn.emit_draw(3, i) (positional)", 1, scene.emit_draw_positional,
                           lambda k: floor_draw(buf, k, 0))
        cases["c3"] = ("ctx.draw(3, i)", 1, scene.context_draw, lambda k: floor_draw(buf, k, 0))
        times: dict[str, dict[str, list[float]]] = {k: {"guest": [], "floor": []} for k in cases}
        for _ in range(rounds):
            for key, (_label, _cmds, run, floor) in cases.items():
                t_guest = t_floor = 0.0
                for _b in range(batches):
                    scene.drain()
                    t_guest += run(batch)
                    t_floor += floor(batch)
                scene.drain()
                times[key]["guest"].append(t_guest / n)
                times[key]["floor"].append(t_floor / n)
        out = {"draws": n, "rounds": rounds, "batch": batch, "cases": {}}
        for key, (label, cmds, _run, _floor) in cases.items():
            gt, ft = times[key]["guest"], times[key]["floor"]
            best_g, best_f = min(gt), min(ft)
            out["cases"][key] = {
                "label": label, "commands": cmds,
                "guest_us": best_g * 1e6, "floor_us": best_f * 1e6,
                "guest_median_us": statistics.median(gt) * 1e6, "floor_median_us": statistics.median(ft) * 1e6,
                "guest_cmds_per_s": cmds / best_g, "floor_cmds_per_s": cmds / best_f,
                "ratio": best_g / best_f,
            }
        assert not device.host_errors()
        return out
    finally:
        device.close()
        region.close()


def table(result: dict) -> str:
    lines = [f"guest encode, no host GPU: {result['draws']:,} iterations per case in batches of "
             f"{result['batch']:,}, best of {result['rounds']} rounds (median in brackets)",
             f"| {'case':<44} | {'us/iter':>15} | {'guest cmds/s':>12} | {'floor us/iter':>15} | "
             f"{'floor cmds/s':>12} | {'x floor':>7} |",
             "|" + "-" * 46 + "|" + "-" * 17 + "|" + "-" * 14 + "|" + "-" * 17 + "|" + "-" * 14 + "|" + "-" * 9 + "|"]
    for key, c in result["cases"].items():
        lines.append(
            f"| {'(' + key + ') ' + c['label']:<44} | {c['guest_us']:>6.3f} ({c['guest_median_us']:6.3f}) | "
            f"{c['guest_cmds_per_s']:>12,.0f} | {c['floor_us']:>6.3f} ({c['floor_median_us']:6.3f}) | "
            f"{c['floor_cmds_per_s']:>12,.0f} | {c['ratio']:>7.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=20_000, help="iterations per case and round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (the best is reported)")
    ap.add_argument("--batch", type=int, default=2_000, help="iterations per timed batch (must fit ring and heap)")
    ap.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = ap.parse_args()
    res = measure(args.draws, args.rounds, args.batch)
    if args.json:
        print(json.dumps(res))
    print(table(res))
