"""Compute on the D3D11 state tracker: compute shaders, unordered-access views, structured,
raw and typed buffer views, Dispatch, DispatchIndirect, the UAV clears and UAV counters.

UAV counters: a structured buffer UAV created with APPEND or COUNTER owns a 4-byte counter
buffer, bound at the UAV-counter binding of its slot (bindings.py) where a shader declares it
(imm_atomic_alloc / imm_atomic_consume). CSSetUnorderedAccessViews' initial counts write it in
order with recorded work: directly when no recorded work uses it, else into a new counter
buffer (recorded dispatches keep the old one, as renamed buffers do). CopyStructureCount copies
it with the GPU.

`ComputeCommands` is part of `Renderer` (a mixin, so that the session finds every command's
method on one object); it uses the renderer's encoder, caches and bind-group builder.
Consecutive dispatches share one compute pass (WebGPU tracks usage per dispatch there); any
other work closes it, as it closes a render pass, so D3D11's ordering between draws, copies
and dispatches holds without extra barriers.
"""

from __future__ import annotations

import struct

import numpy as np
import wgpu

from ...protocol.enums import (
    BindFlag, Usage, BufferViewFlag, DxgiFormat, ErrorCode, FORMAT_BYTES, FormatSupport, ResourceMiscFlag, ShaderStage,
    UavDimension,
)
from ...protocol.spec import MAX_DISPATCH_GROUPS, MAX_UNORDERED_ACCESS_VIEWS
from ..errors import CommandError, invalid, unsupported
from . import dxbc
from .formats import format_enum as _format
from .objects import Buffer, BufferView, Shader, Texture, View

#: Groups (x*y*z) one dispatch may ask for: a cheap first line before the watchdog (which alone
#: bounds DispatchIndirect, whose counts the GPU reads).
MAX_DISPATCH_GROUPS_TOTAL = 1 << 24
#: UAV clears recorded before a submit (each holds a parameter buffer and a bind group).
MAX_CLEARS_PER_SUBMIT = 256
#: Typed buffer views: 32-bit channels only, since shaders read them as plain storage arrays.
TYPED_BUFFER_FORMATS: dict[DxgiFormat, int] = {
    f: FORMAT_BYTES[f] // 4 for f in (
        DxgiFormat.R32_FLOAT, DxgiFormat.R32_UINT, DxgiFormat.R32_SINT,
        DxgiFormat.R32G32_FLOAT, DxgiFormat.R32G32_UINT, DxgiFormat.R32G32_SINT,
        DxgiFormat.R32G32B32_FLOAT, DxgiFormat.R32G32B32_UINT, DxgiFormat.R32G32B32_SINT,
        DxgiFormat.R32G32B32A32_FLOAT, DxgiFormat.R32G32B32A32_UINT, DxgiFormat.R32G32B32A32_SINT)}
_UAV_DIMENSIONS = {
    "1d": {UavDimension.TEXTURE1D: "2d", UavDimension.TEXTURE1DARRAY: "2d-array"},
    "2d": {UavDimension.TEXTURE2D: "2d", UavDimension.TEXTURE2DARRAY: "2d-array"},
    "3d": {UavDimension.TEXTURE3D: "3d"},
}
_CLEAR_GROUP = 64
#: a UAV counter: bound as storage, copied out by CopyStructureCount, written by initial counts
COUNTER_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
KEEP_COUNT = 0xFFFFFFFF  # CSSetUnorderedAccessViews' initial count that keeps the counter
#: counters replaced by new ones (initial counts while recorded work uses them) before a submit
MAX_COUNTER_RENAMES_PER_SUBMIT = 256
BUFFER_CLEAR_SHADER = f"""
struct Fill {{ first: u32, count: u32, n: u32, pad: u32, pattern: vec4<u32> }};
@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<uniform> fill: Fill;
@compute @workgroup_size({_CLEAR_GROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {{
    for (var i = id.x; i < fill.count; i += groups.x * {_CLEAR_GROUP}u) {{
        dst[fill.first + i] = fill.pattern[i % fill.n];
    }}
}}
"""
TEXTURE_CLEAR_SHADER = """
@group(0) @binding(0) var dst: texture_storage_{dim}<{format}, write>;
@group(0) @binding(1) var<uniform> value: vec4<{scalar}>;
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
    let size = textureDimensions(dst);
    if (id.x >= size.x || id.y >= size.y) {{ return; }}
    {store}
}}
"""
_STORE = {"2d_array": "textureStore(dst, vec2<i32>(id.xy), i32(id.z), value);",
          "3d": "textureStore(dst, vec3<i32>(id), value);"}


