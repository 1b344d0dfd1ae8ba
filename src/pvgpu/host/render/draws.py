"""Draws: the checks a draw needs (targets, buffers, ranges, viewport), setting on the open
render pass what changed since the last draw, Draw and its indexed, instanced and indirect
forms, and the clears of render-target and depth-stencil views (the load operations of the
next pass where they can be).

`DrawCommands` is part of `Renderer` (a mixin); pipelines and bind groups are pipelines.py's.
"""

from __future__ import annotations

from ...protocol.enums import ClearFlag, DsvFlag, ErrorCode, ResourceMiscFlag, ShaderStage
from ..errors import CommandError, invalid, unsupported
from . import dxbc

try:  # wgpu-py's own (error-capturing) wgpuRenderPassEncoderSetBindGroup, see _prepare_draw
    from wgpu.backends.wgpu_native import _api as _wgpu_native
    _RenderPassEncoder = _wgpu_native.GPURenderPassEncoder
    _SET_BIND_GROUP = _RenderPassEncoder._set_bind_group_function
    _new_offsets = _wgpu_native.ffi.new
except (ImportError, AttributeError):  # another wgpu-py: its public set_bind_group only
    _RenderPassEncoder = _SET_BIND_GROUP = _new_offsets = None
#: At most this many dynamic offsets go through the preallocated array (D3D11: 14 constant buffers a stage).
_MAX_OFFSETS = 32
#: Vertices (times instances) one draw may ask for: a cheap first line before the watchdog.
MAX_DRAW_INVOCATIONS = 1 << 26
#: what a DXBC vertex shader may read that depends on the draw's bases (Renderer._rebase_draw)
_DRAW_ID_NEEDS = frozenset({"vertex_id", "instance_id"})


class DrawCommands:
    # --- draws -------------------------------------------------------------------------------
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
