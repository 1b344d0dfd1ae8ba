"""The D3D11 state tracker on wgpu.

D3D11 state is mutable; wgpu pipelines are not. The renderer keeps the current D3D11 state,
builds pipelines lazily from the state that makes them up and caches them by that key.
Render passes open at the first draw after the render targets change and close at a copy,
an update that must be ordered, a readback, a present or a flush. Clears become the load
operation of the next pass on that view when they can, else a pass of their own.

Every method named after a command (`create_buffer`, `draw_indexed`, ...) is called by the
session with ids already resolved to objects and heap ranges already checked.
"""

from __future__ import annotations

from typing import Any

import os
import shutil
import struct
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import wgpu

from ...protocol.enums import (
    BindFlag, ClearFlag, CpuAccessFlag, DsvFlag, DxgiFormat, ErrorCode, FORMAT_BYTES, DEPTH_FORMATS, FormatSupport,
    InputClassification, PrimitiveTopology, ResourceMiscFlag, ShaderLanguage, ShaderStage, SrvDimension, STENCIL_FORMATS,
    Usage,
)
from ...protocol.spec import (
    APPEND_ALIGNED_ELEMENT, MAX_CONSTANT_BUFFERS, MAX_SAMPLERS, MAX_SHADER_RESOURCES, MAX_VERTEX_BUFFERS,
)
from ...protocol.codec import STRUCT_LAYOUTS
from ..errors import CommandError, invalid, unsupported
from . import states as S
from .formats import (
    INDEX_FORMATS, SRGB_TWINS, TYPELESS, VERTEX_FORMATS, copy_compatible, format_enum as _format, format_support,
    texture_format, view_format,
)
from .wgpu_ext import create_texture
from .compute import ComputeCommands
from .queries import QueryCommands
from .nulls import NullResources
from .objects import Buffer, BufferView, InputLayout, Query, Sampler, Shader, SwapChain, Texture, View, next_serial
from .readback import Readback
from . import dxbc
from .shaders import compile_wgsl
from .sharing import SharedSurface, session_dir

try:  # wgpu-py's own (error-capturing) wgpuRenderPassEncoderSetBindGroup, see _prepare_draw
    from wgpu.backends.wgpu_native import _api as _wgpu_native
    _RenderPassEncoder = _wgpu_native.GPURenderPassEncoder
    _SET_BIND_GROUP = _RenderPassEncoder._set_bind_group_function
    _new_offsets = _wgpu_native.ffi.new
except (ImportError, AttributeError):  # another wgpu-py: its public set_bind_group only
    _RenderPassEncoder = _SET_BIND_GROUP = _new_offsets = None
#: At most this many dynamic offsets go through the preallocated array (D3D11: 14 constant buffers a stage).
_MAX_OFFSETS = 32

TOPOLOGIES = {
    PrimitiveTopology.POINTLIST: "point-list", PrimitiveTopology.LINELIST: "line-list",
    PrimitiveTopology.LINESTRIP: "line-strip", PrimitiveTopology.TRIANGLELIST: "triangle-list",
    PrimitiveTopology.TRIANGLESTRIP: "triangle-strip",
}
STRIPS = (PrimitiveTopology.LINESTRIP, PrimitiveTopology.TRIANGLESTRIP)
MAX_TEXTURE_DIM = 16384
MAX_TEXTURE3D_DIM = 2048  # D3D11_REQ_TEXTURE3D_U_V_OR_W_DIMENSION
_DIMENSION_CAPS = {"1d": FormatSupport.TEXTURE1D, "2d": FormatSupport.TEXTURE2D, "3d": FormatSupport.TEXTURE3D}
_READ_ONLY_ALL = DsvFlag.READ_ONLY_DEPTH | DsvFlag.READ_ONLY_STENCIL
_BUFFER_MISC = int(ResourceMiscFlag.DRAWINDIRECT_ARGS | ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS
                   | ResourceMiscFlag.BUFFER_STRUCTURED)
MAX_BUFFER_BYTES = 1 << 30
MAX_CACHED_PIPELINES = 4096
MSAA_SAMPLES = 4  # WebGPU's one multisample count
MAX_ARRAY_SIZE = 2048
# Plain ints for the per-command checks (IntFlag arithmetic is slow on the hot path).
_VERTEX_BUFFER, _INDEX_BUFFER, _CONSTANT_BUFFER = (int(BindFlag.VERTEX_BUFFER), int(BindFlag.INDEX_BUFFER),
                                                   int(BindFlag.CONSTANT_BUFFER))
#: Whole-buffer updates renamed (fresh backing) before the recorded work is submitted.
MAX_RENAMES_PER_SUBMIT = 256
#: The uniform ring: whole updates of constant buffers (Map(WRITE_DISCARD), UpdateSubresource
#: without a box) are written here, each to a fresh aligned slice, and bound with a dynamic
#: offset, so bind groups survive the update (DXVK's renaming of D3D11 dynamic buffers).
UNIFORM_RING_BYTES = 8 << 20
#: GenerateMips: each mip is drawn from the one above with linear filtering (a 2x2 box filter
#: for even sizes, gamma-correct for sRGB formats since sampling and writing convert).
MIP_SHADER = """
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var smp: sampler;
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return VOut(vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0), vec2<f32>(xy.x, 1.0 - xy.y));
}
@fragment
fn fs(v: VOut) -> @location(0) vec4<f32> { return textureSampleLevel(src, smp, v.uv, 0.0); }
"""
SHARED_DESC = STRUCT_LAYOUTS["SharedTextureDesc"]
MAX_SHARED_SURFACES = 64  # shared textures (created or opened) one guest may hold
#: Vertices (times instances) one draw may ask for: a cheap first line before the watchdog.
MAX_DRAW_INVOCATIONS = 1 << 26
#: what a DXBC vertex shader may read that depends on the draw's bases (Renderer._rebase_draw)
_DRAW_ID_NEEDS = frozenset({"vertex_id", "instance_id"})


@dataclass
class Frame:
    """A presented frame: RGBA8 pixels (height, width, 4) and its index in the swap chain.
    Presenters may read `pixels` during present() only; one that keeps them copies them."""

    pixels: np.ndarray
    index: int
    #: gives the pixels' memory back (a mapped read-back buffer); the session calls it once
    #: every presenter has had the frame
    release: Any = None


class Stats:
    def __init__(self) -> None:
        self.pipeline_hits = 0
        self.pipeline_misses = 0
        self.draws = 0
        self.submits = 0


