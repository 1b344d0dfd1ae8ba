"""The D3D11 state tracker on wgpu.

D3D11 state is mutable; wgpu pipelines are not. The renderer keeps the current D3D11 state,
builds pipelines lazily from the state that makes them up and caches them by that key.
Render passes open at the first draw after the render targets change and close at a copy,
an update that must be ordered, a readback, a present or a flush. Clears become the load
operation of the next pass on that view when they can, else a pass of their own.

Every method named after a command (`create_buffer`, `draw_indexed`, ...) is called by the
session with ids already resolved to objects and heap ranges already checked.

The renderer is made of parts, each a mixin with one job: uniform_ring.py (the uniform ring),
resources.py (creating buffers and textures), transfers.py (updates, copies, resolves, mips,
maps), shared_textures.py (shared textures), views_states.py (views, state objects, input
layouts, shaders), pipelines.py (pipelines and bind groups), draws.py (draws and clears),
compute.py and queries.py. This module keeps the state and its setters, the encoder and its
passes, sync and presentation.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from dataclasses import dataclass

import numpy as np
import wgpu

from ...protocol.enums import (
    BindFlag, DsvFlag, DxgiFormat, ErrorCode, DEPTH_FORMATS, ShaderStage, STENCIL_FORMATS, Usage,
)
from ...protocol.spec import MAX_CONSTANT_BUFFERS, MAX_SAMPLERS, MAX_SHADER_RESOURCES, MAX_VERTEX_BUFFERS
from ..errors import CommandError, invalid, unsupported
from . import states as S
from .formats import INDEX_FORMATS, format_enum as _format, format_support
from .compile_log import guest_compilation
from .compute import ComputeCommands
from .queries import QueryCommands
from .draws import MAX_DRAW_INVOCATIONS, DrawCommands, _MAX_OFFSETS, _new_offsets
from .pipelines import PipelineCommands
from .resources import ResourceCommands, _CONSTANT_BUFFER, _INDEX_BUFFER, _VERTEX_BUFFER
from .shared_textures import SharedTextureCommands
from .transfers import TransferCommands
from .uniform_ring import UniformRing
from .views_states import ViewStateCommands
from .nulls import NullResources
from .objects import Buffer, BufferView, InputLayout, Query, Shader, SwapChain, Texture, View
from .readback import Readback
from .memory import MemoryLedger, MemoryTracking
from . import dxbc
from .sharing import session_dir
# Names that lived in this module before its parts were split off, still importable from it:
from .pipelines import MAX_CACHED_PIPELINES, STRIPS, TOPOLOGIES  # noqa: F401
from .resources import (  # noqa: F401
    MAX_ARRAY_SIZE, MAX_BUFFER_BYTES, MAX_TEXTURE3D_DIM, MAX_TEXTURE_DIM, MSAA_SAMPLES,
)
from .shared_textures import MAX_SHARED_SURFACES, SHARED_DESC  # noqa: F401
from .transfers import MAX_RENAMES_PER_SUBMIT, MIP_SHADER  # noqa: F401
from .uniform_ring import UNIFORM_RING_BYTES  # noqa: F401

log = logging.getLogger("pvgpu.host")

#: The largest frame read back for CPU presenters, and the most memory a session's frame slots
#: take (worker.py): 8K UHD RGBA8 fits. A bigger back buffer is presented to GPU-side
#: presenters only (a window still shows it) and counted in `frames_too_large`.
MAX_FRAME_BYTES = 128 << 20


@dataclass
class Frame:
    """A presented frame: RGBA8 pixels (height, width, 4) and its index in the swap chain.
    Presenters may read `pixels` during present() only; one that keeps them copies them."""

    pixels: np.ndarray
    index: int
    #: gives the pixels' memory back (a mapped read-back buffer); the session calls it once
    #: every presenter has had the frame
    release: Any = None
    #: time.monotonic() when the host took the guest's PRESENT (one clock for every process
    #: on this machine, so presenters can report present-to-screen latency)
    presented_at: float = 0.0


class Stats:
    def __init__(self) -> None:
        self.pipeline_hits = 0
        self.pipeline_misses = 0
        self.draws = 0
        self.submits = 0


class Renderer(MemoryTracking, UniformRing, ResourceCommands, TransferCommands, SharedTextureCommands, ViewStateCommands,
               PipelineCommands, DrawCommands, ComputeCommands, QueryCommands):
    def __init__(self, device: wgpu.GPUDevice, features: frozenset[str] = frozenset(), share_dir: str | None = None,
                 session_id: int = 0):
        """`share_dir`: the service's directory for shared textures (None: sharing not offered)."""
        self.device = device
        self.share_dir = share_dir
        self._share_home = session_dir(share_dir, session_id) if share_dir else None
        if share_dir:
            dxbc.use_cache_dir(os.path.join(share_dir, "shader-cache"))
        self.shader_base = dxbc.base_specialization(features)
        self._surfaces: dict[int, list] = {}  # handle -> [SharedSurface, textures of this session holding it]
        self.shared_textures: list[Texture] = []  # RESOURCE_MISC_SHARED textures this session holds
        self._dirty_shared: set[Texture] = set()  # ... written since their contents were last published
        self.queue = self._queue = device.queue
        self.features = features
        self.readback = Readback(device)
        #: brackets shader translation and shader/pipeline compilation (for a watchdog: a hostile
        #: shader can keep a compiler busy for a long time)
        self.on_compile: Callable[[bool], None] = lambda compiling: None
        self.memory = MemoryLedger()  # the GPU memory the guest's objects keep alive (memory.py)
        self.stats = Stats()
        self.frames_too_large = 0  # presents not read back for CPU presenters (MAX_FRAME_BYTES)
        self.max_draw_invocations = MAX_DRAW_INVOCATIONS
        self.format_caps = format_support(features)
        self._pipelines: dict[tuple, wgpu.GPURenderPipeline] = {}
        self._base_ids: dict[tuple, int] = {}  # pipeline state other than blend -> an id (see _pipeline_base)
        self._bind_groups: dict[tuple, tuple] = {}
        self._encoder = None
        self._pass = None
        self._pass_is_compute = False  # the open pass is a compute pass (dispatches share one)
        self._slice_targets: list[View] = []  # 3D-slice render targets of the open pass
        self.generation = 0
        self._pending_clears: dict[View, tuple] = {}
        self._renames = 0
        self._clears = 0  # UAV clears recorded since the last submit
        #: bumped whenever an object goes or a backing or view is replaced: captured runs
        #: (capture.py) bind the objects they saw, so they are replayed only in the same epoch
        self.epoch = 0
        self.ring_bytes = 0  # bytes of uniform ring allocated so far (a run learns its slab size from it)
        self._capture = None  # the capture.SegmentCapture in progress
        self.memory.on_drop_caches.append(self._drop_caches)
        self._pass_formats: tuple = ((), None, 1, False, False)  # the open render pass's, for render bundles
        self._make_helpers()
        self._init_queries(features)
        self._init_compute()
        self.reset_state()

    # --- state -----------------------------------------------------------------------------
    def reset_state(self) -> None:
        """The context's state as D3D11 creates it (also after a reset or device-lost, when
        every guest object is gone: its memory is no longer charged)."""
        self.epoch = getattr(self, "epoch", 0) + 1
        self.memory.clear()
        self.rtvs: list[View | None] = []
        self.dsv: View | None = None
        self.viewports: list = []
        self.scissors: list = []
        self.vertex_buffers: dict[int, tuple[Buffer, int, int]] = {}
        self.index_buffer: tuple[Buffer, str, int] | None = None
        self.topology: int | None = None
        self.input_layout: InputLayout | None = None
        self.shaders: dict[ShaderStage, Shader | dxbc.DxbcProgram | None] = {s: None for s in ShaderStage}
        self.variants: dict[ShaderStage, Shader | None] = {s: None for s in ShaderStage}  # what draws compile
        self._dxbc_static: dict[tuple, tuple] = {}  # (VS, PS, layout serials) -> Renderer._dxbc_static_specs
        self.uavs: dict[int, View | BufferView] = {}
        self.constant_buffers = {s: {} for s in ShaderStage}
        self.shader_resources = {s: {} for s in ShaderStage}
        self.samplers = {s: {} for s in ShaderStage}
        self.blend = S.DEFAULT_BLEND
        self.blend_factor = (1.0, 1.0, 1.0, 1.0)
        self.sample_mask = 0xFFFFFFFF
        self.rasterizer = S.DEFAULT_RASTERIZER
        self.depth_stencil = S.DEFAULT_DEPTH_STENCIL
        self.stencil_ref = 0
        self.predicated = False  # SetPredication's predicate holds: the session skips predicated commands
        self._pass_state: dict = {}
        self._offsets_c = _new_offsets("uint32_t[]", _MAX_OFFSETS) if _new_offsets else None
        self._pso_dirty = True  # something the pipeline's base key depends on changed (see _pipeline)
        self._stage_groups: list = [None, None, None]  # per stage: (variant, layout identity, group, ring CBs)
        self._dirty_all()
        self._pso_indexed = None
        self._pso_base: tuple = ()

    def _dirty_all(self) -> None:
        """Every stage's bind group must be looked up again at its next draw or dispatch (see
        _bind_group): what it depends on changed, or a new recording began (bound resources
        must be marked used by it)."""
        self._groups_dirty = [True, True, True]

    def _wrote(self, resource) -> None:
        """`resource` is written by recorded work (shared textures publish such writes)."""
        resource.used_generation = self.generation
        if resource.shared is not None:
            self._dirty_shared.add(resource)

    def drop_recorded_work(self) -> None:
        """Forget recorded but unsubmitted work (the guest that recorded it is gone)."""
        self._dirty_all()
        self._pending_clears.clear()
        self._end_pass()
        self._encoder = None
        self._forget_queries()

    def release(self) -> None:
        """Give the GPU device and everything cached on it back (the session is over)."""
        self.release_shared()
        if self._share_home is not None:
            shutil.rmtree(self._share_home, ignore_errors=True)
        self.reset_state()
        self._pipelines.clear()
        self._bind_groups.clear()
        self._empty_bind_groups.clear()
        self._pending_clears.clear()
        self._forget_queries()
        self._pass = self._encoder = None
        self.device.destroy()

    def destroy(self, obj) -> None:
        """The guest released `obj`. As in D3D11 the context keeps what is bound (it holds its
        own reference), and work already recorded, a pending clear included, still happens."""
        self.epoch += 1
        if isinstance(obj, View):
            obj.resource.view_count -= 1
            if obj in self._pending_clears:
                self._materialize_clears(only=obj)
            if obj.charged:
                self.memory.free(obj)
            self._let_go_by_guest_object(obj.resource)
        elif isinstance(obj, BufferView):
            self._let_go_by_guest_object(obj.resource)
        elif isinstance(obj, SwapChain):
            self._let_go_by_guest_object(obj.back_buffer)
        elif isinstance(obj, (Texture, Buffer)):
            self._released(obj)
        if isinstance(obj, Texture) and obj.shared is not None:
            self._publish_shared()  # what it was last given is what other holders keep
            self._drop_shared(obj)
        if isinstance(obj, Query):
            self._drop_active_query(obj)

    def _make_helpers(self) -> None:
        """Stand-ins for empty slots (nulls.py), and what GenerateMips draws with."""
        d = self.device
        self._nulls = NullResources(d)
        self._linear_sampler = d.create_sampler(mag_filter="linear", min_filter="linear")
        self._mip_pipelines: dict[str, wgpu.GPURenderPipeline] = {}
        self._empty_bind_groups: dict[tuple[int, int], wgpu.GPUBindGroup] = {}
        self._empty_layout = d.create_bind_group_layout(entries=[])
        self._empty_group = d.create_bind_group(layout=self._empty_layout, entries=[])
        self._init_ring()

    # --- encoder and passes ------------------------------------------------------------------
    @property
    def encoder(self) -> wgpu.GPUCommandEncoder:
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder()
        return self._encoder

    def _end_pass(self) -> None:
        if self._pass is not None:
            self._queries_end_pass(self._pass)
            self._pass.end()
            self._pass = None
            self._pass_is_compute = False
            self._pass_state = {}
            for view in self._slice_targets:
                self._copy_slice(view, into_3d=True)
            self._slice_targets = []

    def _copy_slice(self, view: View, into_3d: bool) -> None:
        """Move a Texture3D slice's texels between the texture and the 2D stand-in its
        render-target view draws into (wgpu-py 0.32 cannot attach a 3D texture's slice)."""
        stand_in, w_slice = view.depth_slice
        w, h = view.size
        slice_ref = {"texture": view.resource.texture, "mip_level": view.base_mip, "origin": (0, 0, w_slice)}
        stand_ref = {"texture": stand_in}
        self.encoder.copy_texture_to_texture(stand_ref if into_3d else slice_ref,
                                             slice_ref if into_3d else stand_ref, (w, h, 1))

    def _finish(self) -> list:
        """Close everything recorded so far into command buffers (not yet submitted)."""
        self._flush_ring()
        self._materialize_clears()
        self._end_pass()
        if self._encoder is None:
            return []
        enc, self._encoder = self._encoder, None
        self.generation += 1
        self._groups_dirty = [True, True, True]
        self._renames = 0
        self._clears = 0
        self.stats.submits += 1
        return [enc.finish()]

    def submit(self) -> None:
        cbs = self._finish()
        if cbs:
            self.queue.submit(cbs)
            self.readback.idle = False

    @contextmanager
    def _compiling(self) -> Iterator[None]:
        self.on_compile(True)
        try:
            with guest_compilation():
                yield
        finally:
            self.on_compile(False)

    def _use(self, resource: Buffer | Texture) -> None:
        resource.used_generation = self.generation

    def _attachments(self) -> tuple:
        return (tuple(self.rtvs), self.dsv)

    def _begin_pass(self) -> None:
        self._check_query_room()
        rtvs = self.rtvs
        while rtvs and rtvs[-1] is None:
            rtvs = rtvs[:-1]
        keep = set(v for v in rtvs if v is not None)
        if self.dsv is not None:
            keep.add(self.dsv)
        self._materialize_clears(exclude=keep)
        colors = []
        for v in rtvs:
            if v is None:
                colors.append(None)
                continue
            clear = self._pending_clears.pop(v, None)
            if v.depth_slice is not None:
                if not clear:
                    self._copy_slice(v, into_3d=False)  # the pass loads what the slice holds
                self._slice_targets.append(v)
            colors.append({"view": v.view, "load_op": "clear" if clear else "load", "store_op": "store",
                           "clear_value": clear or (0, 0, 0, 0)})
            self._wrote(v.resource)
        depth = None
        if self.dsv is not None:
            depth = self._depth_attachment(self.dsv, self._pending_clears.pop(self.dsv, None))
            self._use(self.dsv.resource)
        dsv = self.dsv
        self._pass_formats = (tuple(v.wgpu_format if v is not None else None for v in rtvs),
                              dsv.wgpu_format if dsv is not None else None, self._samples(),
                              bool(depth and depth.get("depth_read_only")),
                              bool(depth and depth.get("stencil_read_only")))
        self._pass = self.encoder.begin_render_pass(color_attachments=colors, depth_stencil_attachment=depth,
                                                    occlusion_query_set=self._occlusion_query_set)
        self._pass_state = {}
        self._queries_begin_pass(self._pass, render=True)

    @staticmethod
    def _depth_attachment(dsv: View, clear) -> dict:
        depth_value, stencil_value = clear if clear else (None, None)
        att = {"view": dsv.view}
        if dsv.read_only & DsvFlag.READ_ONLY_DEPTH:
            att["depth_read_only"] = True
        else:
            att.update(depth_load_op="clear" if depth_value is not None else "load", depth_store_op="store",
                       depth_clear_value=depth_value if depth_value is not None else 1.0)
        if dsv.format in STENCIL_FORMATS:
            if dsv.read_only & DsvFlag.READ_ONLY_STENCIL:
                att["stencil_read_only"] = True
            else:
                att.update(stencil_load_op="clear" if stencil_value is not None else "load",
                           stencil_store_op="store", stencil_clear_value=stencil_value or 0)
        return att

    def _materialize_clears(self, exclude=frozenset(), only: View | None = None) -> None:
        """Run pending clears not absorbed by a pass, each as a pass of its own."""
        todo = [(v, c) for v, c in self._pending_clears.items() if v not in exclude and (only is None or v is only)]
        if not todo:
            return
        self._end_pass()
        for view, clear in todo:
            del self._pending_clears[view]
            self._wrote(view.resource)
            if view.format in DEPTH_FORMATS:
                p = self.encoder.begin_render_pass(color_attachments=[],
                                                   depth_stencil_attachment=self._depth_attachment(view, clear))
            else:
                p = self.encoder.begin_render_pass(color_attachments=[
                    {"view": view.view, "load_op": "clear", "store_op": "store", "clear_value": clear}])
            p.end()
            if view.depth_slice is not None:
                self._copy_slice(view, into_3d=True)

    # --- pipeline state --------------------------------------------------------------------
    # Array elements arrive as plain values (host/handlers.py): a list of objects for slot
    # lists, else tuples in the spec's field order.
    def set_render_targets(self, depth_stencil_view, views) -> None:
        rtvs = list(views)
        if rtvs == self.rtvs and depth_stencil_view is self.dsv:
            return
        self._dirty_all()  # a shader resource bound as an output reads as unbound
        views = [v for v in rtvs if v is not None] + ([depth_stencil_view] if depth_stencil_view else [])
        sizes = {v.size for v in views}
        if len(sizes) > 1:
            raise invalid(f"render targets and depth-stencil differ in size: {sorted(sizes)}")
        counts = {v.resource.sample_count for v in views}
        if len(counts) > 1:
            raise invalid(f"render targets and depth-stencil differ in sample count: {sorted(counts)}")
        self._end_pass()
        self.rtvs = rtvs
        self.dsv = depth_stencil_view
        self._pso_dirty = True

    def set_viewports(self, viewports) -> None:
        self.viewports = list(viewports)
        self._pass_state.pop("viewport", None)

    def set_scissor_rects(self, rects) -> None:
        self.scissors = list(rects)
        self._pass_state.pop("scissor", None)

    def set_vertex_buffers(self, start_slot, buffers) -> None:
        if start_slot + len(buffers) > MAX_VERTEX_BUFFERS:
            raise CommandError(ErrorCode.COUNT_LIMIT, f"slots {start_slot}..{start_slot + len(buffers) - 1} "
                                                      f"exceed the {MAX_VERTEX_BUFFERS} input slots")
        for i, (buffer, stride, offset) in enumerate(buffers):
            slot = start_slot + i
            if buffer is None:
                if self.vertex_buffers.pop(slot, None) is not None:
                    self._pso_dirty = True
                continue
            old = self.vertex_buffers.get(slot)
            if old is None or old[1] != stride:
                self._pso_dirty = True  # strides are part of the pipeline; offsets are not
            if not buffer.bind_flags & _VERTEX_BUFFER:
                raise invalid(f"buffer in slot {slot} was not created with the VERTEX_BUFFER bind flag")
            if stride % 4 or stride > 2048:
                raise invalid(f"slot {slot}: stride {stride} must be a multiple of 4 and at most 2048")
            if offset % 4 or offset > buffer.byte_width:
                raise invalid(f"slot {slot}: offset {offset} must be a multiple of 4 inside the buffer")
            self.vertex_buffers[slot] = (buffer, stride, offset)

    def set_index_buffer(self, buffer, format, offset) -> None:
        self._pso_dirty = True  # a strip's index format is part of the pipeline
        if buffer is None:
            self.index_buffer = None
            return
        fmt = INDEX_FORMATS.get(_format(format))
        if fmt is None:
            raise invalid(f"index format must be R16_UINT or R32_UINT, not {DxgiFormat(format).name}")
        if not buffer.bind_flags & _INDEX_BUFFER:
            raise invalid("the buffer was not created with the INDEX_BUFFER bind flag")
        if offset % (2 if fmt == "uint16" else 4) or offset > buffer.byte_width:
            raise invalid(f"index buffer offset {offset} is misaligned or outside the buffer")
        self.index_buffer = (buffer, fmt, offset)

    def set_primitive_topology(self, topology) -> None:
        self.topology = topology
        self._pso_dirty = True

    def set_input_layout(self, layout) -> None:
        self.input_layout = layout
        self._pso_dirty = True

    def set_vertex_shader(self, shader) -> None:
        self.shaders[ShaderStage.VERTEX] = shader
        self._groups_dirty[0] = True
        self._pso_dirty = True

    def set_pixel_shader(self, shader) -> None:
        self.shaders[ShaderStage.PIXEL] = shader
        self._groups_dirty[1] = True
        self._pso_dirty = True

    def set_compute_shader(self, shader) -> None:
        self.shaders[ShaderStage.COMPUTE] = shader
        self._groups_dirty[2] = True

    def _set_slots(self, table: dict, start_slot: int, items: list, limit: int, what: str) -> None:
        if start_slot + len(items) > limit:
            raise CommandError(ErrorCode.COUNT_LIMIT,
                               f"{what} slots {start_slot}..{start_slot + len(items) - 1} exceed the {limit} slots")
        for i, obj in enumerate(items):
            if obj is None:
                table.pop(start_slot + i, None)
            else:
                table[start_slot + i] = obj

    def set_constant_buffers(self, stage, start_slot, buffers) -> None:
        items = buffers
        for b in items:
            if b is not None and not b.bind_flags & _CONSTANT_BUFFER:
                raise invalid("the buffer was not created with the CONSTANT_BUFFER bind flag")
        self._set_slots(self.constant_buffers[ShaderStage(stage)], start_slot, items, MAX_CONSTANT_BUFFERS,
                        "constant buffer")
        self._groups_dirty[stage] = True

    def set_shader_resources(self, stage, start_slot, views) -> None:
        self._set_slots(self.shader_resources[ShaderStage(stage)], start_slot, views, MAX_SHADER_RESOURCES,
                        "shader resource")
        self._groups_dirty[stage] = True

    def set_samplers(self, stage, start_slot, samplers) -> None:
        self._set_slots(self.samplers[ShaderStage(stage)], start_slot, samplers,
                        MAX_SAMPLERS, "sampler")
        self._groups_dirty[stage] = True

    def set_blend_state(self, state, blend_factor_r, blend_factor_g, blend_factor_b, blend_factor_a,
                        sample_mask) -> None:
        self.blend = state or S.DEFAULT_BLEND
        self.blend_factor = (blend_factor_r, blend_factor_g, blend_factor_b, blend_factor_a)
        self.sample_mask = sample_mask
        self._pass_state.pop("blend_constant", None)

    def set_rasterizer_state(self, state) -> None:
        self.rasterizer = state or S.DEFAULT_RASTERIZER
        self._pso_dirty = True
        self._pass_state.pop("scissor", None)

    def set_depth_stencil_state(self, state, stencil_ref) -> None:
        self.depth_stencil = state or S.DEFAULT_DEPTH_STENCIL
        self._pso_dirty = True
        self.stencil_ref = stencil_ref & 0xFF
        self._pass_state.pop("stencil_ref", None)

    # --- sync, presentation --------------------------------------------------------------------
    def flush(self) -> None:
        self.submit()
        self._publish_shared()

    def wait_idle(self) -> None:
        """Return once the GPU has finished everything recorded so far (the FENCE command), and
        the results of queries ended before it are in the guest's hands."""
        self.readback.wait_idle(self._finish())
        if self._pending_queries:
            self._complete_queries()
        self._publish_shared()

    def create_swap_chain(self, width, height, format, buffer_count):
        if not 1 <= buffer_count <= 16:
            raise invalid(f"buffer_count {buffer_count} must be between 1 and 16")
        tex = self._back_buffer(width, height, format)
        self._held_by_guest_object(tex)
        return SwapChain(tex, buffer_count), tex

    def _back_buffer(self, width, height, format) -> Texture:
        fmt = _format(format)
        if fmt not in (DxgiFormat.R8G8B8A8_UNORM, DxgiFormat.B8G8R8A8_UNORM, DxgiFormat.R8G8B8A8_UNORM_SRGB,
                       DxgiFormat.B8G8R8A8_UNORM_SRGB):
            raise unsupported(f"swap chain format {fmt.name} is not offered (use an 8-bit RGBA or BGRA format)")
        return self.create_texture2d(width, height, 1, 1, fmt, 1, 0, Usage.DEFAULT,
                                     BindFlag.RENDER_TARGET | BindFlag.SHADER_RESOURCE, 0, 0, None)

    def present(self, swap_chain, sync_interval, flags, read_back: bool = True) -> Frame:
        """Finish the frame's work; with `read_back`, the Frame holds its pixels (else they
        stay on the GPU, for presenters that draw the back buffer themselves)."""
        if sync_interval > 4:
            raise invalid(f"sync interval {sync_interval} must be 0..4")
        self._publish_shared()
        tex = swap_chain.back_buffer
        if read_back and tex.width * tex.height * 4 > MAX_FRAME_BYTES:
            read_back = False
            self.frames_too_large += 1
            if self.frames_too_large & (self.frames_too_large - 1) == 0:  # 1, 2, 4, ...: never a flood
                log.warning("a %dx%d frame is larger than the %d bytes frames are read back for presenters "
                            "(%d such frames so far); it is not shown or recorded", tex.width, tex.height,
                            MAX_FRAME_BYTES, self.frames_too_large)
        if not read_back:
            self.submit()
            swap_chain.presented += 1
            return Frame(None, swap_chain.presented - 1, None, time.monotonic())
        pixels, release = self.readback.frame(self._finish(), tex.texture, tex.width, tex.height, 4)
        pixels = pixels.reshape(tex.height, tex.width, 4)
        if tex.format in (DxgiFormat.B8G8R8A8_UNORM, DxgiFormat.B8G8R8A8_UNORM_SRGB):
            pixels = pixels[:, :, [2, 1, 0, 3]]  # a copy
            if release is not None:
                release()
                release = None
        swap_chain.presented += 1
        return Frame(pixels, swap_chain.presented - 1, release, time.monotonic())

    def resize_buffers(self, swap_chain, buffer_count, width, height, format) -> None:
        if buffer_count > 16:
            raise invalid(f"buffer_count {buffer_count} must be at most 16 (0 keeps the current count)")
        self._dirty_all()
        self.epoch += 1
        old = swap_chain.back_buffer
        if old.view_count:
            raise invalid(f"ResizeBuffers while {old.view_count} view(s) of the back buffer are alive; "
                          f"release them first")
        fmt = old.format if format == 0 else format
        new = self._back_buffer(width or old.width, height or old.height, fmt)
        # The guest keeps its back-buffer id: the same Texture object now holds the new texture.
        for name in ("width", "height", "format", "wgpu_format", "texture", "bytes_per_texel"):
            setattr(old, name, getattr(new, name))
        self.memory.free(old)  # the old texture goes; the new one's bytes are charged to the same object
        old.charged, new.charged = new.charged, 0
        old.serial = new.serial
        self._pso_dirty = True
        if buffer_count:
            swap_chain.buffer_count = buffer_count
