"""`DeviceContext`: D3D11's ID3D11DeviceContext in snake case."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PvgpuError, WasStillDrawingError
from ..protocol.enums import (
    MAP_FLAG_DO_NOT_WAIT, PIPELINE_STATISTICS_FIELDS, QUERY_RESULT_BYTES, ClearFlag, CpuAccessFlag, DxgiFormat, MapType, PrimitiveTopology,
    QueryType, ShaderStage, Usage,
)
from .connection import copy_out
from .descs import Box, Rect, Viewport
from .device import (
    BlendState, Buffer, ComputeShader, DepthStencilState, DepthStencilView, InputLayout, PixelShader, Query,
    RasterizerState, RenderTargetView, SamplerState, ShaderResourceView, Texture, UnorderedAccessView, VertexShader,
    texel_bytes,
)


@dataclass
class MappedSubresource:
    """D3D11_MAPPED_SUBRESOURCE: `data` is readable (READ) or writable (WRITE_DISCARD) until unmap."""

    data: np.ndarray
    row_pitch: int
    depth_pitch: int


GETDATA_DONOTFLUSH = 0x1  # D3D11_ASYNC_GETDATA_DONOTFLUSH


_NO_BOX = Box(0, 0, 0, 0, 0, 0)  # the fields sent with has_box=0


def _ids(objects) -> list | tuple:
    """Object ids of a slot list (0 for None), as the flat elements of a slot-array command."""
    try:
        if len(objects) == 1:  # the common case, without a comprehension
            o = objects[0]
            return (0 if o is None else o.id,)
    except TypeError:  # an iterable without a length or indexing
        pass
    return [0 if o is None else o.id for o in objects]


_VERTEX, _PIXEL, _COMPUTE = ShaderStage.VERTEX, ShaderStage.PIXEL, ShaderStage.COMPUTE
_WRITE_DISCARD, _WRITE_NO_OVERWRITE = MapType.WRITE_DISCARD, MapType.WRITE_NO_OVERWRITE
_MAP_TYPES = {int(t): t for t in MapType}
_DYNAMIC = Usage.DYNAMIC
_UINT8 = np.uint8


class DeviceContext:
    """Each method encodes its command with the connection's generated positional emitter
    (`GuestConnection.emit_<command>`), fields in spec order."""

    def __init__(self, device):
        self.device = device
        self.conn = device.connection
        self._mapped: dict[tuple[int, int], tuple[MappedSubresource, MapType]] = {}
        self._readbacks: dict[tuple[int, int], list] = {}  # DO_NOT_WAIT reads: [off, fence, seq, data]
        self._queries: set = set()  # queries whose results are still in the heap
        self.conn.before_heap_release.append(self._take_results)
        self._shadows: dict[int, np.ndarray] = {}  # DYNAMIC buffers' contents, for WRITE_NO_OVERWRITE

    # --- input assembler ---------------------------------------------------------------------
    def ia_set_input_layout(self, layout: InputLayout | None) -> None:
        self.conn.emit_set_input_layout(0 if layout is None else layout.id)

    def ia_set_vertex_buffers(self, start_slot: int, buffers: Sequence[Buffer | None], strides: Sequence[int],
                              offsets: Sequence[int] | None = None) -> None:
        offsets = offsets or [0] * len(buffers)
        try:
            one = len(buffers) == 1 == len(strides) == len(offsets)
        except TypeError:  # iterables without a length: zip takes them as they come
            one = False
        if one:
            b = buffers[0]
            flat = (0 if b is None else b.id, strides[0], offsets[0])
        else:
            flat = []
            for b, s, o in zip(buffers, strides, offsets):
                flat += (0 if b is None else b.id, s, o)
        self.conn.emit_set_vertex_buffers(start_slot, flat)

    def ia_set_index_buffer(self, buffer: Buffer | None, format: DxgiFormat = DxgiFormat.R16_UINT,
                            offset: int = 0) -> None:
        self.conn.emit_set_index_buffer(0 if buffer is None else buffer.id, format, offset)

    def ia_set_primitive_topology(self, topology: PrimitiveTopology) -> None:
        self.conn.emit_set_primitive_topology(topology)

    # --- shader stages -----------------------------------------------------------------------
    def vs_set_shader(self, shader: VertexShader | None) -> None:
        self.conn.emit_set_vertex_shader(0 if shader is None else shader.id)

    def vs_set_constant_buffers(self, start_slot: int, buffers: Sequence[Buffer | None]) -> None:
        self.conn.emit_set_constant_buffers(_VERTEX, start_slot, _ids(buffers))

    def vs_set_shader_resources(self, start_slot: int, views: Sequence[ShaderResourceView | None]) -> None:
        self.conn.emit_set_shader_resources(_VERTEX, start_slot, _ids(views))

    def vs_set_samplers(self, start_slot: int, samplers: Sequence[SamplerState | None]) -> None:
        self.conn.emit_set_samplers(_VERTEX, start_slot, _ids(samplers))

    def ps_set_shader(self, shader: PixelShader | None) -> None:
        self.conn.emit_set_pixel_shader(0 if shader is None else shader.id)

    def ps_set_constant_buffers(self, start_slot: int, buffers: Sequence[Buffer | None]) -> None:
        self.conn.emit_set_constant_buffers(_PIXEL, start_slot, _ids(buffers))

    def ps_set_shader_resources(self, start_slot: int, views: Sequence[ShaderResourceView | None]) -> None:
        self.conn.emit_set_shader_resources(_PIXEL, start_slot, _ids(views))

    def ps_set_samplers(self, start_slot: int, samplers: Sequence[SamplerState | None]) -> None:
        self.conn.emit_set_samplers(_PIXEL, start_slot, _ids(samplers))

    def cs_set_shader(self, shader: ComputeShader | None) -> None:
        self.conn.emit_set_compute_shader(0 if shader is None else shader.id)

    def cs_set_constant_buffers(self, start_slot: int, buffers: Sequence[Buffer | None]) -> None:
        self.conn.emit_set_constant_buffers(_COMPUTE, start_slot, _ids(buffers))

    def cs_set_shader_resources(self, start_slot: int, views: Sequence[ShaderResourceView | None]) -> None:
        self.conn.emit_set_shader_resources(_COMPUTE, start_slot, _ids(views))

    def cs_set_samplers(self, start_slot: int, samplers: Sequence[SamplerState | None]) -> None:
        self.conn.emit_set_samplers(_COMPUTE, start_slot, _ids(samplers))

    def cs_set_unordered_access_views(self, start_slot: int, views: Sequence[UnorderedAccessView | None],
                                      initial_counts: Sequence[int] | None = None) -> None:
        counts = initial_counts or [0xFFFFFFFF] * len(views)
        flat = []
        for v, c in zip(views, counts):
            flat += (0 if v is None else v.id, c)
        self.conn.emit_set_unordered_access_views(start_slot, flat)

    def copy_structure_count(self, dst_buffer: Buffer, dst_aligned_byte_offset: int,
                             src_view: UnorderedAccessView) -> None:
        """ID3D11DeviceContext::CopyStructureCount: the GPU writes the hidden counter of
        `src_view` (a buffer UAV created with APPEND or COUNTER) as a u32 into `dst_buffer`."""
        self.conn.emit_copy_structure_count(dst_buffer.id, dst_aligned_byte_offset, src_view.id)

    def dispatch(self, thread_group_count_x: int, thread_group_count_y: int = 1, thread_group_count_z: int = 1) -> None:
        self.conn.emit_dispatch(thread_group_count_x, thread_group_count_y, thread_group_count_z)

    def dispatch_indirect(self, args: Buffer, aligned_byte_offset: int = 0) -> None:
        self.conn.emit_dispatch_indirect(args.id, aligned_byte_offset)

    def clear_unordered_access_view_float(self, view: UnorderedAccessView, values: Sequence[float]) -> None:
        r, g, b, a = values
        self.conn.emit_clear_unordered_access_view_float(view.id, r, g, b, a)

    def clear_unordered_access_view_uint(self, view: UnorderedAccessView, values: Sequence[int]) -> None:
        r, g, b, a = values
        self.conn.emit_clear_unordered_access_view_uint(view.id, r, g, b, a)

    # --- rasterizer and output merger ----------------------------------------------------------
    def rs_set_viewports(self, viewports: Sequence[Viewport]) -> None:
        flat = []
        for v in viewports:
            flat += (v.top_left_x, v.top_left_y, v.width, v.height, v.min_depth, v.max_depth)
        self.conn.emit_set_viewports(flat)

    def rs_set_scissor_rects(self, rects: Sequence[Rect]) -> None:
        flat = []
        for r in rects:
            flat += (r.left, r.top, r.right, r.bottom)
        self.conn.emit_set_scissor_rects(flat)

    def rs_set_state(self, state: RasterizerState | None) -> None:
        self.conn.emit_set_rasterizer_state(0 if state is None else state.id)

    def om_set_render_targets(self, views: Sequence[RenderTargetView | None],
                              depth_stencil_view: DepthStencilView | None = None) -> None:
        self.conn.emit_set_render_targets(0 if depth_stencil_view is None else depth_stencil_view.id, _ids(views))

    def om_set_blend_state(self, state: BlendState | None, blend_factor=(1.0, 1.0, 1.0, 1.0),
                           sample_mask: int = 0xFFFFFFFF) -> None:
        r, g, b, a = blend_factor
        self.conn.emit_set_blend_state(0 if state is None else state.id, r, g, b, a, sample_mask)

    def om_set_depth_stencil_state(self, state: DepthStencilState | None, stencil_ref: int = 0) -> None:
        self.conn.emit_set_depth_stencil_state(0 if state is None else state.id, stencil_ref)

    # --- draws and clears ------------------------------------------------------------------------
    def draw(self, vertex_count: int, start_vertex_location: int = 0) -> None:
        self.conn.emit_draw(vertex_count, start_vertex_location)

    def draw_indexed(self, index_count: int, start_index_location: int = 0, base_vertex_location: int = 0) -> None:
        self.conn.emit_draw_indexed(index_count, start_index_location, base_vertex_location)

    def draw_instanced(self, vertex_count_per_instance: int, instance_count: int, start_vertex_location: int = 0,
                       start_instance_location: int = 0) -> None:
        self.conn.emit_draw_instanced(vertex_count_per_instance, instance_count, start_vertex_location,
                                      start_instance_location)

    def draw_indexed_instanced(self, index_count_per_instance: int, instance_count: int,
                               start_index_location: int = 0, base_vertex_location: int = 0,
                               start_instance_location: int = 0) -> None:
        self.conn.emit_draw_indexed_instanced(index_count_per_instance, instance_count, start_index_location,
                                              base_vertex_location, start_instance_location)

    def draw_instanced_indirect(self, args: Buffer, aligned_byte_offset: int = 0) -> None:
        self.conn.emit_draw_instanced_indirect(args.id, aligned_byte_offset)

    def draw_indexed_instanced_indirect(self, args: Buffer, aligned_byte_offset: int = 0) -> None:
        self.conn.emit_draw_indexed_instanced_indirect(args.id, aligned_byte_offset)

    def clear_render_target_view(self, view: RenderTargetView, color: Sequence[float]) -> None:
        r, g, b, a = color
        self.conn.emit_clear_render_target_view(view.id, r, g, b, a)

    def clear_depth_stencil_view(self, view: DepthStencilView, clear_flags: int = ClearFlag.DEPTH,
                                 depth: float = 1.0, stencil: int = 0) -> None:
        self.conn.emit_clear_depth_stencil_view(view.id, clear_flags, depth, stencil)

    # --- resources ---------------------------------------------------------------------------
    def update_subresource(self, resource: Buffer | Texture, subresource: int, box: Box | None, data,
                           src_row_pitch: int = 0, src_depth_pitch: int = 0) -> None:
        """Write `data` into a subresource (or the box of it). For textures with
        src_row_pitch=0 (src_depth_pitch=0) the rows (depth slices) of `data` are taken as
        tightly packed."""
        mv = memoryview(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data).cast("B")
        if isinstance(resource, Texture) and src_row_pitch == 0:
            w, h, _d = resource.subresource_extent(subresource)
            width = (box.right - box.left) if box else w
            src_row_pitch = width * texel_bytes(resource.desc.format)
            if src_depth_pitch == 0:
                src_depth_pitch = src_row_pitch * ((box.bottom - box.top) if box else h)
        off, size = self.conn.upload(mv)
        b = box or _NO_BOX
        self.conn.emit_update_subresource(resource.id, subresource, int(box is not None), b.left, b.top, b.front,
                                          b.right, b.bottom, b.back, src_row_pitch, src_depth_pitch, off, size)

    def copy_resource(self, dst: Buffer | Texture, src: Buffer | Texture) -> None:
        self.conn.emit_copy_resource(dst.id, src.id)

    def resolve_subresource(self, dst: Texture, dst_subresource: int, src: Texture, src_subresource: int,
                            format: DxgiFormat = DxgiFormat.UNKNOWN) -> None:
        self.conn.emit_resolve_subresource(dst.id, dst_subresource, src.id, src_subresource, format)

    def generate_mips(self, view: ShaderResourceView) -> None:
        self.conn.emit_generate_mips(view.id)

    def copy_subresource_region(self, dst: Buffer | Texture, dst_subresource: int, dst_x: int, dst_y: int,
                                dst_z: int, src: Buffer | Texture, src_subresource: int,
                                src_box: Box | None = None) -> None:
        b = src_box or _NO_BOX
        self.conn.emit_copy_subresource_region(dst.id, dst_subresource, dst_x, dst_y, dst_z, src.id, src_subresource,
                                               int(src_box is not None), b.left, b.top, b.front, b.right, b.bottom,
                                               b.back)

    def _subresource_layout(self, resource, subresource: int) -> tuple[int, int, int]:
        """(row pitch, rows per depth slice, total bytes) of a subresource, tightly packed."""
        if isinstance(resource, Buffer):
            return resource.desc.byte_width, 1, resource.desc.byte_width
        w, h, d = resource.subresource_extent(subresource)
        row = w * texel_bytes(resource.desc.format)
        return row, h, row * h * d

    def map(self, resource: Buffer | Texture, subresource: int = 0, map_type: MapType = MapType.READ,
            flags: int = 0) -> MappedSubresource:
        """ID3D11DeviceContext::Map with D3D11's rules for each map type:

        - READ, WRITE, READ_WRITE on STAGING resources (with the matching CPU access): the data
          is the subresource's current contents; what WRITE and READ_WRITE leave in it is sent
          back by `unmap`. With MAP_FLAG_DO_NOT_WAIT a READ whose data is not ready yet raises
          WasStillDrawingError instead of waiting (map again later).
        - WRITE_DISCARD on DYNAMIC resources: a fresh buffer to fill, sent by `unmap`.
        - WRITE_NO_OVERWRITE on DYNAMIC buffers: the current contents; `unmap` writes them in
          place, as D3D11 does, trusting that work in flight does not read what was changed.
        """
        key = (resource.id, subresource)
        if key in self._mapped:
            raise PvgpuError(f"subresource {subresource} of {resource} is already mapped")
        try:
            map_type = _MAP_TYPES[map_type]
        except (KeyError, TypeError):
            map_type = MapType(map_type)  # not a map type: raises as it always did
        desc = resource.desc
        if map_type is _WRITE_DISCARD and isinstance(resource, Buffer):  # the hot case, spelled out
            if desc.usage != _DYNAMIC:
                raise PvgpuError("Map(WRITE_DISCARD) needs a DYNAMIC resource")
            total = desc.byte_width
            data = np.zeros(total, _UINT8)
            mapped = MappedSubresource(data, total, total)
            self._mapped[key] = (mapped, map_type)
            return mapped
        row, rows, total = self._subresource_layout(resource, subresource)
        if map_type in (MapType.READ, MapType.WRITE, MapType.READ_WRITE):
            need = {MapType.READ: CpuAccessFlag.READ, MapType.WRITE: CpuAccessFlag.WRITE,
                    MapType.READ_WRITE: CpuAccessFlag.READ | CpuAccessFlag.WRITE}[map_type]
            if desc.usage != Usage.STAGING or (desc.cpu_access_flags & need) != need:
                raise PvgpuError(f"Map({map_type.name}) needs a STAGING resource with CPU access "
                                 f"{CpuAccessFlag(need).name}")
            data = self._read_back(resource, subresource, row, rows, total, flags & MAP_FLAG_DO_NOT_WAIT)
        elif map_type == MapType.WRITE_DISCARD:
            if desc.usage != Usage.DYNAMIC:
                raise PvgpuError("Map(WRITE_DISCARD) needs a DYNAMIC resource")
            data = np.zeros(total, dtype=np.uint8)
        else:  # WRITE_NO_OVERWRITE
            if desc.usage != Usage.DYNAMIC or not isinstance(resource, Buffer):
                raise PvgpuError("Map(WRITE_NO_OVERWRITE) needs a DYNAMIC buffer")
            shadow = self._shadows.get(resource.id)
            if shadow is None:
                raise PvgpuError("Map(WRITE_NO_OVERWRITE) before any Map(WRITE_DISCARD) of this buffer")
            data = shadow.copy()
        mapped = MappedSubresource(data, row, row * rows)
        self._mapped[key] = (mapped, map_type)
        return mapped

    def _read_back(self, resource, subresource: int, row: int, rows: int, total: int, do_not_wait: int):
        key = (resource.id, subresource)
        pending = self._readbacks.pop(key, None)
        if pending is not None and pending[2] != self.conn.seq:
            pending = None  # commands sent since then may change the contents: read again
        if pending is None:
            off = self.conn.reserve_heap(total)
            self.conn.emit_map_read(resource.id, subresource, row, row * rows, off, total)
            fence = self.conn.fence()
            pending = [off, fence, self.conn.seq, None, total]
        off, fence = pending[0], pending[1]
        if do_not_wait and pending[3] is None and self.conn.completed_fence < fence:
            self._readbacks[key] = pending
            raise WasStillDrawingError(f"subresource {subresource} of {resource} is still being drawn")
        if pending[3] is None:
            self.conn.wait_fence(fence)
            self.conn.raise_host_errors()
            if pending[3] is None:
                pending[3] = copy_out(self.conn.region.heap[off:off + total])
        return pending[3]

    def _take_results(self, completed: int) -> None:
        """Copy finished query results and DO_NOT_WAIT reads out of the heap before their space
        is reused."""
        for p in self._readbacks.values():
            if p[3] is None and p[1] <= completed:
                p[3] = copy_out(self.conn.region.heap[p[0]:p[0] + p[4]])
        for query in [q for q in self._queries if q.pending[1] <= completed]:
            off = query.pending[0]
            query.result = bytes(self.conn.region.heap[off:off + QUERY_RESULT_BYTES[query.type]])
            self._queries.discard(query)

    def unmap(self, resource: Buffer | Texture, subresource: int = 0) -> None:
        try:
            mapped, map_type = self._mapped.pop((resource.id, subresource))
        except KeyError:
            raise PvgpuError(f"subresource {subresource} of {resource} is not mapped") from None
        if map_type is _WRITE_DISCARD:
            off, size = self.conn.upload(mapped.data)
            self.conn.emit_map_write_discard(resource.id, subresource, mapped.row_pitch, off, size)
            if isinstance(resource, Buffer):
                self._shadows[resource.id] = mapped.data.copy()
        elif map_type is _WRITE_NO_OVERWRITE:
            old = self._shadows[resource.id]
            changed = np.flatnonzero(old != mapped.data)
            if changed.size:
                lo, hi = int(changed[0]) // 4 * 4, min(len(old), (int(changed[-1]) + 4) // 4 * 4)
                off, size = self.conn.upload(mapped.data[lo:hi])
                self.conn.emit_map_write_no_overwrite(resource.id, lo, off, size)
            self._shadows[resource.id] = mapped.data.copy()
        elif map_type in (MapType.WRITE, MapType.READ_WRITE):
            self.update_subresource(resource, subresource, None, mapped.data, mapped.row_pitch, mapped.depth_pitch)

    # --- queries -------------------------------------------------------------------------------
    def begin(self, query: Query) -> None:
        self.conn.emit_begin_query(query.id)

    def end(self, query: Query) -> None:
        size = QUERY_RESULT_BYTES[query.type]
        off = self.conn.reserve_heap(size)
        self.conn.emit_end_query(query.id, off, size)
        query.pending = (off, self.conn.fence())
        query.result = None
        self._queries.add(query)

    def get_data(self, query: Query, flags: int = 0):
        """ID3D11DeviceContext::GetData: the result once the GPU has it, else None (S_FALSE).
        EVENT and OCCLUSION_PREDICATE give a bool, OCCLUSION and TIMESTAMP an int,
        TIMESTAMP_DISJOINT (frequency, disjoint), PIPELINE_STATISTICS a dict of
        D3D11_QUERY_DATA_PIPELINE_STATISTICS's fields (snake case). Without GETDATA_DONOTFLUSH the host is nudged."""
        if query.pending is None:
            raise PvgpuError(f"GetData of {query} before its End")
        off, fence = query.pending
        if query.result is None:
            if self.conn.completed_fence < fence:
                if not flags & GETDATA_DONOTFLUSH:
                    self.conn.kick()
                return None
            self._take_results(self.conn.completed_fence)
        self.conn.raise_host_errors()
        raw = query.result
        if query.type in (QueryType.EVENT, QueryType.OCCLUSION_PREDICATE):
            return bool(struct.unpack_from("<I", raw)[0])
        if query.type == QueryType.TIMESTAMP_DISJOINT:
            frequency, disjoint = struct.unpack_from("<QI", raw)
            return frequency, bool(disjoint)
        if query.type == QueryType.PIPELINE_STATISTICS:
            return dict(zip(PIPELINE_STATISTICS_FIELDS, struct.unpack_from("<11Q", raw)))
        return struct.unpack_from("<Q", raw)[0]

    def set_predication(self, predicate: Query | None, value: bool = False) -> None:
        """ID3D11DeviceContext::SetPredication: while `predicate` (an OCCLUSION_PREDICATE query)
        has the result `value`, draws, dispatches, clears, copies and updates are skipped. The
        host decides when this command runs, waiting for the predicate's result if need be."""
        self.conn.emit_set_predication(0 if predicate is None else predicate.id, int(value))

    def flush(self) -> None:
        self.conn.emit_flush()
        self.conn.kick()