class Renderer(ComputeCommands, QueryCommands):
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
        self.stats = Stats()
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
        self._pass_formats: tuple = ((), None, 1, False, False)  # the open render pass's, for render bundles
        self._make_helpers()
        self._init_queries(features)
        self._init_compute()
        self.reset_state()

    # --- state -----------------------------------------------------------------------------
    def reset_state(self) -> None:
        self.epoch = getattr(self, "epoch", 0) + 1
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

    def _make_helpers(self) -> None:
        """Stand-ins for empty slots (nulls.py), and what GenerateMips draws with."""
        d = self.device
        self._nulls = NullResources(d)
        self._linear_sampler = d.create_sampler(mag_filter="linear", min_filter="linear")
        self._mip_pipelines: dict[str, wgpu.GPURenderPipeline] = {}
        self._empty_bind_groups: dict[tuple[int, int], wgpu.GPUBindGroup] = {}
        self._empty_layout = d.create_bind_group_layout(entries=[])
        self._empty_group = d.create_bind_group(layout=self._empty_layout, entries=[])
        self._ring_align = max(16, int(d.limits.get("min-uniform-buffer-offset-alignment", 256)))
        self._ring = d.create_buffer(size=UNIFORM_RING_BYTES, label="pvgpu-uniform-ring",
                                     usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
                                     | wgpu.BufferUsage.COPY_SRC)
        self._ring_cursor = 0
        self._ring_holders: set[Buffer] = set()  # buffers whose contents live in the ring
        self._ring_stage = bytearray(UNIFORM_RING_BYTES)  # the slices written since the last _finish
        self._ring_view = memoryview(self._ring_stage)
        self._ring_lo = -1  # first byte of those slices (-1: none)

    # --- the uniform ring ----------------------------------------------------------------------
    # Slices reach the GPU by queue.write_buffer, which the queue runs before the next submitted
    # command buffer and after every one submitted before it. So slices are never reused within
    # the recording (generation) that may bind them: when the ring is full, the buffers that
    # still live in it are copied into their own backings (recorded), that work is submitted, and
    # allocation starts again at 0; the writes that follow land after the submitted work. The
    # slices of one recording are contiguous: they are copied into a CPU stage as they come and
    # written with one write_buffer when the recording is closed (_finish), before its submit.
    def _ring_write(self, buf: Buffer, data) -> None:
        size = buf.alloc_size
        step = -(-size // self._ring_align) * self._ring_align
        if self._ring_cursor + step > UNIFORM_RING_BYTES:
            self._ring_wrap()
        off = self._ring_cursor
        self._ring_cursor = off + step
        self.ring_bytes += step
        self._ring_view[off:off + len(data)] = data  # a CB's byte_width: a multiple of 16
        if self._ring_lo < 0:
            self._ring_lo = off
        self.readback.idle = False
        if buf.ring is not self._ring:
            self._groups_dirty = [True, True, True]  # bound from its backing or a slab until now
        buf.ring, buf.ring_slab, buf.ring_offset = self._ring, None, off
        self._ring_holders.add(buf)

    def _ring_wrap(self) -> None:
        for buf in list(self._ring_holders):
            self._settle(buf)
        self.submit()
        self._ring_cursor = 0

    def _settle(self, buf: Buffer) -> None:
        """Move a constant buffer's contents from the ring back into its backing (a recorded
        copy, so work recorded before it still reads what it read), for the uses that read or
        write the backing itself: copies, partial updates, no-overwrite maps."""
        off = buf.ring_offset
        if off < 0:
            return
        self._end_pass()
        self.encoder.copy_buffer_to_buffer(buf.ring, off, buf.backing, 0, buf.alloc_size)
        if buf.ring_slab is not None:
            buf.ring_slab.bound_generation = self.generation
        buf.ring_offset = -1
        buf.ring = buf.ring_slab = None
        self._ring_holders.discard(buf)
        self._dirty_all()
        self._wrote(buf)

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

    def _flush_ring(self) -> None:
        lo = self._ring_lo
        if lo >= 0:
            self._ring_lo = -1
            self.queue.write_buffer(self._ring, lo, self._ring_view[lo:self._ring_cursor])

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

    # --- resources ---------------------------------------------------------------------------
    def create_buffer(self, byte_width, usage, bind_flags, cpu_access_flags, misc_flags,
                      structure_byte_stride, initial_data) -> Buffer:
        if byte_width == 0 or byte_width > MAX_BUFFER_BYTES:
            raise invalid(f"byte_width {byte_width} must be between 1 and {MAX_BUFFER_BYTES}")
        _check_usage_rules(usage, bind_flags, cpu_access_flags, initial_data, "buffer")
        if bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL):
            raise invalid("a buffer cannot be bound as a render target or depth-stencil")
        if misc_flags & ~_BUFFER_MISC:
            raise unsupported(f"misc flags {ResourceMiscFlag(misc_flags & ~_BUFFER_MISC)!r} are not offered for "
                              f"buffers")
        if bind_flags & BindFlag.CONSTANT_BUFFER and byte_width % 16:
            raise invalid(f"a constant buffer's byte_width must be a multiple of 16, not {byte_width}")
        if bind_flags & BindFlag.CONSTANT_BUFFER and bind_flags & BindFlag.UNORDERED_ACCESS:
            raise invalid("a constant buffer cannot also be an unordered-access buffer")
        structured = misc_flags & ResourceMiscFlag.BUFFER_STRUCTURED
        if structured and misc_flags & ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS:
            raise invalid("a buffer is structured or allows raw views, not both")
        if structured and not (0 < structure_byte_stride <= 2048 and structure_byte_stride % 4 == 0
                               and byte_width % structure_byte_stride == 0):
            raise invalid(f"a structured buffer's stride ({structure_byte_stride}) must be a multiple of 4 up to 2048 "
                          f"that divides its byte_width ({byte_width})")
        if misc_flags & ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS and byte_width % 4:
            raise invalid(f"a buffer with raw views needs a byte_width that is a multiple of 4, not {byte_width}")
        if initial_data is not None and len(initial_data) < byte_width:
            raise invalid(f"initial data has {len(initial_data)} bytes, the buffer needs {byte_width}")
        u = wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        if bind_flags & BindFlag.VERTEX_BUFFER:
            u |= wgpu.BufferUsage.VERTEX
        if bind_flags & BindFlag.INDEX_BUFFER:
            u |= wgpu.BufferUsage.INDEX
        if bind_flags & BindFlag.CONSTANT_BUFFER:
            u |= wgpu.BufferUsage.UNIFORM
        if misc_flags & ResourceMiscFlag.DRAWINDIRECT_ARGS:
            u |= wgpu.BufferUsage.INDIRECT
        if bind_flags & (BindFlag.SHADER_RESOURCE | BindFlag.UNORDERED_ACCESS):
            u |= wgpu.BufferUsage.STORAGE
        alloc = (byte_width + 15) // 16 * 16
        backing = self.device.create_buffer(size=alloc, usage=u)
        buf = Buffer(byte_width, usage, bind_flags, cpu_access_flags, u, backing, alloc, misc_flags=misc_flags,
                     structure_byte_stride=structure_byte_stride if structured else 0)
        if initial_data is not None:
            self.queue.write_buffer(backing, 0, _padded(initial_data[:byte_width], 4))
            self.readback.idle = False
        return buf

    def create_texture1d(self, width, mip_levels, array_size, format, usage, bind_flags, cpu_access_flags,
                         misc_flags, initial_data) -> Texture:
        return self._create_texture("1d", width, 1, 1, mip_levels, array_size, format, 1, 0, usage, bind_flags,
                                    cpu_access_flags, misc_flags, initial_data)

    def create_texture2d(self, width, height, mip_levels, array_size, format, sample_count, sample_quality,
                         usage, bind_flags, cpu_access_flags, misc_flags, initial_data) -> Texture:
        return self._create_texture("2d", width, height, 1, mip_levels, array_size, format, sample_count,
                                    sample_quality, usage, bind_flags, cpu_access_flags, misc_flags, initial_data)

    def create_texture3d(self, width, height, depth, mip_levels, format, usage, bind_flags, cpu_access_flags,
                         misc_flags, initial_data) -> Texture:
        return self._create_texture("3d", width, height, depth, mip_levels, 1, format, 1, 0, usage, bind_flags,
                                    cpu_access_flags, misc_flags, initial_data)

    def _create_texture(self, dimension: str, width, height, depth, mip_levels, array_size, format, sample_count,
                        sample_quality, usage, bind_flags, cpu_access_flags, misc_flags, initial_data,
                        opened: SharedSurface | None = None) -> Texture:
        """`opened`: the surface of a shared texture another session created (OpenSharedResource)."""
        fmt = DxgiFormat(format)
        caps = self.format_caps[fmt]
        kind = f"Texture{dimension.upper()}"
        if not caps & _DIMENSION_CAPS[dimension]:
            raise unsupported(f"format {fmt.name} cannot be a {kind} on this host (see `pvgpu formats`)")
        if bind_flags & BindFlag.RENDER_TARGET and not caps & FormatSupport.RENDER_TARGET:
            raise unsupported(f"format {fmt.name} cannot be a render target on this host")
        if bind_flags & BindFlag.DEPTH_STENCIL and not caps & FormatSupport.DEPTH_STENCIL:
            raise unsupported(f"format {fmt.name} cannot be a depth-stencil target on this host")
        if bind_flags & BindFlag.SHADER_RESOURCE and not caps & FormatSupport.SHADER_LOAD:
            raise unsupported(f"format {fmt.name} cannot be read by shaders on this host")
        if bind_flags & BindFlag.UNORDERED_ACCESS and not caps & FormatSupport.TYPED_UNORDERED_ACCESS_VIEW:
            raise unsupported(f"format {fmt.name} cannot have unordered-access views on this host")
        if misc_flags & _BUFFER_MISC:
            raise invalid(f"misc flags {ResourceMiscFlag(misc_flags & _BUFFER_MISC)!r} are for buffers only")
        wgpu_format = texture_format(fmt, bool(bind_flags & BindFlag.DEPTH_STENCIL))
        if wgpu_format is None:
            raise invalid(f"{fmt.name} is a depth-stencil family: create it with the DEPTH_STENCIL bind flag")
        if misc_flags & ResourceMiscFlag.GENERATE_MIPS:
            want = BindFlag.RENDER_TARGET | BindFlag.SHADER_RESOURCE
            if bind_flags & want != want:
                raise invalid("RESOURCE_MISC_GENERATE_MIPS needs the RENDER_TARGET and SHADER_RESOURCE bind flags")
            if not caps & FormatSupport.SHADER_SAMPLE:
                raise unsupported(f"mips of {fmt.name} cannot be generated on this host (not filterable)")
        limit = MAX_TEXTURE3D_DIM if dimension == "3d" else MAX_TEXTURE_DIM
        if not (1 <= width <= limit and 1 <= height <= limit and 1 <= depth <= limit):
            raise invalid(f"{kind} size {width}x{height}x{depth} is outside 1..{limit}")
        if not 1 <= array_size <= MAX_ARRAY_SIZE:
            raise invalid(f"array_size {array_size} must be between 1 and {MAX_ARRAY_SIZE}")
        if misc_flags & ResourceMiscFlag.TEXTURECUBE and (dimension != "2d" or array_size % 6 or width != height):
            raise invalid(f"a cube texture is 2D with square faces and 6 slices per cube ({width}x{height}, "
                          f"{array_size} slices)")
        if sample_count not in (1, MSAA_SAMPLES) or sample_quality not in (0, 0xFFFFFFFF):
            raise unsupported(f"{sample_count}x multisampling (quality {sample_quality}) is not offered; "
                              f"this host offers 1x and {MSAA_SAMPLES}x")
        if sample_count > 1:
            if not caps & FormatSupport.MULTISAMPLE_RENDERTARGET:
                raise unsupported(f"format {fmt.name} cannot be multisampled on this host")
            if mip_levels not in (0, 1) or array_size != 1:
                raise invalid("a multisampled texture has one mip and one array slice")
            if not bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL) or initial_data is not None:
                raise invalid("a multisampled texture is a render target or depth-stencil without initial data")
            if bind_flags & (BindFlag.SHADER_RESOURCE | BindFlag.UNORDERED_ACCESS):
                raise unsupported("shader-resource and unordered-access views of multisampled textures are not "
                                  "offered yet")
            mip_levels = 1
        full_chain = max(width, height, depth).bit_length()
        mips = full_chain if mip_levels == 0 else mip_levels
        if mips > full_chain:
            raise invalid(f"{mip_levels} mip levels is more than a {width}x{height}x{depth} texture has "
                          f"({full_chain})")
        _check_usage_rules(usage, bind_flags, cpu_access_flags, initial_data, "texture")
        if bind_flags & (BindFlag.VERTEX_BUFFER | BindFlag.INDEX_BUFFER | BindFlag.CONSTANT_BUFFER):
            raise invalid("a texture cannot be bound as a vertex, index or constant buffer")
        is_depth = wgpu_format.startswith("depth")
        if bind_flags & BindFlag.DEPTH_STENCIL and not is_depth:
            raise invalid(f"DEPTH_STENCIL binding needs a depth format, not {fmt.name}")
        if bind_flags & BindFlag.RENDER_TARGET and is_depth:
            raise invalid(f"RENDER_TARGET binding cannot use the depth format {fmt.name}")
        if bind_flags & BindFlag.DEPTH_STENCIL and dimension == "3d":
            raise invalid("a Texture3D cannot be a depth-stencil")
        u = wgpu.TextureUsage.COPY_DST | wgpu.TextureUsage.COPY_SRC if sample_count == 1 else 0
        if bind_flags & BindFlag.SHADER_RESOURCE:
            u |= wgpu.TextureUsage.TEXTURE_BINDING
        if bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL):
            u |= wgpu.TextureUsage.RENDER_ATTACHMENT
        if bind_flags & BindFlag.UNORDERED_ACCESS:
            u |= wgpu.TextureUsage.STORAGE_BINDING
        if (usage == Usage.DEFAULT and dimension == "2d" and caps & FormatSupport.MULTISAMPLE_RESOLVE
                and not is_depth):
            u |= wgpu.TextureUsage.RENDER_ATTACHMENT  # a ResolveSubresource target needs it in WebGPU
        if misc_flags & ResourceMiscFlag.SHARED:
            self._check_shareable(dimension, mips, array_size, sample_count, fmt)
        layers = depth if dimension == "3d" else array_size
        twin = SRGB_TWINS.get(wgpu_format)
        texture = create_texture(self.device, size=(width, height, layers), mip_level_count=mips,
                                 dimension="3d" if dimension == "3d" else "2d", format=wgpu_format, usage=u,
                                 sample_count=sample_count, view_formats=(twin,) if twin else ())
        tex = Texture(width, height, mips, fmt, wgpu_format, usage, bind_flags, cpu_access_flags, texture,
                      FORMAT_BYTES[fmt], misc_flags=misc_flags, array_size=array_size,
                      sample_count=sample_count, dimension=dimension, depth=depth)
        if initial_data is not None:
            if is_depth:
                raise unsupported("initial data for depth textures is not offered (clear them instead)")
            need = tex.nbytes
            if len(initial_data) < need:
                raise invalid(f"initial data has {len(initial_data)} bytes; {array_size} slice(s) of {mips} tightly "
                              f"packed mips of {width}x{height}x{depth} {fmt.name} need {need}")
            off = 0
            for layer in range(array_size):
                for m in range(mips):
                    (w, h), d = tex.mip_size(m), tex.mip_depth(m)
                    n = w * h * d * tex.bytes_per_texel
                    self.queue.write_texture({"texture": texture, "mip_level": m, "origin": (0, 0, layer)},
                                             initial_data[off:off + n],
                                             {"offset": 0, "bytes_per_row": w * tex.bytes_per_texel,
                                              "rows_per_image": h}, (w, h, d))
                    self.readback.idle = False
                    off += n
        if misc_flags & ResourceMiscFlag.SHARED:
            surface = opened or SharedSurface.create(self._share_home, width, height, fmt, bind_flags,
                                                     tex.bytes_per_texel)
            self._hold_shared(tex, surface)
            if initial_data is not None and opened is None:
                tex.shared_version = surface.publish(np.frombuffer(initial_data[:surface.nbytes], dtype=np.uint8))
        return tex

    # --- shared resources ----------------------------------------------------------------------
    def _check_shareable(self, dimension: str, mips: int, array_size: int, sample_count: int, fmt) -> None:
        if self.share_dir is None:
            raise unsupported("shared resources are not offered by this host")
        if (dimension, mips, array_size, sample_count) != ("2d", 1, 1, 1):
            raise invalid("a shared resource is a Texture2D with one mip, one array slice and one sample (D3D11)")
        if not self.format_caps[fmt] & FormatSupport.CPU_READBACK or fmt in DEPTH_FORMATS or fmt in TYPELESS:
            raise unsupported(f"shared textures of format {fmt.name} are not offered")
        self._check_surface_room()

    def _check_surface_room(self) -> None:
        if len(self._surfaces) >= MAX_SHARED_SURFACES:
            raise CommandError(ErrorCode.COUNT_LIMIT, f"this guest already holds {MAX_SHARED_SURFACES} shared "
                                                      f"resources")

    def _hold_shared(self, tex: Texture, surface: SharedSurface) -> None:
        tex.shared = surface
        self._surfaces.setdefault(surface.handle, [surface, 0])[1] += 1
        self.shared_textures.append(tex)

    def _drop_shared(self, tex: Texture) -> None:
        self.shared_textures.remove(tex)
        self._dirty_shared.discard(tex)
        held = self._surfaces[tex.shared.handle]
        held[1] -= 1
        if held[1] == 0:
            del self._surfaces[tex.shared.handle]
            tex.shared.close()
        tex.shared = None

    def release_shared(self) -> None:
        """Let go of every shared texture (the guest's objects are gone)."""
        for tex in list(self.shared_textures):
            self._drop_shared(tex)

    def get_shared_handle(self, resource, result) -> None:
        if resource.shared is None:
            raise invalid("GetSharedHandle of a texture created without RESOURCE_MISC_SHARED")
        if result is None or len(result) < 8:
            raise invalid("the result range of GetSharedHandle needs 8 bytes")
        struct.pack_into("<Q", result, 0, resource.shared.handle)

    def open_shared_resource(self, handle, desc) -> Texture:
        if self.share_dir is None:
            raise unsupported("shared resources are not offered by this host")
        if desc is None or len(desc) < SHARED_DESC.size:
            raise invalid(f"the desc range of OpenSharedResource needs {SHARED_DESC.size} bytes")
        held = self._surfaces.get(handle)
        if held is not None:  # opened again by this session: one host mapping serves both
            surface = held[0]
        else:
            self._check_surface_room()
            surface = SharedSurface.open(self.share_dir, handle)
            if surface is None:
                raise invalid(f"no shared resource has handle {handle:#x} (never created, or released by its "
                              f"creator)")
        try:
            tex = self._create_texture("2d", surface.width, surface.height, 1, 1, 1, surface.format, 1, 0,
                                       Usage.DEFAULT, surface.bind_flags, 0, ResourceMiscFlag.SHARED, None,
                                       opened=surface)
        except BaseException:
            if held is None:
                surface.close()
            raise
        self._import_shared(tex)
        SHARED_DESC.struct.pack_into(desc, 0, *SHARED_DESC.values_to_wire(
            (surface.width, surface.height, surface.format, surface.bind_flags, ResourceMiscFlag.SHARED)))
        return tex

    def _import_shared(self, tex: Texture) -> None:
        found = tex.shared.newer(tex.shared_version)
        if found is None:
            return
        tex.shared_version, data = found
        if tex.used_generation == self.generation:
            self.submit()  # recorded work reads the old contents
        row = tex.shared.row_bytes
        self.queue.write_texture({"texture": tex.texture}, data, {"offset": 0, "bytes_per_row": row,
                                                                  "rows_per_image": tex.height},
                                 (tex.width, tex.height, 1))
        self.readback.idle = False

    def sync_shared(self) -> None:
        """Before the next commands: take in what other holders published, unless this session
        has writes of its own not yet published (they win, as the later writer)."""
        for tex in self.shared_textures:
            if tex not in self._dirty_shared:
                self._import_shared(tex)

    def _publish_shared(self) -> None:
        """Publish the shared textures this session wrote (at Flush, fences and Present)."""
        if self._dirty_shared:
            self._dirty_all()  # writers bound by cached groups must be noted again
        while self._dirty_shared:
            tex = self._dirty_shared.pop()
            pixels = self.readback.texture(self._finish(), tex.texture, 0, tex.width, tex.height,
                                           tex.bytes_per_texel)
            tex.shared_version = tex.shared.publish(pixels)

    def destroy(self, obj) -> None:
        """The guest released `obj`. As in D3D11 the context keeps what is bound (it holds its
        own reference), and work already recorded, a pending clear included, still happens."""
        self.epoch += 1
        if isinstance(obj, View):
            obj.resource.view_count -= 1
            if obj in self._pending_clears:
                self._materialize_clears(only=obj)
        if isinstance(obj, Texture) and obj.shared is not None:
            self._publish_shared()  # what it was last given is what other holders keep
            self._drop_shared(obj)
        if isinstance(obj, Query):
            self._drop_active_query(obj)

    def _check_update_allowed(self, resource) -> None:
        if resource.usage == Usage.IMMUTABLE:
            raise invalid("an IMMUTABLE resource cannot be written after creation")
        if resource.usage == Usage.DYNAMIC:
            raise invalid("a DYNAMIC resource is written with Map(WRITE_DISCARD), not UpdateSubresource")

    def update_subresource(self, resource, subresource, has_box, box_left, box_top, box_front, box_right,
                           box_bottom, box_back, src_row_pitch, src_depth_pitch, src) -> None:
        self._check_update_allowed(resource)
        if src is None:
            raise invalid("UpdateSubresource without source data")
        if isinstance(resource, Buffer):
            if subresource != 0:
                raise invalid(f"a buffer has one subresource, not {subresource}")
            lo, hi = (box_left, box_right) if has_box else (0, resource.byte_width)
            if not (lo <= hi <= resource.byte_width):
                raise invalid(f"box [{lo}, {hi}) is outside the {resource.byte_width}-byte buffer")
            if hi - lo > len(src):
                raise invalid(f"source has {len(src)} bytes, the box needs {hi - lo}")
            self._write_buffer(resource, lo, src[:hi - lo], whole=(lo == 0 and hi == resource.byte_width))
            return
        box = (box_left, box_top, box_front, box_right, box_bottom, box_back) if has_box else None
        self._write_texture(resource, subresource, box, src_row_pitch, src_depth_pitch, src)

    def _write_buffer(self, buf: Buffer, offset: int, data, whole: bool) -> None:
        if offset % 4 or (len(data) % 4 and offset + len(data) != buf.byte_width):
            raise unsupported("buffer updates must start and end on 4-byte boundaries (or end at the buffer's end)")
        if whole and buf.bind_flags == _CONSTANT_BUFFER and not buf.misc_flags:
            self._ring_write(buf, data)
            return
        if buf.ring_offset >= 0:
            self._settle(buf)
        if buf.used_generation == self.generation:
            if whole and self._renames < MAX_RENAMES_PER_SUBMIT:
                # D3D11 semantics with the pass kept open: recorded draws keep the old backing.
                buf.backing = self.device.create_buffer(size=buf.alloc_size, usage=buf.wgpu_usage)
                self.epoch += 1
                self._dirty_all()
                self._renames += 1
                self._bind_groups.clear()
            else:
                self.submit()
        self.queue.write_buffer(buf.backing, offset, _padded(data, 4))
        self.readback.idle = False

    def _write_texture(self, tex: Texture, subresource: int, box: tuple | None, row_pitch: int,
                       depth_pitch: int, data) -> None:
        """Write a subresource, or the box (left, top, front, right, bottom, back) of it
        (depth_pitch 0: slices follow each other tightly)."""
        mip, layer = self._split(tex, subresource)
        if tex.is_depth:
            raise unsupported("writing depth textures from the CPU is not offered")
        (w, h), d = tex.mip_size(mip), tex.mip_depth(mip)
        left, top, front, right, bottom, back = box if box is not None else (0, 0, 0, w, h, d)
        if tex.dimension != "3d":
            front, back = 0, min(back, 1) if box is not None else 1  # D3D11: a 2D box spans depth 0..1
        if not (left <= right <= w and top <= bottom <= h and front <= back <= d):
            raise invalid(f"box ({left},{top},{front})-({right},{bottom},{back}) is outside mip {mip} ({w}x{h}x{d})")
        if right == left or bottom == top or back == front:
            return
        rows, slices = bottom - top, back - front
        row = (right - left) * tex.bytes_per_texel
        if row_pitch < row:
            raise invalid(f"source row pitch {row_pitch} is less than a row of the box ({row} bytes)")
        image = row_pitch * (rows - 1) + row
        depth_pitch = depth_pitch or row_pitch * rows
        if slices > 1 and (depth_pitch < image or depth_pitch % row_pitch):
            raise invalid(f"source depth pitch {depth_pitch} must be a multiple of the row pitch {row_pitch} "
                          f"holding a whole {right - left}x{rows} slice ({image} bytes)")
        need = (depth_pitch * (slices - 1) if slices > 1 else 0) + image
        if len(data) < need:
            raise invalid(f"source has {len(data)} bytes, the box needs {need}")
        self._materialize_clears()  # a clear recorded before this update must land before it
        if tex.used_generation == self.generation:
            self.submit()
        origin = (left, top, front if tex.dimension == "3d" else layer)
        self.queue.write_texture({"texture": tex.texture, "mip_level": mip, "origin": origin},
                                 data[:need], {"offset": 0, "bytes_per_row": row_pitch,
                                               "rows_per_image": depth_pitch // row_pitch if slices > 1 else rows},
                                 (right - left, rows, slices))
        self.readback.idle = False
        if tex.shared is not None:
            self._dirty_shared.add(tex)

    def copy_resource(self, dst, src) -> None:
        if dst is src:
            raise invalid("CopyResource needs two different resources")
        if type(dst) is not type(src):
            raise invalid("CopyResource needs two resources of the same kind")
        if dst.usage == Usage.IMMUTABLE:
            raise invalid("cannot copy into an IMMUTABLE resource")
        self._materialize_clears()
        self._end_pass()
        if isinstance(dst, Buffer):
            if dst.byte_width != src.byte_width:
                raise invalid(f"buffer sizes differ ({dst.byte_width} and {src.byte_width} bytes)")
            self._settle(src)
            self._settle(dst)
            self.encoder.copy_buffer_to_buffer(src.backing, 0, dst.backing, 0, dst.alloc_size)
        else:
            if dst.sample_count > 1 or src.sample_count > 1:
                raise unsupported("multisampled textures cannot be copied; resolve them first (ResolveSubresource)")
            if _shape(dst) != _shape(src):
                raise invalid("textures differ in kind, size, mip count or array size")
            if dst.bytes_per_texel != src.bytes_per_texel or dst.is_depth != src.is_depth:
                raise invalid(f"formats {src.format.name} and {dst.format.name} are not copy-compatible")
            if not copy_compatible(dst.wgpu_format, src.wgpu_format):
                raise unsupported(f"copies between {src.format.name} and {dst.format.name} are not offered")
            for m in range(dst.mip_levels):
                w, h = dst.mip_size(m)
                layers = dst.mip_depth(m) if dst.dimension == "3d" else dst.array_size
                self.encoder.copy_texture_to_texture({"texture": src.texture, "mip_level": m},
                                                     {"texture": dst.texture, "mip_level": m}, (w, h, layers))
        self._wrote(dst)
        self._use(src)

    def copy_subresource_region(self, dst, dst_subresource, dst_x, dst_y, dst_z, src, src_subresource, has_box,
                                box_left, box_top, box_front, box_right, box_bottom, box_back) -> None:
        if type(dst) is not type(src):
            raise invalid("CopySubresourceRegion needs two resources of the same kind")
        if dst.usage == Usage.IMMUTABLE:
            raise invalid("cannot copy into an IMMUTABLE resource")
        if isinstance(dst, Buffer):
            if dst_subresource or src_subresource:
                raise invalid("a buffer has one subresource (0)")
            lo, hi = (box_left, box_right) if has_box else (0, src.byte_width)
            if not (lo <= hi <= src.byte_width):
                raise invalid(f"source range [{lo}, {hi}) is outside the {src.byte_width}-byte buffer")
            if dst_x + (hi - lo) > dst.byte_width:
                raise invalid(f"{hi - lo} bytes at offset {dst_x} do not fit the {dst.byte_width}-byte destination")
            if dst is src:
                raise unsupported("copies within one buffer are not offered (copy through a second buffer)")
            if lo % 4 or dst_x % 4 or (hi - lo) % 4:
                raise unsupported("buffer region copies must start, end and land on 4-byte boundaries")
            if hi == lo:
                return
            self._materialize_clears()
            self._end_pass()
            self._settle(src)
            self._settle(dst)
            self.encoder.copy_buffer_to_buffer(src.backing, lo, dst.backing, dst_x, hi - lo)
        else:
            if dst.dimension != src.dimension:
                raise invalid(f"CopySubresourceRegion between a Texture{src.dimension.upper()} and a "
                              f"Texture{dst.dimension.upper()}")
            dst_mip, dst_layer = self._split(dst, dst_subresource)
            src_mip, src_layer = self._split(src, src_subresource)
            if not copy_compatible(dst.wgpu_format, src.wgpu_format):
                raise invalid(f"formats {src.format.name} and {dst.format.name} are not copy-compatible")
            (sw, sh), sd = src.mip_size(src_mip), src.mip_depth(src_mip)
            box = ((box_left, box_top, box_front, box_right, box_bottom, box_back) if has_box
                   else (0, 0, 0, sw, sh, sd))
            left, top, front, right, bottom, back = box
            if not (left <= right <= sw and top <= bottom <= sh and front <= back <= sd):
                raise invalid(f"box ({left},{top},{front})-({right},{bottom},{back}) is outside source mip {src_mip} "
                              f"({sw}x{sh}x{sd})")
            (dw, dh), dd = dst.mip_size(dst_mip), dst.mip_depth(dst_mip)
            if dst_x + (right - left) > dw or dst_y + (bottom - top) > dh or dst_z + (back - front) > dd:
                raise invalid(f"the {right - left}x{bottom - top}x{back - front} region at ({dst_x},{dst_y},{dst_z}) "
                              f"does not fit destination mip {dst_mip} ({dw}x{dh}x{dd})")
            if dst is src and dst_subresource == src_subresource:
                raise unsupported("copies within one subresource are not offered")
            if dst.is_depth and ((left, top, right, bottom, dst_x, dst_y) != (0, 0, sw, sh, 0, 0)
                                                or (dw, dh) != (sw, sh)):
                raise unsupported("depth-stencil copies must cover whole subresources of the same size")
            if right == left or bottom == top or back == front:
                return
            self._materialize_clears()
            self._end_pass()
            three_d = dst.dimension == "3d"
            self.encoder.copy_texture_to_texture(
                {"texture": src.texture, "mip_level": src_mip, "origin": (left, top, front if three_d else src_layer)},
                {"texture": dst.texture, "mip_level": dst_mip, "origin": (dst_x, dst_y, dst_z if three_d else dst_layer)},
                (right - left, bottom - top, back - front))
        self._wrote(dst)
        self._use(src)

    def resolve_subresource(self, dst, dst_subresource, src, src_subresource, format) -> None:
        if dst.dimension != "2d":
            raise invalid("ResolveSubresource needs a Texture2D destination")
        if src.sample_count == 1 or dst.sample_count != 1:
            raise invalid("ResolveSubresource goes from a multisampled texture to a single-sampled one")
        if dst.usage != Usage.DEFAULT:
            raise invalid("ResolveSubresource needs a DEFAULT destination")
        if src_subresource != 0:
            raise invalid(f"a multisampled texture has one subresource, not {src_subresource}")
        mip, layer = self._split(dst, dst_subresource)
        fmt = src.format if format == 0 else _format(format)
        if not (src.format == dst.format == fmt) or not self.format_caps[fmt] & FormatSupport.MULTISAMPLE_RESOLVE:
            raise unsupported(f"resolving {src.format.name} into {dst.format.name} as {fmt.name} is not offered")
        if dst.mip_size(mip) != (src.width, src.height):
            raise invalid(f"sizes differ: {src.width}x{src.height} into {dst.mip_size(mip)}")
        self._materialize_clears()
        self._end_pass()
        target = dst.texture.create_view(dimension="2d", base_mip_level=mip, mip_level_count=1,
                                         base_array_layer=layer, array_layer_count=1)
        p = self.encoder.begin_render_pass(color_attachments=[
            {"view": src.texture.create_view(), "resolve_target": target, "load_op": "load", "store_op": "store"}])
        p.end()
        self._use(src)
        self._wrote(dst)

    def generate_mips(self, view) -> None:
        tex = view.resource
        if not tex.misc_flags & ResourceMiscFlag.GENERATE_MIPS:
            raise invalid("GenerateMips needs a texture created with RESOURCE_MISC_GENERATE_MIPS")
        if tex.dimension == "3d":
            raise unsupported("GenerateMips of a Texture3D is not offered yet")
        self._materialize_clears()
        self._end_pass()
        pipeline = self._mip_pipelines.get(tex.wgpu_format)
        if pipeline is None:
            module = self.device.create_shader_module(code=MIP_SHADER)
            pipeline = self.device.create_render_pipeline(
                layout="auto", vertex={"module": module, "entry_point": "vs"},
                primitive={"topology": "triangle-list"},
                fragment={"module": module, "entry_point": "fs", "targets": [{"format": tex.wgpu_format}]})
            self._mip_pipelines[tex.wgpu_format] = pipeline
        for layer in range(view.first_slice, view.first_slice + view.slices):
            for mip in range(view.base_mip, view.base_mip + view.mip_count - 1):
                one = {"dimension": "2d", "mip_level_count": 1, "base_array_layer": layer, "array_layer_count": 1}
                source = tex.texture.create_view(base_mip_level=mip, **one)
                target = tex.texture.create_view(base_mip_level=mip + 1, **one)
                group = self.device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
                    {"binding": 0, "resource": source}, {"binding": 1, "resource": self._linear_sampler}])
                p = self.encoder.begin_render_pass(color_attachments=[
                    {"view": target, "load_op": "clear", "store_op": "store", "clear_value": (0, 0, 0, 0)}])
                p.set_pipeline(pipeline)
                p.set_bind_group(0, group)
                p.draw(3)
                p.end()
        self._wrote(tex)

    # --- views and state objects -----------------------------------------------------------
    @staticmethod
    def _split(tex: Texture, subresource: int) -> tuple[int, int]:
        if tex.sample_count > 1:
            raise unsupported("multisampled textures cannot be written, copied or read by subresource; "
                              "resolve them first (ResolveSubresource)")
        if subresource >= tex.subresources:
            raise invalid(f"subresource {subresource} does not exist (the texture has {tex.mip_levels} mip(s) x "
                          f"{tex.array_size} slice(s))")
        return tex.split(subresource)

    def _view(self, resource: Texture, format: int, base_mip: int, mip_count: int, need: int, what: str,
              dimension: str = "2d", first_slice: int = 0, slices: int = 1) -> View:
        if not resource.bind_flags & need:
            raise invalid(f"the texture was not created with the {BindFlag(need).name} bind flag a {what} needs")
        fmt = resource.format if format == 0 else _format(format)
        if fmt in TYPELESS:
            raise invalid(f"a {what} names a typed format, not {fmt.name}")
        if (fmt in DEPTH_FORMATS) != (need == BindFlag.DEPTH_STENCIL) and fmt != resource.format:
            raise invalid(f"a {what} {'needs' if need == BindFlag.DEPTH_STENCIL else 'cannot have'} a depth format "
                          f"({fmt.name})")
        found = view_format(resource.format, resource.wgpu_format, fmt)
        if found is None:
            raise invalid(f"a {what} of format {fmt.name} cannot view a {resource.format.name} texture"
                          f"{' created as a depth-stencil' if resource.is_depth and resource.format in TYPELESS else ''}")
        wfmt, aspect = found
        if base_mip >= resource.mip_levels or base_mip + mip_count > resource.mip_levels or mip_count < 1:
            raise invalid(f"mips {base_mip}..{base_mip + mip_count - 1} are outside the texture's "
                          f"{resource.mip_levels} mips")
        if slices < 1 or first_slice + slices > resource.array_size:
            raise invalid(f"array slices {first_slice}..{first_slice + slices - 1} are outside the texture's "
                          f"{resource.array_size}")
        view = resource.texture.create_view(format=wfmt, dimension=dimension, aspect=aspect, base_mip_level=base_mip,
                                            mip_level_count=mip_count, base_array_layer=first_slice,
                                            array_layer_count=slices)
        resource.view_count += 1
        return View(resource, fmt, wfmt, view, base_mip, mip_count, first_slice, slices)

    def create_render_target_view(self, resource, format, mip_slice, array_slice) -> View:
        """`array_slice` is the W slice for a Texture3D (one slice per view). wgpu-py 0.32 does
        not pass a color attachment's depth slice through, so such a view draws into a 2D
        stand-in that is copied from the slice before a pass loads it and back after it ends."""
        if resource.dimension != "3d":
            return self._view(resource, format, mip_slice, 1, BindFlag.RENDER_TARGET, "render-target view",
                              first_slice=array_slice)
        depth = resource.mip_depth(mip_slice)
        if array_slice >= depth:
            raise invalid(f"W slice {array_slice} is outside mip {mip_slice}'s {depth} depth slices")
        view = self._view(resource, format, mip_slice, 1, BindFlag.RENDER_TARGET, "render-target view", "3d")
        w, h = view.size
        stand_in = self.device.create_texture(size=(w, h, 1), format=view.wgpu_format, usage=(
            wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC | wgpu.TextureUsage.COPY_DST))
        view.view = stand_in.create_view()
        view.depth_slice = (stand_in, array_slice)
        return view

    def create_depth_stencil_view(self, resource, format, mip_slice, array_slice, flags) -> View:
        view = self._view(resource, format, mip_slice, 1, BindFlag.DEPTH_STENCIL, "depth-stencil view",
                          first_slice=array_slice)
        if flags & DsvFlag.READ_ONLY_STENCIL and view.format not in STENCIL_FORMATS:
            raise invalid(f"READ_ONLY_STENCIL on a depth-stencil view of {view.format.name}, which has no stencil")
        view.read_only = flags
        return view

    def create_shader_resource_view(self, resource, format, view_dimension, most_detailed_mip, mip_levels,
                                    first_array_slice, array_size) -> View:
        count = resource.mip_levels - most_detailed_mip if mip_levels == 0xFFFFFFFF else mip_levels
        dim = SrvDimension(view_dimension)
        allowed = _SRV_DIMENSIONS[resource.dimension]
        if dim not in allowed:
            raise invalid(f"a {dim.name} view cannot view a Texture{resource.dimension.upper()} "
                          f"(expected {' or '.join(d.name for d in allowed)})")
        cube = dim in (SrvDimension.TEXTURECUBE, SrvDimension.TEXTURECUBEARRAY)
        if cube and not resource.misc_flags & ResourceMiscFlag.TEXTURECUBE:
            raise invalid("a cube view needs a texture created with RESOURCE_MISC_TEXTURECUBE")
        if dim in (SrvDimension.TEXTURE1D, SrvDimension.TEXTURE2D, SrvDimension.TEXTURE3D) and array_size != 1:
            raise invalid(f"a {dim.name} view has one array slice")
        if dim == SrvDimension.TEXTURECUBE and array_size != 6 or cube and array_size % 6:
            raise invalid(f"a cube view spans 6 slices per cube, not {array_size}")
        return self._view(resource, format, most_detailed_mip, count, BindFlag.SHADER_RESOURCE,
                          "shader-resource view", _VIEW_DIMENSIONS[dim], first_array_slice, array_size)

    def create_blend_state(self, alpha_to_coverage_enable, independent_blend_enable, render_targets):
        return S.BlendState.from_command(next_serial(), alpha_to_coverage_enable, independent_blend_enable,
                                         render_targets)

    def create_rasterizer_state(self, **c):
        return S.RasterizerState.from_command(next_serial(), SimpleNamespace(**c),
                                              "depth-clip-control" in self.features,
                                              "polygon-mode-line" in self.features)

    def create_depth_stencil_state(self, **c):
        return S.DepthStencilState.from_command(next_serial(), SimpleNamespace(**c))

    def create_sampler_state(self, **c):
        desc = S.sampler_descriptor(SimpleNamespace(**c))
        return Sampler(self.device.create_sampler(**desc))

    def create_input_layout(self, elements, semantic_names=None, shader_bytecode=None) -> InputLayout:
        names = dxbc.parse_semantic_names(semantic_names, len(elements)) if semantic_names is not None else None
        out = []
        ends: dict[int, int] = {}
        for i, e in enumerate(elements):
            fmt = _format(e.format)
            vfmt = VERTEX_FORMATS.get(fmt)
            if vfmt is None:
                raise unsupported(f"element {i}: {fmt.name} is not a vertex format on this host")
            if e.input_slot >= MAX_VERTEX_BUFFERS:
                raise invalid(f"element {i}: input slot {e.input_slot} is beyond the {MAX_VERTEX_BUFFERS} slots")
            per_instance = e.input_slot_class == InputClassification.PER_INSTANCE_DATA
            if per_instance and e.instance_data_step_rate != 1:
                raise unsupported(f"element {i}: instance step rate {e.instance_data_step_rate} (only 1 is offered)")
            if not per_instance and e.instance_data_step_rate != 0:
                raise invalid(f"element {i}: per-vertex data must have step rate 0")
            offset = ends.get(e.input_slot, 0) if e.aligned_byte_offset == APPEND_ALIGNED_ELEMENT \
                else e.aligned_byte_offset
            if offset % 4 or offset > 2048:
                raise invalid(f"element {i}: byte offset {offset} must be a multiple of 4 and at most 2048")
            ends[e.input_slot] = offset + FORMAT_BYTES[fmt]
            out.append((i, vfmt, e.input_slot, offset, per_instance))
        for slot in ends:
            kinds = {per for (_, _, s, _, per) in out if s == slot}
            if len(kinds) > 1:
                raise invalid(f"input slot {slot} mixes per-vertex and per-instance elements")
        reads = {slot: (any(per for (_, _, s, _, per) in out if s == slot), end) for slot, end in ends.items()}
        named = ()
        if names is not None:
            named = tuple((n.upper(), e.semantic_index, *rest[1:]) for n, e, rest in zip(names, elements, out))
            if len({(n, i) for (n, i, *_r) in named}) != len(named):
                raise invalid("the input layout names one semantic (name and index) twice")
        if shader_bytecode is not None:
            if names is None:
                raise invalid("matching a layout to shader bytecode needs the elements' semantic names")
            dxbc.match_layout(named, dxbc.vertex_signature(shader_bytecode))
        return InputLayout(tuple(out), tuple(sorted(ends)), reads, named)

    def create_vertex_shader(self, language, code) -> Shader | dxbc.DxbcProgram:
        return self._shader(language, code, ShaderStage.VERTEX)

    def create_pixel_shader(self, language, code) -> Shader | dxbc.DxbcProgram:
        return self._shader(language, code, ShaderStage.PIXEL)

    def _shader(self, language, code, stage: ShaderStage) -> Shader | dxbc.DxbcProgram:
        if language == ShaderLanguage.DXBC:
            return dxbc.create_program(code, stage, self.device, compile_wgsl, self.shader_base)
        if code is None:
            raise invalid("shader code is empty")
        return compile_wgsl(self.device, bytes(code), stage)

    def _refuse_stage(self, stage: str):
        raise unsupported(f"{stage} shaders are not offered: WebGPU has no {stage} stage, and pvgpu does not "
                          f"emulate it yet")

    def create_geometry_shader(self, language, code):
        self._refuse_stage("geometry")

    def create_hull_shader(self, language, code):
        self._refuse_stage("hull")

    def create_domain_shader(self, language, code):
        self._refuse_stage("domain")

    def _variant(self, stage: ShaderStage, shader, spec) -> Shader:
        """The compiled shader a draw or dispatch uses for `stage`, remembered for its bind group."""
        v = shader.variant(self.device, spec, compile_wgsl) if isinstance(shader, dxbc.DxbcProgram) else shader
        self.variants[stage] = v
        return v

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

    # --- draws -------------------------------------------------------------------------------
    def _pipeline_base(self, indexed: bool) -> tuple:
        """What the pipeline key takes from state other than the blend state and the sample
        mask, recomputed only after a setter marked it dirty (`_pso_dirty`): (base id, strides,
        render-target formats, strip index format, samples, sample bits). The id stands for
        the whole state in the key, so a lookup hashes a few ints."""
        vs = self.shaders[ShaderStage.VERTEX]
        if vs is None:
            raise invalid("draw without a vertex shader")
        if self.topology is None:
            raise invalid("draw without a primitive topology")
        ps = self.shaders[ShaderStage.PIXEL]
        layout = self.input_layout
        strides = tuple(self.vertex_buffers[s][1] if s in self.vertex_buffers else 0
                        for s in (layout.slots if layout else ()))
        rt_formats = tuple(v.wgpu_format if v is not None else None for v in self.rtvs)
        while rt_formats and rt_formats[-1] is None:
            rt_formats = rt_formats[:-1]
        dsv = self.dsv
        strip_format = self.index_buffer[1] if (indexed and self.topology in STRIPS and self.index_buffer) else None
        samples = self._samples()
        full = (vs.serial, ps.serial if ps else 0, layout.serial if layout else 0, strides,
                self.rasterizer.serial, self.depth_stencil.serial if dsv else -1, self.topology, strip_format,
                rt_formats, dsv.wgpu_format if dsv else None, dsv.read_only if dsv else 0, samples)
        base_id = self._base_ids.get(full)
        if base_id is None:
            if len(self._base_ids) >= MAX_CACHED_PIPELINES:
                self._base_ids.clear()
                self._pipelines.clear()  # keys name base ids: they go together
                self._bind_groups.clear()
            base_id = self._base_ids[full] = next_serial()
        self._pso_dirty = False
        self._pso_indexed = indexed
        self._pso_base = (base_id, strides, rt_formats, strip_format, samples, (1 << samples) - 1)
        return self._pso_base

    def _pipeline(self, indexed: bool, base_instance: int = 0, base_vertex: int = 0):
        base = self._pso_base if not self._pso_dirty and indexed is self._pso_indexed else \
            self._pipeline_base(indexed)
        base_id, strides, rt_formats, strip_format, samples, sample_bits = base
        vs = self.shaders[ShaderStage.VERTEX]
        ps = self.shaders[ShaderStage.PIXEL]
        layout = self.input_layout
        dsv = self.dsv
        elements = layout.elements if layout else ()
        vs_spec = ps_spec = None
        if isinstance(vs, dxbc.DxbcProgram) or isinstance(ps, dxbc.DxbcProgram):
            # reads bound views, buffers and targets: computed per draw, a key part of its own
            elements, vs_spec, ps_spec = self._dxbc_specs(vs, ps, layout, base_instance, base_vertex)
        mask = self.sample_mask & sample_bits
        key = (base_id, self.blend.serial, mask, vs_spec, ps_spec)
        vs = self._variant(ShaderStage.VERTEX, vs, vs_spec)
        if ps is not None:
            ps = self._variant(ShaderStage.PIXEL, ps, ps_spec)
        pipeline = self._pipelines.get(key)
        if pipeline is not None:
            self.stats.pipeline_hits += 1
            return pipeline, key
        self.stats.pipeline_misses += 1
        if rt_formats and ps is None:
            raise unsupported("drawing to render targets without a pixel shader is not offered yet")
        buffers = []
        if layout:
            for slot, stride in zip(layout.slots, strides):
                attrs = [{"format": f, "offset": off, "shader_location": loc}
                         for (loc, f, s, off, _) in elements if s == slot]
                per_instance = any(per for (_, _, s, _, per) in layout.elements if s == slot)
                buffers.append({"array_stride": stride, "step_mode": "instance" if per_instance else "vertex",
                                "attributes": attrs})
        r = self.rasterizer
        primitive = {"topology": TOPOLOGIES[self.topology], "front_face": r.front_face, "cull_mode": r.cull_mode}
        if strip_format:
            primitive["strip_index_format"] = strip_format
        if not r.depth_clip:
            primitive["unclipped_depth"] = True
        if r.wireframe:
            primitive["polygon_mode"] = "Line"  # wgpu-native extension: its enum spelling
        depth_stencil = None
        if dsv:
            d = self.depth_stencil
            depth_stencil = {"format": dsv.wgpu_format,
                             "depth_write_enabled": d.depth_write and not dsv.read_only & DsvFlag.READ_ONLY_DEPTH,
                             "depth_compare": d.depth_compare, "depth_bias": r.depth_bias,
                             "depth_bias_slope_scale": r.slope_scaled_depth_bias,
                             "depth_bias_clamp": r.depth_bias_clamp}
            if dsv.format in STENCIL_FORMATS:
                depth_stencil.update(stencil_front=d.stencil_front, stencil_back=d.stencil_back,
                                     stencil_read_mask=d.stencil_read_mask,
                                     stencil_write_mask=0 if dsv.read_only & DsvFlag.READ_ONLY_STENCIL
                                     else d.stencil_write_mask)
        fragment = None
        if ps is not None:
            targets = []
            for i, fmt in enumerate(rt_formats):
                if fmt is None:
                    targets.append(None)
                    continue
                blend, write_mask = self.blend.targets[i]
                t = {"format": fmt, "write_mask": write_mask}
                if blend is not None:
                    t["blend"] = blend
                targets.append(t)
            fragment = {"module": ps.module, "entry_point": None, "targets": targets}
        desc = dict(vertex={"module": vs.module, "entry_point": None, "buffers": buffers},
                    primitive=primitive, depth_stencil=depth_stencil,
                    multisample={"count": samples, "mask": mask,
                                 "alpha_to_coverage_enabled": self.blend.alpha_to_coverage and samples > 1},
                    fragment=fragment)
        pipeline = self._create_pipeline(self.device.create_render_pipeline, desc, (vs, ps), "pipeline")
        self._cache_pipeline(key, pipeline)
        return pipeline, key

    def _dxbc_specs(self, vs, ps, layout, base_instance: int, base_vertex: int) -> tuple:
        """(vertex attributes, VS specialization, PS specialization) for a draw with a DXBC stage."""
        combo = (vs.serial, ps.serial if ps is not None else 0, layout.serial if layout is not None else 0)
        static = self._dxbc_static.get(combo)
        if static is None:
            static = self._dxbc_static[combo] = self._dxbc_static_specs(vs, ps, layout)
        elements, vs_static, ps_static = static
        vs_spec = ps_spec = None
        if vs_static is not None:
            vs_spec = dxbc.stage_spec(vs, self, ShaderStage.VERTEX, vs_static, base_instance, base_vertex)
        if ps_static is not None:
            ps_spec = dxbc.stage_spec(ps, self, ShaderStage.PIXEL, ps_static)
        return elements, vs_spec, ps_spec

    def _dxbc_static_specs(self, vs, ps, layout) -> tuple:
        """What a (VS, PS, layout) combination fixes: the vertex attributes matched to the VS's
        signature, the varyings linked by semantic, and the static parts of both specializations."""
        if len(self._dxbc_static) >= MAX_CACHED_PIPELINES:
            self._dxbc_static.clear()
        vs_out = ps_in = None
        elements = layout.elements if layout else ()
        vs_static = ps_static = None
        if isinstance(vs, dxbc.DxbcProgram):
            vs_out, ps_in = dxbc.linked(vs, ps)
            if layout is not None and layout.named:
                elements = layout.matched.get(vs.serial)
                if elements is None:
                    if len(layout.matched) >= 64:
                        layout.matched.clear()  # shaders come and go; a long-lived layout must not grow
                    signature = tuple((e.semantic_name.upper(), e.semantic_index, i)
                                      for i, e in enumerate(vs.source.blob.inputs)
                                      if e.system_value == dxbc.SystemValue.UNDEFINED)
                    elements = layout.matched[vs.serial] = dxbc.match_layout(layout.named, signature)
            vs_static = dxbc.static_spec(vs, self.shader_base, vs_out, elements)
        if isinstance(ps, dxbc.DxbcProgram):
            ps_static = dxbc.static_spec(ps, self.shader_base, ps_in)
        return elements, vs_static, ps_static

    def _create_pipeline(self, create, desc: dict, stages: tuple, what: str):
        """A pipeline whose layout is made of its shaders' own bind group layouts (uniforms with
        dynamic offsets: the ring), one group per stage; "auto" where a shader has none."""
        layouts = [None] * (max(int(s.stage) for s in stages if s is not None) + 1)
        explicit = True
        for shader in stages:
            if shader is not None:
                layouts[int(shader.stage)] = shader.bind_group_layout
                explicit = explicit and shader.bind_group_layout is not None
        if explicit:
            layout = self.device.create_pipeline_layout(
                bind_group_layouts=[bgl if bgl is not None else self._empty_layout for bgl in layouts])
            try:
                pipeline = create(layout=layout, **desc)
                pipeline._pvgpu_explicit = True
                return pipeline
            except wgpu.GPUError:
                pass  # what the shader does with a binding disagrees with the layout read off it
        try:
            pipeline = create(layout="auto", **desc)
        except wgpu.GPUError as e:
            raise CommandError(ErrorCode.HOST_GPU_ERROR, f"{what}: " + " ".join(str(e).split())[:400]) from None
        pipeline._pvgpu_explicit = False
        return pipeline

    def _cache_pipeline(self, key: tuple, pipeline) -> None:
        if len(self._pipelines) >= MAX_CACHED_PIPELINES:
            self._pipelines.clear()  # a guest cycling through states must not grow this forever
            self._bind_groups.clear()
            self._empty_bind_groups.clear()
        self._pipelines[key] = pipeline

    def _empty_bind_group(self, pipeline, group: int):
        bg = self._empty_bind_groups.get((id(pipeline), group))
        if bg is None:
            bg = self.device.create_bind_group(layout=pipeline.get_bind_group_layout(group), entries=[])
            self._empty_bind_groups[(id(pipeline), group)] = bg
        return bg

    def _bind_group(self, pipeline, key, stage: ShaderStage):
        """The stage's (bind group, identity, dynamic offsets), built again (_build_bind_group)
        only when something it depends on changed since the last draw or dispatch: a setter of
        the stage's slots or shader, render targets, UAVs, a renamed buffer or counter, a buffer
        moving into or out of the uniform ring, a new recording (all mark `_groups_dirty`), or
        another shader variant or pipeline layout. Otherwise only the dynamic offsets of the
        constant buffers that live in the ring are read again (a discard moves them)."""
        shader = self.variants[stage] if self.shaders[stage] is not None else None
        explicit = pipeline._pvgpu_explicit
        ident = True if explicit else key
        dirty = self._groups_dirty
        cached = self._stage_groups[stage]
        if not dirty[stage] and cached is not None and cached[0] is shader and cached[1] == ident:
            result, ring_cbs = cached[2], cached[3]
            if not ring_cbs:
                return result
            dynamic = list(result[2])
            for i, buf in ring_cbs:
                dynamic[i] = buf.ring_offset
            dynamic = tuple(dynamic)
            return result if dynamic == result[2] else (result[0], result[1], dynamic)
        result, ring_cbs = self._build_bind_group(pipeline, key, stage)
        self._stage_groups[stage] = (shader, ident, result, ring_cbs)
        dirty[stage] = False
        return result

    def _build_bind_group(self, pipeline, key, stage: ShaderStage):
        """((bind group, identity, dynamic offsets), ring constant buffers) of the stage's group for `pipeline`. With an
        explicit layout the group depends on the stage's layout and what is bound only (not on
        the pipeline), and a constant buffer whose contents live in the uniform ring is bound
        as the ring with its slice's offset as a dynamic offset, so a discard keeps the group."""
        shader = self.variants[stage] if self.shaders[stage] is not None else None
        group = int(stage)
        explicit = pipeline._pvgpu_explicit
        if shader is None or not shader.bindings:
            return ((self._empty_group if explicit else self._empty_bind_group(pipeline, group)), None, ()), ()
        entries, refs, ident, dynamic = [], [], [], []
        ring_cbs = []  # (index in dynamic, buffer) of the constant buffers bound from the ring
        uav_textures = None
        capture = self._capture
        for binding, kind, slot, declared in shader.slots:
            if kind == "constant_buffer":
                buf = self.constant_buffers[stage].get(slot)
                if buf is not None:
                    size = buf.alloc_size
                    off = buf.ring_offset
                    if capture is not None:
                        capture.bound_constant_buffer(buf)
                    if off >= 0:
                        keep = buf.ring
                        if buf.ring_slab is not None:
                            buf.ring_slab.bound_generation = self.generation
                        if explicit:
                            ring_cbs.append((len(dynamic), buf))
                    else:
                        self._use(buf)
                        keep, off = buf.backing, 0
                    if explicit:
                        res = {"buffer": keep, "offset": 0, "size": size}
                        dynamic.append(off)
                        ident.append((id(keep), size))
                    else:
                        res = {"buffer": keep, "offset": off, "size": size}
                        ident.append((id(keep), off, size))
                    refs.append(keep)
                    entries.append({"binding": binding, "resource": res})
                    continue
                res = keep = self._nulls.get(declared)
                if explicit:
                    dynamic.append(0)
            elif kind == "sampler":
                s = self.samplers[stage].get(slot)
                res = keep = s.sampler if s else self._nulls.get(declared)
            elif kind == "uav_counter":
                # the counter of the view in UAV slot `slot` (compute.py); without one, D3D11 leaves
                # counter operations undefined: they get a stand-in
                v = self.uavs.get(slot)
                counter = v.counter if isinstance(v, BufferView) else None
                if counter is not None:
                    v.counter_used = self.generation
                    if capture is not None:
                        capture.fail("a UAV counter is bound")
                    res, keep = {"buffer": counter, "offset": 0, "size": 4}, counter
                else:
                    res = keep = self._nulls.get(declared)
            else:
                if kind == "shader_resource":
                    v = self.shader_resources[stage].get(slot)
                    if v is not None and self._bound_for_output(v, stage):
                        v = None  # D3D11 unbinds a resource from input when it is bound as an output
                else:
                    v = self.uavs.get(slot)
                    if isinstance(v, View):
                        # wgpu refuses one subresource bound twice for storage in one dispatch (and then
                        # drops everything recorded with it), so it is refused here, up front
                        uav_textures = uav_textures or set()
                        where = (id(v.resource), v.base_mip)
                        if where in uav_textures:
                            raise invalid(f"UAV slot {slot}: a mip of a texture is bound in two UAV slots of one "
                                          f"dispatch")
                        uav_textures.add(where)
                if v is None:
                    res = keep = self._nulls.get(declared)
                else:
                    (self._wrote if kind == "unordered_access" else self._use)(v.resource)
                    if isinstance(v, BufferView):
                        res = {"buffer": v.resource.backing, "offset": v.offset, "size": v.size}
                        keep = v.resource.backing
                        ident.append((id(keep), v.offset, v.size))
                        refs.append(keep)
                        entries.append({"binding": binding, "resource": res})
                        continue
                    res = keep = v.view
            refs.append(keep)
            ident.append(id(keep))
            entries.append({"binding": binding, "resource": res})
        if explicit:
            layout = shader.bind_group_layout
            cache_key = (id(layout), tuple(ident))
            refs.append(layout)  # keeps its id from being reused while the entry lives
        else:
            layout = None
            cache_key = (key, group, tuple(ident))
        dynamic = tuple(dynamic)
        hit = self._bind_groups.get(cache_key)
        if hit is not None:
            return (hit[0], cache_key, dynamic), tuple(ring_cbs)
        try:
            bg = self.device.create_bind_group(layout=layout or pipeline.get_bind_group_layout(group),
                                               entries=entries)
        except wgpu.GPUError as e:
            raise CommandError(ErrorCode.HOST_GPU_ERROR,
                               f"{stage.name} bindings: " + " ".join(str(e).split())[:380]) from None
        if len(self._bind_groups) > 4096:
            self._bind_groups.clear()
        self._bind_groups[cache_key] = (bg, refs)
        return (bg, cache_key, dynamic), tuple(ring_cbs)

    def _check_draw_ranges(self, vertices: tuple[int, int] | None, instances: tuple[int, int],
                           indices: tuple[int, int] | None) -> None:
        """Reject draws that read past their buffers (wgpu would fail the whole command buffer)
        or that are too large for a host that cannot yet interrupt a GPU job."""
        count = (indices or vertices)[1] * instances[1]
        if count > self.max_draw_invocations:
            raise CommandError(ErrorCode.COUNT_LIMIT, f"draw of {count} vertices (with instances) exceeds this host's "
                                                      f"limit of {self.max_draw_invocations} per draw")
        if indices is not None:
            buf, fmt, offset = self.index_buffer
            available = (buf.byte_width - offset) // (2 if fmt == "uint16" else 4)
            first, n = indices
            if n and first + n > available:
                raise invalid(f"indices {first}..{first + n - 1} reach past the {available} in the index buffer")
        layout = self.input_layout
        if layout is None:
            return
        for slot in layout.slots:
            per_instance, read = layout.slot_reads[slot]
            first, n = instances if per_instance else (vertices or (0, 0))
            if n == 0:
                continue
            buf, stride, offset = self.vertex_buffers[slot]
            size = buf.byte_width - offset
            available = 0 if size < read else (size - read) // stride + 1 if stride else 1 << 62
            if first + n > available:
                what = "instances" if per_instance else "vertices"
                raise invalid(f"{what} {first}..{first + n - 1} reach past the {available} records of the "
                              f"vertex buffer in slot {slot}")

    def _samples(self) -> int:
        for v in self.rtvs:
            if v is not None:
                return v.resource.sample_count
        return self.dsv.resource.sample_count if self.dsv is not None else 1

    def _bound_for_output(self, srv: View | BufferView, stage: ShaderStage) -> bool:
        """Whether a subresource the shader-resource view covers is bound as an output of the
        same work: a render target or depth-stencil of a draw, an unordered-access view of a
        dispatch (D3D11 then unbinds the input; other mips or slices stay readable)."""
        dsv = self.dsv
        if dsv is not None and dsv.read_only == (_READ_ONLY_ALL if dsv.format in STENCIL_FORMATS
                                                 else DsvFlag.READ_ONLY_DEPTH):
            dsv = None  # a read-only depth-stencil view is an input, readable beside it
        outputs = self.uavs.values() if stage == ShaderStage.COMPUTE else [*self.rtvs, dsv]
        for out in outputs:
            if out is None or out.resource is not srv.resource:
                continue
            if isinstance(srv, BufferView) or (
                    srv.base_mip <= out.base_mip < srv.base_mip + srv.mip_count
                    and out.first_slice < srv.first_slice + srv.slices
                    and srv.first_slice < out.first_slice + out.slices):
                return True
        return False

    def _prepare_draw(self, indexed: bool, vertices=None, instances=(0, 1), indices=None, base_vertex: int = 0):
        """`base_vertex`: an indexed draw's BaseVertexLocation (a non-indexed draw's base is its
        first vertex), for vertex shaders that read SV_VertexID."""
        if not any(v is not None for v in self.rtvs) and self.dsv is None:
            raise invalid("draw without a render target or depth-stencil view bound")
        self._rebase, self._vb_shift = (0, 0), None
        spec_vertex = spec_instance = 0
        vs = self.shaders[ShaderStage.VERTEX]
        if isinstance(vs, dxbc.DxbcProgram) and vs.source.needs & _DRAW_ID_NEEDS:
            spec_vertex, spec_instance = self._rebase_draw(vs.source.needs, indexed, vertices, instances, base_vertex)
        pipeline, key = self._pipeline(indexed, spec_instance, spec_vertex)
        width, height = (self.dsv or next(v for v in self.rtvs if v is not None)).size
        if indexed and self.index_buffer is None:
            raise invalid("indexed draw without an index buffer")
        layout = self.input_layout
        if layout:
            for slot in layout.slots:
                if slot not in self.vertex_buffers:
                    raise invalid(f"the input layout reads slot {slot} but no vertex buffer is bound there")
        self._check_draw_ranges(vertices, instances, indices)
        if not self.viewports:
            raise invalid("draw without a viewport")
        vp_key = self.viewports[0]
        x, y, w, h, min_depth, max_depth = vp_key
        if w <= 0 or h <= 0:
            return None
        if (x < 0 or y < 0 or x + w > width or y + h > height or not (0.0 <= min_depth <= max_depth <= 1.0)):
            raise unsupported(f"viewport ({x}, {y}, {w}x{h}, depth "
                              f"{min_depth}..{max_depth}) reaches outside the {width}x{height} target")
        # Bind groups first: they may rename nothing, but they mark resources used.
        groups = [self._bind_group(pipeline, key, stage) for stage in (ShaderStage.VERTEX, ShaderStage.PIXEL)]
        if self._pass is None or self._pass_is_compute:
            self._end_pass()
            self._begin_pass()
        p, st = self._pass, self._pass_state
        if st.get("pipeline") is not pipeline:
            p.set_pipeline(pipeline)
            st["pipeline"] = pipeline
            st.pop("groups", None)
            st.pop("vbs", None)
        # Per group: a group whose identity and dynamic offsets are those the pass last set for
        # its index is not set again (a discard between draws moves one stage's offsets only).
        bound = st.get("groups")
        if bound is None:
            bound = st["groups"] = [None, None]
        # wgpu-py's set_bind_group builds a new offsets array per call (a dynamic offset changes at
        # nearly every draw): the same error-capturing wgpu-native call is made here with one
        # preallocated array (wgpu copies the offsets when it records the command).
        raw = _SET_BIND_GROUP if type(p) is _RenderPassEncoder else None
        for i, g in enumerate(groups):
            ids = (g[1], g[2])
            if bound[i] != ids:
                dynamic = g[2]
                n = len(dynamic)
                if raw is not None and n <= _MAX_OFFSETS:
                    offsets = self._offsets_c
                    offsets[0:n] = dynamic
                    raw(p._internal, i, g[0]._internal, n, offsets)
                else:
                    p.set_bind_group(i, g[0], dynamic)
                bound[i] = ids
        if st.get("viewport") != vp_key:
            p.set_viewport(*vp_key)
            st["viewport"] = vp_key
        if self.rasterizer.scissor_enable and self.scissors:
            left, top, right, bottom = self.scissors[0]
            x0, y0 = max(0, min(left, width)), max(0, min(top, height))
            x1, y1 = max(x0, min(right, width)), max(y0, min(bottom, height))
            sc = (x0, y0, x1 - x0, y1 - y0)
        else:
            sc = (0, 0, width, height)
        if st.get("scissor") != sc:
            p.set_scissor_rect(*sc)
            st["scissor"] = sc
        if self.blend.uses_constant and st.get("blend_constant") != self.blend_factor:
            p.set_blend_constant(self.blend_factor)
            st["blend_constant"] = self.blend_factor
        if self.dsv is not None and st.get("stencil_ref") != self.stencil_ref:
            p.set_stencil_reference(self.stencil_ref)
            st["stencil_ref"] = self.stencil_ref
        if layout:
            shift = self._vb_shift
            vbs = tuple((self.vertex_buffers[s][0].backing, self.vertex_buffers[s][2] + (shift[s] if shift else 0))
                        for s in layout.slots)
            if st.get("vbs") != vbs:
                for i, (backing, offset) in enumerate(vbs):
                    self._use(self.vertex_buffers[layout.slots[i]][0])
                    p.set_vertex_buffer(i, backing, offset)
                st["vbs"] = vbs
            else:
                for slot in layout.slots:
                    self._use(self.vertex_buffers[slot][0])
        if indexed:
            buf, fmt, offset = self.index_buffer
            self._use(buf)
            ib = (buf.backing, fmt, offset)
            if st.get("ib") != ib:
                p.set_index_buffer(buf.backing, fmt, offset)
                st["ib"] = ib
        self.stats.draws += 1
        if self._active:
            self._count_input_assembly((indices or vertices)[1], instances[1], self.topology)
        return p

    def _rebase_draw(self, needs, indexed: bool, vertices, instances, base_vertex: int) -> tuple[int, int]:
        """D3D11's SV_VertexID is an indexed draw's index value and counts from 0 in a non-indexed
        one; its SV_InstanceID counts from 0. WGSL's vertex_index and instance_index add the
        draw's base vertex (or first vertex) and first instance. For a DXBC vertex shader that
        reads them, the draw is rebased: issued with those bases at 0 and the vertex buffers'
        offsets moved by base * stride instead, which fetches the same vertices. Where that cannot
        be done (an offset would be negative, unaligned or past the buffer), the bases become a
        specialization of the shader instead; returns those (base vertex, base instance), else
        (0, 0)."""
        dv = (base_vertex if indexed else (vertices[0] if vertices else 0)) if "vertex_id" in needs else 0
        di = instances[0] if "instance_id" in needs else 0
        if not (dv or di):
            return 0, 0
        layout = self.input_layout
        shift = {}
        for slot in (layout.slots if layout else ()):
            bound = self.vertex_buffers.get(slot)
            if bound is None:
                continue  # refused below: the layout reads an empty slot
            buf, stride, offset = bound
            moved = (di if layout.slot_reads[slot][0] else dv) * stride
            if moved and not (0 <= offset + moved <= buf.backing.size and (offset + moved) % 4 == 0):
                return dv & 0xFFFFFFFF, di
            shift[slot] = moved
        self._rebase, self._vb_shift = (dv, di), shift
        return 0, 0

    def draw(self, vertex_count, start_vertex_location) -> None:
        p = self._prepare_draw(False, (start_vertex_location, vertex_count))
        if p is not None:
            p.draw(vertex_count, 1, start_vertex_location - self._rebase[0], 0)

    def draw_indexed(self, index_count, start_index_location, base_vertex_location) -> None:
        p = self._prepare_draw(True, indices=(start_index_location, index_count), base_vertex=base_vertex_location)
        if p is not None:
            p.draw_indexed(index_count, 1, start_index_location, base_vertex_location - self._rebase[0], 0)

    def draw_instanced(self, vertex_count_per_instance, instance_count, start_vertex_location,
                       start_instance_location) -> None:
        p = self._prepare_draw(False, (start_vertex_location, vertex_count_per_instance),
                               (start_instance_location, instance_count))
        if p is not None:
            dv, di = self._rebase
            p.draw(vertex_count_per_instance, instance_count, start_vertex_location - dv, start_instance_location - di)

    def draw_indexed_instanced(self, index_count_per_instance, instance_count, start_index_location,
                               base_vertex_location, start_instance_location) -> None:
        p = self._prepare_draw(True, None, (start_instance_location, instance_count),
                               (start_index_location, index_count_per_instance), base_vertex_location)
        if p is not None:
            dv, di = self._rebase
            p.draw_indexed(index_count_per_instance, instance_count, start_index_location, base_vertex_location - dv,
                           start_instance_location - di)

    @staticmethod
    def _check_indirect_args(args, offset: int, size: int, what: str) -> None:
        if not args.misc_flags & ResourceMiscFlag.DRAWINDIRECT_ARGS:
            raise invalid(f"{what} needs a buffer created with RESOURCE_MISC_DRAWINDIRECT_ARGS")
        if offset % 4 or offset + size > args.byte_width:
            raise invalid(f"{size} bytes of arguments at offset {offset} must be 4-byte aligned inside the "
                          f"{args.byte_width}-byte buffer")

    def _indirect(self, args, offset: int, size: int, indexed: bool):
        self._check_indirect_args(args, offset, size, "an indirect draw")
        # The counts are the GPU's to read: the vertex-range checks cannot apply (wgpu reads
        # out-of-range vertices robustly), and the watchdog bounds what the draw may cost.
        p = self._prepare_draw(indexed, None if indexed else (0, 0), (0, 0), (0, 0) if indexed else None)
        if p is not None:
            self._use(args)
        return p

    def draw_instanced_indirect(self, args, aligned_byte_offset) -> None:
        p = self._indirect(args, aligned_byte_offset, 16, False)
        if p is not None:
            p.draw_indirect(args.backing, aligned_byte_offset)

    def draw_indexed_instanced_indirect(self, args, aligned_byte_offset) -> None:
        p = self._indirect(args, aligned_byte_offset, 20, True)
        if p is not None:
            p.draw_indexed_indirect(args.backing, aligned_byte_offset)

    def clear_render_target_view(self, view, color_r, color_g, color_b, color_a) -> None:
        if self._pass is not None:
            self._end_pass()
        if view.resource.shared is not None:
            self._dirty_shared.add(view.resource)
        self._pending_clears[view] = (color_r, color_g, color_b, color_a)

    def clear_depth_stencil_view(self, view, clear_flags, depth, stencil) -> None:
        if (clear_flags & ClearFlag.DEPTH and view.read_only & DsvFlag.READ_ONLY_DEPTH
                or clear_flags & ClearFlag.STENCIL and view.read_only & DsvFlag.READ_ONLY_STENCIL):
            raise invalid("ClearDepthStencilView of a read-only aspect of a depth-stencil view")
        if not 0.0 <= depth <= 1.0:
            raise invalid(f"depth clear value {depth} is outside [0, 1]")
        if self._pass is not None:
            self._end_pass()
        old_depth, old_stencil = self._pending_clears.get(view, (None, None))
        self._pending_clears[view] = (depth if clear_flags & ClearFlag.DEPTH else old_depth,
                                      (stencil & 0xFF) if clear_flags & ClearFlag.STENCIL else old_stencil)

    # --- CPU access, sync, presentation --------------------------------------------------------
    def map_read(self, resource, subresource, dst_row_pitch, dst_depth_pitch, dst) -> None:
        if resource.usage != Usage.STAGING:
            raise invalid("Map(READ/WRITE/READ_WRITE) needs a STAGING resource")
        if dst is None:
            raise invalid("Map(READ) without a destination range")
        if isinstance(resource, Buffer):
            if len(dst) < resource.byte_width:
                raise invalid(f"destination has {len(dst)} bytes, the buffer has {resource.byte_width}")
            data = self.readback.buffer(self._finish(), resource.backing, 0, resource.byte_width)
            dst[:resource.byte_width] = data.data
            return
        mip, layer = self._split(resource, subresource)
        if not self.format_caps[resource.format] & FormatSupport.CPU_READBACK:
            raise unsupported(f"reading back {resource.format.name} is not offered on this host")
        (w, h), d = resource.mip_size(mip), resource.mip_depth(mip)
        row = w * resource.bytes_per_texel
        if dst_row_pitch < row:
            raise invalid(f"destination row pitch {dst_row_pitch} is less than a row ({row} bytes)")
        image = dst_row_pitch * (h - 1) + row
        if d > 1 and dst_depth_pitch < image:
            raise invalid(f"destination depth pitch {dst_depth_pitch} is less than a slice ({image} bytes)")
        need = (dst_depth_pitch * (d - 1) if d > 1 else 0) + image
        if len(dst) < need:
            raise invalid(f"destination has {len(dst)} bytes, {d} slice(s) of {h} rows at pitch {dst_row_pitch} "
                          f"need {need}")
        aspect = "depth-only" if resource.is_depth else "all"
        pixels = self.readback.texture(self._finish(), resource.texture, mip, w, h,
                                       resource.bytes_per_texel, aspect, layer, depth=d)
        out = np.frombuffer(dst, dtype=np.uint8)
        if dst_row_pitch == row and (d == 1 or dst_depth_pitch == row * h):
            out[:row * h * d] = pixels.reshape(-1)
        else:  # every row at its pitch: a strided view of the destination, one copy
            depth_pitch = dst_depth_pitch if d > 1 else 0
            rows = np.lib.stride_tricks.as_strided(out, shape=(d, h, row), strides=(depth_pitch, dst_row_pitch, 1),
                                                   writeable=True)
            rows[...] = pixels.reshape(d, h, row)

    def map_write_discard(self, resource, subresource, src_row_pitch, src) -> None:
        if resource.usage != Usage.DYNAMIC or not resource.cpu_access_flags & CpuAccessFlag.WRITE:
            raise invalid("Map(WRITE_DISCARD) needs a DYNAMIC resource with CPU_ACCESS_WRITE")
        if src is None:
            raise invalid("Map(WRITE_DISCARD) without data")
        if isinstance(resource, Buffer):
            if subresource != 0:
                raise invalid(f"a buffer has one subresource, not {subresource}")
            if len(src) < resource.byte_width:
                raise invalid(f"source has {len(src)} bytes, the buffer has {resource.byte_width}")
            self._write_buffer(resource, 0, src[:resource.byte_width], whole=True)
            return
        self._write_texture(resource, subresource, None, src_row_pitch, 0, src)

    def map_write_no_overwrite(self, resource, dst_offset, src) -> None:
        if resource.usage != Usage.DYNAMIC or not resource.cpu_access_flags & CpuAccessFlag.WRITE:
            raise invalid("Map(WRITE_NO_OVERWRITE) needs a DYNAMIC buffer with CPU_ACCESS_WRITE")
        if src is None:
            raise invalid("Map(WRITE_NO_OVERWRITE) without data")
        if dst_offset + len(src) > resource.byte_width:
            raise invalid(f"{len(src)} bytes at {dst_offset} reach past the {resource.byte_width}-byte buffer")
        if dst_offset % 4 or (len(src) % 4 and dst_offset + len(src) != resource.byte_width):
            raise unsupported("no-overwrite writes must start and end on 4-byte boundaries")
        if resource.ring_offset >= 0:  # its contents move back to the backing first, before this write
            self._settle(resource)
            self.submit()
        # In place, no renaming, no submit: the guest promised in-flight work does not read these bytes.
        self.queue.write_buffer(resource.backing, dst_offset, _padded(src, 4))
        self.readback.idle = False

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
        return SwapChain(tex, buffer_count), tex

    def _back_buffer(self, width, height, format) -> Texture:
        fmt = _format(format)
        if fmt not in (DxgiFormat.R8G8B8A8_UNORM, DxgiFormat.B8G8R8A8_UNORM, DxgiFormat.R8G8B8A8_UNORM_SRGB,
                       DxgiFormat.B8G8R8A8_UNORM_SRGB):
            raise unsupported(f"swap chain format {fmt.name} is not offered (use an 8-bit RGBA or BGRA format)")
        return self.create_texture2d(width, height, 1, 1, fmt, 1, 0, Usage.DEFAULT,
                                     BindFlag.RENDER_TARGET | BindFlag.SHADER_RESOURCE, 0, 0, None)

    def present(self, swap_chain, sync_interval, flags) -> Frame:
        if sync_interval > 4:
            raise invalid(f"sync interval {sync_interval} must be 0..4")
        self._publish_shared()
        tex = swap_chain.back_buffer
        pixels, release = self.readback.frame(self._finish(), tex.texture, tex.width, tex.height, 4)
        pixels = pixels.reshape(tex.height, tex.width, 4)
        if tex.format in (DxgiFormat.B8G8R8A8_UNORM, DxgiFormat.B8G8R8A8_UNORM_SRGB):
            pixels = pixels[:, :, [2, 1, 0, 3]]  # a copy
            if release is not None:
                release()
                release = None
        swap_chain.presented += 1
        return Frame(pixels, swap_chain.presented - 1, release)

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
        old.serial = new.serial
        self._pso_dirty = True
        if buffer_count:
            swap_chain.buffer_count = buffer_count


