"""Creating what draws and dispatches read resources through: render-target, depth-stencil and
shader-resource views, blend, rasterizer, depth-stencil and sampler states, input layouts,
and shaders (WGSL as given, DXBC through dxbc.py), with the variant a draw or dispatch uses.

`ViewStateCommands` is part of `Renderer` (a mixin).
"""

from __future__ import annotations

from types import SimpleNamespace

import wgpu

from ...protocol.enums import (
    BindFlag, DsvFlag, FORMAT_BYTES, DEPTH_FORMATS, InputClassification, ResourceMiscFlag, ShaderLanguage, ShaderStage,
    SrvDimension, STENCIL_FORMATS,
)
from ...protocol.spec import APPEND_ALIGNED_ELEMENT, MAX_VERTEX_BUFFERS
from ..errors import invalid, unsupported
from . import states as S
from .formats import TYPELESS, VERTEX_FORMATS, format_enum as _format, view_format
from .objects import InputLayout, Sampler, Shader, Texture, View, next_serial
from . import dxbc
from .shaders import compile_wgsl


class ViewStateCommands:
    # --- views and state objects -----------------------------------------------------------
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
        self._held_by_guest_object(resource)
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
        w, h = resource.mip_size(mip_slice) if mip_slice < resource.mip_levels else (1, 1)
        self._reserve(w * h * resource.bytes_per_texel, "3D RTV stand-in")
        view = self._view(resource, format, mip_slice, 1, BindFlag.RENDER_TARGET, "render-target view", "3d")
        try:
            stand_in = self.device.create_texture(size=(w, h, 1), format=view.wgpu_format, usage=(
                wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC | wgpu.TextureUsage.COPY_DST))
        except Exception:
            self._unmake_view(view)
            raise
        view.view = stand_in.create_view()
        view.depth_slice = (stand_in, array_slice)
        self.memory.charge(view, w * h * resource.bytes_per_texel)
        return view

    def create_depth_stencil_view(self, resource, format, mip_slice, array_slice, flags) -> View:
        view = self._view(resource, format, mip_slice, 1, BindFlag.DEPTH_STENCIL, "depth-stencil view",
                          first_slice=array_slice)
        if flags & DsvFlag.READ_ONLY_STENCIL and view.format not in STENCIL_FORMATS:
            self._unmake_view(view)
            raise invalid(f"READ_ONLY_STENCIL on a depth-stencil view of {view.format.name}, which has no stencil")
        view.read_only = flags
        return view

    def _unmake_view(self, view: View) -> None:
        """A view `_view` made is refused after all: its resource is no longer held by it."""
        view.resource.view_count -= 1
        self._let_go_by_guest_object(view.resource)

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
        if code is None and language != ShaderLanguage.DXBC:
            raise invalid("shader code is empty")
        with self._compiling():
            if language == ShaderLanguage.DXBC:
                return dxbc.create_program(code, stage, self.device, compile_wgsl, self.shader_base)
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
        if isinstance(shader, dxbc.DxbcProgram):
            if spec in shader.variants:
                v = shader.variants[spec]
            else:
                with self._compiling():  # translation and compilation of a new variant
                    v = shader.variant(self.device, spec, compile_wgsl)
        else:
            v = shader
        self.variants[stage] = v
        return v


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