def _scalar(wgpu_format: str) -> str:
    return "u32" if "uint" in wgpu_format else "i32" if "sint" in wgpu_format else "f32"


def _uint_bits_as_float(wgpu_format: str, values: tuple) -> tuple:
    """ClearUnorderedAccessViewUint on a float, UNORM or SNORM format: D3D11 keeps the low
    bits of each value as the channel's bit pattern; this is the value those bits encode."""
    v = np.array(values, dtype=np.uint32)
    if wgpu_format.endswith("32float"):
        return tuple(v.view(np.float32).tolist())
    if wgpu_format == "rgba16float":
        return tuple((v & 0xFFFF).astype(np.uint16).view(np.float16).astype(np.float32).tolist())
    if wgpu_format == "rgba8unorm":
        return tuple(((v & 0xFF) / 255.0).tolist())
    if wgpu_format == "rgba8snorm":
        return tuple(np.maximum((v & 0xFF).astype(np.uint8).view(np.int8) / 127.0, -1.0).tolist())
    raise unsupported(f"ClearUnorderedAccessViewUint on {wgpu_format} is not offered")


class ComputeCommands:
    """Compute-stage commands of the Renderer (see the module docstring)."""

    def _init_compute(self) -> None:
        self._clear_pipelines: dict[tuple, wgpu.GPUComputePipeline] = {}
        self._storage_alignment = self.device.limits.get("min-storage-buffer-offset-alignment", 256)
        self._counter_renames = (-1, 0)  # (generation, counters replaced while it was recorded)

    # --- shaders and views ---------------------------------------------------------------------
    def create_compute_shader(self, language, code) -> Shader:
        return self._shader(language, code, ShaderStage.COMPUTE)

    def _buffer_view(self, buffer: Buffer, format: int, first_element: int, num_elements: int, flags: int,
                     need: BindFlag, what: str) -> BufferView:
        if not buffer.bind_flags & need:
            raise invalid(f"the buffer was not created with the {need.name} bind flag a {what} needs")
        counter_flags = flags & (BufferViewFlag.APPEND | BufferViewFlag.COUNTER)
        if counter_flags:
            if need != BindFlag.UNORDERED_ACCESS:
                raise invalid(f"APPEND and COUNTER are flags of unordered-access views, not of a {what}")
            if counter_flags == BufferViewFlag.APPEND | BufferViewFlag.COUNTER:
                raise invalid("a buffer view is APPEND or COUNTER, not both")
            if flags & BufferViewFlag.RAW or not buffer.misc_flags & ResourceMiscFlag.BUFFER_STRUCTURED:
                raise invalid("APPEND and COUNTER views are views of structured buffers (not raw or typed)")
        fmt = DxgiFormat(format)
        if flags & BufferViewFlag.RAW:
            if fmt != DxgiFormat.R32_TYPELESS:
                raise invalid(f"a raw {what} has format R32_TYPELESS, not {fmt.name}")
            if not buffer.misc_flags & ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS:
                raise invalid(f"a raw {what} needs a buffer created with RESOURCE_MISC_BUFFER_ALLOW_RAW_VIEWS")
            stride, components = 4, 1
        elif buffer.misc_flags & ResourceMiscFlag.BUFFER_STRUCTURED:
            if fmt != DxgiFormat.UNKNOWN:
                raise invalid(f"a {what} of a structured buffer has format UNKNOWN, not {fmt.name}")
            stride, components = buffer.structure_byte_stride, 1
        else:
            if fmt not in TYPED_BUFFER_FORMATS:
                raise unsupported(f"typed buffer views of {fmt.name} are not offered (32-bit channel formats are, "
                                  f"read as storage arrays)")
            stride, components = FORMAT_BYTES[fmt], TYPED_BUFFER_FORMATS[fmt]
        if num_elements == 0:
            raise invalid(f"a {what} needs at least one element")
        offset, size = first_element * stride, num_elements * stride
        if offset + size > buffer.byte_width:
            raise invalid(f"elements {first_element}..{first_element + num_elements - 1} of {stride} bytes reach "
                          f"past the {buffer.byte_width}-byte buffer")
        if offset % self._storage_alignment:
            raise unsupported(f"a {what} must start at a multiple of {self._storage_alignment} bytes on this host "
                              f"(first element {first_element} is at byte {offset})")
        view = BufferView(buffer, offset, size, fmt, components)
        self._held_by_guest_object(buffer)
        if counter_flags:
            view.counter = self.device.create_buffer(size=4, usage=COUNTER_USAGE, label="pvgpu-uav-counter")
        return view

    def create_buffer_shader_resource_view(self, buffer, format, first_element, num_elements, flags) -> BufferView:
        return self._buffer_view(buffer, format, first_element, num_elements, flags, BindFlag.SHADER_RESOURCE,
                                 "shader-resource view")

    def create_buffer_unordered_access_view(self, buffer, format, first_element, num_elements, flags) -> BufferView:
        return self._buffer_view(buffer, format, first_element, num_elements, flags, BindFlag.UNORDERED_ACCESS,
                                 "unordered-access view")

    def create_unordered_access_view(self, resource: Texture, format, view_dimension, mip_slice, first_array_slice,
                                     array_size) -> View:
        dim = UavDimension(view_dimension)
        allowed = _UAV_DIMENSIONS[resource.dimension]
        if dim not in allowed:
            raise invalid(f"a {dim.name} unordered-access view cannot view a Texture{resource.dimension.upper()}")
        if resource.dimension == "3d":
            depth = resource.mip_depth(min(mip_slice, resource.mip_levels - 1))
            w_size = depth - first_array_slice if array_size == 0xFFFFFFFF else array_size
            if (first_array_slice, w_size) != (0, depth):
                # A wgpu view of a 3D texture spans its whole depth.
                raise unsupported(f"a Texture3D unordered-access view covers all {depth} depth slices of its mip "
                                  f"(W slices {first_array_slice}..{first_array_slice + w_size - 1} asked)")
            first_array_slice, array_size = 0, 1
        elif dim in (UavDimension.TEXTURE1D, UavDimension.TEXTURE2D) and array_size != 1:
            raise invalid(f"a {dim.name} unordered-access view has one array slice")
        fmt = resource.format if format == 0 else _format(format)
        if not self.format_caps[fmt] & FormatSupport.TYPED_UNORDERED_ACCESS_VIEW:
            raise unsupported(f"{fmt.name} unordered-access views are not offered on this host")
        return self._view(resource, format, mip_slice, 1, BindFlag.UNORDERED_ACCESS, "unordered-access view",
                          allowed[dim], first_array_slice, array_size)

    def set_unordered_access_views(self, start_slot, views) -> None:
        self._set_slots(self.uavs, start_slot, [v for v, _ in views], MAX_UNORDERED_ACCESS_VIEWS,
                        "unordered-access view")
        self._dirty_all()
        for view, initial_count in views:
            # D3D11: the count is ignored for views without a counter, 0xFFFFFFFF keeps the current value
            if initial_count != KEEP_COUNT and isinstance(view, BufferView) and view.counter is not None:
                self._set_counter(view, initial_count)

    def _set_counter(self, view: BufferView, value: int) -> None:
        data = struct.pack("<I", value & 0xFFFFFFFF)
        if view.counter_used == self.generation:
            # recorded dispatches (or copies) still read the old value: they keep the old buffer
            generation, renames = self._counter_renames
            renames = renames if generation == self.generation else 0
            if renames < MAX_COUNTER_RENAMES_PER_SUBMIT:
                self._counter_renames = (self.generation, renames + 1)
                view.counter = self.device.create_buffer_with_data(data=data, usage=COUNTER_USAGE)
                self.epoch += 1
                self._dirty_all()
                return
            self.submit()
        self.queue.write_buffer(view.counter, 0, data)
        self.readback.idle = False

    def copy_structure_count(self, dst_buffer, dst_aligned_byte_offset, src_view) -> None:
        if not isinstance(src_view, BufferView) or src_view.counter is None:
            raise invalid("CopyStructureCount's source is an unordered-access view created with APPEND or COUNTER")
        if dst_buffer.usage == Usage.IMMUTABLE:
            raise invalid("cannot copy into an IMMUTABLE buffer")
        offset = dst_aligned_byte_offset
        if offset % 4:
            raise invalid(f"destination offset {offset} is not a multiple of 4")
        if offset + 4 > dst_buffer.byte_width:
            raise invalid(f"destination offset {offset} leaves no room for 4 bytes in the "
                          f"{dst_buffer.byte_width}-byte buffer")
        self._materialize_clears()
        self._end_pass()
        self._settle(dst_buffer)
        self.encoder.copy_buffer_to_buffer(src_view.counter, 0, dst_buffer.backing, offset, 4)
        src_view.counter_used = self.generation
        self._wrote(dst_buffer)

    # --- dispatch ------------------------------------------------------------------------------
    def _compute_pass(self):
        cs = self.shaders[ShaderStage.COMPUTE]
        if cs is None:
            raise invalid("dispatch without a compute shader")
        spec = dxbc.stage_spec(cs, self, ShaderStage.COMPUTE, self.shader_base) \
            if isinstance(cs, dxbc.DxbcProgram) else None
        key = ("compute", cs.serial, spec)
        cs = self._variant(ShaderStage.COMPUTE, cs, spec)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            self.stats.pipeline_misses += 1
            pipeline = self._create_pipeline(self.device.create_compute_pipeline,
                                             {"compute": {"module": cs.module, "entry_point": None}}, (cs,),
                                             "compute pipeline")
            self._cache_pipeline(key, pipeline)
        else:
            self.stats.pipeline_hits += 1
        group, group_key, dynamic = self._bind_group(pipeline, key, ShaderStage.COMPUTE)
        if self._pass is None or not self._pass_is_compute:
            self._materialize_clears()
            self._end_pass()
            self._check_query_room()
            self._pass = self.encoder.begin_compute_pass()
            self._pass_is_compute = True
            self._pass_state = {}
            self._queries_begin_pass(self._pass, render=False)
        p, st = self._pass, self._pass_state
        if st.get("pipeline") is not pipeline:
            p.set_pipeline(pipeline)
            for i in (ShaderStage.VERTEX, ShaderStage.PIXEL):
                p.set_bind_group(i, self._empty_group if pipeline._pvgpu_explicit
                                 else self._empty_bind_group(pipeline, i))
            st["pipeline"] = pipeline
            st.pop("group", None)
        if st.get("group") != (group_key, dynamic):
            p.set_bind_group(ShaderStage.COMPUTE, group, dynamic)
            st["group"] = (group_key, dynamic)
        return p

    def dispatch(self, thread_group_count_x, thread_group_count_y, thread_group_count_z) -> None:
        counts = (thread_group_count_x, thread_group_count_y, thread_group_count_z)
        if max(counts) > MAX_DISPATCH_GROUPS:
            raise invalid(f"thread group counts {counts} exceed D3D11's {MAX_DISPATCH_GROUPS} per dimension")
        total = thread_group_count_x * thread_group_count_y * thread_group_count_z
        if total > MAX_DISPATCH_GROUPS_TOTAL:
            raise CommandError(ErrorCode.COUNT_LIMIT, f"dispatch of {total} thread groups exceeds this host's limit "
                                                      f"of {MAX_DISPATCH_GROUPS_TOTAL} per dispatch")
        p = self._compute_pass()
        if total:
            p.dispatch_workgroups(*counts)

    def dispatch_indirect(self, args, aligned_byte_offset) -> None:
        self._check_indirect_args(args, aligned_byte_offset, 12, "DispatchIndirect")
        if any(args is v.resource for v in self.uavs.values()):
            raise invalid("the argument buffer is bound as an unordered-access view of this dispatch")
        # The counts are the GPU's to read; WebGPU skips a dispatch whose counts exceed the
        # device's limit, and the watchdog bounds what the rest may cost.
        p = self._compute_pass()
        self._use(args)
        p.dispatch_workgroups_indirect(args.backing, aligned_byte_offset)

    # --- clears ----------------------------------------------------------------------------------
    def clear_unordered_access_view_float(self, view, value_r, value_g, value_b, value_a) -> None:
        values = (value_r, value_g, value_b, value_a)
        if isinstance(view, BufferView):
            if view.format not in TYPED_BUFFER_FORMATS or not view.format.name.endswith("FLOAT"):
                raise invalid("ClearUnorderedAccessViewFloat needs a float view; clear raw, structured and integer "
                              "views with ClearUnorderedAccessViewUint")
            self._clear_buffer_view(view, tuple(np.array(values, dtype=np.float32).view(np.uint32).tolist()))
            return
        if _scalar(view.wgpu_format) != "f32":
            raise invalid(f"ClearUnorderedAccessViewFloat of the integer format {view.format.name}; "
                          f"use ClearUnorderedAccessViewUint")
        self._clear_texture_view(view, values)

    def clear_unordered_access_view_uint(self, view, value_r, value_g, value_b, value_a) -> None:
        values = (value_r, value_g, value_b, value_a)
        if isinstance(view, BufferView):
            self._clear_buffer_view(view, values)
            return
        scalar = _scalar(view.wgpu_format)
        if scalar == "f32":
            values = _uint_bits_as_float(view.wgpu_format, values)
        elif scalar == "i32":
            values = tuple(np.array(values, dtype=np.uint32).view(np.int32).tolist())
        self._clear_texture_view(view, values)

    def _clear_pipeline(self, key: tuple, code: str) -> wgpu.GPUComputePipeline:
        pipeline = self._clear_pipelines.get(key)
        if pipeline is None:
            module = self.device.create_shader_module(code=code)
            pipeline = self.device.create_compute_pipeline(layout="auto",
                                                           compute={"module": module, "entry_point": "main"})
            self._clear_pipelines[key] = pipeline
        return pipeline

    def _run_clear(self, pipeline, target, uniform: bytes, groups: tuple[int, int, int]) -> None:
        if self._clears >= MAX_CLEARS_PER_SUBMIT:
            self.submit()  # each clear holds a parameter buffer and a bind group until submitted
        self._clears += 1
        params = self.device.create_buffer_with_data(data=uniform, usage=wgpu.BufferUsage.UNIFORM)
        group = self.device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
            {"binding": 0, "resource": target}, {"binding": 1, "resource": {"buffer": params}}])
        self._materialize_clears()
        self._end_pass()
        p = self.encoder.begin_compute_pass()
        p.set_pipeline(pipeline)
        p.set_bind_group(0, group)
        p.dispatch_workgroups(*groups)
        p.end()

    def _clear_buffer_view(self, view: BufferView, pattern: tuple) -> None:
        buf = view.resource
        n = view.components
        words = view.size // 4
        fill = np.zeros(8, dtype=np.uint32)
        fill[:4] = (0, words, n, 0)
        fill[4:4 + n] = np.array(pattern[:n], dtype=np.int64).astype(np.uint32)
        pipeline = self._clear_pipeline(("buffer",), BUFFER_CLEAR_SHADER)
        groups = min(MAX_DISPATCH_GROUPS, -(-words // _CLEAR_GROUP))
        self._run_clear(pipeline, {"buffer": buf.backing, "offset": view.offset, "size": view.size}, fill.tobytes(),
                        (groups, 1, 1))
        self._wrote(buf)

    def _clear_texture_view(self, view: View, values: tuple) -> None:
        tex = view.resource
        three_d = tex.dimension == "3d"
        dim = "3d" if three_d else "2d_array"
        scalar = _scalar(view.wgpu_format)
        code = TEXTURE_CLEAR_SHADER.format(dim=dim, format=view.wgpu_format, scalar=scalar, store=_STORE[dim])
        pipeline = self._clear_pipeline((view.wgpu_format, dim), code)
        target = tex.texture.create_view(format=view.wgpu_format, dimension=dim.replace("_", "-"),
                                         base_mip_level=view.base_mip, mip_level_count=1,
                                         base_array_layer=view.first_slice, array_layer_count=view.slices)
        w, h = tex.mip_size(view.base_mip)
        layers = tex.mip_depth(view.base_mip) if three_d else view.slices
        dtype = {"f32": np.float32, "u32": np.uint32, "i32": np.int32}[scalar]
        self._run_clear(pipeline, target, np.array(values, dtype=dtype).tobytes(),
                        (-(-w // 8), -(-h // 8), layers))
        self._wrote(tex)