#: The view dimensions each texture kind allows, and the wgpu view dimension of each (a 1D
#: texture is a wgpu 2D texture of height 1).
_SRV_DIMENSIONS = {
    "1d": (SrvDimension.TEXTURE1D, SrvDimension.TEXTURE1DARRAY),
    "2d": (SrvDimension.TEXTURE2D, SrvDimension.TEXTURE2DARRAY, SrvDimension.TEXTURECUBE,
           SrvDimension.TEXTURECUBEARRAY),
    "3d": (SrvDimension.TEXTURE3D,),
}
_VIEW_DIMENSIONS = {
    SrvDimension.TEXTURE1D: "2d", SrvDimension.TEXTURE1DARRAY: "2d-array", SrvDimension.TEXTURE2D: "2d",
    SrvDimension.TEXTURE2DARRAY: "2d-array", SrvDimension.TEXTURECUBE: "cube",
    SrvDimension.TEXTURECUBEARRAY: "cube-array", SrvDimension.TEXTURE3D: "3d",
}


def _shape(tex: Texture) -> tuple:
    return tex.dimension, tex.width, tex.height, tex.depth, tex.mip_levels, tex.array_size


def _padded(data, multiple: int) -> bytes | memoryview:
    n = len(data)
    if n % multiple == 0:
        return data
    return bytes(data) + bytes(multiple - n % multiple)


def _check_usage_rules(usage: int, bind_flags: int, cpu_access: int, initial_data, what: str) -> None:
    """D3D11's rules for usage kinds (each a clear error)."""
    if usage == Usage.IMMUTABLE:
        if initial_data is None:
            raise invalid(f"an IMMUTABLE {what} needs initial data")
        if cpu_access:
            raise invalid(f"an IMMUTABLE {what} cannot have CPU access")
    elif usage == Usage.DYNAMIC:
        if cpu_access != CpuAccessFlag.WRITE:
            raise invalid(f"a DYNAMIC {what} needs CPU_ACCESS_WRITE (and only that)")
        if bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL):
            raise invalid(f"a DYNAMIC {what} cannot be a render target or depth-stencil")
    elif usage == Usage.STAGING:
        if bind_flags:
            raise invalid(f"a STAGING {what} cannot have bind flags")
        if not cpu_access:
            raise invalid(f"a STAGING {what} needs CPU_ACCESS_READ and/or CPU_ACCESS_WRITE")
    elif cpu_access:
        raise invalid(f"a DEFAULT {what} cannot have CPU access flags")
