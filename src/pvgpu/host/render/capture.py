"""Capturing a run of draws as render bundles, and replaying it (issue 9).

A game re-issues the same run of commands frame after frame with new constant data. The
session (`host/replay.py`) recognises such a run by its bytes; the renderer captures it once
while executing it normally and afterwards replays it for the cost of a few wgpu calls:

- **Capture.** While the run executes, the open render pass is stood in for by a
  `_BundlePass`: what `_prepare_draw` sets and draws goes into render bundles, which are
  executed into the real pass as they close; the pass-level state bundles cannot hold
  (viewport, scissor, blend constant, stencil reference) closes the current bundle and is set
  on the real pass. The passes begun and ended are recorded too. Constant-buffer writes
  (Map(WRITE_DISCARD), whole UpdateSubresource) go to the run's own uniform memory (a
  `Slab`) at fixed offsets instead of the shared uniform ring, so a replay can write new
  contents to the same offsets the bundles bind. Anything else the run does to the GPU
  (a queue write, a copy, a submit, a query) makes the run uncapturable; it still executes
  as always.
- **Replay.** The new constants are copied from the guest's heap into the slab (one
  `write_buffer`), the recorded passes and bundles run, and the renderer's state becomes what
  the run left (a snapshot taken at the end of the capture), as do the marks the run left on
  the resources it used.

What makes a replay the same work is checked by the caller before `replay`: the same record
bytes (heap offsets and sequence numbers aside), the same D3D11 state at entry
(`state_of`), no object destroyed and no backing renamed since (`Renderer.epoch`), and each
constant buffer read from outside the run where it was at capture (`Recording.external`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import wgpu

from ...protocol.enums import ShaderStage

try:  # wgpu-native itself: a replayed compute pass makes its calls directly (see _compile)
    from wgpu.backends.wgpu_native import _api as _native
    _LIB, _NEW = _native.lib, _native.ffi.new
    _NULL = _native.ffi.NULL
except (ImportError, AttributeError):  # another wgpu-py: its public methods
    _LIB = _NEW = _NULL = None

_STAGES = tuple(ShaderStage)


class Slab:
    """A run's own uniform memory: the constant buffers it writes, at offsets fixed by the capture."""

    def __init__(self, device: wgpu.GPUDevice, size: int):
        self.size = max(256, -(-size // 256) * 256)
        self.buffer = device.create_buffer(size=self.size, label="pvgpu-replay-slab",
                                           usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
                                           | wgpu.BufferUsage.COPY_SRC)
        self.stage = np.zeros(self.size, np.uint8)
        #: the renderer generation (recording) that last bound or copied from it: a replay writing
        #: it again in that same recording would change what that work reads, so it submits first
        self.bound_generation = -1


@dataclass
class Recording:
    """What a captured run did, for `Renderer.replay`."""

    ops: list  # (name, args): "begin" (kwargs), "bundle" (bundle), "end", or a pass setter
    used: list  # resources the run marked used or written (their used_generation is set again)
    ring_writes: list  # (buffer, slab offset, bytes) per constant-buffer write, in record order
    exit_state: tuple  # state_of() after the run
    exit_variants: tuple
    external: list  # (buffer, ring or None, offset, slab or None) of constant buffers bound from outside the run
    draws: int
    pipeline_hits: int
    slab_bytes: int
    pending_clears: dict = field(default_factory=dict)
    keep: list = field(default_factory=list)  # what raw calls name by handle only


def state_of(r) -> tuple:
    """The renderer's D3D11 state as one comparable value (objects by identity)."""
    return (tuple(r.rtvs), r.dsv, tuple(r.viewports), tuple(r.scissors), tuple(sorted(r.vertex_buffers.items())),
            r.index_buffer, r.topology, r.input_layout, tuple(r.shaders.values()), tuple(sorted(r.uavs.items())),
            tuple(tuple(sorted(r.constant_buffers[s].items())) for s in _STAGES),
            tuple(tuple(sorted(r.shader_resources[s].items())) for s in _STAGES),
            tuple(tuple(sorted(r.samplers[s].items())) for s in _STAGES),
            r.blend, r.blend_factor, r.sample_mask, r.rasterizer, r.depth_stencil, r.stencil_ref, r.predicated)


def restore_state(r, state: tuple, variants: tuple) -> None:
    (rtvs, r.dsv, viewports, scissors, vbs, r.index_buffer, r.topology, r.input_layout, shaders, uavs, cbs, srvs,
     samplers, r.blend, r.blend_factor, r.sample_mask, r.rasterizer, r.depth_stencil, r.stencil_ref,
     r.predicated) = state
    r.rtvs, r.viewports, r.scissors = list(rtvs), list(viewports), list(scissors)
    r.vertex_buffers, r.uavs = dict(vbs), dict(uavs)
    r.shaders = dict(zip(_STAGES, shaders))
    r.variants = dict(zip(_STAGES, variants))
    r.constant_buffers = {s: dict(items) for s, items in zip(_STAGES, cbs)}
    r.shader_resources = {s: dict(items) for s, items in zip(_STAGES, srvs)}
    r.samplers = {s: dict(items) for s, items in zip(_STAGES, samplers)}


class SegmentCapture:
    """The bookkeeping of one capture in progress (see the module's docstring)."""

    def __init__(self, renderer, slab: Slab):
        self.renderer = renderer
        self.slab = slab
        self.cursor = 0
        self.ops: list = []
        self.used: dict[int, Any] = {}
        self.ring_writes: list = []
        self.external: dict = {}
        self.written: set = set()  # ids of the buffers this capture wrote
        self.failed: str | None = None
        self.draws0 = renderer.stats.draws
        self.hits0 = renderer.stats.pipeline_hits

    def fail(self, why: str) -> None:
        if self.failed is None:
            self.failed = why

    # stand-ins for Renderer methods while capturing (instance attributes shadow them)
    def use(self, resource) -> None:
        resource.used_generation = self.renderer.generation
        self.used[id(resource)] = resource

    def wrote(self, resource) -> None:
        type(self.renderer)._wrote(self.renderer, resource)
        self.used[id(resource)] = resource
        if resource.shared is not None:
            self.fail("a shared texture is written")

    def ring_write(self, buf, data) -> None:
        r = self.renderer
        step = -(-buf.alloc_size // r._ring_align) * r._ring_align
        if self.cursor + step > self.slab.size or len(data) % 16:
            self.fail("constant data beyond what the run wrote when it was learned")
            type(r)._ring_write(r, buf, data)
            return
        off = self.cursor
        self.cursor = off + step
        self.slab.stage[off:off + len(data)] = np.frombuffer(data, np.uint8)
        if buf.ring is not self.slab.buffer:
            r._groups_dirty = [True, True, True]
        buf.ring, buf.ring_slab, buf.ring_offset = self.slab.buffer, self.slab, off
        r._ring_holders.discard(buf)
        r.readback.idle = False
        self.ring_writes.append((buf, off, len(data)))
        self.written.add(id(buf))

    def bound_constant_buffer(self, buf) -> None:
        """`_build_bind_group` binds `buf`: where it lives, if the run has not written it. One
        that lives in this run's own slab already (from an earlier capture of the run) would be
        overwritten by a replay before it is read: the run is then not captured."""
        if id(buf) not in self.written and buf not in self.external:
            if buf.ring_slab is self.slab:
                self.fail("a constant buffer read from the run's own memory before the run writes it")
            self.external[buf] = (buf.ring, buf.ring_offset, buf.ring_slab)


class _QueueGuard:
    """The queue while capturing: any direct use makes the run uncapturable, then goes through."""

    def __init__(self, capture: SegmentCapture, queue):
        self._capture, self._queue = capture, queue

    def __getattr__(self, name):
        self._capture.fail(f"queue.{name}")
        return getattr(self._queue, name)


class _EncoderGuard:
    """The command encoder while capturing: passes are recorded; anything else (a copy, a
    finish) makes the run uncapturable, then goes through."""

    def __init__(self, capture: SegmentCapture, encoder):
        self._capture, self._encoder = capture, encoder

    def begin_render_pass(self, **kwargs):
        real = self._encoder.begin_render_pass(**kwargs)
        cap = self._capture
        if cap.failed or kwargs.get("occlusion_query_set") is not None:
            cap.fail("an occlusion query is running")
            return real
        cap.ops.append(("begin", kwargs))
        return _BundlePass(cap, real, cap.renderer._pass_formats)

    def begin_compute_pass(self, **kwargs):
        real = self._encoder.begin_compute_pass(**kwargs)
        cap = self._capture
        if cap.failed or kwargs:
            cap.fail("a compute pass with timestamps")
            return real
        cap.ops.append(("compute", None))
        return _ComputeRecorder(cap, real)

    def __getattr__(self, name):
        self._capture.fail(f"encoder.{name}")
        return getattr(self._encoder, name)


class _ComputeRecorder:
    """The open compute pass while capturing: calls go through and are recorded (WebGPU has
    no compute bundles; a replay makes the same calls, straight to wgpu-native)."""

    def __init__(self, capture: SegmentCapture, real):
        self.capture, self.real = capture, real

    def set_pipeline(self, pipeline) -> None:
        self.real.set_pipeline(pipeline)
        self.capture.ops.append(("c_pipeline", pipeline))

    def set_bind_group(self, index, group, offsets=()) -> None:
        offsets = tuple(offsets)
        self.real.set_bind_group(index, group, offsets)
        self.capture.ops.append(("c_group", (index, group, offsets)))

    def dispatch_workgroups(self, x, y=1, z=1) -> None:
        self.real.dispatch_workgroups(x, y, z)
        self.capture.ops.append(("c_dispatch", (x, y, z)))

    def end(self) -> None:
        self.real.end()
        self.capture.ops.append(("end", ()))

    def __getattr__(self, name):
        self.capture.fail(f"compute pass.{name}")
        return getattr(self.real, name)


def _compile(ops: list, keep: list) -> list:
    """Runs of recorded compute-pass calls become ("calls", [(wgpu-native function, args)])
    made with the pass's handle first; objects they name by handle are kept in `keep`. They
    go to wgpu-native without wgpu-py's per-call error capture (about half their cost): they
    are the calls that passed at capture, with the same objects, and an error in a pass is
    recorded in its encoder and raised, captured, by `encoder.finish()` anyway."""
    if _LIB is None:
        return ops
    out: list = []
    calls = None
    for name, args in ops:
        if name == "c_pipeline":
            keep.append(args)
            call = (_LIB.wgpuComputePassEncoderSetPipeline, (args._internal,))
        elif name == "c_group":
            index, group, offsets = args
            keep.append(group)
            array = _NEW("uint32_t[]", list(offsets)) if offsets else _NULL
            keep.append(array)
            call = (_LIB.wgpuComputePassEncoderSetBindGroup, (index, group._internal, len(offsets), array))
        elif name == "c_dispatch":
            call = (_LIB.wgpuComputePassEncoderDispatchWorkgroups, args)
        else:
            out.append((name, args))
            calls = None
            continue
        if calls is None:
            calls = []
            out.append(("calls", calls))
        calls.append(call)
    return out


class _BundlePass:
    """The open render pass while capturing: draws and the state they use go into render
    bundles (which cannot hold viewport, scissor, blend constant or stencil reference: those
    close the bundle and are set on the real pass)."""

    def __init__(self, capture: SegmentCapture, real, formats: tuple):
        self.capture, self.real, self.formats = capture, real, formats
        self.enc = None
        self.draws = 0
        self.pipeline = None
        self.groups: dict = {}
        self.vbs: dict = {}
        self.ib = None

    def _encoder(self):
        enc = self.enc
        if enc is None:
            colors, depth, samples, depth_ro, stencil_ro = self.formats
            enc = self.enc = self.capture.renderer.device.create_render_bundle_encoder(
                color_formats=colors, depth_stencil_format=depth, sample_count=samples,
                depth_read_only=depth_ro, stencil_read_only=stencil_ro)
            if self.pipeline is not None:  # a new bundle starts with no state: carry it over
                enc.set_pipeline(self.pipeline)
            for i, (group, offsets) in self.groups.items():
                enc.set_bind_group(i, group, offsets)
            for slot, (buf, offset) in self.vbs.items():
                enc.set_vertex_buffer(slot, buf, offset)
            if self.ib is not None:
                enc.set_index_buffer(*self.ib)
        return enc

    def close_bundle(self) -> None:
        if self.enc is not None and self.draws:
            bundle = self.enc.finish()
            self.real.execute_bundles([bundle])
            self.capture.ops.append(("bundle", bundle))
        self.enc = None
        self.draws = 0

    def set_pipeline(self, pipeline) -> None:
        self.pipeline = pipeline
        self._encoder().set_pipeline(pipeline)

    def set_bind_group(self, index, group, offsets=()) -> None:
        offsets = list(offsets)
        self.groups[index] = (group, offsets)
        self._encoder().set_bind_group(index, group, offsets)

    def set_vertex_buffer(self, slot, buf, offset=0) -> None:
        self.vbs[slot] = (buf, offset)
        self._encoder().set_vertex_buffer(slot, buf, offset)

    def set_index_buffer(self, buf, fmt, offset=0) -> None:
        self.ib = (buf, fmt, offset)
        self._encoder().set_index_buffer(buf, fmt, offset)

    def draw(self, *args) -> None:
        self._encoder().draw(*args)
        self.draws += 1

    def draw_indexed(self, *args) -> None:
        self._encoder().draw_indexed(*args)
        self.draws += 1

    def _pass_op(self, name: str, args: tuple) -> None:
        self.close_bundle()
        getattr(self.real, name)(*args)
        self.capture.ops.append((name, args))

    def set_viewport(self, *args) -> None:
        self._pass_op("set_viewport", args)

    def set_scissor_rect(self, *args) -> None:
        self._pass_op("set_scissor_rect", args)

    def set_blend_constant(self, *args) -> None:
        self._pass_op("set_blend_constant", args)

    def set_stencil_reference(self, *args) -> None:
        self._pass_op("set_stencil_reference", args)

    def end(self) -> None:
        self.close_bundle()
        self.real.end()
        self.capture.ops.append(("end", ()))

    def __getattr__(self, name):
        self.close_bundle()
        self.capture.fail(f"pass.{name}")
        return getattr(self.real, name)


def begin(r, slab: Slab) -> SegmentCapture | None:
    """Start capturing on renderer `r` (None where the renderer's state rules it out)."""
    if r._active or r.shared_textures or r._capture is not None:
        return None
    if slab.bound_generation == r.generation:
        r.submit()  # work recorded since the slab was last written reads it (as in replay)
    r._end_pass()
    r._materialize_clears()
    cap = SegmentCapture(r, slab)
    r._capture = cap
    r._encoder = _EncoderGuard(cap, r.encoder)
    r.queue = _QueueGuard(cap, r._queue)
    r._use, r._wrote, r._ring_write = cap.use, cap.wrote, cap.ring_write
    r._dirty_all()
    r._stage_groups = [None, None, None]
    return cap


def end(r) -> Recording | None:
    """Stop capturing; the recording, or None where the run turned out uncapturable."""
    cap = r._capture
    r._capture = None
    del r._use, r._wrote, r._ring_write
    r.queue = r._queue
    if isinstance(r._encoder, _EncoderGuard):
        r._encoder = r._encoder._encoder
    if isinstance(r._pass, _BundlePass):
        r._pass.close_bundle()
        r._pass = r._pass.real
    elif isinstance(r._pass, _ComputeRecorder):
        r._pass = r._pass.real
    r._pass_state = {}
    slab = cap.slab
    if cap.cursor:  # buffers live in the slab now, whatever happens to the recording
        r.queue.write_buffer(slab.buffer, 0, slab.stage[:cap.cursor])
        slab.bound_generation = r.generation
    if cap.failed or r._slice_targets:
        return None
    keep: list = []
    return Recording(
        ops=_compile(cap.ops, keep), keep=keep, used=list(cap.used.values()), ring_writes=cap.ring_writes,
        exit_state=state_of(r), exit_variants=tuple(r.variants.values()),
        external=[(buf, ring, off, s) for buf, (ring, off, s) in cap.external.items()],
        draws=r.stats.draws - cap.draws0, pipeline_hits=r.stats.pipeline_hits - cap.hits0,
        slab_bytes=cap.cursor, pending_clears=dict(r._pending_clears))


def externals_hold(rec: Recording) -> bool:
    """Whether every constant buffer the run read from outside lives where it did at capture."""
    for buf, ring, off, _slab in rec.external:
        if buf.ring is not ring or buf.ring_offset != off:
            return False
    return True


def replay(r, rec: Recording, slab: Slab) -> None:
    """Run a recording again; the slab's stage already holds the run's new constants."""
    if slab.bound_generation == r.generation:
        r.submit()  # work recorded since the slab was last written reads it: keep what it reads
    r._end_pass()
    r._materialize_clears()
    if rec.slab_bytes:
        r.queue.write_buffer(slab.buffer, 0, slab.stage[:rec.slab_bytes])
        r.readback.idle = False
    enc = r.encoder
    p = None
    compute = False
    for name, args in rec.ops:
        if name == "bundle":
            p.execute_bundles([args])
        elif name == "calls":
            handle = p._internal
            for fn, call_args in args:
                fn(handle, *call_args)
        elif name == "begin":
            p, compute = enc.begin_render_pass(**args), False
        elif name == "compute":
            p, compute = enc.begin_compute_pass(), True
        elif name == "end":
            p.end()
            p = None
        elif name == "c_pipeline":  # another wgpu-py: its public methods
            p.set_pipeline(args)
        elif name == "c_group":
            p.set_bind_group(*args)
        elif name == "c_dispatch":
            p.dispatch_workgroups(*args)
        else:
            getattr(p, name)(*args)
    r._pass = p
    r._pass_is_compute = compute and p is not None
    r._pass_state = {}
    gen = r.generation
    for res in rec.used:
        res.used_generation = gen
    slab.bound_generation = gen
    for buf, _ring, _off, other in rec.external:
        if other is not None:
            other.bound_generation = gen
    holders = r._ring_holders
    for buf, off, _n in rec.ring_writes:
        buf.ring, buf.ring_slab, buf.ring_offset = slab.buffer, slab, off
        holders.discard(buf)
    restore_state(r, rec.exit_state, rec.exit_variants)
    r._pending_clears.update(rec.pending_clears)
    r._dirty_all()
    r._stage_groups = [None, None, None]
    r._pso_dirty = True
    r.stats.draws += rec.draws
    r.stats.pipeline_hits += rec.pipeline_hits
