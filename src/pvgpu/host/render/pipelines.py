"""Pipelines and bind groups, for draws and dispatches: render pipelines built lazily from the
D3D11 state that makes them up and cached by that key (DXBC stages specialised on what is
bound), pipeline layouts made of the shaders' own bind group layouts, and each stage's bind
group (constant buffers that live in the uniform ring bound with dynamic offsets).

`PipelineCommands` is part of `Renderer` (a mixin); compute.py builds its compute pipelines
and bind groups with it too.
"""

from __future__ import annotations

import wgpu

from ...protocol.enums import DsvFlag, ErrorCode, PrimitiveTopology, ShaderStage, STENCIL_FORMATS
from ..errors import CommandError, invalid, unsupported
from .objects import BufferView, View, next_serial
from . import dxbc

TOPOLOGIES = {
    PrimitiveTopology.POINTLIST: "point-list", PrimitiveTopology.LINELIST: "line-list",
    PrimitiveTopology.LINESTRIP: "line-strip", PrimitiveTopology.TRIANGLELIST: "triangle-list",
    PrimitiveTopology.TRIANGLESTRIP: "triangle-strip",
}
STRIPS = (PrimitiveTopology.LINESTRIP, PrimitiveTopology.TRIANGLESTRIP)
_READ_ONLY_ALL = DsvFlag.READ_ONLY_DEPTH | DsvFlag.READ_ONLY_STENCIL
MAX_CACHED_PIPELINES = 4096


class PipelineCommands:
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
        if None in rt_formats:
            # D3D11 allows it; wgpu-py 0.32 takes no hole in a pipeline's targets or a bundle's formats
            raise unsupported(f"render-target slot {rt_formats.index(None)} is empty while a later slot is bound "
                              f"(bind render targets from slot 0 without gaps)")
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
        with self._compiling():
            return self._compile_pipeline(create, desc, stages, what)

    def _compile_pipeline(self, create, desc: dict, stages: tuple, what: str):
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

    def drop_pipelines(self) -> None:
        """Forget every cached pipeline and bind group (at a reset or device-lost: the guest's
        shaders are gone, so their pipelines can never be used again, and each holds the
        compiled code; the fuzzer saw +3.3 MiB per reset guest of the blend scene)."""
        self._pipelines.clear()
        self._base_ids.clear()
        self._bind_groups.clear()
        self._empty_bind_groups.clear()
        self._clear_pipelines.clear()
        self._stage_groups = [None, None, None]
        self._dirty_all()
        self.epoch += 1

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
            for i, buf, off in ring_cbs:
                if i is None:  # bound at a static offset (an "auto" layout): a discard moved it
                    if buf.ring_offset != off:
                        break
                else:
                    dynamic[i] = buf.ring_offset
            else:
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
        # (index in dynamic or None for a static offset, buffer, offset) of the constant buffers
        # bound from the ring
        ring_cbs = []
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
                        ring_cbs.append((len(dynamic) if explicit else None, buf, off))
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
